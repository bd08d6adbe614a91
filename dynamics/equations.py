"""A fit written out as equations, one line per target and sample, as pysindy prints them."""

from __future__ import annotations

import numpy as np
import xarray as xr

from dynamics import library as lib
from fittest.errors import InputError


def equations(coefficients: xr.DataArray, mask: np.ndarray, precision: int = 3, *, samples: int | None = None) -> str:
    """The equations of labelled coefficients (samples..., ``target``, ``term``).

    Arguments:
        coefficients: the fit's coefficients.
        mask: ``(target, term)``, the terms each equation may use; the others are not written.
        precision: digits after the decimal point; a coefficient that would print as zero that way, or one of a
            million or more, is written with this many significant digits instead (``1.23e-05``).
        samples: write the first this many samples (all when None).

    Returns:
        Lines ``(target)' = c term + c term ...``; see :meth:`dynamics.FittedODE.equations`.

    Raises:
        InputError: ``precision`` or ``samples`` is not a non-negative integer.
    """
    for name, value in (("precision", precision), ("samples", 0 if samples is None else samples)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise InputError(f"{name} must be a non-negative integer, got {value!r}")
    sample_dims = tuple(str(d) for d in coefficients.dims[:-2])
    if sample_dims:
        # positions, not .stack(sample=...): a sample dimension may itself be called "sample"
        ordered = coefficients.transpose(*sample_dims, "target", "term")
        labels = [ordered[d].values if d in ordered.coords else np.arange(ordered.sizes[d]) for d in sample_dims]
        blocks = [
            (tuple(label[i] for label, i in zip(labels, index, strict=True)), ordered.values[index])
            for index in np.ndindex(*ordered.shape[: len(sample_dims)])
        ]
    else:
        blocks = [(None, coefficients.transpose("target", "term").values)]
    if samples is not None:
        blocks = blocks[: int(samples)]
    terms = [str(term) for term in coefficients["term"].values]
    targets = lib.component_names(coefficients["target"].values)  # the names the terms use: x_1, ^GSPC
    lines = []
    for label, values in blocks:
        if label is not None:
            lines.append(", ".join(f"{dim}={value}" for dim, value in zip(sample_dims, label, strict=True)))
        for target, row, allowed in zip(targets, values, mask, strict=True):
            parts = []
            for term, value, ok in zip(terms, row, allowed, strict=True):
                if not ok or value == 0:
                    continue
                number = magnitude(abs(value), precision)
                text = number if term == "1" else f"{number} {term}"
                parts.append(("- " if value < 0 else "+ ") + text)
            body = " ".join(parts).removeprefix("+ ") if parts else f"{0:.{precision}f}"
            if body.startswith("- "):
                body = "-" + body[2:]
            lines.append(f"({target})' = {body}")
    return "\n".join(lines)


def summary(coefficients: xr.DataArray, mask: np.ndarray, *, model: str, derivative: str, shown: int = 3) -> str:
    """A heading (model, derivative, number of samples) and the equations of the first ``shown`` samples."""
    sample_dims = coefficients.dims[:-2]
    n = int(np.prod([coefficients.sizes[d] for d in sample_dims])) if sample_dims else 1
    head = f"FittedODE {model} ({derivative} derivative), {n} sample{'s' if n != 1 else ''}"
    text = f"{head}\n{equations(coefficients, mask, samples=shown)}"
    if n > shown:
        text += f"\n... {n - shown} more sample(s): see .equations()"
    return text


def magnitude(value: float, precision: int) -> str:
    """``value`` (>= 0) with ``precision`` decimals, or ``precision`` significant digits where that would show
    0 or a number too long to read."""
    fixed = f"{value:.{precision}f}"
    if value != 0 and (float(fixed) == 0 or value >= 1e6):
        return f"{value:.{max(precision, 1)}g}"
    return fixed
