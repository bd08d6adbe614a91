"""Hardening 2 of sweeps (issue 19): damaged groups, two plans in one store, full disks, one-line refusals, the
progress lines. Every sweep here runs on one in-process cluster of two worker threads, on tiny configs."""

from __future__ import annotations

import errno
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

import paper_figures  # noqa: E402
import training  # noqa: E402
from fittest.cli import main  # noqa: E402
from fittest.errors import InputError  # noqa: E402
from training import SweepSpec, TrainConfig  # noqa: E402
from training.engine import loop  # noqa: E402
from training.sweeps import run  # noqa: E402
from training.sweeps.store import MANIFEST  # noqa: E402
from training.sweeps.tasks import SweepTask, plan  # noqa: E402

TINY = {"d": 8, "hidden": 16, "steps": 20, "runs": 2, "dense_until": 5, "record_every": 5}
TWO = SweepSpec(base=TINY, grid={"p": [7, 11]})
TRAIN = loop.train


@pytest.fixture(scope="module")
def threads():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0", silence_logs=logging.CRITICAL
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture
def counted(monkeypatch):
    calls = []

    def train(config, **options):
        calls.append(config)
        return TRAIN(config, **options)

    monkeypatch.setattr(loop, "train", train)
    return calls


def _group(store: Path, name: str) -> Path:
    return store / name


def test_a_damaged_group_is_left_out_with_a_warning_and_retrained_on_resume(threads, tmp_path, counted):
    store = tmp_path / "d.zarr"
    first = training.sweep(TWO, store=store, client=threads, progress=False)
    _, clean = training.open_sweep(store)
    lost, corrupt = first.tasks
    # a missing chunk used to read as NaN (a test_acc of NaN, other circles); a corrupted one failed the store
    next(path for path in _group(store, lost).glob("test_acc/c/**/*") if path.is_file()).unlink()
    chunk = next(path for path in _group(store, corrupt).glob("amplitude/c/**/*") if path.is_file())
    chunk.write_bytes(bytes(chunk.stat().st_size))  # the same size: only reading it (or its CRC) tells
    with pytest.warns(UserWarning) as caught:
        _, summary = training.open_sweep(store)
    messages = {name: [str(w.message) for w in caught if f"task {name} " in str(w.message)] for name in first.tasks}
    assert len(caught) == 2 and all("\n" not in str(w.message) for w in caught)
    assert "test_acc/c/0/0 is missing" in messages[lost][0] and "cannot be read" in messages[corrupt][0]
    assert summary.attrs["damaged"] == 2 and summary.attrs["complete"] == 0 and summary.attrs["missing"] == 2
    assert int(summary["test_acc"].count()) == 0  # never a value read from a damaged group

    with pytest.warns(UserWarning, match="training it again"):
        again = training.sweep(TWO, store=store, client=threads, progress=False)
    assert sorted(again.completed) == sorted(first.tasks) and again.skipped == ()  # both, the CRC finds the other
    assert len(counted) == 4
    _, repaired = training.open_sweep(store)
    xr.testing.assert_equal(repaired, clean)


