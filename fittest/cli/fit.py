"""`fittest fit`: fit effective ODEs to the trajectories in a netCDF file, save them, write a report."""

from __future__ import annotations

import argparse
from pathlib import Path

from fittest.cli.options import add_model_options, add_solutions_option, model_options
from fittest.errors import InputError

HELP = "fit linear / lasso / Lotka-Volterra / SINDy ODEs to trajectories in a netCDF file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from dynamics import catalog

    parser.add_argument("data", metavar="FILE.nc", help="a run dataset (fittest train) or any netCDF file")
    parser.add_argument(
        "--model",
        nargs="+",
        default=[catalog.DEFAULT_MODEL],
        metavar="MODEL",
        help=f"one or more of {', '.join(catalog.MODEL_SPECS)} (default: {catalog.DEFAULT_MODEL})",
    )
    parser.add_argument("--variable", default=None, help="the variable to fit (default: amplitude, or the only one)")
    parser.add_argument("--time", default="step", help="the time dimension (default: step)")
    parser.add_argument("--component", default="frequency", help="the component dimension (default: frequency)")
    parser.add_argument(
        "--t-range",
        nargs=2,
        type=float,
        default=None,
        metavar=("START", "STOP"),
        help="the time window, inclusive (the paper: 0 1000)",
    )
    parser.add_argument(
        "--derivative",
        default=catalog.DEFAULT_DERIVATIVE,
        choices=catalog.DERIVATIVES,
        help=f"how to estimate dx/dt (default: {catalog.DEFAULT_DERIVATIVE})",
    )
    parser.add_argument("--pool", action="store_true", help="one ODE for all samples instead of one per sample")
    add_model_options(parser)
    add_solutions_option(parser)
    parser.add_argument(
        "--out", default=None, metavar="FIT.nc", help="save the fit; with several models, FIT-<model>.nc each"
    )
    parser.add_argument("--report", default=None, metavar="DIR", help="write report.html and report.md into DIR")


def open_data(path: str):
    """Open a netCDF file; a run dataset (by its schema) is also checked against the contract.

    Raises:
        InputError: the file is missing, is not netCDF, or claims to be a run dataset and is not one.
    """
    from fittest.atomic import read_netcdf
    from training.rundata import check_run, is_run

    ds = read_netcdf(path, what="a netCDF file")
    return check_run(ds, source=repr(str(path))) if is_run(ds) else ds


def output_paths(out: str, models: list[str]) -> dict[str, Path]:
    """Where each model's fit is saved: ``out`` itself for one model, ``out`` with a ``-model`` suffix for several."""
    if len(models) == 1:
        return {models[0]: Path(out)}
    base = Path(out)
    return {model: base.with_name(f"{base.stem}-{model}{base.suffix or '.nc'}") for model in models}


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import dynamics
    from fittest.atomic import output_file, output_folder

    models = list(dict.fromkeys(args.model))
    unknown = [m for m in models if m not in dynamics.MODELS]
    if unknown:
        raise InputError(f"unknown model(s) {unknown}: use some of {sorted(dynamics.MODELS)}")
    # refuse unusable destinations before fitting, so a bad --report does not leave saved fits without one
    if args.report:
        output_folder(args.report, create=False)
    out_paths = output_paths(args.out, models) if args.out else {}
    for path in out_paths.values():
        output_file(path)
    data = open_data(args.data)
    fits = []
    for model in models:
        fitted = dynamics.fit(
            data,
            model,
            variable=args.variable,
            time=args.time,
            component=args.component,
            t_range=args.t_range,
            derivative=args.derivative,
            pool=args.pool,
            **model_options(args, model),
        )
        r2 = fitted.r2_derivative.values
        print(f"{model}: R² of dx/dt median {np.nanmedian(r2):.4f} (min {np.nanmin(r2):.4f}) over {r2.size} equations")
        fits.append(fitted)
    if out_paths:
        for fitted, path in zip(fits, out_paths.values(), strict=True):
            fitted.save(path)
            print(f"saved {path}")
    if args.report:
        written = dynamics.write_report(fits, args.report, data=data, methods=args.methods)
        print(f"report: {written['html']} and {written['markdown']}")
    return 0
