"""The local learning coefficient (LLC) of a trained model, estimated by SGLD through devinterp.

The local learning coefficient λ(w*) of singular learning theory measures how degenerate the loss is around a
point w*: a regular model with d parameters at a strict minimum has λ = d/2, and a singular one less. It is
estimated (Lau et al. 2023, "Quantifying degeneracy in singular models via the learning coefficient") by
sampling the tempered, localised posterior ``exp(-nβ L(w) - γ/2 |w - w*|²)`` with stochastic-gradient Langevin
dynamics and reading ``nβ (E[L(w)] - L(w*))`` off the chains. devinterp (an optional extra:
``pip install -e ".[llc]"``) runs the chains and computes that estimate; this module gives it a model and its
data, and stores the result:

- :func:`local_learning_coefficient`: one model (any ``nn.Module`` with a per-sample loss) on its data;
- :func:`snapshot_llc`: every stored snapshot of a run dataset of the built-in models (``save_mlp=True``), on
  each run's own training pairs, as the variables ``llc`` and ``llc_std`` (run, snapshot);
- :func:`with_llc`: estimates made at a :class:`training.Recorder`'s snapshot steps, stored the same way.

devinterp pulls in transformers and datasets, so it is imported only when an estimate is asked for.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import numbers
import random
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr
from torch import nn

from fittest.checks import integer, is_number
from fittest.errors import InputError
from fittest.progress import progress
from training.config import TrainConfig
from training.engine.networks import NETWORKS
from training.rundata import VARIABLES
from training.tasks import pairs
from training.tasks import split as make_split

INSTALL = 'pip install -e ".[llc]"'
"""The command that installs the optional estimator (devinterp)."""

EPSILON = 1e-3
"""The default SGLD step size ε."""
GAMMA = 100.0
"""The default localisation γ: the pull of the chains back to the point estimated at."""
CHAINS = 4
"""The default number of independent SGLD chains."""
DRAWS = 200
"""The default number of SGLD steps per chain."""
BATCH_SIZE = 256
"""The default number of samples in each SGLD step's loss (all of them when there are fewer)."""

_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    # the negative log-likelihood per sample: of a softmax over the outputs, or of a unit-variance Gaussian
    "cross_entropy": lambda out, target: F.cross_entropy(out, target, reduction="none"),
    "mse": lambda out, target: 0.5 * (out - target).pow(2).reshape(out.shape[0], -1).sum(1),
}


def _devinterp():
    """devinterp's LLC estimator, its sampler module and its default nβ, or the one-line install hint."""
    try:
        from devinterp.slt import llc, sampler
        from devinterp.utils import default_nbeta
    except ImportError:
        raise InputError(f"the local learning coefficient needs the optional package devinterp: {INSTALL}") from None
    return llc, sampler, default_nbeta


class _Rows(torch.utils.data.Dataset):
    """The sample indices 0..n-1 as devinterp's token sequences: each row ``[i, i]`` (it wants length >= 2)."""

    def __init__(self, n: int):
        self.rows = torch.arange(n).unsqueeze(1).repeat(1, 2)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.rows[i]}


