"""How a figure is made: find the scripts, hand each a context, write its PNG and JSON.

A figure is a module ``paper_figures/figNN_<topic>.py`` with ``TITLE``, ``CLAIM`` and
``build(ctx) -> (figure, numbers)``; it is found by its file name, so adding a figure is adding a file. It may
also declare the ensembles it draws from, ``configs(ctx)``: a list of ``training.TrainConfig``, or a generator
that yields such lists in stages, a later stage reading the ensembles of the earlier ones through ``ctx`` (an
intervention chosen from a trained ensemble). :func:`train_configs` trains what the chosen figures declare,
each stage of all of them as ONE sweep, before anything is drawn; an ensemble a figure asks for without
declaring it is trained on its own, through the same sweep path, when it is asked for.
:func:`make_figure` builds one through a :class:`Context` and writes ``DIR/figNN.png`` and ``DIR/figNN.json``;
:func:`make_figures` does several with a progress bar; :func:`main` is the command line every script shares.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import xarray as xr

import training
from fittest.atomic import output_folder, write_atomic
from fittest.errors import InputError
from fittest.progress import progress
from paper_figures.cache import DEFAULT_FOLDER, RunCache
from paper_figures.profiles import PROFILES, Profile, get_profile

_SCRIPT = re.compile(r"(fig\d\d)_\w+")


def _discover() -> dict[str, str]:
    folder = Path(__file__).parent
    found = (_SCRIPT.fullmatch(path.stem) for path in sorted(folder.glob("fig[0-9][0-9]_*.py")))
    return {match[1]: f"{__package__}.{match[0]}" for match in found if match}


#: Figure name -> module, one per script ``figNN_<topic>.py`` of this folder, in order. Figure 1 of the paper is
#: an illustration with no data behind it.
FIGURES: dict[str, str] = _discover()


def figure_names(names: Iterable[str | int] | None = None) -> list[str]:
    """Normalise figure names: ``9``, ``"9"``, ``"fig9"``, ``"fig09"`` all mean ``"fig09"``.

    Arguments:
        names: figure names or numbers; none (or empty) means every figure.

    Returns:
        The canonical names, each once, in the order given.

    Raises:
        InputError: a name that is not one of the figures.
    """
    if not names:
        return list(FIGURES)
    result = []
    for name in names:
        text = str(name).strip().lower().removeprefix("fig")
        canonical = f"fig{int(text):02d}" if text.isdigit() else str(name)
        if canonical not in FIGURES:
            raise InputError(f"unknown figure {name!r}: choose from {', '.join(FIGURES)} (or give none for all)")
        if canonical not in result:
            result.append(canonical)
    return result


def figure_module(name: str | int) -> ModuleType:
    """The script module of figure ``name``, imported on demand (the scripts import matplotlib).

    Raises:
        InputError: an unknown figure.
    """
    return importlib.import_module(FIGURES[figure_names([name])[0]])


@dataclasses.dataclass
class Context:
    """The profile and the run cache one figure is made with.

    Arguments:
        profile: the counts to use.
        cache: where trained ensembles are kept.
    """

    profile: Profile
    cache: RunCache

    def config(self, **fields) -> training.TrainConfig:
        """A ``training.TrainConfig`` with the profile's steps and device unless ``fields`` say otherwise."""
        fields.setdefault("steps", self.profile.steps)
        fields.setdefault("device", self.profile.device)
        return training.TrainConfig(**fields)

    def load(self, config: training.TrainConfig) -> xr.Dataset:
        """The run dataset of ``config``, trained once and then read from the cache."""
        return self.cache.get(config)

    def train(self, **fields) -> xr.Dataset:
        """The run dataset of ``self.config(**fields)``, trained once and then read from the cache."""
        return self.load(self.config(**fields))


