"""The tasks: all p² pairs (a, b) of tokens mod p with their label, the basis their circles live in, the split.

=============  ===============  ===============================================================================
task           label            basis of its circles
=============  ===============  ===============================================================================
``add``        (a + b) mod p    additive Fourier basis (the paper's)
``subtract``   (a - b) mod p    additive Fourier basis
``multiply``   (a b) mod p      characters of the multiplicative group (p prime; token 0 is in no circle)
=============  ===============  ===============================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fittest.errors import InputError
from training.fourier import check_p, primitive_root


@dataclass(frozen=True)
class Task:
    """A binary operation mod p that a model learns.

    Attributes:
        name: the ``task`` of a :class:`~training.TrainConfig`.
        label: ``c`` of the pairs ``(a, b)``, as integer arrays, given ``p``.
        group: the group whose characters diagonalise the operation (:data:`training.fourier.GROUPS`): the
            basis in which the run dataset's ``frequency`` axis is measured.
        basis: a description of that basis, stored in the run dataset's ``basis`` attribute.
    """

    name: str
    label: Callable[[np.ndarray, np.ndarray, int], np.ndarray]
    group: str
    basis: str

    def check(self, p: int) -> None:
        """Refuse a modulus the task is not defined for.

        Raises:
            InputError: ``multiply`` with a ``p`` that is not a prime >= 5.
        """
        if self.group == "multiplicative":
            try:
                primitive_root(p)
            except InputError:
                raise InputError(
                    f"task {self.name!r} needs a prime p >= 5 (the nonzero tokens must form a cyclic group), "
                    f"got p={p}: choose a prime p or another task"
                ) from None


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


def get_task(name: str) -> Task:
    """The task called ``name``.

    Raises:
        InputError: no task has that name.
    """
    if name not in TASKS:
        raise InputError(f"task must be one of {', '.join(TASKS)}, got {name!r}")
    return TASKS[name]


def pairs(p: int, task: str = "add") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of the task, in the order ``index = a p + b``.

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
