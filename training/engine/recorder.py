"""Record a user's own torch model, in the user's own training loop, into a run dataset.

::

    rec = training.Recorder(sites={                              # any number of named sites, each in its basis
        "embed": training.Site.weight(model.embed, training.bases.irreps(training.group("S4"))),
        "w1": training.Site.weight(model.lin, training.bases.fourier(23), axis=1, per_unit=True),
        "hidden": training.Site.activation(model.mlp[1], training.bases.pca(h0, 8), inputs=x_probe, axis=1),
    }, model=model)
    rec = training.Recorder(p=p, embedding=model.embed)       # the one-site Fourier case: a tensor, an
                                                               # nn.Embedding or a callable
    for step in range(steps + 1):
        loss = ...; loss.backward()
        rec.record(step, loss=loss, test_acc=acc)              # reads the embedding and its .grad
        optimizer.step(); optimizer.zero_grad()
    ds = rec.to_dataset()                                      # survivors, dynamics.fit, reports work on it

A record is what :func:`training.train` records at a step: each site's ``signal`` (the embedding's also as
``amplitude``), the ``grad_signal`` of its gradient, the train loss and any other scalars. Each record costs
one small matmul per site (the basis times the tensor and its gradient) and stays on the model's device, in
buffers that grow by doubling, until :meth:`Recorder.to_dataset`; nothing is synchronised with the host while
recording. Records are kept at least in float32 whatever the model's precision (a float16 loss of 70 000 is
finite), and everything a dataset could not hold is refused at :meth:`Recorder.record`, so a recording is
never lost at the end. Every record is a reduction or a copy, never a view of a live parameter, so the optimizer's
in-place update cannot change it.

A long float32 run on the CPU slows down as its softmax probabilities underflow to subnormal numbers (the
built-in step, from 3.7 to 47 ms by step 12 000); :func:`training.train` flushes them to zero while it trains,
and a loop of your own gains the same with ``torch.set_flush_denormal(True)`` before it.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Iterable, Mapping

import numpy as np
import torch
import xarray as xr
from torch import nn

from fittest.checks import integer
from fittest.errors import InputError
from training.engine.loop import device_label, diverged, software_versions
from training.engine.sites import OnDevice, Site
from training.fourier import check_p
from training.rundata import COORDS, EMBEDDING, SCALAR, USER_MODEL, VARIABLES, SiteLayout, Variable, build_run
from training.tasks import get_task

# the standard scalars a user may pass by name; loss= is train_loss
_STANDARD_SCALARS = tuple(name for name, v in VARIABLES.items() if v.dims == SCALAR and name != "train_loss")
# the names a recorded dataset already uses (its coordinates, p and d among them, and standard variables)
_RESERVED = {*VARIABLES, *COORDS, "token", "dim", "p", "d", "amplitude", "signal", "grad_signal"}
# a variable name netCDF and zarr both store as it is
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_STEP_MAX = 2**63 - 1  # steps are stored as int64


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


def _record_dtype(dtype: torch.dtype) -> torch.dtype:
    """The precision records are kept in: the model's, but never below float32."""
    return torch.promote_types(dtype, torch.float32)


