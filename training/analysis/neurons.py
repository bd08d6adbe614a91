"""Which component each unit picks (He et al. 2026: which frequency each first-layer neuron picks).

``neuron_signal`` (recorded with ``TrainConfig(record_neurons=True)``) holds every neuron's input-weight power
per frequency; a per-unit site of :class:`training.Recorder` records the same kind of grid, ``{site}_signal``
over (run, step, <unit>, <component>), in any basis (irreps, principal components, directions). A unit that has
picked a component has almost all its power there: its share is near 1. A unit still torn between several has
its power spread over them; following the shares over training follows the within-unit competition.
"""

from __future__ import annotations

import json

import xarray as xr

from fittest.errors import InputError
from training.analysis.select import NOT_COMPONENTS, declared_component, per_row, pick_step, pick_variable

_RECORD_IT = "train with record_neurons=True or record a per-unit site with training.Recorder"


def _unit_declared(data, power: xr.DataArray, variable: str) -> str | None:
    """The unit dimension the variable or its dataset's ``sites`` attribute declares; ``unit1`` for run/1."""
    if power.attrs.get("unit"):
        return str(power.attrs["unit"])
    if isinstance(data, xr.Dataset) and "sites" in data.attrs:
        try:
            sites = json.loads(data.attrs["sites"])
        except (TypeError, ValueError):
            sites = {}
        for site in sites.values() if isinstance(sites, dict) else ():
            if isinstance(site, dict) and variable in site.get("variables", ()) and site.get("unit"):
                return str(site["unit"])
    return "unit1" if "unit1" in power.dims else None


def _dims(data, power: xr.DataArray, variable: str, component: str | None, unit: str | None, purpose: str):
    """The (unit, component) dimensions of a per-unit variable; each named one wins over what is found."""
    if unit is not None and unit not in power.dims:
        raise InputError(f"{purpose}: unit={unit!r} is not a dimension of {power.name!r} (its dims: {power.dims})")
    dim = declared_component(power, component, purpose=purpose)
    unit = unit if unit is not None else _unit_declared(data, power, variable)
    left = [str(d) for d in power.dims if d not in NOT_COMPONENTS and d not in (dim, unit)]
    if dim is None and unit is not None and len(left) == 1:
        dim = left.pop()
    elif unit is None and dim is not None and len(left) == 1:
        unit = left.pop()
    if dim is None or unit is None or unit == dim or unit not in power.dims or left:
        raise InputError(
            f"{purpose} needs a per-unit variable with one unit and one component dimension; {power.name!r} has "
            f"dims {power.dims}: pass unit=<dim> and component=<dim>"
        )
    return unit, dim


def neuron_frequencies(
    data,
    *,
    step=None,
    all_steps: bool = False,
    variable: str = "neuron_signal",
    component: str | None = None,
    unit: str | None = None,
    normalise: str | None = "auto",
) -> xr.Dataset:
    """Each unit's dominant component and the share of its power there.

    Arguments:
        data: a run dataset with ``neuron_signal`` (run, step, unit1, frequency) or another per-unit power
            variable (``variable=``), or that DataArray.
        step: the recorded step to judge at; the last one by default.
        all_steps: keep the ``step`` dimension (every recorded step) instead of judging at one step.
        variable: the per-unit power to read: ``neuron_signal`` (``record_neurons=True``) or a per-unit site's
            ``{site}_signal``.
        component: the component dimension; by default the variable's ``component`` attribute, else
            ``frequency``, else the dimension left beside the unit's.
        unit: the unit dimension; by default the variable's ``unit`` attribute (or its site's, in the dataset's
            ``sites``), else ``unit1``, else the dimension left beside the component's.
        normalise: ``"auto"`` compares power per basis row where the components span different numbers of rows
            (irreps of several dimensions), as :func:`training.survivors` does; ``"rows"`` always, ``None``
            never.

    Returns:
        A Dataset with ``dominant`` (the label of the component with the most power: an integer frequency, an
        irrep's name, ...) and ``share`` (its power over the unit's total power over all components, in 0..1;
        NaN for a unit with no power), each (run, <unit>) or with ``all_steps`` (run, step, <unit>). When the
        component dimension is ``frequency``, ``frequency`` repeats ``dominant`` under its historical name.
        The judged step, the component and unit dimensions and the normalisation are its attributes.

    Raises:
        InputError: the data has no such variable (train with ``record_neurons=True`` or record a per-unit
            site with :class:`training.Recorder`), its unit and component dimensions cannot be told apart (pass
            ``unit=`` and ``component=``), ``step`` was not recorded, or ``step`` and ``all_steps`` are both
            given.
    """
    purpose = "neuron_frequencies()"
    if isinstance(data, xr.Dataset) and variable not in data.data_vars:
        per_unit = [str(name) for name, da in data.data_vars.items() if da.attrs.get("unit")]
        others = f" (its per-unit variables: {', '.join(per_unit)}; pass variable=)" if per_unit else ""
        raise InputError(f"{purpose} needs {variable}, which this dataset lacks{others}: {_RECORD_IT}")
    power = pick_variable(data, variable, purpose=purpose)
    unit, dim = _dims(data, power, variable, component, unit, purpose)
    if all_steps:
        if step is not None:
            raise InputError(f"{purpose}: give step or all_steps, not both")
        judged = None
    else:
        power, judged = pick_step(power, step, purpose)
    power, scaled = per_row(power, dim, normalise, purpose=purpose, power=True)
    total = power.sum(dim)
    position = power.fillna(-1.0).argmax(dim)
    # the component's label, not its position along the axis
    dominant = position.copy(data=power[dim].values[position.values])
    share = power.max(dim) / total.where(total > 0)
    out = xr.Dataset({"dominant": dominant, "share": share})
    out["dominant"].attrs["description"] = f"the {dim} where the unit's power is largest"
    out["share"].attrs["description"] = f"the unit's power at that {dim} over its power at all of them"
    if dim == "frequency":
        out["frequency"] = dominant.copy()
        out["frequency"].attrs["description"] = "the frequency where the neuron's input weights have the most power"
    if judged is not None:
        out.attrs["step"] = judged
    out.attrs.update({"component": dim, "unit": unit, "normalise": scaled})
    return out
