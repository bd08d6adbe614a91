"""Replaying stored models: loss and accuracy at every embedding snapshot, whole or with circles removed.

A run dataset trained with ``save_mlp=True`` holds the whole model (the MLP or the transformer) at each snapshot, so it
can be evaluated again afterwards. :func:`snapshot_metrics` does that for the stored (or a replacement)
embedding; :func:`ablated_metrics` first removes all circles but a chosen set with
:func:`training.interventions.keep_only` (post-hoc ablation, paper section 4.1, figure 8: one circle cannot do
modular addition, two leave a high loss and three reach near zero). :func:`snapshot_progress` computes Nanda et
al.'s restricted and excluded loss of the stored models after the fact, in any basis and with any components kept,
by the same code :func:`training.train` records them with (:mod:`training.engine.measures`).
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
from training.bases import Basis
from training.config import TrainConfig
from training.engine import measures
from training.engine.model import loss_and_accuracy
from training.engine.networks import NETWORKS, Network
from training.engine.sites import OnDevice
from training.interventions import keep_only
from training.rundata import VARIABLES
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


def _stored_models(ds: xr.Dataset, purpose: str) -> tuple[TrainConfig, Network]:
    """The config and network of a run dataset that stores its models at the snapshots (``save_mlp``).

    Raises:
        InputError: the dataset's architecture is unknown or it holds no parameters beside the embedding.
    """
    config = TrainConfig.from_json(ds.attrs["config"])
    network = NETWORKS.get(config.architecture)
    if network is None:
        raise InputError(f"{purpose}: architecture {config.architecture!r} has no network to replay it with")
    missing = [f"mlp_{name}" for name in network.parameters[1:] if f"mlp_{name}" not in ds]
    if "embedding" not in ds or missing:
        shown = ", ".join((["embedding"] if "embedding" not in ds else []) + missing)
        raise InputError(
            f"{purpose}: the dataset holds no stored {config.architecture} parameters ({shown}): train with "
            "save_mlp=True"
        )
    return config, network


def _parameters(ds: xr.Dataset, network: Network, run: int, embedding: np.ndarray | None = None) -> dict:
    """One run's parameters at every snapshot, float64 tensors with the snapshots as the leading (batch) axis."""
    stored = {name: ds[f"mlp_{name}"].values[run] for name in network.parameters[1:]}
    stored["embedding"] = ds["embedding"].values[run] if embedding is None else embedding
    return {name: torch.from_numpy(np.asarray(value, dtype=np.float64)) for name, value in stored.items()}


