"""`fittest figures`: regenerate the paper's figures, each as a PNG and a JSON of the numbers it shows."""

from __future__ import annotations

import argparse

from fittest.cli.options import add_cluster_options, add_progress_option

HELP = (
    "regenerate the paper's figures (PNG + JSON of their numbers): quick on local cores, or at paper scale on"
    " GPUs or a dask cluster"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="figures to make, e.g. fig09 or 9 (default: all, fig02 to fig16)"
    )
    parser.add_argument(
        "--profile",
        choices=["quick", "paper"],
        default="quick",
        help="quick: minutes on a CPU; paper: the paper's counts, 30000 steps, for GPUs or a cluster [%(default)s]",
    )
    parser.add_argument("--out", default="figures", help="output folder, created [%(default)s]")
    parser.add_argument(
        "--cache",
        default=".fittest-cache",
        help="folder of trained ensembles (a sweep store, runs.zarr), reused by later calls [%(default)s]",
    )
    parser.add_argument("--no-cache", action="store_true", help="train everything again and store nothing")
    parser.add_argument("--device", default=None, help="cpu, cuda or auto (default: the profile's, auto)")
    parser.add_argument("--list", action="store_true", help="list the figures and what each shows, then stop")
    add_progress_option(parser, what="the ensembles and the figures")
    add_cluster_options(parser, shared="--cache", what="ensembles")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from fittest.atomic import check_distinct, output_folder
    from fittest.errors import InputError
    from paper_figures import FIGURES, RunCache, figure_module, figure_names, get_profile, make_figures

    names = figure_names(args.names)
    if args.list:
        for name in names:
            print(f"{name}  {FIGURES[name]:38s} {figure_module(name).TITLE}")
        return 0
    output_folder(args.out, create=False)  # an empty or unwritable --out fails before any figure is made
    if not args.no_cache and not args.cache.strip():
        raise InputError("--cache is empty: give a folder for the trained ensembles, or --no-cache")
    if not args.no_cache:  # the figures' files would land inside the sweep store the ensembles are read from
        check_distinct(args.out, {"--cache": args.cache}, what="--out")
    profile = get_profile(args.profile)
    if args.device is not None:
        profile = dataclasses.replace(profile, device=args.device)
    cache = RunCache(args.cache, enabled=not args.no_cache, workers=args.workers, scheduler=args.scheduler)
    results = make_figures(names, profile=profile, out=args.out, cache=cache, bar=args.progress, keep_going=True)
    failed = [name for name, content in results.items() if "error" in content]
    for name, content in results.items():
        if name in failed:
            print(f"{name}: FAILED: {content['error']}")
        else:
            print(f"{args.out}/{name}.png  {content['seconds']:7.1f} s  {content['title']}")
    reused = len(cache.used) - len(cache.trained)
    where = args.cache if cache.enabled else "memory"
    print(
        f"{len(cache.trained)} ensembles trained in {cache.sweeps} sweep(s), {reused} reused ({where});"
        f" {len(failed)} figure(s) failed"
    )
    return 1 if failed else 0
