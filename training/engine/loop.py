"""The training loop: initialise an ensemble, train it full-batch with AdamW, record its quantities.

A record at step s is the state after s updates: the forward and backward pass that computes update s + 1
also gives step s's train loss and embedding gradient, so every record costs only the quantities' reductions
and, at recorded steps only, one forward pass over the test set. Records are reductions or clones of the live
tensors, never views, so the in-place optimizer update cannot change a record already taken.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import xarray as xr

from fittest.atomic import check_free_space, format_bytes, output_file, output_lock, same_file, write_netcdf
from fittest.checks import integer
from fittest.errors import InputError
from fittest.progress import progress as progress_bar
from fittest.provenance import versions
from training.config import TrainConfig, memory_estimate, output_estimate
from training.engine.checkpoint import check_checkpoint, load_checkpoint, save_checkpoint
from training.engine.model import loss_and_accuracy
from training.engine.networks import NETWORKS
from training.engine.optimizer import EnsembleAdamW
from training.engine.quantities import QUANTITIES, Live, Quantity, sites, storage_shape, with_optional
from training.engine.schedule import record_steps
from training.engine.sites import OnDevice
from training.interventions import construct, keep_only, perturb
from training.rundata import build_run
from training.tasks import pairs, split

# Runs trained together in one batched set of tensors on the CPU, for an architecture that has not set its own
# (Network.cpu_chunk). One: a run's kernels then see the same shapes whether it is trained alone or in any
# ensemble, so its bits are its own; the MLP's pairs, 4% faster, were not (benchmarks/bench_training.py).
CPU_CHUNK = 1
CUDA_CHUNK = 4096


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


class Pairs(NamedTuple):
    """Token pairs ``(a, b)`` and their labels ``c``: (n,) when the runs share a split, else (runs, n)."""

    a: torch.Tensor
    b: torch.Tensor
    c: torch.Tensor


class ModelBatch:
    """A contiguous slice of the ensemble trained as one batch of tensors, with its pairs and optimizer."""

    def __init__(
        self,
        config: TrainConfig,
        runs: slice,
        params: dict[str, torch.Tensor],
        train: Pairs,
        test: Pairs,
        *,
        workspace: dict | None = None,
    ) -> None:
        self.config = config
        self.model = NETWORKS[config.architecture]
        self.runs = runs
        self.params = params
        self.train = train
        self.test_pairs = test
        self.workspace = {} if workspace is None else workspace
        self.optimizer = EnsembleAdamW(
            [params[name] for name in self.model.parameters],
            lr=config.per_run("lr")[runs],
            weight_decay=config.per_run("weight_decay")[runs],
            betas=config.betas,
        )

    def gradients(self, *, record: bool):
        """Gradients at the current state by name; with ``record`` also the per-run train loss and accuracy.

        The embedding's gradient is computed when it is trained or when the step is recorded (``grad_signal``).
        """
        grads, losses, accuracy = self.model.loss_gradients(
            self.params,
            *self.train,
            self.config,
            embedding_grad=record or not self.config.freeze_embedding,
            metrics=record,
            workspace=self.workspace,
        )
        return losses, accuracy, grads

    def update(self, grads: dict[str, torch.Tensor]) -> None:
        """One AdamW step; a frozen embedding gets neither its gradient nor decay."""
        skip = {"embedding"} if self.config.freeze_embedding else set()
        self.optimizer.step([None if name in skip else grads.get(name) for name in self.model.parameters])

    @torch.no_grad()
    def test(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-run test loss and accuracy."""
        a, b, c = self.test_pairs
        return loss_and_accuracy(self.model.forward(self.params, a, b, self.config), c)


def _initial_parameters(config: TrainConfig) -> dict[str, np.ndarray]:
    """Every run's initial parameters, float64 numpy with a leading run axis, interventions applied."""
    model = NETWORKS[config.architecture]
    embed_seeds, mlp_seeds = config.run_seeds("embed"), config.run_seeds("mlp")
    embeddings = []
    for seed in embed_seeds:
        embedding = model.init_embedding(config, seed)
        embeddings.append(_intervene(config, embedding, seed))
    rests = [model.init_rest(config, seed) for seed in mlp_seeds]
    out = {"embedding": np.stack(embeddings)}
    for name in model.parameters[1:]:
        out[name] = np.stack([rest[name] for rest in rests])
    return out


def _intervene(config: TrainConfig, embedding: np.ndarray, seed: int) -> np.ndarray:
    if config.init_construct is None and config.init_keep is None and config.init_perturb is None:
        return embedding
    if config.init_construct is not None:
        embedding = construct(config.p, config.d, config.init_construct, eps=config.construct_eps, seed=int(seed))
    if config.init_keep is not None:
        embedding = keep_only(embedding, list(config.init_keep))
    if config.init_perturb is not None:
        embedding = perturb(embedding, config.init_perturb)
    return np.asarray(embedding, dtype=np.float64)


