"""sweep(): a sweep's tasks run on a dask.distributed cluster, each writing its own group of the store.

Without a cluster it starts a :class:`distributed.LocalCluster` of worker processes sized to the machine: one
per GPU, each pinned to its GPU, or else one per core, each with one torch thread. A worker killed while it
trains is replaced and its task runs again elsewhere (the scheduler's ``allowed-failures``, 3 by default); a
task that raises an unexpected error is tried ``retries`` more times. A task that fails for its own reason (an
:class:`~fittest.errors.InputError`: an unavailable device, too little memory) is recorded as failed in the
store at once, and the others go on.
"""

from __future__ import annotations

import ast
import contextlib
import logging
import multiprocessing
import os
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fittest.atomic import output_lock
from fittest.errors import InputError
from fittest.progress import progress as progress_bar
from training.config import TrainConfig
from training.sweeps.spec import SweepSpec
from training.sweeps.store import COMPLETE, FAILED, open_sweep, prepare, status, write_failure, write_result
from training.sweeps.tasks import PER_RUN, Task, axis_values, plan, varying_fields

WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
"""The environment of local worker processes: one thread each for every numerical library."""

MAIN_GUARD = (
    "the local cluster's worker processes import the calling script again, and this one starts a sweep when"
    ' imported: put the call under `if __name__ == "__main__":`'
)


@dataclass(frozen=True)
class SweepReport:
    """What a call of :func:`sweep` did.

    Attributes:
        store: the store's absolute path.
        tasks: every task's group name, in plan order.
        skipped: the tasks that were complete before this call.
        completed: the tasks this call trained and wrote.
        failed: task name -> its error, for the tasks that failed.
        diverged: the number of runs, among those trained now, that diverged (flagged in their datasets).
        dashboard: the cluster's dashboard address, when it has one.
        seconds: the wall-clock time of the call.
    """

    store: Path
    tasks: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    completed: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)
    diverged: int = 0
    dashboard: str | None = None
    seconds: float = 0.0

    def open(self):
        """:func:`training.open_sweep` of the store: ``(tree, summary)``."""
        return open_sweep(self.store)


def run_task(config_json: str, store: str, name: str) -> dict:
    """Train one task on a worker and write its group; an :class:`InputError` of the task is recorded as failed.

    Returns:
        ``{"status": "complete", "diverged": runs}`` or ``{"status": "failed", "error": message}``.
    """
    from training.engine.loop import train  # on the worker only: the process that plans the sweep needs no torch

    config = TrainConfig.from_json(config_json)
    try:
        ds = train(config, progress=False, command=f"training.sweep task {name}")
    except InputError as error:
        write_failure(store, name, config, str(error))
        return {"status": FAILED, "error": str(error)}
    write_result(store, name, ds)
    return {"status": COMPLETE, "diverged": int(ds["diverged"].sum())}


def _configs(configs) -> tuple[list[TrainConfig], tuple[str, ...] | None]:
    """The points of whatever :func:`sweep` was given, and the spec's axes when it was a spec."""
    if isinstance(configs, str | os.PathLike):
        configs = SweepSpec.from_toml(configs)
    if isinstance(configs, SweepSpec):
        return configs.configs(), configs.axes
    if isinstance(configs, TrainConfig):
        return [configs], None
    if not isinstance(configs, Iterable):
        raise InputError(f"sweep needs a SweepSpec, a spec file or TrainConfigs, got {type(configs).__name__}")
    return list(configs), None


@contextlib.contextmanager
def _client(client, scheduler: str | None, workers: int | None, tasks: int) -> Iterator:
    """The client to run on: the one given, one connected to ``scheduler``, or a new local cluster's."""
    from distributed import Client, LocalCluster

    if client is not None:
        yield client
        return
    if scheduler is not None:
        try:
            connected = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as error:
            raise InputError(f"cannot reach the dask scheduler at {scheduler!r} ({error}): check the address") from None
        with connected:
            yield connected
        return
    from training.engine.workers import PinGPU, gpu_count

    gpus = gpu_count()
    size = workers if workers is not None else (gpus or _cores())
    size = max(1, min(size, tasks))
    try:
        cluster = LocalCluster(
            n_workers=size,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.ERROR,
            env=WORKER_ENV,
        )
    except RuntimeError as error:  # the worker processes' own errors went to their standard error
        raise InputError(f"the local dask cluster did not start ({error}): see the workers' errors above") from None
    with cluster, Client(cluster) as local:
        if gpus:
            local.register_plugin(PinGPU(gpus))
        yield local


