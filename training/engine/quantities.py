"""What the training loop records: one :class:`Quantity` per recorded variable, kept apart from the computation.

At a recorded step the loop hands every quantity the same :class:`Live` view of one batch of models (its
parameters, this step's gradients, losses and accuracies, and a lazily computed test pass) and stores what the
quantity returns under its variable's name. A quantity knows its variable (dims and description, from
:data:`training.rundata.VARIABLES` for the standard ones) and how to compute it; the loop allocates
``(run, step, *rest)`` storage from those dims, checkpoints it and hands it to :func:`training.rundata.build_run`.
A new quantity is one more :class:`Quantity` in :data:`QUANTITIES`, or a user's own in ``train(quantities=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch

from training.config import TrainConfig
from training.fourier import frequencies, neuron_signal, signal
from training.rundata import VARIABLES, Variable


class Live:
    """The state of one batch of models at a recorded step, as the quantities see it.

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
        """Per-run test loss and accuracy, computed once however many quantities read them."""
        return self.batch.test()


@dataclass(frozen=True)
class Quantity:
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
    """The length of every dimension a quantity may use beyond ``run`` and ``step``."""
    return {
        "frequency": len(frequencies(config.p, group=config.task_spec.group)),
        "token": config.p,
        "dim": config.d,
        "unit1": config.hidden,
    }


def storage_shape(quantity: Quantity, config: TrainConfig, n_records: int) -> tuple[int, ...]:
    """The shape of a quantity's storage, ``(runs, n_records, *rest)``."""
    known = sizes(config)
    return (config.runs, n_records, *(known[dim] for dim in quantity.dims[2:]))


QUANTITIES: tuple[Quantity, ...] = (
    Quantity("signal", lambda live: signal(live.params["embedding"].detach(), live.basis)),
    Quantity("grad_signal", lambda live: signal(live.grads["embedding"], live.basis)),
    Quantity("train_loss", lambda live: live.train_loss),
    Quantity("train_acc", lambda live: live.train_acc),
    Quantity("test_loss", lambda live: live.test[0]),
    Quantity("test_acc", lambda live: live.test[1]),
)

UNEMBED_SIGNAL = Quantity(
    "unembed_signal", lambda live: signal(live.params["w_u"].detach().transpose(-1, -2), live.basis)
)
"""The Fourier spectrum of the transformer's unembedding over its p logits; the transformer records it."""

NEURON_SIGNAL = Quantity(
    "neuron_signal",
    lambda live: neuron_signal(live.params["embedding"].detach(), live.params["w1"].detach(), live.basis),
)
"""Per-neuron frequency power of the MLP's first layer, recorded when the config's ``record_neurons`` is on."""


def with_optional(config: TrainConfig, quantities) -> tuple[Quantity, ...]:
    """``quantities`` and the optional quantities that ``config`` switches on (``record_neurons``)."""
    names = {quantity.name for quantity in quantities}
    extra = (NEURON_SIGNAL,) if config.record_neurons and NEURON_SIGNAL.name not in names else ()
    return (*quantities, *extra)
