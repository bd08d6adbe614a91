"""Term libraries: which monomials of the state an ODE's right-hand side may use.

A library is a list of monomials. Each is stored as a row of ``powers`` (its exponent of every component)
and, for evaluation, as a row of ``factors``: the component indices to multiply, padded with the index
``C`` that points at a constant 1. Evaluating is then one gather and one product, the same code in numpy
and in JAX, with no floating-point powers of negative numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fittest.errors import InputError


@dataclass(frozen=True)
class Library:
    """Monomial terms of the state.

    Attributes:
        names: readable term names, pysindy's style (``x_7``, ``x_7 x_22``, ``x_3^2``, ``1``).
        powers: shape ``(P, C)``, the exponent of each component in each term; None for terms that are not
            monomials (a pysindy Fourier library, ...), which only the fitting library can evaluate.
        mask: shape ``(C, P)``, which terms each target equation may use; all True when unrestricted.
        n_inputs: the number of control inputs ``u``: the last ``n_inputs`` columns of ``powers`` are the
            inputs' exponents, so that the terms are monomials of ``[x, u]`` (pysindy's control input).
    """

    names: tuple[str, ...]
    powers: np.ndarray | None
    mask: np.ndarray
    n_inputs: int = 0

    @property
    def is_polynomial(self) -> bool:
        return self.powers is not None

    @property
    def n_terms(self) -> int:
        return len(self.names)

    @property
    def degree(self) -> int:
        if self.powers is None:
            raise InputError("this library's terms are not monomials, so they have no degree")
        return int(self.powers.sum(axis=1).max(initial=0))

    @property
    def is_affine(self) -> bool:
        return self.is_polynomial and self.degree <= 1

    @property
    def factors(self) -> np.ndarray:
        """Shape ``(P, max(degree, 1))``: component indices to multiply; ``C`` means the constant 1."""
        n_components = self.powers.shape[1]
        width = max(self.degree, 1)
        out = np.full((self.n_terms, width), n_components, dtype=np.int64)
        for row, exponents in enumerate(self.powers):
            picks = np.repeat(np.arange(n_components), exponents)
            out[row, : picks.size] = picks
        return out


def component_names(components: Sequence) -> list[str]:
    """Feature names for component coordinate values: ``x_7`` for the number 7, the string itself for a label.

    A label keeps its spelling in the term names as in ``target``/``source`` (``^GSPC``, ``CO2 (ppm)`` with its
    spaces replaced by ``_``, since a space joins the factors of a term); only an empty label, ``1`` (the
    constant's name) and repeated names fall back to ``x_<index>``.
    """
    names = []
    for index, value in enumerate(components):
        if isinstance(value, str | np.str_):
            name = re.sub(r"\s+", "_", str(value).strip())
        elif isinstance(value, float | np.floating) and float(value).is_integer():
            name = f"x_{int(value)}"
        else:
            name = f"x_{value}"
        if not name or name == "1":
            name = f"x_{index}"
        names.append(name)
    if len(set(names)) != len(names):
        names = [f"x_{index}" for index in range(len(names))]
    return names


def term_name(exponents: np.ndarray, names: Sequence[str]) -> str:
    """The readable name of one monomial."""
    parts = []
    for index in np.flatnonzero(exponents):
        power = int(exponents[index])
        parts.append(names[index] if power == 1 else f"{names[index]}^{power}")
    return " ".join(parts) if parts else "1"


def from_powers(
    powers: np.ndarray, names: Sequence[str], mask: np.ndarray | None = None, *, n_inputs: int = 0
) -> Library:
    """A library from an exponent matrix of shape ``(P, C + n_inputs)`` (``names`` names its columns)."""
    powers = np.asarray(powers, dtype=np.int64)
    if mask is None:
        mask = np.ones((powers.shape[1] - n_inputs, powers.shape[0]), dtype=bool)
    terms = tuple(term_name(row, names) for row in powers)
    return Library(terms, powers, np.asarray(mask, dtype=bool), n_inputs)


def affine(names: Sequence[str], inputs: Sequence[str] = ()) -> Library:
    """``x_1 .. x_C``, the inputs ``u_1 .. u_m`` and ``1``: the library of ``dx/dt = A x + B u + b``."""
    n = len(names) + len(inputs)
    powers = np.vstack([np.eye(n, dtype=np.int64), np.zeros((1, n), dtype=np.int64)])
    return from_powers(powers, list(names) + list(inputs), n_inputs=len(inputs))


def quadratic(names: Sequence[str], *, bias: bool = False) -> Library:
    """Every ``x_j`` and every product ``x_j x_k`` (``j <= k``), and ``1`` when ``bias``: the paper's eq. 2."""
    n = len(names)
    rows = [np.eye(n, dtype=np.int64)]
    j, k = np.triu_indices(n)
    pairs = np.zeros((j.size, n), dtype=np.int64)
    np.add.at(pairs, (np.arange(j.size), j), 1)
    np.add.at(pairs, (np.arange(j.size), k), 1)
    rows.append(pairs)
    if bias:
        rows.append(np.zeros((1, n), dtype=np.int64))
    return from_powers(np.vstack(rows), names)


def lotka_volterra(names: Sequence[str]) -> Library:
    """Generalised Lotka-Volterra: target ``i`` uses ``x_i`` and ``x_i x_j`` for every ``j`` only."""
    library = quadratic(names)
    mask = library.powers.T > 0  # (C, P): term contains x_i
    return Library(library.names, library.powers, mask)


def polynomial(names: Sequence[str], *, degree: int, bias: bool = True) -> Library:
    """All monomials up to ``degree``, ordered by degree then lexicographically (pysindy's order)."""
    from itertools import combinations_with_replacement

    n = len(names)
    rows = []
    for d in range(0 if bias else 1, degree + 1):
        for combo in combinations_with_replacement(range(n), d):
            row = np.zeros(n, dtype=np.int64)
            np.add.at(row, list(combo), 1)
            rows.append(row)
    return from_powers(np.array(rows, dtype=np.int64).reshape(-1, n), names)


def parse_pysindy_names(feature_names: Sequence[str], names: Sequence[str]) -> np.ndarray | None:
    """Exponents of pysindy's term names (``"x_1 x_2"``, ``"x_1^2"``, ``"1"``), or None if a term is not a monomial.

    Arguments:
        feature_names: ``SINDy.get_feature_names()``.
        names: the input feature names passed to pysindy.

    Returns:
        Shape ``(P, C)``, or None when some term (``sin(x_1)``, ...) is not a monomial of the inputs.
    """
    lookup = {name: index for index, name in enumerate(names)}
    powers = np.zeros((len(feature_names), len(names)), dtype=np.int64)
    for row, term in enumerate(feature_names):
        if term.strip() == "1":
            continue
        for factor in term.split():
            base, _, exponent = factor.partition("^")
            if base not in lookup or (exponent and not exponent.isdigit()):
                return None
            powers[row, lookup[base]] += int(exponent) if exponent else 1
    return powers


def evaluate(factors: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Every term's value: ``x`` of shape ``(..., C)`` gives ``(..., P)``."""
    padded = np.concatenate([x, np.ones(x.shape[:-1] + (1,), dtype=x.dtype)], axis=-1)
    return np.prod(padded[..., factors], axis=-1)


def check_terms(library: Library, n_points: int) -> None:
    """Raise if there are fewer time points than terms in the widest equation.

    Raises:
        InputError: too few time points for the model.
    """
    widest = int(library.mask.sum(axis=1).max(initial=0))
    if n_points < widest:
        raise InputError(
            f"the model has {widest} terms per equation but only {n_points} derivative points: widen t_range, "
            "use fewer components, or choose a smaller model"
        )


def restrict(library: Library, support: dict | None, targets: Sequence[str]) -> Library:
    """The library with each named target limited to the terms ``support`` gives it.

    The support replaces the model's own choice for the targets it names (so a Lotka-Volterra target may be
    given ``x y`` without ``x^2``, the classic predator-prey form); targets it does not name keep their mask.

    Arguments:
        library: the model's terms.
        support: ``{target: [term names]}`` (names as the fit prints them, ``"1"`` for the constant), or None.
        targets: the names of the targets, in the library's mask order.

    Returns:
        The library with the new mask (the same library when ``support`` is None).

    Raises:
        InputError: a target or term that the model does not have, or a target left with no term.
    """
    if support is None:
        return library
    mask = library.mask.copy()
    position = {name: index for index, name in enumerate(library.names)}
    for target, terms in support.items():
        if target not in targets:
            raise InputError(f"support names the target {target!r}, which the data lack: use one of {list(targets)}")
        if isinstance(terms, str):
            terms = [terms]
        unknown = [term for term in terms if term not in position]
        if unknown:
            raise InputError(
                f"support gives {target!r} the terms {unknown}, which the model lacks: use of {list(library.names)}"
            )
        row = np.zeros(library.n_terms, dtype=bool)
        row[[position[term] for term in terms]] = True
        if not row.any():
            raise InputError(f"support leaves {target!r} no term: give it at least one, or leave it out of support")
        mask[list(targets).index(target)] = row
    return Library(library.names, library.powers, mask, library.n_inputs)
