"""Sweeps on a real dask.distributed cluster: equal to serial runs, resumable, fault-tolerant, tidy to read.

Two clusters serve the tests: one of 2 worker processes (where processes are the point: the equality across
processes, a killed worker, the command line through ``--scheduler``) and one of 2 worker threads in this
process (resume and failures, where a patched ``train`` must be seen by the workers).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

import training  # noqa: E402
from fittest.cli import main  # noqa: E402
from fittest.errors import InputError  # noqa: E402
from training import SweepSpec, TrainConfig  # noqa: E402
from training.engine import loop  # noqa: E402
from training.sweeps.run import WORKER_ENV  # noqa: E402
from training.sweeps.store import STATUS  # noqa: E402
from training.sweeps.tasks import plan, task_name  # noqa: E402

TINY = {"d": 8, "hidden": 16, "steps": 20, "runs": 2, "dense_until": 5, "record_every": 5}
GRID = SweepSpec(base=TINY, grid={"p": [7, 11], "weight_decay": [0.1, 0.5]})


@pytest.fixture(scope="module")
def processes():
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
            env=WORKER_ENV,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def threads():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0", silence_logs=logging.CRITICAL
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def grid_store(processes, tmp_path_factory):
    store = tmp_path_factory.mktemp("sweep") / "grid.zarr"
    report = training.sweep(GRID, store=store, client=processes)
    return store, report


TRAIN = loop.train  # the real one, which the tests that count calls wrap


def _serial(config: TrainConfig) -> xr.Dataset:
    """The config trained here, with the one torch thread the sweep's workers use (the bits depend on it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return TRAIN(config, progress=False)
    finally:
        torch.set_num_threads(threads)


def test_points_that_share_a_batch_become_one_task_named_by_its_config():
    configs = GRID.configs()
    tasks = plan(configs)
    assert [t.config.p for t in tasks] == [7, 11]
    assert all(t.config.runs == 4 and t.config.weight_decay == (0.1, 0.1, 0.5, 0.5) for t in tasks)
    assert all(t.name == task_name(t.config) for t in tasks)
    # with at most 2 runs a task, each point is a task of its own, unchanged
    alone = plan(configs, max_runs=2)
    assert [t.config for t in alone] == configs
    assert len({t.name for t in alone}) == 4


def test_without_merging_every_point_is_a_task_of_its_own_named_by_its_config():
    configs = GRID.configs()
    tasks = plan([*configs, configs[0]], merge=False)  # a repeat is trained once
    assert [t.config for t in tasks] == configs
    assert [t.name for t in tasks] == [task_name(c) for c in configs]


def test_a_2x2_grid_on_two_processes_equals_a_serial_run_of_each_task(grid_store):
    store, report = grid_store
    assert report.failed == {} and report.skipped == () and len(report.completed) == 2
    opened = xr.open_datatree(store, engine="zarr", consolidated=False)
    assert set(opened.children) == set(report.tasks)
    for task in plan(GRID.configs()):
        stored = opened[task.name].to_dataset().load()
        assert stored.attrs[STATUS] == "complete"
        assert TrainConfig.from_json(stored.attrs["config"]) == task.config
        xr.testing.assert_equal(stored, _serial(task.config))  # every variable and coordinate, exactly


def test_the_sweeps_workers_stop_profiling_and_keep_freed_memory(grid_store, processes):
    # both cost a CPU training step about 9% each in a dask worker (training/engine/workers.py)
    state = processes.run(lambda dask_worker: (sorted(dask_worker.periodic_callbacks), dask_worker.fittest_malloc_kept))
    assert len(state) == 2
    for callbacks, kept in state.values():
        assert "heartbeat" in callbacks and not {"profile", "profile-cycle"} & set(callbacks)
        assert kept is (sys.platform == "linux")


def test_a_threads_only_cluster_leaves_the_callers_malloc_alone(threads, tmp_path):
    # its workers run in this process, whose memory is not a training task's
    training.sweep([TrainConfig(p=7, **TINY)], store=tmp_path / "t.zarr", client=threads)
    state = threads.run(lambda dask_worker: dask_worker.fittest_malloc_kept)
    assert list(state.values()) == [False, False]


