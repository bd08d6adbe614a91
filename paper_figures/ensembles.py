"""The ensembles the figures train, defined once so that figures that can share one do.

The default ensemble (p = 59, d = 128, weight decay 0.5, one fixed embedding with random MLPs and splits)
serves figures 2, 3, 6, 7, 8, 9, 11, 12, 13, 15 and 16; the sweeps over d serve figures 5 and 9, and the
sweep over p serves figures 5 and 14.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from paper_figures.context import Context

P = 59
D = 128
WEIGHT_DECAY = 0.5


def snapshot_steps(steps: int, count: int = 12) -> tuple[int, ...]:
    """Embedding snapshot steps: 0, then ``count`` roughly log-spaced steps up to ``steps`` (always kept)."""
    spaced = np.unique(np.round(np.geomspace(10, steps, count)).astype(int))
    return tuple(int(s) for s in np.unique([0, *spaced, steps]))


def default_ensemble(ctx: Context, embedding: int = 0) -> xr.Dataset:
    """``profile.runs`` models at p = 59, d = 128 sharing fixed embedding number ``embedding``.

    MLPs and train/test splits differ between runs; the MLP parameters are saved at every snapshot so that
    circles can be ablated afterwards (figure 8).
    """
    return ctx.train(
        p=P,
        d=D,
        runs=ctx.profile.runs,
        seed=embedding,
        embed_seed=embedding,
        save_mlp=True,
        snapshot_steps=snapshot_steps(ctx.profile.steps),
    )


def sweep_ensemble(ctx: Context, *, p: int = P, d: int = D, **fields) -> xr.Dataset:
    """``profile.sweep_runs`` models at ``(p, d)``, each with its own embedding, MLP and split."""
    return ctx.train(p=p, d=d, runs=ctx.profile.sweep_runs, seed=0, **fields)


def ode_window(ds: xr.Dataset, window: tuple[int, int]) -> tuple[int, int]:
    """The profile's ODE window, cut to the steps the dataset has."""
    return int(window[0]), int(min(window[1], int(ds.step.max())))
