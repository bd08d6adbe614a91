"""Record a user's own torch model, in the user's own training loop, into a run dataset.

::

    rec = training.Recorder(p=p, embedding=model.embed)       # a tensor, an nn.Embedding or a callable
    for step in range(steps + 1):
        loss = ...; loss.backward()
        rec.record(step, loss=loss, test_acc=acc)              # reads the embedding and its .grad
        optimizer.step(); optimizer.zero_grad()
    ds = rec.to_dataset()                                      # survivors, dynamics.fit, reports work on it

A record is what :func:`training.train` records at a step: the embedding's ``signal`` (and so ``amplitude``),
the ``grad_signal`` of its gradient, the train loss and any other scalars. Each record costs one small matmul
(the Fourier basis times the embedding and its gradient, stacked) and stays on the model's device, in buffers
that grow by doubling, until :meth:`Recorder.to_dataset`; nothing is synchronised with the host while
recording. Every record is a reduction or a copy, never a view of a live parameter, so the optimizer's
in-place update cannot change it.

A long float32 run on the CPU slows down as its softmax probabilities underflow to subnormal numbers (the
built-in step, from 3.7 to 47 ms by step 12 000); :func:`training.train` flushes them to zero while it trains,
and a loop of your own gains the same with ``torch.set_flush_denormal(True)`` before it.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable

import numpy as np
import torch
import xarray as xr
from torch import nn

from fittest.checks import integer
from fittest.errors import InputError
from training.engine.loop import device_label, diverged, software_versions
from training.fourier import check_p, fourier_basis, frequencies, signal
from training.rundata import COORDS, SCALAR, USER_MODEL, VARIABLES, Variable, build_recorded
from training.tasks import get_task

# the standard scalars a user may pass by name; loss= is train_loss
_STANDARD_SCALARS = tuple(name for name, v in VARIABLES.items() if v.dims == SCALAR and name != "train_loss")
# the names a recorded dataset already uses (its coordinates, p and d among them, and standard variables)
_RESERVED = {*VARIABLES, *COORDS, "token", "dim", "p", "d"}


class _Growing:
    """A ``(capacity, *shape)`` tensor on the model's device whose capacity doubles when it is full."""

    def __init__(self, shape: tuple[int, ...], like: torch.Tensor, fill: float = 0.0):
        self.fill = fill
        self.data = torch.full((16, *shape), fill, dtype=like.dtype, device=like.device)

    def put(self, index: int, value) -> None:
        size = self.data.shape[0]
        if index >= size:  # a scalar first given at a late record starts past the first capacity
            grown = self.data.new_full((max(2 * size, 2 * index), *self.data.shape[1:]), self.fill)
            grown[:size] = self.data
            self.data = grown
        self.data[index] = value  # a copy into the buffer, never a reference to ``value``


