"""Finite groups given by their Cayley tables, and their irreducible characters.

A :class:`Group` is a multiplication table over the indices ``0 .. n-1`` (the identity is 0) with a readable
label per element. :func:`group` builds the groups researchers train on by name (cyclic, dihedral, symmetric,
alternating, the quaternions and direct products of these); :func:`from_table` checks a table the user brings.
The characters are computed numerically from the class algebra (Burnside's method): the class sums multiply
with integer structure constants, and the joint eigenvectors of those multiplications are the central
characters. Only numpy: the group's elements are the tokens of a task, and its characters define the
``irrep`` basis of :mod:`training.bases`.
"""

from __future__ import annotations

import itertools
import re
import string
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from fittest.errors import InputError

MAX_ORDER = 5040
"""The largest group :func:`group` builds (S7): its Cayley table alone takes 200 MB."""

MAX_CHECKED_ORDER = 2000
"""The largest table :func:`from_table` checks."""

GRAMMAR = (
    "Zn (cyclic, n >= 1), Dn (dihedral, the 2n symmetries of the n-gon, n >= 3), Sn (symmetric, 1 <= n <= 7), "
    "An (alternating, 3 <= n <= 7), Q8 (quaternions), or a direct product of these joined by 'x' such as Z3xS3"
)


@dataclass(frozen=True, eq=False)
class Group:
    """A finite group as its Cayley table.

    Build one with :func:`group` or :func:`from_table`, which check the group axioms; the constructor itself
    checks only the shapes. Groups compare by identity (``eq=False``): two calls of ``group("S4")`` give equal
    tables but distinct objects.

    Attributes:
        name: a readable name such as ``"S4"``.
        elements: one label per element, identity first.
        table: ``(n, n)`` int64, ``table[a, b]`` is the index of the product ``a * b``: a copy of the table given,
            left writable so that ``torch.as_tensor`` takes it without a warning; do not modify it.
    """

    name: str
    elements: tuple[str, ...]
    table: np.ndarray

    def __post_init__(self):
        table = np.array(self.table, dtype=np.int64)
        if table.ndim != 2 or table.shape[0] != table.shape[1] or table.shape[0] < 1:
            raise InputError(f"a Cayley table must be a non-empty square (n, n) array, got shape {table.shape}")
        if len(self.elements) != table.shape[0]:
            raise InputError(f"the group has {table.shape[0]} elements but {len(self.elements)} labels")
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "elements", tuple(str(element) for element in self.elements))

    @property
    def order(self) -> int:
        """The number of elements."""
        return self.table.shape[0]

    @property
    def identity(self) -> int:
        """The index of the identity: always 0."""
        return 0

    @cached_property
    def inverse(self) -> np.ndarray:
        """``(n,)`` int64: ``inverse[a]`` is the index of ``a``'s inverse."""
        rows, columns = np.nonzero(self.table == 0)
        inverse = np.empty(self.order, dtype=np.int64)
        inverse[rows] = columns
        return inverse

    @property
    def is_abelian(self) -> bool:
        """Whether ``a * b == b * a`` for all elements."""
        return bool(np.array_equal(self.table, self.table.T))

    @cached_property
    def classes(self) -> tuple[np.ndarray, ...]:
        """The conjugacy classes, each a sorted int64 array of element indices, ordered by their smallest
        element (so the identity's class ``[0]`` comes first)."""
        n = self.order
        every = np.arange(n)
        class_of = np.full(n, -1, dtype=np.int64)
        found = []
        for x in range(n):
            if class_of[x] >= 0:
                continue
            members = np.unique(self.table[self.table[every, x], self.inverse])  # g x g^-1 for every g
            class_of[members] = len(found)
            found.append(members)
        return tuple(found)

    @cached_property
    def class_of(self) -> np.ndarray:
        """``(n,)`` int64: the index in :attr:`classes` of each element's conjugacy class."""
        class_of = np.empty(self.order, dtype=np.int64)
        for index, members in enumerate(self.classes):
            class_of[members] = index
        return class_of

    @cached_property
    def characters(self) -> CharacterTable:
        """The irreducible characters (see :class:`CharacterTable`), computed once per group object.

        Raises:
            RuntimeError: the numerical computation failed its own checks (not seen on any group of order up
                to 5040 built by :func:`group`).
        """
        return _character_table(self)


