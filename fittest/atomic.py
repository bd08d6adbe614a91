"""Atomic writes: a result file is either complete or absent, never half-written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fittest.errors import InputError

if TYPE_CHECKING:  # the type only: importing xarray here would slow every command's start-up
    import xarray as xr


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``.

    Arguments:
        path: the destination. Its folder must exist.
        write: writes the whole content to the path it is given.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: the destination folder does not exist, or the destination is a folder.
    """
    path = output_file(path)
    folder = path.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates the file private (0600); give the result the permissions a plain open() would have
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def output_file(path: str | os.PathLike, *, what: str = "output") -> Path:
    """Check that a result file can be written at ``path``: its folder exists and ``path`` is not a folder.

    Call it before a long job so that a bad destination fails first; :func:`write_atomic` calls it too.

    Arguments:
        path: the destination file.
        what: how messages name the file (``"output"``, ``"checkpoint"``, ...).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: the folder does not exist, or ``path`` is a folder.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{what} folder {str(folder)!r} does not exist: create it first or choose another path")
    if path.is_dir():
        raise InputError(f"{what} {str(path)!r} is a folder: give a file name inside it, e.g. {str(path / 'run.nc')!r}")
    return path


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to ``path`` as netCDF (engine ``h5netcdf``), atomically.

    Arguments:
        ds: the dataset to store.
        path: the ``.nc`` destination; its folder must exist.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: the destination folder does not exist, or the destination is a folder.
    """
    return write_atomic(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf"))


def output_folder(path: str | os.PathLike, *, create: bool = True) -> Path:
    """Check (and by default make) a result folder: its parent must exist and it must not be a file.

    Only the last level is made, never a chain of missing parents, so a mistyped parent fails instead of
    quietly creating a tree elsewhere. Call it with ``create=False`` before a long job to fail early, and
    again with ``create=True`` when the results are ready, so a failed job leaves no empty folder behind.

    Arguments:
        path: the folder.
        create: make it when it is missing.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: ``path`` is a file, or its parent folder does not exist.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{str(path)!r} is a file, not a folder: choose a folder for the results")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"the parent folder {str(parent)!r} of {str(path)!r} does not exist: create it first")
    if create:
        path.mkdir(exist_ok=True)
    return path


def read_netcdf(path: str | os.PathLike, *, what: str = "a netCDF file") -> xr.Dataset:
    """Load a whole netCDF file (netCDF4/HDF5 or netCDF3, whichever engine xarray picks) into memory.

    Arguments:
        path: the file.
        what: what the file should be, for the error message ("'x.nc' is not {what}: no such file").

    Returns:
        The dataset, fully loaded; the file is closed again, so it may be overwritten.

    Raises:
        InputError: the file is missing, or no netCDF engine can read it.
    """
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{str(path)!r} is not {what}: no such file")
    try:
        with xr.open_dataset(path) as opened:
            return opened.load()
    except Exception as error:  # h5py, scipy and xarray raise many types for a file that is not netCDF
        raise InputError(
            f"{str(path)!r} is not {what}: cannot be read as netCDF ({type(error).__name__}: {error})"
        ) from None
