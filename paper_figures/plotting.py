"""Drawing helpers the figure scripts share: a pyplot-free figure, the colours, a circle's plane."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

SURVIVED = "tab:orange"
DEAD = "tab:blue"
GREY = "0.7"


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 4.0, height: float = 3.2, **kwargs):
    """A matplotlib :class:`~matplotlib.figure.Figure` with a grid of axes, made without pyplot.

    pyplot keeps every figure alive in global state and needs a backend; a bare ``Figure`` needs neither,
    so many figures can be made in one process and in tests.

    Returns:
        ``(figure, axes)``, axes as a 2-D array of shape ``(nrows, ncols)``.
    """
    figure = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False, **kwargs)
    return figure, axes


def circle_plane(embedding: np.ndarray, k: int) -> np.ndarray:
    """The tokens of ``embedding`` (p, d), centred, in the plane of frequency ``k`` (``Re F_k``, ``Im F_k``).

    A surviving circle shows as a ring, a dead one as a clump at the centre (paper figure 2, right). The
    plane's axes are orthonormalised so that distances are the embedding's own.

    Returns:
        Shape ``(p, 2)``.
    """
    E = np.asarray(embedding, dtype=np.float64)
    centred = E - E.mean(axis=0)
    F = np.fft.fft(centred, axis=0)[k]
    basis, _ = np.linalg.qr(np.stack([F.real, -F.imag], axis=1))
    return centred @ basis


def mean_and_band(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and a 95% normal band (mean +- 1.96 standard errors) over ``axis``."""
    values = np.asarray(values, dtype=np.float64)
    mean = np.nanmean(values, axis=axis)
    n = np.sum(np.isfinite(values), axis=axis)
    sem = np.nanstd(values, axis=axis, ddof=1) / np.sqrt(np.maximum(n, 1)) if values.shape[axis] > 1 else 0 * mean
    return mean, mean - 1.96 * sem, mean + 1.96 * sem


def error_bars(rate, lower, upper) -> np.ndarray:
    """``yerr`` for :meth:`~matplotlib.axes.Axes.errorbar` from an interval, rounding below zero clipped away."""
    rate, lower, upper = (np.asarray(v, dtype=np.float64) for v in (rate, lower, upper))
    return np.clip(np.stack([rate - lower, upper - rate]), 0, None)