@dataclass(frozen=True, eq=False)
class CharacterTable:
    """The irreducible complex characters of a group, and how they pair into real components.

    Rows are ordered as the real components of :func:`training.bases.irreps`: by dimension, then by the
    character's real part on the classes in class order, largest first (so the trivial character, all ones,
    comes first). A complex character and its conjugate are one real component and adjacent rows.

    Attributes:
        labels: one per row: the component's label (``"trivial"``; the dimension ``"2"``; with a letter
            ``"3a"``, ``"3b"`` where several components share a dimension); the conjugate of a complex
            character has its partner's label with ``"*"`` (the unstarred one is positive imaginary on the
            first class where the pair is not real).
        classes: the columns, as :attr:`Group.classes`.
        values: ``(characters, classes)``: float64 when every character is real, else complex128.
        dim: ``(characters,)`` int64, each character's degree ``d_rho`` (its value at the identity).
        kind: ``"real"``, ``"complex"`` or ``"quaternionic"`` per row (Frobenius-Schur indicator 1, 0, -1).
        component: ``(characters,)`` int64, the index of the row's real component.
        component_labels: one label per real component.
    """

    labels: tuple[str, ...]
    classes: tuple[np.ndarray, ...]
    values: np.ndarray
    dim: np.ndarray
    kind: tuple[str, ...]
    component: np.ndarray
    component_labels: tuple[str, ...]


def _letters(index: int) -> str:
    """``a .. z, aa, ab, ..``: the suffix of the ``index``-th component of one dimension."""
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = string.ascii_lowercase[rest] + out
    return out


def _central_characters(group: Group, seed: int) -> np.ndarray:
    """``(characters, classes)`` complex: ``chi(g_k)`` from the joint eigenvectors of the class algebra."""
    n, table, inverse = group.order, group.table, group.inverse
    classes, class_of = group.classes, group.class_of
    r = len(classes)
    sizes = np.array([len(members) for members in classes], dtype=np.float64)
    # a[i, j, k] = #{(x, y) in C_i x C_j : x y = z_k}: for each x there is one y = x^-1 z_k
    a = np.empty((r, r, r))
    for k, members in enumerate(classes):
        y = table[inverse, members[0]]
        a[:, :, k] = np.bincount(class_of * r + class_of[y], minlength=r * r).reshape(r, r)
    # C_j C_i = sum_k a[j, i, k] C_k, so the central character w_k = omega(C_k) solves (A_j w)_i = omega(C_j) w_i
    weights = np.random.default_rng(seed).standard_normal(r) / sizes
    values, vectors = np.linalg.eig(np.einsum("j,jik->ik", weights, a))
    gaps = np.abs(values[:, None] - values[None, :])
    np.fill_diagonal(gaps, np.inf)
    if r > 1 and gaps.min() < 1e-6 * max(1.0, np.abs(values).max()):
        raise ArithmeticError("two characters share an eigenvalue of this combination")
    omega = vectors / vectors[0]  # omega(C_identity) = 1
    degree = np.sqrt(n / (np.abs(omega) ** 2 / sizes[:, None]).sum(0))
    return (degree * omega / sizes[:, None]).T


