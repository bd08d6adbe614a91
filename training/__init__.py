"""Train ensembles of small networks, record how each part of their representation evolves, analyse survival.

The public API is every name in ``__all__``; each lives in one of the package's rooms (see ARCHITECTURE.md):

- the experiment and its record: :mod:`training.config`, :mod:`training.rundata`, :mod:`training.tasks`,
  :mod:`training.fourier`, :mod:`training.interventions` (numpy and xarray);
- :mod:`training.analysis`: survival, fitness, statistics and forecasts on a saved run dataset (no torch);
- :mod:`training.engine`: the torch training loop, its model, optimizer, recorders, checkpoints, and the
  replay of stored models (post-hoc ablation);
- :mod:`training.sweeps`: many experiments as one resumable job on a dask.distributed cluster, into a zarr store.

A name is imported from its room on first use, so ``import training`` and the analysis of a saved dataset
never load torch.
"""

from __future__ import annotations

import importlib

# name -> the module that defines it
_HOMES = {
    "TrainConfig": "training.config",
    "open_run": "training.rundata",
    "check_run": "training.rundata",
    "sites_of": "training.rundata",
    "Variable": "training.rundata",
    "Basis": "training.bases",
    "character_table": "training.bases",
    "Group": "training.groups",
    "group": "training.groups",
    "from_table": "training.groups",
    "amplitude": "training.fourier",
    "check_p": "training.fourier",
    "circle_plane": "training.fourier",
    "circularity": "training.fourier",
    "coefficients": "training.fourier",
    "fourier_basis": "training.fourier",
    "frequencies": "training.fourier",
    "is_prime": "training.fourier",
    "neuron_signal": "training.fourier",
    "signal": "training.fourier",
    "construct": "training.interventions",
    "keep_only": "training.interventions",
    "perturb": "training.interventions",
    "two_circles": "training.interventions",
    "survivors": "training.analysis.survival",
    "component_dim": "training.analysis.select",
    "count_survivors": "training.analysis.survival",
    "decay_threshold": "training.analysis.survival",
    "survival_rate": "training.analysis.survival",
    "top_circles": "training.analysis.survival",
    "neuron_frequencies": "training.analysis.neurons",
    "wilson_interval": "training.analysis.survival",
    "fitness": "training.analysis.fitness",
    "initial_amplitude": "training.analysis.fitness",
    "growth": "training.analysis.fitness",
    "gradient_norm": "training.analysis.fitness",
    "correlation": "training.analysis.statistics",
    "separability": "training.analysis.statistics",
    "forecast_survivors": "training.analysis.forecast",
    "transition_times": "training.analysis.transitions",
    "learning_times": "training.analysis.transitions",
    "death_steps": "training.analysis.transitions",
    "spectrum_sparsity": "training.analysis.transitions",
    "fit_power_law": "training.analysis.phases",
    "phase_diagram": "training.analysis.phases",
    "write_run_report": "training.analysis.report",
    "write_sweep_report": "training.analysis.report",
    "train": "training.engine.loop",
    "Recorder": "training.engine.recorder",
    "Site": "training.engine.sites",
    "Quantity": "training.engine.quantities",
    "snapshot_loss": "training.engine.replay",
    "snapshot_metrics": "training.engine.replay",
    "ablated_loss": "training.engine.replay",
    "ablated_metrics": "training.engine.replay",
    "local_learning_coefficient": "training.engine.learning_coefficient",
    "snapshot_llc": "training.engine.learning_coefficient",
    "with_llc": "training.engine.learning_coefficient",
    "snapshot_progress": "training.engine.replay",
    "SweepSpec": "training.sweeps.spec",
    "sweep": "training.sweeps.run",
    "open_sweep": "training.sweeps.store",
    "open_task": "training.sweeps.store",
    "task_name": "training.sweeps.tasks",
}

# submodules that are public as namespaces: training.bases.fourier(p), training.bases.irreps(group)
_NAMESPACES = {"bases": "training.bases", "groups": "training.groups"}

# the namespaces are documented as the submodules they are, not as names of the package
__all__ = list(_HOMES)


def __getattr__(name: str):
    if name in _NAMESPACES:
        return importlib.import_module(_NAMESPACES[name])
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'training' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_NAMESPACES))
