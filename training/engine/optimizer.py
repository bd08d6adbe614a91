"""AdamW over an ensemble: one learning rate and weight decay per run, on parameters with a leading run axis.

``torch.optim.AdamW`` holds one learning rate and one decay per parameter group; an ensemble batched into
shared tensors needs one per run, so the update is written out here. It is the same update as torch's
(decoupled decay ``p <- p (1 - lr wd)``, bias-corrected moments, ``eps`` added outside the square root).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from fittest.errors import InputError


class EnsembleAdamW:
    """AdamW on tensors whose first axis is the run.

    Arguments:
        params: the tensors to update in place, each of shape (R, ...).
        lr: learning rate per run, shape (R,).
        weight_decay: decoupled weight decay per run, shape (R,).
        betas: ``(beta1, beta2)``.
        eps: added to the root of the second moment.
    """

    def __init__(self, params: list[torch.Tensor], *, lr, weight_decay, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params = list(params)
        self.betas = tuple(float(b) for b in betas)
        self.eps = float(eps)
        self.step_count = 0
        self._denom = None  # reused between steps, as fresh buffers cost page faults
        # the step count as the fused kernel reads it: one float tensor shared by every parameter
        self._step_tensor = torch.zeros((), dtype=torch.float32, device=self.params[0].device)
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.set_rates(lr, weight_decay)

    def set_rates(self, lr, weight_decay) -> None:
        """Store the per-run rates, each a sequence of R numbers.

        Raises:
            InputError: ``lr`` or ``weight_decay`` does not give one finite number per run.
        """
        runs = self.params[0].shape[0]
        rates = []
        for name, value in (("lr", lr), ("weight_decay", weight_decay)):
            value = np.asarray(value, dtype=np.float64).reshape(-1)
            if value.shape != (runs,) or not np.isfinite(value).all():
                raise InputError(f"{name} must be {runs} finite number(s), one per run, got {value.tolist()}")
            rates.append(value)
        lr, weight_decay = rates
        # runs that share their rates share one call of the fused kernel, which takes one rate and one decay
        groups: dict[tuple[float, float], list[int]] = {}
        for run, key in enumerate(zip(lr.tolist(), weight_decay.tolist(), strict=True)):
            groups.setdefault(key, []).append(run)
        self._groups = list(groups.items())
        # the other devices' update: one rate and one decay factor per run, broadcast over its parameter
        ref = self.params[0]
        shaped = [(-1, *[1] * (p.dim() - 1)) for p in self.params]
        self._lr = [torch.as_tensor(lr, dtype=ref.dtype, device=ref.device).view(s) for s in shaped]
        decay = torch.as_tensor(1 - lr * weight_decay, dtype=ref.dtype, device=ref.device)
        self._decay = [decay.view(s) for s in shaped]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor | None]) -> None:
        """Apply one update; a parameter whose gradient is ``None`` is left unchanged (no decay either).

        Each run's update is computed from that run's tensors alone, by the same kernel on the same shapes
        whatever the other runs of the batch and their rates, so that a run's result does not depend on the
        runs it is batched with.
        """
        self.step_count += 1
        live = [i for i, g in enumerate(grads) if g is not None]
        params = [self.params[i] for i in live]
        grads = [grads[i] for i in live]
        m = [self.exp_avg[i] for i in live]
        v = [self.exp_avg_sq[i] for i in live]
        if params[0].device.type == "cpu":
            self._fused(params, grads, m, v)
        else:
            self._unfused(live, params, grads, m, v)

    def _fused(self, params, grads, m, v) -> None:
        """torch's own fused AdamW kernel (what ``AdamW(fused=True)`` runs), once per group of runs that share
        their rates: one pass per tensor, 30 us a step for the paper's MLP where the foreach operations of
        :meth:`_unfused` take 114 us on one core.

        The kernel is handed every run's slice as a tensor of its own: on a whole (R, ...) tensor it would cut
        the elements into vector-wide blocks and a scalar tail counted from the first run's start, so a run's
        elements would take the vector or the scalar path (and its rounding) by their position in the batch.
        """
        self._step_tensor.fill_(self.step_count)
        beta1, beta2 = self.betas
        tensors = (params, grads, m, v)
        for (lr, weight_decay), runs in self._groups:
            if params[0].shape[0] == 1:  # a single run: its whole tensors are its slices
                lists = tensors
            else:
                lists = tuple([t[run] for t in group for run in runs] for group in tensors)
            torch._fused_adamw_(
                *lists,
                [],
                [self._step_tensor] * len(lists[0]),
                lr=lr,
                beta1=beta1,
                beta2=beta2,
                weight_decay=weight_decay,
                eps=self.eps,
                amsgrad=False,
                maximize=False,
            )

    def _unfused(self, live, params, grads, m, v) -> None:
        """The update as elementwise foreach operations with per-run rate tensors; each element's arithmetic is
        the same whatever its neighbours', so shared and differing rates take one path."""
        beta1, beta2 = self.betas
        correction1 = 1 - beta1**self.step_count
        root_correction2 = math.sqrt(1 - beta2**self.step_count)
        torch._foreach_lerp_(m, grads, 1 - beta1)
        torch._foreach_mul_(v, beta2)
        torch._foreach_addcmul_(v, grads, grads, value=1 - beta2)
        if self._denom is None:
            self._denom = [torch.empty_like(p) for p in self.params]
        denom = [self._denom[i] for i in live]
        torch._foreach_copy_(denom, v)
        torch._foreach_sqrt_(denom)
        torch._foreach_div_(denom, root_correction2)
        torch._foreach_add_(denom, self.eps)
        for i, p, m_i, d_i in zip(live, params, m, denom, strict=True):
            p.mul_(self._decay[i])
            p.sub_(m_i / d_i * (self._lr[i] / correction1))

    def state_dict(self) -> dict:
        """The moments and step count, for a checkpoint."""
        return {
            "step": self.step_count,
            "exp_avg": [m.clone() for m in self.exp_avg],
            "exp_avg_sq": [v.clone() for v in self.exp_avg_sq],
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.step_count = int(state["step"])
        for mine, theirs in zip(self.exp_avg + self.exp_avg_sq, state["exp_avg"] + state["exp_avg_sq"], strict=True):
            mine.copy_(theirs)
