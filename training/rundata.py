"""The run dataset: the data contract between training, the survival analysis and ``dynamics``.

One :class:`xarray.Dataset` per experiment, written by :func:`training.train` and :class:`training.Recorder`
and described for readers in ``docs/contract.md`` (checked against this module by the tests). This module is
the one place that names its variables and coordinates with their dims and meaning, builds a dataset from
recorded arrays, opens one from disk and checks one. Everything that writes or reads a run dataset goes
through it.

Schema ``fittest.run/2``: a run records one or more *sites* (the embedding, the unembedding, a layer's
neurons, any tensor of a user's model), each measured in a :class:`~training.bases.Basis` whose components
name its component dimension (``frequency``, ``irrep``, ``unit``, ``pc``, ...). The dataset lists its sites in
the ``sites`` attribute, and each site variable names its site and component dimension in its attributes.
Files of schema ``fittest.run/1`` (one Fourier embedding site, before sites existed) open unchanged:
:func:`sites_of` describes their one site the same way.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from fittest.atomic import read_netcdf
from fittest.errors import InputError
from training.bases import Basis
from training.config import TrainConfig

SCHEMA = "fittest.run/2"
SCHEMAS = ("fittest.run/1", SCHEMA)
"""The schemas :func:`open_run` reads: today's and the one before sites (a Fourier embedding only)."""


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


SCALAR = ("run", "step")
SNAPSHOT = ("run", "snapshot")

VARIABLES: dict[str, Variable] = {
    "train_loss": Variable(SCALAR, "mean cross-entropy on the training pairs"),
    "test_loss": Variable(SCALAR, "mean cross-entropy on the test pairs"),
    "train_acc": Variable(SCALAR, "accuracy on the training pairs"),
    "test_acc": Variable(SCALAR, "accuracy on the test pairs"),
    "embedding": Variable(
        (*SNAPSHOT, "token", "dim"), "embedding W_E at the steps in the snapshot coordinate", required=False
    ),
    # not required, so that files written before them open too
    "restricted_loss": Variable(
        SCALAR,
        "cross-entropy on the training pairs of the logits projected onto the key components (those of the"
        " unembedding's spectrum above twice the mean amplitude per row) and the constant (Nanda et al. 2023)",
        required=False,
    ),
    "excluded_loss": Variable(
        SCALAR,
        "cross-entropy on the training pairs of the logits with the key components (as for restricted_loss)"
        " taken out (Nanda et al. 2023)",
        required=False,
    ),
    "diverged": Variable(("run",), "the run diverged: some record is NaN or infinite", required=False),
    "llc": Variable(
        SNAPSHOT,
        "local learning coefficient of the model at the snapshot: SGLD estimate (devinterp), the chains' mean",
        required=False,
    ),
    "llc_std": Variable(SNAPSHOT, "spread (standard deviation) of llc over the SGLD chains", required=False),
    # hidden layers cannot share one dim name, so each MLP parameter has its own
    "mlp_w1": Variable((*SNAPSHOT, "unit1", "input1"), "first-layer weight on [E_a, E_b]", required=False),
    "mlp_b1": Variable((*SNAPSHOT, "unit1"), "first-layer bias", required=False),
    "mlp_w2": Variable((*SNAPSHOT, "unit2", "unit1"), "second-layer weight", required=False),
    "mlp_b2": Variable((*SNAPSHOT, "unit2"), "second-layer bias", required=False),
    "mlp_w3": Variable((*SNAPSHOT, "logit", "unit2"), "readout weight", required=False),
    "mlp_b3": Variable((*SNAPSHOT, "logit"), "readout bias", required=False),
    # the transformer's parameters beside its embedding, stored under the same save_mlp and prefix
    "mlp_equals": Variable((*SNAPSHOT, "dim"), "transformer: the '=' token's embedding", required=False),
    "mlp_pos": Variable(
        (*SNAPSHOT, "position", "dim"), "transformer: positional embeddings of a, b, =", required=False
    ),
    **{
        f"mlp_w_{name}": Variable(
            (*SNAPSHOT, "dim", "dim_out"), f"transformer: attention weight W_{name.upper()}", False
        )
        for name in ("q", "k", "v", "o")
    },
    "mlp_w_in": Variable((*SNAPSHOT, "dim", "unit1"), "transformer: MLP input weight", required=False),
    "mlp_b_in": Variable((*SNAPSHOT, "unit1"), "transformer: MLP input bias", required=False),
    "mlp_w_out": Variable((*SNAPSHOT, "unit1", "dim"), "transformer: MLP output weight", required=False),
    "mlp_b_out": Variable((*SNAPSHOT, "dim"), "transformer: MLP output bias", required=False),
    "mlp_w_u": Variable((*SNAPSHOT, "dim", "logit"), "transformer: the unembedding W_U", required=False),
}
"""The variables that are not measured in a basis; a site's variables come from its :class:`SiteLayout`."""

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

