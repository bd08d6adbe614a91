"""Checkpoints: the full training state at a step, so that an interrupted run resumes to the same result."""

from __future__ import annotations

import os
import warnings

import torch

from fittest.atomic import write_atomic
from fittest.errors import InputError
from training.config import TrainConfig

FORMAT = "fittest.checkpoint/1"


def save_checkpoint(
    path: str | os.PathLike, config: TrainConfig, step: int, members, records: dict, snapshots: dict
) -> None:
    """Write the state before step ``step``'s forward pass (``step`` updates done) to ``path``, atomically.

    Raises:
        InputError: the write failed (a full disk); the previous checkpoint is kept and no temporary file is left.
    """
    state = {
        "format": FORMAT,
        "config": config.to_json(),
        "step": int(step),
        "threads": torch.get_num_threads(),
        "device": members[0].params["embedding"].device.type,
        "params": [{name: t.detach().cpu().clone() for name, t in m.params.items()} for m in members],
        "optimizer": [
            {k: ([t.cpu() for t in v] if isinstance(v, list) else v) for k, v in m.optimizer.state_dict().items()}
            for m in members
        ],
        "records": {name: t.cpu() for name, t in records.items()},
        "snapshots": {name: t.cpu() for name, t in snapshots.items()},
    }

    def write(tmp) -> None:
        try:
            torch.save(state, tmp)
        except RuntimeError as error:  # torch reports a failed write (a full disk) as a RuntimeError
            raise OSError(str(error)) from error

    write_atomic(path, write, what="checkpoint")


def load_checkpoint(
    path: str | os.PathLike, config: TrainConfig, members, records: dict, snapshots: dict, *, device: torch.device
) -> int:
    """Restore a checkpoint into the freshly initialised ``members``, ``records`` and ``snapshots``.

    Returns:
        The step to continue from.

    A checkpoint whose ensemble was batched otherwise (on another device type, or by a version that batched the
    CPU's runs otherwise) is split again into ``members``' batches; the resumed records then differ from an
    uninterrupted run's at float rounding (other kernels), and a warning says so.

    Raises:
        InputError: the file is not a checkpoint, or was written for another configuration.
    """
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # torch raises pickle, zip and runtime errors for a foreign file
        raise InputError(
            f"{str(path)!r} is not a fittest checkpoint ({type(error).__name__}): give the file that train wrote,"
            " or delete it to start afresh"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(
            f"{str(path)!r} is not a fittest checkpoint: give the file that train wrote, or delete it to start afresh"
        )
    saved = TrainConfig.from_json(state["config"])
    if saved != config:
        differ = [name for name in config.__dataclass_fields__ if getattr(saved, name) != getattr(config, name)]
        raise InputError(
            f"checkpoint {str(path)!r} was written for another config (differs in {', '.join(differ)});"
            " use the same options or another checkpoint file"
        )
    # the saved batches joined along the run axis, then cut as this ensemble is batched
    params = {name: torch.cat([batch[name] for batch in state["params"]]) for name in state["params"][0]}
    moments = {
        key: [torch.cat(chunks) for chunks in zip(*(batch[key] for batch in state["optimizer"]), strict=True)]
        for key in ("exp_avg", "exp_avg_sq")
    }
    (count,) = {int(batch["step"]) for batch in state["optimizer"]}
    with torch.no_grad():
        for member in members:
            for name, tensor in params.items():
                member.params[name].copy_(tensor[member.runs])
            optimizer = {key: [t[member.runs] for t in values] for key, values in moments.items()}
            member.optimizer.load_state_dict({"step": count, **optimizer})
        for store, saved_store in ((records, state["records"]), (snapshots, state["snapshots"])):
            for name, tensor in saved_store.items():
                store[name].copy_(tensor)
    saved_batches = [int(batch["embedding"].shape[0]) for batch in state["params"]]
    batches = [member.runs.stop - member.runs.start for member in members]
    device_type = members[0].params["embedding"].device.type
    if saved_batches != batches or state.get("device", device_type) != device_type:
        warnings.warn(
            f"resuming {str(path)!r}, written with batches of {saved_batches} runs on {state.get('device', 'a')}"
            f" device, as batches of {batches} on {device_type}: the records will not be bit-identical to an"
            " uninterrupted run (other kernels compute them), though every run continues where it was",
            RuntimeWarning,
            stacklevel=3,
        )
    threads = state.get("threads")
    if threads is not None and threads != torch.get_num_threads():
        # a resume is bit-identical to an uninterrupted run only at the thread count that began it
        warnings.warn(
            f"resuming {str(path)!r} with {torch.get_num_threads()} torch thread(s), but it was written with "
            f"{threads}: the records will not be bit-identical to an uninterrupted run (set OMP_NUM_THREADS={threads}"
            f" or fittest --threads {threads} to make them so)",
            RuntimeWarning,
            stacklevel=3,
        )
    return int(state["step"])
