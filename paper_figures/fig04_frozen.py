"""Figure 4 (section 3.1): freeze the initial embedding, train only the MLP; test loss against d at several steps.

For each d in ``frozen_dims``, ``sweep_runs`` models at p = 59 with frozen random embeddings. The test loss is
read at four recorded steps; the bottom panel zooms on losses below 1.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from paper_figures.framework import Context
from paper_figures.helpers import mean_and_band, new_figure, sweep_config
from training import TrainConfig

TITLE = "Frozen embedding: test loss against d at several steps"
CLAIM = "a phase transition around d = p = 59: test loss is sharply better for d > p than for d < p"


def configs(ctx: Context) -> list[TrainConfig]:
    """The ensembles the figure draws from: one with a frozen embedding per d."""
    profile = ctx.profile
    return [sweep_config(ctx, d=d, freeze_embedding=True, steps=profile.frozen_steps) for d in profile.frozen_dims]


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""
    profile = ctx.profile
    P = profile.p
    dims = list(profile.frozen_dims)
    datasets = [ctx.load(config) for config in configs(ctx)]
    recorded = datasets[0].step.values
    wanted = np.unique(np.round(np.geomspace(max(recorded[1], profile.frozen_steps / 30), recorded[-1], 4)))
    steps = [int(recorded[np.argmin(np.abs(recorded - w))]) for w in wanted]
    loss = np.array([[ds.test_loss.sel(step=s).values for ds in datasets] for s in steps])  # (step, d, run)

    figure, axes = new_figure(1, 2, width=6, height=3.2)
    for i, step in enumerate(steps):
        mean, low, high = mean_and_band(loss[i], axis=-1)
        for ax in axes[:, 0]:
            ax.plot(dims, mean, "o-", label=f"step {step}")
            ax.fill_between(dims, low, high, alpha=0.2)
    for ax in axes[:, 0]:
        ax.axvline(P, color="0.4", ls=":", lw=1)
        ax.set(xscale="log", xlabel="embedding dimension d (frozen)", ylabel="test loss")
    axes[0, 0].set_title(f"p = {P}, embedding frozen at initialisation, {profile.sweep_runs} runs per d")
    axes[0, 0].legend()
    axes[1, 0].set_ylim(0, 1.0)

    final = loss[-1].mean(-1)
    below = [f for d, f in zip(dims, final, strict=True) if d < P]
    above = [f for d, f in zip(dims, final, strict=True) if d > P]
    numbers = {
        "d": dims,
        "steps": steps,
        "test_loss_mean": loss.mean(-1),
        "test_loss_per_run": loss,
        "final_test_loss_mean_below_p": float(np.mean(below)) if below else None,
        "final_test_loss_mean_above_p": float(np.mean(above)) if above else None,
        "best_d_at_last_step": int(dims[int(np.argmin(final))]),
    }
    return figure, numbers


if __name__ == "__main__":
    from paper_figures.framework import main

    raise SystemExit(main(__file__))