def _character_table(group: Group) -> CharacterTable:
    n = group.order
    sizes = np.array([len(members) for members in group.classes], dtype=np.float64)
    for seed in range(8):
        try:
            chi = _central_characters(group, seed)
        except (ArithmeticError, np.linalg.LinAlgError):
            continue
        degree = chi[:, 0].real
        gram = (chi * sizes) @ chi.conj().T / n
        if (
            np.allclose(degree, np.round(degree), atol=1e-6)
            and np.allclose(gram, np.eye(len(chi)), atol=1e-8)
            and round(float((np.round(degree) ** 2).sum())) == n
        ):
            break
    else:
        raise RuntimeError(f"the characters of {group.name} failed their orthogonality checks in 8 attempts")
    chi = np.where(np.abs(chi.imag) < 1e-9, chi.real, chi)
    dim = np.round(chi[:, 0].real).astype(np.int64)
    squares = group.class_of[group.table[[m[0] for m in group.classes], [m[0] for m in group.classes]]]
    indicator = np.round(((chi[:, squares] * sizes).sum(1) / n).real).astype(int)
    partner = np.array([int(np.abs(chi - row.conj()).max(1).argmin()) for row in chi])

    # one entry per real component: (dim, key), the first member, and its partner if complex
    components = []
    for index in range(len(chi)):
        if partner[index] < index:
            continue
        key = tuple(-(np.round(chi[index].real, 8) + 0.0))
        components.append(((int(dim[index]), key), index, int(partner[index])))
    components.sort()
    per_dim: dict[int, int] = {}
    for (d, _), _, _ in components[1:]:
        per_dim[d] = per_dim.get(d, 0) + 1
    seen: dict[int, int] = {}
    rows, labels, kinds, component, component_labels = [], [], [], [], []
    for number, ((d, _), first, second) in enumerate(components):
        if number == 0:
            label = "trivial"
        elif per_dim[d] == 1:
            label = str(d)
        else:
            label = f"{d}{_letters(seen.get(d, 0))}"
            seen[d] = seen.get(d, 0) + 1
        component_labels.append(label)
        if first == second:
            rows.append(first)
            labels.append(label)
            kinds.append("real" if indicator[first] == 1 else "quaternionic")
            component.append(number)
            continue
        imaginary = chi[first].imag
        where = int(np.argmax(np.abs(imaginary) > 1e-9))
        if imaginary[where] < 0:
            first, second = second, first
        rows += [first, second]
        labels += [label, label + "*"]
        kinds += ["complex", "complex"]
        component += [number, number]
    values = chi[rows]
    if not np.iscomplexobj(values) or not np.any(values.imag):
        values = np.ascontiguousarray(values.real)
    return CharacterTable(
        labels=tuple(labels),
        classes=group.classes,
        values=values,
        dim=dim[rows],
        kind=tuple(kinds),
        component=np.array(component, dtype=np.int64),
        component_labels=tuple(component_labels),
    )


# ---- building groups -------------------------------------------------------------------------------------


def _cyclic(n: int) -> tuple[tuple[str, ...], np.ndarray]:
    every = np.arange(n)
    return tuple(str(i) for i in range(n)), (every[:, None] + every[None, :]) % n


def _dihedral(n: int) -> tuple[tuple[str, ...], np.ndarray]:
    # index j * n + k is r^k s^j; (r^a s^i)(r^b s^j) = r^(a + (-1)^i b) s^(i + j)
    k = np.tile(np.arange(n), 2)
    j = np.repeat(np.arange(2), n)
    turn = (k[:, None] + np.where(j[:, None] == 1, -1, 1) * k[None, :]) % n
    table = ((j[:, None] + j[None, :]) % 2) * n + turn
    powers = ["", "r"] + [f"r^{e}" for e in range(2, n)]
    labels = ["e"] + powers[1:] + [f"{power} s".strip() for power in powers]
    return tuple(labels), table


def _cycles(perm: tuple[int, ...]) -> str:
    seen, out = set(), []
    for start in range(len(perm)):
        if start in seen or perm[start] == start:
            continue
        cycle, point = [], start
        while point not in seen:
            seen.add(point)
            cycle.append(str(point))
            point = perm[point]
        out.append("(" + " ".join(cycle) + ")")
    return "".join(out) or "e"


def _permutations(n: int, *, even: bool) -> tuple[tuple[str, ...], np.ndarray]:
    perms = list(itertools.permutations(range(n)))  # lexicographic: the identity first
    if even:
        perms = [p for p in perms if sum(p[i] > p[j] for i in range(n) for j in range(i + 1, n)) % 2 == 0]
    P = np.array(perms, dtype=np.int64).reshape(len(perms), n)
    weights = n ** np.arange(n, dtype=np.int64)
    lookup = np.full(max(n, 1) ** n, -1, dtype=np.int64)
    lookup[P @ weights] = np.arange(len(P))
    table = np.empty((len(P), len(P)), dtype=np.int64)
    for start in range(0, len(P), 256):  # (a b)(i) = a(b(i)): b acts first
        table[start : start + 256] = lookup[P[start : start + 256][:, P] @ weights]
    return tuple(_cycles(p) for p in perms), table