def test_a_deleted_variable_is_found_with_or_without_a_manifest(threads, tmp_path):
    store = tmp_path / "v.zarr"
    report = training.sweep(TWO, store=store, client=threads, progress=False)
    old, new = report.tasks
    del zarr.open_group(store, path=old, mode="r+").attrs[MANIFEST]  # as a store written before manifests
    for name in (old, new):
        for path in sorted(_group(store, name).glob("test_loss/**/*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        _group(store, name).joinpath("test_loss").rmdir()
    with pytest.warns(UserWarning) as caught:
        _, summary = training.open_sweep(store)
    assert summary.attrs["damaged"] == 2 and summary.attrs["complete"] == 0
    assert any(old in str(w.message) and "test_loss" in str(w.message) for w in caught)
    assert any(new in str(w.message) and "its file test_loss/" in str(w.message) for w in caught)


def test_a_store_written_under_two_plans_opens_and_counts_each_run_once(threads, tmp_path):
    # the idle-cores hint's --runs-per-task, followed on a store of merged points, made it unreadable for good
    spec = SweepSpec(base={**TINY, "p": 7}, grid={"weight_decay": [0.1, 0.5]})
    store = tmp_path / "plans.zarr"
    training.sweep(spec, store=store, client=threads, progress=False)  # one task of 4 runs
    training.sweep(spec, store=store, client=threads, progress=False, max_runs=2)  # a task per point
    _, summary = training.open_sweep(store)
    assert summary.attrs["tasks"] == 3 and summary.attrs["complete"] == 3
    # decay 0.1 has runs 0 and 1 in both plans, the same seeds: counted once; decay 0.5 drew others alone
    assert summary.attrs["duplicates"] == 2
    counts = summary["test_acc"].count("replicate")
    assert counts.sel(weight_decay=0.1).item() == 2 and counts.sel(weight_decay=0.5).item() == 4
    seeds = summary["embed_seed"].sel(weight_decay=0.5).values
    assert len(set(seeds.tolist())) == 4
    with pytest.raises(InputError, match="do not tell the runs apart"):  # two decays under one label still do
        training.open_sweep(store, axes=[])


def test_an_empty_spec_is_refused_in_one_line(tmp_path, capsys):
    spec = tmp_path / "empty.toml"
    spec.write_text("# nothing yet\n")
    assert main(["sweep", str(spec), "--store", str(tmp_path / "s.zarr")]) == 2
    err = capsys.readouterr().err
    assert "is empty" in err and err.count("\n") == 1, err
    with pytest.raises(InputError, match="is empty"):
        SweepSpec()
    assert len(SweepSpec(base={"p": 7}).configs()) == 1  # a base alone is one point, as before


def test_runs_per_task_0_is_named_as_typed(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text("[grid]\np = [7]\n")
    assert main(["sweep", str(spec), "--store", str(tmp_path / "s.zarr"), "--runs-per-task", "0"]) == 2
    err = capsys.readouterr().err
    assert "--runs-per-task must be an integer >= 1, got 0" in err and "max_runs" not in err


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s, c: training.sweep(TWO, store=None, client=c), "store must be the path"),
        (lambda s, c: training.sweep(TWO, store=s, client="x"), "client must be a distributed.Client"),
        (lambda s, c: training.sweep(TWO, store=s, client=c, torch_threads=0), "torch_threads must be a positive"),
        (lambda s, c: training.open_sweep(s, survival={"nosuch": 1}), r"survival option\(s\) \['nosuch'\] unknown"),
        (lambda s, c: training.open_sweep(s, axes="seed"), r"axes must be a list of field names.*axes=\['seed'\]"),
        (lambda s, c: training.open_task(s, "p=7"), "open_task needs the task's training.TrainConfig, got str"),
    ],
)
def test_bad_arguments_are_one_line_input_errors(threads, tmp_path, call, message):
    store = tmp_path / "a.zarr"
    training.sweep([TrainConfig(p=7, **TINY)], store=store, client=threads, progress=False)
    with pytest.raises(InputError, match=message) as caught:
        call(store, threads)
    assert "\n" not in str(caught.value)


def test_a_full_disk_is_found_before_the_work(threads, tmp_path, counted, monkeypatch):
    import shutil

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1000))
    with pytest.raises(InputError, match="the sweep store .* needs about .* but only 1000 B is free"):
        training.sweep(TWO, store=tmp_path / "full.zarr", client=threads, progress=False)
    assert counted == []


def test_a_store_that_fills_up_fails_once_without_retries(threads, tmp_path, counted, monkeypatch):
    def full(store, name, ds):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(run, "write_result", full)
    spec = SweepSpec(base=TINY, grid={"p": [5, 7, 11, 13]})
    report = training.sweep(spec, store=tmp_path / "fills.zarr", client=threads, progress=False, retries=2)
    assert len(report.failed) == 1 and report.completed == ()
    (error,) = report.failed.values()
    assert "no space left on the device of the store" in error and "run the sweep again" in error
    # no task trained again (each was, 3 times, before the 147 lines); those not written are left for a rerun
    assert len({c.p for c in counted}) == len(counted) >= 1


