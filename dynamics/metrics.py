"""Scores of a prediction against observations: R² and RMSE along chosen axes, the one copy of each."""

from __future__ import annotations

import numpy as np


def r2(observed: np.ndarray, predicted: np.ndarray, *, axis, mean_axis=None) -> np.ndarray:
    """The coefficient of determination ``1 - SS_res / SS_tot`` along ``axis``.

    NaN in ``predicted`` (a diverged solution) gives NaN; a constant observation gives NaN too, since any
    prediction explains none of its zero variance. NaN in ``observed`` is a point not observed (the padding of
    a shorter sample): it is left out of every sum and mean.

    Arguments:
        observed: the observations.
        predicted: the predictions, the same shape.
        axis: the axis or axes summed over; several are summed one after the other, in the order given.
        mean_axis: the axis or axes of the observed mean in ``SS_tot``; ``axis`` by default. With
            ``axis=(time, component)`` and ``mean_axis=time``, every component is centred on its own mean and
            the sums pool the components (scikit-learn's ``multioutput="variance_weighted"``).

    Returns:
        The R², with the summed axes removed.
    """
    seen = ~np.isnan(observed)
    residual = _sum(np.where(seen, (observed - predicted) ** 2, 0.0), axis)
    mean_over = axis if mean_axis is None else mean_axis
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = _sum(np.where(seen, observed, 0.0), mean_over, keepdims=True) / _sum(seen, mean_over, keepdims=True)
        total = _sum(np.where(seen, (observed - centre) ** 2, 0.0), axis)
        return np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0), np.nan)


def _sum(values: np.ndarray, axis, *, keepdims: bool = False) -> np.ndarray:
    """``values`` summed over each of ``axis`` in turn: a fixed order keeps pooled scores equal to the last bit
    to sums of the per-axis sums (a sample's R² and its components' sums of squares)."""
    if not isinstance(axis, tuple):
        return values.sum(axis=axis, keepdims=keepdims)
    for one in axis:
        values = values.sum(axis=one, keepdims=True)
    return values if keepdims else values.squeeze(axis=axis)


def rmse(observed: np.ndarray, predicted: np.ndarray, *, axis) -> np.ndarray:
    """The root-mean-square error along ``axis``; NaN in ``predicted`` gives NaN, NaN in ``observed`` (a point
    not observed) is left out.

    Arguments:
        observed: the observations.
        predicted: the predictions, the same shape.
        axis: the axis or axes averaged over.

    Returns:
        The RMSE, with those axes removed.
    """
    seen = ~np.isnan(observed)
    with np.errstate(divide="ignore", invalid="ignore"):
        squares = np.where(seen, (observed - predicted) ** 2, 0.0).sum(axis=axis)
        return np.sqrt(squares / seen.sum(axis=axis))
