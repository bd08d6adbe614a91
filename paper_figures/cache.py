"""An on-disk cache of trained run datasets, keyed by the training configuration.

Every figure asks for its ensembles through :class:`RunCache`; a configuration trained once is read back
from disk afterwards, so a second call of a figure only redraws, and figures that need the same ensemble
(the default one at p = 59, d = 128 serves seven of them) share it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import xarray as xr

import training
from fittest import __version__
from fittest.atomic import write_atomic, write_netcdf
from fittest.errors import InputError

DEFAULT_FOLDER = ".fittest-cache"


def config_dict(config) -> dict:
    """A training configuration as plain values (its ``to_dict()``, or its dataclass fields)."""
    if hasattr(config, "to_dict"):
        return dict(config.to_dict())
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return dict(vars(config))


def config_key(config) -> str:
    """A stable hex digest of a training configuration and the toolkit's version.

    The version is part of the key because a new version may record differently; the device is not,
    because the same configuration trained on a GPU or a CPU is the same experiment.
    """
    values = config_dict(config)
    values.pop("device", None)
    text = json.dumps({"config": values, "fittest": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class RunCache:
    """Trained run datasets on disk, one netCDF file per training configuration.

    Arguments:
        folder: where the files live (created on first write); default ``.fittest-cache``.
        enabled: when False, nothing is read or written and every request trains.

    Raises:
        InputError: ``folder`` exists and is not a folder.

    Attributes:
        trained: the keys trained by this object (the rest were read from disk).
        used: every configuration requested, as ``{key: config dict}``, for the figures' JSON.
        requests: the key of every request in order, repeats included (a figure's share is a slice of it).
    """

    def __init__(self, folder: str | os.PathLike = DEFAULT_FOLDER, *, enabled: bool = True):
        self.folder = Path(folder)
        if enabled and self.folder.exists() and not self.folder.is_dir():
            raise InputError(f"cache {str(self.folder)!r} is a file: give a folder with --cache, or --no-cache")
        self.enabled = enabled
        self.trained: list[str] = []
        self.used: dict[str, dict] = {}
        self.requests: list[str] = []

    def path(self, config) -> Path:
        """The file that holds (or will hold) the dataset of ``config``."""
        return self.folder / f"run-{config_key(config)}.nc"

    def __contains__(self, config) -> bool:
        return self.enabled and self.path(config).is_file()

    def get(self, config) -> xr.Dataset:
        """The run dataset of ``config``: read from the cache, or trained with ``training.train`` and stored.

        Arguments:
            config: a ``training.TrainConfig``.

        Returns:
            The run dataset (DESIGN.md section 2), loaded into memory.
        """
        key = config_key(config)
        self.used[key] = config_dict(config)
        self.requests.append(key)
        path = self.path(config)
        if self.enabled and path.is_file():
            return training.open_run(path)
        ds = training.train(config)
        self.trained.append(key)
        if self.enabled:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_netcdf(ds, path)
            sidecar = json.dumps(self.used[key], indent=1, sort_keys=True, default=str)
            write_atomic(path.with_suffix(".json"), lambda tmp: tmp.write_text(sidecar))
        return ds
