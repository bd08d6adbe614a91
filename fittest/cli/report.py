"""`fittest report`: render the report of saved fits (``fittest fit --out``) against their data."""

from __future__ import annotations

from fittest.cli.fit import add_samples_option, open_data, report_highlight
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
    from fittest.atomic import output_folder

    output_folder(args.out, create=False)  # an empty, unwritable or misplaced --out fails before any work
    fits = [dynamics.load(path) for path in args.fits]
    data = open_data(args.data)
    highlight, label = report_highlight(data, fits[0].component)
    written = dynamics.write_report(
        fits,
        args.out,
        data=data,
        samples=args.samples,
        highlight=highlight,
        highlight_label=label,
        methods=args.methods,
        holdout=args.holdout,
        source=args.data,
        command=getattr(args, "_command_line", None),
    )
    print(f"report: {written['html']} and {written['markdown']}")
    return 0
