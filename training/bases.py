"""Bases: orthogonal rows grouped into named components, and the power of each component of a tensor.

A representation competes in components: the Fourier circles of a token embedding on Z_p (the paper's case),
the irreducible representations of a finite group, single neurons or input bits, directions a user brings
(probe weights, decoder rows, class means), or principal components. Each is a :class:`Basis`: rows that act
on one axis of a tensor, each row belonging to one component; the *power* of a component is the sum of the
squared projections on its rows. The same :meth:`Basis.power` serves numpy arrays and torch tensors on any
device (plain ``@``, ``*``, ``.sum``, ``.swapaxes``, ``.reshape``), so the training loop records through it
without this module importing torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from fittest.checks import integer, is_integer
from fittest.errors import InputError
from training.fourier import fourier_basis, frequencies
from training.groups import as_group

ORTHONORMAL_TOLERANCE = 1e-6
"""How far ``rows @ rows.T`` may be from ``scale * I`` (relative to ``scale``) for the rows to count as
orthonormal, for :class:`Basis` and for the directions :func:`directions` takes as they are."""

MAX_COORDINATES = 8192
"""The most coordinates :func:`coordinates` makes into a (dense) basis: 8192 rows take 512 MB."""


@dataclass(frozen=True, eq=False)
class Basis:
    """Orthogonal rows of equal length, grouped into named components.

    Attributes:
        dim: the name of the component dimension in run datasets (``"frequency"``, ``"irrep"``, ``"unit"``,
            ``"bit"``, ``"pc"``, ``"direction"``, ...).
        rows: ``(n_rows, size)`` float64, ``rows @ rows.T == scale * I``. The arrays are copies of those given,
            left writable so that ``torch.as_tensor`` takes them without a warning; do not modify them.
        component: ``(n_rows,)`` int64: the component of each row, ``0 .. n_components - 1``, each used.
        labels: ``(n_components,)`` the coordinate values of the component dimension (distinct ints or strings).
        coords: further coordinates along the component dimension, each ``(n_components,)`` (may be empty).
        description: one line, stored in run datasets' attributes.
        scale: the rows' common squared length. It is 1 (orthonormal rows) for every basis but the Fourier
            ones, whose rows are the unnormalised cosines and sines (``scale = p / 2``) so that the power is the
            paper's ``|F_k|^2`` bit for bit; divide a power by ``scale`` to compare it with orthonormal bases.

    Equality is identity (``eq=False``): the arrays make value comparison ambiguous.

    Raises:
        InputError: a field has the wrong shape or type, holds NaN or inf, or the rows are not orthogonal with
            squared length ``scale``.
    """

    dim: str
    rows: np.ndarray
    component: np.ndarray
    labels: np.ndarray
    coords: Mapping[str, np.ndarray] = field(default_factory=dict)
    description: str = ""
    scale: float = 1.0

    def __post_init__(self):
        if not isinstance(self.dim, str) or not self.dim.isidentifier():
            raise InputError(f"a basis's dim must be a name such as 'unit' (an identifier), got {self.dim!r}")
        rows = np.array(self.rows, dtype=np.float64)
        if rows.ndim != 2 or 0 in rows.shape:
            raise InputError(f"a basis's rows must be a non-empty (n_rows, size) array, got shape {rows.shape}")
        if not np.all(np.isfinite(rows)):
            raise InputError("a basis's rows hold NaN or infinite values: pass finite rows")
        component = np.array(self.component)
        if component.shape != rows.shape[:1] or component.dtype.kind not in "iu":
            raise InputError(f"component must give an integer component for each of the {len(rows)} rows")
        component = component.astype(np.int64)
        labels = np.array(self.labels)
        n = labels.shape[0] if labels.ndim == 1 else -1
        if n < 1 or len(set(labels.tolist())) != n:
            raise InputError(f"labels must be a 1-D array of distinct component labels, got shape {labels.shape}")
        if component.min() < 0 or component.max() >= n or np.unique(component).size != n:
            raise InputError(f"component must use every component 0 .. {n - 1} and no other")
        coords = {}
        for name, values in dict(self.coords).items():
            values = np.array(values)
            if not isinstance(name, str) or name == self.dim or values.shape != (n,):
                raise InputError(f"the coordinate {name!r} must be named apart from {self.dim!r} and have {n} values")
            coords[name] = values
        if not isinstance(self.description, str) or "\n" in self.description:
            raise InputError("a basis's description must be one line of text")
        if not (isinstance(self.scale, int | float) and np.isfinite(self.scale) and self.scale > 0):
            raise InputError(f"a basis's scale must be a positive number, got {self.scale!r}")
        deviation = np.abs(rows @ rows.T - self.scale * np.eye(len(rows))).max()
        if deviation > ORTHONORMAL_TOLERANCE * self.scale:
            raise InputError(
                f"the rows of a basis must be orthogonal with squared length {self.scale} (off by {deviation:.2g}): "
                "build it with directions(..., orthonormalise=True)"
            )
        for name, value in (("rows", rows), ("component", component), ("labels", labels), ("coords", coords)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "scale", float(self.scale))
        object.__setattr__(self, "_layout", _layout(component, n))

    @property
    def size(self) -> int:
        """The length of each row: the size of the axis the basis acts on."""
        return self.rows.shape[1]

    @property
    def n_components(self) -> int:
        """The number of components."""
        return self.labels.shape[0]

    def grouping(self) -> np.ndarray:
        """``(n_rows, n_components)`` float64: 1 where the row belongs to the component, else 0."""
        out = np.zeros((len(self.rows), self.n_components))
        out[np.arange(len(self.rows)), self.component] = 1.0
        return out

    def like(self, x):
        """``(rows, grouping)`` converted to ``x``'s array type, dtype and device, to pass to :meth:`power`
        in a loop that records often (a torch tensor gives torch tensors; numpy keeps ``x``'s float dtype)."""
        return self._like(x, self.rows), self._like(x, self.grouping())

    def power(self, x, *, axis: int = -2, per_unit: bool = False, rows=None, grouping=None):
        """The power of each component in ``x``: the sum of the squared projections on its rows.

        The basis acts on ``axis`` of ``x``; the squares are summed over the last of the other axes (for an
        embedding ``(..., tokens, d)`` with ``axis=-2``, over ``d``), or, with ``per_unit``, that axis is kept as
        units. For the Fourier basis this is :func:`training.fourier.signal` operation for operation, so the
        numbers are the same bits.

        Arguments:
            x: a numpy array or torch tensor (duck typed: torch is never imported here).
            axis: the axis the basis acts on; its length must be :attr:`size`.
            per_unit: keep the last other axis as units instead of summing over it.
            rows: :attr:`rows` already converted to ``x``'s type, dtype and device (a tensor for a tensor; see
                :meth:`like`), so that a hot loop converts nothing; by default they are converted on each call.
            grouping: :meth:`grouping` converted likewise; used only where the rows are not laid out in
                equal-size groups (the irreps), for the others a reshape sums the groups (the Fourier basis's
                cosine and sine as :func:`training.fourier.signal` adds them).

        Returns:
            ``(..., n_components)``, or ``(..., units, n_components)`` with ``per_unit``, where ``...`` are the
            other axes of ``x`` in their order; the same array type as ``x``. A 1-D ``x`` gives
            ``(n_components,)``.

        Raises:
            InputError: ``axis`` is not an axis of ``x``, its length is not :attr:`size`, ``per_unit`` is asked
                of a 1-D ``x``, or ``rows``/``grouping`` are numpy for a tensor (or the reverse) or of another shape.
        """
        if not hasattr(x, "shape"):
            x = np.asarray(x)
        shape, ndim = tuple(x.shape), len(x.shape)
        if ndim < 1 or not is_integer(axis) or not -ndim <= int(axis) < ndim:
            raise InputError(f"axis={axis!r} is not an axis of the site, whose shape is {shape}")
        where = int(axis) % ndim
        if shape[where] != self.size:
            raise InputError(
                f"the {self.dim} basis has rows of {self.size} entries but the site has {shape[where]} along "
                f"axis {axis} (shape {shape}): build the basis for {shape[where]} or choose the right axis"
            )
        if per_unit and ndim < 2:
            raise InputError(f"per_unit needs a site with a unit axis besides the basis axis; got shape {shape}")
        for name, given in (("rows", rows), ("grouping", grouping)):
            if given is not None and hasattr(given, "new_tensor") != hasattr(x, "new_tensor"):
                raise InputError(
                    f"{name} must be the same kind of array as the site (a tensor for a tensor): use like()"
                )
        if rows is None:
            rows = self._like(x, self.rows)
        elif tuple(rows.shape) != self.rows.shape:
            raise InputError(f"rows must be this basis's rows, shape {self.rows.shape}; got {tuple(rows.shape)}")
        if ndim == 1:
            projected = rows @ x
            squares = projected * projected
        elif where == ndim - 1:
            projected = x @ rows.swapaxes(0, 1)  # (..., units, n_rows)
            squares = projected * projected if per_unit else (projected * projected).sum(-2)
        else:
            for i in range(where, ndim - 2):  # adjacent swaps keep the other axes in their order
                x = x.swapaxes(i, i + 1)
            projected = rows @ x  # (..., n_rows, units)
            squares = (projected * projected).swapaxes(-1, -2) if per_unit else (projected * projected).sum(-1)
        return self._sum_groups(squares, grouping)

    def _sum_groups(self, squares, grouping):
        kind, width = self._layout
        lead = tuple(squares.shape[:-1])
        if kind == "identity":
            return squares
        if kind == "tiled":  # row i is in component i % n_components, as the Fourier cosines then sines
            return squares.reshape(lead + (width, self.n_components)).sum(-2)
        if kind == "blocked":
            return squares.reshape(lead + (self.n_components, width)).sum(-1)
        return squares @ (self._like(squares, self.grouping()) if grouping is None else grouping)

    @staticmethod
    def _like(x, array: np.ndarray):
        if hasattr(x, "new_tensor"):  # a torch tensor: its dtype and device
            return x.new_tensor(array)
        return array.astype(x.dtype) if x.dtype.kind in "fc" else array


def _layout(component: np.ndarray, n: int) -> tuple[str, int]:
    """How the rows fall into components: one each in order, tiled, in equal blocks, or otherwise."""
    rows = len(component)
    if rows == n and np.array_equal(component, np.arange(n)):
        return "identity", 1
    if rows % n == 0 and np.array_equal(component, np.tile(np.arange(n), rows // n)):
        return "tiled", rows // n
    if rows % n == 0 and np.array_equal(component, np.repeat(np.arange(n), rows // n)):
        return "blocked", rows // n
    return "general", 0


def _numpy(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, perhaps on a GPU or requiring grad
        x = x.detach().cpu().numpy()
    try:
        array = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an array of numbers, got {type(x).__name__}") from None
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name} holds NaN or infinite values: pass finite numbers")
    return array


# ---- the bases -------------------------------------------------------------------------------------------


def fourier(p: int) -> Basis:
    """The additive Fourier basis of Z_p: the circles of frequencies ``k = 1 .. (p - 1) // 2``.

    The rows are :func:`training.fourier.fourier_basis`'s cosines then sines (component ``k`` has the two
    rows ``cos(2 pi k n / p)`` and ``sin(2 pi k n / p)``), unnormalised (``scale = p / 2``), so that
    :meth:`Basis.power` of an embedding is :func:`training.fourier.signal`, ``|F_k|^2``, to the bit.

    Arguments:
        p: the modulus, an integer >= 3.

    Returns:
        A basis of size ``p``, dim ``"frequency"``, labels ``k``.

    Raises:
        InputError: ``p`` is not an integer >= 3.
    """
    return _circles(
        fourier_basis(p),
        frequencies(p),
        f"additive Fourier basis of Z_{int(p)}: cos and sin of 2 pi k n / p, power |F_k|^2",
        scale=int(p) / 2,
    )


def characters(p: int) -> Basis:
    """The characters of the multiplicative group Z_p^* of a prime ``p`` (the ``multiply`` task).

    The rows are ``fourier_basis(p, group="multiplicative")``: the cosines and sines of ``2 pi j log(n) /
    (p - 1)`` over the tokens ``n = 1 .. p - 1`` (token 0's column is zero), unnormalised (``scale =
    (p - 1) / 2``) as in :func:`fourier`.

    Arguments:
        p: a prime >= 5.

    Returns:
        A basis of size ``p``, dim ``"frequency"``, labels ``j = 1 .. (p - 2) // 2``.

    Raises:
        InputError: ``p`` is not a prime >= 5.
    """
    return _circles(
        fourier_basis(p, group="multiplicative"),
        frequencies(p, group="multiplicative"),
        f"characters of the multiplicative group mod {int(p)}: cos and sin of 2 pi j log(n) / (p - 1)",
        scale=(int(p) - 1) / 2,
    )


def _circles(rows: np.ndarray, labels: np.ndarray, description: str, *, scale: float) -> Basis:
    # the cosine rows of every circle, then the sine rows in the same order: circle k owns rows k and K + k
    return Basis(
        dim="frequency",
        rows=rows,
        component=np.tile(np.arange(len(labels)), 2),
        labels=labels,
        description=description,
        scale=scale,
    )


def character_table(group) -> tuple[tuple[str, ...], tuple[np.ndarray, ...], np.ndarray]:
    """The irreducible characters of a finite group.

    Arguments:
        group: a :class:`training.groups.Group`, a name for :func:`training.groups.group`, or a Cayley table.

    Returns:
        ``(labels, classes, table)``: a label per character (as :class:`training.groups.CharacterTable`: a
        complex character's conjugate has a ``"*"``), the conjugacy classes as arrays of element indices
        (identity first), and ``table[character, class]``, float64 when all are real, else complex128.

    Raises:
        InputError: ``group`` is not a group.
    """
    table = as_group(group).characters
    return table.labels, table.classes, table.values


def irreps(group) -> Basis:
    """The real isotypic components of the regular representation of a finite group.

    The rows are functions on the group's elements (size ``|G|``). Each real irreducible representation rho
    of dimension ``d_rho`` spans ``d_rho^2`` dimensions of matrix coefficients; a complex rho and its conjugate
    form ONE real component of ``2 d_rho^2`` rows (as frequencies k and -k of Z_p form one circle); a
    quaternionic rho is a real component of ``d_rho^2`` rows. Each component's rows are an orthonormal basis
    of the range of its projector ``P[z, x] = (d_rho / |G|) chi(x z^-1)`` (summed over a conjugate pair),
    computed from the characters (:attr:`training.groups.Group.characters`) and orthonormalised from a fixed
    random start, so that they are deterministic. Only a component's power is meaningful, not its rows.

    Components are ordered and labelled as :class:`training.groups.CharacterTable`: ``"trivial"`` first, then
    by dimension, then by the character's real part on the classes in class order, largest first; the label
    is the dimension (``"2"``), with a letter where several components share it (``"3a"``, ``"3b"``).

    Cost: cubic in ``|G|`` (S5 in milliseconds, A7 about 2 s, S7 with 5040 elements about 15 s and 1.5 GB).

    Arguments:
        group: a :class:`training.groups.Group`, a name for :func:`training.groups.group` (``"S4"``), an
            object with a ``table`` attribute, or a Cayley table.

    Returns:
        A basis of size ``|G|``, dim ``"irrep"``, with coords ``dim_rho`` (int) and ``kind`` (``"real"``,
        ``"complex"`` or ``"quaternionic"``, by the Frobenius-Schur indicator), ``scale`` 1.

    Raises:
        InputError: ``group`` is not a group.
    """
    group = as_group(group)
    table = group.characters
    n = group.order
    # class of x z^-1 for every (z, x): the projector of each component is a function of it
    classes = group.class_of[group.table[:, group.inverse]].T
    start = np.random.default_rng(0)
    blocks, component, dim_rho, kind = [], [], [], []
    for index in range(len(table.component_labels)):
        members = np.flatnonzero(table.component == index)
        d = int(table.dim[members[0]])
        weight = (d / n) * np.real(table.values[members].sum(0))
        width = len(members) * d * d
        basis, triangle = np.linalg.qr(weight[classes] @ start.standard_normal((n, width)))
        if np.abs(np.diag(triangle)).min() < 1e-9 * np.abs(np.diag(triangle)).max():
            raise RuntimeError(f"the {table.component_labels[index]} component of {group.name} lost rank")
        blocks.append(basis.T)
        component += [index] * width
        dim_rho.append(d)
        kind.append(table.kind[members[0]])
    return Basis(
        dim="irrep",
        rows=np.concatenate(blocks),
        component=np.array(component),
        labels=np.array(table.component_labels),
        coords={"dim_rho": np.array(dim_rho, dtype=np.int64), "kind": np.array(kind)},
        description=f"real irreducible representations of {group.name} (order {n}), isotypic components",
    )


def coordinates(n: int, *, name: str = "unit") -> Basis:
    """One component per coordinate: neurons, input bits, heads.

    Arguments:
        n: the number of coordinates, 1 .. 8192.
        name: the component dimension's name (``"unit"``, ``"bit"``, ``"head"``).

    Returns:
        The identity rows, labels ``0 .. n-1``.

    Raises:
        InputError: ``n`` is out of range or ``name`` is not an identifier.
    """
    n = integer("n", n, 1, MAX_COORDINATES)
    return Basis(
        dim=name,
        rows=np.eye(n),
        component=np.arange(n),
        labels=np.arange(n),
        description=f"one component per {name}: the {n} coordinates",
    )


def directions(vectors, *, labels=None, name: str = "direction", orthonormalise: bool = False) -> Basis:
    """One component per direction the user supplies: probe weights, decoder rows, class means.

    Arguments:
        vectors: ``(k, size)``, one direction per row (a 1-D vector is one direction).
        labels: ``k`` distinct labels; ``0 .. k-1`` when omitted.
        name: the component dimension's name.
        orthonormalise: orthonormalise directions that are not orthonormal, in their order (Gram-Schmidt:
            component i is the part of direction i orthogonal to those before it, signed to agree with it).
            Directions already orthonormal within 1e-6 are taken as they are.

    Returns:
        The basis of the directions.

    Raises:
        InputError: the vectors are not finite numbers of shape ``(k, size)``; one lies in the span of those
            before it (the message names it, to drop); or they are not orthonormal and ``orthonormalise`` is
            False; or the labels are not ``k`` distinct values.
    """
    vectors = _numpy(vectors, "vectors")
    if vectors.ndim == 1:
        vectors = vectors[None]
    if vectors.ndim != 2 or 0 in vectors.shape:
        raise InputError(f"vectors must be a (k, size) array, one direction per row; got shape {vectors.shape}")
    k, size = vectors.shape
    labels = np.arange(k) if labels is None else np.asarray(labels)
    if labels.shape != (k,) or len(set(labels.tolist())) != k:
        raise InputError(f"labels must be {k} distinct values, one per direction; got shape {labels.shape}")
    names = labels.tolist()  # plain ints and strings for the messages
    lengths = np.linalg.norm(vectors, axis=1)
    if (lengths == 0).any():
        raise InputError(f"direction {names[np.argmin(lengths)]!r} is zero: drop it")
    if k > size:
        raise InputError(
            f"{k} directions in {size} dimensions are linearly dependent: direction {names[size]!r} and those "
            "after it lie in the span of the ones before; drop them"
        )
    orthonormal, triangle = np.linalg.qr(vectors.T)
    diagonal = np.diag(triangle)
    dependent = np.flatnonzero(np.abs(diagonal) <= 1e-8 * lengths)
    if dependent.size:
        raise InputError(
            f"direction {names[dependent[0]]!r} (row {dependent[0]}) lies in the span of the directions before "
            "it (they are rank-deficient): drop it"
        )
    deviation = np.abs(vectors @ vectors.T - np.eye(k)).max()
    if deviation <= ORTHONORMAL_TOLERANCE:
        rows = vectors
    elif orthonormalise:
        rows = (orthonormal * np.sign(diagonal)).T
    else:
        raise InputError(
            f"the directions are not orthonormal (V V^T is off the identity by {deviation:.2g}): pass "
            "orthonormalise=True to orthonormalise them in order"
        )
    return Basis(
        dim=name,
        rows=rows,
        component=np.arange(k),
        labels=labels,
        description=f"{k} {'orthonormalised ' if rows is not vectors else ''}directions given by the user",
    )


def pca(x, k: int, *, name: str = "pc") -> Basis:
    """The top ``k`` principal directions of a reference state, one component per principal component.

    The basis acts on the FEATURE axis: for an embedding ``(tokens, d)`` fitted here, use
    ``basis.power(E, axis=-1)`` (summed over tokens). The directions are fitted on ``x`` centred, but
    :meth:`Basis.power` projects whatever it is given, uncentred: centre the state first to get variances.
    Each direction's sign makes its largest entry positive, so that the basis is deterministic.

    Arguments:
        x: ``(n_samples, size)`` finite numbers, n_samples >= 2.
        k: the number of components, ``1 .. min(n_samples - 1, size)``, at most the number of directions
            with nonzero variance.
        name: the component dimension's name.

    Returns:
        A basis of size ``size``, labels ``1 .. k``, coords ``explained_variance_ratio``.

    Raises:
        InputError: ``x`` is not a finite 2-D array of at least 2 samples, or ``k`` is out of range.
    """
    x = _numpy(x, "x")
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise InputError(f"x must be a (n_samples, size) array with at least 2 samples; got shape {x.shape}")
    k = integer("k", k, 1, min(x.shape[0] - 1, x.shape[1]))
    _, singular, right = np.linalg.svd(x - x.mean(0), full_matrices=False)
    variance = singular**2
    rank = int((singular > 1e-12 * max(singular[0], np.finfo(float).tiny)).sum())
    if k > rank:
        raise InputError(f"x has {rank} principal directions with nonzero variance, not {k}: ask for k <= {rank}")
    rows = right[:k]
    peak = np.abs(rows).argmax(1)
    rows = rows * np.sign(rows[np.arange(k), peak])[:, None]
    return Basis(
        dim=name,
        rows=rows,
        component=np.arange(k),
        labels=np.arange(1, k + 1),
        coords={"explained_variance_ratio": variance[:k] / variance.sum()},
        description=f"top {k} principal directions of a reference state of {x.shape[0]} samples",
    )


__all__ = [
    "Basis",
    "character_table",
    "characters",
    "coordinates",
    "directions",
    "fourier",
    "irreps",
    "pca",
]
