"""The sweep store: a zarr store with one group per task, and the tidy summary of its runs.

Each task's group is named by the hash of its config and written by one worker alone (no two workers ever
write one array or chunk): first the whole run dataset of the contract (:mod:`training.rundata`), then, last,
the group's ``sweep_status`` attribute together with its manifest (every file of the group with its size and
CRC-32). A group counts only once that mark says ``complete`` and its files match the manifest (sizes when the
store is opened, checksums too when a sweep resumes); a group without the mark was cut short, and one whose
files no longer match was damaged: both are written again by the next run of the sweep. A task that failed
has a group holding only its status ``failed``, its error and its config. Only the process that runs the sweep
writes the root group's attributes: the schema, the swept fields (``axes``) and the names of the tasks. A
store that several sweeps wrote (the figures' cache, a sweep extended by more seeds, a sweep rerun with
another ``max_runs``) keeps the union of their tasks and axes, so that it opens as one sweep.
"""

from __future__ import annotations

import inspect
import json
import os
import warnings
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from fittest.errors import InputError
from training.analysis.survival import count_survivors, survivors
from training.analysis.transitions import learning_times
from training.config import TrainConfig
from training.rundata import check_run
from training.sweeps.tasks import axis_values, task_name

SCHEMA = "fittest.sweep/1"
STATUS = "sweep_status"
MANIFEST = "sweep_manifest"
COMPLETE = "complete"
FAILED = "failed"
RUN_COORDS = {
    "task": "the name of the run's task group in the tree",
    "run": "the run's index in its task's run dataset",
    "embed_seed": "the seed this run's embedding was drawn with",
    "mlp_seed": "the seed this run's MLP was initialised with",
    "split_seed": "the seed of this run's train/test split",
}
SUMMARY_VARIABLES = {
    "n_circles": "circles surviving at the last step (training.count_survivors)",
    "train_loss": "train loss at the last step",
    "test_loss": "test loss at the last step",
    "train_acc": "train accuracy at the last step",
    "test_acc": "test accuracy at the last step",
    "diverged": "the run diverged: some record is NaN or infinite",
    "memorisation_step": "first recorded step with train accuracy >= 0.99; NaN if never (training.learning_times)",
    "generalisation_step": "first recorded step with test accuracy >= 0.99; NaN if never",
    "transition_gap": "generalisation_step - memorisation_step",
}


def _zarr():
    import zarr  # here, so that reading the spec or building the command line does not load zarr

    return zarr


def _root(store: Path, mode: str):
    zarr = _zarr()
    try:
        return zarr.open_group(store, mode=mode, zarr_format=3)
    except (FileNotFoundError, ValueError, json.JSONDecodeError):
        raise InputError(
            f"{str(store)!r} is not a fittest sweep store (no zarr group there): give the --store of a sweep"
        ) from None


def prepare(store: str | os.PathLike, *, axes: Sequence[str], tasks: Sequence[str]) -> Path:
    """Create the store, or check that an existing one is a sweep store, and record the sweep's plan in it.

    Arguments:
        store: a folder; its parent must exist. An existing folder must be empty or a sweep store.
        axes: the swept fields, the summary's dimensions (added to those of an earlier sweep in the store).
        tasks: the names of the sweep's task groups (added likewise).

    Returns:
        The store's absolute path.

    Raises:
        InputError: the parent folder is missing, the path is a file, or it is a folder with other content.
    """
    path = Path(store).absolute()
    if path.exists() and not path.is_dir():
        raise InputError(f"the sweep store {str(path)!r} is a file: give a folder (it is made when missing)")
    if not path.parent.is_dir():
        raise InputError(f"the parent folder {str(path.parent)!r} of the sweep store does not exist: create it first")
    plan = {"axes": list(axes), "tasks": list(tasks)}
    if not path.exists() or not any(path.iterdir()):
        try:
            _zarr().open_group(path, mode="w", zarr_format=3, attributes={"schema": SCHEMA, **plan})
        except OSError as error:
            raise InputError(f"cannot create the sweep store {str(path)!r} ({error.strerror or error})") from None
        return path
    root = _root(path, "r+")
    if root.attrs.get("schema") != SCHEMA:
        raise InputError(
            f"{str(path)!r} is a zarr store but not a fittest sweep store (schema {root.attrs.get('schema')!r}):"
            " give a new or empty folder"
        )
    # a later sweep adds to what the store holds: the tasks and axes of the earlier ones stay listed
    known = root.attrs.asdict()
    plan = {key: _union(known.get(key, []), values) for key, values in plan.items()}
    root.attrs.update(plan)
    return path