class Recorder:
    """Records the embedding of a model trained in the caller's own loop; :meth:`to_dataset` gives a run dataset.

    Arguments:
        p: the modulus: the embedding has one row per token ``0 .. p-1``.
        embedding: the token embedding: a tensor (a leaf parameter) of shape ``(p, d)``, or ``(runs, p, d)`` for
            an ensemble batched on a leading axis; an ``nn.Embedding`` with ``p`` rows; or a callable returning
            such a tensor (for example ``lambda: model.embed.weight[:p]`` when the embedding holds more tokens).
        task: ``"add"``, ``"subtract"`` or ``"multiply"``: the basis of the circles (see :mod:`training.tasks`).
        gradient: a callable returning the embedding's loss gradient, the same shape; by default the ``.grad``
            of the embedding, which a computed tensor (a callable's slice) does not have.
        snapshots: steps at which the whole embedding is stored too (a copy of ``p x d`` numbers each); the
            first and the last recorded step always are, as :func:`training.train` stores the initialisation and
            the end.
        architecture: the dataset's ``architecture`` attribute, to say what the model was.

    Raises:
        InputError: ``p`` is not an integer >= 3 (or does not suit the task), ``embedding`` is none of the kinds
            above or has the wrong shape, or ``snapshots`` holds a step that is not an integer >= 0.
    """

    def __init__(
        self,
        *,
        p: int,
        embedding: torch.Tensor | nn.Embedding | Callable[[], torch.Tensor],
        task: str = "add",
        gradient: Callable[[], torch.Tensor] | None = None,
        snapshots: Iterable[int] = (),
        architecture: str = USER_MODEL,
    ) -> None:
        self.p = check_p(p)
        self.task = get_task(task)
        self.task.check(self.p)
        if isinstance(embedding, nn.Embedding):
            module = embedding
            self._read = lambda: module.weight
        elif isinstance(embedding, torch.Tensor):
            self._read = lambda: embedding
        elif callable(embedding) and not isinstance(embedding, nn.Module):
            self._read = embedding
        else:
            raise InputError(
                f"embedding must be a tensor, an nn.Embedding or a callable returning a (p, d) tensor; got "
                f"{type(embedding).__name__}: pass the model's embedding module or its weight"
            )
        if gradient is not None and not callable(gradient):
            raise InputError(f"gradient must be a callable returning the embedding's gradient, got {gradient!r}")
        self._gradient = gradient
        self._snapshot_steps = {integer("snapshots", s, 0) for s in _steps(snapshots)}
        self.architecture = str(architecture)
        first = self._embedding()
        self.shape = tuple(first.shape)
        self.runs = 1 if first.dim() == 2 else first.shape[0]
        self.d = first.shape[-1]
        self.steps: list[int] = []
        self._curves: _Growing | None = None  # (2, runs, K): signal and grad_signal
        self._scalars: dict[str, _Growing] = {}
        self._snapshots: list[tuple[int, torch.Tensor]] = []
        self._last: torch.Tensor | None = None
        self._basis: torch.Tensor | None = None

    def _embedding(self) -> torch.Tensor:
        value = self._read()
        if not isinstance(value, torch.Tensor):
            raise InputError(f"the embedding callable returned {type(value).__name__}, not a tensor of shape (p, d)")
        if value.dim() not in (2, 3) or value.shape[-2] != self.p:
            raise InputError(
                f"the embedding has shape {tuple(value.shape)} but p={self.p}: it needs {self.p} token rows, shape "
                f"(p, d) or (runs, p, d); pass a callable returning the token rows, e.g. lambda: weight[:{self.p}]"
            )
        return value

    def record(self, step: int, *, loss, **scalars) -> None:
        """Record the model at ``step``, after ``loss.backward()`` and before the optimizer's step.

        Arguments:
            step: the optimizer steps taken so far, increasing from one record to the next (0: the
                initialisation).
            loss: the train loss: a number, or a tensor of one element or one per run; stored as ``train_loss``.
            **scalars: more numbers or tensors of the same kind; ``train_acc``, ``test_loss`` and ``test_acc``
                fill the standard variables, any other name becomes a variable (run, step) of its own. A name
                left out of some records is NaN there.

        Raises:
            InputError: ``step`` is not an integer above the last one, the embedding changed shape, device or
                dtype, it has no gradient, or a scalar is not a number or has neither one nor ``runs`` elements.
        """
        step = integer("step", step, 0)
        if self.steps and step <= self.steps[-1]:
            raise InputError(f"step {step} is not after the last recorded step {self.steps[-1]}: record steps in order")
        for name in scalars:
            if name in _RESERVED and name not in _STANDARD_SCALARS:
                hint = "pass the train loss as loss=" if name == "train_loss" else "choose another name"
                raise InputError(f"{name!r} is a name of the run dataset, not a free scalar: {hint}")
        embedding = self._embedding()
        if tuple(embedding.shape) != self.shape:
            raise InputError(
                f"the embedding changed shape from {self.shape} to {tuple(embedding.shape)} between records"
            )
        grad = self._gradient() if self._gradient is not None else _grad_of(embedding)
        if not isinstance(grad, torch.Tensor) or tuple(grad.shape) != self.shape:
            shape = tuple(grad.shape) if isinstance(grad, torch.Tensor) else type(grad).__name__
            raise InputError(f"the embedding's gradient is {shape}, expected a tensor of shape {self.shape}")
        index = len(self.steps)
        with torch.no_grad():
            current = embedding.detach().reshape(self.runs, self.p, self.d)
            if self._curves is None:
                self._start(current)
            elif current.device != self._last.device or current.dtype != self._last.dtype:
                raise InputError(
                    f"the embedding moved from {self._last.device}/{self._last.dtype} to {current.device}/"
                    f"{current.dtype} between records: move the model before the first record"
                )
            both = torch.stack([current, grad.detach().reshape(self.runs, self.p, self.d).to(current.dtype)])
            self._curves.put(index, signal(both, self._basis))  # the one matmul of a record
            values = {"train_loss": loss, **scalars}
            for name, value in values.items():  # checked before any is stored, so a refused record leaves none
                values[name] = self._scalar(name, value, current)
            for name, value in values.items():
                if name not in self._scalars:
                    self._scalars[name] = _Growing((self.runs,), current, fill=float("nan"))
                self._scalars[name].put(index, value)
            if index == 0 or step in self._snapshot_steps:
                self._snapshots.append((step, current.clone()))
            self._last.copy_(current)
        self.steps.append(step)

    def _start(self, current: torch.Tensor) -> None:
        """Allocate the buffers on the device and in the dtype of the first recorded embedding."""
        group = self.task.group
        self._basis = torch.as_tensor(fourier_basis(self.p, group=group), dtype=current.dtype, device=current.device)
        self._curves = _Growing((2, self.runs, len(frequencies(self.p, group=group))), current)
        self._last = torch.empty_like(current)

    def _scalar(self, name: str, value, like: torch.Tensor) -> torch.Tensor | float:
        if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
            value = torch.as_tensor(value)
        if isinstance(value, torch.Tensor):
            if value.numel() not in (1, self.runs):
                raise InputError(
                    f"{name} has {value.numel()} elements but the recorder holds {self.runs} run(s): give one "
                    "number, or one per run"
                )
            return value.detach().reshape(-1).to(device=like.device, dtype=like.dtype)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)  # NaN and infinities too: they mark the run as diverged, not the call as wrong
        raise InputError(f"{name} must be a number or a tensor, got {type(value).__name__}")

    def to_dataset(self, *, command: str | None = None) -> xr.Dataset:
        """The records as a run dataset (the contract of :mod:`training.rundata`), copied to the host.

        Arguments:
            command: how the run was made, the ``command`` attribute; by default it says a Recorder made it.

        Returns:
            ``amplitude``, ``signal``, ``grad_signal`` (run, step, frequency), ``train_loss`` and the other
            scalars (run, step), ``embedding`` (run, snapshot, token, dim), and ``diverged`` (run: a NaN or
            infinite signal, gradient signal or train loss).

        Raises:
            InputError: nothing was recorded yet.
        """
        if not self.steps:
            raise InputError("nothing recorded yet: call record(step, loss=...) after loss.backward() first")
        n = len(self.steps)
        curves = self._curves.data[:n].movedim(0, 2)  # (2, runs, step, K)
        records = {"signal": curves[0], "grad_signal": curves[1]}
        records.update({name: buffer.data[:n].T for name, buffer in self._scalars.items()})
        snapshots = list(self._snapshots)
        if snapshots[-1][0] != self.steps[-1]:
            snapshots.append((self.steps[-1], self._last))
        # copies: on the CPU .numpy() would share the recorder's buffers with the dataset
        arrays = {name: value.cpu().numpy().copy() for name, value in records.items()}
        arrays["embedding"] = torch.stack([e for _, e in snapshots], 1).cpu().numpy()
        arrays["diverged"] = diverged(
            {name: records[name] for name in ("signal", "grad_signal", "train_loss")}, self.runs
        )
        own = [name for name in self._scalars if name not in VARIABLES]
        return build_recorded(
            p=self.p,
            d=self.d,
            task=self.task.name,
            runs=self.runs,
            steps=np.asarray(self.steps, dtype=np.int64),
            snapshots=np.asarray([s for s, _ in snapshots], dtype=np.int64),
            arrays=arrays,
            device=device_label(self._last.device),
            versions=software_versions(),
            command=command if command is not None else f"training.Recorder(p={self.p}, task={self.task.name!r})",
            variables={name: Variable(SCALAR, f"{name}, a scalar recorded with training.Recorder") for name in own},
            architecture=self.architecture,
        )


def _grad_of(embedding: torch.Tensor) -> torch.Tensor:
    """The ``.grad`` of a leaf embedding, or a one-line error that says how to get one."""
    if not embedding.is_leaf:
        raise InputError(
            "the embedding is a computed tensor, which keeps no .grad: pass gradient=lambda: ... returning the "
            "gradient of those rows (e.g. weight.grad[:p])"
        )
    if embedding.grad is None:
        raise InputError(
            "the embedding has no gradient: call record after loss.backward() and before optimizer.zero_grad(), "
            "on an embedding that requires grad"
        )
    return embedding.grad


def _steps(values: Iterable[int]) -> tuple:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InputError(f"snapshots must be a sequence of steps, got {values!r}")
    return tuple(values)