class _Recording:
    """One site as a Recorder follows it: how to read it, its shape, buffers and layout."""

    def __init__(self, name: str, site: Site) -> None:
        self.name = name
        self.site = site
        self.output: torch.Tensor | None = None  # an activation's last output (training-batch sites)
        self.output_grad: torch.Tensor | None = None
        self.shape: tuple[int, ...] | None = None
        self.basis: OnDevice | None = None
        self.buffers: dict[str, _Growing] = {}
        self.layout: SiteLayout | None = None
        self.hook = None
        if site.kind == "activation" and site.inputs is None:
            self.hook = site.module.register_forward_hook(self._capture)

    def _capture(self, module, inputs, output) -> None:
        if isinstance(output, torch.Tensor):
            self.output = output
            self.output_grad = None
            if self.site.leaf and output.requires_grad:
                output.register_hook(self._capture_grad)

    def _capture_grad(self, grad: torch.Tensor) -> None:
        self.output_grad = grad

    def value(self) -> torch.Tensor:
        """The site's tensor now, ``(runs, n, m)``, checked."""
        site = self.site
        if site.kind == "weight":
            value = site.read()
            if not isinstance(value, torch.Tensor):
                raise InputError(f"site {self.name!r}: the callable returned {type(value).__name__}, not a tensor")
        else:
            value = self.output
            if value is None:
                raise InputError(
                    f"site {self.name!r}: the module has not run yet: record after the model's forward pass"
                )
        _check_tensor(self.name, value, site.kind)
        return value if value.dim() == 3 else value.unsqueeze(0)

    def gradient(self, value: torch.Tensor) -> torch.Tensor | None:
        site = self.site
        if site.kind == "activation":
            if not site.leaf:
                return None
            if self.output_grad is None:
                raise InputError(
                    f"site {self.name!r} has no gradient: call record after loss.backward(), with the module's"
                    " output in the graph"
                )
            grad = self.output_grad
        elif site.gradient is not None:
            grad = site.gradient()
        elif site.leaf:
            grad = _grad_of(site.read(), self.name)
        else:
            return None
        if not isinstance(grad, torch.Tensor) or grad.numel() != value.numel():
            shape = tuple(grad.shape) if isinstance(grad, torch.Tensor) else type(grad).__name__
            raise InputError(
                f"site {self.name!r}: the gradient is {shape}, expected {value.numel()} elements like the site"
            )
        return grad.detach().reshape(value.shape)

    def measure(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The site's tensor and its powers at this record, nothing stored yet."""
        value = self.value()
        if self.shape is None:
            axis_length = value.shape[1 + self.site.axis]
            if axis_length != self.site.basis.size:
                raise InputError(
                    f"site {self.name!r}: the basis {self.site.basis.dim!r} acts on {self.site.basis.size} elements"
                    f" but axis {self.site.axis} of the site has {axis_length}: choose the basis of that size or"
                    " the other axis"
                )
        elif tuple(value.shape) != self.shape:
            raise InputError(
                f"site {self.name!r} changed shape from {self.shape} to {tuple(value.shape)} between records"
            )
        grad = self.gradient(value)
        dtype = _record_dtype(value.dtype)
        if self.basis is None:
            self.basis = OnDevice(self.site.basis, torch.empty((), dtype=dtype, device=value.device))
        elif self.basis.rows.device != value.device or self.basis.rows.dtype != dtype:
            raise InputError(
                f"site {self.name!r} moved from {self.basis.rows.device} to {value.device} or changed dtype between"
                " records: move the model before the first record"
            )
        axis = -2 if self.site.axis == 0 else -1
        with torch.no_grad():
            work = value.detach().to(dtype)
            powers = {"signal": self.basis.power(work, axis=axis, per_unit=self.site.per_unit)}
            if grad is not None:
                grad = grad.to(device=value.device, dtype=dtype)
                powers["grad_signal"] = self.basis.power(grad, axis=axis, per_unit=self.site.per_unit)
        return value, powers

    def store(self, index: int, value: torch.Tensor, powers: dict[str, torch.Tensor]) -> None:
        if self.shape is None:
            self.shape = tuple(value.shape)
            units = value.shape[2 - self.site.axis]
            self.layout = self.site.layout(self.name, units=units, gradient="grad_signal" in powers)
            for part, power in powers.items():
                self.buffers[part] = _Growing(tuple(power.shape), power)
        for part, power in powers.items():
            self.buffers[part].put(index, power)

    def close(self) -> None:
        if self.hook is not None:
            self.hook.remove()
            self.hook = None


class Recorder:
    """Records the sites of a model trained in the caller's own loop; :meth:`to_dataset` gives a run dataset.

    Give either ``sites`` (any number of named :class:`training.Site`, each in its own basis) or ``p`` and
    ``embedding`` (the one-site Fourier case: the token embedding in the task's basis).

    Arguments:
        sites: site name -> :class:`training.Site`. A site named ``"embedding"`` keeps the variable names
            ``signal``, ``amplitude`` and ``grad_signal``; any other site's are ``{name}_signal`` and
            ``{name}_grad_signal``.
        model: the model, called as ``model(inputs)`` for the activation sites that have a probe batch.
        p: the modulus: the embedding has one row per token ``0 .. p-1``.
        embedding: the token embedding: a tensor (a leaf parameter) of shape ``(p, d)``, or ``(runs, p, d)`` for
            an ensemble batched on a leading axis; an ``nn.Embedding`` with ``p`` rows; or a callable returning
            such a tensor (for example ``lambda: model.embed.weight[:p]`` when the embedding holds more tokens).
        task: ``"add"``, ``"subtract"``, ``"multiply"`` or a group's name (``"S4"``): the basis of the embedding's
            components (see :mod:`training.tasks`).
        gradient: a callable returning the embedding's loss gradient, the same shape; by default the ``.grad``
            of the embedding, which a computed tensor (a callable's slice) does not have.
        snapshots: steps at which the embedding site's whole tensor is stored too; the first and the last
            recorded step always are, as :func:`training.train` stores the initialisation and the end.
        architecture: the dataset's ``architecture`` attribute, to say what the model was.

    Raises:
        InputError: neither or both of ``sites`` and ``embedding``, a site name a dataset cannot hold, ``p`` is
            not an integer >= 3 (or does not suit the task), ``embedding`` is none of the kinds above or has the
            wrong shape, a probe batch without ``model``, or ``snapshots`` holds a step that is not an integer >= 0.
    """

    def __init__(
        self,
        *,
        sites: Mapping[str, Site] | None = None,
        model: nn.Module | Callable | None = None,
        p: int | None = None,
        embedding: torch.Tensor | nn.Embedding | Callable[[], torch.Tensor] | None = None,
        task: str = "add",
        gradient: Callable[[], torch.Tensor] | None = None,
        snapshots: Iterable[int] = (),
        architecture: str = USER_MODEL,
    ) -> None:
        if (sites is None) == (embedding is None):
            raise InputError(
                "give the Recorder either sites={name: training.Site...} or p= and embedding= (the Fourier embedding)"
            )
        self.p: int | None = None
        self.task = None
        if embedding is not None:
            sites = {EMBEDDING: self._embedding_site(p, embedding, task, gradient)}
        if not isinstance(sites, Mapping) or not sites:
            raise InputError(f"sites must be a non-empty dict of name -> training.Site, got {sites!r}")
        for name, site in sites.items():
            if not isinstance(name, str) or not _NAME.match(name) or (name in _RESERVED and name != EMBEDDING):
                raise InputError(
                    f"site name {name!r} cannot name dataset variables: use letters, digits and _ (a letter first),"
                    " not a name of the run dataset"
                )
            if not isinstance(site, Site):
                raise InputError(f"site {name!r} must be a training.Site (Site.weight, Site.activation), got {site!r}")
        if model is None and any(s.kind == "activation" and s.inputs is not None for s in sites.values()):
            raise InputError(
                "an activation site with a probe batch (inputs=) needs the model: pass Recorder(model=...)"
            )
        if model is not None and not callable(model):
            raise InputError(f"model must be the callable model (an nn.Module), got {type(model).__name__}")
        if gradient is not None and not callable(gradient):
            raise InputError(f"gradient must be a callable returning the embedding's gradient, got {gradient!r}")
        self.model = model
        self._snapshot_steps = {integer("snapshots", s, 0) for s in _steps(snapshots)}
        self.architecture = str(architecture)
        self._sites = {name: _Recording(name, site) for name, site in sites.items()}
        self.runs: int | None = None
        self.steps: list[int] = []
        self._scalars: dict[str, _Growing] = {}
        self._snapshots: list[tuple[int, torch.Tensor]] = []
        self._last: torch.Tensor | None = None
        if embedding is not None:  # the shape is known now; a module site's only once it runs
            first = self._sites[EMBEDDING].value()
            self.runs, self.d = first.shape[0], first.shape[-1]
            self.shape = tuple(self._sites[EMBEDDING].site.read().shape)

    def _embedding_site(self, p, embedding, task: str, gradient) -> Site:
        self.p = check_p(p)
        self.task = get_task(task)
        self.task.check(self.p)
        if isinstance(embedding, nn.Embedding):
            module = embedding
            read = lambda: module.weight  # noqa: E731
        elif isinstance(embedding, torch.Tensor):
            read = lambda: embedding  # noqa: E731
        elif callable(embedding) and not isinstance(embedding, nn.Module):
            read = embedding
        else:
            raise InputError(
                f"embedding must be a tensor, an nn.Embedding or a callable returning a (p, d) tensor; got "
                f"{type(embedding).__name__}: pass the model's embedding module or its weight"
            )
        p_ = self.p

        def rows() -> torch.Tensor:
            value = read()
            if not isinstance(value, torch.Tensor):
                raise InputError(
                    f"the embedding callable returned {type(value).__name__}, not a tensor of shape (p, d)"
                )
            if value.dim() not in (2, 3) or value.shape[-2] != p_:
                raise InputError(
                    f"the embedding has shape {tuple(value.shape)} but p={p_}: it needs {p_} token rows, shape "
                    f"(p, d) or (runs, p, d); pass a callable returning the token rows, e.g. lambda: weight[:{p_}]"
                )
            return value

        basis = self.task.components(self.p)
        if gradient is not None:
            return Site.weight(rows, basis, axis=0, gradient=gradient)
        # the .grad of what the callable returns: a computed slice has none, and is refused at the first record
        return Site.weight(rows, basis, axis=0, gradient=True)

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
            InputError: ``step`` is not an integer above the last one (below 2**63), a site changed shape, device
                or dtype, has no gradient, is not a floating-point tensor, or a scalar's name cannot be stored or
                its value is not a number or has neither one nor ``runs`` elements. A refused record stores
                nothing.
        """
        step = integer("step", step, 0, _STEP_MAX)
        if self.steps and step <= self.steps[-1]:
            raise InputError(f"step {step} is not after the last recorded step {self.steps[-1]}: record steps in order")
        for name in scalars:
            if name in _RESERVED and name not in _STANDARD_SCALARS:
                hint = "pass the train loss as loss=" if name == "train_loss" else "choose another name"
                raise InputError(f"{name!r} is a name of the run dataset, not a free scalar: {hint}")
            if not _NAME.match(name) or name in self._sites or any(name.startswith(f"{s}_") for s in self._sites):
                raise InputError(
                    f"scalar name {name!r} cannot be stored: use letters, digits and _ (a letter first), not a site's"
                    " name"
                )
        self._probe()
        measured = {name: recording.measure() for name, recording in self._sites.items()}
        runs = {value.shape[0] for value, _ in measured.values()}
        if len(runs) > 1 or (self.runs is not None and runs != {self.runs}):
            raise InputError(f"the sites hold different numbers of runs {sorted(runs)}: record one ensemble at a time")
        self.runs = runs.pop()
        like = next(iter(measured.values()))[1]["signal"]
        values = {"train_loss": loss, **scalars}
        for name, value in values.items():  # checked before any is stored, so a refused record leaves none
            values[name] = self._scalar(name, value, like)
        index = len(self.steps)
        for name, (value, powers) in measured.items():
            self._sites[name].store(index, value, powers)
        for name, value in values.items():
            if name not in self._scalars:
                self._scalars[name] = _Growing((self.runs,), like, fill=float("nan"))
            self._scalars[name].put(index, value)
        if EMBEDDING in measured:
            current = measured[EMBEDDING][0].detach()
            if index == 0 or step in self._snapshot_steps:
                self._snapshots.append((step, current.clone()))
            if self._last is None:
                self._last = torch.empty_like(current)
            self._last.copy_(current)
        self.steps.append(step)

    def _probe(self) -> None:
        """Run the model once on each probe batch, with hooks that read the probed sites' outputs."""
        batches: dict[int, list[_Recording]] = {}
        for recording in self._sites.values():
            if recording.site.kind == "activation" and recording.site.inputs is not None:
                batches.setdefault(id(recording.site.inputs), []).append(recording)
        for group in batches.values():
            hooks = [r.site.module.register_forward_hook(r._capture) for r in group]
            try:
                with torch.no_grad():
                    self.model(group[0].site.inputs)
            finally:
                for hook in hooks:
                    hook.remove()

    def _scalar(self, name: str, value, like: torch.Tensor) -> torch.Tensor | float:
        if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
            value = torch.as_tensor(value)
        if isinstance(value, torch.Tensor):
            if value.numel() not in (1, self.runs):
                raise InputError(
                    f"{name} has {value.numel()} elements but the recorder holds {self.runs} run(s): give one "
                    "number, or one per run"
                )
            if value.is_complex():
                raise InputError(f"{name} is complex: give real numbers")
            return value.detach().reshape(-1).to(device=like.device, dtype=like.dtype)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)  # NaN and infinities too: they mark the run as diverged, not the call as wrong
        raise InputError(f"{name} must be a number or a tensor, got {type(value).__name__}")

    def close(self) -> None:
        """Remove the forward hooks of activation sites read from the training batch."""
        for recording in self._sites.values():
            recording.close()

    def to_dataset(self, *, command: str | None = None) -> xr.Dataset:
        """The records as a run dataset (the contract of :mod:`training.rundata`), copied to the host.

        Arguments:
            command: how the run was made, the ``command`` attribute; by default it says a Recorder made it.

        Returns:
            Each site's ``{site}_signal`` (and ``{site}_grad_signal``) (run, step, [unit], component), the
            embedding site's as ``signal``, ``amplitude``, ``grad_signal`` with its snapshots ``embedding`` (run,
            snapshot, token, dim); ``train_loss`` and the other scalars (run, step); and ``diverged`` (run: a NaN
            or infinite power or train loss).

        Raises:
            InputError: nothing was recorded yet.
        """
        if not self.steps:
            raise InputError("nothing recorded yet: call record(step, loss=...) after loss.backward() first")
        n = len(self.steps)
        records = {}
        for recording in self._sites.values():
            prefix = recording.layout.prefix
            for part, buffer in recording.buffers.items():
                records[f"{prefix}{part}"] = buffer.data[:n].movedim(0, 1)  # (runs, step, ...)
        records.update({name: buffer.data[:n].T for name, buffer in self._scalars.items()})
        # copies: on the CPU .numpy() would share the recorder's buffers with the dataset
        arrays = {name: value.cpu().numpy().copy() for name, value in records.items()}
        snapshots = list(self._snapshots)
        if snapshots and snapshots[-1][0] != self.steps[-1]:
            snapshots.append((self.steps[-1], self._last))
        if snapshots:
            arrays["embedding"] = torch.stack([e for _, e in snapshots], 1).to(records["signal"].dtype).cpu().numpy()
        checked = {name: v for name, v in records.items() if name.endswith("signal") or name == "train_loss"}
        arrays["diverged"] = diverged(checked, self.runs)
        own = [name for name in self._scalars if name not in VARIABLES]
        coords, attrs = {}, {"architecture": self.architecture}
        if self.p is not None:
            coords = {"p": ("run", np.full(self.runs, self.p)), "d": ("run", np.full(self.runs, self.d))}
            attrs["task"] = self.task.name
        default = (
            f"training.Recorder(p={self.p}, task={self.task.name!r})"
            if self.p is not None
            else f"training.Recorder(sites={sorted(self._sites)})"
        )
        device = next(iter(records.values())).device
        return build_run(
            sites=[recording.layout for recording in self._sites.values()],
            steps=np.asarray(self.steps, dtype=np.int64),
            snapshots=np.asarray([s for s, _ in snapshots], dtype=np.int64),
            arrays=arrays,
            device=device_label(device),
            versions=software_versions(),
            command=command if command is not None else default,
            variables={name: Variable(SCALAR, f"{name}, a scalar recorded with training.Recorder") for name in own},
            runs=self.runs,
            coords=coords,
            attrs=attrs,
        )


