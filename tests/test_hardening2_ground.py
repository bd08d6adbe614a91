"""Issue 19 (hardening 2), the ground floor: atomic writes, output checks, locks, progress, the version.

Each test failed before its fix.
"""

import errno
import fcntl
import importlib
import os
import pty
import select
import shutil
import socket
import struct
import subprocess
import sys
import termios
import textwrap

import numpy as np
import pytest
import xarray as xr

import fittest.atomic as atomic
from fittest.atomic import output_file, output_lock, read_netcdf, write_atomic, write_netcdf
from fittest.errors import InputError

progress_module = importlib.import_module("fittest.progress")  # the package attribute is the function


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    return message


def dataset() -> xr.Dataset:
    return xr.Dataset({"x": ("t", np.arange(100.0))})


# 3. a path that exists and is not a regular file is never replaced


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_a_fifo_is_refused_by_the_output_check_and_left_in_place(fifo):
    with pytest.raises(InputError, match="not a regular file") as error:
        output_file(fifo)
    assert "pipe" in one_line(error)
    written = []
    with pytest.raises(InputError, match="not a regular file"):
        write_atomic(fifo, lambda tmp: written.append(tmp))
    assert written == []  # refused before the work
    assert fifo.is_fifo() and sorted(p.name for p in fifo.parent.iterdir()) == ["pipe"]


def test_a_character_device_is_refused():
    with pytest.raises(InputError, match="not a regular file"):
        output_file("/dev/null", probe=False)


def test_a_socket_is_refused(tmp_path):
    path = tmp_path / "s"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(path))
        with pytest.raises(InputError, match="not a regular file"):
            write_netcdf(dataset(), path)
        assert path.is_socket()
    finally:
        server.close()


def test_a_node_that_appears_during_the_write_is_not_replaced(tmp_path):
    out = tmp_path / "out.nc"

    def write(tmp):
        tmp.write_bytes(b"result")
        os.mkfifo(out)  # another process made a FIFO at the destination meanwhile

    with pytest.raises(InputError, match="not a regular file"):
        write_atomic(out, write)
    assert out.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == ["out.nc"]


def test_a_regular_file_and_a_link_to_one_are_still_replaced(tmp_path):
    (tmp_path / "old.nc").write_text("old")
    (tmp_path / "link.nc").symlink_to(tmp_path / "old.nc")
    for name in ("old.nc", "link.nc"):
        write_atomic(tmp_path / name, lambda tmp: tmp.write_text("new"))
        assert (tmp_path / name).read_text() == "new"


# 10. a disk that fills: checked before the work, and a late ENOSPC is one line with no temporary file left


def test_write_netcdf_checks_free_space_before_writing(tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda path: usage._replace(free=100))
    monkeypatch.setattr(xr.Dataset, "to_netcdf", lambda *a, **k: pytest.fail("written despite the full disk"))
    with pytest.raises(InputError, match="only 100 B is free") as error:
        write_netcdf(dataset(), tmp_path / "out.nc")
    one_line(error)
    assert list(tmp_path.iterdir()) == []


H5_FULL = (
    "Can't write data (file write failed: time = Sat Dec  5 12:00:00 2026\n, filename = 'x', file descriptor = 5,"
    " errno = 28, error message = 'No space left on device', buf = 0x1, total write size = 8192)"
)


@pytest.mark.parametrize(
    "error",
    [OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), OSError(H5_FULL), RuntimeError(H5_FULL)],
    ids=["errno", "h5py-oserror", "h5py-runtimeerror"],
)
def test_a_full_disk_during_the_write_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch, error):
    (tmp_path / "out.nc").write_text("previous")

    def fill(self, path, **kwargs):
        with open(path, "wb") as file:
            file.write(b"\0" * 4096)  # part of the file is on disk when the disk fills
        raise error

    monkeypatch.setattr(xr.Dataset, "to_netcdf", fill)
    with pytest.raises(InputError) as raised:
        write_netcdf(dataset(), tmp_path / "out.nc")
    message = one_line(raised)
    assert "(No space left on device)" in message and "'x'" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nc"]
    assert (tmp_path / "out.nc").read_text() == "previous"


# 12. a path that is not UTF-8 (surrogate escapes) in the lock


