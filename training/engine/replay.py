"""Replaying stored models: loss and accuracy at every embedding snapshot, whole or with circles removed.

A run dataset trained with ``save_mlp=True`` holds the embedding and the MLP at each snapshot, so the model
can be evaluated again afterwards. :func:`snapshot_metrics` does that for the stored (or a replacement)
embedding; :func:`ablated_metrics` first removes all circles but a chosen set with
:func:`training.interventions.keep_only` (post-hoc ablation, paper section 4.1, figure 8: one circle cannot do
modular addition, two leave a high loss and three reach near zero).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Iterable

import numpy as np
import torch
import xarray as xr

from fittest.errors import InputError
from training.analysis.select import pick_variable
from training.analysis.survival import top_circles
from training.config import TrainConfig
from training.engine.model import MLP_PARAMETERS, forward, loss_and_accuracy
from training.interventions import keep_only
from training.tasks import pairs
from training.tasks import split as make_split


def ablated_metrics(ds: xr.Dataset, keep: int | Iterable[int], *, split: str = "test") -> xr.Dataset:
    """Loss and accuracy at every snapshot when only some circles of the embedding are kept.

    Arguments:
        ds: a run dataset trained with ``TrainConfig(save_mlp=True)`` (it holds the MLP at each snapshot).
        keep: an int ``n``: keep each run's ``n`` largest circles by amplitude at the last recorded step;
            or a list of frequencies kept in every run.
        split: ``"test"`` (default), ``"train"`` or ``"all"`` pairs.

    Returns:
        Dataset with ``loss`` and ``accuracy`` (run, snapshot) and ``kept`` (run, rank), the frequencies kept.

    Raises:
        InputError: no embedding snapshots or MLP parameters, ``keep`` neither a count nor a list, or a count or
            frequency out of range.
    """
    embedding = pick_variable(ds, "embedding", purpose="ablated_metrics()")
    if isinstance(keep, numbers.Integral) and not isinstance(keep, bool):
        kept = top_circles(ds, int(keep))
    elif isinstance(keep, Iterable) and not isinstance(keep, str | bytes):
        chosen = list(keep)
        kept = xr.DataArray(
            np.tile(np.asarray(chosen, dtype=np.int64), (ds.sizes["run"], 1)),
            dims=("run", "rank"),
            coords={"run": ds["run"], "rank": np.arange(1, len(chosen) + 1)},
            name="kept",
        )
    else:
        raise InputError(f"keep must be a number of circles or a list of frequencies, got {keep!r}")
    stored = embedding.transpose("run", "snapshot", "token", "dim")
    values = np.asarray(stored.values, dtype=np.float64)
    ablated = np.empty_like(values)
    for r in range(values.shape[0]):
        frequencies = kept.values[r].tolist()
        for s in range(values.shape[1]):
            ablated[r, s] = keep_only(values[r, s], frequencies)
    metrics = snapshot_metrics(ds, embedding=stored.copy(data=ablated), split=split)
    metrics["kept"] = kept
    metrics.attrs = {"split": split, "keep": keep if isinstance(keep, numbers.Integral) else str(list(keep))}
    return metrics


def ablated_loss(ds: xr.Dataset, keep: int | Iterable[int], *, split: str = "test") -> xr.DataArray:
    """The loss (run, snapshot) when only some circles are kept; see :func:`ablated_metrics`.

    The frequencies kept, one list per run, are in the ``kept`` attribute as JSON.
    """
    metrics = ablated_metrics(ds, keep, split=split)
    loss = metrics["loss"]
    loss.attrs = {
        **metrics.attrs,
        "kept": json.dumps(metrics["kept"].values.tolist()),
        "long_name": f"{split} loss with only the kept circles",
    }
    return loss


def snapshot_metrics(ds: xr.Dataset, *, embedding=None, split: str = "test") -> xr.Dataset:
    """Loss and accuracy of the stored models at every embedding snapshot (post-hoc ablation, section 4.1).

    Needs a run dataset trained with ``save_mlp=True``. The train/test split of each run is rebuilt from its
    ``split_seed`` coordinate.

    Arguments:
        ds: the run dataset.
        embedding: optional replacement embedding, shape (run, snapshot, p, d) (a DataArray with dims
            ``run, snapshot, token, dim`` or an array); by default the stored ``embedding``.
        split: ``"test"``, ``"train"`` or ``"all"`` (every pair).

    Returns:
        A Dataset with ``loss`` and ``accuracy``, each (run, snapshot), computed in float64.

    Raises:
        InputError: the dataset is of another architecture than the mlp (replay is not implemented for the
            transformer), holds no MLP parameters, the split is unknown, or the embedding's shape is wrong.
    """
    architecture = ds.attrs.get("architecture", "mlp")
    if architecture != "mlp":
        raise InputError(
            f"replaying stored models is implemented for the mlp only; this dataset's architecture is"
            f" {architecture!r}: compare its recorded test_loss and test_acc instead"
        )
    missing = [f"mlp_{name}" for name in MLP_PARAMETERS if f"mlp_{name}" not in ds]
    if missing:
        raise InputError(f"the dataset holds no MLP parameters ({', '.join(missing)}): train with save_mlp=True")
    if split not in ("test", "train", "all"):
        raise InputError(f"split must be 'test', 'train' or 'all', got {split!r}")
    config = TrainConfig.from_json(ds.attrs["config"])
    stored = ds["embedding"]
    if embedding is None:
        emb = stored.values
    else:
        emb = embedding.transpose(*stored.dims).values if isinstance(embedding, xr.DataArray) else np.asarray(embedding)
        if emb.shape != stored.shape:
            raise InputError(f"embedding has shape {emb.shape}, expected (run, snapshot, p, d) = {stored.shape}")
    runs, snaps = stored.sizes["run"], stored.sizes["snapshot"]
    a_all, b_all, c_all = pairs(config.p, config.task)
    loss = np.empty((runs, snaps))
    acc = np.empty((runs, snaps))
    for r in range(runs):
        train_idx, test_idx = make_split(config.p, config.train_frac, int(ds["split_seed"].values[r]))
        idx = {"test": test_idx, "train": train_idx, "all": np.arange(config.p**2)}[split]
        a, b, c = (torch.from_numpy(x[idx]) for x in (a_all, b_all, c_all))
        params = {
            name: torch.from_numpy(np.asarray(ds[f"mlp_{name}"].values[r], dtype=np.float64)) for name in MLP_PARAMETERS
        }
        params["embedding"] = torch.from_numpy(np.asarray(emb[r], dtype=np.float64))
        with torch.no_grad():
            logits = forward(params, a, b, activation=config.activation)  # snapshots act as the batch axis
            l_, a_ = loss_and_accuracy(logits, c)
        loss[r], acc[r] = l_.numpy(), a_.numpy()
    coords = {"run": ds["run"], "snapshot": ds["snapshot"]}
    return xr.Dataset({"loss": (("run", "snapshot"), loss), "accuracy": (("run", "snapshot"), acc)}, coords=coords)


def snapshot_loss(ds: xr.Dataset, *, embedding=None, split: str = "test") -> xr.DataArray:
    """The loss of the stored models at every embedding snapshot, (run, snapshot); see :func:`snapshot_metrics`."""
    return snapshot_metrics(ds, embedding=embedding, split=split)["loss"]
