"""Which frequency each first-layer neuron picks (He et al. 2026), from a run's ``neuron_signal``.

``neuron_signal`` (recorded with ``TrainConfig(record_neurons=True)``) holds every neuron's input-weight power
per frequency. A neuron that has picked a frequency has almost all its power there: its share is near 1. A
neuron still torn between several has a share spread over them; following the shares over training follows
the within-neuron competition.
"""

from __future__ import annotations

import xarray as xr

from fittest.errors import InputError
from training.analysis.select import pick_step, pick_variable


def neuron_frequencies(data, *, step=None, all_steps: bool = False) -> xr.Dataset:
    """Each neuron's dominant frequency and the share of its power there.

    Arguments:
        data: a run dataset with ``neuron_signal`` (run, step, unit1, frequency), or that DataArray.
        step: the recorded step to judge at; the last one by default.
        all_steps: keep the ``step`` dimension (every recorded step) instead of judging at one step.

    Returns:
        A Dataset with ``frequency`` (the dominant frequency, an integer of the dataset's ``frequency``
        coordinate) and ``share`` (its power over the neuron's total power over all frequencies, in 0..1; NaN for a
        neuron with no power), each (run, unit1) or with ``all_steps`` (run, step, unit1). The judged step is
        the ``step`` attribute.

    Raises:
        InputError: the data has no ``neuron_signal`` (train with ``record_neurons=True``), lacks its
            ``frequency`` or ``unit1`` dimension, ``step`` was not recorded, or ``step`` and ``all_steps`` are
            both given.
    """
    purpose = "neuron_frequencies"
    if isinstance(data, xr.Dataset) and "neuron_signal" not in data.data_vars:
        raise InputError(f"{purpose} needs neuron_signal, which this dataset lacks: train with record_neurons=True")
    power = pick_variable(data, "neuron_signal", purpose=purpose)
    missing = [dim for dim in ("unit1", "frequency") if dim not in power.dims]
    if missing:
        raise InputError(f"{purpose} needs the dims unit1 and frequency; {power.name!r} has dims {power.dims}")
    if all_steps:
        if step is not None:
            raise InputError(f"{purpose}: give step or all_steps, not both")
        judged = None
    else:
        power, judged = pick_step(power, step, purpose)
    total = power.sum("frequency")
    dominant = power.fillna(-1.0).argmax("frequency")
    # the frequency's label, not its position along the axis
    frequency = dominant.copy(data=power["frequency"].values[dominant.values])
    share = power.max("frequency") / total.where(total > 0)
    out = xr.Dataset({"frequency": frequency, "share": share})
    out["frequency"].attrs["description"] = "the frequency where the neuron's input weights have the most power"
    out["share"].attrs["description"] = "the neuron's power at that frequency over its power at all frequencies"
    if judged is not None:
        out.attrs["step"] = judged
    return out