EMBEDDING = "embedding"
"""The site of the token embedding: its variables keep the names of schema 1 (``signal``, not
``embedding_signal``), so that every analysis and figure reads them as before."""

# what schema 1 required: the Fourier embedding site's variables, the scalars and the embedding snapshots
_REQUIRED_V1 = ("amplitude", "signal", "grad_signal", *REQUIRED_VARIABLES, "embedding")
_V1_SITES = {  # the sites a schema-1 file may hold, by the variable that marks each
    "signal": (EMBEDDING, None),
    "unembed_signal": ("unembed", None),
    "neuron_signal": ("neuron", "unit1"),
}


@dataclass(frozen=True)
class SiteLayout:
    """How one recorded site appears in a run dataset: its variables, their dims and their coordinates.

    Attributes:
        name: the site's name; its variables are ``{name}_signal`` (and ``{name}_grad_signal``), except the
            :data:`EMBEDDING` site's, which are ``signal``, ``amplitude`` and ``grad_signal``.
        basis: the basis the site is measured in; its ``dim`` names the component dimension.
        unit: the dimension of the site's units when each unit is measured on its own (per unit), else None.
        units: the number of those units.
        gradient: the loss gradient at the site is measured too (``grad_signal``).
        about: what the site is, for the variables' descriptions.
    """

    name: str
    basis: Basis
    unit: str | None = None
    units: int | None = None
    gradient: bool = True
    about: str = ""

    @property
    def prefix(self) -> str:
        return "" if self.name == EMBEDDING else f"{self.name}_"

    def variables(self) -> dict[str, Variable]:
        """The site's variables by name, with dims ``(run, step, [unit], component)``."""
        dims = ("run", "step", *((self.unit,) if self.unit else ()), self.basis.dim)
        what = self.about or f"site {self.name}"
        where = f"in each {self.basis.dim} of the {self.basis.description}" + (
            f", per {self.unit}" if self.unit else ""
        )
        out = {}
        if self.name == EMBEDDING:
            out["amplitude"] = Variable(dims, f"norm of the projection of {what} {where} (paper eq. 1: ||F_k||)")
        out[f"{self.prefix}signal"] = Variable(dims, f"power of {what} {where}: its squared projection (||F_k||^2)")
        if self.gradient:
            out[f"{self.prefix}grad_signal"] = Variable(
                dims, f"power of the train-loss gradient at {what} {where} (appendix D)"
            )
        return out

    def coords(self) -> dict[str, tuple]:
        """The coordinates of the component dimension (and of the unit dimension)."""
        dim = self.basis.dim
        out = {dim: (dim, np.asarray(self.basis.labels))}
        out.update({name: (dim, np.asarray(values)) for name, values in self.basis.coords.items()})
        if self.unit:
            out[self.unit] = (self.unit, np.arange(self.units))
        return out

    def describe(self) -> dict:
        """The site as the dataset's ``sites`` attribute lists it (JSON-ready)."""
        return {
            "component": self.basis.dim,
            "unit": self.unit,
            "basis": self.basis.description,
            "about": self.about,
            "variables": list(self.variables()),
        }


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
    config: TrainConfig | None = None,
    *,
    sites: Sequence[SiteLayout],
    steps: np.ndarray,
    snapshots: np.ndarray = (),
    arrays: Mapping[str, np.ndarray],
    device: str,
    versions: str,
    command: str,
    variables: Mapping[str, Variable] | None = None,
    runs: int | None = None,
    coords: Mapping[str, tuple] | None = None,
    attrs: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """A run dataset from recorded arrays: the one builder, for :func:`training.train` and the Recorder.

    Arguments:
        config: the experiment the arrays come from; None for a model that another loop trained
            (:class:`training.Recorder`), which then gives ``runs`` and, in ``coords`` and ``attrs``, what it knows.
        sites: the recorded sites; their variables' ``amplitude`` is derived from ``signal`` when not given.
        steps: the recorded steps (the ``step`` coordinate).
        snapshots: the steps of the stored snapshots (the ``snapshot`` coordinate).
        arrays: name -> numpy array, laid out as the variable's dims. A standard scalar (train/test loss and
            accuracy) that is missing is NaN and says so in its description.
        device: where it was computed (the ``device`` attribute).
        versions: JSON of the software versions.
        command: how it was made.
        variables: descriptions of arrays that are neither standard nor a site's (a user's own scalars).
        runs: the ensemble size when there is no config.
        coords: more coordinates, name -> (dims, values) (the Recorder's ``p`` and ``d``).
        attrs: more attributes (the Recorder's ``task`` and ``architecture``).

    Returns:
        The dataset, with every variable compressed for netCDF.

    Raises:
        InputError: an array has no known variable description, or two sites name one component dimension
            with different components.
    """
    runs = config.runs if config is not None else int(runs)
    site_variables = {name: v for site in sites for name, v in site.variables().items()}
    known = {**VARIABLES, **site_variables, **(variables or {})}
    arrays = dict(arrays)
    if "signal" in arrays and "amplitude" in site_variables and "amplitude" not in arrays:
        arrays["amplitude"] = np.sqrt(arrays["signal"])
    unknown = [name for name in arrays if name not in known]
    if unknown:
        raise InputError(f"no description of the recorded variable(s) {unknown}: pass variables={{name: Variable}}")
    # NaN in the records' own precision
    dtype = next((a.dtype for a in arrays.values() if a.dtype.kind == "f"), np.dtype(np.float64))
    missing = [name for name in REQUIRED_VARIABLES if VARIABLES[name].dims == SCALAR and name not in arrays]
    for name in missing:
        arrays[name] = np.full((runs, len(steps)), np.nan, dtype=dtype)
    order = [name for name in known if name in arrays]
    data = {name: (known[name].dims, arrays[name]) for name in order}
    all_coords = {"run": np.arange(runs), "step": np.asarray(steps)}
    if any("snapshot" in known[name].dims for name in order):
        all_coords["snapshot"] = np.asarray(snapshots)
    if "embedding" in arrays:
        all_coords["token"] = np.arange(arrays["embedding"].shape[2])
        all_coords["dim"] = np.arange(arrays["embedding"].shape[3])
    for site in sites:
        for name, value in site.coords().items():
            if name in all_coords and not np.array_equal(np.asarray(all_coords[name][1]), np.asarray(value[1])):
                raise InputError(
                    f"two sites name their components {name!r} with different labels (site {site.name!r} is one):"
                    " give one basis another name"
                )
            all_coords[name] = value
    if config is not None:
        all_coords.update(per_run_coords(config))
    all_coords.update(coords or {})
    ds = xr.Dataset(data, coords=all_coords)
    for name in order:
        ds[name].attrs["description"] = known[name].description + (" (not recorded: NaN)" if name in missing else "")
        ds[name].encoding.update({"zlib": True, "complevel": 6, "shuffle": True})
    for site in sites:
        for name in site.variables():
            if name in ds:
                ds[name].attrs.update({"site": site.name, "component": site.basis.dim})
                if site.unit:
                    ds[name].attrs["unit"] = site.unit
        ds[site.basis.dim].attrs["description"] = site.basis.description
    for name in ("step", "seed", "embed_seed", "mlp_seed", "split_seed"):
        if name in ds.coords:
            ds[name].attrs["description"] = COORDS[name]
    embedding_site = next((site for site in sites if site.name == EMBEDDING), None)
    ds.attrs = {
        "schema": SCHEMA,
        **({"config": config.to_json()} if config is not None else {}),
        **({"task": config.task, "architecture": config.architecture} if config is not None else {}),
        **({"basis": embedding_site.basis.description} if embedding_site is not None else {}),
        "sites": json.dumps({site.name: site.describe() for site in sites}),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": device,
        "versions": versions,
        "command": command,
        **(attrs or {}),
    }
    return ds


