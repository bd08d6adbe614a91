"""`fittest fit`: fit effective ODEs to the trajectories in a netCDF file, save them, write a report."""

from __future__ import annotations

HELP = "fit linear / lasso / Lotka-Volterra / SINDy ODEs to trajectories in a netCDF file"


def add_methods_option(parser) -> None:
    """``--methods``: the solutions a report compares with the data (``fittest fit`` and ``fittest report``)."""
    parser.add_argument(
        "--methods",
        nargs="+",
        default=None,
        choices=["analytic", "diffrax", "euler"],
        help="solution methods in the report (default: analytic for affine models, else diffrax)",
    )


def add_arguments(parser) -> None:
    parser.add_argument("data", metavar="FILE.nc", help="a run dataset (fittest train) or any netCDF file")
    parser.add_argument(
        "--model",
        nargs="+",
        default=["linear"],
        metavar="MODEL",
        help="one or more of linear, lasso, lotka_volterra, sindy (default: linear)",
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
        default="forward",
        choices=["forward", "central", "savgol"],
        help="how to estimate dx/dt (default: forward, as in the paper)",
    )
    parser.add_argument("--pool", action="store_true", help="one ODE for all samples instead of one per sample")
    parser.add_argument("--alpha", type=float, default=0.01, help="lasso penalty (default 0.01)")
    parser.add_argument(
        "--lasso-solver",
        dest="solver",
        choices=("lars", "cd"),
        default="lars",
        help="lasso solver: lars (exact, default) or cd (coordinate descent, the authors')",
    )
    parser.add_argument(
        "--form",
        default="glv",
        choices=["glv", "quadratic"],
        help="Lotka-Volterra form (default glv; quadratic is the paper's eq. 2)",
    )
    parser.add_argument("--degree", type=int, default=2, help="SINDy polynomial degree (default 2)")
    parser.add_argument("--threshold", type=float, default=None, help="SINDy STLSQ threshold (default pysindy's)")
    add_methods_option(parser)
    parser.add_argument(
        "--out", default=None, metavar="FIT.nc", help="save the fit; with several models, FIT-<model>.nc each"
    )
    parser.add_argument("--report", default=None, metavar="DIR", help="write report.html and report.md into DIR")


MODEL_OPTIONS = {"lasso": ("alpha", "solver"), "lotka_volterra": ("form",), "sindy": ("degree", "threshold")}


def open_data(path):
    """Open a netCDF file: run datasets through ``training.open_run`` (checked), anything else plainly.

    Raises:
        InputError: the file is missing or is not netCDF.
    """
    import os

    import xarray as xr

    from fittest.errors import InputError

    if not os.path.isfile(path):
        raise InputError(f"no such file: {path!r}")
    try:
        with xr.open_dataset(path, engine="h5netcdf") as opened:
            ds = opened.load()
    except Exception as error:  # h5py and xarray raise many types for a file that is not netCDF
        raise InputError(f"{path!r} cannot be read as netCDF ({type(error).__name__}): give a .nc file") from None
    if ds.attrs.get("schema") == "fittest.run/1":
        try:
            from training import open_run
        except ImportError:
            return ds
        return open_run(path)
    return ds


def output_paths(out: str, models) -> dict:
    from pathlib import Path

    if len(models) == 1:
        return {models[0]: Path(out)}
    base = Path(out)
    return {model: base.with_name(f"{base.stem}-{model}{base.suffix or '.nc'}") for model in models}


def run(args) -> int:
    import numpy as np

    import dynamics
    from fittest.atomic import output_file, output_folder
    from fittest.errors import InputError

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
        options = {name: getattr(args, name) for name in MODEL_OPTIONS.get(model, ())}
        fitted = dynamics.fit(
            data,
            model,
            variable=args.variable,
            time=args.time,
            component=args.component,
            t_range=args.t_range,
            derivative=args.derivative,
            pool=args.pool,
            **options,
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
