"""Reading a run dataset back from disk, with the checks that the data contract (DESIGN.md section 2) asks for."""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

from fittest.errors import InputError

SCHEMA = "fittest.run/1"
REQUIRED_VARIABLES = (
    "amplitude",
    "signal",
    "grad_signal",
    "train_loss",
    "test_loss",
    "train_acc",
    "test_acc",
    "embedding",
)
REQUIRED_COORDS = ("run", "step", "frequency", "snapshot")


def open_run(path: str | os.PathLike) -> xr.Dataset:
    """Load a run dataset written by :func:`training.train` into memory and check it.

    Arguments:
        path: a ``.nc`` file.

    Returns:
        The dataset, fully loaded (the file is closed again, so it may be overwritten).

    Raises:
        InputError: the file is missing, is not netCDF, or lacks the variables, coordinates or schema of a run
            dataset.
    """
    path = Path(path)

    def refuse(why: str) -> InputError:
        return InputError(f"{str(path)!r} is not a fittest run dataset: {why}")

    if not path.is_file():
        raise refuse("no such file")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as opened:
            ds = opened.load()
    except Exception as error:  # h5py and xarray raise many types for a file that is not netCDF
        raise refuse(f"cannot be read as netCDF ({type(error).__name__}: {error})") from None
    missing = [name for name in REQUIRED_VARIABLES if name not in ds.data_vars]
    missing += [name for name in REQUIRED_COORDS if name not in ds.coords]
    if missing:
        raise refuse(f"missing {', '.join(missing)}")
    schema = ds.attrs.get("schema")
    if schema != SCHEMA:
        raise refuse(f"schema attribute is {schema!r}, expected {SCHEMA!r}")
    return ds
