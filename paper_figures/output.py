"""Writing a figure's two files: the PNG and the JSON of the numbers it shows, both atomically."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from fittest.atomic import write_atomic


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
    """Write ``content`` as indented JSON to ``path``, atomically (see :func:`fittest.atomic.write_atomic`)."""
    text = json.dumps(jsonable(content), indent=1, sort_keys=False, allow_nan=False) + "\n"
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def write_png(path: str | os.PathLike, figure, *, dpi: int = 120) -> Path:
    """Save a matplotlib ``figure`` as PNG to ``path``, atomically."""
    return write_atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight"))
