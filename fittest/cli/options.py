"""Command-line options generated from the library's own declarations, and read back into library calls.

A dataclass field with ``help`` (and optional ``choices``) metadata becomes one option, shaped by its type:
a ``bool`` is a flag, a ``dict`` takes ``K=V`` pairs, a ``tuple`` takes several values (one value for a field
that also takes a scalar), anything else one value. A model option of :mod:`dynamics.catalog` becomes one
option of its declared type. Values that cannot be parsed are passed on as text, so that the library's own
check names the field in its one-line error instead of argparse naming an option.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
from typing import Any


def number(text: str) -> Any:
    """An option's text as an int, else a float, else unchanged, so that the library's check names the field."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def option_name(name: str) -> str:
    """The command-line spelling of a field or keyword: ``--weight-decay`` for ``weight_decay``."""
    return f"--{name.replace('_', '-')}"


def _shape(spec: dataclasses.Field) -> str:
    """How a field is spelled on the command line: ``flag``, ``map``, ``list``, ``sequence`` or ``value``."""
    annotation = str(spec.type)
    if annotation == "bool":
        return "flag"
    if annotation.startswith("dict[") or " dict[" in annotation:
        return "map"
    if annotation.startswith("tuple["):
        return "sequence"
    if "tuple[" in annotation:
        return "list"  # a scalar or one value per run
    return "value"


def _help(spec: dataclasses.Field) -> str:
    text = spec.metadata["help"]
    if spec.metadata.get("choices"):
        text += f"; one of {', '.join(spec.metadata['choices'])}"
    if "(default" not in text:  # a help that explains its default already says it better than a repr
        text += f" (default {spec.default!r})"
    return text.replace("%", "%%")


def add_config_options(parser: argparse.ArgumentParser, cls: type, *, title: str) -> None:
    """One option per field of the dataclass ``cls``, in a group called ``title``; unset options stay None."""
    group = parser.add_argument_group(title)
    for spec in dataclasses.fields(cls):
        shape, flag = _shape(spec), option_name(spec.name)
        if shape == "flag":
            group.add_argument(flag, dest=spec.name, action="store_true", default=None, help=_help(spec))
        elif shape == "map":
            group.add_argument(flag, dest=spec.name, nargs="+", metavar="K=V", help=_help(spec) + ", e.g. 3=2.0 7=0.5")
        elif shape in ("list", "sequence"):
            group.add_argument(flag, dest=spec.name, nargs="+", metavar="V", help=_help(spec))
        else:
            metavar = "NAME" if spec.metadata.get("choices") or str(spec.type) == "str" else "VALUE"
            group.add_argument(flag, dest=spec.name, metavar=metavar, help=_help(spec))


def _mapping(items: list[str]) -> dict | list[str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            return items  # the config refuses it with the field's name
        out[number(key)] = number(value)
    return out


def config_from_args(args: argparse.Namespace, cls: type) -> Any:
    """The ``cls`` instance that the options describe; options not given keep the field's default."""
    given = {}
    for spec in dataclasses.fields(cls):
        value = getattr(args, spec.name, None)
        if value is None:
            continue
        shape = _shape(spec)
        if shape == "value":
            value = value if spec.metadata.get("choices") or str(spec.type) == "str" else number(value)
        elif shape == "map":
            value = _mapping(value)
        elif shape in ("list", "sequence"):
            value = [number(v) for v in value]
            value = value[0] if shape == "list" and len(value) == 1 else tuple(value)
        given[spec.name] = value
    return cls(**given)


def config_command(args: argparse.Namespace, cls: type, words: list[str]) -> str:
    """``words`` followed by the config options that were given, in field order: a command that reproduces them."""
    words = list(words)
    for spec in dataclasses.fields(cls):
        value = getattr(args, spec.name, None)
        if value is None:
            continue
        if _shape(spec) == "flag":
            words.append(option_name(spec.name))
        else:
            words += [option_name(spec.name), *([value] if isinstance(value, str) else value)]
    return shlex.join(words)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """One option per command-line-spellable model option of :mod:`dynamics.catalog`, in a group per model.

    An option name that two models share would be ambiguous, so it is spelled ``--MODEL-NAME``; a lasso
    ``solver`` is spelled ``--lasso-solver`` because ``--solver`` would read as the ODE solver.
    """
    from dynamics import catalog

    counts: dict[str, int] = {}
    for spec in catalog.MODEL_SPECS.values():
        for option in spec.options:
            counts[option.name] = counts.get(option.name, 0) + 1
    for spec in catalog.MODEL_SPECS.values():
        spellable = [option for option in spec.options if option.type is not object]
        if not spellable:
            continue
        group = parser.add_argument_group(f"{spec.name} options ({spec.help})")
        for option in spellable:
            prefixed = counts[option.name] > 1 or option.name == "solver"
            flag = option_name(f"{spec.name}_{option.name}" if prefixed else option.name)
            group.add_argument(
                flag,
                dest=f"{spec.name}.{option.name}",
                type=_typed(option),
                default=option.default,
                choices=option.choices,
                metavar=None if option.choices else option.type.__name__.upper(),
                help=f"{option.help} (default {option.default})".replace("%", "%%"),
            )


def _typed(option) -> Any:
    """The option's type, taking also its words (``--alpha cv``) as they are."""
    if not option.words:
        return option.type

    def parse(text: str) -> Any:
        return text if text in option.words else option.type(text)

    parse.__name__ = option.type.__name__  # argparse names the type in its error
    return parse


def model_options(args: argparse.Namespace, model: str) -> dict[str, Any]:
    """The keyword options of ``model`` that :func:`add_model_options` read."""
    prefix = f"{model}."
    return {key[len(prefix) :]: value for key, value in vars(args).items() if key.startswith(prefix)}


def add_cluster_options(parser: argparse.ArgumentParser, *, shared: str, what: str = "tasks") -> None:
    """``--workers N`` or ``--scheduler ADDRESS``: the local worker processes, or the dask cluster, a sweep uses.

    Arguments:
        parser: the command's parser.
        shared: the option naming the folder the cluster's workers must share (``--store``, ``--cache``).
        what: what the workers train, for the help.
    """
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help=f"local worker processes that train the {what} (default: one per GPU, or else one per core, each"
        " with one torch thread)",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help=f"run on an existing dask cluster, e.g. tcp://host:8786 ({shared} must be on a filesystem it shares)",
    )


def add_progress_option(parser: argparse.ArgumentParser, *, what: str) -> None:
    """``--progress`` / ``--no-progress``: the progress of ``what``, as :func:`fittest.progress.progress` shows it."""
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"show the progress of {what} (default: a bar on a terminal, else a line every 10 s)",
    )


def add_solutions_option(parser: argparse.ArgumentParser) -> None:
    """``--methods``: the solutions a report compares with the data."""
    from dynamics import catalog

    parser.add_argument(
        "--methods",
        nargs="+",
        default=None,
        choices=catalog.SOLUTIONS,
        help="solution methods in the report (default: the most exact the fit supports: analytic, diffrax, or euler"
        " for a custom library)",
    )
