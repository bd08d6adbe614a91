"""The progress every long job shows: rate, ETA and live numbers such as the current loss.

In a terminal or a notebook it is a live bar. Anywhere else (standard error sent to a log file, a CI job) it is
a plain line every :data:`LOG_INTERVAL` seconds, so a log of a 20-minute run shows where it is and how long is
left, without a bar's carriage returns.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterable

from tqdm.std import tqdm as plain_tqdm

LOG_INTERVAL = 10.0
"""Seconds between two progress lines when standard error is not a terminal."""


class _Lines:
    """Standard error without the carriage returns a bar writes to redraw itself."""

    def write(self, text: str) -> None:
        text = text.replace("\r", "")
        if text.strip():
            sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class _LogLines(plain_tqdm):
    """A progress reporter for logs: one whole line per report, never a partial line or a carriage return."""

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if self.n == 0 or self.disable:
            return True  # the start says nothing that the command line has not already said
        self.fp.write(self.format_meter(**{**self.format_dict, "ncols": 0}).strip() + "\n")
        self.fp.flush()
        return True


def _in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (the test tqdm.autonotebook makes, without importing it)."""
    if "ipykernel.zmqshell" in sys.modules:
        return True
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _has_widgets() -> bool:
    try:
        return importlib.util.find_spec("ipywidgets") is not None
    except (ImportError, ValueError):  # a broken or half-removed installation
        return False


def progress(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    initial: int = 0,
    desc: str = "",
    unit: str = "it",
    enabled: bool | None = None,
) -> plain_tqdm:
    """A tqdm bar with the toolkit's defaults.

    Arguments:
        iterable: what to iterate over, or None to update the bar by hand.
        total: the number of units when ``iterable`` has no length.
        initial: units already done before this session (a resumed job): the bar starts there, and its rate and
            ETA count only the units done from now on.
        desc: the label in front of the bar.
        unit: the unit of the rate (``step``, ``run``, ...).
        enabled: True: a live bar; False: nothing; None (default): a live bar in a terminal or a notebook, else
            a line every :data:`LOG_INTERVAL` seconds.

    Returns:
        The bar; ``bar.set_postfix(loss=...)`` adds live numbers.
    """
    notebook = _in_notebook()
    if enabled is None and not notebook and not sys.stderr.isatty():
        return _LogLines(
            iterable,
            total=total,
            initial=initial,
            desc=desc,
            unit=unit,
            file=_Lines(),
            mininterval=LOG_INTERVAL,
            maxinterval=LOG_INTERVAL,
            miniters=1,
            leave=False,
        )
    bar = plain_tqdm
    if notebook and _has_widgets():  # without ipywidgets the widget bar cannot draw; the text bar serves as well
        from tqdm.notebook import tqdm as bar
    return bar(
        iterable,
        total=total,
        initial=initial,
        desc=desc,
        unit=unit,
        disable=enabled is False,
        dynamic_ncols=True,
        smoothing=0.1,
    )
