"""Sites: where a model is measured and in which basis, kept apart from the model's own computation.

A :class:`Site` names a tensor of a model (a weight, or any callable returning a tensor) or an activation of an
``nn.Module`` (read through a forward hook), the :class:`~training.bases.Basis` that measures it and the axis
the basis acts on. :class:`training.Recorder` records any number of named sites; :func:`training.train`
records its built-in sites (the embedding, the transformer's unembedding, the MLP's neurons) through the same
:class:`OnDevice` power and the same :class:`~training.rundata.SiteLayout`, so a site's variables mean the
same whichever records them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from fittest.errors import InputError
from training.bases import Basis
from training.rundata import SiteLayout


class OnDevice:
    """A basis as tensors on one device and dtype, converted once, and the power it measures there."""

    def __init__(self, basis: Basis, like: torch.Tensor) -> None:
        self.basis = basis
        self.rows = torch.as_tensor(basis.rows, dtype=like.dtype, device=like.device)
        self.grouping = torch.as_tensor(basis.grouping(), dtype=like.dtype, device=like.device)

    def power(self, x: torch.Tensor, *, axis: int = -2, per_unit: bool = False) -> torch.Tensor:
        """Each component's power in ``x`` along ``axis`` (:meth:`training.bases.Basis.power`)."""
        return self.basis.power(x, axis=axis, per_unit=per_unit, rows=self.rows, grouping=self.grouping)


def _reader(source, what: str) -> Callable[[], torch.Tensor]:
    """A function returning the current tensor of a tensor, a module's ``weight`` or a callable."""
    if isinstance(source, torch.Tensor):
        return lambda: source
    if isinstance(source, nn.Module):
        if not isinstance(getattr(source, "weight", None), torch.Tensor):
            raise InputError(
                f"{what}: the module {type(source).__name__} has no weight tensor: pass the tensor or a callable"
                " returning it"
            )
        return lambda: source.weight
    if callable(source):
        return source
    raise InputError(
        f"{what} must be a tensor, a module with a weight or a callable returning a tensor; got {type(source).__name__}"
    )


class Site:
    """Where a :class:`training.Recorder` measures a model, in which basis, and along which axis.

    Make one with :meth:`weight` or :meth:`activation`.
    """

    def __init__(
        self,
        *,
        kind: str,
        basis: Basis,
        axis: int,
        per_unit: bool,
        read: Callable[[], torch.Tensor] | None = None,
        gradient: Callable[[], torch.Tensor] | None = None,
        module: nn.Module | None = None,
        inputs: torch.Tensor | None = None,
        leaf: bool = False,
    ) -> None:
        if not isinstance(basis, Basis):
            raise InputError(
                f"a site needs a training.bases Basis (fourier, irreps, coordinates, directions, pca), got"
                f" {type(basis).__name__}"
            )
        if axis not in (0, 1, -1, -2):
            raise InputError(f"axis must be 0 or 1 (or -2, -1) of the site's 2-D tensor, got {axis!r}")
        self.kind = kind
        self.basis = basis
        self.axis = axis % 2
        self.per_unit = bool(per_unit)
        self.read = read
        self.gradient = gradient
        self.module = module
        self.inputs = inputs
        self.leaf = leaf  # the gradient is the read tensor's own .grad

    @classmethod
    def weight(
        cls,
        source: torch.Tensor | nn.Module | Callable[[], torch.Tensor],
        basis: Basis,
        *,
        axis: int = 0,
        per_unit: bool = False,
        gradient: bool | Callable[[], torch.Tensor] | None = None,
    ) -> Site:
        """A weight, or any tensor a callable returns, measured at every record.

        Arguments:
            source: a tensor (a parameter) of shape ``(n, m)`` or ``(runs, n, m)`` for an ensemble batched on a
                leading axis; a module with a ``weight`` (``nn.Embedding``, ``nn.Linear``); or a callable
                returning such a tensor (``lambda: model.embed.weight[:p]``).
            basis: measures the axis ``axis``; its size must be that axis's length.
            axis: the axis of ``(n, m)`` the basis acts on: 0 for an embedding's token rows, 1 for a linear
                layer's input columns.
            per_unit: measure each index of the other axis on its own (each neuron's weights on the tokens),
                giving a ``(unit, component)`` grid; by default their powers are summed.
            gradient: True: the source's ``.grad`` (a parameter's); a callable returning the gradient, of the
                same shape; False: no ``grad_signal``. By default True for a tensor or a module, False for a
                callable (a computed tensor keeps no ``.grad``).

        Raises:
            InputError: the source, basis, axis or gradient is none of the kinds above.
        """
        read = _reader(source, "a weight site's source")
        if gradient is None:
            gradient = isinstance(source, nn.Module | torch.Tensor)
        if gradient is not True and gradient is not False and not callable(gradient):
            raise InputError(f"gradient must be True, False or a callable returning the gradient, got {gradient!r}")
        return cls(
            kind="weight",
            basis=basis,
            axis=axis,
            per_unit=per_unit,
            read=read,
            gradient=gradient if callable(gradient) else None,
            leaf=gradient is True,
        )

    @classmethod
    def activation(
        cls,
        module: nn.Module,
        basis: Basis,
        *,
        inputs: torch.Tensor | None = None,
        axis: int = 0,
        per_unit: bool = False,
        gradient: bool = False,
    ) -> Site:
        """The output of ``module``, read through a forward hook.

        Arguments:
            module: any ``nn.Module`` of the model whose output is ``(batch, features)``.
            basis: measures the axis ``axis`` of that output.
            inputs: a fixed probe batch: at each record the Recorder runs ``model(inputs)`` (without gradients)
                and measures the module's output on it, so that records compare like with like. Without it, the
                output of the model's last forward pass (the training batch) is measured.
            axis: 0: the basis acts on the batch (one row per probe input: the tokens, the pairs, the group's
                elements); 1: on the features (directions, principal components, neurons).
            per_unit: measure each index of the other axis on its own (each neuron over the probe inputs).
            gradient: also measure the loss gradient at the output, through a hook in the caller's own backward
                pass; needs ``inputs=None`` (a probe batch has no loss).

        Raises:
            InputError: ``module`` is not an ``nn.Module``, ``inputs`` is not a tensor, or a gradient is asked
                for on a probe batch.
        """
        if not isinstance(module, nn.Module):
            raise InputError(f"an activation site needs an nn.Module, got {type(module).__name__}")
        if inputs is not None and not isinstance(inputs, torch.Tensor):
            raise InputError(f"inputs must be a tensor (the probe batch), got {type(inputs).__name__}")
        if gradient and inputs is not None:
            raise InputError(
                "an activation's gradient comes from the caller's backward pass, which a probe batch has not: give"
                " gradient=True without inputs, or inputs without gradient"
            )
        return cls(
            kind="activation",
            basis=basis,
            axis=axis,
            per_unit=per_unit,
            module=module,
            inputs=inputs,
            gradient=None,
            leaf=bool(gradient),
        )

    def layout(self, name: str, *, units: int, gradient: bool) -> SiteLayout:
        """The site's variables in a run dataset, once its unit count is known."""
        unit = (f"{name}_unit" if name != "neuron" else "unit1") if self.per_unit else None
        about = f"the {self.kind} at site {name!r} along its axis {self.axis}"
        return SiteLayout(
            name, self.basis, unit=unit, units=units if self.per_unit else None, gradient=gradient, about=about
        )