def test_the_summary_is_indexed_by_the_swept_fields(grid_store):
    store, _ = grid_store
    tree, summary = training.open_sweep(store)
    assert dict(summary.sizes) == {"p": 2, "weight_decay": 2, "replicate": 2}
    assert summary.attrs["complete"] == 2 and summary.attrs["failed"] == 0 and summary.attrs["missing"] == 0
    point = summary.sel(p=11, weight_decay=0.5)
    ds = tree[str(point["task"].values[0])].to_dataset()
    runs = point["run"].values
    assert list(runs) == [2, 3]  # the decay-0.5 runs follow the decay-0.1 ones in the merged task
    np.testing.assert_array_equal(point["test_acc"], ds["test_acc"].isel(step=-1, run=runs))
    np.testing.assert_array_equal(point["train_loss"], ds["train_loss"].isel(step=-1, run=runs))
    np.testing.assert_array_equal(point["n_circles"], training.count_survivors(ds).isel(run=runs))
    np.testing.assert_array_equal(point["embed_seed"], ds["embed_seed"].isel(run=runs))


def test_a_store_that_two_sweeps_wrote_opens_as_one(threads, tmp_path):
    store = tmp_path / "both.zarr"
    training.sweep(SweepSpec(base=TINY, grid={"p": [7, 11]}), store=store, client=threads)
    training.sweep(SweepSpec(base={**TINY, "p": 7}, grid={"weight_decay": [0.1, 0.2]}), store=store, client=threads)
    _, summary = training.open_sweep(store)
    # the first sweep's tasks stay listed and its axis stays an axis: 4 points of 2 runs each
    assert summary.attrs["axes"] == ["p", "weight_decay"]
    assert summary.attrs["tasks"] == 3 and summary.attrs["complete"] == 3  # p = 7 and 11; one for both decays
    assert int(summary["test_acc"].notnull().sum()) == 8
    default = TrainConfig().weight_decay
    assert bool(summary["test_acc"].sel(p=11, weight_decay=default).notnull().all())
    assert bool(summary["test_acc"].sel(p=7, weight_decay=0.2).notnull().all())


