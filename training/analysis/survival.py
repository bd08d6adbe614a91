"""Which components survive: the survivor set, the count per run, and survival rates over trials (paper section 3).

A component (a Fourier circle of frequency ``k`` in the paper) has survived when its amplitude ``||P_c E||`` at
the end of training stands out from the rest. The default rule is the authors': above twice the mean amplitude
over the components of the same run (for circles ``k = 1 .. (p - 1) // 2``) at the last recorded step. (The
authors' code also counted ``k = 0``, the token mean, in that mean; the mean embedding is not a circle and at
even ``p`` the list of frequencies then has no clean partner structure, so it is left out here.) An absolute
threshold and the largest gap are the other rules. The component dimension is found by
:func:`training.analysis.select.component_dim` (``component=`` overrides it).

Which rule means something for which basis:

- **relative** (above ``factor`` times the mean): many comparable components that start level and compete,
  one representation each: Fourier circles, the characters of ``Z_p^*``, the irreps of a finite group compared
  per basis row (below). It is *circular* for principal components: PCA orders them by the very variance the
  rule compares, so the first few clear the mean whatever training did. It is *meaningless* for neurons, input
  bits or other coordinates (``unit``, ``bit``): they are not rival representations, and "twice the mean
  neuron" only says which neurons are large. Use the absolute rule or the gap rule there.
- **absolute** (above ``threshold``): any basis; :func:`decay_threshold` measures the threshold against the
  start (a survivor keeps at least half the mean initial amplitude), which also suits neurons, coordinates and
  principal components fitted at initialisation.
- **gap** (above the largest ratio between consecutive sorted amplitudes): any basis where survivors split
  visibly from the rest (figure 2). On principal components it is the scree elbow: how many components the
  state needs, not which of several candidates won.

Irreps of different dimensions are not comparable as recorded: an irrep of dimension ``d`` spans ``d ** 2``
rows of the basis (``2 d ** 2`` for a complex irrep paired with its conjugate), and an isotropic random
embedding holds power in proportion to the rows, so at initialisation the three-dimensional irreps of ``S4``
hold 9 times the power of the sign irrep and the relative rule would call them survivors before training
began. ``normalise="auto"`` (the default) therefore compares power per row (amplitude over the square root of
the rows) wherever the components span different numbers of rows; per row, every component starts level.
Fourier circles (two rows each), coordinates and principal components (one row each) keep their recorded
numbers; ``normalise="rows"`` forces it, ``normalise=None`` turns it off. The trivial irrep (the token mean, the
analogue of the ``k = 0`` term the Fourier axis leaves out) takes part as recorded; leave it out with
``survivors(ds.drop_sel(irrep="trivial"))``.

The survival rate of a component is the share of trials in which it survived (section 3.2.1), reported with a
Wilson score interval, which stays inside ``[0, 1]`` and keeps its coverage at rates near 0 or 1 and few
trials, where the normal-approximation interval fails.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable

import numpy as np
import xarray as xr
from scipy import stats

from fittest.errors import InputError
from training.analysis.select import circles_only, declared_component, is_circle, per_row, pick_amplitude, pick_step

__all__ = ["count_survivors", "decay_threshold", "survival_rate", "survivors", "top_circles", "wilson_interval"]

RULES = ("relative", "absolute", "gap")


def _above_gap(values: np.ndarray, ratio: float) -> np.ndarray:
    """Along the last axis: True above the largest ratio between consecutive sorted values, if >= ``ratio``."""
    finite = np.where(np.isfinite(values) & (values > 0), values, np.nan)
    ordered = -np.sort(-np.nan_to_num(finite, nan=-np.inf), axis=-1)  # descending, padding last
    with np.errstate(divide="ignore", invalid="ignore"):
        gaps = ordered[..., :-1] / ordered[..., 1:]
    gaps = np.where(np.isfinite(gaps) & (ordered[..., 1:] > 0), gaps, 0.0)
    where = np.argmax(gaps, axis=-1)
    cut = np.take_along_axis(ordered, where[..., None], axis=-1)  # the smallest survivor
    found = np.take_along_axis(gaps, where[..., None], axis=-1) >= ratio
    return found & (np.nan_to_num(finite, nan=-np.inf) >= cut)


def survivors(
    data,
    *,
    rule: str = "relative",
    factor: float = 2.0,
    threshold: float | None = None,
    step: int | None = None,
    variable: str = "amplitude",
    component: str | None = None,
    normalise: str | None = "auto",
) -> xr.DataArray:
    """Which components survived, per run: a boolean ``(run, <component>)`` DataArray.

    Arguments:
        data: a run dataset (docs/contract.md), or a DataArray of amplitudes with a component dimension
            (and optionally ``step``).
        rule: ``"relative"`` (default, the authors' rule): amplitude above ``factor`` times the mean
            amplitude over the components of the same run (``k = 1 .. (p - 1) // 2`` for circles);
            ``"absolute"``: amplitude above ``threshold``; ``"gap"``: the components above the largest ratio
            between consecutive amplitudes sorted by size, if that ratio is at least ``factor`` (else none).
            The relative rule undercounts when survivors are a large share of the components (small ``p``):
            their own amplitude lifts the mean, so with 3 survivors among 8 circles often only one clears twice
            the mean. The gap rule follows the visible split of figure 2 and does not have that bias. The
            module's docstring says which rule means something for which basis (the relative rule does not
            for principal components or neurons).
        factor: the multiple of the mean for the relative rule (the authors used 2); the smallest ratio
            that counts as a gap for the gap rule.
        threshold: the amplitude a survivor must exceed under the absolute rule (per row where normalised).
        step: the recorded step at which to judge; the last one by default.
        variable: the data variable to judge, ``"amplitude"`` by default (``sqrt(signal)`` is used when only
            ``signal`` was recorded; likewise ``{site}_amplitude`` from ``{site}_signal``). Pass ``"signal"`` to
            apply the rule to ``||P_c E||^2`` instead; a per-unit variable is judged per unit.
        component: the component dimension; by default the variable's ``component`` attribute, else
            ``frequency``, else its one dimension that is not ``run``, ``step``, ``snapshot`` or its unit's.
        normalise: ``"auto"`` (per basis row where components span different numbers of rows: irreps),
            ``"rows"`` or ``None``; see the module's docstring.

    Returns:
        Boolean DataArray named ``survived`` with every dimension of the data except ``step``; the
        rule, factor or threshold, step, variable, component dimension and normalisation are in its attributes.
        Frequencies that are not circles of a run's ``p`` (NaN padding in datasets that mix ``p``) are never
        survivors. At even ``p`` the middle frequency ``p / 2`` is a line without a partner and is not on the
        frequency axis.

    Raises:
        InputError: an unknown rule, a factor out of range for the rule, a missing threshold or variable, a step
            that was not recorded, or no single component dimension (pass ``component=``).
    """
    purpose = "survivors()"
    if rule not in RULES:
        raise InputError(f"unknown survival rule {rule!r}; choose one of {', '.join(RULES)}")
    amp, dim = pick_amplitude(data, variable, purpose, component=component)
    amp, scaled = per_row(amp, dim, normalise, purpose=purpose)
    amp, judged = pick_step(amp, step, purpose)
    amp = circles_only(amp, dim)
    if rule == "relative":
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not factor > 0:
            raise InputError(f"factor must be a number above 0, got {factor!r}")
        alive = amp > factor * amp.mean(dim, skipna=True)
        attrs = {"rule": rule, "factor": float(factor)}
    elif rule == "gap":
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not factor > 1:
            raise InputError(f"factor must be a number above 1 for the gap rule, got {factor!r}")
        alive = xr.apply_ufunc(
            _above_gap, amp, input_core_dims=[[dim]], output_core_dims=[[dim]], kwargs={"ratio": factor}
        ).transpose(*amp.dims)
        attrs = {"rule": rule, "factor": float(factor)}
    else:
        if threshold is None or isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
            raise InputError(
                "the absolute rule needs threshold=<an amplitude>, e.g. survivors(ds, rule='absolute', threshold=1.0)"
            )
        alive = amp > threshold
        attrs = {"rule": rule, "threshold": float(threshold)}
    alive = alive.fillna(False).astype(bool).rename("survived")
    alive.attrs = {
        **attrs,
        "variable": variable,
        **({"step": judged} if judged is not None else {}),
        "component": dim,
        "normalise": scaled,
    }
    return alive


def count_survivors(data, **rule) -> xr.DataArray:
    """The number of surviving components per run, an integer DataArray named ``n_circles``.

    Arguments:
        data: as for :func:`survivors`.
        **rule: keyword arguments of :func:`survivors` (``rule``, ``factor``, ``threshold``, ``step``,
            ``component``, ...).

    Raises:
        InputError: as :func:`survivors`.
    """
    alive = survivors(data, **rule)
    count = alive.sum(alive.attrs["component"]).rename("n_circles")
    count.attrs = dict(alive.attrs)
    return count


def wilson_interval(survived, trials, *, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion, elementwise.

    Arguments:
        survived: number of successes, array-like of integers.
        trials: number of trials, array-like of positive integers broadcastable with ``survived``.
        confidence: the interval's coverage, in ``(0, 1)``.

    Returns:
        ``(lower, upper)`` float arrays; NaN where ``trials`` is 0.

    Raises:
        InputError: ``confidence`` outside ``(0, 1)`` or ``survived`` outside ``0 .. trials``.
    """
    if not 0 < confidence < 1:
        raise InputError(f"confidence must lie in (0, 1), got {confidence!r}")
    k = np.asarray(survived, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if np.any(k < 0) or np.any(k > n):
        raise InputError("survived must lie between 0 and the number of trials")
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = k / n
        shrink = 1 + z**2 / n
        centre = (rate + z**2 / (2 * n)) / shrink
        half = z * np.sqrt(rate * (1 - rate) / n + z**2 / (4 * n**2)) / shrink
    # clip rounding: at k = 0 or k = n one end is exactly 0 or 1
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def survival_rate(
    alive: xr.DataArray,
    *,
    dim: Hashable = "run",
    by: Hashable | None = None,
    confidence: float = 0.95,
    component: str | None = None,
) -> xr.Dataset:
    """The share of trials in which each component survived, with a Wilson confidence interval.

    Arguments:
        alive: boolean DataArray from :func:`survivors`, trials along ``dim``.
        dim: the trials' dimension.
        by: a coordinate along ``dim`` that groups trials, e.g. the embedding seed when the paper's trials
            fix the embedding and vary the MLP and data (figure 6): one rate per group and component.
        confidence: coverage of the interval (0.95 in the paper).
        component: the component dimension; by default the one :func:`survivors` recorded, else ``frequency``.
            Only along ``frequency`` can a component be missing from a run (a circle of a larger ``p``).

    Returns:
        Dataset with ``rate``, ``lower``, ``upper`` (the interval), ``survived`` and ``trials`` (counts),
        over the remaining dimensions (and ``by`` when given). Where ``alive`` carries each run's ``p``,
        a frequency counts as a trial only in the runs where it is a circle; NaN where it never is.

    Raises:
        InputError: ``alive`` is not boolean, lacks ``dim`` or ``component``, or ``by`` is not a coordinate along
            ``dim``.
    """
    if not isinstance(alive, xr.DataArray) or alive.dtype != bool:
        raise InputError("survival_rate() takes the boolean DataArray that survivors() returns")
    if dim not in alive.dims:
        raise InputError(f"survival_rate(): the trials' dimension {dim!r} is not among {alive.dims}")
    flags = alive.astype(np.int64)
    # a frequency that is not a circle of a run's p (datasets padded across p) is no trial for that run
    found = declared_component(alive, component, purpose="survival_rate()")
    circle = None if found is None else is_circle(alive, found)
    exists = xr.ones_like(flags) if circle is None else circle.astype(np.int64).broadcast_like(flags)
    if by is None:
        survived, trials = flags.sum(dim), exists.sum(dim)
    else:
        if by not in alive.coords or alive[by].dims != (dim,):
            raise InputError(f"survival_rate(): by={by!r} must be a coordinate along {dim!r}")
        survived = flags.groupby(by).sum(dim)
        trials = exists.groupby(by).sum(dim)
    lower, upper = wilson_interval(survived.values, trials.values, confidence=confidence)
    result = xr.Dataset(
        {
            "rate": (survived / trials).where(trials > 0),
            "lower": survived.copy(data=lower),
            "upper": survived.copy(data=upper),
            "survived": survived,
            "trials": trials,
        }
    )
    result.attrs = {"confidence": confidence, "interval": "Wilson score", **dict(alive.attrs)}
    return result


def top_circles(
    ds: xr.Dataset,
    n: int,
    *,
    step: int | None = None,
    variable: str = "amplitude",
    component: str | None = None,
    normalise: str | None = "auto",
) -> xr.DataArray:
    """The ``n`` largest components of each run by amplitude at a recorded step, largest first.

    Arguments:
        ds: a run dataset, or a DataArray of amplitudes.
        n: how many components, ``1 ..`` the number of components (``(p - 1) // 2`` circles).
        step: the step whose amplitude ranks them; the last recorded step by default.
        variable: the variable that ranks them, as for :func:`survivors`.
        component: the component dimension, as for :func:`survivors`.
        normalise: rank per basis row, as for :func:`survivors`.

    Returns:
        DataArray ``(run, rank)`` (and any other dimension of the variable, such as a unit, before ``rank``) of
        the components' labels (integer frequencies, irrep names, ...), named ``kept``.

    Raises:
        InputError: ``n`` out of range, no amplitude, no single component dimension, or the step was not recorded.
    """
    purpose = "top_circles()"
    amp, dim = pick_amplitude(ds, variable, purpose, component=component)
    K = amp.sizes[dim]
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= K:
        raise InputError(f"{purpose}: n must be an integer in 1..{K} (the {dim} components), got {n!r}")
    amp, _ = per_row(amp, dim, normalise, purpose=purpose)
    amp, _ = pick_step(amp, step, purpose)
    amp = amp.transpose(..., dim)
    order = np.argsort(-np.nan_to_num(amp.values, nan=-np.inf), axis=-1)[..., :n]
    labels = amp[dim].values[order]
    others = amp.dims[:-1]
    coords = {name: amp[name] for name in others if name in amp.coords}
    kept = xr.DataArray(labels, dims=(*others, "rank"), coords={**coords, "rank": np.arange(1, n + 1)}, name="kept")
    kept.attrs = {"component": dim}
    return kept


def decay_threshold(
    data,
    fraction: float = 0.5,
    *,
    variable: str = "amplitude",
    component: str | None = None,
    normalise: str | None = "auto",
) -> float:
    """An amplitude for the absolute rule: ``fraction`` of the mean initial amplitude of the whole ensemble.

    The relative rule (above twice the mean over components) undercounts whenever survivors are a large share
    of the components: with 4 equal survivors among 8 frequencies and the rest near zero, twice the mean lies
    above every survivor. That happens at small ``p`` (few frequencies) and without weight decay (nothing
    decays). Measured against the start instead, a dead circle ends near a tenth of its initial amplitude and
    a survivor near all of it (the paper's figure 2), so half the mean initial amplitude separates them at
    every ``p``, ``d`` and weight decay tried. Use it as
    ``count_survivors(ds, rule="absolute", threshold=decay_threshold(ds))``, with the same ``normalise`` on
    both sides. It is the rule for bases where the relative one means nothing (neurons, coordinates).

    Arguments:
        data: a run dataset or a DataArray of amplitudes with a component and a ``step`` dimension.
        fraction: the share of the mean initial amplitude a survivor must exceed, above 0.
        variable: the data variable, as for :func:`survivors`.
        component: the component dimension, as for :func:`survivors`.
        normalise: the mean of per-row amplitudes, as for :func:`survivors`.

    Returns:
        The threshold, the mean over every run and component at the first recorded step times ``fraction``.

    Raises:
        InputError: ``fraction`` not a number above 0, no such variable, no single component dimension, or no
            ``step`` dimension.
    """
    purpose = "decay_threshold()"
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not fraction > 0:
        raise InputError(f"{purpose}: fraction must be a number above 0, got {fraction!r}")
    amp, dim = pick_amplitude(data, variable, purpose, component=component)
    amp, _ = per_row(amp, dim, normalise, purpose=purpose)
    amp = circles_only(amp, dim)
    if "step" not in amp.dims:
        raise InputError(f"{purpose} needs the amplitude over training (a 'step' dimension); it has dims {amp.dims}")
    return fraction * float(amp.isel(step=0).mean())