def _union(first: Sequence[str], second: Sequence[str]) -> list[str]:
    """``first``, then what ``second`` adds, in order."""
    return [*first, *(name for name in second if name not in first)]


def status(store: str | os.PathLike, name: str) -> str | None:
    """A task group's status: ``"complete"``, ``"failed"``, ``"partial"`` (begun, not finished), or None (absent)."""
    zarr = _zarr()
    try:
        group = zarr.open_group(store, path=name, mode="r", zarr_format=3)
    except FileNotFoundError:
        return None
    except (ValueError, json.JSONDecodeError):  # a damaged group is one to write again
        return "partial"
    return group.attrs.get(STATUS, "partial")


def write_result(store: str | os.PathLike, name: str, ds: xr.Dataset) -> None:
    """Write a task's run dataset as group ``name`` (replacing what a cut-short attempt left), then its mark."""
    # the netCDF compression settings of build_run mean nothing to zarr, which compresses by itself
    ds.drop_encoding().to_zarr(store, group=name, mode="w", consolidated=False, zarr_format=3)
    manifest = {
        path.relative_to(Path(store, name)).as_posix(): [path.stat().st_size, zlib.crc32(path.read_bytes())]
        for path in sorted(Path(store, name).rglob("*"))
        if path.is_file() and path != Path(store, name, "zarr.json")  # the group's own, which the mark rewrites
    }
    group = _zarr().open_group(store, path=name, mode="r+", zarr_format=3)
    group.attrs.update({MANIFEST: manifest, STATUS: COMPLETE})  # last, in one write: only now does the group count


def damage(store: str | os.PathLike, name: str, *, deep: bool = False) -> str | None:
    """What is wrong with the files of a complete task group, or None when they match its manifest.

    A group written before manifests were (no ``sweep_manifest``) cannot be checked and counts as intact.

    Arguments:
        store: the sweep store.
        name: the task's group.
        deep: compare each file's CRC-32 as well as its size (reads every byte of the group).

    Returns:
        One phrase naming the first file found missing, resized or changed; None when none is.
    """
    group = _zarr().open_group(store, path=name, mode="r", zarr_format=3)
    manifest = group.attrs.get(MANIFEST)
    if not isinstance(manifest, Mapping):
        return None
    for relative, (size, crc) in manifest.items():
        path = Path(store, name, relative)
        try:
            found = path.stat().st_size
        except OSError:
            return f"its file {relative} is missing"
        if found != size:
            return f"its file {relative} has {found} bytes instead of {size}"
        if deep and zlib.crc32(path.read_bytes()) != crc:
            return f"its file {relative} has changed (CRC-32)"
    return None


def write_failure(store: str | os.PathLike, name: str, config: TrainConfig, error: str) -> None:
    """Record that a task failed: a group holding only its status, its error and its config."""
    attributes = {STATUS: FAILED, "error": error, "config": config.to_json()}
    _zarr().open_group(store, path=name, mode="w", zarr_format=3, attributes=attributes)


def open_task(store: str | os.PathLike, config: TrainConfig) -> xr.Dataset | None:
    """The run dataset of ``config``'s task in a sweep store, loaded into memory, or None while it is not complete.

    A task is found by its config's hash, so this reads what ``training.sweep(configs, store=...,
    merge=False)`` trained for ``config`` (or a point that was a task of its own); a point merged with others
    into one task is found through :func:`open_sweep`'s summary instead.

    Arguments:
        store: the folder :func:`training.sweep` wrote.
        config: a ``training.TrainConfig``.

    Returns:
        The run dataset, or None when the store or the task's group is missing, partial, failed or damaged (a
        file of it missing or resized: the next sweep trains it again).

    Raises:
        InputError: ``config`` is not a TrainConfig, or the group is complete but is not a run dataset.
    """
    if not isinstance(config, TrainConfig):
        raise InputError(f"open_task needs the task's training.TrainConfig, got {type(config).__name__}")
    name = task_name(config)
    if not Path(store).is_dir() or status(store, name) != COMPLETE or damage(store, name) is not None:
        return None
    with xr.open_dataset(store, group=name, engine="zarr", consolidated=False) as ds:
        return check_run(ds.load(), source=f"task group {name!r} of {str(store)!r}")