USER_MODEL = "user model"
"""The ``architecture`` attribute of a run dataset recorded from a model that :func:`training.train` did not
train (:class:`training.Recorder`)."""


def is_run(ds: xr.Dataset) -> bool:
    """Whether a dataset claims to be a run dataset (its ``schema`` attribute)."""
    return ds.attrs.get("schema") in SCHEMAS


def sites_of(ds: xr.Dataset) -> dict[str, dict]:
    """The sites a run dataset recorded, as its ``sites`` attribute lists them (derived for schema 1).

    Returns:
        site name -> ``{"component": dim, "unit": unit dim or None, "basis": ..., "variables": [...]}``.
    """
    listed = ds.attrs.get("sites")
    if listed is not None:
        try:
            sites = json.loads(listed)
        except (TypeError, json.JSONDecodeError):
            sites = None
        if isinstance(sites, dict):
            return sites
    out = {}
    for marker, (site, unit) in _V1_SITES.items():
        if marker in ds.data_vars:
            names = ["amplitude", "signal", "grad_signal"] if site == EMBEDDING else [marker]
            out[site] = {
                "component": "frequency",
                "unit": unit,
                "basis": ds.attrs.get("basis", "additive Fourier basis of Z_p"),
                "variables": [name for name in names if name in ds.data_vars],
            }
    return out


