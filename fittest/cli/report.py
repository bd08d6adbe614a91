"""`fittest report`: a page of saved fits against their data, or of a run's or a sweep's measures.

What is drawn follows from the input: saved fits (``fittest fit --out``) with ``--data`` give the fits' report
(:func:`dynamics.write_report`); one run dataset (``fittest train``) gives its measures (training curves with the
transitions, restricted and excluded loss, sparsity, death steps: :func:`training.write_run_report`); one sweep
store (``fittest sweep``) gives the phase diagram of a summary value (:func:`training.write_sweep_report`).
"""

from __future__ import annotations

from fittest.cli.fit import add_samples_option, open_data, write_fit_report
from fittest.cli.options import add_solutions_option
from fittest.errors import InputError

HELP = "render an HTML + Markdown report: saved fits with --data, or a run dataset's or a sweep store's measures"

FIT_ONLY = ("samples", "methods", "holdout")
RUN_ONLY = ("train_threshold", "test_threshold")
SWEEP_ONLY = ("value", "x", "y", "power_law", "reduce")


def add_arguments(parser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="saved fits (FIT.nc ..., with --data), or one run dataset (RUN.nc) or one sweep store (SWEEP.zarr)",
    )
    parser.add_argument(
        "--data", default=None, metavar="FILE.nc", help="the trajectories the saved fits were made on (fits only)"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="the report folder (created if missing)")
    fits = parser.add_argument_group("saved fits (with --data)")
    add_solutions_option(fits)
    fits.add_argument(
        "--holdout",
        type=float,
        default=None,
        help="fraction of the window held out for the forecast score (default 0.25; 0 skips)",
    )
    add_samples_option(fits)
    run = parser.add_argument_group("a run dataset")
    for which, what in (("train", "memorised"), ("test", "generalised")):
        run.add_argument(
            f"--{which}-threshold",
            type=float,
            default=None,
            metavar="ACC",
            help=f"the {which} accuracy that counts as {what} (default 0.99)",
        )
    sweep = parser.add_argument_group("a sweep store")
    sweep.add_argument(
        "--value", default=None, help="the summary value of the phase diagram (default: generalisation_step)"
    )
    sweep.add_argument(
        "--x", default=None, metavar="FIELD", help="the swept field along x (default: the sweep's first)"
    )
    sweep.add_argument(
        "--y", default=None, metavar="FIELD", help="the swept field along y (default: the sweep's second)"
    )
    sweep.add_argument(
        "--power-law",
        nargs="?",
        const=True,
        default=None,
        metavar="AGAINST",
        help="fit value = c * s^a, s a swept field or X*Y their product (the default: --power-law alone)",
    )
    sweep.add_argument(
        "--reduce",
        default=None,
        choices=("mean", "median", "min", "max"),
        help="how a point's replicates are reduced in the diagram (default: median)",
    )


def _refuse(args, names: tuple[str, ...], why: str) -> None:
    given = [name for name in names if getattr(args, name) is not None]
    if given:
        options = ", ".join("--" + name.replace("_", "-") for name in given)
        raise InputError(f"{options} {'applies' if len(given) == 1 else 'apply'} to {why}; leave it out here")


def run(args) -> int:
    from pathlib import Path

    from fittest.atomic import check_distinct, output_folder

    if args.data is not None:
        return _fits(args)
    _refuse(args, FIT_ONLY, "saved fits, which need --data FILE.nc")
    if len(args.inputs) > 1:
        raise InputError(
            f"{len(args.inputs)} inputs without --data: give one run dataset or one sweep store, or saved fits "
            "with --data FILE.nc"
        )
    source = args.inputs[0]
    check_distinct(args.out, {"the input": source}, what="--out")
    output_folder(args.out, create=False)  # an empty, unwritable or misplaced --out fails before any work
    if Path(source).is_dir():
        return _sweep(args, source)
    _refuse(args, SWEEP_ONLY, "a sweep store")
    return _run_dataset(args, source)


def _fits(args) -> int:
    from fittest.atomic import check_distinct, output_folder

    _refuse(args, RUN_ONLY + SWEEP_ONLY, "a run dataset or a sweep store, given without --data")
    inputs = {"--data": args.data, **{f"the fit {path!r}": path for path in args.inputs}}
    check_distinct(args.out, inputs, what="--out")  # named as the input it is, before the generic file message
    output_folder(args.out, create=False)  # an empty, unwritable or misplaced --out fails before any work
    fits = [_load_fit(path) for path in args.inputs]
    data = open_data(args.data)
    holdout = 0.25 if args.holdout is None else args.holdout
    write_fit_report(fits, args.out, data, args, holdout=holdout)
    return 0


def _load_fit(path: str):
    """A saved fit; a run dataset or sweep store given as one is named as what it is."""
    import dynamics
    from training.rundata import is_run

    try:
        return dynamics.load(path)
    except InputError:
        from pathlib import Path

        if Path(path).is_dir() or (Path(path).is_file() and is_run(open_data(path))):
            raise InputError(
                f"{path!r} is a run dataset or sweep store: leave out --data to report its measures"
            ) from None
        raise


def _run_dataset(args, source: str) -> int:
    from dynamics.fitted import SCHEMA as FIT_SCHEMA
    from training.rundata import is_run

    data = open_data(source)
    if not is_run(data):
        if data.attrs.get("schema") == FIT_SCHEMA:
            raise InputError(f"{source!r} is a saved fit: name the data it was fitted to with --data FILE.nc")
        raise InputError(
            f"{source!r} is neither a run dataset (fittest train) nor a sweep store (fittest sweep); for saved fits "
            "add --data FILE.nc"
        )
    import training

    thresholds = {
        f"{which}_threshold": value
        for which in ("train", "test")
        if (value := getattr(args, f"{which}_threshold")) is not None
    }
    written = training.write_run_report(
        data, args.out, source=source, command=getattr(args, "_command_line", None), **thresholds
    )
    print(f"report: {written['html']} and {written['markdown']}")
    return 0


def _sweep(args, source: str) -> int:
    _refuse(args, RUN_ONLY, "a run dataset (a sweep's summary uses 0.99)")
    import training

    _, summary = training.open_sweep(source)
    written = training.write_sweep_report(
        summary,
        args.out,
        value=args.value,
        x=args.x,
        y=args.y,
        power_law=args.power_law,
        reduce=args.reduce or "median",
        source=source,
        command=getattr(args, "_command_line", None),
    )
    print(f"report: {written['html']} and {written['markdown']}")
    return 0
