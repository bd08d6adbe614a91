"""`fittest train`: train an ensemble of modular-addition models and record its run dataset."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from fittest.cli.options import add_config_options, add_progress_option, config_command, config_from_args
from fittest.errors import InputError

DEFAULT_OUT = "run.nc"
HELP = "train an ensemble of modular-addition models and record their Fourier signals to a netCDF run dataset"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from training import TrainConfig

    add_config_options(parser, TrainConfig, title="experiment (defaults: the paper's)")
    parser.add_argument(
        "--out",
        metavar="FILE.nc",
        help=f"write the run dataset here, atomically (default: {DEFAULT_OUT} here, never overwritten)",
    )
    parser.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="checkpoint file (default: FILE.nc.ckpt beside --out; removed once --out is written)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint when it exists")
    add_progress_option(parser, what="the steps, with the losses")


def _command(args: argparse.Namespace, cls: type) -> str:
    """The command line that reproduces this run (the options that were given, in field order)."""
    words = config_command(args, cls, ["fittest", "train"])
    return words + (f" --out {shlex.quote(args.out)}" if args.out is not None else "")


def _resume_command(args: argparse.Namespace, cls: type) -> str:
    """The command that continues this run from its checkpoint: the same options and threads, with ``--resume``."""
    threads = ["--threads", str(args.threads)] if args.threads is not None else []
    words = config_command(args, cls, ["fittest", *threads, "train"])
    words += f" --out {shlex.quote(args.out)}"
    if args.checkpoint is not None:
        words += f" --checkpoint {shlex.quote(args.checkpoint)}"
    return words + " --resume"


def run(args: argparse.Namespace) -> int:
    from fittest.atomic import same_file
    from training import TrainConfig, train
    from training.engine.checkpoint import check_checkpoint

    config = config_from_args(args, TrainConfig)
    if args.out is None:  # a result is never thrown away: without --out it goes to run.nc, which is never replaced
        if Path(DEFAULT_OUT).exists():
            raise InputError(
                f"{DEFAULT_OUT} already exists in this folder and is not replaced without --out: give --out FILE.nc"
                f" (--out {DEFAULT_OUT} to overwrite it)"
            )
        args.out = DEFAULT_OUT
    checkpoint = args.checkpoint if args.checkpoint is not None else f"{args.out}.ckpt"
    # an existing file there would be overwritten by the first checkpoint: a foreign file, or an interrupted run's
    # progress, which a fresh start from step 0 would silently throw away (refused: --resume or delete it)
    if not same_file(checkpoint, args.out):  # that clash train refuses with its own message
        check_checkpoint(checkpoint, resume=args.resume)
    try:
        ds = train(
            config,
            out=args.out,
            checkpoint=checkpoint,
            resume=args.resume,
            progress=args.progress,
            command=_command(args, TrainConfig),
        )
    except KeyboardInterrupt:
        if Path(checkpoint).is_file():
            raise KeyboardInterrupt(
                f"checkpoint {checkpoint} kept; continue with: {_resume_command(args, TrainConfig)}"
            ) from None
        raise
    if args.checkpoint is None and Path(checkpoint).exists():
        Path(checkpoint).unlink()  # the default checkpoint only serves this --out; the result is written now
    final = ds.isel(step=-1)
    print(
        f"trained {config.runs} model(s) for {config.steps} steps on {ds.attrs['device']}: "
        f"train loss {float(final['train_loss'].mean()):.3g}, test accuracy {float(final['test_acc'].mean()):.3f}"
        + f"; wrote {args.out}"
    )
    if "diverged" in ds and bool(ds["diverged"].any()):
        bad = [int(r) for r in ds["run"].values[ds["diverged"].values]]
        print(
            f"warning: run(s) {', '.join(map(str, bad))} of {config.runs} diverged (NaN or infinite records; a"
            " smaller --lr may help); they are flagged in the dataset's diverged variable and 'fittest fit' needs"
            " --runs to leave them out",
            file=sys.stderr,
        )
    return 0
