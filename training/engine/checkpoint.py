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
        InputError: ``path`` is an existing file that is not a checkpoint (it is left as it is), or the write failed
            (a full disk); the previous checkpoint is kept and no temporary file is left.
    """
    if os.path.isfile(path) and not is_checkpoint(path):  # the last guard, for callers that did not check first
        raise InputError(
            f"{str(path)!r} exists and is not a fittest checkpoint: it is not overwritten; give another checkpoint"
            " file, or delete that one"
        )
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


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file that :func:`save_checkpoint` wrote (read lazily: its tensors stay on disk)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # torch raises pickle, zip, runtime and OS errors for a file that is not one
        return False
    return isinstance(state, dict) and state.get("format") == FORMAT


def check_checkpoint(path: str | os.PathLike, *, resume: bool) -> None:
    """Refuse, before any work, a checkpoint path whose existing file training would overwrite.

    An existing file that is not a checkpoint would be replaced by the first checkpoint; an existing checkpoint
    is an interrupted run's progress, which a fresh start would replace too, so it needs ``resume``.

    Arguments:
        path: the checkpoint file of the run about to start.
        resume: whether the run continues from that file.

    Raises:
        InputError: ``path`` is an existing file that is not a fittest checkpoint, or is one and ``resume`` is
            False.
    """
    if not os.path.isfile(path):
        return  # missing: a new file; a folder or a device is refused by the output checks
    if not is_checkpoint(path):
        raise InputError(
            f"{str(path)!r} exists and is not a fittest checkpoint: the first checkpoint would overwrite it; give"
            " another checkpoint file, or delete that one"
        )
    if not resume:
        raise InputError(
            f"checkpoint {str(path)!r} exists (an interrupted run): resume it with --resume (resume=True), or"
            " delete it to start afresh"
        )


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
        InputError: the file is not a checkpoint, was written for another configuration, lacks a part (the
            parameters, the optimizer state, the records) or is at a step outside ``0..config.steps``.
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
    damaged = (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError)
    try:
        saved = TrainConfig.from_json(state["config"])
    except damaged as error:
        raise _damaged(path, error) from None
    if saved != config:
        differ = [name for name in config.__dataclass_fields__ if getattr(saved, name) != getattr(config, name)]
        raise InputError(
            f"checkpoint {str(path)!r} was written for another config (differs in {', '.join(differ)});"
            " use the same options or another checkpoint file"
        )
    try:
        step = int(state["step"])
    except damaged as error:
        raise _damaged(path, error) from None
    if not 0 <= step <= config.steps:
        # it would skip the loop and return an all-zero dataset
        raise InputError(
            f"checkpoint {str(path)!r} is at step {step}, outside this config's 0..{config.steps} steps: the file is"
            " damaged; delete it to start afresh"
        )
    try:
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
    except damaged as error:
        raise _damaged(path, error) from None
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
    return step


def _damaged(path: str | os.PathLike, error: BaseException) -> InputError:
    """The one-line error for a checkpoint whose content is incomplete or malformed."""
    reason = (str(error).strip().splitlines() or [""])[0]
    return InputError(
        f"checkpoint {str(path)!r} is damaged ({type(error).__name__}: {reason}): delete it to start afresh"
    )
