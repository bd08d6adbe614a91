"""Fitness measures per (run, component): what a component has early that predicts survival (paper section 3.2).

The paper's components are the Fourier circles ``k``; any component dimension works (irreps, units, principal
components), found as :func:`training.survivors` finds it, and ``component=`` overrides it.

- ``initial_amplitude``: ``||F_k||`` at step 0 (section 3.2.1, figure 6); ``initial_signal`` is its square.
  For irreps of several dimensions it is per basis row by default, as the survival rules compare them
  (``normalise``, see :mod:`training.analysis.survival`).
- ``growth``: the paper's "gradient" (section 3.2.2, figure 7), the relative growth of the amplitude over one
  step, ``(a(t) - a(t - 1)) / a(0)`` at a chosen step ``t``. It is a finite difference of the recorded
  amplitude, so it includes weight decay.
- ``gradient_norm``: the true loss gradient on the embedding in the component's basis, ``||(dL/dE)_k||``, that
  training records as ``grad_signal`` (appendix D), at a chosen step; per row like the amplitude.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import xarray as xr

from fittest.errors import InputError
from training.analysis.select import component_dim, per_row, pick_amplitude, pick_variable

__all__ = ["MEASURES", "fitness", "gradient_norm", "growth", "initial_amplitude"]

MEASURES = ("initial_amplitude", "growth", "gradient_norm")


def _steps(at, purpose: str) -> list[int]:
    values = [at] if isinstance(at, numbers.Integral) else list(at) if isinstance(at, Sequence) else None
    if not values or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in values):
        raise InputError(f"{purpose}: at must be a step number or a list of them, got {at!r}")
    return [int(v) for v in values]


def _select(da: xr.DataArray, steps: list[int], purpose: str) -> xr.DataArray:
    if "step" not in da.dims:
        raise InputError(f"{purpose} needs a 'step' dimension; {da.name!r} has dims {da.dims}")
    recorded = set(da["step"].values.tolist())
    missing = [s for s in steps if s not in recorded]
    if missing:
        raise InputError(
            f"{purpose} needs steps {missing} which were not recorded; training records every step up to "
            "dense_until (1000 by default)"
        )
    return da.sel(step=steps)


def _shape(da: xr.DataArray, at, name: str) -> xr.DataArray:
    """One step given: drop the step dimension; several: keep it, renamed ``at``."""
    da = da.rename(name)
    if isinstance(at, numbers.Integral):
        return da.squeeze("step", drop=True)
    return da.rename({"step": "at"})


def initial_amplitude(
    data, *, variable: str = "amplitude", component: str | None = None, normalise: str | None = "auto"
) -> xr.DataArray:
    """``||F_k||`` at initialisation (step 0), per run and component.

    Arguments:
        data: run dataset or amplitude DataArray with ``step`` and a component dimension.
        variable: the recorded amplitude (``sqrt`` of its signal when only that was recorded).
        component: the component dimension, as for :func:`training.survivors`.
        normalise: per basis row, as for :func:`training.survivors`.

    Returns:
        DataArray named ``initial_amplitude``.

    Raises:
        InputError: the dataset has no amplitude (or signal), no single component dimension, or step 0 was not
            recorded.
    """
    purpose = "initial_amplitude()"
    amp, dim = pick_amplitude(data, variable, purpose, component=component)
    amp, _ = per_row(amp, dim, normalise, purpose=purpose)
    result = _shape(_select(amp, [0], purpose), 0, "initial_amplitude")
    result.attrs = {"long_name": "initial amplitude ||F_k|| at step 0"}
    return result


def growth(
    data, *, at: int | Sequence[int] = 4, variable: str = "amplitude", component: str | None = None
) -> xr.DataArray:
    """The paper's "gradient": ``(a(t) - a(t - 1)) / a(0)`` at step ``t = at`` (section 3.2.2).

    A ratio of one component's amplitudes, so the same per basis row or not.

    Arguments:
        data: run dataset or amplitude DataArray with ``step`` and a component dimension.
        at: the step ``t`` (the paper's figure 7 uses 4), or a list of steps: then the result has a
            dimension ``at``.
        variable: the recorded quantity ``a``; the authors used the amplitude.
        component: the component dimension, as for :func:`training.survivors`.

    Returns:
        DataArray named ``growth``.

    Raises:
        InputError: ``at`` is not a step or a list of steps, or is below 1; the variable is missing; no single
            component dimension; or step 0, ``t`` or ``t - 1`` was not recorded.
    """
    purpose = "growth()"
    steps = _steps(at, purpose)
    if min(steps) < 1:
        raise InputError(f"{purpose}: at must be >= 1 (growth over the step t-1 -> t), got {at!r}")
    amp, _ = pick_amplitude(data, variable, purpose, component=component)
    # one check of every step needed, so that the error lists all that are missing
    needed = _select(amp, sorted({0, *steps, *(s - 1 for s in steps)}, reverse=True), purpose)
    now = needed.sel(step=steps)
    before = needed.sel(step=[s - 1 for s in steps]).assign_coords(step=steps)
    start = needed.sel(step=0, drop=True)
    result = _shape((now - before) / start, at, "growth")
    result.attrs = {"long_name": f"relative growth of {variable} over one step, (a(t) - a(t-1)) / a(0)"}
    return result


def gradient_norm(
    data,
    *,
    at: int | Sequence[int] = 0,
    variable: str = "grad_signal",
    component: str | None = None,
    normalise: str | None = "auto",
) -> xr.DataArray:
    """``||(dL/dE)_k||``, the loss gradient on the embedding in the component's basis, at step ``at`` (appendix D).

    Arguments:
        data: run dataset with ``grad_signal`` (the squared norm that training records), or that DataArray.
        at: the step, or a list of steps (then the result has a dimension ``at``). The record at step ``s``
            is the gradient at the parameters after ``s`` updates, the one that update ``s + 1`` applies, so
            ``at=0`` is the gradient at initialisation and the growth ``a(t) - a(t - 1)`` comes from the
            gradient at ``t - 1`` (plus weight decay).
        variable: the recorded squared gradient norm; ``{site}_grad_signal`` for another site.
        component: the component dimension, as for :func:`training.survivors`.
        normalise: per basis row, as for :func:`training.survivors`.

    Returns:
        DataArray named ``gradient_norm``.

    Raises:
        InputError: ``at`` is not a step or a list of steps, there is no ``grad_signal``, no single component
            dimension, or the step was not recorded.
    """
    purpose = "gradient_norm()"
    steps = _steps(at, purpose)
    grad = pick_variable(data, variable, purpose=purpose)
    grad, _ = per_row(grad, component_dim(grad, component, purpose=purpose), normalise, purpose=purpose)
    result = _shape(np.sqrt(_select(grad, steps, purpose)), at, "gradient_norm")
    result.attrs = {"long_name": "norm of the embedding's loss gradient in the component's basis"}
    return result


def fitness(
    data: xr.Dataset,
    *,
    at: int = 4,
    measures: Sequence[str] = MEASURES,
    component: str | None = None,
    normalise: str | None = "auto",
) -> xr.Dataset:
    """Every fitness measure of a run dataset, per run and component, as one Dataset.

    Arguments:
        data: a run dataset.
        at: the step at which ``growth`` and ``gradient_norm`` are taken.
        measures: which of :data:`MEASURES` to compute; ``initial_signal`` comes with ``initial_amplitude``.
        component: the component dimension, as for :func:`training.survivors`.
        normalise: per basis row, as for :func:`training.survivors`.

    Returns:
        Dataset with one variable per measure (dims: run and the component dimension).

    Raises:
        InputError: an unknown measure, or a variable a measure needs is missing (the message says which;
            leave that measure out of ``measures``), or no single component dimension.
    """
    unknown = [m for m in measures if m not in MEASURES]
    if unknown:
        raise InputError(f"unknown fitness measure(s) {unknown}; choose from {', '.join(MEASURES)}")
    if "gradient_norm" in measures:
        pick_variable(data, "grad_signal", purpose="the fitness measure 'gradient_norm' (leave it out of measures)")
    out = {}
    if "initial_amplitude" in measures:
        out["initial_amplitude"] = initial_amplitude(data, component=component, normalise=normalise)
        out["initial_signal"] = (out["initial_amplitude"] ** 2).rename("initial_signal")
    if "growth" in measures:
        out["growth"] = growth(data, at=at, component=component)
    if "gradient_norm" in measures:
        out["gradient_norm"] = gradient_norm(data, at=at, component=component, normalise=normalise)
    return xr.Dataset(out, attrs={"at": at})
