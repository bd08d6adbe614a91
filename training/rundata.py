"""The run dataset: the data contract between training, the survival analysis and ``dynamics``.

One :class:`xarray.Dataset` per experiment (DESIGN.md section 2). This module is the one place that names its
variables and coordinates with their dims and meaning, builds a dataset from recorded arrays, opens one from
disk and checks one. Everything that writes or reads a run dataset goes through it.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import xarray as xr

from fittest.atomic import read_netcdf
from fittest.errors import InputError
from training.config import TrainConfig
from training.fourier import frequencies

SCHEMA = "fittest.run/1"


@dataclass(frozen=True)
class Variable:
    """A data variable of the run dataset.

    Attributes:
        dims: its dimensions, ``run`` first.
        description: what it holds, stored as the variable's ``description`` attribute.
        required: every run dataset has it (others are written on request, such as the MLP snapshots).
    """

    dims: tuple[str, ...]
    description: str
    required: bool = True


CURVE = ("run", "step", "frequency")
SCALAR = ("run", "step")
SNAPSHOT = ("run", "snapshot")

VARIABLES: dict[str, Variable] = {
    "amplitude": Variable(CURVE, "||F_k||, norm of the Fourier coefficient of the embedding (paper eq. 1)"),
    "signal": Variable(CURVE, "||F_k||^2, the paper's Fourier signal"),
    "grad_signal": Variable(
        CURVE, "||(dL/dE)_k||^2, the train-loss gradient on the embedding in the Fourier basis (appendix D)"
    ),
    "train_loss": Variable(SCALAR, "mean cross-entropy on the training pairs"),
    "test_loss": Variable(SCALAR, "mean cross-entropy on the test pairs"),
    "train_acc": Variable(SCALAR, "accuracy on the training pairs"),
    "test_acc": Variable(SCALAR, "accuracy on the test pairs"),
    "embedding": Variable((*SNAPSHOT, "token", "dim"), "embedding W_E at the steps in the snapshot coordinate"),
    # not required, so that files written before it open too
    "diverged": Variable(("run",), "the run diverged: some record is NaN or infinite", required=False),
    # hidden layers cannot share one dim name, so each MLP parameter has its own
    "mlp_w1": Variable((*SNAPSHOT, "unit1", "input1"), "first-layer weight on [E_a, E_b]", required=False),
    "mlp_b1": Variable((*SNAPSHOT, "unit1"), "first-layer bias", required=False),
    "mlp_w2": Variable((*SNAPSHOT, "unit2", "unit1"), "second-layer weight", required=False),
    "mlp_b2": Variable((*SNAPSHOT, "unit2"), "second-layer bias", required=False),
    "mlp_w3": Variable((*SNAPSHOT, "logit", "unit2"), "readout weight", required=False),
    "mlp_b3": Variable((*SNAPSHOT, "logit"), "readout bias", required=False),
    "unembed_signal": Variable(
        CURVE,
        "||G_k||^2 of the transformer's unembedding W_U (d x p): the power of its p output logits' columns at"
        " frequency k, as signal is of the embedding's rows (architecture transformer)",
        required=False,
    ),
    "neuron_signal": Variable(
        ("run", "step", "unit1", "frequency"),
        "power of each first-layer neuron's input weights per frequency: |F_k(U_u)|^2 + |F_k(V_u)|^2 with"
        " U = E W1a^T and V = E W1b^T its weights on the tokens a and b (record_neurons)",
        required=False,
    ),
}

COORDS: dict[str, str] = {
    "run": "ensemble member index 0..R-1",
    "step": "optimizer steps taken before the record; 0 is the initialisation",
    "frequency": "k = 1..(p-1)//2; k and p-k are the same circle",
    "snapshot": "the steps at which the embedding (and with save_mlp the MLP) was stored",
    "seed": "the config's base seed, the same for every run: each run's own seeds are embed_seed, mlp_seed and"
    " split_seed",
    "embed_seed": "the seed this run's embedding was drawn with",
    "mlp_seed": "the seed this run's MLP was initialised with",
    "split_seed": "the seed of this run's train/test split",
}
REQUIRED_VARIABLES = tuple(name for name, variable in VARIABLES.items() if variable.required)


def per_run_coords(config: TrainConfig) -> dict[str, tuple[str, np.ndarray]]:
    """The configuration that may differ between runs, as coordinates along ``run``."""
    runs = config.runs
    return {
        "seed": ("run", np.full(runs, config.seed)),
        "p": ("run", np.full(runs, config.p)),
        "d": ("run", np.full(runs, config.d)),
        "lr": ("run", config.per_run("lr")),
        "weight_decay": ("run", config.per_run("weight_decay")),
        "embed_seed": ("run", config.run_seeds("embed")),
        "mlp_seed": ("run", config.run_seeds("mlp")),
        "split_seed": ("run", config.run_seeds("split")),
    }


def build_run(
    config: TrainConfig,
    *,
    steps: np.ndarray,
    snapshots: np.ndarray,
    arrays: Mapping[str, np.ndarray],
    device: str,
    versions: str,
    command: str,
    variables: Mapping[str, Variable] | None = None,
    seeds_and_rates: bool = True,
) -> xr.Dataset:
    """A run dataset from recorded arrays.

    Arguments:
        config: the experiment the arrays come from.
        steps: the recorded steps (the ``step`` coordinate).
        snapshots: the steps of the stored snapshots (the ``snapshot`` coordinate).
        arrays: name -> numpy array, laid out as the variable's dims; ``amplitude`` is derived from ``signal``
            when not given.
        device: where it was computed (the ``device`` attribute).
        versions: JSON of the software versions.
        command: how it was made.
        variables: descriptions of arrays that are not standard variables (a user's own recorder's).
        seeds_and_rates: add the per-run ``seed``, ``lr``, ``weight_decay`` and seed coordinates of ``config``
            (not for a model that another loop trained, :func:`build_recorded`); ``p`` and ``d`` always are.

    Returns:
        The dataset, with every variable compressed for netCDF.

    Raises:
        InputError: an array has no known variable description.
    """
    known = {**VARIABLES, **(variables or {})}
    arrays = dict(arrays)
    if "signal" in arrays and "amplitude" not in arrays:
        arrays["amplitude"] = np.sqrt(arrays["signal"])
    unknown = [name for name in arrays if name not in known]
    if unknown:
        raise InputError(f"no description of the recorded variable(s) {unknown}: pass variables={{name: Variable}}")
    order = [name for name in known if name in arrays]
    data = {name: (known[name].dims, arrays[name]) for name in order}
    coords = {
        "run": np.arange(config.runs),
        "step": np.asarray(steps),
        "frequency": frequencies(config.p, group=config.task_spec.group),
        "snapshot": np.asarray(snapshots),
        "token": np.arange(config.p),
        "dim": np.arange(config.d),
        **{name: c for name, c in per_run_coords(config).items() if seeds_and_rates or name in ("p", "d")},
    }
    ds = xr.Dataset(data, coords=coords)
    for name in order:
        ds[name].attrs["description"] = known[name].description
        ds[name].encoding.update({"zlib": True, "complevel": 6, "shuffle": True})
    for name in ("step", "frequency", "seed", "embed_seed", "mlp_seed", "split_seed"):
        if name in ds.coords:
            ds[name].attrs["description"] = COORDS[name]
    task = config.task_spec
    if task.group != "additive":
        ds["frequency"].attrs["description"] = f"character j of the {task.group} group; j and -j are the same circle"
    ds.attrs = {
        "schema": SCHEMA,
        "config": config.to_json(),
        "task": task.name,
        "architecture": config.architecture,
        "basis": task.basis,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": device,
        "versions": versions,
        "command": command,
    }
    return ds


USER_MODEL = "user model"
"""The ``architecture`` attribute of a run dataset recorded from a model that :func:`training.train` did not
train (:class:`training.Recorder`)."""


def build_recorded(
    *,
    p: int,
    d: int,
    task: str,
    runs: int,
    steps: np.ndarray,
    snapshots: np.ndarray,
    arrays: Mapping[str, np.ndarray],
    device: str,
    versions: str,
    command: str,
    variables: Mapping[str, Variable] | None = None,
    architecture: str = USER_MODEL,
) -> xr.Dataset:
    """A run dataset of a model trained in someone else's loop (:class:`training.Recorder`).

    The contract of :func:`build_run` without a :class:`TrainConfig`: the standard scalar variables that were
    not recorded (of ``train_acc``, ``test_loss``, ``test_acc``) are NaN and say so in their description, and
    what only :func:`training.train` knows (the ``config`` attribute and the per-run ``lr``, ``weight_decay``
    and seed coordinates) is left out.

    Arguments:
        p, d, task, runs: the modulus, embedding width, task (which sets the basis) and ensemble size.
        steps, snapshots, arrays, device, versions, command, variables: as for :func:`build_run`.
        architecture: the ``architecture`` attribute.

    Returns:
        The dataset, which :func:`check_run` accepts.

    Raises:
        InputError: p does not suit the task, or as for :func:`build_run`.
    """
    config = TrainConfig(task=task, p=p, d=d, runs=runs, steps=max(1, int(np.max(steps, initial=1))))
    arrays = dict(arrays)
    missing = [
        name
        for name, variable in VARIABLES.items()
        if variable.required and variable.dims == SCALAR and name not in arrays
    ]
    dtype = arrays["signal"].dtype if "signal" in arrays else np.float64  # NaN in the records' own precision
    for name in missing:
        arrays[name] = np.full((runs, len(steps)), np.nan, dtype=dtype)
    ds = build_run(
        config,
        steps=steps,
        snapshots=snapshots,
        arrays=arrays,
        device=device,
        versions=versions,
        command=command,
        variables=variables,
        seeds_and_rates=False,
    )
    for name in missing:
        ds[name].attrs["description"] += " (not recorded: NaN)"
    del ds.attrs["config"]
    ds.attrs["architecture"] = architecture
    return ds


def is_run(ds: xr.Dataset) -> bool:
    """Whether a dataset claims to be a run dataset (its ``schema`` attribute)."""
    return ds.attrs.get("schema") == SCHEMA


def check_run(ds: xr.Dataset, *, source: str = "the dataset") -> xr.Dataset:
    """``ds`` when it has the schema, variables and coordinates of a run dataset.

    Raises:
        InputError: it lacks one of them; the message names ``source``.
    """
    missing = [name for name in REQUIRED_VARIABLES if name not in ds.data_vars]
    missing += [name for name in ("run", "step", "frequency", "snapshot") if name not in ds.coords]
    if missing:
        raise InputError(f"{source} is not a fittest run dataset: missing {', '.join(missing)}")
    if not is_run(ds):
        raise InputError(
            f"{source} is not a fittest run dataset: schema attribute is {ds.attrs.get('schema')!r}, "
            f"expected {SCHEMA!r}"
        )
    return ds


def open_run(path: str | os.PathLike) -> xr.Dataset:
    """Load a run dataset written by :func:`training.train` into memory and check it.

    Arguments:
        path: a ``.nc`` file.

    Returns:
        The dataset, fully loaded (the file is closed again, so it may be overwritten).

    Raises:
        InputError: the file is missing, is not netCDF, or lacks the variables, coordinates or schema of a run
            dataset.
    """
    return check_run(read_netcdf(path, what="a fittest run dataset"), source=repr(str(path)))
