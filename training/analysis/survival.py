"""Which circles survive: the survivor set, the count per run, and survival rates over trials (paper section 3).

A circle of frequency ``k`` has survived when its amplitude ``||F_k||`` at the end of training stands out
from the rest. The default rule is the authors': above twice the mean amplitude over ``k = 1 .. (p - 1) // 2``
at the last recorded step. (The authors' code also counted ``k = 0``, the token mean, in that mean; the mean
embedding is not a circle and at even ``p`` the list of frequencies then has no clean partner structure, so it
is left out here.) An absolute threshold is the other rule.

The survival rate of a frequency is the share of trials in which it survived (section 3.2.1), reported with a
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
from training.analysis.select import circles_only, is_circle, pick_amplitude, pick_step

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
) -> xr.DataArray:
    """Which circles survived, per run: a boolean ``(run, frequency)`` DataArray.

    Arguments:
        data: a run dataset (DESIGN.md section 2), or a DataArray of amplitudes with a ``frequency``
            dimension (and optionally ``step``).
        rule: ``"relative"`` (default, the authors' rule): amplitude above ``factor`` times the mean
            amplitude over ``k = 1 .. (p - 1) // 2`` of the same run; ``"absolute"``: amplitude above
            ``threshold``; ``"gap"``: the circles above the largest ratio between consecutive amplitudes
            sorted by size, if that ratio is at least ``factor`` (else none). The relative rule undercounts
            when survivors are a large share of the circles (small ``p``): their own amplitude lifts the
            mean, so with 3 survivors among 8 circles often only one clears twice the mean. The gap rule
            follows the visible split of figure 2 and does not have that bias.
        factor: the multiple of the mean for the relative rule (the authors used 2); the smallest ratio
            that counts as a gap for the gap rule.
        threshold: the amplitude ``||F_k||`` a survivor must exceed under the absolute rule.
        step: the recorded step at which to judge; the last one by default.
        variable: the data variable to judge, ``"amplitude"`` by default (``sqrt(signal)`` is used when only
            ``signal`` was recorded). Pass ``"signal"`` to apply the rule to ``||F_k||^2`` instead.

    Returns:
        Boolean DataArray named ``survived`` with every dimension of the data except ``step``; the
        rule, factor or threshold, step and variable are in its attributes. Frequencies that are not circles
        of a run's ``p`` (NaN padding in datasets that mix ``p``) are never survivors. At even ``p`` the
        middle frequency ``p / 2`` is a line without a partner and is not on the frequency axis.

    Raises:
        InputError: an unknown rule, a factor out of range for the rule, a missing threshold or variable, or a step
            that was not recorded.
    """
    purpose = "survivors()"
    if rule not in RULES:
        raise InputError(f"unknown survival rule {rule!r}; choose one of {', '.join(RULES)}")
    amp = pick_amplitude(data, variable, purpose)
    amp, judged = pick_step(amp, step, purpose)
    amp = circles_only(amp)
    if rule == "relative":
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not factor > 0:
            raise InputError(f"factor must be a number above 0, got {factor!r}")
        alive = amp > factor * amp.mean("frequency", skipna=True)
        attrs = {"rule": rule, "factor": float(factor)}
    elif rule == "gap":
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not factor > 1:
            raise InputError(f"factor must be a number above 1 for the gap rule, got {factor!r}")
        alive = xr.apply_ufunc(
            _above_gap, amp, input_core_dims=[["frequency"]], output_core_dims=[["frequency"]], kwargs={"ratio": factor}
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
    alive.attrs = {**attrs, "variable": variable, **({"step": judged} if judged is not None else {})}
    return alive


def count_survivors(data, **rule) -> xr.DataArray:
    """The number of surviving circles per run, an integer DataArray named ``n_circles``.

    Arguments:
        data: as for :func:`survivors`.
        **rule: keyword arguments of :func:`survivors` (``rule``, ``factor``, ``threshold``, ``step``, ...).
    """
    alive = survivors(data, **rule)
    count = alive.sum("frequency").rename("n_circles")
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
    alive: xr.DataArray, *, dim: Hashable = "run", by: Hashable | None = None, confidence: float = 0.95
) -> xr.Dataset:
    """The share of trials in which each frequency survived, with a Wilson confidence interval.

    Arguments:
        alive: boolean DataArray from :func:`survivors`, trials along ``dim``.
        dim: the trials' dimension.
        by: a coordinate along ``dim`` that groups trials, e.g. the embedding seed when the paper's trials
            fix the embedding and vary the MLP and data (figure 6): one rate per group and frequency.
        confidence: coverage of the interval (0.95 in the paper).

    Returns:
        Dataset with ``rate``, ``lower``, ``upper`` (the interval), ``survived`` and ``trials`` (counts),
        over the remaining dimensions (and ``by`` when given). Where ``alive`` carries each run's ``p``,
        a frequency counts as a trial only in the runs where it is a circle; NaN where it never is.

    Raises:
        InputError: ``alive`` is not boolean, lacks ``dim``, or ``by`` is not a coordinate along ``dim``.
    """
    if not isinstance(alive, xr.DataArray) or alive.dtype != bool:
        raise InputError("survival_rate() takes the boolean DataArray that survivors() returns")
    if dim not in alive.dims:
        raise InputError(f"survival_rate(): the trials' dimension {dim!r} is not among {alive.dims}")
    flags = alive.astype(np.int64)
    # a frequency that is not a circle of a run's p (datasets padded across p) is no trial for that run
    circle = is_circle(alive)
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


def top_circles(ds: xr.Dataset, n: int, *, step: int | None = None) -> xr.DataArray:
    """The ``n`` largest circles of each run by amplitude at a recorded step, largest first.

    Arguments:
        ds: a run dataset.
        n: how many circles, ``1 .. (p - 1) // 2``.
        step: the step whose amplitude ranks them; the last recorded step by default.

    Returns:
        Integer DataArray ``(run, rank)`` of frequencies, named ``kept``.

    Raises:
        InputError: ``n`` out of range, no amplitude, or the step was not recorded.
    """
    amp = pick_amplitude(ds, "amplitude", "top_circles()")
    K = amp.sizes["frequency"]
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= K:
        raise InputError(f"top_circles(): n must be an integer in 1..{K}, got {n!r}")
    amp, _ = pick_step(amp, step, "top_circles()")
    order = np.argsort(-np.nan_to_num(amp.transpose("run", "frequency").values, nan=-np.inf), axis=1)[:, :n]
    freqs = amp["frequency"].values[order]
    return xr.DataArray(
        freqs, dims=("run", "rank"), coords={"run": amp["run"], "rank": np.arange(1, n + 1)}, name="kept"
    )


def decay_threshold(data, fraction: float = 0.5, *, variable: str = "amplitude") -> float:
    """An amplitude for the absolute rule: ``fraction`` of the mean initial amplitude of the whole ensemble.

    The relative rule (above twice the mean over frequencies) undercounts whenever survivors are a large share
    of the circles: with 4 equal survivors among 8 frequencies and the rest near zero, twice the mean lies above
    every survivor. That happens at small ``p`` (few frequencies) and without weight decay (nothing decays).
    Measured against the start instead, a dead circle ends near a tenth of its initial amplitude and a survivor
    near all of it (the paper's figure 2), so half the mean initial amplitude separates them at every ``p``,
    ``d`` and weight decay tried. Use it as
    ``count_survivors(ds, rule="absolute", threshold=decay_threshold(ds))``.

    Arguments:
        data: a run dataset or a DataArray of amplitudes with ``frequency`` and ``step`` dimensions.
        fraction: the share of the mean initial amplitude a survivor must exceed, above 0.
        variable: the data variable, as for :func:`survivors`.

    Returns:
        The threshold, the mean over every run and circle at the first recorded step times ``fraction``.

    Raises:
        InputError: ``fraction`` not a number above 0, no such variable, or no ``step`` dimension.
    """
    purpose = "decay_threshold()"
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not fraction > 0:
        raise InputError(f"{purpose}: fraction must be a number above 0, got {fraction!r}")
    amp = circles_only(pick_amplitude(data, variable, purpose))
    if "step" not in amp.dims:
        raise InputError(f"{purpose} needs the amplitude over training (a 'step' dimension); it has dims {amp.dims}")
    return fraction * float(amp.isel(step=0).mean())
