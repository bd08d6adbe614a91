"""The Fourier view of an embedding: one circle per frequency k (paper section 2, eq. 1).

For an embedding ``E`` of shape ``(..., p, d)`` (token axis second to last) the Fourier coefficient of
frequency k is ``F_k = sum_n exp(-2 pi i k n / p) E_n``, a complex vector in C^d. Frequencies k and p - k
are the same circle, so the toolkit keeps ``k = 1 .. (p - 1) // 2``. The ``amplitude`` is ``||F_k||`` and
the ``signal`` is ``||F_k||^2``.

The functions that the training loop calls on every recorded step (:func:`fourier_basis`,
:func:`signal`) are written with plain matrix products so that the same code serves numpy arrays and
torch tensors on any device.
"""

from __future__ import annotations

import numpy as np

from fittest.checks import integer, is_integer
from fittest.errors import InputError


def check_p(p: object, *, name: str = "p") -> int:
    """Return ``p`` as an int, or raise if it is not an integer >= 3.

    Raises:
        InputError: ``p`` is not an integer, or is below 3.
    """
    return integer(name, p, 3)


GROUPS = ("additive", "multiplicative")
"""The groups whose characters make a basis: the additive group Z_p (add, subtract) and the multiplicative
group Z_p^* of a prime p (multiply)."""


def _group(group: str) -> str:
    if group not in GROUPS:
        raise InputError(f"group must be one of {', '.join(GROUPS)}, got {group!r}")
    return group