def test_a_non_utf8_path_can_be_locked_and_its_holder_named(tmp_path):
    out = tmp_path / os.fsdecode(b"run-\xff.nc")
    with output_lock(out, command=f"fittest train --out {out}"):
        with pytest.raises(InputError, match="in use by PID") as error:
            with output_lock(out):
                pass
        assert "fittest train --out" in one_line(error)
    assert list(tmp_path.iterdir()) == []


# 15. the lock is taken on the resolved path: a symlink does not bypass it


def test_a_symlink_to_a_locked_output_is_refused(tmp_path):
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "run.nc").write_text("result")
    (tmp_path / "link.nc").symlink_to(tmp_path / "store" / "run.nc")
    with output_lock(tmp_path / "store" / "run.nc", command="first"):
        with pytest.raises(InputError, match="in use by PID .* \\(first\\)"):
            with output_lock(tmp_path / "link.nc"):
                pass
    with output_lock(tmp_path / "link.nc"):  # released: free again, through either name
        pass
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["link.nc", "run.nc", "store"]


# 16. messages: a folder given for a file


def test_a_checkpoint_folder_suggests_a_checkpoint_name(tmp_path):
    with pytest.raises(InputError, match="is a folder") as error:
        output_file(tmp_path, what="checkpoint")
    assert repr(str(tmp_path / "run.nc.ckpt")) in one_line(error)


def test_reading_a_folder_says_it_is_a_folder(tmp_path):
    with pytest.raises(InputError, match="is a folder, not a file") as error:
        read_netcdf(tmp_path)
    assert "no such file" not in one_line(error)


# 18. a real terminal gets a bar


BAR = textwrap.dedent(
    """
    from fittest.progress import progress
    bar = progress(total=3, desc="pty", unit="step")
    for _ in range(3):
        bar.update(1)
    bar.close()
    """
)


def test_a_terminal_gets_a_live_bar():
    controller, terminal = pty.openpty()
    # a new pseudo-terminal is 0 columns wide, and a bar fitted to it would be empty: give it a terminal's size
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    child = subprocess.Popen([sys.executable, "-c", BAR], stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    output = b""
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 600)  # a hung child, not a slow one
            if not ready:
                break
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(controller)
        child.wait(timeout=600)
    text = output.decode("utf-8", "replace")
    assert child.returncode == 0, text
    assert "pty:" in text and "3/3" in text and "100%" in text and "\r" in text


# 20. a resumed job's rate counts only the steps of this session


def test_a_resumed_bar_starts_at_its_initial_count_and_rates_only_new_steps(monkeypatch, capsys):
    monkeypatch.setattr(progress_module, "LOG_INTERVAL", 0.0)
    bar = progress_module.progress(total=100, initial=50, desc="train", unit="step")
    now = [0.0]
    bar._time = lambda: now[0]  # one step a second, whatever the machine's load
    bar.start_t = bar.last_print_t = 0.0
    for _ in range(10):
        now[0] += 1.0
        bar.update(1)
    assert bar.n == 60
    meter = bar.format_dict
    assert meter["initial"] == 50
    rate = meter["rate"] or (meter["n"] - meter["initial"]) / meter["elapsed"]
    assert rate == pytest.approx(1.0)
    bar.close()
    assert "60/100" in capsys.readouterr().err


# 21. in a notebook without ipywidgets tqdm's IProgress warning does not escape


NOTEBOOK = textwrap.dedent(
    """
    import sys, types, warnings
    warnings.simplefilter("error")
    # what tqdm.autonotebook takes for a Jupyter kernel
    sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")
    kernel = types.SimpleNamespace(config={"IPKernelApp": {}})
    sys.modules["IPython"] = types.SimpleNamespace(get_ipython=lambda: kernel)
    sys.modules["ipywidgets"] = None  # not installed
    from fittest.progress import progress
    bar = progress(total=2, desc="nb")
    bar.update(2)
    bar.close()
    print(type(bar).__module__)
    """
)


def test_a_notebook_without_ipywidgets_gets_the_text_bar_and_no_warning():
    done = subprocess.run([sys.executable, "-c", NOTEBOOK], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "IProgress" not in done.stderr and "Warning" not in done.stderr
    assert done.stdout.strip() == "tqdm.std" and "2/2" in done.stderr


# the version has one source: the installed package's metadata


def test_the_version_is_the_installed_metadata():
    script = (
        "import importlib.metadata as m; m.version = lambda name: '9.8.7' if name == 'fittest' else None;"
        " import fittest; print(fittest.__version__)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "9.8.7", done.stderr
