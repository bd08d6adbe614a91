"""AdamW over an ensemble: one learning rate and weight decay per run, on parameters with a leading run axis.

``torch.optim.AdamW`` holds one learning rate and one decay per parameter group; an ensemble batched into
shared tensors needs one per run, so the update is written out here. It is the same update as torch's
(decoupled decay ``p <- p (1 - lr wd)``, bias-corrected moments, ``eps`` added outside the square root).
"""

from __future__ import annotations

import math

import torch


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
        """Store the per-run rates (shape (R,)) broadcast against each parameter."""
        ref = self.params[0]
        lr = torch.as_tensor(lr, dtype=ref.dtype, device=ref.device)
        wd = torch.as_tensor(weight_decay, dtype=ref.dtype, device=ref.device)
        uniform = bool((lr == lr[0]).all() and (wd == wd[0]).all())
        self._uniform = uniform
        self._weight_decay = float(wd[0])
        # Python scalars when every run shares its rates: cheaper kernels, and the same arithmetic as torch's
        self._lr = [float(lr[0]) if uniform else lr.view(-1, *[1] * (p.dim() - 1)) for p in self.params]
        self._decay = [
            1.0 - float(lr[0] * wd[0]) if uniform else (1 - lr * wd).view(-1, *[1] * (p.dim() - 1)) for p in self.params
        ]

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor | None]) -> None:
        """Apply one update; a parameter whose gradient is ``None`` is left unchanged (no decay either)."""
        self.step_count += 1
        beta1, beta2 = self.betas
        correction1 = 1 - beta1**self.step_count
        root_correction2 = math.sqrt(1 - beta2**self.step_count)
        live = [i for i, g in enumerate(grads) if g is not None]
        params = [self.params[i] for i in live]
        grads = [grads[i] for i in live]
        m = [self.exp_avg[i] for i in live]
        v = [self.exp_avg_sq[i] for i in live]
        if self._uniform and params[0].device.type == "cpu":
            # torch's own fused AdamW kernel (what AdamW(fused=True) runs): one pass per parameter, 30 us a step
            # for the paper's MLP where the eleven foreach operations below take 114 us on one core
            self._step_tensor.fill_(self.step_count)
            torch._fused_adamw_(
                params,
                grads,
                m,
                v,
                [],
                [self._step_tensor] * len(params),
                lr=self._lr[0],
                beta1=beta1,
                beta2=beta2,
                weight_decay=self._weight_decay,
                eps=self.eps,
                amsgrad=False,
                maximize=False,
            )
            return
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
        if self._uniform:
            # one fused kernel per operation over all parameters: the tensors are small, so launch overhead counts
            torch._foreach_mul_(params, self._decay[0])
            torch._foreach_addcdiv_(params, m, denom, value=-self._lr[0] / correction1)
            return
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
