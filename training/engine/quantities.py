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
from training.engine import measures
from training.engine.sites import OnDevice
from training.rundata import EMBEDDING, VARIABLES, SiteLayout, Variable


class Live:
    """The state of one batch of models at a recorded step, as the quantities see it.

    Attributes:
        params: parameter tensors by name, each with a leading run axis (see :mod:`training.engine.model`).
        grads: this step's loss gradients by name (the embedding's always, at a recorded step).
        train_loss, train_acc: this step's per-run train loss and accuracy, shape ``(runs,)``.
        basis: the task's basis (:meth:`training.tasks.Task.components`) on the models' device.
    """

    def __init__(self, batch, grads: dict, train_loss: torch.Tensor, train_acc: torch.Tensor, basis: OnDevice):
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

    @cached_property
    def progress(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-run restricted and excluded loss on the training pairs (:mod:`training.engine.measures`), with the
        key components of the unembedding's spectrum; one forward pass for both."""
        a, b, c = self.batch.train
        logits = self.batch.model.forward(self.params, a, b, self.batch.config)
        keep = measures.key_components(self.basis.power(measures.readout(self.params)), self.basis)
        return measures.restricted_excluded_loss(logits, c, keep, self.basis)


@dataclass(frozen=True)
class Quantity:
    """One recorded quantity.

    Attributes:
        name: the variable it fills in the run dataset.
        compute: the quantity of a :class:`Live` batch, shape ``(runs, *dims[2:])``.
        variable: its dims (``run``, ``step`` first, then any dims of its own) and description; by default the
            standard variable of that name, or the variable of that name of one of the config's sites
            (:func:`sites`).
    """

    name: str
    compute: Callable[[Live], torch.Tensor]
    variable: Variable | None = None

    def described(self, config: TrainConfig) -> Variable:
        """Its variable: its own, a site's of ``config`` or the standard one."""
        if self.variable is not None:
            return self.variable
        for site in sites(config):
            found = site.variables().get(self.name)
            if found is not None:
                return found
        return VARIABLES[self.name]


def sites(config: TrainConfig) -> tuple[SiteLayout, ...]:
    """The sites ``config`` records: the embedding, and the transformer's unembedding or the MLP's neurons."""
    basis = config.task_spec.components(config.p)
    out = [SiteLayout(EMBEDDING, basis, about="the token embedding W_E (its token rows)")]
    out.append(SiteLayout("unembed", basis, gradient=False, about="the unembedding (its p logit rows)"))
    if config.record_neurons:
        out.append(
            SiteLayout(
                "neuron",
                basis,
                unit="unit1",
                units=config.hidden,
                gradient=False,
                about="each first-layer neuron's input weights on the tokens a and b (the two halves' powers"
                " added: U = E W1a^T, V = E W1b^T)",
            )
        )
    return tuple(out)


def sizes(config: TrainConfig) -> dict[str, int]:
    """The length of every dimension a quantity may use beyond ``run`` and ``step``."""
    out = {"token": config.p, "dim": config.d, "unit1": config.hidden}
    for site in sites(config):
        out[site.basis.dim] = site.basis.n_components
    return out


def storage_shape(quantity: Quantity, config: TrainConfig, n_records: int) -> tuple[int, ...]:
    """The shape of a quantity's storage, ``(runs, n_records, *rest)``."""
    known = sizes(config)
    return (config.runs, n_records, *(known[dim] for dim in quantity.described(config).dims[2:]))


def _neuron_power(live: Live) -> torch.Tensor:
    # each half of the first layer seen as a per-neuron embedding of the tokens; transformed separately and
    # added, because the coefficient of their sum would cancel when the halves have opposite phases
    embedding, w1 = live.params["embedding"].detach(), live.params["w1"].detach()
    d = embedding.shape[-1]
    return sum(
        live.basis.power(embedding @ half.transpose(-1, -2), per_unit=True) for half in (w1[..., :d], w1[..., d:])
    )


QUANTITIES: tuple[Quantity, ...] = (
    Quantity("signal", lambda live: live.basis.power(live.params["embedding"].detach())),
    Quantity("grad_signal", lambda live: live.basis.power(live.grads["embedding"])),
    Quantity("train_loss", lambda live: live.train_loss),
    Quantity("train_acc", lambda live: live.train_acc),
    Quantity("test_loss", lambda live: live.test[0]),
    Quantity("test_acc", lambda live: live.test[1]),
    Quantity("restricted_loss", lambda live: live.progress[0]),
    Quantity("excluded_loss", lambda live: live.progress[1]),
)


UNEMBED_SIGNAL = Quantity("unembed_signal", lambda live: live.basis.power(measures.readout(live.params)))
"""The spectrum of the unembedding over its p logits (the output side of the representation); always recorded."""

NEURON_SIGNAL = Quantity("neuron_signal", _neuron_power)
"""Per-neuron power of the MLP's first layer, recorded when the config's ``record_neurons`` is on."""


def with_optional(config: TrainConfig, quantities) -> tuple[Quantity, ...]:
    """``quantities``, the unembedding's spectrum and the optional quantities ``config`` switches on."""
    names = {quantity.name for quantity in quantities}
    extra = (UNEMBED_SIGNAL, *((NEURON_SIGNAL,) if config.record_neurons else ()))
    return (*quantities, *(quantity for quantity in extra if quantity.name not in names))
