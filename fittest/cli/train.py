"""`fittest train`: train an ensemble of modular-addition models and record its run dataset."""

from __future__ import annotations

import argparse
import shlex

from fittest.cli.options import add_config_options, config_command, config_from_args
from fittest.errors import InputError

HELP = "train an ensemble of modular-addition models and record their Fourier signals to a netCDF run dataset"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from training import TrainConfig

    add_config_options(parser, TrainConfig, title="experiment (defaults: the paper's)")
    parser.add_argument("--out", metavar="FILE.nc", help="write the run dataset here (atomically)")
    parser.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="checkpoint file (default: FILE.nc.ckpt beside --out; removed once --out is written)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint when it exists")
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show the progress bar (default: when standard error is a terminal)",
    )


def _command(args: argparse.Namespace, cls: type) -> str:
    """The command line that reproduces this run (the options that were given, in field order)."""
    words = config_command(args, cls, ["fittest", "train"])
    return words + (f" --out {shlex.quote(args.out)}" if args.out else "")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from training import TrainConfig, train

    config = config_from_args(args, TrainConfig)
    checkpoint = args.checkpoint or (f"{args.out}.ckpt" if args.out else None)
    if args.resume and checkpoint is None:
        raise InputError("--resume needs --checkpoint FILE or --out FILE.nc (whose checkpoint is FILE.nc.ckpt)")
    ds = train(
        config,
        out=args.out,
        checkpoint=checkpoint,
        resume=args.resume,
        progress=args.progress,
        command=_command(args, TrainConfig),
    )
    if args.out and checkpoint and not args.checkpoint and Path(checkpoint).exists():
        Path(checkpoint).unlink()  # the default checkpoint only serves this --out; the result is written now
    final = ds.isel(step=-1)
    print(
        f"trained {config.runs} model(s) for {config.steps} steps on {ds.attrs['device']}: "
        f"train loss {float(final['train_loss'].mean()):.3g}, test accuracy {float(final['test_acc'].mean()):.3f}"
        + (f"; wrote {args.out}" if args.out else "")
    )
    return 0
