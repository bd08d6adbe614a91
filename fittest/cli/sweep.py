"""`fittest sweep`: train every point of a TOML sweep spec on a dask cluster into a resumable zarr store."""

from __future__ import annotations

import argparse
import sys

from fittest.cli.options import add_cluster_options, add_progress_option

HELP = "train a sweep (a TOML spec of a base config and the axes it varies) on local worker processes or a dask cluster"
SHOWN_FAILURES = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "spec",
        metavar="SPEC.toml",
        help="the sweep: a [base] table of TrainConfig fields, a [grid] of field = [values] and/or [[list]] points",
    )
    parser.add_argument(
        "--store",
        metavar="DIR",
        required=True,
        help="the zarr store of the results, one group per task (made when missing); a rerun skips complete tasks",
    )
    add_cluster_options(parser, shared="the store")
    parser.add_argument(
        "--runs-per-task",
        type=int,
        metavar="N",
        help="the most runs one task trains as one batch (default: every point that can share a batch)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        metavar="N",
        help="how many more times a task that raised an unexpected error is tried (default: 2)",
    )
    add_progress_option(parser, what="the tasks, with the dashboard address")


def run(args: argparse.Namespace) -> int:
    from fittest.checks import integer
    from fittest.errors import InputError
    from training import SweepSpec, sweep

    if not args.store.strip():  # else the library reads '' as the working directory and names that
        raise InputError("--store is empty: give a folder for the sweep's results")
    # checked here so that the message names the options as typed, not sweep()'s max_runs and retries
    if args.runs_per_task is not None:
        integer("--runs-per-task", args.runs_per_task, 1)
    integer("--retries", args.retries, 0)
    spec = SweepSpec.from_toml(args.spec)
    report = sweep(
        spec,
        store=args.store,
        workers=args.workers,
        scheduler=args.scheduler,
        max_runs=args.runs_per_task,
        retries=args.retries,
        progress=args.progress,
    )
    print(
        f"sweep of {len(report.tasks)} task(s): {len(report.completed)} trained, {len(report.skipped)} complete"
        f" before, {len(report.failed)} failed, in {report.seconds:.1f} s; store {report.store}"
        + (f"; dashboard was {report.dashboard}" if report.dashboard and report.completed else "")
    )
    for name, error in list(report.failed.items())[:SHOWN_FAILURES]:
        print(f"fittest sweep: task {name} failed: {error}", file=sys.stderr)
    if len(report.failed) > SHOWN_FAILURES:
        print(
            f"fittest sweep: and {len(report.failed) - SHOWN_FAILURES} more failed tasks; training.open_sweep shows"
            " each one's error",
            file=sys.stderr,
        )
    if report.diverged:
        print(
            f"warning: {report.diverged} run(s) diverged; they are flagged in the summary's diverged variable",
            file=sys.stderr,
        )
    return 1 if report.failed else 0