def test_reading_a_sweep_loads_no_torch(grid_store):
    store, _ = grid_store
    code = (
        "import sys, training\n"
        f"tree, summary = training.open_sweep({str(store)!r})\n"
        "print(int(summary['n_circles'].count()), 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.split() == ["8", "False"]


def test_a_rerun_skips_complete_groups_and_redoes_a_partial_one(threads, tmp_path, monkeypatch):
    calls = []

    def counted(config, **options):
        calls.append(config)
        return _serial(config)

    monkeypatch.setattr(loop, "train", counted)
    store = tmp_path / "s.zarr"
    first = training.sweep(GRID, store=store, client=threads, max_runs=4)
    assert len(calls) == 2 and len(first.completed) == 2
    before = training.open_sweep(store)[1]

    again = training.sweep(GRID, store=store, client=threads, max_runs=4)
    assert len(calls) == 2 and again.completed == () and set(again.skipped) == set(first.tasks)

    cut = first.tasks[1]
    del zarr.open_group(store, path=cut, mode="r+").attrs[STATUS]  # as if its worker died before the mark
    assert training.open_sweep(store)[1].attrs["missing"] == 1
    redo = training.sweep(GRID, store=store, client=threads, max_runs=4)
    assert redo.completed == (cut,) and redo.skipped == (first.tasks[0],) and len(calls) == 3
    assert calls[-1].to_json() == plan(GRID.configs())[1].config.to_json()
    xr.testing.assert_equal(training.open_sweep(store)[1], before)


def test_a_failing_task_is_recorded_and_the_others_complete(threads, tmp_path, monkeypatch):
    good = TrainConfig(p=7, **TINY)
    unavailable = good.replace(device="mps")  # an InputError on the worker: no such device on Linux
    broken = good.replace(seed=5)
    tries = []

    def train(config, **options):
        if config.seed == 5:
            tries.append(config)
            raise RuntimeError("a bug in this task")
        return _serial(config)

    monkeypatch.setattr(loop, "train", train)
    store = tmp_path / "f.zarr"
    report = training.sweep([good, unavailable, broken], store=store, client=threads, retries=1)
    assert report.completed == (task_name(good),)
    assert "mps" in report.failed[task_name(unavailable)]
    assert report.failed[task_name(broken)] == "RuntimeError: a bug in this task"
    assert len(tries) == 2  # tried once more (retries=1), then recorded
    tree, summary = training.open_sweep(store)
    assert summary.attrs["complete"] == 1 and summary.attrs["failed"] == 2
    assert "not available" in tree[task_name(unavailable)].attrs["error"]
    assert TrainConfig.from_json(tree[task_name(broken)].attrs["config"]) == broken
    # the swept fields are those that differ: device and seed; the failed points are missing from it
    assert set(summary.sizes) == {"device", "seed", "replicate"}
    assert int(summary["test_acc"].count()) == 2


def test_a_worker_killed_mid_task_is_replaced_and_the_numbers_do_not_change(processes, tmp_path):
    flag = tmp_path / "killed-once"

    class KillOnce(distributed.WorkerPlugin):
        name = "kill-once"

        def transition(self, key, start, finish, **kwargs):
            if finish == "executing" and str(key).startswith("train-") and not os.path.exists(flag):
                open(flag, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)

    config = TrainConfig(p=7, **TINY)
    processes.register_plugin(KillOnce())
    try:
        report = training.sweep([config], store=tmp_path / "k.zarr", client=processes)
    finally:
        processes.unregister_worker_plugin("kill-once")
    assert flag.exists(), "no worker was killed"
    assert report.completed == (task_name(config),) and report.failed == {}
    tree, _ = training.open_sweep(tmp_path / "k.zarr")
    xr.testing.assert_equal(tree[task_name(config)].to_dataset().load(), _serial(config))


def test_the_command_line_runs_a_spec_on_a_cluster_and_resumes(processes, tmp_path, capsys):
    spec = tmp_path / "sweep.toml"
    spec.write_text("[base]\nd = 8\nhidden = 16\nsteps = 20\nruns = 2\n\n[grid]\np = [7, 11]\n")
    store = tmp_path / "cli.zarr"
    address = processes.scheduler.address
    assert main(["sweep", str(spec), "--store", str(store), "--scheduler", address, "--no-progress"]) == 0
    assert "2 trained, 0 complete before, 0 failed" in capsys.readouterr().out
    _, summary = training.open_sweep(store)
    assert dict(summary.sizes) == {"p": 2, "replicate": 2}
    assert main(["sweep", str(spec), "--store", str(store), "--scheduler", address, "--no-progress"]) == 0
    assert "0 trained, 2 complete before" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[base]\nhiden = 16\n", "unknown field 'hiden' (did you mean 'hidden'?)"),
        ("[grid]\np = []\n", "axis 'p' is empty"),
        ("[grid]\np = 7\n", "axis 'p' must be a list of values"),
        ("[grid\np = [7]\n", "is not valid TOML"),
        ("[sweep]\np = [7]\n", "unknown table(s) ['sweep']"),
        ("[grid]\nruns = [1, 2]\n", "runs cannot be swept"),
        ("[grid]\nweight_decay = [0.1, -1]\n", "the point weight_decay=-1: weight_decay must be a number >= 0"),
    ],
)
def test_bad_spec_files_are_one_line_errors(tmp_path, capsys, text, message):
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    assert main(["sweep", str(spec), "--store", str(tmp_path / "s.zarr")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "s.zarr").exists()


def test_an_unreadable_spec_and_a_foreign_store_are_refused(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "missing.toml"), "--store", str(tmp_path / "s.zarr")]) == 2
    assert "cannot read the sweep spec" in capsys.readouterr().err
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"")
    with pytest.raises(InputError, match="not a fittest"):
        training.sweep([TrainConfig(p=7, **TINY)], store=foreign, workers=1)
    assert sorted(os.listdir(foreign)) == ["cat.jpg"]
    assert Path(f"{foreign}.sweep.lock").exists() is False


def test_a_script_without_a_main_guard_gets_a_one_line_error(tmp_path):
    # the local cluster's worker processes import the script again, which would start a sweep in each of them
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import training\n"
        "from training import TrainConfig\n"
        f"training.sweep([TrainConfig(p=7, **{TINY!r})], store='s.zarr', workers=1, progress=False)\n"
    )
    # this checkout's code, wherever the installed package points
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("fittest.errors.InputError: the local cluster's worker processes import"), last
    assert 'if __name__ == "__main__":' in last
    assert len(done.stderr.strip().splitlines()) < 10  # refused before any worker started: no worker tracebacks
    # the same call under the guard runs
    script.write_text(script.read_text().replace("training.sweep(", 'if __name__ == "__main__":\n    training.sweep('))
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_merged_points_that_leave_cores_idle_get_a_hint(tmp_path, capsys, monkeypatch):
    # two weight decays at one seed share a batch: one ensemble, so one of the two cores would idle
    from training.sweeps import run

    monkeypatch.setattr(run, "_cores", lambda: 2)
    spec = SweepSpec(base=TINY, grid={"p": [7], "weight_decay": [0.1, 0.5]})
    training.sweep(spec, store=tmp_path / "m.zarr", progress=True)
    assert "1 ensemble(s) of 4 runs for 2 cores: --runs-per-task 2 (max_runs=2)" in capsys.readouterr().err
    training.sweep(spec, store=tmp_path / "s.zarr", progress=True, max_runs=2)  # as the hint says: no hint
    assert "--runs-per-task" not in capsys.readouterr().err
