"""The training loop: initialise an ensemble, train it full-batch with AdamW, record its Fourier signals.

A record at step s is the state after s updates: the forward and backward pass that computes update s + 1
also gives step s's train loss and embedding gradient, so every record costs only the signal reductions and,
at recorded steps only, one forward pass over the test set. Records are reductions or clones of the live
tensors, never views, so the in-place optimizer update cannot change a record already taken.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from fittest.atomic import output_file, write_netcdf
from fittest.errors import InputError
from training.checkpoint import load_checkpoint, save_checkpoint
from training.config import TrainConfig
from training.dataset import pairs, split
from training.fourier import fourier_basis, frequencies, signal
from training.io import SCHEMA
from training.model import (
    MLP_DIMS,
    MLP_PARAMETERS,
    PARAMETERS,
    forward,
    init_embedding,
    init_mlp,
    loss_and_accuracy,
    loss_gradients,
)
from training.optimizer import EnsembleAdamW
from training.schedule import record_steps, snapshot_steps

# Runs trained together in one batched set of tensors on the CPU; measured by benchmarks/bench_training.py
# on a 2-core machine (see there): a plain loop over single models beat one batched ensemble (by 1.09x).
# Torch's thread count is left as the caller set it: on that machine, idle, 2 threads made a step 1.7x faster
# than 1, but 2-9x slower while other jobs kept the cores busy; OMP_NUM_THREADS=1 suits a shared machine.
CPU_CHUNK = 1
CUDA_CHUNK = 4096
RECORDS = ("signal", "grad_signal", "train_loss", "test_loss", "train_acc", "test_acc")


def resolve_device(name: str) -> torch.device:
    """The torch device for a config's ``device`` field (``"auto"``: CUDA when available, else the CPU).

    Raises:
        InputError: the device is not available on this machine.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"device {name!r} is not available: torch sees no CUDA GPU; use --device cpu or auto")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise InputError(f"device {name!r} is not available: {torch.cuda.device_count()} CUDA device(s)")
    if name == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise InputError("device 'mps' is not available on this machine; use --device cpu or auto")
    return torch.device(name)


class _Members:
    """A contiguous slice of the ensemble trained as one batch of tensors, with its data and optimizer."""

    def __init__(self, config: TrainConfig, runs: slice, params: dict[str, torch.Tensor], data: dict):
        self.config = config
        self.runs = runs
        self.params = params
        self.data = data
        self.workspace: dict = {}
        self.optimizer = EnsembleAdamW(
            [params[name] for name in PARAMETERS],
            lr=config.per_run("lr")[runs],
            weight_decay=config.per_run("weight_decay")[runs],
            betas=config.betas,
        )

    def gradients(self, *, record: bool):
        """Gradients at the current state by name; with ``record`` also the per-run train loss and accuracy.

        The embedding's gradient is computed when it is trained or when the step is recorded (``grad_signal``).
        """
        data = self.data
        grads, losses, accuracy = loss_gradients(
            self.params,
            data["a"],
            data["b"],
            data["c"],
            activation=self.config.activation,
            embedding_grad=record or not self.config.freeze_embedding,
            metrics=record,
            workspace=self.workspace,
        )
        return losses, accuracy, grads

    def update(self, grads: dict[str, torch.Tensor]) -> None:
        """One AdamW step; a frozen embedding gets neither its gradient nor decay."""
        skip = {"embedding"} if self.config.freeze_embedding else set()
        self.optimizer.step([None if name in skip else grads.get(name) for name in PARAMETERS])

    @torch.no_grad()
    def test(self):
        logits = forward(self.params, self.data["a_test"], self.data["b_test"], activation=self.config.activation)
        return loss_and_accuracy(logits, self.data["c_test"])


def _initial_parameters(config: TrainConfig) -> dict[str, np.ndarray]:
    """Every run's initial parameters, float64 numpy with a leading run axis, interventions applied."""
    embed_seeds, mlp_seeds = config.run_seeds("embed"), config.run_seeds("mlp")
    embeddings = []
    for seed in embed_seeds:
        embedding = init_embedding(config.p, config.d, seed)
        embeddings.append(_intervene(config, embedding, seed))
    mlps = [init_mlp(config.p, config.d, config.hidden, init=config.mlp_init, seed=s) for s in mlp_seeds]
    out = {"embedding": np.stack(embeddings)}
    for name in MLP_PARAMETERS:
        out[name] = np.stack([mlp[name] for mlp in mlps])
    return out


def _intervene(config: TrainConfig, embedding: np.ndarray, seed: int) -> np.ndarray:
    if config.init_construct is None and config.init_keep is None and config.init_perturb is None:
        return embedding
    from training import interventions

    if config.init_construct is not None:
        embedding = interventions.construct(
            config.p, config.d, config.init_construct, eps=config.construct_eps, seed=int(seed)
        )
    if config.init_keep is not None:
        embedding = interventions.keep_only(embedding, list(config.init_keep))
    if config.init_perturb is not None:
        embedding = interventions.perturb(embedding, config.init_perturb)
    return np.asarray(embedding, dtype=np.float64)