def check_run(ds: xr.Dataset, *, source: str = "the dataset") -> xr.Dataset:
    """``ds`` when it has the schema, variables and coordinates of a run dataset (either schema).

    Raises:
        InputError: it lacks one of them, or a recorded variable does not hold numbers; the message names
            ``source``.
    """
    if not isinstance(ds, xr.Dataset):
        raise InputError(f"{source} is not a fittest run dataset: it is a {type(ds).__name__}, not an xarray Dataset")
    schema = ds.attrs.get("schema")
    if schema == SCHEMA:
        sites = sites_of(ds)
        required = [*REQUIRED_VARIABLES, *(name for site in sites.values() for name in site.get("variables", ()))]
        coords = ["run", "step"]
    else:
        sites = None
        required = list(_REQUIRED_V1)
        coords = ["run", "step", "frequency", "snapshot"]
    missing = [name for name in required if name not in ds.data_vars]
    missing += [name for name in coords if name not in ds.coords]
    if missing:
        raise InputError(f"{source} is not a fittest run dataset: missing {', '.join(missing)}")
    if not is_run(ds):
        raise InputError(
            f"{source} is not a fittest run dataset: schema attribute is {schema!r}, expected one of {SCHEMAS}"
        )
    if schema == SCHEMA and (not isinstance(ds.attrs.get("sites"), str) or not sites):
        raise InputError(f"{source} is not a fittest run dataset: its 'sites' attribute lists no recorded site")
    for name in required:
        if ds[name].dtype.kind not in "biuf":
            raise InputError(
                f"{source} is not a fittest run dataset: {name} holds {ds[name].dtype} values, not numbers"
            )
    return ds


def open_run(path: str | os.PathLike) -> xr.Dataset:
    """Load a run dataset written by :func:`training.train` or a Recorder into memory and check it.

    Arguments:
        path: a ``.nc`` file, of schema ``fittest.run/2`` or ``fittest.run/1`` (opened unchanged).

    Returns:
        The dataset, fully loaded (the file is closed again, so it may be overwritten).

    Raises:
        InputError: the file is missing, is not netCDF, or lacks the variables, coordinates or schema of a run
            dataset.
    """
    return check_run(read_netcdf(path, what="a fittest run dataset"), source=repr(str(path)))
