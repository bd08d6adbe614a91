"""Checks of scalar options shared by the configuration and the Fourier functions."""

from __future__ import annotations

import math
import numbers

import numpy as np

from fittest.errors import InputError


def is_integer(value: object) -> bool:
    """An integer, or a float that holds one (as JSON and the command line give them); never a bool."""
    if isinstance(value, bool):
        return False
    if isinstance(value, numbers.Integral):
        return True
    # is_integer is False for NaN and infinities, which int() would refuse with a bare ValueError/OverflowError
    return isinstance(value, float | np.floating) and float(value).is_integer()


def is_number(value: object) -> bool:
    """A finite real number; never a bool."""
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(float(value))


def integer(name: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` as an int, or an InputError naming ``name`` if it is not an integer in ``low..high``."""
    if not is_integer(value) or int(value) < low or (high is not None and int(value) > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise InputError(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)
