"""The networks the training loop can train, by architecture name: the one place the loop looks them up.

Each :class:`Network` says how to initialise one run (its embedding from the embed seed, everything else from the
``mlp_seed`` stream), how to compute the step's gradients and the logits for a batch of runs, which parameters
it has (``embedding`` first, ``(R, p, d)`` in every architecture, so that the Fourier records, snapshots and
interventions are the same), and the quantities it records beyond :data:`~training.engine.quantities.QUANTITIES`.
A new architecture is one more entry in :data:`NETWORKS` (and its defaults in :mod:`training.architectures`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from training.config import TrainConfig
from training.engine import model as mlp
from training.engine import transformer
from training.engine.quantities import UNEMBED_SIGNAL, Quantity


@dataclass(frozen=True)
class Network:
    """One architecture as the training loop sees it.

    Attributes:
        name: the config's ``architecture``.
        parameters: the parameter names, ``embedding`` first; the optimizer steps them in this order.
        init_embedding: ``(config, embed_seed) -> (p, d)`` float64, before interventions.
        init_rest: ``(config, mlp_seed) -> {name: array}``, every other parameter of one run, float64.
        loss_gradients: ``(params, a, b, c, config, *, embedding_grad, metrics, workspace) -> (grads, loss,
            accuracy)`` on a batch of runs, as :func:`training.engine.model.loss_gradients` returns them.
        forward: ``(params, a, b, config) -> logits (R, n, p)``.
        quantities: recorded besides the standard quantities.
        cpu_chunk: runs trained as one batch on the CPU (None: the loop's ``CPU_CHUNK``, one). More than one only
            where every kernel of the step computes each run exactly as it does alone, so that a run's result
            does not depend on the runs batched with it.
    """

    name: str
    parameters: tuple[str, ...]
    init_embedding: Callable[[TrainConfig, int], np.ndarray]
    init_rest: Callable[[TrainConfig, int], dict[str, np.ndarray]]
    loss_gradients: Callable[..., tuple]
    forward: Callable[..., torch.Tensor]
    quantities: tuple[Quantity, ...] = ()
    cpu_chunk: int | None = None


NETWORKS: dict[str, Network] = {
    model.name: model
    for model in (
        Network(
            "mlp",
            mlp.PARAMETERS,
            lambda config, seed: mlp.init_embedding(config.p, config.d, seed),
            lambda config, seed: mlp.init_mlp(config.p, config.d, config.hidden, init=config.mlp_init, seed=seed),
            lambda params, a, b, c, config, **options: mlp.loss_gradients(
                params, a, b, c, activation=config.activation, **options
            ),
            lambda params, a, b, config: mlp.forward(params, a, b, activation=config.activation),
            # one model at a time on the CPU, as for every architecture (the loop's CPU_CHUNK): pairs as one batch
            # were 4% faster per model on an idle core (3.42 against 3.57 ms), but a batch's matmuls reduce in
            # another order than one model's (the w3 gradient's bmm over a transposed operand), so a run's bits
            # depended on the run it was paired with
        ),
        Network(
            "transformer",
            transformer.PARAMETERS,
            lambda config, seed: transformer.init_embedding(config.p, config.d, seed),
            lambda config, seed: transformer.init_parameters(config.p, config.d, config.hidden, seed=seed),
            lambda params, a, b, c, config, **options: transformer.loss_gradients(
                params, a, b, c, heads=config.heads, activation=config.activation, **options
            ),
            lambda params, a, b, config: transformer.forward(
                params, a, b, heads=config.heads, activation=config.activation
            ),
            quantities=(UNEMBED_SIGNAL,),
            # on the CPU a batch of 4 measured no faster per model than one model at a time (within 5%, on a
            # loaded 2-core machine; benchmarks/bench_transformer.py), and one at a time keeps each run's bits its
            # own, so the loop's CPU_CHUNK (1) applies
        ),
    )
}
