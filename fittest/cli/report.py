"""`fittest report`: render the report of saved fits (``fittest fit --out``) against their data."""

from __future__ import annotations

from fittest.cli.fit import add_samples_option, open_data, write_fit_report
from fittest.cli.options import add_solutions_option

HELP = "render an HTML + Markdown report for saved fits and the data they were fitted to"


def add_arguments(parser) -> None:
    parser.add_argument("fits", nargs="+", metavar="FIT.nc", help="fits saved by 'fittest fit --out'")
    parser.add_argument("--data", required=True, metavar="FILE.nc", help="the trajectories the fits were made on")
    parser.add_argument("--out", required=True, metavar="DIR", help="the report folder (created if missing)")
    add_solutions_option(parser)
    parser.add_argument(
        "--holdout",
        type=float,
        default=0.25,
        help="fraction of the window held out for the forecast score (default 0.25; 0 skips)",
    )
    add_samples_option(parser)


def run(args) -> int:
    import dynamics
    from fittest.atomic import check_distinct, output_folder

    inputs = {"--data": args.data, **{f"the fit {path!r}": path for path in args.fits}}
    check_distinct(args.out, inputs, what="--out")  # named as the input it is, before the generic file message
    output_folder(args.out, create=False)  # an empty, unwritable or misplaced --out fails before any work
    fits = [dynamics.load(path) for path in args.fits]
    data = open_data(args.data)
    write_fit_report(fits, args.out, data, args, holdout=args.holdout)
    return 0
