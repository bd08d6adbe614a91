"""Picking what an analysis reads from a run dataset: a variable, the amplitude, one step, the true circles.

Every analysis function accepts a run dataset or a DataArray; these helpers turn either into the DataArray it
needs, or into a one-line error that names what is missing and which function needed it.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from fittest.errors import InputError


def pick_variable(data, name: str, *, purpose: str) -> xr.DataArray:
    """``data[name]`` of a run dataset, or an error naming what is missing and what needs it."""
    if isinstance(data, xr.DataArray):
        return data
    if not isinstance(data, xr.Dataset):
        raise InputError(f"{purpose} needs an xarray Dataset (a run dataset) or DataArray, got {type(data).__name__}")
    if name not in data.data_vars:
        present = ", ".join(map(str, data.data_vars)) or "none"
        raise InputError(
            f"{purpose} needs the variable {name!r}, which this dataset lacks (it has: {present}); "
            "record it in training or pass a dataset that has it"
        )
    return data[name]


def pick_amplitude(data, variable: str, purpose: str) -> xr.DataArray:
    """The amplitude ``||F_k||`` of a run dataset; derived from ``signal`` when only that is there."""
    if isinstance(data, xr.Dataset) and variable == "amplitude" and "amplitude" not in data and "signal" in data:
        return np.sqrt(data["signal"]).rename("amplitude")
    amp = pick_variable(data, variable, purpose=purpose)
    if "frequency" not in amp.dims:
        raise InputError(f"{purpose} needs a 'frequency' dimension; {amp.name!r} has dims {amp.dims}")
    return amp


def is_circle(da: xr.DataArray) -> xr.DataArray | None:
    """Where a frequency is a circle of that run's ``p``; None when ``da`` carries no per-run ``p``.

    Datasets that combine several ``p`` pad the frequency axis to the largest one.
    """
    if "p" in da.coords and "frequency" in da.coords:
        return da["frequency"] <= (da["p"] - 1) // 2
    return None


def circles_only(amp: xr.DataArray) -> xr.DataArray:
    """NaN where a frequency is not a circle of that run's ``p`` (datasets padded across several ``p``)."""
    circle = is_circle(amp)
    return amp if circle is None else amp.where(circle)


def pick_step(amp: xr.DataArray, step, purpose: str) -> tuple[xr.DataArray, object]:
    if "step" not in amp.dims:
        if step is not None:
            raise InputError(f"{purpose}: step={step!r} was given but the data has no 'step' dimension")
        return amp, None
    # the judged step goes into the result's attributes, not a scalar coordinate that would clash when
    # survivors judged at different steps are combined
    if step is None:
        return amp.isel(step=-1, drop=True), amp["step"].values[-1].item()
    if step not in amp["step"].values:
        last = amp["step"].values[-1].item()
        raise InputError(f"{purpose}: step {step!r} was not recorded (recorded steps run from 0 to {last})")
    return amp.sel(step=step, drop=True), step
