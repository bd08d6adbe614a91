"""Make figures: build each one through its script, then write ``DIR/figNN.png`` and ``DIR/figNN.json``."""

from __future__ import annotations

import os
import time

from fittest.atomic import output_folder
from fittest.errors import InputError
from fittest.progress import progress
from paper_figures.cache import DEFAULT_FOLDER, RunCache
from paper_figures.context import Context
from paper_figures.output import write_json, write_png
from paper_figures.profiles import Profile, get_profile
from paper_figures.registry import figure_module, figure_names


def make_figure(
    name: str,
    *,
    profile: str | Profile = "quick",
    out: str | os.PathLike = ".",
    cache: RunCache | str | os.PathLike | None = None,
) -> dict:
    """Make one figure: train (or read from the cache) what it needs, draw it, write its PNG and JSON.

    Arguments:
        name: the figure, ``"fig09"`` (or ``9``).
        profile: ``"quick"``, ``"paper"`` or a :class:`~paper_figures.profiles.Profile`.
        out: the folder for ``figNN.png`` and ``figNN.json`` (created; its parent must exist).
        cache: a :class:`~paper_figures.cache.RunCache` or its folder; default ``.fittest-cache``.

    Returns:
        The content of the JSON file: ``figure``, ``title``, ``claim``, ``profile``, ``numbers`` (what the figure
        shows), ``runs`` (configurations used, how many were trained now) and ``seconds``.

    Raises:
        InputError: an unknown figure or profile, or an ``out`` that is a file or lies in a missing folder.
    """
    name = figure_names([name])[0]
    profile = get_profile(profile)
    if not isinstance(cache, RunCache):
        cache = RunCache(DEFAULT_FOLDER if cache is None else cache)
    out = output_folder(out, create=False)  # fail before training; made once there is a figure to write
    module = figure_module(name)
    before_trained, before_requests = len(cache.trained), len(cache.requests)
    start = time.perf_counter()
    figure, numbers = module.build(Context(profile=profile, cache=cache))
    seconds = time.perf_counter() - start
    used = {key: cache.used[key] for key in dict.fromkeys(cache.requests[before_requests:])}
    content = {
        "figure": name,
        "title": module.TITLE,
        "claim": module.CLAIM,
        "profile": profile.to_dict(),
        "numbers": numbers,
        "runs": {"trained_now": len(cache.trained) - before_trained, "configs": used},
        "seconds": round(seconds, 2),
    }
    write_png(output_folder(out) / f"{name}.png", figure)
    write_json(out / f"{name}.json", content)
    return content


def make_figures(
    names=None,
    *,
    profile: str | Profile = "quick",
    out: str | os.PathLike = ".",
    cache: RunCache | str | os.PathLike | None = None,
    bar: bool | None = None,
    keep_going: bool = False,
) -> dict[str, dict]:
    """Make several figures (all by default) with a progress bar over them; one cache serves them all.

    Arguments:
        names: figure names, or None for all.
        profile, out, cache: as in :func:`make_figure`.
        bar: show the progress bar (default: when standard error is a terminal).
        keep_going: when a figure fails, record ``{"error": message}`` for it and go on with the next, so that
            one failure does not cost the others' (possibly long) training.

    Returns:
        ``{name: JSON content}`` in the order made.
    """
    names = figure_names(names)
    profile = get_profile(profile)
    if not isinstance(cache, RunCache):
        cache = RunCache(DEFAULT_FOLDER if cache is None else cache)
    results = {}
    with progress(names, desc=f"figures ({profile.name})", unit="fig", enabled=bar) as figures:
        for name in figures:
            figures.set_postfix(figure=name)
            try:
                results[name] = make_figure(name, profile=profile, out=out, cache=cache)
            except Exception as error:
                if not keep_going or isinstance(error, InputError):
                    raise
                results[name] = {"error": f"{type(error).__name__}: {error}"}
    return results