def _check_tensor(name: str, value: torch.Tensor, kind: str) -> None:
    """Refuse a site tensor that cannot be measured or stored, in one line."""
    if value.is_meta:
        raise InputError(f"site {name!r} is on the meta device and holds no numbers: materialise the model first")
    if not value.is_floating_point():
        raise InputError(f"site {name!r} holds {value.dtype} values: a site must be a floating-point tensor")
    dims = (2, 3) if kind == "weight" else (2,)
    if value.dim() not in dims:
        shape = "(n, m) or (runs, n, m)" if kind == "weight" else "(batch, features)"
        raise InputError(
            f"site {name!r} has shape {tuple(value.shape)}; it needs {shape}: pass a callable returning such a view"
        )
    if value.numel() == 0:
        raise InputError(f"site {name!r} has shape {tuple(value.shape)}, with no elements: nothing to record")


def _grad_of(value: torch.Tensor, name: str) -> torch.Tensor:
    """The ``.grad`` of a leaf tensor, or a one-line error that says how to get one."""
    if not value.is_leaf:
        raise InputError(
            f"site {name!r} is a computed tensor, which keeps no .grad: pass gradient=lambda: ... returning the"
            " gradient of those rows (e.g. weight.grad[:p])"
        )
    if value.grad is None:
        raise InputError(
            f"site {name!r} has no gradient: call record after loss.backward() and before optimizer.zero_grad(),"
            " on a tensor that requires grad"
        )
    return value.grad


def _steps(values: Iterable[int]) -> tuple:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise InputError(f"snapshots must be a sequence of steps, got {values!r}")
    return tuple(values)
