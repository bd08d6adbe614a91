"""Nanda et al.'s one-layer transformer for a ∘ b mod p, batched over an ensemble of independent models.

One model reads the three tokens ``a, b, "="`` (token id p for "="), adds a learned positional embedding, applies
one attention layer (``heads`` heads of width ``d / heads``, causal, no LayerNorm) and one ReLU MLP, each with
a residual connection, and reads the logits over the p answers out at the "=" position through the unembedding
(Nanda, Chan, Lieberum, Smith and Steinhardt, "Progress measures for grokking via mechanistic
interpretability", 2023). An ensemble of R models is a dict of tensors with a leading run axis:

=============  ===============  ==========================================================================
name           shape            meaning
=============  ===============  ==========================================================================
``embedding``  (R, p, d)        W_E of the p number tokens (the rows the Fourier records are taken of)
``equals``     (R, d)           W_E of the "=" token, kept apart so that ``embedding`` is (p, d) as for the MLP
``pos``        (R, 3, d)        the positional embedding of positions a, b, "="
``w_q``        (R, d, H dh)     queries; head h's are columns ``h dh .. (h + 1) dh`` (``w_k``, ``w_v`` alike)
``w_o``        (R, H dh, d)     the heads' outputs back into the residual stream
``w_in``       (R, d, m)        MLP input, with bias ``b_in`` (R, m)
``w_out``      (R, m, d)        MLP output, with bias ``b_out`` (R, d)
``w_u``        (R, d, p)        the unembedding W_U
=============  ===============  ==========================================================================

Only the logits at "=" enter the loss, and in a one-layer causal model they depend on the other positions only
through their keys and values. :func:`forward` therefore computes the "=" position alone, and tabulates what
each number token contributes at position 0 and at position 1 (its attention score for each head and
its value) once per step as ``(p, ...)`` tables, gathered per pair: the MLP, which is most of the work, runs on
one position instead of three. :class:`Transformer` is the plain formulation over all
three positions, a single ``nn.Module``, kept as the reference for tests and benchmarks.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from training.engine.model import flat_rows, gather_rows, loss_and_accuracy

PARAMETERS = ("embedding", "equals", "pos", "w_q", "w_k", "w_v", "w_o", "w_in", "b_in", "w_out", "b_out", "w_u")
_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu, "tanh": torch.tanh}


def init_embedding(p: int, d: int, seed: int) -> np.ndarray:
    """The number tokens' embedding, N(0, 1/d) as in Nanda et al.'s code, float64, shape ``(p, d)``.

    The same draws as :func:`training.engine.model.init_embedding` of the seed, scaled by ``1/sqrt(d)``.
    """
    return np.random.default_rng(int(seed)).standard_normal((p, d)) / math.sqrt(d)


def init_parameters(p: int, d: int, hidden: int, *, seed: int) -> dict[str, np.ndarray]:
    """Every parameter of one model but ``embedding``, float64, a function of the arguments only.

    Nanda et al.'s initialisation: each weight N(0, 1/d), the unembedding N(0, 1/(p + 1)) (their vocabulary
    has p + 1 tokens), the MLP's biases zero; the attention has no biases.
    """
    rng = np.random.default_rng(int(seed))
    scale = 1 / math.sqrt(d)
    out = {
        "equals": rng.standard_normal(d) * scale,
        "pos": rng.standard_normal((3, d)) * scale,
        **{name: rng.standard_normal((d, d)) * scale for name in ("w_q", "w_k", "w_v", "w_o")},
        "w_in": rng.standard_normal((d, hidden)) * scale,
        "b_in": np.zeros(hidden),
        "w_out": rng.standard_normal((hidden, d)) * scale,
        "b_out": np.zeros(d),
        "w_u": rng.standard_normal((d, p)) / math.sqrt(p + 1),
    }
    return out


def _per_token(params: dict[str, torch.Tensor], heads: int):
    """The tables of the number tokens at positions 0 and 1 and the "=" token's own terms.

    Returns:
        ``(table, score, value, x)``: ``table`` (R, 2, p, H + d): per position and token its attention score
        for each head, then its value (all heads); ``score`` (R, H) and ``value`` (R, d) the same for "="
        itself; ``x`` (R, d) the residual stream at "=".
    """
    embedding, pos = params["embedding"], params["pos"]
    runs, p, d = embedding.shape
    width = d // heads
    x = params["equals"] + pos[:, 2]
    query = (x.unsqueeze(1) @ params["w_q"]).view(runs, 1, heads, width) / math.sqrt(width)
    tokens = torch.cat([x.unsqueeze(1), (embedding.unsqueeze(1) + pos[:, :2].unsqueeze(2)).view(runs, 2 * p, d)], 1)
    keys = (tokens @ params["w_k"]).view(runs, 1 + 2 * p, heads, width)
    values = tokens @ params["w_v"]  # (R, 1 + 2p, d)
    scores = (keys * query).sum(-1)  # (R, 1 + 2p, H)
    table = torch.cat([scores[:, 1:], values[:, 1:]], dim=-1).view(runs, 2, p, heads + d)
    return table, scores[:, 0], values[:, 0], x


def forward(
    params: dict[str, torch.Tensor], a: torch.Tensor, b: torch.Tensor, *, heads: int, activation: str = "relu"
) -> torch.Tensor:
    """Logits at "=" of every model on the pairs (a, b), shape (R, n, p).

    Arguments:
        params: the ensemble's parameters (see the module docstring).
        a, b: token indices, (n,) shared by every run or (R, n) per run.
        heads: the number of attention heads.
        activation: the MLP's activation (ReLU in Nanda et al.).
    """
    table, score, value, x = _per_token(params, heads)
    runs, _, p, _ = table.shape
    d = x.shape[-1]
    first = gather_rows(table[:, 0], flat_rows(a, runs, p))  # (R, n, H + d)
    second = gather_rows(table[:, 1], flat_rows(b, runs, p))
    n = first.shape[1]
    scores = torch.stack([first[..., :heads], second[..., :heads], score.unsqueeze(1).expand(runs, n, heads)], -1)
    weights = torch.softmax(scores, dim=-1).unsqueeze(-1)  # (R, n, H, 3, 1): "=" attends to a, b and itself
    split = (runs, n, heads, d // heads)
    mixed = (
        weights[..., 0, :] * first[..., heads:].view(split)
        + weights[..., 1, :] * second[..., heads:].view(split)
        + weights[..., 2, :] * value.view(runs, 1, heads, d // heads)
    )
    resid = torch.baddbmm(x.unsqueeze(1), mixed.view(runs, n, d), params["w_o"])
    act = _ACTIVATIONS[activation]
    hidden = act(torch.baddbmm(params["b_in"].unsqueeze(1), resid, params["w_in"]))
    resid = resid + torch.baddbmm(params["b_out"].unsqueeze(1), hidden, params["w_out"])
    return resid @ params["w_u"]


def loss_gradients(
    params: dict[str, torch.Tensor],
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    *,
    heads: int,
    activation: str = "relu",
    embedding_grad: bool = True,
    metrics: bool = False,
    workspace: dict | None = None,
):
    """Gradients of the summed per-run mean cross-entropy of :func:`forward`, by autograd.

    The runs share no parameter, so the gradient of the sum is each run's own gradient. Autograd on the
    batched, tabulated forward pass measured as fast as a ``torch.func.vmap`` of per-model gradients on the
    CPU and needs no second formulation (``benchmarks/bench_transformer.py``).

    Arguments:
        params: the ensemble's parameters.
        a, b, c: the training pairs and their labels, (n,) shared or (R, n) per run.
        heads, activation: as in :func:`forward`.
        embedding_grad: also return the embedding's gradient.
        metrics: also return the per-run loss and accuracy, (R,) each.
        workspace: unused; the MLP's step reuses its buffers there, and both share one signature.

    Returns:
        ``(grads, loss, accuracy)``: the gradients by parameter name (``embedding`` only with
        ``embedding_grad``), and loss and accuracy (``None`` unless ``metrics``).
    """
    wanted = [name for name in PARAMETERS if embedding_grad or name != "embedding"]
    with torch.enable_grad():
        leaves = {name: tensor.detach().requires_grad_(name in wanted) for name, tensor in params.items()}
        logits = forward(leaves, a, b, heads=heads, activation=activation)
        if metrics:
            losses, accuracy = loss_and_accuracy(logits, c)
        else:  # the step alone: one mean per run, without the per-pair losses and the argmax of the records
            runs, n, p = logits.shape
            losses = F.cross_entropy(logits.reshape(-1, p), c.expand(runs, n).reshape(-1), reduction="sum") / n
        grads = torch.autograd.grad(losses.sum(), [leaves[name] for name in wanted])
    grads = dict(zip(wanted, grads, strict=True))
    return (grads, losses.detach(), accuracy) if metrics else (grads, None, None)


class Transformer(nn.Module):
    """One model in the plain formulation: all three positions, causal attention, a single ``nn.Module``.

    The reference that :func:`forward` is checked against, and the naive loop of the benchmark.

    Arguments:
        params: one model's parameters (the ensemble's layout without the run axis), copied into
            ``nn.Parameter`` s.
        heads: the number of attention heads.
        activation: the MLP's activation.
    """

    def __init__(self, params: dict[str, torch.Tensor | np.ndarray], *, heads: int, activation: str = "relu"):
        super().__init__()
        for name in PARAMETERS:
            self.register_parameter(name, nn.Parameter(torch.as_tensor(params[name]).clone()))
        self.heads = heads
        self.act = _ACTIVATIONS[activation]

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Logits at "=" on the pairs (a, b), shape (n, p)."""
        p, d = self.embedding.shape
        vocabulary = torch.cat([self.embedding, self.equals.unsqueeze(0)])  # token p is "="
        tokens = torch.stack([a, b, torch.full_like(a, p)], dim=1)
        x = vocabulary[tokens] + self.pos  # (n, 3, d)
        n, width = x.shape[0], d // self.heads
        q, k, v = (
            (x @ w).view(n, 3, self.heads, width).transpose(1, 2) for w in (self.w_q, self.w_k, self.w_v)
        )  # (n, H, 3, width)
        scores = q @ k.transpose(-1, -2) / math.sqrt(width)
        causal = torch.ones(3, 3, dtype=torch.bool, device=x.device).tril()
        weights = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        heads_out = (weights @ v).transpose(1, 2).reshape(n, 3, d)
        x = x + heads_out @ self.w_o
        x = x + self.act(x @ self.w_in + self.b_in) @ self.w_out + self.b_out
        return (x @ self.w_u)[:, -1]
