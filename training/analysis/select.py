"""Picking what an analysis reads from a run dataset: a variable, its component dimension, a step, the circles.

Every analysis function accepts a run dataset or a DataArray; these helpers turn either into the DataArray it
needs, or into a one-line error that names what is missing and which function needed it.

The component dimension is the one whose entries compete: ``frequency`` (Fourier circles, characters),
``irrep`` (irreducible representations of a finite group), ``unit`` (neurons), ``pc``, ``direction``, ``bit``
or any name a user gave. :func:`component_dim` finds it; ``component=`` overrides what it would find.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from fittest.errors import InputError

#: Dimensions that are never the component dimension: the trials, the time and the stored snapshots.
NOT_COMPONENTS = ("run", "step", "snapshot")

#: Component dimensions whose every component is one row of the basis (coordinates, principal components,
#: user directions), and the Fourier dimension whose every circle is two (a cosine and a sine).
_ROWS_BY_DIM = {"unit": 1, "bit": 1, "pc": 1, "direction": 1, "frequency": 2}

NORMALISE = ("auto", "rows", None)


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


def declared_component(da: xr.DataArray, component: str | None = None, *, purpose: str) -> str | None:
    """The component dimension that ``da`` names without guessing: ``component=``, its attribute, or ``frequency``.

    ``None`` when none of the three applies; :func:`component_dim` then guesses from the remaining dimensions.

    Raises:
        InputError: ``component`` (or the variable's ``component`` attribute) is not a dimension of ``da``.
    """
    if component is not None:
        if component not in da.dims:
            raise InputError(
                f"{purpose}: component={component!r} is not a dimension of {da.name!r} (its dims: {da.dims}); "
                "pass one of them"
            )
        return component
    declared = da.attrs.get("component")
    if declared is not None:
        if declared not in da.dims:
            raise InputError(
                f"{purpose}: {da.name!r} declares the component dimension {declared!r} but has dims {da.dims}; "
                "pass component= to say which dimension holds the components"
            )
        return str(declared)
    return "frequency" if "frequency" in da.dims else None


def component_dim(da: xr.DataArray, component: str | None = None, *, purpose: str, unit: str | None = None) -> str:
    """The name of the dimension of ``da`` whose entries are the competing components.

    In order: ``component=`` when given; the variable's ``component`` attribute (``fittest.run/2`` datasets
    declare it); ``frequency`` when present (``fittest.run/1`` datasets, Fourier circles); else the one
    dimension left after ``run``, ``step``, ``snapshot`` and the variable's unit dimension (``unit=``, or its
    ``unit`` attribute).

    Arguments:
        da: the variable.
        component: the dimension to use; it wins over everything else.
        purpose: the caller's name, for the error message.
        unit: the per-unit dimension of a per-unit variable, never the component dimension.

    Returns:
        The dimension's name.

    Raises:
        InputError: the named dimension is missing, or no single dimension is left to be the component one.
    """
    found = declared_component(da, component, purpose=purpose)
    if found is not None:
        return found
    unit = unit if unit is not None else da.attrs.get("unit")
    left = [str(dim) for dim in da.dims if dim not in NOT_COMPONENTS and dim != unit]
    if len(left) == 1:
        return left[0]
    which = f"any of {left}" if left else "none of its dims"
    raise InputError(
        f"{purpose}: cannot tell which dimension of {da.name!r} {da.dims} holds the components ({which} could); "
        "pass component=<dim>"
    )


def _only_index(da: xr.DataArray, component: str) -> xr.DataArray:
    return da.drop_vars([name for name in da.coords if name != component])


def rows_per_component(da: xr.DataArray, component: str, *, purpose: str) -> xr.DataArray:
    """How many rows of the basis each component along ``component`` spans, as a DataArray along it.

    Read from a ``rows`` coordinate along the dimension when there is one; else from ``dim_rho`` (an irrep of
    dimension ``d`` spans ``d ** 2`` rows, a complex irrep paired with its conjugate ``2 d ** 2``, as a
    ``kind`` coordinate says); else 2 per Fourier circle and 1 per coordinate, principal component or direction.

    Arguments:
        da: a variable with the dimension ``component`` and its coordinates.
        component: the component dimension.
        purpose: the caller's name, for the error message.

    Returns:
        Float DataArray along ``component`` (its index coordinate only).

    Raises:
        InputError: the dimension is none of these and has no ``rows`` or ``dim_rho`` coordinate.
    """
    coords = da[component].coords
    if "rows" in coords and coords["rows"].dims == (component,):
        return _only_index(coords["rows"].astype(np.float64), component)
    if "dim_rho" in coords and coords["dim_rho"].dims == (component,):
        rows = coords["dim_rho"].astype(np.float64) ** 2
        if "kind" in coords and coords["kind"].dims == (component,):
            rows = rows * xr.where(coords["kind"] == "complex", 2.0, 1.0)
        return _only_index(rows, component)
    if component in _ROWS_BY_DIM:
        return _only_index(xr.full_like(da[component], _ROWS_BY_DIM[component], dtype=np.float64), component)
    raise InputError(
        f"{purpose}: normalise='rows' needs the number of basis rows of each {component!r}: give the dimension a "
        f"'rows' (or 'dim_rho') coordinate, or pass normalise=None"
    )


def per_row(
    da: xr.DataArray, component: str, normalise: str | None, *, purpose: str, power: bool | None = None
) -> tuple[xr.DataArray, str]:
    """``da`` divided by each component's row count (power) or its square root (amplitude), as ``normalise`` says.

    A component that spans more rows of the basis holds more of an isotropic random state's power: an
    irrep of dimension ``d`` holds ``d ** 2`` times what a one-dimensional one holds at initialisation. Per row,
    every component starts level, so a rule that compares components compares what training did. A variable
    whose name ends in ``signal`` is a power (squared norm) and is divided by the row count; any other is an
    amplitude (a norm) and is divided by its square root.

    Arguments:
        normalise: ``"rows"`` always; ``None`` never; ``"auto"`` only where the components span different
            numbers of rows (irreps of several dimensions), so that equal-size bases (Fourier circles,
            coordinates, principal components) keep their recorded numbers.
        power: whether ``da`` is a power; by default, whether its name ends in ``signal``.

    Returns:
        The DataArray (attributes kept) and what was done: ``"rows"`` or ``"none"``.

    Raises:
        InputError: an unknown ``normalise``, or ``"rows"`` on a dimension whose row counts are unknown.
    """
    if normalise not in NORMALISE:
        raise InputError(f"{purpose}: normalise must be 'auto', 'rows' or None, got {normalise!r}")
    if normalise is None:
        return da, "none"
    if normalise == "auto":
        coords = da[component].coords
        if "rows" not in coords and "dim_rho" not in coords:
            return da, "none"
        rows = rows_per_component(da, component, purpose=purpose)
        if np.unique(rows.values).size <= 1:
            return da, "none"
    else:
        rows = rows_per_component(da, component, purpose=purpose)
    power = str(da.name or "").endswith("signal") if power is None else power
    scaled = da / (rows if power else np.sqrt(rows))
    scaled.attrs = dict(da.attrs)
    return scaled.rename(da.name), "rows"


def pick_amplitude(
    data, variable: str, purpose: str, *, component: str | None = None, unit: str | None = None
) -> tuple[xr.DataArray, str]:
    """A variable to judge (``amplitude`` by default) and its component dimension.

    ``X_amplitude`` (``amplitude`` for the embedding) is derived as ``sqrt(X_signal)`` when only the signal
    was recorded.
    """
    if isinstance(data, xr.Dataset) and variable.endswith("amplitude") and variable not in data:
        signal = variable[: -len("amplitude")] + "signal"
        if signal in data.data_vars:
            amp = np.sqrt(data[signal]).rename(variable)
            amp.attrs = dict(data[signal].attrs)
            return amp, component_dim(amp, component, purpose=purpose, unit=unit)
    amp = pick_variable(data, variable, purpose=purpose)
    return amp, component_dim(amp, component, purpose=purpose, unit=unit)


def is_circle(da: xr.DataArray, component: str = "frequency") -> xr.DataArray | None:
    """Where a frequency is a circle of that run's ``p``; None when ``da`` carries no per-run ``p``.

    Datasets that combine several ``p`` pad the frequency axis to the largest one. Only the ``frequency``
    dimension has circles: for any other component dimension this is None.
    """
    if component == "frequency" and "p" in da.coords and "frequency" in da.coords:
        return da["frequency"] <= (da["p"] - 1) // 2
    return None


def circles_only(amp: xr.DataArray, component: str = "frequency") -> xr.DataArray:
    """NaN where a frequency is not a circle of that run's ``p`` (datasets padded across several ``p``)."""
    circle = is_circle(amp, component)
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