def _pairs(ds: xr.Dataset, config: TrainConfig, run: int, split: str) -> tuple[torch.Tensor, ...]:
    """The pairs ``(a, b, c)`` of one run's split, rebuilt from its ``split_seed``."""
    a_all, b_all, c_all = pairs(config.p, config.task)
    train_idx, test_idx = make_split(config.p, config.train_frac, int(ds["split_seed"].values[run]))
    idx = {"test": test_idx, "train": train_idx, "all": np.arange(len(c_all))}[split]
    return tuple(torch.from_numpy(x[idx]) for x in (a_all, b_all, c_all))


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
        InputError: the dataset holds no stored model parameters, the split is unknown, or the embedding's shape
            is wrong.
    """
    config, network = _stored_models(ds, "snapshot_metrics()")
    if split not in ("test", "train", "all"):
        raise InputError(f"split must be 'test', 'train' or 'all', got {split!r}")
    stored = ds["embedding"]
    if embedding is None:
        emb = stored.values
    else:
        emb = embedding.transpose(*stored.dims).values if isinstance(embedding, xr.DataArray) else np.asarray(embedding)
        if emb.shape != stored.shape:
            raise InputError(f"embedding has shape {emb.shape}, expected (run, snapshot, p, d) = {stored.shape}")
    runs, snaps = stored.sizes["run"], stored.sizes["snapshot"]
    loss = np.empty((runs, snaps))
    acc = np.empty((runs, snaps))
    for r in range(runs):
        a, b, c = _pairs(ds, config, r, split)
        params = _parameters(ds, network, r, emb[r])
        with torch.no_grad():
            logits = network.forward(params, a, b, config)  # snapshots act as the batch axis
            l_, a_ = loss_and_accuracy(logits, c)
        loss[r], acc[r] = l_.numpy(), a_.numpy()
    coords = {"run": ds["run"], "snapshot": ds["snapshot"]}
    return xr.Dataset({"loss": (("run", "snapshot"), loss), "accuracy": (("run", "snapshot"), acc)}, coords=coords)


def snapshot_loss(ds: xr.Dataset, *, embedding=None, split: str = "test") -> xr.DataArray:
    """The loss of the stored models at every embedding snapshot, (run, snapshot); see :func:`snapshot_metrics`."""
    return snapshot_metrics(ds, embedding=embedding, split=split)["loss"]


def _kept(keep, basis: Basis, runs: int, snaps: int, coords: dict) -> np.ndarray | None:
    """``keep`` as a boolean ``(run, snapshot, component)`` array; None for the key components of each snapshot."""
    if keep is None:
        return None
    labels = list(basis.labels)
    if isinstance(keep, xr.DataArray):
        if basis.dim not in keep.dims:
            raise InputError(f"keep must have the component dimension {basis.dim!r}, got dims {keep.dims}")
        extra = [d for d in keep.dims if d not in ("run", "snapshot", basis.dim)]
        if extra:
            raise InputError(f"keep has dimension(s) {extra}; it may have run, snapshot and {basis.dim!r} only")
        grid = xr.DataArray(np.zeros((runs, snaps, len(labels)), dtype=bool), dims=("run", "snapshot", basis.dim))
        grid = grid.assign_coords({**coords, basis.dim: labels})
        wanted = keep.astype(bool)
        if basis.dim not in keep.coords:
            wanted = wanted.assign_coords({basis.dim: labels[: wanted.sizes[basis.dim]]})
        return wanted.reindex_like(grid, fill_value=False).broadcast_like(grid).transpose(*grid.dims).values
    if isinstance(keep, Iterable) and not isinstance(keep, str | bytes):
        chosen = list(keep)
        unknown = [c for c in chosen if c not in labels]
        if unknown:
            raise InputError(f"keep: {unknown} are not components of the {basis.dim} basis ({labels})")
        mask = np.isin(np.asarray(labels, dtype=object), np.asarray(chosen, dtype=object))
        return np.broadcast_to(mask, (runs, snaps, len(labels)))
    raise InputError(f"keep must be None, a list of {basis.dim} labels or a boolean DataArray, got {keep!r}")


def snapshot_progress(
    ds: xr.Dataset, *, basis: Basis | None = None, keep=None, factor: float = measures.KEY_FACTOR
) -> xr.Dataset:
    """The restricted and excluded loss (Nanda et al. 2023) of the stored models at every snapshot, after the fact.

    The same computation :func:`training.train` records at its record steps (:mod:`training.engine.measures`), on
    the stored models of a run dataset trained with ``save_mlp=True``, in any basis of the ``p`` logits and with
    any components kept.

    Arguments:
        ds: a run dataset trained with ``save_mlp=True``.
        basis: a :class:`training.bases.Basis` of size ``p`` on the logits; the task's own by default (the one the
            recorded ``restricted_loss`` used).
        keep: the components kept: None for each snapshot's key components (the readout's spectrum in ``basis``
            above ``factor`` times the mean amplitude per row, as recorded); a list of component labels (kept in
            every run and snapshot); or a boolean DataArray over the component dimension (and optionally
            ``run`` and ``snapshot``).
        factor: the key components' multiple of the mean amplitude.

    Returns:
        Dataset over ``(run, snapshot)``: ``restricted_loss``, ``excluded_loss`` and ``loss`` (the full loss),
        each the mean cross-entropy on the training pairs, in float64; and ``key`` (run, snapshot, component), the
        components kept.

    Raises:
        InputError: no stored models, a basis of another size than ``p``, a basis that is not orthogonal once the
            constant is taken out, or a ``keep`` that names components the basis lacks.
    """
    config, network = _stored_models(ds, "snapshot_progress()")
    basis = config.task_spec.components(config.p) if basis is None else basis
    if not isinstance(basis, Basis) or basis.size != config.p:
        raise InputError(f"basis must be a training.bases.Basis of size p = {config.p} (the logits), got {basis!r}")
    runs, snaps = ds.sizes["run"], ds.sizes["snapshot"]
    coords = {"run": ds["run"].values, "snapshot": ds["snapshot"].values}
    chosen = _kept(keep, basis, runs, snaps, coords)
    on = OnDevice(basis, torch.empty((), dtype=torch.float64))
    out = {name: np.empty((runs, snaps)) for name in ("restricted_loss", "excluded_loss", "loss")}
    key = np.empty((runs, snaps, basis.n_components), dtype=bool)
    for r in range(runs):
        a, b, c = _pairs(ds, config, r, "train")
        params = _parameters(ds, network, r)
        with torch.no_grad():
            logits = network.forward(params, a, b, config)
            if chosen is None:
                kept = measures.key_components(on.power(measures.readout(params)), on, factor=factor)
            else:
                kept = torch.from_numpy(np.ascontiguousarray(chosen[r]))
            restricted, excluded = measures.restricted_excluded_loss(logits, c, kept, on)
            out["loss"][r] = loss_and_accuracy(logits, c)[0].numpy()
        out["restricted_loss"][r], out["excluded_loss"][r] = restricted.numpy(), excluded.numpy()
        key[r] = kept.numpy()
    dims = ("run", "snapshot")
    result = xr.Dataset(
        {
            **{name: (dims, values) for name, values in out.items()},
            "key": ((*dims, basis.dim), key),
        },
        coords={"run": ds["run"], "snapshot": ds["snapshot"], basis.dim: basis.labels},
    )
    for name in ("restricted_loss", "excluded_loss"):
        result[name].attrs["description"] = VARIABLES[name].description
    result["loss"].attrs["description"] = "mean cross-entropy of the whole logits on the training pairs"
    result["key"].attrs["description"] = "the components kept" + (" (key components)" if keep is None else "")
    result.attrs = {"basis": basis.description, "factor": factor}
    return result