def sweep(
    configs: SweepSpec | str | os.PathLike | Iterable[TrainConfig],
    *,
    store: str | os.PathLike,
    client=None,
    scheduler: str | None = None,
    workers: int | None = None,
    max_runs: int | None = None,
    merge: bool = True,
    retries: int = 2,
    torch_threads: int | None = 1,
    progress: bool | None = None,
) -> SweepReport:
    """Train every point of a sweep on a dask.distributed cluster into a resumable zarr store.

    The points are grouped into tasks, one ensemble each (:func:`training.sweeps.tasks.plan`); each task's run
    dataset is written as its own group of ``store``, named by the hash of its config, and marked complete
    last. Running the same sweep again skips the complete groups and trains the partial and failed ones.

    Arguments:
        configs: a :class:`~training.sweeps.spec.SweepSpec`, a TOML spec file, or TrainConfigs (their swept
            fields are those that differ between them).
        store: the store's folder; made when missing (its parent must exist).
        client: a :class:`distributed.Client` to run on.
        scheduler: the address of a running scheduler (``tcp://host:8786``) to connect to instead.
        workers: without ``client`` or ``scheduler``, the number of local worker processes; by default one per
            GPU, or else one per core (never more than there are tasks to train).
        max_runs: the most runs one task holds (:func:`~training.sweeps.tasks.plan`); None merges all that can.
        merge: False trains every config as a task of its own, exactly as ``training.train(config)`` would, and
            :func:`training.open_task` reads it back by its config (the paper's figures sweep so).
        retries: how many more times a task that raised an unexpected error is tried.
        torch_threads: torch's thread count on every worker; None leaves it as the workers have it.
        progress: show a bar over the ensembles (each finished one labelled "ensemble 2 of 5" with its swept
            values; rate; ETA for all of them) and the dashboard address; by default a bar when standard error is
            a terminal, else a line every few seconds.

    Returns:
        A :class:`SweepReport`; :func:`training.open_sweep` reads the results.

    Raises:
        InputError: bad configs or spec, both ``client`` and ``scheduler``, ``workers`` with either, an
            unreachable scheduler, a store that is not a sweep store, or a store another sweep is writing.
    """
    started = time.perf_counter()
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise InputError(MAIN_GUARD)  # a worker process importing the script of the process that started it
    if client is None and scheduler is None:
        if multiprocessing.current_process().daemon:
            raise InputError(
                "a sweep without a client starts worker processes, which this daemonic process (a dask task, a"
                " multiprocessing pool's worker) cannot have: pass client= (in a dask task, worker_client())"
            )
        if _unguarded_in_main():
            raise InputError(MAIN_GUARD)
    if client is not None and scheduler is not None:
        raise InputError("give either a client or a scheduler address, not both")
    if workers is not None and (client is not None or scheduler is not None):
        raise InputError("workers sizes a local cluster: leave it out with a client or a scheduler address")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise InputError(f"workers must be a positive integer, got {workers!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InputError(f"retries must be an integer >= 0, got {retries!r}")
    points, axes = _configs(configs)
    if not points:
        raise InputError("the sweep has no points: give at least one config")
    tasks = plan(points, max_runs=max_runs, merge=merge)
    if axes is None:
        axes = varying_fields(points)
    names = tuple(task.name for task in tasks)
    with output_lock(Path(f"{Path(store).absolute()}.sweep"), what="sweep store"):
        path = prepare(store, axes=axes, tasks=names)
        skipped = tuple(task.name for task in tasks if status(path, task.name) == COMPLETE)
        todo = [task for task in tasks if task.name not in skipped]
        if not todo:
            return SweepReport(path, names, skipped=skipped, seconds=time.perf_counter() - started)
        # a resumed sweep gets no advice: another cap would rename its tasks and retrain the complete ones
        local = client is None and scheduler is None and workers is None
        note = _spread_note(points, tasks, merge) if local and not skipped else None
        with _client(client, scheduler, workers, len(todo)) as active:
            report = _run(active, todo, path, retries, torch_threads, progress, axes, note)
    return SweepReport(path, names, skipped=skipped, **report, seconds=time.perf_counter() - started)


def _cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _spread_note(points, tasks, merge) -> str | None:
    """On a machine without GPUs, a line saying how to train merged points on every core when their tasks are
    fewer than the cores (a sweep over weight decay at one seed is one ensemble, so one busy core); None when
    a cap on the runs per task would not make more tasks (a cap already given included)."""
    from training.engine.workers import gpu_count

    cores = _cores()
    if len(tasks) >= min(cores, len(points)) or gpu_count():
        return None  # on GPUs one batch is much faster than many
    runs = sum(task.config.runs for task in tasks)
    cap = max(1, -(-runs // cores))
    if len(plan(points, max_runs=cap, merge=merge)) <= len(tasks):
        return None
    return (
        f"{len(tasks)} ensemble(s) of {runs} runs for {cores} cores: --runs-per-task {cap} (max_runs={cap}) would"
        " train them on every core"
    )


def _unguarded_in_main() -> bool:
    """Whether this call comes from the top level of the ``__main__`` script outside ``if __name__ == "__main__":``.

    The local cluster's workers are spawned, and a spawned process imports the main script again, so such a call
    would start a sweep in every worker; refused before any process starts. False whenever it cannot be told
    (no script file, a file that does not parse, workers that are forked).
    """
    import dask

    if dask.config.get("distributed.worker.multiprocessing-method", "spawn") == "fork":
        return False
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    frame, line = sys._getframe(1), None
    while frame is not None:  # the outermost frame of the script's own top-level code
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__main__":
            line = frame.f_lineno
        frame = frame.f_back
    if path is None or line is None:
        return False
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return False

    def names_main(test: ast.expr) -> bool:
        if not (isinstance(test, ast.Compare) and len(test.comparators) == 1):
            return False
        sides = {ast.dump(side) for side in (test.left, test.comparators[0])}
        return sides == {ast.dump(ast.Name("__name__", ast.Load())), ast.dump(ast.Constant("__main__"))}

    guards = [node for node in ast.walk(tree) if isinstance(node, ast.If) and names_main(node.test)]
    return not any(node.lineno <= line <= (node.end_lineno or node.lineno) for node in guards)


def label(config: TrainConfig, axes: Sequence[str], *, width: int = 70) -> str:
    """A short name of a task for its progress line: ``p=23 d=32 3 runs`` and the swept fields with one plain
    value in it (a list or a mapping would crowd the line out)."""
    parts = [f"p={config.p} d={config.d} {config.runs} run{'s' if config.runs > 1 else ''}"]
    for axis in axes:
        values = set(axis_values(config, axis))
        plain = axis in PER_RUN or isinstance(getattr(config, axis), bool | int | float | str)
        if axis not in ("p", "d") and plain and len(values) == 1:
            (value,) = values
            parts.append(f"{axis}={value:g}" if isinstance(value, float) else f"{axis}={value}")
    text = " ".join(parts)
    return text if len(text) <= width else text[: width - 3] + "..."


def _run(
    client,
    todo: Sequence[Task],
    path: Path,
    retries: int,
    torch_threads: int | None,
    progress,
    axes: Sequence[str],
    note: str | None = None,
) -> dict:
    from distributed import as_completed

    from training.engine.workers import SteadyWorker, TorchThreads

    client.register_plugin(SteadyWorker())
    if torch_threads is not None:
        client.register_plugin(TorchThreads(torch_threads))
    dashboard = getattr(client, "dashboard_link", None)
    # a task is one ensemble; the ETA is for every ensemble this call trains
    bar = progress_bar(total=len(todo), desc="sweep", unit="ensemble", enabled=progress)
    if dashboard and not bar.disable:
        bar.write(f"dashboard: {dashboard}", file=sys.stderr)
    if note and not bar.disable:
        bar.write(note, file=sys.stderr)
    futures = {}
    token = uuid.uuid4().hex[:8]
    for task in todo:
        future = client.submit(
            run_task,
            task.config.to_json(),
            str(path),
            task.name,
            key=f"train-{task.name}-{token}",
            retries=retries,
            pure=False,
        )
        futures[future] = task
    completed, failed, diverged = [], {}, 0
    try:
        for future in as_completed(futures):
            task = futures[future]
            try:
                result = future.result()
            except Exception as error:  # after its retries, or its worker died too often (KilledWorker), or cancelled
                message = f"{type(error).__name__}: {error}"
                write_failure(path, task.name, task.config, message)
                failed[task.name] = message
            else:
                if result["status"] == FAILED:
                    failed[task.name] = result["error"]
                elif status(path, task.name) != COMPLETE:
                    message = (
                        "its worker wrote it where this machine cannot see it: give a --store on a filesystem that"
                        " the workers share"
                    )
                    failed[task.name] = message
                else:
                    completed.append(task.name)
                    diverged += result["diverged"]
            done = len(completed) + len(failed)
            note = f", {len(failed)} failed" if failed else ""
            bar.set_postfix_str(f"ensemble {done} of {len(todo)} done: {label(task.config, axes)}{note}", refresh=False)
            bar.update(1)
    finally:
        bar.close()
        client.cancel(list(futures))
    return {"completed": tuple(completed), "failed": failed, "diverged": diverged, "dashboard": dashboard}