def frequencies(p: int, *, group: str = "additive") -> np.ndarray:
    """The distinct circles' frequencies of modulus ``p`` in the basis of ``group``.

    Additive: ``1 .. (p - 1) // 2``. At even ``p`` the middle frequency ``p / 2`` is its own partner and is a
    line, not a circle; it is left out, as it is from the run dataset's ``frequency`` axis.
    Multiplicative (prime ``p``): the characters ``j = 1 .. (p - 2) // 2`` of the cyclic group of order
    ``p - 1``; ``j = (p - 1) / 2``, the Legendre symbol, is real (a line) and left out likewise.

    Raises:
        InputError: ``p`` is not an integer >= 3, or not a prime >= 5 for the multiplicative group.
    """
    p = check_p(p)
    if _group(group) == "multiplicative":
        primitive_root(p)  # refuses a p without a cyclic multiplicative group
        return np.arange(1, (p - 2) // 2 + 1)
    return np.arange(1, (p - 1) // 2 + 1)


def primitive_root(p: int) -> int:
    """The smallest generator ``g`` of the multiplicative group mod the prime ``p``.

    Raises:
        InputError: ``p`` is not a prime >= 5 (below 5 the group has no circle).
    """
    p = check_p(p)
    if p < 5 or not is_prime(p):
        raise InputError(f"the multiplicative basis needs a prime p >= 5, got p={p}: choose a prime modulus")
    order = p - 1
    factors = [q for q in range(2, order + 1) if order % q == 0 and is_prime(q)]
    return next(g for g in range(2, p) if all(pow(g, order // q, p) != 1 for q in factors))


def discrete_log(p: int) -> np.ndarray:
    """``log[n]``: the exponent ``l`` with ``g^l = n (mod p)`` for tokens ``n = 1 .. p - 1``, and -1 for 0.

    ``g`` is :func:`primitive_root`; multiplying tokens adds their logarithms mod ``p - 1``, which turns
    multiplication into the addition that Fourier analysis diagonalises.
    """
    g = primitive_root(p)
    log = np.full(p, -1, dtype=np.int64)
    value = 1
    for exponent in range(p - 1):
        log[value] = exponent
        value = value * g % p
    return log


def fourier_basis(p: int, *, dtype=np.float64, group: str = "additive") -> np.ndarray:
    """Real basis of the circles of ``group``, shape ``(2 K, p)`` with ``K = len(frequencies(p, group=group))``.

    Additive: rows ``0 .. K-1`` are ``cos(2 pi k n / p)`` and rows ``K .. 2K-1`` are ``sin(2 pi k n / p)`` for
    ``k = 1 .. K``, so that ``basis @ E`` holds the real and (minus) imaginary parts of ``F_k``.

    Multiplicative: the same rows over the discrete logarithm, ``cos(2 pi j log(n) / (p - 1))`` and its sine
    (the real and imaginary parts of the group's characters), for tokens ``n = 1 .. p - 1``. Token 0 is
    outside the group (``0 * b = 0`` for every ``b``, so it carries no character): its column is zero, and
    its embedding counts towards no circle.
    """
    if _group(group) == "multiplicative":
        log = discrete_log(p)
        cyclic = fourier_basis(p - 1, dtype=np.float64)  # the characters of Z_{p-1}, indexed by the logarithm
        out = np.zeros((cyclic.shape[0], p))
        out[:, 1:] = cyclic[:, log[1:]]
        return out.astype(dtype)
    k = frequencies(p)[:, None]
    n = np.arange(p)[None, :]
    angle = 2 * np.pi * ((k * n) % p) / p  # reduce mod p first: exact angles for large k * n
    return np.concatenate([np.cos(angle), np.sin(angle)]).astype(dtype)


def signal(embedding, basis=None):
    """``||F_k||^2`` for ``k = 1 .. (p - 1) // 2``.

    Arguments:
        embedding: array or tensor of shape ``(..., p, d)``, the token axis second to last.
        basis: the output of :func:`fourier_basis` for this ``p``, as the same array type, dtype and device
            as ``embedding``; computed (numpy) when omitted.

    Returns:
        Shape ``(..., K)``, the same array type as ``embedding``.

    Raises:
        InputError: ``embedding`` has fewer than 2 axes, fewer than 3 tokens, or does not match ``basis``.
    """
    shape = tuple(embedding.shape) if hasattr(embedding, "shape") else np.shape(embedding)
    if len(shape) < 2:
        raise InputError(f"the embedding must have shape (..., p, d), tokens second to last; got shape {shape}")
    if basis is None:
        p = check_p(shape[-2], name="the embedding's number of tokens p (its second-to-last axis)")
        basis = fourier_basis(p, dtype=np.asarray(embedding).dtype)
    elif basis.shape[-1] != shape[-2]:
        raise InputError(
            f"the basis is for p={basis.shape[-1]} but the embedding has {shape[-2]} tokens: "
            "pass fourier_basis(p) of the embedding's p, or omit basis"
        )
    projected = basis @ embedding  # (..., 2K, d)
    power = (projected * projected).sum(-1)  # (..., 2K)
    half = power.shape[-1] // 2
    return power[..., :half] + power[..., half:]


def neuron_signal(embedding, w1, basis=None):
    """Each first-layer neuron's input-weight power per frequency (He et al. 2026: neurons pick a frequency).

    Neuron u sees the pair (a, b) through ``U[a, u] + V[b, u]`` with ``U = E W1a^T`` and ``V = E W1b^T``
    (``W1a``, ``W1b`` the halves of ``w1`` on ``E_a`` and ``E_b``). Its power at frequency k is
    ``|F_k(U[:, u])|^2 + |F_k(V[:, u])|^2``: both halves are transformed separately and added, because the
    Fourier coefficient of their sum would cancel when the two halves have opposite phases.

    Arguments:
        embedding: ``(..., p, d)``, the token axis second to last, numpy array or torch tensor.
        w1: the first layer, ``(..., h, 2d)``, the same array type.
        basis: as in :func:`signal`.

    Returns:
        Shape ``(..., h, K)``.

    Raises:
        InputError: ``w1`` is not ``2d`` wide, or as in :func:`signal`.
    """
    d = embedding.shape[-1]
    if w1.shape[-1] != 2 * d:
        raise InputError(
            f"w1 has {w1.shape[-1]} inputs but the embedding has d={d}: the first layer acts on [E_a, E_b] (2d)"
        )
    total = 0
    for half in (w1[..., :d], w1[..., d:]):
        # column u of E half^T holds neuron u's weight on each token: a (p, 1) embedding of its own
        total = total + signal((embedding @ half.swapaxes(-1, -2)).swapaxes(-1, -2)[..., None], basis)
    return total


def amplitude(embedding, basis=None):
    """``||F_k||`` for ``k = 1 .. (p - 1) // 2``: the square root of :func:`signal`."""
    return signal(embedding, basis) ** 0.5


def coefficients(embedding: np.ndarray) -> np.ndarray:
    """All ``p`` complex Fourier coefficients, shape ``(..., p, d)``: ``F_k`` for ``k = 0 .. p - 1``."""
    return np.fft.fft(np.asarray(embedding), axis=-2)


def embedding_from_coefficients(coeffs: np.ndarray) -> np.ndarray:
    """The real embedding whose :func:`coefficients` are ``coeffs`` (inverse FFT over the token axis).

    ``coeffs`` must be Hermitian (``F_{p-k} = conj(F_k)``) for the result to be exact; the imaginary part,
    zero up to rounding then, is dropped.
    """
    return np.fft.ifft(np.asarray(coeffs), axis=-2).real


def circularity(embedding: np.ndarray) -> np.ndarray:
    """How exactly the embedding traces a circle of each frequency: ``c_k`` in ``[0, 1]`` (appendix B, eq. 5).

    The paper adapts the circularity of Zhong et al. from principal components to the Fourier basis. Here
    the tokens, centred on their mean, are projected onto the plane of frequency ``k`` (spanned by
    ``Re F_k`` and ``Im F_k``, which holds all of that frequency's power) and ``c_k`` is the share of the
    projected variance that frequency ``k`` explains::

        c_k = 2 ||F_k||^2 / (p * sum_n ||P_k (E_n - mean E)||^2)

    This is eq. 5 applied to each direction of the plane and summed. By Parseval ``c_k = 1`` exactly when
    the projection is a pure frequency-``k`` figure (a circle or ellipse traversed ``k`` times) and ``c_k``
    is small when frequency ``k`` is a small part of what lies in that plane. For a random Gaussian
    embedding ``c_k`` is about ``d / (p + d)``: it grows with ``d`` as the paper's figure 11 shows.

    Arguments:
        embedding: real array of shape ``(..., p, d)``, the token axis second to last.

    Returns:
        Array of shape ``(..., K)``, ``K = (p - 1) // 2``; NaN where ``||F_k||`` is zero or below 1e-12 of
        the whole embedding's norm (no circle to speak of).

    Raises:
        InputError: the embedding has fewer than 2 axes or 3 tokens, or holds NaN or inf.
    """
    E = np.asarray(embedding, dtype=np.float64)
    if E.ndim < 2:
        raise InputError(f"the embedding must have shape (..., p, d), tokens second to last; got shape {E.shape}")
    p = check_p(E.shape[-2], name="the embedding's number of tokens p (its second-to-last axis)")
    if not np.all(np.isfinite(E)):
        raise InputError("the embedding holds NaN or infinite values: circularity is defined for finite embeddings")
    K = (p - 1) // 2
    centred = E - E.mean(axis=-2, keepdims=True)
    F = coefficients(centred)[..., 1 : K + 1, :]  # (..., K, d)
    plane = np.stack([F.real, F.imag], axis=-2)  # (..., K, 2, d)
    _, sizes, directions = np.linalg.svd(plane, full_matrices=False)  # directions: (..., K, 2, d)
    # Re F_k parallel to Im F_k leaves a line, not a plane: drop the degenerate direction
    kept = sizes > 1e-12 * sizes[..., :1]
    projected = centred[..., None, :, :] @ np.swapaxes(directions, -1, -2)  # (..., K, p, 2)
    energy = ((projected**2).sum(-2) * kept).sum(-1)
    power = (np.abs(F) ** 2).sum(-1)
    # a circle 1e-12 times smaller than the whole embedding is rounding noise, whose shape means nothing
    total = p * (centred**2).sum((-2, -1))[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(power > 1e-24 * total, 2 * power / (p * energy), np.nan)


def circle_plane(embedding: np.ndarray, k: int) -> np.ndarray:
    """The tokens of ``embedding``, centred, in the plane of frequency ``k`` (spanned by ``Re F_k``, ``Im F_k``).

    A surviving circle shows as a ring, a dead one as a clump at the centre (paper figure 2, right). The
    plane's two axes are orthonormalised, so that distances in the plane are the embedding's own.

    Arguments:
        embedding: real array of shape ``(p, d)``, one row per token.
        k: the frequency, ``1 .. (p - 1) // 2``.

    Returns:
        Array of shape ``(p, 2)``: each token's coordinates in the plane.

    Raises:
        InputError: the embedding is not 2-D with at least 3 tokens, or ``k`` is not one of its frequencies.
    """
    E = np.asarray(embedding, dtype=np.float64)
    if E.ndim != 2:
        raise InputError(f"circle_plane() takes one embedding of shape (p, d); got shape {E.shape}")
    p = check_p(E.shape[0], name="the embedding's number of tokens p (its first axis)")
    k = integer("k", k, 1)
    if k > (p - 1) // 2:
        raise InputError(f"k must be a frequency 1 .. {(p - 1) // 2} of p = {p}, got {k}")
    centred = E - E.mean(axis=0)
    F = coefficients(centred)[k]
    basis, _ = np.linalg.qr(np.stack([F.real, -F.imag], axis=1))
    return centred @ basis


def is_prime(n: int) -> bool:
    """Whether the integer ``n`` is a prime.

    At a prime modulus every frequency ``k`` is coprime to ``p``, so each circle visits all ``p`` tokens; at
    other moduli some frequencies trace shorter cycles (the paper's figure 14). Trial division: quick for
    the moduli of this toolkit.

    Arguments:
        n: an integer; below 2 is not prime.

    Returns:
        True when ``n`` is prime.

    Raises:
        InputError: ``n`` is not an integer.
    """
    if not is_integer(n):
        raise InputError(f"is_prime() takes an integer, got {n!r}")
    n = int(n)
    return n > 1 and all(n % q for q in range(2, int(n**0.5) + 1))
