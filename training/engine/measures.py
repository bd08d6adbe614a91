"""Nanda et al.'s progress measures on the logits: the restricted and the excluded loss.

Nanda et al. (2023, "Progress measures for grokking via mechanistic interpretability") split the logits into the
part the model's key frequencies carry and the rest. Here the split acts on the logits' output axis (the ``p``
logits of a pair) in the task's basis (:meth:`training.tasks.Task.components`: Fourier circles, characters or
irreps): the *restricted* logits are their projection onto the key components' rows plus their mean (the
constant direction, which the cross-entropy ignores), the *excluded* logits are the logits minus that projection
(the constant kept). Both losses are the mean cross-entropy on the training pairs.

Which components are key is decided at the record, from the readout's own spectrum (the unembedding: the
transformer's ``W_U``, the MLP's ``w3``, over its ``p`` logit rows): a component is key where its amplitude per
basis row exceeds twice the mean over the components, the survival analysis's relative rule
(:func:`training.analysis.survival.survivors`). Nanda et al. take the key frequencies from the final model,
which a record cannot know; the readout's spectrum is the one measured on the very axis the projection acts on,
and it holds the frequencies the logits can carry at that step, while the embedding's may still hold
frequencies the readout has not picked up.
"""

from __future__ import annotations

import torch

from fittest.errors import InputError
from training.engine.model import loss_and_accuracy
from training.engine.sites import OnDevice

KEY_FACTOR = 2.0
"""A key component's amplitude per row exceeds this multiple of the mean over the components (the paper's 2)."""

# rows left with less than this share of their squared length once the constant is taken out were the constant
# itself (the trivial irrep, the trivial character's row): the projection carries the constant apart
_CONSTANT_ROW = 1e-6


def readout(params: dict) -> torch.Tensor:
    """The weights that read out the p logits, one row per logit: the transformer's ``W_U^T``, the MLP's ``w3``.

    Arguments:
        params: a model's parameters by name, with a leading batch (run or snapshot) axis.

    Returns:
        ``(batch, p, width)``, detached.
    """
    return params["w_u"].detach().transpose(-1, -2) if "w_u" in params else params["w3"].detach()


def key_components(power: torch.Tensor, basis: OnDevice, *, factor: float = KEY_FACTOR) -> torch.Tensor:
    """The key components of a spectrum by the relative rule: amplitude per basis row above ``factor`` times the mean.

    Arguments:
        power: ``(runs, n_components)`` powers, such as the unembedding's spectrum.
        basis: the basis they were measured in (its row counts per component).
        factor: the multiple of the mean amplitude a key component exceeds.

    Returns:
        Boolean ``(runs, n_components)``.
    """
    rows = basis.grouping.sum(0)
    amplitude = (power.clamp(min=0) / rows).sqrt()
    return amplitude > factor * amplitude.mean(-1, keepdim=True)


def _logit_rows(basis: OnDevice) -> torch.Tensor:
    """The basis rows on the logit axis, orthonormal, with the constant direction taken out of them."""
    rows = basis.rows / basis.basis.scale**0.5
    rows = rows - rows.mean(-1, keepdim=True)
    length = (rows * rows).sum(-1, keepdim=True)
    rows = torch.where(length > _CONSTANT_ROW, rows / length.clamp(min=_CONSTANT_ROW).sqrt(), torch.zeros_like(rows))
    gram = rows @ rows.T
    off = (gram - torch.diag(torch.diagonal(gram))).abs().max()
    if float(off) > 1e-4:
        raise InputError(
            f"the {basis.basis.dim} basis is not orthogonal once the constant is taken out of its rows (off by "
            f"{float(off):.2g}): the restricted loss needs a basis whose rows, the constant aside, are orthogonal"
        )
    return rows


def split_logits(logits: torch.Tensor, keep: torch.Tensor, basis: OnDevice) -> tuple[torch.Tensor, torch.Tensor]:
    """The restricted and the excluded logits: the projection onto the kept components and the rest.

    Arguments:
        logits: ``(runs, n, p)``.
        keep: boolean ``(runs, n_components)``: the components to keep.
        basis: the task's basis on the logits' device and dtype (size ``p``).

    Returns:
        ``(restricted, excluded)``, each ``(runs, n, p)``; ``restricted`` keeps the logits' mean over the ``p``
        logits, ``excluded`` keeps whatever is not in the kept components (the mean included).

    Raises:
        InputError: the logits' last axis is not the basis's size, ``keep`` does not match, or the basis is not
            orthogonal once the constant is taken out.
    """
    runs, _, p = logits.shape
    if p != basis.basis.size or tuple(keep.shape) != (runs, basis.basis.n_components):
        raise InputError(
            f"split_logits(): logits {tuple(logits.shape)} and keep {tuple(keep.shape)} do not fit the "
            f"{basis.basis.dim} basis of {basis.basis.size} entries and {basis.basis.n_components} components"
        )
    rows = _logit_rows(basis)
    kept_rows = keep.to(logits.dtype) @ basis.grouping.T  # (runs, n_rows): 1 on a kept row
    # one (p, p) projector per run, then one matmul over the pairs: half the work of going through the rows
    projector = rows.T @ (kept_rows.unsqueeze(-1) * rows)
    projected = logits @ projector
    return projected + logits.mean(-1, keepdim=True), logits - projected


def restricted_excluded_loss(
    logits: torch.Tensor, labels: torch.Tensor, keep: torch.Tensor, basis: OnDevice
) -> tuple[torch.Tensor, torch.Tensor]:
    """The restricted and the excluded loss: the mean cross-entropy of :func:`split_logits`'s two parts.

    Arguments:
        logits: ``(runs, n, p)``, the model's logits on the training pairs.
        labels: ``(n,)`` or ``(runs, n)`` the pairs' answers.
        keep: boolean ``(runs, n_components)``, the key components (:func:`key_components`).
        basis: the task's basis on the logits' device and dtype.

    Returns:
        ``(restricted_loss, excluded_loss)``, each ``(runs,)``. Keeping none gives the full loss as excluded
        loss. Keeping every component gives it as restricted loss where the basis and the constant span the ``p``
        logits (Fourier circles at odd ``p``, the irreps of a group); the characters of ``Z_p^*`` leave out token
        0, the trivial and the sign character, which then count on the excluded side only.

    Raises:
        InputError: as :func:`split_logits`.
    """
    restricted, excluded = split_logits(logits, keep, basis)
    return loss_and_accuracy(restricted, labels)[0], loss_and_accuracy(excluded, labels)[0]