def _pairs(config: TrainConfig, runs: slice, device: torch.device) -> tuple[Pairs, Pairs]:
    """The train and test pairs of the runs in ``runs``, shared tensors when the runs share one split."""
    a_all, b_all, c_all = pairs(config.p, config.task)
    seeds = config.run_seeds("split")[runs]
    splits = [split(config.p, config.train_frac, s) for s in (seeds[:1] if len(set(seeds)) == 1 else seeds)]
    out = []
    for part in (0, 1):
        index = np.stack([s[part] for s in splits])
        if len(splits) == 1:
            index = index[0]
        out.append(Pairs(*(torch.as_tensor(values[index], device=device) for values in (a_all, b_all, c_all))))
    return out[0], out[1]


def cpu_chunk(config: TrainConfig) -> int:
    """The runs trained as one batch on the CPU: the architecture's measured size, else :data:`CPU_CHUNK`."""
    return NETWORKS[config.architecture].cpu_chunk or CPU_CHUNK


def standard(config: TrainConfig, quantities: Sequence[Quantity]) -> tuple[Quantity, ...]:
    """``quantities``, with those the architecture records (``unembed_signal``) and the config switches on."""
    names = {quantity.name for quantity in quantities}
    extra = tuple(q for q in NETWORKS[config.architecture].quantities if q.name not in names)
    return with_optional(config, (*quantities, *extra))


def initial_batches(config: TrainConfig, device: torch.device, *, chunk: int | None = None) -> list[ModelBatch]:
    """The ensemble at initialisation, split into batches of ``chunk`` runs (by default the device's size)."""
    dtype = getattr(torch, config.dtype)
    initial = _initial_parameters(config)
    batches = []
    size = chunk or (CUDA_CHUNK if device.type != "cpu" else cpu_chunk(config))
    # The batches take turns, so one set of step temporaries serves all those of one size: with a set per batch,
    # 16 models kept about 100 MB of activations in play and a CPU step took 4.6 ms per model instead of 3.6
    # (p = 59, one core), as each model's step found its buffers evicted from the cache by the others'
    workspaces: dict[int, dict] = {}
    for start in range(0, config.runs, size):
        runs = slice(start, min(start + size, config.runs))
        params = {name: torch.as_tensor(v[runs], dtype=dtype, device=device).clone() for name, v in initial.items()}
        workspace = workspaces.setdefault(runs.stop - runs.start, {})
        batches.append(ModelBatch(config, runs, params, *_pairs(config, runs, device), workspace=workspace))
    return batches


