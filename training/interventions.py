"""Interventions on an embedding's Fourier spectrum (paper sections 3.2.1 and 4.1, appendix C).

Each function takes or builds a real numpy ``(p, d)`` embedding and returns a new float64 one whose
:func:`training.fourier.amplitude` spectrum is exactly what was asked, up to floating-point rounding:

- :func:`perturb` scales the circles of chosen frequencies by a factor (figure 6, middle);
- :func:`keep_only` removes every circle except a chosen set (appendix C, runs A-D; figure 8);
- :func:`construct` builds an embedding from nothing but chosen circle amplitudes (figure 6, right);
- :func:`two_circles` draws the paper's pair of frequencies with amplitudes ``s`` and ``r * s`` for it.

Frequencies are the circles' ``k = 1 .. (p - 1) // 2``; acting on ``k`` also acts on its partner
``p - k``, so the embedding stays real. Every amplitude here is ``||F_k||`` (the run dataset's
``amplitude``), never the signal ``||F_k||^2``.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping

import numpy as np

from fittest.checks import is_number
from fittest.errors import InputError
from training.fourier import check_p, coefficients, embedding_from_coefficients, frequencies

__all__ = ["construct", "keep_only", "perturb", "two_circles"]


def _embedding(E) -> np.ndarray:
    """``E`` as a float64 ``(p, d)`` array, or an error that says what is wrong with it."""
    if hasattr(E, "detach"):
        raise InputError("interventions take numpy arrays: pass E.detach().cpu().numpy() instead of a torch tensor")
    array = np.asarray(E)
    if array.ndim != 2:
        raise InputError(f"the embedding must have shape (p, d), got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
        raise InputError(f"the embedding must be real numbers, got dtype {array.dtype}")
    check_p(array.shape[0], name="the embedding's number of tokens p")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise InputError("the embedding holds NaN or infinite values")
    return array


def _frequency(k: object, p: int) -> int:
    """``k`` as an int circle frequency of modulus ``p``, or an error naming the valid range."""
    top = (p - 1) // 2
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise InputError(f"frequency {k!r} is not an integer; circle frequencies of p={p} are 1..{top}")
    if not 1 <= int(k) <= top:
        raise InputError(
            f"frequency {k} is outside 1..{top}, the circles of p={p} (k and p-k are the same circle: pass the smaller)"
        )
    return int(k)


def _number(value: object, what: str) -> float:
    if not is_number(value):
        raise InputError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def perturb(E, factors: Mapping[int, float]) -> np.ndarray:
    """Scale the circles of chosen frequencies by a factor each (paper section 3.2.1, figure 6 middle).

    The Fourier coefficients ``F_k`` and ``F_{p-k}`` of each chosen ``k`` are multiplied by its factor and
    the embedding is rebuilt by the inverse FFT, so the amplitude ``||F_k||`` of each chosen circle is
    multiplied by exactly that factor and every other Fourier coefficient (the mean, the other circles and,
    at even ``p``, the line ``p / 2``) is unchanged.

    Arguments:
        E: real array of shape ``(p, d)``, one row per token.
        factors: ``{k: factor}`` with ``k`` in ``1 .. (p - 1) // 2`` and ``factor > 0``.

    Returns:
        The perturbed embedding, float64 of shape ``(p, d)``; ``E`` itself is not modified.

    Raises:
        InputError: ``E`` is not a finite real ``(p, d)`` array, a frequency is outside ``1 .. (p - 1) // 2``,
            or a factor is not a finite number above 0.
    """
    array = _embedding(E)
    p = array.shape[0]
    if not isinstance(factors, Mapping):
        raise InputError(f"factors must be a mapping {{k: factor}}, got {type(factors).__name__}")
    F = coefficients(array)
    for k, factor in factors.items():
        k = _frequency(k, p)
        factor = _number(factor, f"the factor for frequency {k}")
        if factor <= 0:
            raise InputError(
                f"the factor for frequency {k} must be above 0, got {factor} (to remove a circle use keep_only)"
            )
        F[k] *= factor
        F[p - k] *= factor
    return embedding_from_coefficients(F)


def keep_only(E, keep: Iterable[int], *, keep_mean: bool = False) -> np.ndarray:
    """Remove every circle except a chosen set (paper appendix C, runs A-D; section 4.1, figure 8).

    Every Fourier coefficient other than ``F_k`` and ``F_{p-k}`` of the kept ``k`` is set to zero: the other
    circles, the line ``p / 2`` at even ``p``, and the token mean ``F_0`` unless ``keep_mean``. The kept
    circles are unchanged, so the amplitude spectrum is the original one on ``keep`` and zero (up to
    rounding, about 1e-15 relative) elsewhere.

    Arguments:
        E: real array of shape ``(p, d)``, one row per token.
        keep: frequencies ``k`` in ``1 .. (p - 1) // 2`` to keep; may be empty.
        keep_mean: keep the mean embedding over tokens (frequency 0) too. The paper keeps only the chosen
            frequencies, which is the default.

    Returns:
        The ablated embedding, float64 of shape ``(p, d)``.

    Raises:
        InputError: ``E`` is not a finite real ``(p, d)`` array, or a frequency is outside ``1 .. (p - 1) // 2``.
    """
    array = _embedding(E)
    p = array.shape[0]
    if isinstance(keep, numbers.Number) or isinstance(keep, str | bytes):
        raise InputError(f"keep must be a list of frequencies such as [{keep!r}], got {keep!r}")
    kept = sorted({_frequency(k, p) for k in keep})
    F = coefficients(array)
    mask = np.zeros(p, dtype=bool)
    mask[kept] = True
    mask[[p - k for k in kept]] = True
    mask[0] = keep_mean
    F[~mask] = 0
    return embedding_from_coefficients(F)


def construct(p: int, d: int, amplitudes: Mapping[int, float], *, eps: float = 1e-6, seed: int = 0) -> np.ndarray:
    """An embedding made of circles of chosen amplitudes only (paper section 3.2.1, figure 6 right).

    Every frequency ``k = 1 .. (p - 1) // 2`` becomes a true circle: token ``n`` sits at
    ``r_k (u_k cos(2 pi k n / p) + v_k sin(2 pi k n / p))`` with ``u_k, v_k`` a random orthonormal pair of
    directions in ``R^d`` (drawn from ``seed``) and the radius ``r_k = sqrt(2) a_k / p`` chosen so that
    ``||F_k|| = a_k``. The asked-for frequencies get ``a_k = amplitudes[k]``, all others ``a_k = eps``.
    The token mean and, at even ``p``, the line ``p / 2`` are zero.

    Arguments:
        p: number of tokens (the modulus), at least 3.
        d: embedding dimension, at least 2 (a circle needs a plane).
        amplitudes: ``{k: a_k}``, the amplitude ``||F_k||`` (not the signal ``||F_k||^2``) of each chosen
            circle, ``a_k >= 0``. The paper's "signal s" of a constructed circle is this amplitude (the
            authors' code worked with ``||F_k||``); pass ``sqrt(s)`` to ask for a signal ``||F_k||^2 = s``.
        eps: the amplitude ``||F_k||`` of every other circle, ``>= 0`` (the paper's 1e-6).
        seed: seed of the random circle directions.

    Returns:
        Float64 array of shape ``(p, d)`` whose :func:`training.fourier.amplitude` is ``amplitudes[k]`` at
        the chosen ``k`` and ``eps`` elsewhere, to rounding.

    Raises:
        InputError: ``p`` or ``d`` out of range, a frequency outside ``1 .. (p - 1) // 2``, or a negative or
            non-finite amplitude or ``eps``.
    """
    p = check_p(p)
    if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 2:
        raise InputError(f"d must be an integer >= 2 (a circle spans two directions), got {d!r}")
    if not isinstance(amplitudes, Mapping):
        raise InputError(f"amplitudes must be a mapping {{k: amplitude}}, got {type(amplitudes).__name__}")
    eps = _number(eps, "eps")
    if eps < 0:
        raise InputError(f"eps must be >= 0, got {eps}")
    ks = frequencies(p)
    target = np.full(ks.size, eps)
    for k, a in amplitudes.items():
        k = _frequency(k, p)
        a = _number(a, f"the amplitude for frequency {k}")
        if a < 0:
            raise InputError(f"the amplitude for frequency {k} must be >= 0, got {a}")
        target[k - 1] = a
    rng = np.random.default_rng(seed)
    # an orthonormal (u, v) per frequency: QR of a Gaussian (d, 2) block
    directions, _ = np.linalg.qr(rng.standard_normal((ks.size, d, 2)))
    F = np.zeros((p, d), dtype=np.complex128)
    # F_k = a (u - i v) / sqrt(2) puts token n at sqrt(2) a / p * (u cos + v sin) and has norm a
    F[ks] = (target[:, None] / np.sqrt(2)) * (directions[..., 0] - 1j * directions[..., 1])
    F[p - ks] = np.conj(F[ks])
    return embedding_from_coefficients(F)


def two_circles(p: int, amplitude: float, ratio: float, *, seed: int = 0) -> dict[int, float]:
    """The paper's constructed pair (section 3.2.1): two random circles with amplitudes ``s`` and ``r * s``.

    Two distinct frequencies are drawn from ``1 .. (p - 1) // 2``; the first gets ``amplitude`` and the
    second ``ratio * amplitude``. Pass the result to :func:`construct` or to ``TrainConfig(init_construct=...)``.

    Arguments:
        p: number of tokens, at least 5 (two circles are needed).
        amplitude: ``s``, the amplitude ``||F_k||`` of the stronger circle, ``> 0``.
        ratio: ``r`` in ``[0, 1]``.
        seed: seed of the frequency draw.

    Returns:
        ``{k1: s, k2: r * s}`` with ``k1 != k2``.

    Raises:
        InputError: ``p < 5``, ``amplitude <= 0``, or ``ratio`` outside ``[0, 1]``.
    """
    p = check_p(p)
    ks = frequencies(p)
    if ks.size < 2:
        raise InputError(f"p={p} has fewer than two circles; use p >= 5")
    s = _number(amplitude, "amplitude")
    if s <= 0:
        raise InputError(f"amplitude must be above 0, got {s}")
    r = _number(ratio, "ratio")
    if not 0 <= r <= 1:
        raise InputError(f"ratio r must lie in [0, 1], got {r}")
    k1, k2 = np.random.default_rng(seed).choice(ks, size=2, replace=False)
    return {int(k1): s, int(k2): r * s}
