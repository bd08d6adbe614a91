"""The tasks: all p² pairs (a, b) of tokens with their label, the basis their components live in, the split.

=================  ===============  ===========================================================================
task               label            basis of its components (the run dataset's component dimension)
=================  ===============  ===========================================================================
``add``            (a + b) mod p    additive Fourier basis (the paper's): ``frequency``
``subtract``       (a - b) mod p    additive Fourier basis: ``frequency``
``multiply``       (a b) mod p      characters of the multiplicative group (p prime; token 0 is in no
                                    circle): ``frequency``
a group's name     a b in the       the group's irreducible representations (:func:`training.bases.irreps`):
                   group            ``irrep``; the tokens are the group's elements, so p is its order
                                    (names such as ``S4``, ``D6``, ``A5``, ``Z3xS3``)
=================  ===============  ===========================================================================
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fittest.errors import InputError
from training import bases
from training.fourier import check_p, primitive_root
from training.groups import Group, group


@dataclass(frozen=True)
class Task:
    """A binary operation mod p that a model learns.

    Attributes:
        name: the ``task`` of a :class:`~training.TrainConfig`.
        label: ``c`` of the pairs ``(a, b)``, as integer arrays, given ``p``.
        group: the group whose representations diagonalise the operation: ``"additive"`` (Z_p),
            ``"multiplicative"`` (Z_p^*, :data:`training.fourier.GROUPS`) or a finite group's name.
        basis: a description of that basis, stored in the run dataset's ``basis`` attribute.
        order: a group task's number of elements, which fixes p; None for the tasks mod p.
    """

    name: str
    label: Callable[[np.ndarray, np.ndarray, int], np.ndarray]
    group: str
    basis: str
    order: int | None = None

    def check(self, p: int) -> None:
        """Refuse a modulus the task is not defined for.

        Raises:
            InputError: ``multiply`` with a ``p`` that is not a prime >= 5; a group task with ``p`` other than
                its order.
        """
        if self.order is not None and p != self.order:
            raise InputError(
                f"task {self.name!r} has {self.order} tokens (the group's elements), got p={p}: leave p out"
            )
        if self.group == "multiplicative":
            try:
                primitive_root(p)
            except InputError:
                raise InputError(
                    f"task {self.name!r} needs a prime p >= 5 (the nonzero tokens must form a cyclic group), "
                    f"got p={p}: choose a prime p or another task"
                ) from None

    def components(self, p: int) -> bases.Basis:
        """The basis the task's components are measured in, for ``p`` tokens."""
        return _components(self.name, p)


@functools.lru_cache(maxsize=16)
def _components(name: str, p: int) -> bases.Basis:
    # the irreps of a group are computed numerically (an eigendecomposition of |G| x |G|): once per process
    task = get_task(name)
    if task.order is not None:
        return bases.irreps(_group(name))
    return bases.characters(p) if task.group == "multiplicative" else bases.fourier(p)


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("add", lambda a, b, p: (a + b) % p, "additive", "additive Fourier basis of Z_p"),
        Task("subtract", lambda a, b, p: (a - b) % p, "additive", "additive Fourier basis of Z_p"),
        Task(
            "multiply",
            lambda a, b, p: (a * b) % p,
            "multiplicative",
            "characters of the multiplicative group Z_p^*, tokens indexed by their discrete logarithm to the "
            "smallest primitive root; token 0 is in no circle",
        ),
    )
}


GROUP_NAMES = "a finite group: Zn, Dn (order 2n), Sn, An, or a product such as Z3xS3"


@functools.lru_cache(maxsize=16)
def _group(name: str) -> Group:
    return group(name)


def get_task(name: str) -> Task:
    """The task called ``name``: one of :data:`TASKS`, or a finite group's composition (``"S4"``).

    Raises:
        InputError: no task has that name, or the group has fewer than 3 elements.
    """
    if not isinstance(name, str):
        raise InputError(f"task must be a name ({', '.join(TASKS)} or {GROUP_NAMES}), got {name!r}")
    if name in TASKS:
        return TASKS[name]
    try:
        chosen = _group(name)
    except InputError:
        raise InputError(f"task must be one of {', '.join(TASKS)} or {GROUP_NAMES}; got {name!r}") from None
    if chosen.order < 3:
        raise InputError(
            f"group {name!r} has {chosen.order} element(s); a task needs at least 3: choose a larger group"
        )
    table = chosen.table
    return Task(
        name,
        lambda a, b, p: table[a, b],
        name,
        f"irreducible representations of {name} (order {chosen.order}), real isotypic components",
        order=chosen.order,
    )


def pairs(p: int, task: str = "add") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of the task, in the order ``index = a p + b`` (for a group, token n is its n-th element).

    Returns:
        ``(a, b, c)``, int64 arrays of length ``p²`` with ``c`` the task's label of ``(a, b)``.

    Raises:
        InputError: ``p`` is not an integer >= 3, or the task is unknown or undefined for ``p``.
    """
    p = check_p(p)
    chosen = get_task(task)
    chosen.check(p)
    index = np.arange(p * p)
    a, b = np.divmod(index, p)
    return a, b, chosen.label(a, b, p)


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
