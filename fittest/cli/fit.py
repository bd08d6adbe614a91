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
    parser.add_argument("--time", default=None, help="the time dimension (default: inferred; step on a run dataset)")
    parser.add_argument(
        "--component",
        default=None,
        help="the component dimension (default: the one the run dataset's variable names, else inferred)",
    )
    parser.add_argument(
        "--runs",
        nargs="+",
        type=int,
        default=None,
        metavar="RUN",
        help="fit only these runs (indices along run), e.g. to leave out diverged ones (default: every run)",
    )
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
    for option in catalog.DERIVATIVE_OPTIONS:
        parser.add_argument(
            f"--{option.name}",
            type=option.type,
            default=None,
            metavar=option.type.__name__.upper(),
            help=f"{option.help} (default {option.default})",
        )
    parser.add_argument("--pool", action="store_true", help="one ODE for all samples instead of one per sample")
    for option in catalog.FIT_OPTIONS:
        parser.add_argument(
            f"--{option.name}",
            type=option.type,
            default=option.default,
            choices=option.choices,
            metavar=None if option.choices else option.type.__name__.upper(),
            help=f"{option.help} (default {option.default})",
        )
    add_model_options(parser)
    add_solutions_option(parser)
    parser.add_argument(
        "--out", default=None, metavar="FIT.nc", help="save the fit; with several models, FIT-<model>.nc each"
    )
    parser.add_argument("--report", default=None, metavar="DIR", help="write report.html and report.md into DIR")
    add_samples_option(parser)


def add_samples_option(parser: argparse.ArgumentParser) -> None:
    """``--samples``: which samples the report draws (the tables always cover all of them)."""
    parser.add_argument(
        "--samples",
        nargs="+",
        default=None,
        metavar="SAMPLE",
        help="the samples the report draws: positions in the fitted data (0 2) or dim=value (run=3); the tables "
        "and the R² figure cover every sample (default: the first)",
    )


def write_fit_report(fits, folder: str, data, args: argparse.Namespace, *, holdout: float = 0.25) -> None:
    """The report of ``fits`` on ``data`` as the command asked (``--samples``, ``--methods``), with the survivors of
    a run dataset shaded (training.survivors: dynamics never imports training) and the command in its provenance.
    """
    import dynamics
    from training.rundata import is_run

    highlight, label = None, "highlighted"
    amplitude = data.get("amplitude")
    if is_run(data) and amplitude is not None and fits[0].component in amplitude.dims:
        import training

        highlight, label = training.survivors(data, component=fits[0].component), "survivor"
    written = dynamics.write_report(
        fits,
        folder,
        data=data,
        samples=args.samples,
        highlight=highlight,
        highlight_label=label,
        methods=args.methods,
        holdout=holdout,
        source=args.data,
        command=getattr(args, "_command_line", None),
    )
    print(f"report: {written['html']} and {written['markdown']}")


def open_data(path: str):
    """Open a netCDF file; a run dataset (by its schema) is also checked against the contract.

    Raises:
        InputError: the file is missing, is not netCDF, or claims to be a run dataset and is not one.
    """
    from fittest.atomic import read_netcdf
    from training.rundata import check_run, is_run

    ds = read_netcdf(path, what="a netCDF file")
    return check_run(ds, source=repr(str(path))) if is_run(ds) else ds


def select_runs(data, runs: list[int] | None, source: str):
    """``data`` with only the ``runs`` given (all by default); a run that diverged must be left out.

    Raises:
        InputError: a run is given that the data lack or that diverged, or runs diverged and none were selected.
    """
    diverged = data["diverged"].values.astype(bool) if "diverged" in data.data_vars else None
    if runs is None:
        if diverged is not None and diverged.any():
            bad = [int(r) for r in data["run"].values[diverged]]
            good = [str(int(r)) for r in data["run"].values[~diverged]]
            raise InputError(
                f"{source!r}: run(s) {', '.join(map(str, bad))} diverged (NaN or infinite records): select the"
                f" others with --runs {' '.join(good) or 'RUN ...'}"
            )
        return data
    if "run" not in data.dims:
        raise InputError(f"--runs selects along run, which {source!r} lacks: leave --runs out")
    count = data.sizes["run"]
    wrong = [r for r in runs if not 0 <= r < count]
    if wrong:
        raise InputError(f"--runs {' '.join(map(str, wrong))}: {source!r} has runs 0..{count - 1}")
    runs = list(dict.fromkeys(runs))
    if diverged is not None and diverged[runs].any():
        bad = [r for r in runs if diverged[r]]
        raise InputError(
            f"run(s) {', '.join(map(str, bad))} diverged (NaN or infinite records): leave them out of --runs"
        )
    skipped = [r for r in range(count) if r not in runs]
    if skipped:
        print(f"fitting run(s) {', '.join(map(str, runs))}; skipped {', '.join(map(str, skipped))}")
    return data.isel(run=runs)


def output_paths(out: str, models: list[str]) -> dict[str, Path]:
    """Where each model's fit is saved: ``out`` itself for one model, ``out`` with a ``-model`` suffix for several."""
    if len(models) == 1:
        return {models[0]: Path(out)}
    base = Path(out)
    return {model: base.with_name(f"{base.stem}-{model}{base.suffix or '.nc'}") for model in models}


def run(args: argparse.Namespace) -> int:
    import numpy as np

    import dynamics
    from dynamics import catalog
    from fittest.atomic import check_distinct, output_file, output_folder

    models = list(dict.fromkeys(args.model))
    unknown = [m for m in models if m not in dynamics.MODELS]
    if unknown:
        raise InputError(f"unknown model(s) {unknown}: use some of {sorted(dynamics.MODELS)}")
    # refuse unusable destinations before fitting, so a bad --report does not leave saved fits without one
    if args.report is not None:
        output_folder(args.report, create=False)
    if args.out is not None and not args.out.strip():
        raise InputError("--out is empty: give a file name for the fit, or leave --out out")
    out_paths = output_paths(args.out, models) if args.out is not None else {}
    for path in out_paths.values():
        output_file(path, what="fit")
        # the fit would replace the data it was made from, or take the name the report's folder needs
        check_distinct(path, {"the input": args.data, "--report": args.report}, what="--out")
    data = select_runs(open_data(args.data), args.runs, args.data)
    if args.component is None and args.variable in data.data_vars:
        # a run dataset's variable names its component dimension (frequency, irrep, unit, ...)
        args.component = data[args.variable].attrs.get("component")
    if args.samples is not None:  # a bad --samples is refused before fitting too
        if args.report is None:
            raise InputError("--samples chooses what the report draws: add --report DIR, or leave --samples out")
        dynamics.report_samples(data, args.samples, variable=args.variable, time=args.time, component=args.component)
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
            **{o.name: getattr(args, o.name) for o in catalog.DERIVATIVE_OPTIONS},
            pool=args.pool,
            **{o.name: getattr(args, o.name) for o in catalog.FIT_OPTIONS},
            **model_options(args, model),
        )
        r2 = fitted.r2_derivative.values
        print(f"{model}: median R² of dx/dt {np.nanmedian(r2):.4f} (min {np.nanmin(r2):.4f}) over {r2.size} equations")
        if fitted.objective == "trajectory":
            converged = fitted.converged.values
            print(f"{model}: trajectory fit converged in {int(converged.sum())} of {converged.size} sample(s)")
        fits.append(fitted)
    if out_paths:
        for fitted, path in zip(fits, out_paths.values(), strict=True):
            fitted.save(path)
            print(f"saved {path}")
    if args.report is not None:
        write_fit_report(fits, args.report, data, args)
    return 0
