"""A report page: tables and figures in reading order, the provenance last, as self-contained HTML and Markdown.

The layout lives in two jinja2 templates shipped with the package, ``templates/report.html.j2`` (rendered with
autoescaping, the figures inlined as PNG data) and ``templates/report.md.j2`` (the figures linked from
``figures/``). :func:`write_page` is the one place a page is written, for the fits' report
(:func:`dynamics.write_report`) and for any other report built on the same layout; every file is written
atomically through :func:`fittest.atomic.write_atomic`.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import ClassVar

import xarray as xr

from fittest.atomic import output_folder, write_atomic
from fittest.errors import InputError
from fittest.provenance import versions

__all__ = ["PACKAGES", "Figure", "Table", "png", "provenance_table", "write_page"]

PACKAGES = ("fittest", "numpy", "xarray", "matplotlib")
"""The packages whose versions a page's provenance names by default."""

# a cell longer than this is set in a narrow monospace column (configurations, version lists)
WIDE_CELL = 120


@dataclass
class Table:
    """One table of the page: a header, rows of cells, and per row an optional line saying what it means."""

    heading: str
    header: list[str]
    rows: list[list[str]]
    meanings: list[str] = field(default_factory=list)
    note: str = ""
    is_figure: ClassVar[bool] = False

    @property
    def has_meanings(self) -> bool:
        """Whether any row says what it means (the Markdown table then has a column for it)."""
        return any(self.meanings)

    def lines(self) -> list[tuple[list[str], str]]:
        """Each row with its meaning (empty where it has none)."""
        meanings = self.meanings or [""] * len(self.rows)
        if len(meanings) != len(self.rows):
            raise InputError(f"table {self.heading!r}: {len(self.rows)} rows but {len(meanings)} meanings")
        return list(zip(self.rows, meanings, strict=True))


@dataclass(frozen=True)
class Figure:
    """One figure of the page: its name (the heading), the PNG bytes and a caption under the heading."""

    name: str
    png: bytes
    caption: str = ""
    is_figure: ClassVar[bool] = True


def png(figure) -> bytes:
    """A matplotlib figure as PNG bytes (110 dpi); the figure is closed.

    Arguments:
        figure: a :class:`matplotlib.figure.Figure`.

    Returns:
        The PNG file's bytes.
    """
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    # no bbox_inches="tight": it draws every figure twice, and the layouts already keep labels inside
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def _one_line(text: str) -> str:
    """A stored JSON attribute as ``key=value, ...`` (compact and sorted); any other text as it is."""
    try:
        return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(json.loads(text).items()))
    except (ValueError, AttributeError):
        return text


def provenance_table(
    data,
    *,
    source: str | os.PathLike | None,
    command: str,
    extra_rows: Iterable[Sequence[str]] = (),
    packages: Sequence[str] = PACKAGES,
) -> Table:
    """Where a report comes from: the data file, the command, the date, the data's own record, the versions.

    Arguments:
        data: the Dataset or DataArray the report shows (its ``command``, ``created``, ``config`` and ``versions``
            attributes are shown when present), or None.
        source: the data file; the data's ``source`` encoding when None.
        command: what made the report (a command line, or the Python function).
        extra_rows: more ``(what, value)`` rows, placed before the report's own versions.
        packages: the packages whose versions the report names.

    Returns:
        The ``Provenance`` table.
    """
    is_xarray = isinstance(data, (xr.Dataset, xr.DataArray))
    attrs = dict(data.attrs) if is_xarray else {}
    source = source or (data.encoding.get("source") if is_xarray else None)
    rows = [
        ["data file", str(source or "not known (the data were passed in memory)")],
        ["report made by", command],
        ["report date", datetime.now(timezone.utc).isoformat(timespec="seconds")],
    ]
    for key, name in (
        ("command", "data made by"),
        ("created", "data created"),
        ("config", "data configuration"),
        ("versions", "data recorded with"),
    ):
        if key in attrs:
            rows.append([name, _one_line(str(attrs[key]))])
    rows += [list(row) for row in extra_rows]
    found = versions(*packages)
    found.pop("git_commit", None)  # the table names packages; the data keep the commit
    rows.append(["report made with", ", ".join(f"{k} {v}" for k, v in found.items())])
    return Table("Provenance", ["what", "value"], rows)


@cache
def _templates():
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("dynamics", "templates"),
        autoescape=lambda name: bool(name) and name.endswith(".html.j2"),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["base64"] = lambda data: base64.b64encode(data).decode("ascii")
    environment.filters["cell"] = lambda text: str(text).replace("|", "/")  # a pipe would split a Markdown cell
    environment.globals["WIDE_CELL"] = WIDE_CELL
    return environment


def _slug(name: str) -> str:
    return "".join(c if c.isascii() and c.isalnum() else "_" for c in name.split(" (")[0]).strip("_").lower()


def write_page(
    path: str | os.PathLike,
    blocks: Sequence[Table | Figure],
    *,
    title: str,
    command: str,
    data=None,
    source: str | os.PathLike | None = None,
    extra_rows: Iterable[Sequence[str]] = (),
    packages: Sequence[str] = PACKAGES,
) -> dict[str, Path]:
    """Write one page, ``report.html``, ``report.md`` and ``figures/N_name.png``, into a folder.

    The blocks come in the order given, then the provenance (:func:`provenance_table`), which is long and read
    last.

    Arguments:
        path: the report folder; created if missing (its parent must exist).
        blocks: :class:`Table` s and :class:`Figure` s in reading order.
        title: the page's title.
        command: what made the page (a command line, or the Python function), for the provenance.
        data: the Dataset or DataArray the page shows, whose own record goes into the provenance; or None.
        source: the data file, for the provenance; the data's ``source`` encoding when None.
        extra_rows: more ``(what, value)`` rows of the provenance (before the versions).
        packages: the packages whose versions the provenance names.

    Returns:
        The written files: one entry per figure (by its name), ``markdown`` and ``html``.

    Raises:
        InputError: a block that is neither a table nor a figure, a table whose meanings do not match its rows, or
            a folder that cannot be made or written.
    """
    origin = provenance_table(data, source=source, command=command, extra_rows=extra_rows, packages=packages)
    blocks = [*blocks, origin]
    wrong = [type(block).__name__ for block in blocks if not isinstance(block, (Table, Figure))]
    if wrong:
        raise InputError(f"a page holds Table and Figure blocks, got {', '.join(wrong)}")
    folder = output_folder(path)
    output_folder(folder / "figures")
    written: dict[str, Path] = {}
    placed = []
    figures = 0
    for block in blocks:
        filename = ""
        if isinstance(block, Figure):
            figures += 1
            filename = f"figures/{figures}_{_slug(block.name)}.png"
            written[block.name] = write_atomic(folder / filename, lambda tmp, data=block.png: tmp.write_bytes(data))
        placed.append((block, filename))
    environment = _templates()
    for name, template in (("markdown", "report.md.j2"), ("html", "report.html.j2")):
        text = environment.get_template(template).render(title=title, blocks=placed)
        target = folder / ("report.md" if name == "markdown" else "report.html")
        written[name] = write_atomic(target, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8"))
    return written
