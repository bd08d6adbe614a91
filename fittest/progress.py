"""The progress bar every long job shows: rate, ETA and live numbers such as the current loss."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable

from tqdm import TqdmWarning
from tqdm.auto import tqdm


def progress(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    enabled: bool | None = None,
) -> tqdm:
    """A tqdm bar with the toolkit's defaults.

    Arguments:
        iterable: what to iterate over, or None to update the bar by hand.
        total: the number of units when ``iterable`` has no length.
        desc: the label in front of the bar.
        unit: the unit of the rate (``step``, ``run``, ...).
        enabled: show the bar; by default only when standard error is a terminal or a notebook, so that
            logs and test output stay clean.

    Returns:
        The bar; ``bar.set_postfix(loss=...)`` adds live numbers.
    """
    if enabled is None:
        enabled = sys.stderr.isatty()
    with warnings.catch_warnings():
        # In a notebook without ipywidgets tqdm warns, then falls back to the text bar, which serves as well.
        warnings.simplefilter("ignore", TqdmWarning)
        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=not enabled, dynamic_ncols=True, smoothing=0.1)
