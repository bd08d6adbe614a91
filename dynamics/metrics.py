"""Scores of a prediction against observations: R² along chosen axes."""

from __future__ import annotations

import numpy as np


def r2(observed: np.ndarray, predicted: np.ndarray, *, axis) -> np.ndarray:
    """The coefficient of determination ``1 - SS_res / SS_tot`` along ``axis``.

    NaN in ``predicted`` (a diverged solution) gives NaN; a constant observation gives NaN too, since any
    prediction explains none of its zero variance.
    """
    residual = ((observed - predicted) ** 2).sum(axis=axis)
    total = ((observed - observed.mean(axis=axis, keepdims=True)) ** 2).sum(axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0), np.nan)