def _data(config: TrainConfig, runs: slice, device: torch.device) -> dict[str, torch.Tensor]:
    """Train and test (a, b, c) index tensors for the runs in ``runs``: (n,) when they share a split."""
    a_all, b_all, c_all = pairs(config.p)
    seeds = config.run_seeds("split")[runs]
    splits = [split(config.p, config.train_frac, s) for s in (seeds[:1] if len(set(seeds)) == 1 else seeds)]
    out = {}
    for part, suffix in ((0, ""), (1, "_test")):
        index = np.stack([s[part] for s in splits])
        if len(splits) == 1:
            index = index[0]
        for name, values in (("a", a_all), ("b", b_all), ("c", c_all)):
            out[name + suffix] = torch.as_tensor(values[index], device=device)
    return out


def _chunks(config: TrainConfig, device: torch.device) -> list[slice]:
    size = CUDA_CHUNK if device.type != "cpu" else CPU_CHUNK
    return [slice(start, min(start + size, config.runs)) for start in range(0, config.runs, size)]


def train(
    config: TrainConfig,
    *,
    out: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool | None = None,
    command: str | None = None,
) -> xr.Dataset:
    """Train ``config.runs`` independent models and return their records as a run dataset (DESIGN.md section 2).

    Arguments:
        config: the experiment.
        out: write the dataset here as netCDF, atomically; its folder must exist.
        checkpoint: a file to save the full training state to every ``config.checkpoint_every`` steps.
        resume: continue from ``checkpoint`` when that file exists (it must come from the same config); the
            result is the one an uninterrupted run gives.
        progress: show a progress bar; by default only when standard error is a terminal.
        command: how the run was made, stored in the ``command`` attribute; by default the Python call.

    On a CUDA device the whole ensemble is one set of batched tensors; on the CPU the models are trained one
    after another in each step (measured faster by ``benchmarks/bench_training.py``), with torch's thread
    count as it is set (``OMP_NUM_THREADS=1`` on a machine that others share). Either way each model sees only
    its own data and rates.

    Returns:
        The run dataset: ``amplitude``, ``signal``, ``grad_signal`` (run, step, frequency), train/test loss and
        accuracy (run, step), ``embedding`` snapshots (run, snapshot, token, dim), and with ``save_mlp`` the MLP
        parameters ``mlp_*`` at every snapshot.

    Raises:
        InputError: the config is not a :class:`TrainConfig`, the device is unavailable, the folder of ``out`` or
            ``checkpoint`` is missing or the path is a folder, ``resume`` without a checkpoint path, or the
            checkpoint belongs to another config.
    """
    from fittest.progress import progress as progress_bar

    if not isinstance(config, TrainConfig):
        raise InputError(f"train needs a TrainConfig, got {type(config).__name__}")
    for label, path in (("output", out), ("checkpoint", checkpoint)):
        if path is not None:
            output_file(path, what=label)
    if resume and checkpoint is None:
        raise InputError("resume needs a checkpoint file to resume from")
    device = resolve_device(config.device)
    dtype = getattr(torch, config.dtype)
    steps_recorded = record_steps(config)
    steps_snapshot = snapshot_steps(config)
    record_at = np.full(config.steps + 1, -1)
    record_at[steps_recorded] = np.arange(len(steps_recorded))
    snapshot_at = np.full(config.steps + 1, -1)
    snapshot_at[steps_snapshot] = np.arange(len(steps_snapshot))
    K = len(frequencies(config.p))
    basis = torch.as_tensor(fourier_basis(config.p), dtype=dtype, device=device)

    initial = _initial_parameters(config)
    slices = _chunks(config, device)
    members = []
    for runs in slices:
        params = {name: torch.as_tensor(initial[name][runs], dtype=dtype, device=device).clone() for name in PARAMETERS}
        members.append(_Members(config, runs, params, _data(config, runs, device)))

    R, n_rec, n_snap = config.runs, len(steps_recorded), len(steps_snapshot)
    records = {
        name: torch.zeros((R, n_rec, K) if "signal" in name else (R, n_rec), dtype=dtype, device=device)
        for name in RECORDS
    }
    snapshots = {"embedding": torch.zeros((R, n_snap, config.p, config.d), dtype=dtype, device=device)}
    if config.save_mlp:
        for name in MLP_PARAMETERS:
            snapshots[name] = torch.zeros((R, n_snap, *initial[name].shape[1:]), dtype=dtype, device=device)

    start = 0
    if resume and Path(checkpoint).exists():
        start = load_checkpoint(checkpoint, config, members, records, snapshots, device=device)

    bar = progress_bar(total=config.steps, desc="train", unit="step", enabled=progress)
    bar.update(start)
    try:
        for step in range(start, config.steps + 1):
            if checkpoint is not None and step > start and step % config.checkpoint_every == 0 and step < config.steps:
                save_checkpoint(checkpoint, config, step, members, records, snapshots)
            i, j = int(record_at[step]), int(snapshot_at[step])
            for member in members:
                runs = member.runs
                if j >= 0:
                    for name, store in snapshots.items():
                        store[runs, j] = member.params[name].detach()
                losses, accuracy, grads = member.gradients(record=i >= 0)
                if i >= 0:
                    with torch.no_grad():
                        records["signal"][runs, i] = signal(member.params["embedding"].detach(), basis)
                        records["grad_signal"][runs, i] = signal(grads["embedding"], basis)
                        records["train_loss"][runs, i] = losses
                        records["train_acc"][runs, i] = accuracy
                        records["test_loss"][runs, i], records["test_acc"][runs, i] = member.test()
                if step < config.steps:
                    member.update(grads)
            if step < config.steps:
                bar.update(1)
            if i >= 0 and (step % 100 == 0 or step == config.steps):
                bar.set_postfix(
                    train_loss=f"{float(records['train_loss'][:, i].mean()):.3g}",
                    test_acc=f"{float(records['test_acc'][:, i].mean()):.3f}",
                    refresh=False,
                )
    finally:
        bar.close()

    ds = _dataset(config, steps_recorded, steps_snapshot, records, snapshots, device=device, command=command)
    if out is not None:
        write_netcdf(ds, out)
    return ds


