"""The modular-addition task: all p² pairs (a, b) with label (a + b) mod p, and a seeded train/test split."""

from __future__ import annotations

import math

import numpy as np

from training.fourier import check_p


def pairs(p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of the task, in the order ``index = a p + b``.

    Returns:
        ``(a, b, c)``, int64 arrays of length ``p²`` with ``c = (a + b) mod p``.
    """
    p = check_p(p)
    index = np.arange(p * p)
    a, b = np.divmod(index, p)
    return a, b, (a + b) % p


def split(p: int, train_frac: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The train and test pair indices (``a p + b``) of one run; a function of ``(p, train_frac, seed)`` only.

    A uniformly random permutation of the p² pairs seeded by ``seed``; the first ``floor(train_frac p²)``
    are the training set. Both index arrays are sorted.

    Returns:
        ``(train, test)``, int64 index arrays.
    """
    p = check_p(p)
    order = np.random.default_rng(int(seed)).permutation(p * p)
    n_train = math.floor(train_frac * p * p)
    return np.sort(order[:n_train]), np.sort(order[n_train:])
