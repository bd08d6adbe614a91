"""Measures read off one recorded run: when it memorised, when it generalised, when each component died, and
how sparse its spectrum is.

The transition times follow the grokking literature: memorisation is the first recorded step at which the
train accuracy reaches a threshold, generalisation the first at which the test accuracy does (Power et al.
2022; Nanda et al. 2023). They can only be as fine as the record schedule. A component's death is judged by the
same survival rules as :func:`training.analysis.survival.survivors`, applied at every recorded step instead of
the last one, so that "dead" means exactly "not a survivor" there.
"""

from __future__ import annotations

import numbers

import numpy as np
import xarray as xr

from fittest.errors import InputError
from training.analysis.select import component_dim, is_circle, pick_amplitude, pick_variable
from training.analysis.survival import survivors

__all__ = ["SPARSITY_MEASURES", "death_steps", "learning_times", "spectrum_sparsity", "transition_times"]

SPARSITY_MEASURES = ("gini", "ipr")

# a dimension name that cannot clash with a user's: survivors() judges one step, so the records are handed to
# it with their step axis under this name and judged all at once
_TIME = "_record"


def _threshold(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= 1:
        raise InputError(f"{name} must be an accuracy in (0, 1], got {value!r}")
    return float(value)


def _first_step(acc: xr.DataArray, threshold: float, name: str) -> xr.DataArray:
    """The first recorded step with ``acc >= threshold``, per run; NaN where it never gets there."""
    if "step" not in acc.dims:
        raise InputError(f"transition_times(): {acc.name!r} has no 'step' dimension; pass a run dataset")
    hit = (acc >= threshold).fillna(False)
    first = acc["step"].astype(np.float64).isel(step=hit.argmax("step"))
    out = first.where(hit.any("step")).drop_vars("step", errors="ignore").rename(name)
    return out


def death_steps(
    data,
    *,
    variable: str = "amplitude",
    component: str | None = None,
    **rule,
) -> xr.DataArray:
    """Each component's death step: the first recorded step from which it is never again a survivor.

    The survival rule (``rule``, ``factor``, ``threshold``, ``normalise``: those of
    :func:`training.analysis.survival.survivors`, the authors' relative rule by default) is applied at every
    recorded step. A component alive at the last record has not died (NaN); one that is never alive after the
    first record died at the first record.

    Arguments:
        data: a run dataset, or a DataArray with ``step`` and a component dimension.
        variable: the variable to judge (``amplitude``, derived from ``signal`` when absent; ``unembed_amplitude``
            for the unembedding).
        component: the component dimension; by default as :func:`training.analysis.select.component_dim` finds it.
        **rule: ``rule``, ``factor``, ``threshold`` and ``normalise`` of :func:`survivors`.

    Returns:
        Float DataArray ``death_step`` with every dimension of the variable but ``step`` (NaN: alive at the end,
        or not a circle of that run's ``p``).

    Raises:
        InputError: the variable or its ``step`` dimension is missing, a ``step`` option is given, or the rule is
            refused by :func:`survivors`.
    """
    if "step" in rule:
        raise InputError("death_steps() judges every recorded step; drop the step= option")
    amp, dim = pick_amplitude(data, variable, "death_steps()", component=component)
    if "step" not in amp.dims:
        raise InputError(f"death_steps(): {amp.name!r} has no 'step' dimension; pass a run dataset with records")
    steps = amp["step"].values
    alive = survivors(amp.rename(step=_TIME), variable=variable, component=dim, **rule)
    alive = alive.transpose(..., _TIME).values
    # alive at this record or any later one; the death step is the first record after the last alive one
    later = np.flip(np.logical_or.accumulate(np.flip(alive, -1), axis=-1), -1)
    first_dead = later.sum(-1)
    died = first_dead < len(steps)
    values = np.where(died, steps[np.minimum(first_dead, len(steps) - 1)].astype(np.float64), np.nan)
    dims = tuple(d for d in amp.dims if d != "step")
    template = amp.isel(step=-1, drop=True).transpose(*dims)
    out = xr.DataArray(values, dims=template.dims, coords=template.coords, name="death_step")
    circle = is_circle(out, dim)
    if circle is not None:
        out = out.where(circle)
    out.attrs = {"variable": variable, "component": dim, "rule": rule.get("rule", "relative")}
    return out


def learning_times(ds: xr.Dataset, *, train_threshold: float = 0.99, test_threshold: float = 0.99) -> xr.Dataset:
    """When each run memorised and when it generalised (the part of :func:`transition_times` without deaths).

    Arguments:
        ds: a run dataset with ``train_acc`` and ``test_acc`` over ``step``.
        train_threshold: the train accuracy that counts as memorised, in ``(0, 1]``.
        test_threshold: the test accuracy that counts as generalised, in ``(0, 1]``.

    Returns:
        Dataset over ``run``: ``memorisation_step`` and ``generalisation_step`` (the first recorded step at or
        above the threshold; NaN if never) and ``transition_gap`` (their difference: the grokking delay; NaN if
        either never happened). The thresholds are in the attributes.

    Raises:
        InputError: a threshold outside ``(0, 1]`` or a missing accuracy.
    """
    train_threshold = _threshold(train_threshold, "train_threshold")
    test_threshold = _threshold(test_threshold, "test_threshold")
    purpose = "transition_times()"
    memorised = _first_step(pick_variable(ds, "train_acc", purpose=purpose), train_threshold, "memorisation_step")
    generalised = _first_step(pick_variable(ds, "test_acc", purpose=purpose), test_threshold, "generalisation_step")
    out = xr.Dataset(
        {
            "memorisation_step": memorised,
            "generalisation_step": generalised,
            "transition_gap": (generalised - memorised).rename("transition_gap"),
        }
    )
    out["memorisation_step"].attrs["description"] = f"first recorded step with train accuracy >= {train_threshold}"
    out["generalisation_step"].attrs["description"] = f"first recorded step with test accuracy >= {test_threshold}"
    out["transition_gap"].attrs["description"] = "generalisation_step - memorisation_step"
    out.attrs = {"train_threshold": train_threshold, "test_threshold": test_threshold}
    return out


def transition_times(
    ds: xr.Dataset,
    *,
    train_threshold: float = 0.99,
    test_threshold: float = 0.99,
    variable: str = "amplitude",
    component: str | None = None,
    **rule,
) -> xr.Dataset:
    """When each run memorised, generalised, and when each of its components died.

    Arguments:
        ds: a run dataset with ``train_acc`` and ``test_acc`` over ``step`` (and ``variable`` for the deaths).
        train_threshold: as for :func:`learning_times`.
        test_threshold: as for :func:`learning_times`.
        variable: the variable whose deaths are judged, as for :func:`death_steps`.
        component: its component dimension, as for :func:`death_steps`.
        **rule: the survival rule's options, as for :func:`death_steps`.

    Returns:
        :func:`learning_times`'s dataset with ``death_step`` (:func:`death_steps`) added, over ``run`` and the
        component dimension.

    Raises:
        InputError: a threshold outside ``(0, 1]``, a missing variable, or a rule :func:`survivors` refuses.
    """
    out = learning_times(ds, train_threshold=train_threshold, test_threshold=test_threshold)
    out["death_step"] = death_steps(ds, variable=variable, component=component, **rule)
    return out


def spectrum_sparsity(
    data, *, variable: str = "signal", measure: str = "gini", component: str | None = None
) -> xr.DataArray:
    """How concentrated a spectrum is on few components: the Gini coefficient or the inverse participation ratio.

    With the components' powers ``x_1 <= ... <= x_n`` (sorted) and shares ``q_i = x_i / sum x``:

    - ``gini`` = ``sum_i (2 i - n - 1) x_i / (n sum x)``: 0 for a flat spectrum, ``1 - 1/n`` for one component
      holding everything (Hurley and Rickard 2009 rank it first among sparsity measures).
    - ``ipr`` = ``sum q_i ** 2``: ``1/n`` for a flat spectrum, 1 for one component; ``1 / ipr`` is the effective
      number of components (Nanda et al. 2023 read the key frequencies off such a spectrum).

    Arguments:
        data: a run dataset or a DataArray of non-negative powers with a component dimension.
        variable: the variable (``signal`` by default, the embedding's power; ``unembed_signal``, ...).
        measure: ``"gini"`` or ``"ipr"``.
        component: the component dimension; by default as :func:`component_dim` finds it.

    Returns:
        Float DataArray named ``gini`` or ``ipr`` with every dimension but the component one; NaN where the
        spectrum is all zero. NaN entries (frequencies that are not circles of a run's ``p``) are left out.

    Raises:
        InputError: an unknown measure, a missing variable or component dimension, or a negative power.
    """
    if measure not in SPARSITY_MEASURES:
        raise InputError(f"unknown sparsity measure {measure!r}; choose one of {', '.join(SPARSITY_MEASURES)}")
    purpose = "spectrum_sparsity()"
    da = pick_variable(data, variable, purpose=purpose)
    dim = component_dim(da, component, purpose=purpose)
    circle = is_circle(da, dim)
    if circle is not None:
        da = da.where(circle)
    if bool((da < 0).any()):
        raise InputError(f"{purpose}: {da.name!r} has negative values; pass powers (a signal), not coefficients")
    kernel = _gini if measure == "gini" else _ipr
    out = xr.apply_ufunc(kernel, da, input_core_dims=[[dim]], dask="parallelized", output_dtypes=[np.float64])
    out.attrs = {"variable": variable, "component": dim, "measure": measure}
    return out.rename(measure)


def _gini(x: np.ndarray) -> np.ndarray:
    # padding (NaN) sorts last and is left out by counting only the finite entries of each spectrum
    x = np.sort(np.asarray(x, dtype=np.float64), axis=-1)
    n = np.isfinite(x).sum(-1)
    rank = np.arange(1, x.shape[-1] + 1)
    finite = np.where(np.isfinite(x), x, 0.0)
    total = finite.sum(-1)
    weighted = ((2 * rank - n[..., None] - 1) * finite).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = weighted / (n * total)
    return np.where(total > 0, out, np.nan)


def _ipr(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    finite = np.where(np.isfinite(x), x, 0.0)
    total = finite.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (finite**2).sum(-1) / total**2
    return np.where(total > 0, out, np.nan)