def test_a_sweep_from_standard_input_says_it_needs_a_script(tmp_path):
    code = (
        "import training\n"
        "from training import TrainConfig\n"
        f"training.sweep([TrainConfig(p=7, **{TINY!r})], store='s.zarr', workers=1, progress=False)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-"], input=code, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env
    )
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode != 0 and "read from standard input: save it as a script file" in last, done.stderr[-2000:]
    assert "Nanny" not in done.stderr and not (tmp_path / "s.zarr").exists()


def test_a_log_gets_a_line_per_finished_ensemble_and_a_last_line(threads, tmp_path, capsys):
    spec = SweepSpec(base=TINY, grid={"p": [5, 7, 11]})
    training.sweep(spec, store=tmp_path / "log.zarr", client=threads)  # standard error is not a terminal here
    lines = capsys.readouterr().err.strip().splitlines()
    done = [re.search(r"ensemble (\d) of 3 done", line) for line in lines]
    assert [found.group(1) for found in done if found] == ["1", "2", "3"], lines
    assert lines[-1].startswith("sweep: 3 task(s) trained, 0 failed, 0 complete before, 0 left for a rerun, in ")


def test_the_dashboard_is_shown_only_with_bokeh_and_its_absence_said_once(threads, tmp_path, capsys, monkeypatch):
    import importlib.util

    find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bokeh" else find(name, *a))
    monkeypatch.setattr(run, "_BOKEH_TOLD", False)
    training.sweep([TrainConfig(p=7, **TINY)], store=tmp_path / "b.zarr", client=threads, progress=True)
    training.sweep([TrainConfig(p=5, **TINY)], store=tmp_path / "b.zarr", client=threads, progress=True)
    err = capsys.readouterr().err
    assert "dashboard: http" not in err and err.count("pip install bokeh") == 1


def test_the_idle_cores_hint_counts_the_workers_asked_for(monkeypatch):
    monkeypatch.setattr(run, "_cores", lambda: 16)
    points = SweepSpec(base=TINY, grid={"weight_decay": [0.1, 0.5]}).configs()
    note = run._spread_note(points, plan(points), True, 2)
    assert note is not None and "for 2 workers: --runs-per-task 2 (max_runs=2)" in note


def test_dask_reports_of_lost_results_do_not_reach_the_user(caplog):
    logger = logging.getLogger("distributed.scheduler")
    with caplog.at_level(logging.ERROR, logger="distributed.scheduler"), run._quiet_dask():
        logger.error("Couldn't gather keys: %s", {"train-x": "memory"})
        logger.error("another error")
    assert [record.getMessage() for record in caplog.records] == ["another error"]


def test_a_sweep_task_and_the_figures_keys_have_one_name_each():
    config = TrainConfig(p=7, **TINY)
    (task,) = plan([config])
    assert isinstance(task, SweepTask) and task.name == training.task_name(config)
    # the figures' key is the sweep's task name, so the JSON names the store's group
    assert paper_figures.config_key(config) == training.task_name(config)
    assert paper_figures.config_key(config.replace(device="cpu")) == training.task_name(config)


def test_a_cache_given_a_sweep_store_uses_it_rather_than_nesting_one(threads, tmp_path):
    store = tmp_path / "mine.zarr"
    training.sweep([TrainConfig(p=7, **TINY)], store=store, client=threads, progress=False)
    cache = paper_figures.RunCache(store)
    assert cache.store == store
    assert TrainConfig(p=7, **TINY) in cache
    assert paper_figures.RunCache(tmp_path / "folder").store == tmp_path / "folder" / "runs.zarr"
    np.testing.assert_array_equal(cache.get(TrainConfig(p=7, **TINY))["p"], 7)