def _versions() -> str:
    import subprocess

    from fittest import __version__

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "xarray": xr.__version__,
        "fittest": __version__,
    }
    try:  # the source commit, when the package runs from a git checkout
        versions["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return json.dumps(versions)


def _dataset(config: TrainConfig, steps_recorded, steps_snapshot, records, snapshots, *, device, command) -> xr.Dataset:
    """Assemble the run dataset of DESIGN.md section 2 from the recorded tensors."""
    host = {name: value.cpu().numpy() for name, value in records.items()}
    coords = {
        "run": np.arange(config.runs),
        "step": steps_recorded,
        "frequency": frequencies(config.p),
        "snapshot": steps_snapshot,
        "token": np.arange(config.p),
        "dim": np.arange(config.d),
        "seed": ("run", np.full(config.runs, config.seed)),
        "p": ("run", np.full(config.runs, config.p)),
        "d": ("run", np.full(config.runs, config.d)),
        "lr": ("run", config.per_run("lr")),
        "weight_decay": ("run", config.per_run("weight_decay")),
        "embed_seed": ("run", config.run_seeds("embed")),
        "mlp_seed": ("run", config.run_seeds("mlp")),
        "split_seed": ("run", config.run_seeds("split")),
    }
    curve = ("run", "step", "frequency")
    data = {
        "amplitude": (curve, np.sqrt(host["signal"])),
        "signal": (curve, host["signal"]),
        "grad_signal": (curve, host["grad_signal"]),
        "train_loss": (("run", "step"), host["train_loss"]),
        "test_loss": (("run", "step"), host["test_loss"]),
        "train_acc": (("run", "step"), host["train_acc"]),
        "test_acc": (("run", "step"), host["test_acc"]),
        "embedding": (("run", "snapshot", "token", "dim"), snapshots["embedding"].cpu().numpy()),
    }
    for name in MLP_PARAMETERS:
        if name in snapshots:
            data[f"mlp_{name}"] = (("run", "snapshot", *MLP_DIMS[name]), snapshots[name].cpu().numpy())
    ds = xr.Dataset(data, coords=coords)
    descriptions = {
        "amplitude": "||F_k||, norm of the Fourier coefficient of the embedding (paper eq. 1)",
        "signal": "||F_k||^2, the paper's Fourier signal",
        "grad_signal": "||(dL/dE)_k||^2, the train-loss gradient on the embedding in the Fourier basis (appendix D)",
        "embedding": "embedding W_E at the steps in the snapshot coordinate",
    }
    for name, text in descriptions.items():
        ds[name].attrs["description"] = text
    ds["step"].attrs["description"] = "optimizer steps taken before the record; 0 is the initialisation"
    ds["frequency"].attrs["description"] = "k = 1..(p-1)//2; k and p-k are the same circle"
    for name in ds.data_vars:
        ds[name].encoding.update({"zlib": True, "complevel": 6, "shuffle": True})
    ds.attrs = {
        "schema": SCHEMA,
        "config": config.to_json(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else str(device),
        "versions": _versions(),
        "command": command if command is not None else f"training.train({config!r})",
    }
    return ds
