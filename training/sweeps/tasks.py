"""A sweep's points grouped into tasks: one ensemble each, trained as one batch, named by its config's hash.

Points whose tensors can share one batch (every field equal but the per-run ones, ``lr`` and ``weight_decay``,
and the number of runs) become one task whose config lists each run's rate and decay. A task's runs draw
their seeds by their index in the task (:meth:`TrainConfig.run_seeds`), so a point merged with others gets
other seeds than it would alone; the seeds are in every run dataset and in the summary.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fittest.errors import InputError
from training.config import TrainConfig

PER_RUN = ("lr", "weight_decay")
"""Fields that may differ between the runs of one task."""


def task_name(config: TrainConfig) -> str:
    """The name of a task's group in the store: a hash of its full config (:meth:`TrainConfig.to_json`)."""
    return hashlib.sha256(config.to_json().encode()).hexdigest()[:20]


@dataclass(frozen=True)
class SweepTask:
    """One task of a sweep, an ensemble trained as one batch: its group name in the store and its config.

    Named apart from :class:`training.tasks.Task`, the arithmetic a model learns; a sweep's "task" is always this.
    """

    name: str
    config: TrainConfig


def _batch_key(config: TrainConfig) -> str:
    fields = dataclasses.asdict(config)
    for name in (*PER_RUN, "runs"):
        fields.pop(name)
    return json.dumps(fields, sort_keys=True)


def _merge(configs: Sequence[TrainConfig]) -> TrainConfig:
    if len(configs) == 1:  # unchanged, so that a lone point's task is exactly the point
        return configs[0]
    changes: dict[str, Any] = {"runs": sum(c.runs for c in configs)}
    for name in PER_RUN:
        values = tuple(float(v) for c in configs for v in c.per_run(name))
        changes[name] = values[0] if len(set(values)) == 1 else values
    return configs[0].replace(**changes)


def plan(configs: Iterable[TrainConfig], *, max_runs: int | None = None, merge: bool = True) -> list[SweepTask]:
    """Group configs into tasks, in the order of their first config.

    Arguments:
        configs: the sweep's points; a config given twice is trained once.
        max_runs: the most runs one task holds (points are never split, so a point with more runs is a task of
            its own); None merges every point that can share a batch. On a CPU, where a task's runs are trained
            in small batches one after another anyway, a small value spreads a sweep over more workers.
        merge: False keeps every point a task of its own, named by its own config, so that its runs draw the
            seeds they draw alone (``training.train(config)`` gives the same dataset) and
            :func:`~training.sweeps.store.open_task` finds it by that config.

    Returns:
        The tasks.

    Raises:
        InputError: a config is not a TrainConfig, or ``max_runs`` is not a positive integer.
    """
    if max_runs is not None and (isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 1):
        raise InputError(f"max_runs must be a positive integer or None, got {max_runs!r}")
    buckets: dict[str, list[TrainConfig]] = {}
    seen = set()
    for config in configs:
        if not isinstance(config, TrainConfig):
            raise InputError(f"a sweep's configs must be TrainConfig objects, got {type(config).__name__}")
        text = config.to_json()
        if text not in seen:
            seen.add(text)
            buckets.setdefault(_batch_key(config) if merge else text, []).append(config)
    tasks = []
    for bucket in buckets.values():
        chunk: list[TrainConfig] = []
        for config in bucket:
            if chunk and max_runs is not None and sum(c.runs for c in chunk) + config.runs > max_runs:
                tasks.append(_merge(chunk))
                chunk = []
            chunk.append(config)
        tasks.append(_merge(chunk))
    return [SweepTask(task_name(config), config) for config in tasks]


def axis_values(config: TrainConfig, axis: str) -> list[Any]:
    """The value of field ``axis`` for every run of ``config``; a value that is not a number, string or bool as
    its JSON text, so that it can label a dimension."""
    if axis in PER_RUN:
        return [float(v) for v in config.per_run(axis)]
    value = getattr(config, axis)
    if not isinstance(value, bool | int | float | str):
        value = json.dumps(value, sort_keys=True)
    return [value] * config.runs


def varying_fields(configs: Sequence[TrainConfig]) -> tuple[str, ...]:
    """The fields (not ``runs``) whose value differs between the runs of ``configs``, in field order."""
    out = []
    for spec in dataclasses.fields(TrainConfig):
        if spec.name == "runs":
            continue
        values = {json.dumps(v) for config in configs for v in axis_values(config, spec.name)}
        if len(values) > 1:
            out.append(spec.name)
    return tuple(out)
