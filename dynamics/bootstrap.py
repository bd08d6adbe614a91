"""Bootstrap resampling for :func:`dynamics.fit`: which rows or samples each replicate draws, and intervals.

A fit with several samples pooled into one ODE resamples the samples (each replicate draws ``S`` of them with
replacement). A fit with one ODE per sample cannot learn a sample's uncertainty from the other samples (they
are other systems), so each sample is resampled along time instead, in blocks of consecutive points (the
circular block bootstrap), which keeps the short-range correlation of the residuals (the central difference's
neighbouring rows share data points) inside a block.
"""

from __future__ import annotations

import warnings

import numpy as np

from fittest.errors import InputError


def check(bootstrap, seed, block) -> tuple[int, int, int | None]:
    """``bootstrap``, ``seed`` and ``block`` as integers, checked against their declarations in
    :data:`dynamics.catalog.FIT_OPTIONS`.

    Raises:
        InputError: a count that is neither 0 nor at least 2 (one replicate has no spread: its "95%" interval
            has width zero), a negative or non-integer seed or block.
    """
    from dynamics.catalog import FIT_OPTIONS

    declared = {option.name: option for option in FIT_OPTIONS}
    bootstrap = declared["bootstrap"].check(bootstrap)
    seed = declared["seed"].check(seed)
    block = declared["block"].check(block)
    return bootstrap, seed, block


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
