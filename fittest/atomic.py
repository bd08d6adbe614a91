"""Atomic writes: a result file is either complete or absent, never half-written."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from fittest.errors import InputError

if TYPE_CHECKING:  # the type only: importing xarray here would slow every command's start-up
    import xarray as xr


TEMP_SUFFIX = ".fittest-tmp"
"""Temporary files are ``<name>.<pid>.fittest-tmp`` beside their output: visible, and the PID says whose."""


def temp_path(path: str | os.PathLike) -> Path:
    """The temporary file this process writes ``path`` through: ``<name>.<pid>.fittest-tmp`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.name}.{os.getpid()}{TEMP_SUFFIX}")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # someone else's process: alive
        return True
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files of ``path`` left by processes that are gone (killed during a write).

    Returns:
        The files removed.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    pattern = re.compile(re.escape(path.name) + r"\.(\d+)" + re.escape(TEMP_SUFFIX) + "$")
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = pattern.match(name)
        if match and not _alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                (folder / name).unlink()
                removed.append(folder / name)
    return removed


def _full_disk(error: BaseException) -> bool:
    """Whether a failed write ran out of space: errno ENOSPC, or h5py's text for it (its errors carry no errno)."""
    if getattr(error, "errno", None) == errno.ENOSPC:
        return True
    text = str(error)
    return f"errno = {errno.ENOSPC}," in text or os.strerror(errno.ENOSPC) in text


def write_error(path: str | os.PathLike, error: BaseException, *, what: str = "output") -> InputError:
    """The one-line error for a failed write of ``path`` (a full disk, a read-only folder, an I/O error)."""
    if _full_disk(error):
        reason = os.strerror(errno.ENOSPC)
    else:
        # h5py's messages run over several lines with timestamps and buffer addresses: the first line says it
        text = getattr(error, "strerror", None) or str(error)
        reason = (text.strip().splitlines() or [type(error).__name__])[0]
    return InputError(
        f"could not write {what} {str(path)!r} ({reason}); nothing was written there: free space or choose another path"
    )


def _check_node(path: Path, what: str) -> None:
    """Refuse an existing ``path`` that is not a regular file (or a link to one): a device, a FIFO, a socket.

    ``os.replace`` would swap such a node for a regular file and report success.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:  # missing, or a dangling link: a new file is written there
        return
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        raise InputError(
            f"{what} {str(path)!r} exists and is not a regular file (a device, FIFO or socket): choose a file path"
        )


def write_atomic(path: str | os.PathLike, write: Callable[[Path], None], *, what: str = "output") -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``.

    The temporary file is ``<name>.<pid>.fittest-tmp`` (:func:`temp_path`); those of earlier processes that
    were killed during a write of the same ``path`` are removed first (:func:`remove_stale_temps`).

    Arguments:
        path: the destination. Its folder must exist.
        write: writes the whole content to the path it is given.
        what: how messages name the file.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: the destination folder does not exist, the destination is a folder, or the write failed
            with an :class:`OSError` (full disk, read-only folder); the temporary file is removed and an
            existing ``path`` is left as it was.
    """
    path = output_file(path, what=what, probe=False)
    remove_stale_temps(path)
    tmp = temp_path(path)
    try:
        # a plain open() gives the result the permissions of any new file (umask applied)
        with open(tmp, "wb"):
            pass
        write(tmp)
        _check_node(path, what)  # a node made during the write: the check before it was not enough
        os.replace(tmp, path)
    except OSError as error:
        raise write_error(path, error, what=what) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _nonempty(path: str | os.PathLike, what: str) -> Path:
    if not str(os.fspath(path)).strip():
        raise InputError(f"{what} path is empty: give a file or folder name")
    return Path(path)


EXAMPLE_NAMES = {"checkpoint": "run.nc.ckpt", "fit": "fit.nc"}
"""The file name a message suggests inside a folder given for a file, by what the file is (else ``run.nc``)."""


def check_writable(folder: str | os.PathLike, *, what: str = "output") -> Path:
    """Check that a file can be created in ``folder`` by creating (and at once removing) one.

    A real attempt, not permission bits: it finds read-only filesystems, and folders that root may not write.

    Raises:
        InputError: no file can be created there.
    """
    folder = Path(folder)
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".fittest-probe-"):
            pass
    except OSError as error:
        raise InputError(
            f"cannot write the {what} in folder {str(folder)!r} ({error.strerror or error}): choose a folder you"
            " can write to"
        ) from None
    return folder


def check_free_space(path: str | os.PathLike, nbytes: int, *, what: str = "output") -> None:
    """Check that the filesystem of ``path`` (a file or its folder) has room for about ``nbytes``.

    Raises:
        InputError: less is free than ``nbytes``.
    """
    path = Path(path)
    folder = path if path.is_dir() else (path.parent if str(path.parent) else Path("."))
    free = shutil.disk_usage(folder).free
    if nbytes > free:
        raise InputError(
            f"the {what} {str(path)!r} needs about {format_bytes(nbytes)} but only {format_bytes(free)} is free"
            f" there: free space or choose another path"
        )


def format_bytes(nbytes: float) -> str:
    """``nbytes`` as ``'1.5 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(nbytes) < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.3g} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def output_file(path: str | os.PathLike, *, what: str = "output", probe: bool = True) -> Path:
    """Check that a result file can be written at ``path``: its folder exists and is writable, ``path`` is not a folder.

    Call it before a long job so that a bad destination fails first; :func:`write_atomic` calls it too.

    Arguments:
        path: the destination file.
        what: how messages name the file (``"output"``, ``"checkpoint"``, ...).
        probe: also create (and remove) a file in the folder, so that a read-only folder fails now.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: the path is empty, the folder does not exist or cannot be written, or ``path`` is a folder or
            another node that is not a regular file (a device, a FIFO, a socket).
    """
    path = _nonempty(path, what)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{what} folder {str(folder)!r} does not exist: create it first or choose another path")
    if path.is_dir():
        example = path / EXAMPLE_NAMES.get(what, "run.nc")
        raise InputError(f"{what} {str(path)!r} is a folder: give a file name inside it, e.g. {str(example)!r}")
    _check_node(path, what)
    if probe:
        check_writable(folder, what=what)
    return path


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name one file (also through links and relative spellings, existing or not)."""
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_distinct(output: str | os.PathLike, others: Mapping[str, str | os.PathLike | None], *, what: str) -> None:
    """Refuse an output that names the same file or folder as another path of the same job.

    Call it before the work, with the job's inputs (the output would replace the data it is computed from) and
    its other outputs (one would replace the other, or a folder could not be made where a file was saved).

    Arguments:
        output: the output path.
        others: how messages name each other path (``"the input"``, ``"--report"``) -> the path; None and empty
            paths are skipped.
        what: how messages name ``output`` (``"--out"``, ``"output"``).

    Raises:
        InputError: ``output`` and one of ``others`` are one path (also through links or relative spellings).
    """
    for label, other in others.items():
        if other is None or not str(os.fspath(other)).strip():
            continue
        if same_file(output, other):
            raise InputError(
                f"{what} {str(output)!r} is the same path as {label} {str(other)!r}: writing it would replace that;"
                f" choose another {what}"
            )


def lock_path(path: str | os.PathLike) -> Path:
    """The lock file of an output: ``<name>.lock`` beside it."""
    path = Path(path)
    return path.with_name(f"{path.name}.lock")


@contextlib.contextmanager
def output_lock(path: str | os.PathLike, *, what: str = "output", command: str | None = None) -> Iterator[Path]:
    """Hold an exclusive OS lock (``filelock``) on ``<path>.lock`` while this process owns the output ``path``.

    The lock is taken beside the resolved path, so that a symbolic link to an output cannot be a second way in.
    The lock file holds the PID and the command, so that a second writer's error says who holds it; it is
    removed on release, and the OS drops the lock of a process that dies. Stale temporary files of ``path``
    are removed once the lock is held.

    Arguments:
        path: the output this process is about to write.
        what: how messages name the output.
        command: how a second writer's error names this process (by default its command line).

    Returns:
        A context manager that yields ``path`` as a :class:`~pathlib.Path` while the lock is held.

    Raises:
        InputError: another process holds the lock, or the lock file cannot be created (a read-only folder).
    """
    from filelock import FileLock, Timeout

    path = output_file(path, what=what, probe=False)
    lock = lock_path(path.resolve())
    guard = FileLock(lock, timeout=0)
    try:
        guard.acquire()
    except Timeout:
        try:
            holder = lock.read_bytes().decode("utf-8", "replace").strip()
        except OSError:
            holder = ""
        raise InputError(
            f"{what} {str(path)!r} is in use by {holder or 'another process'} (lock {str(lock)!r}): wait for it to"
            " finish or choose another path"
        ) from None
    except OSError as error:
        raise InputError(
            f"cannot write the {what} in folder {str(lock.parent)!r} ({error.strerror or error}): choose a folder"
            " you can write to"
        ) from None
    try:
        holder = f"PID {os.getpid()}" + (f" ({command})" if command else f" ({' '.join(sys.argv)})")
        # a path that is not UTF-8 reaches here as surrogate escapes: write back the bytes it came from
        lock.write_bytes(holder.encode("utf-8", "surrogateescape"))
        remove_stale_temps(path)
        yield path
    finally:
        # removed while still held: filelock re-checks after locking that its file was not unlinked meanwhile
        with contextlib.suppress(OSError):
            lock.unlink()
        guard.release()


def write_netcdf(ds: xr.Dataset, path: str | os.PathLike) -> Path:
    """Write ``ds`` to ``path`` as netCDF (engine ``h5netcdf``), atomically.

    Arguments:
        ds: the dataset to store.
        path: the ``.nc`` destination; its folder must exist.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        InputError: the destination folder does not exist, the destination is a folder or a special file, less
            space is free than the data take, or the write failed (full disk, I/O error); no temporary file is left
            behind.
    """

    # h5py has crashed the process on a disk that filled during a write: refuse a write that cannot fit first
    check_free_space(output_file(path, probe=False), int(ds.nbytes))

    def write(tmp: Path) -> None:
        try:
            ds.to_netcdf(tmp, engine="h5netcdf")
        except RuntimeError as error:  # h5py reports some failed writes (a full disk at close) as RuntimeError
            raise OSError(str(error)) from error

    return write_atomic(path, write)


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
        InputError: ``path`` is empty or a file, its parent folder does not exist, or it cannot be written.
    """
    path = _nonempty(path, "output folder")
    if path.exists() and not path.is_dir():
        raise InputError(f"{str(path)!r} is a file, not a folder: choose a folder for the results")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"the parent folder {str(parent)!r} of {str(path)!r} does not exist: create it first")
    check_writable(path if path.is_dir() else parent, what="results")
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
    if path.is_dir():
        raise InputError(f"{str(path)!r} is a folder, not a file: give {what} inside it")
    if not path.is_file():
        raise InputError(f"{str(path)!r} is not {what}: no such file")
    try:
        with xr.open_dataset(path) as opened:
            return opened.load()
    except Exception as error:  # h5py, scipy and xarray raise many types for a file that is not netCDF
        # their messages run over several lines (xarray's lists its engines and links): keep the first
        reason = (str(error).strip().splitlines() or [""])[0]
        raise InputError(
            f"{str(path)!r} is not {what}: cannot be read as netCDF ({type(error).__name__}: {reason})"
        ) from None