@contextlib.contextmanager
def _quiet_and_seeded(sampler, device: torch.device):
    """Around devinterp's sampling: no bar per chain, no full garbage collection per chain, the caller's RNGs.

    devinterp draws a tqdm bar for every chain and calls ``gc.collect()`` before and after it, which costs about
    0.14 s each once transformers is imported (its many objects), more than the chains of a small model; the
    objects alive now are frozen out of the collector for the call (unless the caller froze some already). It
    also seeds the global torch, numpy and random generators, which the caller's own stream should not see.
    """
    states = np.random.get_state(), random.getstate()
    trange = sampler.trange
    sampler.trange = functools.partial(trange, disable=True)
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    try:
        with (
            torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always")
            yield caught
    finally:
        if freeze:
            gc.unfreeze()
        sampler.trange = trange
        np.random.set_state(states[0])
        random.setstate(states[1])


def _inputs(inputs) -> tuple[torch.Tensor, ...]:
    parts = tuple(inputs) if isinstance(inputs, tuple | list) else (inputs,)
    if not parts or not all(isinstance(x, torch.Tensor) for x in parts):
        raise InputError(
            f"inputs must be a tensor or a tuple of tensors (the model's arguments), got {type(inputs).__name__}"
        )
    return parts


def local_learning_coefficient(
    model: nn.Module,
    inputs: torch.Tensor | Sequence[torch.Tensor],
    targets: torch.Tensor,
    *,
    loss: str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = "cross_entropy",
    epsilon: float = EPSILON,
    gamma: float = GAMMA,
    nbeta: float | None = None,
    chains: int = CHAINS,
    draws: int = DRAWS,
    batch_size: int = BATCH_SIZE,
    seed: int = 0,
) -> xr.Dataset:
    """The local learning coefficient of ``model`` at its current parameters, estimated by SGLD (devinterp).

    Each chain starts at the model's parameters and takes ``draws`` SGLD steps on the tempered, localised
    posterior; the estimate is ``nβ (mean loss along the chain - loss at the start)``, averaged over the
    chains. The model is not changed (devinterp samples a copy), and the caller's random streams are left as
    they were.

    Arguments:
        model: any ``nn.Module``, called as ``model(*inputs)`` on a batch; every parameter is sampled.
        inputs: the data the loss is taken over (the training set): one tensor, or a tuple of tensors that are
            the model's arguments, with the samples along the first axis.
        targets: the targets, one per sample.
        loss: the per-sample negative log-likelihood: ``"cross_entropy"`` (outputs are logits, targets class
            indices), ``"mse"`` (half the squared error summed over the outputs: a unit-variance Gaussian), or a
            callable ``(outputs, targets) -> (batch,)`` losses.
        epsilon: the SGLD step size ε.
        gamma: the localisation γ, which keeps the chains near the point; small against nβ times the loss's
            curvature, or it lowers the estimate.
        nbeta: the inverse temperature nβ; by default devinterp's ``m / log m`` for a batch of m samples.
        chains: independent chains; their spread is ``llc_std``.
        draws: SGLD steps per chain.
        batch_size: samples in each step's loss (all of them when there are fewer).
        seed: the chains' seed; chain c uses ``seed * chains + c``, so two seeds share no chain. The same seed
            gives the same estimate.

    Returns:
        A Dataset: ``llc`` (the estimate, the chains' mean), ``llc_std`` (its spread over the chains),
        ``llc_chain`` (chain) each chain's estimate, ``loss_trace`` (chain, draw) the loss along each chain and
        ``init_loss`` the loss at the point; the options in its attributes.

    Raises:
        InputError: devinterp is not installed, an option is out of range, the inputs and targets do not match,
            the loss is not one value per sample or not finite, or a chain diverged (lower ``epsilon``).
    """
    estimator, sampler, default_nbeta = _devinterp()
    parts = _inputs(inputs)
    if not isinstance(model, nn.Module) or not list(model.parameters()):
        raise InputError(f"model must be an nn.Module with parameters, got {type(model).__name__}")
    if not isinstance(targets, torch.Tensor):
        raise InputError(f"targets must be a tensor, got {type(targets).__name__}")
    n = len(targets)
    if n < 2 or any(len(x) != n for x in parts):
        raise InputError(
            f"inputs and targets must hold the same number (>= 2) of samples, got {[len(x) for x in parts]} and {n}"
        )
    per_sample = _LOSSES.get(loss) if isinstance(loss, str) else loss
    if not callable(per_sample):
        raise InputError(f"loss must be one of {sorted(_LOSSES)} or a callable (outputs, targets), got {loss!r}")
    for name, value in (("epsilon", epsilon), ("gamma", gamma), ("nbeta", 1.0 if nbeta is None else nbeta)):
        if not is_number(value) or value < 0 or (value == 0 and name != "gamma"):
            raise InputError(f"{name} must be a finite number > 0{' (or 0)' if name == 'gamma' else ''}, got {value!r}")
    chains, draws = integer("chains", chains, 1), integer("draws", draws, 1)
    batch = min(integer("batch_size", batch_size, 1), n)
    seed = integer("seed", seed, 0)
    nbeta = float(default_nbeta(batch)) if nbeta is None else float(nbeta)

    device = next(model.parameters()).device
    parts = tuple(x.to(device) for x in parts)
    targets = targets.to(device)

    def losses(m: nn.Module, rows: torch.Tensor) -> torch.Tensor:
        index = rows[:, 0].to(device)
        values = per_sample(m(*(x[index] for x in parts)), targets[index])
        if not isinstance(values, torch.Tensor) or values.shape != index.shape:
            shape = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
            raise InputError(f"the loss must give one value per sample, shape ({len(index)},); it gave {shape}")
        return values.unsqueeze(1)  # devinterp's per-token layout: one "token" per sample

    with torch.no_grad():
        first = losses(model, _Rows(min(n, batch)).rows)
    if not torch.isfinite(first).all():
        raise InputError("the model's loss is not finite at its parameters: there is no local learning coefficient")

    with _quiet_and_seeded(sampler, device) as caught, tempfile.TemporaryDirectory() as folder:
        result = estimator.llc(
            model,
            _Rows(n),
            {},
            lr=float(epsilon),
            n_beta=nbeta,
            loss_fn=losses,
            localization=float(gamma),
            num_chains=chains,
            num_draws=draws,
            batch_size=batch,
            num_init_loss_batches=max(1, n // batch),  # the loss at the point over the data once
            init_seed=seed * chains,
            device=str(device),
            output_path=Path(folder) / "samples.zarr",
        ).load()
    failed = [str(w.message) for w in caught if "Chain failed" in str(w.message)]
    if failed:
        raise InputError(f"SGLD diverged ({failed[0]}): lower epsilon (now {epsilon}) or raise gamma (now {gamma})")
    for w in caught:  # the model's own warnings still reach the caller
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    trace = result["loss_trace"].rename(step="draw")
    out = xr.Dataset(
        {
            "llc": ((), float(result["llc_mean"])),
            "llc_std": ((), float(result["llc_std"])),
            "llc_chain": (("chain",), result["llc_per_chain"].values.astype(np.float64)),
            "loss_trace": (("chain", "draw"), trace.values.astype(np.float64)),
            "init_loss": ((), float(result["init_loss"])),
        },
        coords={"chain": np.arange(chains), "draw": np.arange(trace.sizes["draw"])},
    )
    out["llc"].attrs["description"] = VARIABLES["llc"].description
    out["llc_std"].attrs["description"] = VARIABLES["llc_std"].description
    out.attrs = {
        "epsilon": float(epsilon),
        "gamma": float(gamma),
        "nbeta": nbeta,
        "chains": chains,
        "draws": draws,
        "batch_size": batch,
        "seed": seed,
        "samples": n,
        "loss": loss if isinstance(loss, str) else getattr(loss, "__name__", "callable"),
    }
    return out


class _Stored(nn.Module):
    """One run of a built-in network at one snapshot, as an ``nn.Module`` of the pairs ``(a, b)``."""

    def __init__(self, config: TrainConfig, params: Mapping[str, np.ndarray]):
        super().__init__()
        self.network = NETWORKS[config.architecture]
        self.config = config
        for name in self.network.parameters:
            self.register_parameter(name, nn.Parameter(torch.from_numpy(np.array(params[name]))))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        # the network's batched forward over an ensemble of one: (1, n, p) logits
        batched = {name: getattr(self, name).unsqueeze(0) for name in self.network.parameters}
        return self.network.forward(batched, a, b, self.config)[0]


def _stored_names(ds: xr.Dataset, config: TrainConfig) -> dict[str, str]:
    """Parameter name -> its snapshot variable, checked to be in the dataset."""
    if config.architecture not in NETWORKS:
        raise InputError(f"no built-in network {config.architecture!r}: estimate it with local_learning_coefficient")
    # the loop stores every parameter but the embedding under mlp_{name} (train(save_mlp=True))
    names = {name: name if name == "embedding" else f"mlp_{name}" for name in NETWORKS[config.architecture].parameters}
    missing = [var for var in names.values() if var not in ds]
    if missing:
        raise InputError(
            f"the dataset holds no snapshots of {', '.join(missing)}: the local learning coefficient of a stored"
            f" snapshot needs the whole model, train with save_mlp=True (the mlp architecture only, for now)"
        )
    return names


def snapshot_llc(
    ds: xr.Dataset,
    *,
    epsilon: float = EPSILON,
    gamma: float = GAMMA,
    nbeta: float | None = None,
    chains: int = CHAINS,
    draws: int = DRAWS,
    batch_size: int = BATCH_SIZE,
    seed: int = 0,
    progress_bar: bool | None = None,
) -> xr.Dataset:
    """The local learning coefficient of every stored model of a run dataset, on each run's training pairs.

    Each snapshot of each run is rebuilt as its network (from ``embedding`` and the ``mlp_*`` snapshots of a
    ``TrainConfig(save_mlp=True)`` run) and estimated by :func:`local_learning_coefficient` with the
    cross-entropy on the run's training pairs (its split rebuilt from ``split_seed``), the same ``seed`` at
    every snapshot.

    Arguments:
        ds: a run dataset of :func:`training.train` with ``save_mlp=True``.
        epsilon, gamma, nbeta, chains, draws, batch_size, seed: as for :func:`local_learning_coefficient`.
        progress_bar: a bar over the estimates (None: in a terminal, else a line every 10 s; False: none).

    Returns:
        ``ds`` with ``llc`` and ``llc_std`` (run, snapshot) beside its other variables, the options in their
        attributes.

    Raises:
        InputError: devinterp is not installed, the dataset is not one of :func:`training.train`, holds no
            stored parameters, or an option is out of range (see :func:`local_learning_coefficient`).
    """
    if "config" not in ds.attrs:
        raise InputError(
            "snapshot_llc rebuilds the built-in models of training.train; for a Recorder's model estimate it in"
            " your loop with local_learning_coefficient and store the estimates with with_llc"
        )
    _devinterp()  # the install hint before any work
    config = TrainConfig.from_json(ds.attrs["config"])
    names = _stored_names(ds, config)
    a_all, b_all, c_all = (torch.from_numpy(x) for x in pairs(config.p, config.task))
    runs, snaps = ds.sizes["run"], ds.sizes["snapshot"]
    estimates: dict[int, list] = {int(step): [None] * runs for step in ds["snapshot"].values}
    options = dict(epsilon=epsilon, gamma=gamma, nbeta=nbeta, chains=chains, draws=draws, batch_size=batch_size)
    bar = progress(total=runs * snaps, desc="local learning coefficient", unit="snapshot", enabled=progress_bar)
    with bar:
        for r in range(runs):
            train, _ = make_split(config.p, config.train_frac, int(ds["split_seed"].values[r]))
            index = torch.from_numpy(train)
            data = (a_all[index], b_all[index]), c_all[index]
            for s, step in enumerate(estimates):
                model = _Stored(config, {name: ds[var].values[r, s] for name, var in names.items()})
                estimates[step][r] = local_learning_coefficient(model, *data, seed=seed, **options)
                bar.update()
    return with_llc(ds, estimates)


def _estimates(step: int, value, runs: int) -> list:
    """The estimate(s) at one step, one per run."""
    items = list(value) if isinstance(value, Sequence | np.ndarray) and not isinstance(value, str) else [value]
    if len(items) != runs:
        raise InputError(f"the estimate at step {step} has {len(items)} value(s); the dataset has {runs} run(s)")
    for item in items:
        if not (isinstance(item, xr.Dataset) and "llc" in item) and not is_number(item):
            raise InputError(
                f"the estimate at step {step} must be local_learning_coefficient's result or a number, got"
                f" {type(item).__name__}"
            )
    return items


def with_llc(ds: xr.Dataset, estimates: Mapping[int, object]) -> xr.Dataset:
    """A run dataset with local learning coefficients at its snapshot steps, as ``llc`` and ``llc_std``.

    For a model of your own recorded with :class:`training.Recorder`: estimate it in your loop at the steps
    given as ``Recorder(snapshots=...)`` (the first and the last recorded step are snapshots too), then store::

        estimates = {}
        ...  # in the loop, at a snapshot step:
        estimates[step] = training.local_learning_coefficient(model, x_train, y_train)
        ds = training.with_llc(rec.to_dataset(), estimates)

    Arguments:
        ds: a run dataset with a ``snapshot`` coordinate.
        estimates: snapshot step -> :func:`local_learning_coefficient`'s result or a number, or a sequence of
            those with one per run. Snapshots without an estimate are NaN.

    Returns:
        A new dataset: ``ds`` with ``llc`` and ``llc_std`` (run, snapshot); the options of the first estimate
        in their attributes.

    Raises:
        InputError: the dataset has no snapshots, a step is not one of them, or an estimate is of another kind
            or has another number of runs.
    """
    if "snapshot" not in ds.coords or "run" not in ds.sizes:
        raise InputError("the dataset has no snapshot coordinate: record snapshots (Recorder(snapshots=...))")
    if not isinstance(estimates, Mapping):
        raise InputError(f"estimates must be a dict of snapshot step -> estimate, got {type(estimates).__name__}")
    steps = [int(s) for s in ds["snapshot"].values]
    runs = ds.sizes["run"]
    values = np.full((2, runs, len(steps)), np.nan)
    attrs: dict = {}
    for step, value in estimates.items():
        if not isinstance(step, numbers.Integral) or int(step) not in steps:
            raise InputError(f"{step!r} is not a snapshot step of the dataset; its snapshots are {steps}")
        for r, item in enumerate(_estimates(int(step), value, runs)):
            if isinstance(item, xr.Dataset):
                values[:, r, steps.index(int(step))] = float(item["llc"]), float(item.get("llc_std", math.nan))
                attrs = attrs or dict(item.attrs)
            else:
                values[0, r, steps.index(int(step))] = float(item)
    out = ds.copy()
    for name, data in zip(("llc", "llc_std"), values, strict=True):
        out[name] = (("run", "snapshot"), data)
        out[name].attrs = {"description": VARIABLES[name].description, **attrs}
    return out