def _quaternions() -> tuple[tuple[str, ...], np.ndarray]:
    one, i = np.eye(2), np.diag([1j, -1j])
    j = np.array([[0, 1], [-1, 0]], dtype=complex)
    units = [one, i, j, i @ j]
    matrices = [sign * unit for unit in units for sign in (1, -1)]
    flat = np.array([m.ravel() for m in matrices])
    products = np.einsum("aij,bjk->abik", np.array(matrices), np.array(matrices)).reshape(8, 8, 4)
    table = np.abs(products[:, :, None, :] - flat[None, None]).sum(-1).argmin(-1)
    return ("1", "-1", "i", "-i", "j", "-j", "k", "-k"), table


def _factor(text: str, whole: str) -> tuple[str, tuple[str, ...], np.ndarray]:
    match = re.fullmatch(r"([ZDSAQ])(\d+)", text)
    if match is None:
        raise InputError(f"unknown group {whole!r}: use {GRAMMAR}")
    letter, n = match.group(1), int(match.group(2))
    size = {"Z": n, "D": 2 * n, "Q": 8}.get(letter, 1)
    if letter in "SA" and n > 7:
        raise InputError(f"{letter}{n} is too large: {letter}n is supported up to n=7 ({MAX_ORDER} elements)")
    if size > MAX_ORDER:
        raise InputError(f"{letter}{n} has {size} elements; at most {MAX_ORDER} are supported: choose a smaller n")
    if letter == "Z" and n >= 1:
        return f"Z{n}", *_cyclic(n)
    if letter == "D" and n >= 3:
        return f"D{n}", *_dihedral(n)
    if letter == "S" and n >= 1:
        return f"S{n}", *_permutations(n, even=False)
    if letter == "A" and n >= 3:
        return f"A{n}", *_permutations(n, even=True)
    if letter == "Q" and n == 8:
        return "Q8", *_quaternions()
    raise InputError(f"unknown group {whole!r} ({text} is out of range): use {GRAMMAR}")


def group(name: str) -> Group:
    """The finite group called ``name``, with its Cayley table.

    The grammar, case-insensitive (``"s4"`` is ``"S4"``): ``Zn`` the cyclic group of order n (n >= 1),
    elements ``"0" .. "n-1"`` in order; ``Dn`` the dihedral group of the regular n-gon, of ORDER 2n (n >= 3;
    ``D6`` has 12 elements), elements ``e, r, r^2, .., s, r s, r^2 s, ..`` (r the rotation by 2 pi / n, s a
    reflection); ``Sn`` the symmetric group on ``0 .. n-1`` (1 <= n <= 7) and ``An`` its even permutations
    (3 <= n <= 7), elements in cycle notation (``"e"``, ``"(0 1)"``, ``"(0 1 2)(3 4)"``) in lexicographic
    order of their one-line form, the product ``a * b`` applying ``b`` first; ``Q8`` the quaternion group
    ``1, -1, i, -i, j, -j, k, -k``; and direct products joined by ``x`` (``"Z3xS3"``), elements ``"(g, h)"``
    with the first factor varying slowest. The identity is always element 0.

    Arguments:
        name: the group's name.

    Returns:
        The :class:`Group`, named canonically (``"Z3xS3"``).

    Raises:
        InputError: ``name`` does not follow the grammar, or the group has more than 5040 elements.
    """
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"a group name must be a non-empty string, got {name!r}: use {GRAMMAR}")
    factors = [_factor(part, name) for part in name.strip().upper().split("X")]
    order = int(np.prod([len(labels) for _, labels, _ in factors], dtype=float))
    if order > MAX_ORDER:
        raise InputError(
            f"the group {name} has {order} elements; at most {MAX_ORDER} are supported: use smaller factors"
        )
    if len(factors) == 1:
        title, labels, table = factors[0]
        return Group(title, labels, table)
    labels = [(label,) for label in factors[0][1]]
    table = factors[0][2]
    for _, right_labels, right in factors[1:]:
        m = right.shape[0]
        table = (table[:, None, :, None] * m + right[None, :, None, :]).reshape(len(labels) * m, len(labels) * m)
        labels = [left + (label,) for left in labels for label in right_labels]
    return Group("x".join(title for title, _, _ in factors), tuple("(" + ", ".join(t) + ")" for t in labels), table)


