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
    """``bootstrap``, ``seed`` and ``block`` as integers, checked.

    Raises:
        InputError: a negative or non-integer count, seed or block.
    """
    from fittest.checks import integer

    bootstrap = integer("bootstrap", bootstrap, 0)
    seed = integer("seed", seed, 0, 2**63 - 1)
    if block is not None:
        block = integer("block", block, 1)
    return bootstrap, seed, block


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
