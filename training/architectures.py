"""The architectures a :class:`~training.TrainConfig` can train, and the defaults each one brings.

=================  ==========================================================================================
architecture       model
=================  ==========================================================================================
``mlp``            the paper's embedding-MLP: ``[E_a, E_b]`` through two hidden layers (the default)
``transformer``    Nanda et al.'s one-layer transformer ("Progress measures for grokking via mechanistic
                   interpretability", 2023): tokens a, b, "=", a learned positional embedding, one attention
                   layer (no LayerNorm), one ReLU MLP, the unembedding read out at "="
=================  ==========================================================================================

Some fields of the config mean the same thing in every architecture but have a different published value in
each (the learning rate, the split, the modulus): those fields default to ``None`` in ``TrainConfig``, which
takes the value from :attr:`Architecture.defaults` of the chosen architecture. A value passed explicitly is
always kept. So ``TrainConfig(architecture="transformer")`` is Nanda et al.'s set-up at p = 113 and
``TrainConfig(architecture="transformer", p=59)`` the same at p = 59. This table is the one place those
defaults are written. The parameter counts here serve the memory estimate before torch is loaded; the models
themselves are in :mod:`training.engine.networks`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Architecture:
    """An architecture's published defaults and sizes, without torch.

    Attributes:
        name: the config's ``architecture``.
        summary: one line on what it is, for the docs and ``--help``.
        defaults: field name -> value for every field whose config default is ``None``.
        parameters: the number of parameters of one model, given the config.
        activations: floats of the forward and backward pass per training pair of one model, given the config.
        curves: the per-frequency variables it records at every recorded step.
    """

    name: str
    summary: str
    defaults: dict[str, Any]
    parameters: Callable[[Any], int]
    activations: Callable[[Any], int]
    curves: int


def _mlp_parameters(c) -> int:
    return c.p * c.d + (2 * c.d * c.hidden + c.hidden) + (c.hidden * c.hidden + c.hidden) + (c.hidden * c.p + c.p)


def _transformer_parameters(c) -> int:
    # W_E of the p numbers and "=", 3 positions, W_Q, W_K, W_V, W_O (d x d each), the MLP, W_U
    return (c.p + 1) * c.d + 3 * c.d + 4 * c.d * c.d + 2 * c.d * c.hidden + c.hidden + c.d + c.d * c.p


ARCHITECTURES: dict[str, Architecture] = {
    spec.name: spec
    for spec in (
        Architecture(
            "mlp",
            "the paper's embedding-MLP (two hidden layers on [E_a, E_b])",
            # the paper's section 2 and appendix E, and its authors' code
            dict(
                p=59,
                steps=30000,
                lr=0.01,
                weight_decay=0.5,
                betas=(0.9, 0.999),
                train_frac=0.8,
                hidden=100,
                activation="silu",
            ),
            _mlp_parameters,
            lambda c: 2 * c.d + 4 * c.hidden + 3 * c.p,
            4,  # signal, amplitude, grad_signal, unembed_signal
        ),
        Architecture(
            "transformer",
            "Nanda et al.'s one-layer transformer (attention and a ReLU MLP, no LayerNorm, read out at '=')",
            # Nanda et al. 2023, section 4 and appendix: p = 113, 30% of the pairs, full-batch AdamW with
            # lr 1e-3, weight decay 1, betas (0.9, 0.98), 40 000 steps, d_mlp = 512, ReLU
            dict(
                p=113,
                steps=40000,
                lr=1e-3,
                weight_decay=1.0,
                betas=(0.9, 0.98),
                train_frac=0.3,
                hidden=512,
                activation="relu",
                heads=4,
            ),
            _transformer_parameters,
            # residual streams, the MLP's hidden layer twice, attention weights, logits (forward and backward)
            lambda c: 2 * (4 * c.d + 2 * c.hidden + 3 * c.heads + c.p),
            4,  # signal, amplitude, grad_signal, unembed_signal
        ),
    )
}
