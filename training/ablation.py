"""Post-hoc ablation: the loss of a trained model with all but a few circles removed (paper section 4.1, fig. 8).

At every stored embedding snapshot of every run, :func:`training.interventions.keep_only` removes all
circles except a chosen set from the embedding and the stored MLP of that snapshot is evaluated on it. The
paper finds one circle cannot do modular addition, two leave a high loss and three reach near zero.
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Iterable

import numpy as np
import xarray as xr

from fittest.errors import InputError
from training.interventions import keep_only
from training.survival import _amplitude, _at_step, _variable

__all__ = ["ablated_loss", "ablated_metrics", "top_circles"]


def top_circles(ds: xr.Dataset, n: int, *, step: int | None = None) -> xr.DataArray:
    """The ``n`` largest circles of each run by amplitude at a recorded step, largest first.

    Arguments:
        ds: a run dataset.
        n: how many circles, ``1 .. (p - 1) // 2``.
        step: the step whose amplitude ranks them; the last recorded step by default.

    Returns:
        Integer DataArray ``(run, rank)`` of frequencies, named ``kept``.

    Raises:
        InputError: ``n`` out of range, no amplitude, or the step was not recorded.
    """
    amp = _amplitude(ds, "amplitude", "top_circles()")
    K = amp.sizes["frequency"]
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= K:
        raise InputError(f"top_circles(): n must be an integer in 1..{K}, got {n!r}")
    amp, _ = _at_step(amp, step, "top_circles()")
    order = np.argsort(-np.nan_to_num(amp.transpose("run", "frequency").values, nan=-np.inf), axis=1)[:, :n]
    freqs = amp["frequency"].values[order]
    return xr.DataArray(
        freqs, dims=("run", "rank"), coords={"run": amp["run"], "rank": np.arange(1, n + 1)}, name="kept"
    )


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
    from training.model import snapshot_metrics

    embedding = _variable(ds, "embedding", purpose="ablated_metrics()")
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
