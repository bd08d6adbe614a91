"""The trained ensembles of the figures: one sweep store in the cache folder, each ensemble a task of its own.

Every figure asks for its ensembles through :class:`RunCache`. :meth:`RunCache.prepare` trains the missing ones
of many figures as ONE ``training.sweep`` (a local cluster of one worker process per core by default, or the
dask cluster at ``scheduler``) into the zarr store ``runs.zarr`` of the cache folder, each config a task of
its own (``merge=False``), so it gives the same dataset as ``training.train(config)``. A second call finds
them complete and only redraws; figures that need the same ensemble (the default one at p = 59, d = 128 serves
seven of them) share it. Files of the former cache, one netCDF per configuration named by its
:func:`config_key`, are still read (those named by the former key, a hash of the config and the toolkit's
version, are not: their ensembles are trained again into the store).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable
from pathlib import Path

import xarray as xr

import training
from fittest.errors import InputError

DEFAULT_FOLDER = ".fittest-cache"
STORE = "runs.zarr"
"""The sweep store's name inside the cache folder."""


def config_dict(config) -> dict:
    """A training configuration as plain values (its ``to_dict()``, or its dataclass fields)."""
    if hasattr(config, "to_dict"):
        return dict(config.to_dict())
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return dict(vars(config))


def config_key(config) -> str:
    """The name of a training configuration in the figures' JSON and the files of the former cache.

    It is the sweep's name of the config's task (``training.task_name``) with the device left out (set to
    ``"auto"``), because the same configuration trained on a GPU or a CPU is the same experiment; so a
    CPU-or-GPU config's key is the name of its group in the store.

    Raises:
        InputError: ``config`` is not a ``training.TrainConfig``.
    """
    if not isinstance(config, training.TrainConfig):
        raise InputError(f"a figure's ensembles are training.TrainConfig objects, got {type(config).__name__}")
    return training.task_name(config.replace(device="auto"))


class RunCache:
    """Trained run datasets in a sweep store, trained many at once by :meth:`prepare`.

    Arguments:
        folder: the cache folder (created on first training); the store is ``folder/runs.zarr``, or ``folder``
            itself when it is a sweep store.
        enabled: when False, nothing is read from or kept in ``folder``: ensembles are trained into a temporary
            store, deleted with this object, so that figures of one call still share them.
        workers: local worker processes of the sweep (default: one per GPU, or else one per core).
        scheduler: the address of a dask scheduler (``tcp://host:8786``) to train on instead; the folder must
            then be on a filesystem the workers share.
        progress: the sweep's bar over ensembles (default: a bar when standard error is a terminal, else a
            line every few seconds).

    Raises:
        InputError: ``folder`` exists and is not a folder, or ``workers`` with ``scheduler``.

    Attributes:
        trained: the keys trained by this object (the rest were read from the store or the former cache).
        used: every configuration requested, as ``{key: config dict}``, for the figures' JSON.
        requests: the key of every request in order, repeats included (a figure's share is a slice of it).
        sweeps: how many sweeps this object started that trained something.
        claimed: the trained keys a figure's JSON already counts as ``trained_now``.
    """

    def __init__(
        self,
        folder: str | os.PathLike = DEFAULT_FOLDER,
        *,
        enabled: bool = True,
        workers: int | None = None,
        scheduler: str | None = None,
        progress: bool | None = None,
    ):
        self.folder = Path(folder)
        if enabled and self.folder.exists() and not self.folder.is_dir():
            raise InputError(f"cache {str(self.folder)!r} is a file: give a folder with --cache, or --no-cache")
        if workers is not None and scheduler is not None:
            raise InputError("--workers sizes a local cluster: leave it out with --scheduler")
        self.enabled = enabled
        self.workers, self.scheduler, self.progress = workers, scheduler, progress
        self.trained: list[str] = []
        self.used: dict[str, dict] = {}
        self.requests: list[str] = []
        self.sweeps = 0
        self.claimed: set[str] = set()
        self._complete: set[str] = set()
        self._failed: dict[str, str] = {}
        self._temporary: Path | None = None

    @property
    def store(self) -> Path:
        """The sweep store (a temporary one, made on first use, when the cache is disabled).

        It is ``folder/runs.zarr``, or ``folder`` itself when that is a zarr store already (``--cache`` given
        the store rather than its folder), so that a store is never made inside another.
        """
        if self.enabled:
            return self.folder if (self.folder / "zarr.json").is_file() else self.folder / STORE
        if self._temporary is None:
            self._temporary = Path(tempfile.mkdtemp(prefix="fittest-figures-"))
            weakref.finalize(self, shutil.rmtree, self._temporary, ignore_errors=True)
        return self._temporary / STORE

    def path(self, config) -> Path:
        """The netCDF file of ``config`` in the former cache (read when it is there, never written)."""
        return self.folder / f"run-{config_key(config)}.nc"

    def _legacy(self, config) -> bool:
        return self.enabled and self.path(config).is_file()

    def prepare(self, configs: Iterable, *, progress: bool | None = None) -> int:
        """Train every config not yet in the store (nor in the former cache) as one sweep.

        Arguments:
            configs: ``training.TrainConfig`` objects; repeats and those already trained cost nothing.
            progress: the sweep's bar; by default this cache's ``progress``.

        Returns:
            How many ensembles were trained now.

        Raises:
            InputError: as ``training.sweep`` (an unreachable scheduler, a store another sweep is writing).
        """
        todo = {}
        for config in configs:
            key = config_key(config)
            if key not in self._complete and key not in self._failed and not self._legacy(config):
                todo.setdefault(config.to_json(), (key, config))
        if not todo:
            return 0
        if self.enabled:
            self.folder.mkdir(parents=True, exist_ok=True)
        report = training.sweep(
            [config for _, config in todo.values()],
            store=self.store,
            merge=False,  # each config its own task, so its dataset is training.train(config)'s
            workers=self.workers,
            scheduler=self.scheduler,
            progress=self.progress if progress is None else progress,
        )
        by_name = {training.task_name(config): key for key, config in todo.values()}
        self._complete.update(by_name[name] for name in (*report.skipped, *report.completed))
        self._failed.update({by_name[name]: error for name, error in report.failed.items()})
        trained = [by_name[name] for name in report.completed]
        self.trained.extend(trained)
        self.sweeps += bool(trained)
        return len(trained)

    def __contains__(self, config) -> bool:
        return self._legacy(config) or training.open_task(self.store, config) is not None

    def get(self, config) -> xr.Dataset:
        """The run dataset of ``config``: read from the store (or the former cache), or trained now.

        A config that :meth:`prepare` was not given is trained on its own, through the same sweep, so that a
        figure whose ensembles depend on others' results still works.

        Arguments:
            config: a ``training.TrainConfig``.

        Returns:
            The run dataset (docs/contract.md), loaded into memory.

        Raises:
            RuntimeError: the ensemble failed to train (its error is in the store).
        """
        key = config_key(config)
        self.used[key] = config_dict(config)
        self.requests.append(key)
        if self._legacy(config):
            return training.open_run(self.path(config))
        ds = training.open_task(self.store, config) if key not in self._failed else None
        if ds is None and key not in self._failed:
            self.prepare([config])
            ds = training.open_task(self.store, config)
        if ds is None:
            error = self._failed.get(key, "it is not in the store after its sweep")
            raise RuntimeError(f"the ensemble {key} failed to train: {error}")
        return ds