def _generators(table: np.ndarray) -> list[int]:
    """A few elements whose right products, from the identity on, reach every element."""
    reached = np.zeros(len(table), dtype=bool)
    reached[0] = True
    generators: list[int] = []
    while not reached.all():
        generators.append(int(np.argmin(reached)))
        frontier = np.flatnonzero(reached)
        while frontier.size:
            new = np.unique(table[np.ix_(frontier, generators)])
            frontier = new[~reached[new]]
            reached[frontier] = True
    return generators


def from_table(table, *, name: str = "G", elements=None) -> Group:
    """A group from a Cayley table the user brings, after checking that it is one.

    Checked: the table is square and holds integers ``0 .. n-1`` (closure); element 0 is the identity; every
    row and column is a permutation (inverses on both sides); and the product is associative, by Light's
    test on a generating set (``(x g) y == x (g y)`` for every x, y and generator g suffices).

    Arguments:
        table: ``(n, n)`` integers, ``table[a, b]`` the index of ``a * b``; n <= 2000.
        name: the group's name.
        elements: ``n`` distinct labels, identity first; ``"0" .. "n-1"`` when omitted.

    Returns:
        The :class:`Group`.

    Raises:
        InputError: any of the checks fails; the message names the first offending element(s).
    """
    array = np.asarray(table)
    if array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] < 1:
        raise InputError(f"a Cayley table must be a non-empty square (n, n) array, got shape {array.shape}")
    n = array.shape[0]
    if n > MAX_CHECKED_ORDER:
        raise InputError(
            f"from_table checks tables of up to {MAX_CHECKED_ORDER} elements, got {n}: use a smaller group"
        )
    whole = array.dtype.kind == "f" and bool(np.all(np.isfinite(array) & (array == np.round(array))))
    if array.dtype.kind not in "iu" and not whole:
        raise InputError(f"a Cayley table holds element indices (integers), got dtype {array.dtype}")
    array = array.astype(np.int64)
    if array.min() < 0 or array.max() >= n:
        raise InputError(f"the table is not closed: its entries must be element indices 0 .. {n - 1}")
    every = np.arange(n)
    identities = np.flatnonzero((array == every).all(1) & (array == every[:, None]).all(0))
    if identities.size == 0:
        raise InputError("the table has no identity: some element e must have e*a = a*e = a for every a")
    if identities[0] != 0:
        raise InputError(f"the identity is element {identities[0]}: reorder the table so that it is element 0")
    for axis, side, ordered in ((1, "row", every), (0, "column", every[:, None])):
        bad = np.flatnonzero(~(np.sort(array, axis=axis) == ordered).all(axis))
        if bad.size:
            raise InputError(f"{side} {bad[0]} of the table repeats an element: every element needs an inverse")
    for g in _generators(array):
        left, right = array[array[:, g]], array[:, array[g]]
        if not np.array_equal(left, right):
            x, y = np.argwhere(left != right)[0]
            raise InputError(f"the table is not associative: (a*b)*c != a*(b*c) for a={x}, b={g}, c={y}")
    if elements is None:
        elements = tuple(str(i) for i in range(n))
    elements = tuple(str(element) for element in elements)
    if len(elements) != n or len(set(elements)) != n:
        raise InputError(f"elements must be {n} distinct labels, one per row of the table; got {len(elements)}")
    return Group(str(name), elements, array)


def as_group(value) -> Group:
    """``value`` as a :class:`Group`: a Group itself, a name for :func:`group`, anything with a ``table``
    attribute (and optionally ``name``, ``elements``) or a Cayley table for :func:`from_table`.

    Raises:
        InputError: as :func:`group` or :func:`from_table`.
    """
    if isinstance(value, Group):
        return value
    if isinstance(value, str):
        return group(value)
    if hasattr(value, "table"):
        return from_table(value.table, name=getattr(value, "name", "G"), elements=getattr(value, "elements", None))
    return from_table(value)