def train(
    config: TrainConfig,
    *,
    out: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool | None = None,
    command: str | None = None,
    quantities: Sequence[Quantity] = QUANTITIES,
    threads: int | None = None,
) -> xr.Dataset:
    """Train ``config.runs`` independent models and return their records as a run dataset (:mod:`training.rundata`).

    Arguments:
        config: the experiment.
        out: write the dataset here as netCDF, atomically; its folder must exist.
        checkpoint: a file to save the full training state to every ``config.checkpoint_every`` steps.
        resume: continue from ``checkpoint`` when that file exists (it must come from the same config); the
            result is the one an uninterrupted run gives.
        progress: True: a bar; False: nothing; by default a bar on a terminal, else a line every 10 s.
        command: how the run was made, stored in the ``command`` attribute; by default the Python call.
        quantities: what to record at each recorded step (:mod:`training.engine.quantities`); the standard
            quantities by default. The optional ones that the config switches on (``record_neurons``) are
            added to them.
        threads: torch's intra-op thread count during the call (restored afterwards). By default one thread,
            as on the command line, unless the count was chosen already: ``OMP_NUM_THREADS`` is set, or
            ``torch.set_num_threads`` set a count other than one of the machine's core counts (torch's own
            default); then that count. On 2 cores, 8 runs of 60 steps took 13 s at one thread and 44-156 s
            at torch's default of two while two other jobs kept the cores busy. A run's bits depend on it.

    On a CUDA device the whole ensemble is one set of batched tensors; on the CPU the models are trained one
    after another in each step (the architecture's ``cpu_chunk``), so that a run's records are bit for bit
    those it gets trained alone, whatever the other runs of the ensemble and their rates. Either way each model
    sees only its own data and rates.

    Returns:
        The run dataset: ``amplitude``, ``signal``, ``grad_signal`` (run, step, frequency), train/test loss and
        accuracy (run, step), ``diverged`` (run: any record NaN or infinite), ``embedding`` snapshots (run,
        snapshot, token, dim), and with ``save_mlp`` the MLP parameters ``mlp_*`` at every snapshot. The model
        is ``config.architecture``'s (:data:`training.engine.networks.NETWORKS`); the transformer also
        records ``unembed_signal`` (run, step, frequency).

    Raises:
        InputError: the config is not a :class:`TrainConfig`, the device is unavailable, the folder of ``out`` or
            ``checkpoint`` is missing, cannot be written or the path is a folder, ``out`` and ``checkpoint`` are one
            file, another process is writing either, ``resume`` without a checkpoint path, the checkpoint belongs
            to another config, the estimated memory (:func:`check_memory`) or disk space is not there, writing
            the result failed (its temporary file is removed), or ``threads`` is not an integer >= 1.
    """
    if not isinstance(config, TrainConfig):
        raise InputError(f"train needs a TrainConfig, got {type(config).__name__}")
    if threads is not None:
        threads = integer("threads", threads, 1)
    for label, path in (("output", out), ("checkpoint", checkpoint)):
        if path is not None:
            output_file(path, what=label)
    if out is not None and checkpoint is not None and same_file(out, checkpoint):
        raise InputError(
            f"the checkpoint and the output are the same file {str(out)!r}: the first checkpoint would overwrite"
            " it; give the checkpoint another name (the default is the output's name + .ckpt)"
        )
    if resume and checkpoint is None:
        raise InputError("resume needs a checkpoint file to resume from")
    if checkpoint is not None:
        check_checkpoint(checkpoint, resume=resume)
    device = resolve_device(config.device)
    check_memory(config, device)
    if out is not None:
        check_free_space(out, output_estimate(config), what="output")
    if checkpoint is not None:
        parameters = memory_estimate(config)["parameters"]
        check_free_space(checkpoint, output_estimate(config) + parameters // 2, what="checkpoint")
    with contextlib.ExitStack() as locks:  # one writer per output and checkpoint; the second says who holds it
        for label, path in (("output", out), ("checkpoint", checkpoint)):
            if path is not None:
                locks.enter_context(output_lock(path, what=label, command=command))
        locks.enter_context(torch_threads(threads))
        return _train(config, device, out, checkpoint, resume, progress, command, standard(config, quantities))


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Torch's intra-op thread count set for the duration of the block, as :func:`train`'s ``threads`` says.

    Arguments:
        threads: the count; None: one, unless the count was chosen already (see :func:`train`).
    """
    before = torch.get_num_threads()
    if threads is None:
        threads = before if "OMP_NUM_THREADS" in os.environ or before not in _core_counts() else 1
    if threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _core_counts() -> set[int]:
    """The counts torch may take as its default thread count: physical cores, logical CPUs, CPUs allowed."""
    counts = {os.cpu_count() or 1}
    if hasattr(os, "sched_getaffinity"):
        counts.add(len(os.sched_getaffinity(0)))
    with contextlib.suppress(ImportError):  # psutil comes with distributed
        import psutil

        counts.add(psutil.cpu_count(logical=False) or 1)
    return counts - {1}  # one thread is the safe count, whoever chose it


def _flushing() -> bool:
    """Whether subnormal float32 results are flushed to zero already (torch can set the mode, not report it)."""
    return float(torch.tensor(1e-38, dtype=torch.float32) * 0.01) == 0.0


def check_memory(config: TrainConfig, device: torch.device) -> None:
    """Refuse a config whose estimated memory (:func:`training.config.memory_estimate`) the device lacks.

    Raises:
        InputError: the estimate exceeds the memory available on ``device`` (for CUDA its free memory, else the
            host's available memory); the message names the estimate, its largest parts and what there is.
    """
    chunk = CUDA_CHUNK if device.type == "cuda" else cpu_chunk(config)
    parts = memory_estimate(config, chunk=chunk)
    need = sum(parts.values())
    available, where = available_memory(device)
    if available is not None and need > available:
        largest = sorted(parts.items(), key=lambda item: -item[1])[:3]
        detail = ", ".join(f"{name} {format_bytes(size)}" for name, size in largest)
        raise InputError(
            f"this config needs about {format_bytes(need)} of memory ({detail}) but {where} has"
            f" {format_bytes(available)} available: lower p, runs, d, hidden or steps"
        )


def available_memory(device: torch.device) -> tuple[int | None, str]:
    """The bytes free on ``device`` and how to name it; None when it cannot be found out."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free), f"CUDA device {device}"
    import psutil  # a dependency of distributed

    return int(psutil.virtual_memory().available), "this machine"


def _train(config, device, out, checkpoint, resume, progress, command, quantities) -> xr.Dataset:
    """:func:`train` once its arguments are checked and its output and checkpoint are locked."""
    dtype = getattr(torch, config.dtype)
    steps_recorded = record_steps(config)
    steps_snapshot = np.asarray(config.snapshot_schedule, dtype=np.int64)
    record_at = np.full(config.steps + 1, -1)
    record_at[steps_recorded] = np.arange(len(steps_recorded))
    snapshot_at = np.full(config.steps + 1, -1)
    snapshot_at[steps_snapshot] = np.arange(len(steps_snapshot))
    basis = OnDevice(config.task_spec.components(config.p), torch.empty((), dtype=dtype, device=device))

    batches = initial_batches(config, device)

    n_snap = len(steps_snapshot)
    records = {
        r.name: torch.zeros(storage_shape(r, config, len(steps_recorded)), dtype=dtype, device=device)
        for r in quantities
    }
    snapshots = {"embedding": torch.zeros((config.runs, n_snap, config.p, config.d), dtype=dtype, device=device)}
    if config.save_mlp:
        for name in NETWORKS[config.architecture].parameters[1:]:
            shape = batches[0].params[name].shape[1:]
            snapshots[name] = torch.zeros((config.runs, n_snap, *shape), dtype=dtype, device=device)

    start = 0
    if resume and Path(checkpoint).exists():
        start = load_checkpoint(checkpoint, config, batches, records, snapshots, device=device)

    # the rate and ETA count this session's steps only, not those the checkpoint restored
    bar = progress_bar(total=config.steps, initial=start, desc="train", unit="step", enabled=progress)
    # float32 on the CPU: as the model grows confident, softmax probabilities and the gradients they carry
    # underflow to subnormal numbers, which the CPU computes with microcode. Measured on the default p = 59
    # model, one core: 3.7 ms a step up to step 8000, then 5.2, 12.6, 32 and 47 ms by step 12 000; flushed to
    # zero, 3.6-3.9 ms throughout. Values below 1.2e-38 do not change a float32 model's training.
    flush = device.type == "cpu" and not _flushing() and torch.set_flush_denormal(True)
    try:
        for step in range(start, config.steps + 1):
            if checkpoint is not None and step > start and step % config.checkpoint_every == 0 and step < config.steps:
                save_checkpoint(checkpoint, config, step, batches, records, snapshots)
            i, j = int(record_at[step]), int(snapshot_at[step])
            for batch in batches:
                runs = batch.runs
                if j >= 0:
                    for name, store in snapshots.items():
                        store[runs, j] = batch.params[name].detach()
                losses, accuracy, grads = batch.gradients(record=i >= 0)
                if i >= 0:
                    live = Live(batch, grads, losses, accuracy, basis)
                    with torch.no_grad():
                        for quantity in quantities:
                            records[quantity.name][runs, i] = quantity.compute(live)
                if step < config.steps:
                    batch.update(grads)
            if step < config.steps:
                bar.update(1)
            if i >= 0 and (step % 100 == 0 or step == config.steps) and {"train_loss", "test_acc"} <= records.keys():
                bar.set_postfix(
                    train_loss=f"{float(records['train_loss'][:, i].mean()):.3g}",
                    test_acc=f"{float(records['test_acc'][:, i].mean()):.3f}",
                    refresh=False,
                )
    finally:
        bar.close()
        if flush:
            torch.set_flush_denormal(False)  # as the caller had it

    arrays = {name: value.cpu().numpy() for name, value in records.items()}
    arrays["diverged"] = diverged(records, config.runs)
    arrays.update({("mlp_" if name != "embedding" else "") + name: v.cpu().numpy() for name, v in snapshots.items()})
    ds = build_run(
        config,
        sites=sites(config),
        steps=steps_recorded,
        snapshots=steps_snapshot,
        arrays=arrays,
        device=device_label(device),
        versions=software_versions(),
        command=command if command is not None else f"training.train({config!r})",
        variables={r.name: r.described(config) for r in quantities if r.variable is not None},
    )
    if out is not None:
        write_netcdf(ds, out)
    return ds


def diverged(records: dict[str, torch.Tensor], runs: int) -> np.ndarray:
    """Per run, whether any of its records is NaN or infinite (a run that diverged), shape ``(runs,)``."""
    bad = np.zeros(runs, dtype=bool)
    for store in records.values():
        if store.is_floating_point():
            bad |= (~torch.isfinite(store)).reshape(runs, -1).any(1).cpu().numpy()
    return bad


def device_label(device: torch.device) -> str:
    """How a run dataset's ``device`` attribute names ``device``: with the GPU's model on CUDA."""
    return f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else str(device)


def software_versions() -> str:
    """JSON of the versions of Python, torch, numpy, xarray and fittest (and the git commit), for ``versions``."""
    # the same seed gives the same bits only at the same thread count (reductions are split by thread)
    return json.dumps(versions("torch", "numpy", "xarray", "fittest", torch_threads=torch.get_num_threads()))
