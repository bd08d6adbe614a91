"""Bootstrap resampling for :func:`dynamics.fit`: which rows or samples each replicate draws, and intervals.

A fit with several samples pooled into one ODE resamples the samples (each replicate draws ``S`` of them with
replacement). A fit with one ODE per sample cannot learn a sample's uncertainty from the other samples (they
are other systems), so each sample is resampled along time instead, in blocks of consecutive points (the
circular block bootstrap).

What is resampled along time depends on where the noise enters. Noise that drives the system (a map's
increments, the paper's forward differences) leaves the rows of the derivative regression independent: the rows
are redrawn. Noise in the measurement of the states does not: a difference filter turns it into derivative
errors that cancel along the series (the central difference's ``e[t+1] - e[t-1]`` telescopes in the regression's
sums), and redrawn rows break that cancellation at every block's edge, so the intervals came out several times
too wide (a 95% interval covered the truth for every coefficient). Such a fit redraws the states' noise instead
(``resample="noise"``): the states are split into a smooth part and residuals
(:func:`dynamics.derivatives.measurement_noise`), each replicate adds blocks of the residuals back to the smooth
part, differentiates with the fit's own method and refits.
"""

from __future__ import annotations

import warnings

import numpy as np

from fittest.errors import InputError


def check(bootstrap, seed, block, resample="auto") -> tuple[int, int, int | None, str]:
    """``bootstrap``, ``seed`` and ``block`` as integers and ``resample`` as a name, checked against their
    declarations in :data:`dynamics.catalog.FIT_OPTIONS`.

    Raises:
        InputError: a count that is neither 0 nor at least 2 (one replicate has no spread: its "95%" interval
            has width zero), a negative or non-integer seed or block, an unknown ``resample``.
    """
    from dynamics.catalog import FIT_OPTIONS

    declared = {option.name: option for option in FIT_OPTIONS}
    bootstrap = declared["bootstrap"].check(bootstrap)
    seed = declared["seed"].check(seed)
    block = declared["block"].check(block)
    resample = declared["resample"].check(resample)
    return bootstrap, seed, block, resample


SAMPLES, ROWS, NOISE = "samples", "blocks of time", "measurement noise"
"""What a replicate redraws, as ``bootstrap_info["resampled"]`` records it."""


def kind(resample: str, *, derivative, objective: str, by_samples: bool, ragged: bool) -> str:
    """What the bootstrap redraws: :data:`SAMPLES`, :data:`ROWS` or :data:`NOISE`.

    ``"auto"`` redraws the samples of a pooled fit of several, the time points of a trajectory fit (its misfit's
    residuals are the measurement noise itself), and the measurement noise of a central-difference fit (a
    derivative estimated from sampled states of a continuous system: on a noisy linear system its 95% intervals
    covered the truth 97% of the time against 100% for rows, at widths 0.69x). Everything else redraws rows: a
    forward-difference fit (a map's increments: the noise drives the system), given derivatives, and smoothing
    methods, whose error is mostly the smoother's bias, which redrawn noise does not see (at 5% noise
    Savitzky-Golay's intervals covered 68% redrawing the noise, 88% redrawing rows).

    Raises:
        InputError: ``resample="noise"`` where the states cannot be differentiated again (given derivatives,
            samples of unequal length) or where the samples are redrawn.
    """
    if by_samples:
        chosen = SAMPLES
    elif objective == "trajectory":
        chosen = ROWS
    elif resample == "auto":
        central = isinstance(derivative, str) and derivative == "central"
        chosen = NOISE if central and not ragged else ROWS
    else:
        chosen = NOISE if resample == "noise" else ROWS
    if resample == "noise" and chosen != NOISE and objective != "trajectory":
        raise InputError(
            "resample='noise' redraws one series' measurement noise: a pooled fit of several samples "
            "redraws its samples; use resample='auto'"
        )
    if chosen == NOISE and (ragged or not _redifferentiable(derivative)):
        raise InputError(
            "resample='noise' differentiates redrawn states again, which needs every sample whole and a "
            "derivative method (not given derivatives): use resample='rows'"
        )
    return chosen


def _redifferentiable(derivative) -> bool:
    """Whether the fit's derivative is a method that can differentiate other states (not given values)."""
    import xarray as xr

    return not isinstance(derivative, xr.DataArray)


def noise_states(
    rng: np.random.Generator, smooth: np.ndarray, residuals: np.ndarray, size: int, block: int
) -> np.ndarray:
    """``size`` replicates of the states, ``(size, S, T, C)``: the smooth part plus circular blocks of the
    residuals (all components of a time point together, so that their correlation is kept)."""
    n_samples, n_t = smooth.shape[:2]
    rows = time_indices(rng, (size, n_samples), n_t, block)
    return smooth[None] + residuals[np.arange(n_samples)[None, :, None], rows]


