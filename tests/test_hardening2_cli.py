"""Issue 19 (hardening 2), the command line and the checkpoint: nothing overwritten, every refusal one line before
any work, an interruption that says how to resume. Each test failed before its fix.
"""

import shlex
import shutil

import numpy as np
import pytest
import torch
import xarray as xr
from cli_checks import TINY, one_line_error

import dynamics
import training
from dynamics import catalog
from fittest.cli import main

EVERY = ["--checkpoint-every", "5"]  # a checkpoint at step 10 of 12


@pytest.fixture
def no_fitting(monkeypatch):
    monkeypatch.setattr(dynamics, "fit", lambda *a, **k: pytest.fail("fitting started"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A real checkpoint of TINY + EVERY at step 10, kept because it was named."""
    folder = tmp_path_factory.mktemp("checkpoint")
    path = folder / "run.ckpt"
    assert main(["train", *TINY, *EVERY, "--checkpoint", str(path), "--out", str(folder / "run.nc")]) == 0
    return path


@pytest.fixture
def trajectories(tmp_path):
    path = tmp_path / "in.nc"
    xr.Dataset({"amplitude": (("step", "frequency"), np.exp(-np.outer(np.arange(20.0), [0.1, 0.2])))}).to_netcdf(path)
    return path


# 1. an output onto its own input is refused before any work


def test_fit_out_onto_its_input_is_refused(trajectories, capsys, no_fitting):
    before = trajectories.read_bytes()
    assert main(["fit", str(trajectories), "--out", str(trajectories)]) == 2
    assert "same path as the input" in one_line_error(capsys, "fit")
    assert trajectories.read_bytes() == before


def test_fit_out_onto_its_input_through_another_spelling_is_refused(trajectories, capsys, monkeypatch, no_fitting):
    monkeypatch.chdir(trajectories.parent)
    assert main(["fit", "in.nc", "--model", "linear", "--out", f"./../{trajectories.parent.name}/in.nc"]) == 2
    assert "same path as the input" in one_line_error(capsys, "fit")


def test_report_out_onto_an_input_is_named_as_such(trajectories, capsys):
    assert main(["report", str(trajectories), "--data", str(trajectories), "--out", str(trajectories)]) == 2
    assert "same path as --data" in one_line_error(capsys, "report")


def test_figures_out_onto_the_cache_is_refused(tmp_path, capsys, monkeypatch):
    import paper_figures

    monkeypatch.setattr(paper_figures, "make_figures", lambda *a, **k: pytest.fail("figures started"))
    assert main(["figures", "fig13", "--out", str(tmp_path), "--cache", str(tmp_path)]) == 2
    assert "same path as --cache" in one_line_error(capsys, "figures")


# 2. a checkpoint path never overwrites a file that is not a checkpoint; a damaged checkpoint is one line


def test_checkpoint_onto_a_run_dataset_is_refused(trajectories, tmp_path, capsys, no_training):
    before = trajectories.read_bytes()
    assert main(["train", *TINY, "--checkpoint", str(trajectories), "--out", str(tmp_path / "run.nc")]) == 2
    assert "not a fittest checkpoint" in one_line_error(capsys, "train")
    assert trajectories.read_bytes() == before


def test_saving_a_checkpoint_onto_a_foreign_file_is_refused(trajectories):
    from fittest.errors import InputError
    from training.engine.checkpoint import save_checkpoint

    before = trajectories.read_bytes()
    with pytest.raises(InputError, match="not a fittest checkpoint"):  # the guard for callers of the library
        save_checkpoint(trajectories, training.TrainConfig(), 0, [], {}, {})
    assert trajectories.read_bytes() == before


@pytest.mark.parametrize("damage", ["no params", "step beyond steps", "negative step"])
def test_a_damaged_checkpoint_is_one_line(damage, checkpoint, tmp_path, capsys):
    state = torch.load(checkpoint, weights_only=True)
    if damage == "no params":
        del state["params"]
    else:
        state["step"] = 999 if damage == "step beyond steps" else -1
    broken = tmp_path / "broken.ckpt"
    torch.save(state, broken)
    words = ["train", *TINY, *EVERY, "--checkpoint", str(broken), "--resume", "--out", str(tmp_path / "run.nc")]
    assert main(words) == 2
    err = one_line_error(capsys, "train")
    assert str(broken) in err and ("damaged" in err)
    assert not (tmp_path / "run.nc").exists()


# 4. the demo never overwrites an earlier demo's results


@pytest.mark.parametrize("present", ["run.nc", "report"])
def test_demo_into_a_folder_with_results_is_refused(present, tmp_path, capsys, no_training):
    (tmp_path / present).write_text("earlier result")
    assert main(["demo", "--out", str(tmp_path), "--p", "11", "--d", "8", "--runs", "1", "--steps", "12"]) == 2
    assert present in one_line_error(capsys, "demo")
    assert (tmp_path / present).read_text() == "earlier result"


# 10. the demo checks the free space before training


def test_demo_checks_free_space_before_training(tmp_path, capsys, monkeypatch, no_training):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1000))
    assert main(["demo", "--out", str(tmp_path / "demo"), "--steps", "12"]) == 2
    assert "only 1000 B is free" in one_line_error(capsys, "demo")
    assert list(tmp_path.iterdir()) == []


# 16. messages that name the right thing


def test_an_empty_store_is_called_empty(capsys):
    assert main(["sweep", "no-such-spec.toml", "--store", ""]) == 2
    assert "--store is empty" in one_line_error(capsys, "sweep")


def test_runs_per_task_zero_names_the_option(capsys):
    assert main(["sweep", "no-such-spec.toml", "--store", "s", "--runs-per-task", "0"]) == 2
    err = one_line_error(capsys, "sweep")
    assert "--runs-per-task must be an integer >= 1" in err and "max_runs" not in err


def test_a_checkpoint_folder_suggests_a_file_inside_it(tmp_path, capsys, no_training):
    assert main(["train", *TINY, "--checkpoint", str(tmp_path), "--out", str(tmp_path / "run.nc")]) == 2
    assert f"is a folder: give a file name inside it, e.g. '{tmp_path}/run.nc.ckpt'" in one_line_error(capsys, "train")


def test_fit_on_a_folder_says_it_is_a_folder(tmp_path, capsys):
    assert main(["fit", str(tmp_path)]) == 2
    err = one_line_error(capsys, "fit")
    assert "is a folder" in err and "no such file" not in err


def test_fit_out_and_report_on_one_path_is_refused_before_fitting(trajectories, tmp_path, capsys, no_fitting):
    same = str(tmp_path / "D")
    assert main(["fit", str(trajectories), "--out", same, "--report", same]) == 2
    assert "same path as --report" in one_line_error(capsys, "fit")
    assert not (tmp_path / "D").exists()


# 20. an interruption says how to resume; a rerun without --resume does not silently start from step 0


def test_an_interruption_prints_the_command_that_resumes_and_that_command_works(
    checkpoint, tmp_path, capsys, monkeypatch
):
    out = tmp_path / "run.nc"
    kept = tmp_path / "run.nc.ckpt"  # the default checkpoint of --out

    def interrupted(config, *, checkpoint: str, **kwargs):
        shutil.copy(checkpoint_file, checkpoint)  # step 10 was saved, then Ctrl-C
        raise KeyboardInterrupt

    checkpoint_file = checkpoint
    monkeypatch.setattr(training, "train", interrupted)
    assert main(["train", *TINY, *EVERY, "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("fittest train: interrupted; checkpoint"), err
    command = err.split("continue with: ", 1)[1]
    assert str(kept) in err and command.endswith(" --resume")
    monkeypatch.undo()

    words = shlex.split(command)
    assert words[:2] == ["fittest", "train"]
    assert main(words[1:]) == 0  # the printed command resumes the run to its end
    assert out.exists() and not kept.exists()
    assert xr.open_dataset(out).sizes["step"] > 0


def test_a_rerun_without_resume_on_a_kept_checkpoint_is_refused(checkpoint, tmp_path, capsys, no_training):
    words = ["train", *TINY, *EVERY, "--checkpoint", str(checkpoint), "--out", str(tmp_path / "run.nc")]
    assert main(words) == 2
    err = one_line_error(capsys, "train")
    assert "exists (an interrupted run)" in err and "--resume" in err


# 22. the demo fits with the paper's forward differences, which are not fit's default: it says so, and how to match


def test_demo_says_which_derivative_it_fits_and_how_fit_reproduces_it(tmp_path, capsys, monkeypatch):
    calls = []

    def fit(data, model, **kwargs):
        calls.append(kwargs)
        raise KeyboardInterrupt  # enough seen: stop the demo here

    monkeypatch.setattr(dynamics, "fit", fit)
    words = ["demo", "--out", str(tmp_path / "demo"), "--p", "11", "--d", "8", "--runs", "1", "--steps", "12"]
    assert main(words) == 130
    used = calls[0].get("derivative", catalog.DEFAULT_DERIVATIVE)
    out = capsys.readouterr().out
    assert used != catalog.DEFAULT_DERIVATIVE  # else the line below would be needless
    assert f"fittest fit defaults to --derivative {catalog.DEFAULT_DERIVATIVE}" in out
    assert f"add --derivative {used} to reproduce these numbers" in out


# 12. a path that is not UTF-8 is saved and printed back as the bytes it came from


def test_fit_saves_and_names_a_non_utf8_path(trajectories, capsysbinary):
    import os

    out = trajectories.parent / os.fsdecode(b"fit-\xff.nc")
    assert main(["fit", str(trajectories), "--model", "linear", "--out", str(out)]) == 0
    assert out.exists()
    assert b"saved " + os.fsencode(out) in capsysbinary.readouterr().out