def open_sweep(
    store: str | os.PathLike, *, axes: Sequence[str] | None = None, survival: Mapping[str, Any] | None = None
) -> tuple[xr.DataTree, xr.Dataset]:
    """Open a sweep store: its tree of run datasets and a tidy summary indexed by the swept fields.

    A complete group that cannot be read as it was written (a file missing or resized, a variable gone, a chunk
    that does not decode) is left out with a one-line warning naming its task, and counted as ``damaged``; the
    next run of the sweep trains it again. A run that the store holds twice (the same point with the same seeds,
    written under two plans, such as a sweep rerun with another ``max_runs``) counts once.

    Arguments:
        store: the folder :func:`training.sweep` wrote.
        axes: the fields to index the summary by (a list of names); by default the sweep's swept fields.
        survival: options of :func:`training.count_survivors` for the ``n_circles`` of the summary.

    Returns:
        ``(tree, summary)``. ``tree`` has one node per task of the sweep, named by its config's hash: the run
        dataset (lazily loaded) of a complete task, the ``error`` and ``config`` attributes of a failed one.
        ``summary`` has one entry per run, with dims the swept fields and ``replicate`` (the run's index among
        the runs of its point, over every task): ``n_circles``, the final ``train_loss``, ``test_loss``,
        ``train_acc``, ``test_acc`` and ``diverged``, the ``memorisation_step``, ``generalisation_step`` and
        ``transition_gap`` of :func:`training.learning_times`, with coordinates ``task`` and ``run`` (where the run
        is in ``tree``) and its seeds; runs still missing are NaN. Its attributes count the tasks: ``tasks``,
        ``complete``, ``failed``, ``missing`` (damaged ones included), ``damaged``, and the ``duplicates`` left
        out. ``summary.sel(p=59, weight_decay=0.5)`` picks a point.

    Raises:
        InputError: ``store`` is not a sweep store, ``axes`` is not a list of fields, ``survival`` has an option
            that :func:`training.survivors` lacks, or the axes do not tell two different points apart.
    """
    path = Path(store)
    if not path.is_dir():
        raise InputError(f"no sweep store at {str(path)!r}: give the folder that fittest sweep --store wrote")
    if axes is not None and (isinstance(axes, str) or not isinstance(axes, Sequence)):
        raise InputError(f"axes must be a list of field names, got {axes!r}: write axes=[{axes!r}]")
    options = survival or {}
    if not isinstance(options, Mapping):
        raise InputError(f"survival must be a mapping of training.survivors options, got {survival!r}")
    known = [name for name in inspect.signature(survivors).parameters if name != "data"]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise InputError(f"survival option(s) {unknown} unknown: training.survivors takes {known}")
    root = _root(path, "r")
    attrs = root.attrs.asdict()
    if attrs.get("schema") != SCHEMA:
        raise InputError(f"{str(path)!r} is not a fittest sweep store (schema {attrs.get('schema')!r})")
    names = list(attrs.get("tasks", [])) or sorted(name for name, _ in root.groups())
    axes = tuple(attrs.get("axes", ()) if axes is None else axes)
    fields = {spec for spec in TrainConfig.__dataclass_fields__}
    for axis in axes:
        if axis not in fields or axis == "runs":
            raise InputError(f"summary axis {axis!r} is not a swept TrainConfig field")

    nodes: dict[str, xr.Dataset] = {"/": xr.Dataset(attrs=attrs)}
    rows: dict[str, list] = {name: [] for name in (*axes, "replicate", *RUN_COORDS, *SUMMARY_VARIABLES)}
    counts = {COMPLETE: 0, FAILED: 0, "missing": 0, "damaged": 0}
    runs = _Runs(axes)
    for name in names:
        state = status(path, name)
        if state == FAILED:
            counts[FAILED] += 1
            nodes[name] = xr.Dataset(attrs=_zarr().open_group(path, path=name, mode="r").attrs.asdict())
            continue
        if state != COMPLETE:
            counts["missing"] += 1
            continue
        try:
            problem = damage(path, name)
            ds, values = (None, None) if problem else _read_group(path, name, options)
        except InputError as error:  # a variable or an attribute of the contract is gone, a chunk unreadable
            problem = str(error)
        except _SurvivalError as error:
            raise InputError(f"survival={dict(options)!r}: {error}") from None
        if problem:
            warnings.warn(
                f"task {name} of {str(path)!r} is damaged and left out ({problem}); running the sweep again"
                " trains it again",
                stacklevel=2,
            )
            counts["missing"] += 1
            counts["damaged"] += 1
            continue
        counts[COMPLETE] += 1
        nodes[name] = ds
        runs.add(rows, ds, name, values)
    tree = xr.DataTree.from_dict(nodes)
    summary = _tidy(rows, axes)
    summary.attrs = {"tasks": len(names), **counts, "duplicates": runs.duplicates, "axes": list(axes)}
    return tree, summary


FINALS = ("train_loss", "test_loss", "train_acc", "test_acc")
TIMES = ("memorisation_step", "generalisation_step", "transition_gap")