# one chunk of replicates holds at most this many bytes of resampled data, whatever the number of replicates
CHUNK_BYTES = 256 * 2**20


def plan(bootstrap: int, *, per_replicate: int, kept: int, available: int | None = None) -> int:
    """How many replicates to refit at a time so that memory does not grow with ``bootstrap``; refuse a
    bootstrap whose kept coefficients alone would not fit in memory.

    Arguments:
        bootstrap: the number of replicates.
        per_replicate: bytes of resampled data (and work) one replicate's refit needs while it runs.
        kept: bytes each replicate leaves behind (its coefficients, in the few copies a fit makes of them).
        available: bytes of memory to plan within; half of what the machine has free when None.

    Returns:
        The chunk size: replicates refitted together (all of them when they fit in :data:`CHUNK_BYTES`).

    Raises:
        InputError: one line with the estimate and the largest feasible number of replicates.
    """
    if available is None:
        import psutil

        available = psutil.virtual_memory().available // 2
    chunk = int(max(1, min(bootstrap, CHUNK_BYTES // max(per_replicate, 1))))
    need = bootstrap * kept + chunk * per_replicate
    if need > available:
        from dask.utils import format_bytes

        feasible = max(0, (available - per_replicate) // max(kept, 1))
        raise InputError(
            f"bootstrap={bootstrap} would need about {format_bytes(need)} of memory for its replicates, more than "
            f"the {format_bytes(available)} at hand: use bootstrap={min(feasible, 10_000)} or fewer"
            + (" (1000 is plenty for 95% intervals)" if feasible >= 1000 else "")
        )
    return chunk


def default_block(n: int) -> int:
    """The block length: the cube root of the series length, the usual rate for block bootstraps."""
    return max(1, int(round(n ** (1 / 3))))


def time_indices(rng: np.random.Generator, shape: tuple[int, ...], n: int, block: int) -> np.ndarray:
    """Moving-block resamples of ``n`` time indices: shape ``shape + (n,)``.

    Each resample concatenates blocks ``[s, s + block)`` with starts drawn uniformly from ``0 .. n - 1``, wrapping
    around the end (the circular block bootstrap: every point is drawn equally often on average, where plain
    moving blocks under-draw the ends and narrow the intervals), cut to ``n`` indices.

    Raises:
        InputError: a block longer than the series.
    """
    if block > n:
        raise InputError(f"the bootstrap block ({block} points) is longer than the series ({n}): lower block")
    n_blocks = -(-n // block)
    starts = rng.integers(0, n, size=shape + (n_blocks,))
    indices = ((starts[..., None] + np.arange(block)) % n).reshape(shape + (n_blocks * block,))
    return indices[..., :n]


def counts(indices: np.ndarray, n: int) -> np.ndarray:
    """How often each of ``n`` indices is drawn: ``indices`` ``(..., k)`` gives ``(..., n)``."""
    flat = indices.reshape(-1, indices.shape[-1])
    out = np.zeros((flat.shape[0], n))
    np.add.at(out, (np.arange(flat.shape[0])[:, None], flat), 1.0)
    return out.reshape(indices.shape[:-1] + (n,))


def centred(replicates: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """Replicates ``(B, ...)`` moved so that their mean is ``estimate``.

    A replicate of redrawn noise around the smoothed states is fitted to data less noisy than the observed
    (the smooth part has none), so its coefficients centre near the truth rather than near the estimate, and
    percentile intervals of width right would still cover the truth nearly always (measured: 100% of 240);
    the spread is what the replicates tell, the centre is the fit's.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # every replicate failed: NaN stays NaN
        return replicates - np.nanmean(replicates, axis=0, keepdims=True) + estimate[None]


def percentile_interval(replicates: np.ndarray, level: float, *, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``level`` percentile interval of bootstrap replicates along ``axis``, leaving out NaN (failed) refits.

    Raises:
        InputError: ``level`` is not in (0, 1).
    """
    if isinstance(level, bool) or not isinstance(level, int | float | np.floating) or not 0 < level < 1:
        raise InputError(f"level must be a number in (0, 1), e.g. 0.95, got {level!r}")
    tail = (1 - float(level)) / 2
    with warnings.catch_warnings():
        # a refit that failed is NaN and left out; where every refit failed the interval is NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanquantile(replicates, [tail, 1 - tail], axis=axis)
    return low, high
