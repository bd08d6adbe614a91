"""A sweep's description: a base :class:`~training.config.TrainConfig` and the axes it varies.

A spec file is TOML with up to three tables, each naming ``TrainConfig`` fields::

    [base]              # the fields every point shares
    d = 128
    runs = 100          # the replicates of every point, each with its own seeds

    [grid]              # every combination of these values
    p = [23, 41, 59]
    weight_decay = [0.1, 0.5, 1.0]

    [[list]]            # and/or explicit points, each combined with every grid point
    lr = 0.01
    [[list]]
    lr = 0.003

The swept fields (the grid's and the list's) become the dimensions of :func:`training.open_sweep`'s summary.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fittest.errors import InputError
from training.config import TrainConfig

TABLES = ("base", "grid", "list")
FIELDS = tuple(spec.name for spec in dataclasses.fields(TrainConfig))
MAX_POINTS = 100_000
"""The most points a spec may describe: a typo in a grid should not expand into millions of configs."""


def check_field(name: object, where: str) -> str:
    """``name`` when it is a field of TrainConfig.

    Raises:
        InputError: it is not; the message suggests the nearest field name.
    """
    if name in FIELDS:
        return str(name)
    near = difflib.get_close_matches(str(name), FIELDS, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    raise InputError(
        f"{where}: unknown field {name!r}{hint}; the fields are those of TrainConfig (fittest train --help)"
    )


@dataclass(frozen=True)
class SweepSpec:
    """A base config and the axes a sweep varies.

    Arguments:
        base: field -> value shared by every point.
        grid: field -> a non-empty sequence of values; the points are every combination.
        points: explicit points (``[[list]]`` in a spec file), each a mapping field -> value, combined with every
            grid point; empty means the grid alone.
        source: how messages name the spec (a file name).

    Raises:
        InputError: no field at all (an empty spec), an unknown field, an empty or non-list axis, a field both in
            the grid and the list, ``runs`` as an axis, or more than :data:`MAX_POINTS` points.
    """

    base: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    grid: Mapping[str, Sequence[Any]] = dataclasses.field(default_factory=dict)
    points: Sequence[Mapping[str, Any]] = ()
    source: str = "the sweep spec"

    def __post_init__(self) -> None:
        where = self.source
        if not isinstance(self.base, Mapping):
            raise InputError(f"{where}: [base] must be a table of TrainConfig fields, got {self.base!r}")
        if not isinstance(self.grid, Mapping):
            raise InputError(f"{where}: [grid] must be a table field = [values], got {self.grid!r}")
        if isinstance(self.points, Mapping | str) or not isinstance(self.points, Sequence):
            raise InputError(f"{where}: list must be an array of tables ([[list]] entries), got {self.points!r}")
        if not self.base and not self.grid and not self.points:
            raise InputError(
                f"{where} is empty, which would train the default config alone: give a [base] table of fields and a"
                " [grid] of field = [values] or [[list]] points"
            )
        for name in self.base:
            check_field(name, f"{where} [base]")
        for name, values in self.grid.items():
            check_field(name, f"{where} [grid]")
            if isinstance(values, str | Mapping) or not isinstance(values, Sequence):
                raise InputError(f"{where} [grid]: axis {name!r} must be a list of values, got {values!r}")
            if not values:
                raise InputError(f"{where} [grid]: axis {name!r} is empty; give it at least one value or remove it")
        for index, point in enumerate(self.points):
            if not isinstance(point, Mapping) or not point:
                raise InputError(
                    f"{where} [[list]] entry {index + 1} must be a non-empty table of fields, got {point!r}"
                )
            for name in point:
                check_field(name, f"{where} [[list]] entry {index + 1}")
                if name in self.grid:
                    raise InputError(
                        f"{where}: field {name!r} is both in [grid] and in [[list]]; vary it in one of them"
                    )
        if "runs" in self.axes:
            raise InputError(
                f"{where}: runs cannot be swept: it is the number of replicates of every point; set it in [base]"
            )
        count = math.prod(len(values) for values in self.grid.values()) * max(1, len(self.points))
        if count > MAX_POINTS:
            raise InputError(f"{where} describes {count} points, more than {MAX_POINTS}: split it into several sweeps")

    @property
    def axes(self) -> tuple[str, ...]:
        """The swept fields: the grid's, then the list's in order of first appearance."""
        names = list(self.grid)
        for point in self.points:
            names += [name for name in point if name not in names]
        return tuple(names)

    def configs(self) -> list[TrainConfig]:
        """Every point's config: the base with each grid combination and each list entry applied.

        Raises:
            InputError: a point is not a valid config; the message names the point.
        """
        names = list(self.grid)
        out = []
        for values in itertools.product(*(self.grid[name] for name in names)):
            for point in self.points or ({},):
                fields = {**self.base, **dict(zip(names, values, strict=True)), **point}
                try:
                    out.append(TrainConfig(**fields))
                except InputError as error:
                    label = ", ".join(f"{name}={fields[name]!r}" for name in self.axes if name in fields)
                    raise InputError(f"{self.source}: the point {label or '(base)'}: {error}") from None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "the sweep spec") -> SweepSpec:
        """The spec in ``data``, laid out as a spec file is (tables ``base``, ``grid``, ``list``).

        Raises:
            InputError: an unknown table, or what :class:`SweepSpec` refuses.
        """
        unknown = sorted(set(data) - set(TABLES))
        if unknown:
            raise InputError(f"{source}: unknown table(s) {unknown}; a sweep spec has only [base], [grid] and [[list]]")
        return cls(data.get("base", {}), data.get("grid", {}), data.get("list", ()), source=source)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> SweepSpec:
        """Read a spec file.

        Raises:
            InputError: the file cannot be read, is not TOML, or describes no valid spec.
        """
        source = str(path)
        try:
            text = Path(path).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or str(error)
            raise InputError(f"cannot read the sweep spec {source!r}: {reason}") from None
        try:
            import tomllib
        except ImportError:  # Python 3.10: tomllib's predecessor, when installed
            try:
                import tomli as tomllib
            except ImportError:
                raise InputError("reading a TOML sweep spec needs Python 3.11 or the tomli package") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise InputError(f"the sweep spec {source!r} is not valid TOML: {error}") from None
        return cls.from_dict(data, source=repr(source))
