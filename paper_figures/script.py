"""The command line every figure script shares: ``python -m paper_figures.fig09_linear_ode --profile quick``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fittest.errors import InputError


def main(name: str, argv: Sequence[str] | None = None) -> int:
    """Parse ``--profile``, ``--out``, ``--cache``, ``--no-cache`` and make figure ``name``."""
    from paper_figures.cache import DEFAULT_FOLDER, RunCache
    from paper_figures.profiles import PROFILES
    from paper_figures.registry import FIGURES
    from paper_figures.runner import make_figure

    parser = argparse.ArgumentParser(prog=f"python -m {FIGURES[name]}", description=f"make the paper's {name}")
    parser.add_argument("--profile", choices=list(PROFILES), default="quick", help="how much to compute [quick]")
    parser.add_argument("--out", default="figures", help="folder for the PNG and JSON [figures]")
    parser.add_argument("--cache", default=DEFAULT_FOLDER, help=f"folder of trained ensembles [{DEFAULT_FOLDER}]")
    parser.add_argument("--no-cache", action="store_true", help="train everything again and store nothing")
    args = parser.parse_args(argv)
    try:
        content = make_figure(
            name, profile=args.profile, out=args.out, cache=RunCache(args.cache, enabled=not args.no_cache)
        )
    except InputError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    print(f"{args.out}/{name}.png, {args.out}/{name}.json ({content['seconds']:.0f} s)")
    return 0