def _read_group(path: Path, name: str, survival: Mapping[str, Any]) -> tuple[xr.Dataset, dict[str, np.ndarray]]:
    """A complete group's run dataset (lazy) and the per-run values of the summary, read now.

    Raises:
        InputError: the group is not a run dataset or a chunk of it cannot be read (a damaged group, the message
            names it), or ``survival`` is refused by :func:`training.count_survivors` (the caller's error).
    """
    source = f"task group {name!r}"
    ds = check_run(xr.open_dataset(path, group=name, engine="zarr", consolidated=False), source=source)
    try:
        values = {variable: ds[variable].isel(step=-1).values for variable in FINALS}
        values["diverged"] = ds["diverged"].values if "diverged" in ds else np.zeros(ds.sizes["run"], bool)
        values["n_circles"] = count_survivors(ds, **survival).values
        times = learning_times(ds)
        values.update({name: times[name].values for name in TIMES})
    except InputError as error:  # a bad rule or step in survival: the same for every group, so the caller's
        raise _SurvivalError(str(error)) from None
    except Exception as error:  # a chunk that does not decode: a codec's own error, which names no task
        raise InputError(f"{source} cannot be read: {type(error).__name__}: {error}") from None
    return ds, values


class _SurvivalError(Exception):
    """An InputError of the survival options, kept apart from those that mean a damaged group."""


class _Runs:
    """The summary's runs over every task: the replicate index of each point and the runs already counted.

    A run is its point (every field of its config but ``runs`` and the seeds, with its own per-run rates) and
    its three effective seeds; the same run from a second task (the store was written under two plans) is left
    out. Two different points under one label of the axes would be indistinguishable: an error.
    """

    def __init__(self, axes: Sequence[str]):
        self.axes = tuple(axes)
        self.points: dict[tuple, tuple] = {}
        self.replicates: dict[tuple, int] = {}
        self.seen: set[tuple] = set()
        self.duplicates = 0

    def add(self, rows: dict[str, list], ds: xr.Dataset, name: str, values: dict[str, np.ndarray]) -> None:
        config = TrainConfig.from_json(ds.attrs["config"])
        labels = list(zip(*(axis_values(config, axis) for axis in self.axes), strict=True)) or [()] * config.runs
        other = [f for f in TrainConfig.__dataclass_fields__ if f not in (*SEED_FIELDS, "runs")]
        points = list(zip(*(map(_plain, axis_values(config, f)) for f in other), strict=True))
        seeds = {seed: ds[seed].values for seed in ("embed_seed", "mlp_seed", "split_seed")}
        for run in range(config.runs):
            label, point = labels[run], points[run]
            if self.points.setdefault(label, point) != point:
                raise InputError(
                    f"the summary axes {list(self.axes)} do not tell the runs apart: give open_sweep(axes=...)"
                    " every field that differs between the sweep's points"
                )
            key = (point, *(int(seed[run]) for seed in seeds.values()))
            if key in self.seen:
                self.duplicates += 1
                continue
            self.seen.add(key)
            for axis, value in zip(self.axes, label, strict=True):
                rows[axis].append(value)
            rows["replicate"].append(self.replicates.get(label, 0))
            self.replicates[label] = self.replicates.get(label, 0) + 1
            rows["task"].append(name)
            rows["run"].append(run)
            for seed, column in seeds.items():
                if seed not in self.axes:  # a swept seed field is an axis already
                    rows[seed].append(int(column[run]))
            rows["n_circles"].append(int(values["n_circles"][run]))
            for variable in (*FINALS, *TIMES):
                rows[variable].append(float(values[variable][run]))
            rows["diverged"].append(bool(values["diverged"][run]))


SEED_FIELDS = ("seed", "embed_seed", "mlp_seed", "split_seed")


def _plain(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _tidy(rows: dict[str, list], axes: Sequence[str]) -> xr.Dataset:
    """The summary rows as a Dataset over the axes and ``replicate``."""
    levels = [*axes, "replicate"]
    coords = {
        name: ("row", np.asarray(rows[name]), {"description": text})
        for name, text in RUN_COORDS.items()
        if name not in levels
    }
    coords.update({name: ("row", np.asarray(rows[name])) for name in levels})
    data = {name: ("row", np.asarray(rows[name]), {"description": text}) for name, text in SUMMARY_VARIABLES.items()}
    flat = xr.Dataset(data, coords=coords)
    flat["replicate"].attrs["description"] = "the run's index among the runs of its point"
    if not axes:
        return flat.swap_dims(row="replicate")
    return flat.set_index(row=levels).unstack("row")
