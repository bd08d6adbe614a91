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
import errno
import importlib.util
import logging
import multiprocessing
import os
import sys
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fittest.atomic import check_free_space, output_lock
from fittest.errors import InputError
from fittest.progress import progress as progress_bar
from training.config import TrainConfig, output_estimate
from training.sweeps.spec import SweepSpec
from training.sweeps.store import (
    COMPLETE,
    FAILED,
    damage,
    open_sweep,
    prepare,
    status,
    write_failure,
    write_result,
)
from training.sweeps.tasks import PER_RUN, SweepTask, axis_values, plan, varying_fields

WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
"""The environment of local worker processes: one thread each for every numerical library."""

NO_SCRIPT = (
    "the local cluster's worker processes import the main script, and this one was read from standard input:"
    ' save it as a script file (with the sweep under `if __name__ == "__main__":`), run it in a notebook, or pass'
    " client= or scheduler="
)
_BOKEH_TOLD = False
"""Whether this process was told once that the dashboard needs bokeh."""

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
    try:
        write_result(store, name, ds)
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        # not raised: a retry, here or on another worker, would train the whole task again only to fail again;
        # the partial group is written again by the next run of the sweep
        return {"status": FAILED, "error": f"no space left on the device of the store {store!r}", "no_space": True}
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
    if store is None or not isinstance(store, str | os.PathLike) or not str(store):
        raise InputError(f"store must be the path of the sweep's folder (made when missing), got {store!r}")
    if client is not None and scheduler is not None:
        raise InputError("give either a client or a scheduler address, not both")
    if client is not None:
        from distributed import Client

        if not isinstance(client, Client):
            raise InputError(
                f"client must be a distributed.Client, got {type(client).__name__} {client!r}: for an address"
                " use scheduler="
            )
    if torch_threads is not None and (
        isinstance(torch_threads, bool) or not isinstance(torch_threads, int) or torch_threads < 1
    ):
        raise InputError(f"torch_threads must be a positive integer or None, got {torch_threads!r}")
    if client is None and scheduler is None:
        if multiprocessing.current_process().daemon:
            raise InputError(
                "a sweep without a client starts worker processes, which this daemonic process (a dask task, a"
                " multiprocessing pool's worker) cannot have: pass client= (in a dask task, worker_client())"
            )
        if _main_is_no_file():
            raise InputError(NO_SCRIPT)
        if _unguarded_in_main():
            raise InputError(MAIN_GUARD)
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
    with output_lock(Path(f"{Path(store).resolve()}.sweep"), what="sweep store"):
        path = prepare(store, axes=axes, tasks=names)
        skipped = tuple(task.name for task in tasks if _intact(path, task.name))
        todo = [task for task in tasks if task.name not in skipped]
        if not todo:
            return SweepReport(path, names, skipped=skipped, seconds=time.perf_counter() - started)
        check_free_space(path, sum(output_estimate(task.config) for task in todo), what="sweep store")
        # a resumed sweep gets no advice: another cap would rename its tasks and retrain the complete ones
        local = client is None and scheduler is None
        note = _spread_note(points, tasks, merge, workers) if local and not skipped else None
        with _client(client, scheduler, workers, len(todo)) as active, _quiet_dask():
            report = _run(active, todo, path, retries, torch_threads, progress, axes, note)
        seconds = time.perf_counter() - started
        if not report.pop("quiet"):  # the last line of the progress: what became of every task, and the time
            print(
                f"sweep: {len(report['completed'])} task(s) trained, {len(report['failed'])} failed,"
                f" {len(skipped)} complete before, {len(todo) - len(report['completed']) - len(report['failed'])}"
                f" left for a rerun, in {seconds:.1f} s; store {path}",
                file=sys.stderr,
            )
    return SweepReport(path, names, skipped=skipped, **report, seconds=seconds)


def _intact(store: Path, name: str) -> bool:
    """Whether a task's group is complete with every file as written; a damaged one is reported, to be retrained."""
    if status(store, name) != COMPLETE:
        return False
    problem = damage(store, name, deep=True)
    if problem:
        warnings.warn(f"task {name} is damaged ({problem}): training it again", stacklevel=3)
    return problem is None


def _cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _spread_note(points, tasks, merge, workers: int | None = None) -> str | None:
    """On a machine without GPUs, a line saying how to train merged points on every core (or each of the
    ``workers`` asked for) when their tasks are fewer (a sweep over weight decay at one seed is one ensemble,
    so one busy core); None when a cap on the runs per task would not make more tasks (a cap already given
    included)."""
    from training.engine.workers import gpu_count

    cores = workers or _cores()
    if len(tasks) >= min(cores, len(points)) or gpu_count():
        return None  # on GPUs one batch is much faster than many
    runs = sum(task.config.runs for task in tasks)
    cap = max(1, -(-runs // cores))
    if len(plan(points, max_runs=cap, merge=merge)) <= len(tasks):
        return None
    return (
        f"{len(tasks)} ensemble(s) of {runs} runs for {cores} {'workers' if workers else 'cores'}: --runs-per-task"
        f" {cap} (max_runs={cap}) would train them on every {'worker' if workers else 'core'}"
    )


def _main_is_no_file() -> bool:
    """Whether the ``__main__`` module names a script file that is not there (``<stdin>`` for ``python -``), which
    spawned worker processes would fail to import ("Nanny failed to start"); a notebook names none, and works."""
    import dask

    if dask.config.get("distributed.worker.multiprocessing-method", "spawn") == "fork":
        return False
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None):
        return False  # python -m: the workers import the module by its name
    path = getattr(main, "__file__", None)
    return path is not None and not Path(path).is_file()


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Drop dask's own reports of a lost worker's results ("Couldn't gather keys"), which a sweep handles (the
    task is trained again or recorded as failed), so that they do not reach the user as errors."""

    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Couldn't gather")

    loggers = [logging.getLogger(name) for name in ("distributed.scheduler", "distributed.client")]
    for logger in loggers:
        logger.addFilter(keep)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(keep)


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
    todo: Sequence[SweepTask],
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
        global _BOKEH_TOLD
        if importlib.util.find_spec("bokeh") is not None:
            bar.write(f"dashboard: {dashboard}", file=sys.stderr)
        elif not _BOKEH_TOLD:  # its page would only say that bokeh is missing
            bar.write("dashboard: none without bokeh (pip install bokeh for one)", file=sys.stderr)
            _BOKEH_TOLD = True
    if note and not bar.disable:
        bar.write(note, file=sys.stderr)
    quiet = bar.disable  # before close(), which sets it
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
                if result.get("no_space"):
                    # the other tasks would each train in full only to fail at the same write: they are left for a
                    # rerun once there is room, and the complete ones stay
                    failed[task.name] = f"{result['error']}: free space there and run the sweep again"
                    break
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
            bar.refresh()  # a log gets a line for every finished ensemble, not one per interval at most
    finally:
        bar.close()
        client.cancel(list(futures))
    return {
        "completed": tuple(completed),
        "failed": failed,
        "diverged": diverged,
        "dashboard": dashboard,
        "quiet": quiet,
    }
