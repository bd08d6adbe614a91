"""What the training loop records: one :class:`Recorder` per quantity, kept apart from the computation.

At a recorded step the loop hands every recorder the same :class:`Live` view of one batch of models (its
parameters, this step's gradients, losses and accuracies, and a lazily computed test pass) and stores what the
recorder returns under its variable's name. A recorder knows its variable (dims and description, from
:data:`training.rundata.VARIABLES` for the standard ones) and how to compute it; the loop allocates
``(run, step, *rest)`` storage from those dims, checkpoints it and hands it to :func:`training.rundata.build_run`.
A new quantity is one more :class:`Recorder` in :data:`RECORDERS`, or a user's own in ``train(recorders=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch

from training.config import TrainConfig
from training.fourier import frequencies, signal
from training.rundata import VARIABLES, Variable


class Live:
    """The state of one batch of models at a recorded step, as the recorders see it.

    Attributes:
        params: parameter tensors by name, each with a leading run axis (see :mod:`training.engine.model`).
        grads: this step's loss gradients by name (the embedding's always, at a recorded step).
        train_loss, train_acc: this step's per-run train loss and accuracy, shape ``(runs,)``.
        basis: the real Fourier basis of the task, ``(2K + 1, p)``.
    """

    def __init__(self, batch, grads: dict, train_loss: torch.Tensor, train_acc: torch.Tensor, basis: torch.Tensor):
        self.batch = batch
        self.params = batch.params
        self.grads = grads
        self.train_loss = train_loss
        self.train_acc = train_acc
        self.basis = basis

    @cached_property
    def test(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-run test loss and accuracy, computed once however many recorders read them."""
        return self.batch.test()


@dataclass(frozen=True)
class Recorder:
    """One recorded quantity.

    Attributes:
        name: the variable it fills in the run dataset.
        compute: the quantity of a :class:`Live` batch, shape ``(runs, *dims[2:])``.
        variable: its dims (``run``, ``step`` first) and description; the standard variable of that name by
            default.
    """

    name: str
    compute: Callable[[Live], torch.Tensor]
    variable: Variable | None = None

    @property
    def dims(self) -> tuple[str, ...]:
        return self.described.dims

    @property
    def described(self) -> Variable:
        return self.variable if self.variable is not None else VARIABLES[self.name]


def sizes(config: TrainConfig) -> dict[str, int]:
    """The length of every dimension a recorder may use beyond ``run`` and ``step``."""
    return {
        "frequency": len(frequencies(config.p, group=config.task_spec.group)),
        "token": config.p,
        "dim": config.d,
        "unit": config.hidden,
    }


def storage_shape(recorder: Recorder, config: TrainConfig, n_records: int) -> tuple[int, ...]:
    """The shape of a recorder's storage, ``(runs, n_records, *rest)``."""
    known = sizes(config)
    return (config.runs, n_records, *(known[dim] for dim in recorder.dims[2:]))


RECORDERS: tuple[Recorder, ...] = (
    Recorder("signal", lambda live: signal(live.params["embedding"].detach(), live.basis)),
    Recorder("grad_signal", lambda live: signal(live.grads["embedding"], live.basis)),
    Recorder("train_loss", lambda live: live.train_loss),
    Recorder("train_acc", lambda live: live.train_acc),
    Recorder("test_loss", lambda live: live.test[0]),
    Recorder("test_acc", lambda live: live.test[1]),
)
