"""Issue 13 (hardening): nothing lost, nothing confusing. Each test failed before its fix."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr
from cli_checks import TINY, one_line_error

import fittest.atomic as atomic
import fittest.cli as cli
from fittest.atomic import output_file, output_lock, remove_stale_temps, temp_path, write_atomic, write_netcdf
from fittest.cli import main
from fittest.errors import InputError
from training import TrainConfig
from training.config import SEED_MAX, memory_estimate


@pytest.fixture(scope="module")
def diverged_run(tmp_path_factory):
    """A run dataset whose run 1 diverged (lr 1e30) and run 0 did not."""
    path = tmp_path_factory.mktemp("diverged") / "run.nc"
    assert main(["train", *TINY, "--lr", "0.01", "1e30", "--out", str(path)]) == 0
    return path


# 1. an unwritable destination is found before any work


def test_unwritable_out_is_refused_before_training(tmp_path, capsys, monkeypatch, no_training):
    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.tempfile, "TemporaryFile", read_only)
    assert main(["train", *TINY, "--out", str(tmp_path / "run.nc")]) == 2
    assert "cannot write the output" in one_line_error(capsys, "train")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_without_write_permission_is_refused(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the monkeypatched test covers the refusal")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(InputError, match="cannot write"):
            output_file(folder / "run.nc")
    finally:
        folder.chmod(0o755)


def test_a_read_only_filesystem_is_refused():
    with pytest.raises(InputError, match="cannot write"):
        output_file("/proc/fittest-run.nc")


def test_fit_refuses_an_unwritable_report_folder_before_fitting(diverged_run, tmp_path, capsys, monkeypatch):
    import dynamics

    monkeypatch.setattr(dynamics, "fit", lambda *a, **k: pytest.fail("fitting started"))
    assert main(["fit", str(diverged_run), "--runs", "0", "--report", "/proc/fittest-report"]) == 2
    assert "cannot write" in one_line_error(capsys, "fit")


# 2. a full disk: refused early when the output cannot fit; a failed write is one line and leaves no temp file


def test_train_refuses_when_the_output_cannot_fit_on_disk(tmp_path, capsys, monkeypatch, no_training):
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda path: type("Usage", (), {"free": 1000})())
    assert main(["train", *TINY, "--out", str(tmp_path / "run.nc")]) == 2
    err = one_line_error(capsys, "train")
    assert "needs about" in err and "free" in err
    assert list(tmp_path.iterdir()) == []


def test_a_failed_netcdf_write_is_one_line_and_leaves_no_temp_file(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run.nc"
    out.write_text("old")

    def full_disk(self, path, *args, **kwargs):
        open(path, "wb").write(b"x" * 1000)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", full_disk)
    assert main(["train", *TINY, "--out", str(out)]) == 2
    err = one_line_error(capsys, "train")
    assert "No space left on device" in err
    assert out.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.nc"]  # no temp file, no lock, no checkpoint


def test_an_h5py_runtime_error_at_write_is_an_input_error(tmp_path, monkeypatch):
    def broken(self, path, *args, **kwargs):
        raise RuntimeError("Can't decrement id ref count (unable to close file)")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken)
    with pytest.raises(InputError, match="could not write"):
        write_netcdf(xr.Dataset(), tmp_path / "a.nc")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_checkpoint_write_is_one_line_and_leaves_no_partial_file(tmp_path, capsys, monkeypatch):
    import torch

    checkpoint = tmp_path / "run.ckpt"  # an existing one is refused before training without --resume

    def full_disk(obj, path, *args, **kwargs):
        open(path, "wb").write(b"x")
        raise RuntimeError("[enforce fail at inline_container.cc:595] . PytorchStreamWriter failed writing file")

    monkeypatch.setattr(torch, "save", full_disk)
    options = [*TINY, "--checkpoint-every", "5", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "r.nc")]
    assert main(["train", *options]) == 2
    assert "could not write checkpoint" in one_line_error(capsys, "train")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# 3. the checkpoint must not be the output


def test_checkpoint_and_out_the_same_file_is_refused(tmp_path, capsys, monkeypatch, no_training):
    out = tmp_path / "run.nc"
    out.write_text("previous result")
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY, "--checkpoint", "./run.nc", "--out", str(out)]) == 2
    assert "same file" in one_line_error(capsys, "train")
    assert out.read_text() == "previous result"


# 4. one writer per output; the second says who holds it


HOLD = textwrap.dedent(
    """
    import sys, time
    from fittest.atomic import output_lock
    with output_lock(sys.argv[1], command="fittest train --out held.nc"):
        print("held", flush=True)
        time.sleep(600)  # killed by the test; long enough for any load
    """
)


@pytest.mark.parametrize("held", ["out", "checkpoint"])
def test_a_second_writer_of_the_same_output_is_refused_and_told_who(held, tmp_path, capsys, no_training):
    out, checkpoint = tmp_path / "run.nc", tmp_path / "run.ckpt"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out if held == "out" else checkpoint)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(["train", *TINY, "--checkpoint", str(checkpoint), "--out", str(out)]) == 2
        err = one_line_error(capsys, "train")
        assert f"PID {holder.pid}" in err and "fittest train --out held.nc" in err and "in use" in err
    finally:
        holder.kill()
        holder.wait()
    with output_lock(out):  # the OS dropped the lock of the killed process
        pass
    assert not (tmp_path / "run.nc.lock").exists()


def test_a_lock_is_released_and_its_file_removed(tmp_path):
    out = tmp_path / "run.nc"
    with output_lock(out, command="me"):
        assert (tmp_path / "run.nc.lock").read_text() == f"PID {os.getpid()} (me)"
        with pytest.raises(InputError, match="in use by PID"):
            with output_lock(out):
                pass
    assert list(tmp_path.iterdir()) == []


# 5. temp files are findable, and stale ones of the same output are cleaned up


def dead_pid() -> int:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


def test_temp_files_are_named_by_output_and_pid(tmp_path):
    seen = []
    write_atomic(tmp_path / "run.nc", lambda tmp: seen.append(tmp.name) or tmp.write_text("x"))
    assert seen == [f"run.nc.{os.getpid()}.fittest-tmp"] == [temp_path(tmp_path / "run.nc").name]


def test_stale_temp_files_of_the_output_are_removed_on_the_next_write(tmp_path):
    stale = tmp_path / f"run.nc.{dead_pid()}.fittest-tmp"
    live = tmp_path / f"run.nc.{os.getppid()}.fittest-tmp"  # a running process's write in progress
    other = tmp_path / f"other.nc.{dead_pid()}.fittest-tmp"  # another output's: not ours to judge now
    for path in (stale, live, other):
        path.write_text("half")
    write_netcdf(xr.Dataset({"x": ("t", np.arange(3.0))}), tmp_path / "run.nc")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["run.nc", live.name, other.name])
    assert remove_stale_temps(tmp_path / "other.nc") == [other]


def test_gitignore_ignores_the_temp_files():
    from pathlib import Path

    patterns = (Path(__file__).parents[1] / ".gitignore").read_text().split()
    assert "*.fittest-tmp" in patterns and "*.lock" in patterns


# 6. train without --out never throws the result away


def test_train_without_out_writes_run_nc_and_never_overwrites_it(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY]) == 0
    assert "wrote run.nc" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.nc"]
    before = (tmp_path / "run.nc").read_bytes()
    assert main(["train", *TINY, "--seed", "1"]) == 2
    assert "already exists" in one_line_error(capsys, "train")
    assert (tmp_path / "run.nc").read_bytes() == before


# 7. diverged runs are flagged, and fit leaves them out only when told which runs to fit


def test_diverged_runs_are_flagged_in_the_dataset(diverged_run):
    from training import open_run

    ds = open_run(diverged_run)
    assert ds["diverged"].dims == ("run",) and ds["diverged"].values.tolist() == [False, True]
    assert ds["diverged"].attrs["description"]


def test_train_warns_about_diverged_runs(tmp_path, capsys):
    assert main(["train", *TINY, "--lr", "1e30", "0.01", "--out", str(tmp_path / "run.nc")]) == 0
    err = capsys.readouterr().err
    assert "run(s) 0 of 2 diverged" in err


def test_older_files_without_the_diverged_variable_still_open(diverged_run, tmp_path):
    from training import open_run

    old = tmp_path / "old.nc"
    write_netcdf(open_run(diverged_run).drop_vars("diverged"), old)
    assert "diverged" not in open_run(old)


def test_fit_refuses_diverged_runs_unless_runs_are_selected(diverged_run, capsys):
    assert main(["fit", str(diverged_run)]) == 2
    err = one_line_error(capsys, "fit")
    assert "run(s) 1 diverged" in err and "--runs 0" in err
    assert main(["fit", str(diverged_run), "--runs", "0"]) == 0
    assert "skipped 1" in capsys.readouterr().out
    assert main(["fit", str(diverged_run), "--runs", "0", "1"]) == 2
    assert "leave them out" in one_line_error(capsys, "fit")
    assert main(["fit", str(diverged_run), "--runs", "5"]) == 2
    assert "runs 0..1" in one_line_error(capsys, "fit")


# 8. sizes: the memory a config needs is estimated and refused before anything is allocated


@pytest.mark.parametrize(
    "options",
    [["--p", "1000000"], ["--runs", "1000000"], ["--hidden", "1000000"], ["--d", "10000000"], ["--steps", "1e10"]],
)
def test_configs_too_big_for_memory_are_refused_before_allocating(options, tmp_path, capsys, monkeypatch, no_training):
    import training.engine.loop as loop

    monkeypatch.setattr(loop, "available_memory", lambda device: (16 * 2**30, "this machine"))
    assert main(["train", *TINY, *options, "--out", str(tmp_path / "run.nc")]) == 2
    err = one_line_error(capsys, "train")
    assert "needs about" in err and "16 GiB available" in err
    assert list(tmp_path.iterdir()) == []


def test_memory_estimate_of_the_default_config_is_modest_and_grows_with_size():
    default = sum(memory_estimate(TrainConfig()).values())
    assert 1e6 < default < 2**30
    assert sum(memory_estimate(TrainConfig(runs=400)).values()) > 30 * default
    assert memory_estimate(TrainConfig(p=1009))["pair tables"] > 1009**2 * 8


def test_available_memory_reads_the_machine():
    import torch

    from training.engine.loop import available_memory

    available, where = available_memory(torch.device("cpu"))
    assert available is None or available > 0
    assert where == "this machine"


# 9. seeds: int64 range, checked by the config


@pytest.mark.parametrize("name", ["seed", "embed_seed", "mlp_seed", "split_seed"])
def test_seeds_beyond_int64_are_refused(name):
    with pytest.raises(InputError, match=f"{name} must be an integer in 0..{SEED_MAX}"):
        TrainConfig(**{name: 2**70})
    with pytest.raises(InputError, match=name):
        TrainConfig(**{name: -1})
    assert getattr(TrainConfig(**{name: SEED_MAX}), name) == SEED_MAX


def test_a_huge_seed_on_the_command_line_is_one_line_before_training(tmp_path, capsys, no_training):
    assert main(["train", *TINY, "--seed", str(2**70), "--out", str(tmp_path / "x.nc")]) == 2
    assert "seed must be an integer in 0.." in one_line_error(capsys, "train")


def test_the_largest_seed_trains_and_writes(tmp_path):
    from training import open_run, train

    config = TrainConfig(p=5, d=2, runs=2, steps=2, hidden=2, device="cpu", seed=SEED_MAX, embed_seed=SEED_MAX)
    train(config, out=tmp_path / "x.nc")
    assert int(open_run(tmp_path / "x.nc")["embed_seed"][0]) == SEED_MAX


# 10. Ctrl-C during start-up


def test_ctrl_c_while_building_the_parser_is_one_line_and_exit_130(monkeypatch, capsys):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert main(["train"]) == 130
    assert capsys.readouterr().err == "fittest: interrupted\n"


# 12. empty paths are refused


@pytest.mark.parametrize(
    "command",
    [
        ["train", *TINY, "--out", ""],
        ["train", *TINY, "--checkpoint", "", "--out", "x.nc"],
        ["fit", "DATA", "--runs", "0", "--out", ""],
        ["fit", "DATA", "--runs", "0", "--report", ""],
        ["report", "fit.nc", "--data", "DATA", "--out", ""],
        ["demo", "--out", ""],
        ["figures", "fig02", "--out", ""],
        ["figures", "fig02", "--cache", ""],
    ],
)
def test_empty_paths_are_refused(command, diverged_run, tmp_path, capsys, monkeypatch, no_training):
    monkeypatch.chdir(tmp_path)
    command = [str(diverged_run) if word == "DATA" else word for word in command]
    assert main(command) == 2
    assert "empty" in one_line_error(capsys, command[0])
    assert list(tmp_path.iterdir()) == []


# 16. the per-run seed coordinates say which seed is which


def test_seed_coordinates_say_which_seed_is_which(diverged_run):
    from training import open_run

    ds = open_run(diverged_run)
    assert "base seed, the same for every run" in ds["seed"].attrs["description"]
    assert "embed_seed, mlp_seed and split_seed" in ds["seed"].attrs["description"]
    for name in ("embed_seed", "mlp_seed", "split_seed"):
        assert "this run's" in ds[name].attrs["description"]
