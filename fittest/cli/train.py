"""`fittest train`: train an ensemble of modular-addition models and record its run dataset."""

from __future__ import annotations

import argparse
import shlex

HELP = "train an ensemble of modular-addition models and record their Fourier signals to a netCDF run dataset"

# Config fields and how their command-line values are read; anything not parsable is passed through as text so
# that TrainConfig's validation names the field in its one-line error.
_SCALARS = (
    "p",
    "d",
    "runs",
    "steps",
    "train_frac",
    "hidden",
    "seed",
    "embed_seed",
    "mlp_seed",
    "split_seed",
    "construct_eps",
    "dense_until",
    "record_every",
    "log_records",
    "checkpoint_every",
)
_CHOICES = ("activation", "mlp_init", "device", "dtype", "record_spacing")
_LISTS = ("lr", "weight_decay", "betas", "init_keep", "snapshot_steps")
_MAPS = ("init_perturb", "init_construct")
_FLAGS = ("freeze_embedding", "save_mlp")
_HELP = {
    "p": "modulus: number of tokens, an integer >= 3",
    "d": "embedding dimension",
    "runs": "independent models in the ensemble",
    "steps": "optimizer steps per model",
    "train_frac": "fraction of the p^2 pairs used for training",
    "hidden": "width of both hidden layers",
    "seed": "base seed of every per-run seed not fixed below",
    "embed_seed": "one embedding shared by every run (default: each run draws its own)",
    "mlp_seed": "one MLP initialisation shared by every run (default: each run draws its own)",
    "split_seed": "one train/test split shared by every run (default: each run draws its own)",
    "construct_eps": "amplitude ||F_k|| of the frequencies that --init-construct leaves out",
    "dense_until": "record every step up to this one",
    "record_every": "then record every this many steps (--record-spacing stride)",
    "log_records": "or this many log-spaced records (--record-spacing log)",
    "checkpoint_every": "steps between checkpoints",
    "activation": "silu (the authors' code), relu, gelu or tanh",
    "mlp_init": "torch (default Linear init, the authors' code) or normal (N(0,1), the paper's appendix E)",
    "device": "auto, cpu, cuda, cuda:N or mps",
    "dtype": "float32 or float64",
    "record_spacing": "stride or log",
    "lr": "AdamW learning rate: one value, or one per run",
    "weight_decay": "AdamW weight decay on every parameter: one value, or one per run",
    "betas": "AdamW beta1 beta2",
    "init_keep": "keep only these frequencies' circles in the initial embedding",
    "snapshot_steps": "steps at which the whole embedding is stored (0 and the last always are)",
    "init_perturb": "scale circles of the initial embedding: K=FACTOR ...",
    "init_construct": "build the initial embedding from circles: K=AMPLITUDE ... (amplitude ||F_k||)",
    "freeze_embedding": "never train the embedding (section 3.1)",
    "save_mlp": "store the MLP at every embedding snapshot (for post-hoc ablation)",
}


def number(text: str):
    """An option's text as an int, else a float, else unchanged, so that the config's check names the field."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _option(name: str) -> str:
    """The command-line option of a config field."""
    return f"--{name.replace('_', '-')}"


def _mapping(items: list[str]):
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            return items  # TrainConfig refuses it with the field's name
        out[number(key)] = number(value)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from training.config import TrainConfig

    defaults = TrainConfig.__dataclass_fields__
    group = parser.add_argument_group("experiment (defaults: the paper's)")
    for name in _SCALARS + _CHOICES:
        group.add_argument(
            _option(name),
            dest=name,
            metavar="VALUE" if name in _SCALARS else "NAME",
            help=f"{_HELP[name]} (default {defaults[name].default!r})",
        )
    for name in _LISTS:
        group.add_argument(
            _option(name),
            dest=name,
            nargs="+",
            metavar="V",
            help=f"{_HELP[name]} (default {defaults[name].default!r})",
        )
    for name in _MAPS:
        group.add_argument(
            _option(name),
            dest=name,
            nargs="+",
            metavar="K=V",
            help=f"{_HELP[name]}, e.g. 3=2.0 7=0.5",
        )
    for name in _FLAGS:
        group.add_argument(_option(name), dest=name, action="store_true", default=None, help=_HELP[name])
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


def config_from_args(args: argparse.Namespace):
    """The :class:`~training.TrainConfig` the options describe (unset options keep their defaults)."""
    from training.config import TrainConfig

    given = {}
    for name in _SCALARS + _CHOICES + _LISTS + _MAPS + _FLAGS:
        value = getattr(args, name, None)
        if value is None:
            continue
        if name in _SCALARS:
            value = number(value)
        elif name in _LISTS:
            value = [number(v) for v in value]
            value = value[0] if name in ("lr", "weight_decay") and len(value) == 1 else tuple(value)
        elif name in _MAPS:
            value = _mapping(value)
        given[name] = value
    return TrainConfig(**given)


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (the options that were given, in a fixed order)."""
    words = ["fittest", "train"]
    for name in _SCALARS + _CHOICES + _LISTS + _MAPS:
        value = getattr(args, name, None)
        if value is not None:
            words += [_option(name), *([value] if isinstance(value, str) else value)]
    words += [_option(name) for name in _FLAGS if getattr(args, name, None)]
    if args.out:
        words += ["--out", args.out]
    return shlex.join(words)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from training.engine.loop import train

    config = config_from_args(args)
    checkpoint = args.checkpoint or (f"{args.out}.ckpt" if args.out else None)
    if args.resume and checkpoint is None:
        from fittest.errors import InputError

        raise InputError("--resume needs --checkpoint FILE or --out FILE.nc (whose checkpoint is FILE.nc.ckpt)")
    ds = train(
        config,
        out=args.out,
        checkpoint=checkpoint,
        resume=args.resume,
        progress=args.progress,
        command=_command(args),
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