def stages(module: ModuleType, ctx: Context) -> Iterator[list[training.TrainConfig]]:
    """The configs a figure module declares with ``configs(ctx)``, stage by stage (none without ``configs``)."""
    declare = getattr(module, "configs", None)
    if declare is None:
        return
    declared = declare(ctx)
    if inspect.isgenerator(declared):
        for stage in declared:
            yield list(stage)
    else:
        yield list(declared)


def train_configs(
    modules: Mapping[str, ModuleType],
    ctx: Context,
    *,
    progress: bool | None = None,
    errors: dict[str, str] | None = None,
) -> int:
    """Train the ensembles the figures declare: each stage of all of them as one sweep of ``ctx.cache``.

    Arguments:
        modules: figure name -> its module.
        ctx: the context the figures will be drawn with.
        progress: the sweep's bar over ensembles (default: the cache's).
        errors: where to record ``{name: message}`` of a figure whose declaration fails (it is then left out);
            None raises instead.

    Returns:
        How many ensembles were trained.

    Raises:
        InputError: as ``training.sweep``; any error of a declaration when ``errors`` is None.
    """
    pending = {name: stages(module, ctx) for name, module in modules.items()}
    trained = 0
    while pending:
        wanted: list[training.TrainConfig] = []
        for name, declared in list(pending.items()):
            try:
                wanted.extend(next(declared))
            except StopIteration:
                del pending[name]
            except Exception as error:
                if errors is None or isinstance(error, InputError):
                    raise
                errors[name] = f"{type(error).__name__}: {error}"
                del pending[name]
        trained += ctx.cache.prepare(wanted, progress=progress)
    return trained


def jsonable(value):
    """``value`` with numpy scalars and arrays, xarray objects, tuples and non-finite floats made JSON-ready.

    NaN and infinities become ``None`` (JSON has no spelling for them).
    """
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if hasattr(value, "values") and hasattr(value, "dims"):  # xarray DataArray
        return jsonable(np.asarray(value.values))
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def write_json(path: str | os.PathLike, content: dict) -> Path:
    """Write ``content`` as indented JSON to ``path``, atomically (see :func:`fittest.atomic.write_atomic`).

    Arguments:
        path: the file; its folder must exist.
        content: anything :func:`jsonable` makes JSON-ready.

    Returns:
        The path written.

    Raises:
        InputError: the folder does not exist, or ``path`` is a folder.
    """
    text = json.dumps(jsonable(content), indent=1, sort_keys=False, allow_nan=False) + "\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def write_png(path: str | os.PathLike, figure, *, dpi: int = 120) -> Path:
    """Save a matplotlib ``figure`` as PNG to ``path``, atomically.

    Arguments:
        path: the file; its folder must exist.
        figure: a matplotlib ``Figure``.
        dpi: resolution.

    Returns:
        The path written.

    Raises:
        InputError: the folder does not exist, or ``path`` is a folder.
    """
    return write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight"))


def _run_cache(cache: RunCache | str | os.PathLike | None) -> RunCache:
    return cache if isinstance(cache, RunCache) else RunCache(DEFAULT_FOLDER if cache is None else cache)


def make_figure(
    name: str | int,
    *,
    profile: str | Profile = "quick",
    out: str | os.PathLike = ".",
    cache: RunCache | str | os.PathLike | None = None,
    prepared: bool = False,
) -> dict:
    """Make one figure: train (or read from the cache) what it needs, draw it, write its PNG and JSON.

    Arguments:
        name: the figure, ``"fig09"`` (or ``9``).
        profile: ``"quick"``, ``"paper"`` or a :class:`~paper_figures.profiles.Profile`.
        out: the folder for ``figNN.png`` and ``figNN.json`` (created; its parent must exist).
        cache: a :class:`~paper_figures.cache.RunCache` or its folder; default ``.fittest-cache``.
        prepared: the ensembles the figure declares are trained already (:func:`make_figures` trains those of
            all its figures first); by default they are trained now, as one sweep.

    Returns:
        The content of the JSON file: ``figure``, ``title``, ``claim``, ``profile``, ``numbers`` (what the figure
        shows), ``runs`` (configurations used, how many of them this cache trained for this figure first) and
        ``seconds`` (drawing, after the declared ensembles were trained).

    Raises:
        InputError: an unknown figure or profile, or an ``out`` that is a file or lies in a missing folder.
    """
    name = figure_names([name])[0]
    profile = get_profile(profile)
    cache = _run_cache(cache)
    out = output_folder(out, create=False)  # fail before training; made once there is a figure to write
    module = figure_module(name)
    ctx = Context(profile=profile, cache=cache)
    if not prepared:
        train_configs({name: module}, ctx)
    before_requests = len(cache.requests)
    start = time.perf_counter()
    figure, numbers = module.build(ctx)
    seconds = time.perf_counter() - start
    used = {key: cache.used[key] for key in dict.fromkeys(cache.requests[before_requests:])}
    # an ensemble trained for several figures counts as trained now for the first of them
    trained_now = [key for key in used if key in cache.trained and key not in cache.claimed]
    cache.claimed.update(trained_now)
    content = {
        "figure": name,
        "title": module.TITLE,
        "claim": module.CLAIM,
        "profile": profile.to_dict(),
        "numbers": numbers,
        "runs": {"trained_now": len(trained_now), "configs": used},
        "seconds": round(seconds, 2),
    }
    write_png(output_folder(out) / f"{name}.png", figure)
    write_json(out / f"{name}.json", content)
    return content


def make_figures(
    names: Iterable[str | int] | None = None,
    *,
    profile: str | Profile = "quick",
    out: str | os.PathLike = ".",
    cache: RunCache | str | os.PathLike | None = None,
    bar: bool | None = None,
    keep_going: bool = False,
) -> dict[str, dict]:
    """Make several figures (all by default): train what they all declare as one sweep, then draw each.

    Arguments:
        names: figure names, or None for all.
        profile, out, cache: as in :func:`make_figure`; the cache's ``workers`` or ``scheduler`` say where the
            sweep trains.
        bar: show the progress bars, the sweep's over ensembles and this one's over figures (default: a bar when
            standard error is a terminal, else a line every few seconds).
        keep_going: when a figure fails, record ``{"error": message}`` for it and go on with the next, so that
            one failure does not cost the others' (possibly long) training.

    Returns:
        ``{name: JSON content}`` in the order made.

    Raises:
        InputError: an unknown figure or profile, or a bad ``out`` (even with ``keep_going``: every figure
            would fail the same way).
    """
    names = figure_names(names)
    profile = get_profile(profile)
    cache = _run_cache(cache)
    output_folder(out, create=False)  # fail before training
    errors: dict[str, str] = {}
    modules = {name: figure_module(name) for name in names}
    train_configs(modules, Context(profile=profile, cache=cache), progress=bar, errors=errors if keep_going else None)
    results = {}
    with progress(names, desc=f"figures ({profile.name})", unit="fig", enabled=bar) as figures:
        for name in figures:
            figures.set_postfix(figure=name)
            if name in errors:
                results[name] = {"error": errors[name]}
                continue
            try:
                results[name] = make_figure(name, profile=profile, out=out, cache=cache, prepared=True)
            except Exception as error:
                if not keep_going or isinstance(error, InputError):
                    raise
                results[name] = {"error": f"{type(error).__name__}: {error}"}
    return results


def main(script: str, argv: Sequence[str] | None = None) -> int:
    """The command line of one figure script: ``python -m paper_figures.fig09_linear_ode --profile quick``.

    Parses ``--profile``, ``--out``, ``--cache`` and ``--no-cache`` and makes the script's figure on local workers
    (``fittest figures`` also takes ``--workers`` and ``--scheduler``).

    Arguments:
        script: the script's ``__file__`` (its name says which figure it draws), or a figure name.
        argv: the arguments; ``sys.argv[1:]`` by default.

    Returns:
        The exit status: 0, or 2 after an input error (printed to standard error).
    """
    name = figure_names([Path(script).stem.split("_")[0]])[0]
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
