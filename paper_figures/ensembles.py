"""The ensembles the figures train, defined once so that figures that can share one do.

The default ensemble (the profile's p and d, 59 and 128 in the paper, weight decay 0.5, one fixed embedding
with random MLPs and splits) serves figures 2, 3, 6, 7, 8, 9, 11, 12, 13, 15 and 16; the sweeps over d serve
figures 5 and 9, and the sweep over p serves figures 5 and 14.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from paper_figures.context import Context


def snapshot_steps(steps: int, count: int = 12) -> tuple[int, ...]:
    """Embedding snapshot steps: 0, then ``count`` roughly log-spaced steps up to ``steps`` (always kept)."""
    spaced = np.unique(np.round(np.geomspace(10, steps, count)).astype(int))
    return tuple(int(s) for s in np.unique([0, *spaced, steps]))


def default_ensemble(ctx: Context, embedding: int = 0) -> xr.Dataset:
    """``profile.runs`` models at the profile's p and d sharing fixed embedding number ``embedding``.

    MLPs and train/test splits differ between runs; the MLP parameters are saved at every snapshot so that
    circles can be ablated afterwards (figure 8).
    """
    return ctx.train(
        p=ctx.profile.p,
        d=ctx.profile.d,
        runs=ctx.profile.runs,
        seed=embedding,
        embed_seed=embedding,
        save_mlp=True,
        snapshot_steps=snapshot_steps(ctx.profile.steps),
    )


def sweep_ensemble(ctx: Context, *, p: int | None = None, d: int | None = None, **fields) -> xr.Dataset:
    """``profile.sweep_runs`` models at ``(p, d)`` (the profile's by default), each with its own embedding."""
    p = ctx.profile.p if p is None else p
    d = ctx.profile.d if d is None else d
    return ctx.train(p=p, d=d, runs=ctx.profile.sweep_runs, seed=0, **fields)


def intervention_ensemble(ctx: Context, embedding: int = 0, **fields) -> xr.Dataset:
    """``profile.intervention_runs`` models with the default ensemble's embedding and run seeds, intervened on.

    Run r has the MLP and split of run r of :func:`default_ensemble` (seeds derive from the base seed and r),
    so the first runs of the default ensemble are this ensemble's untouched control.
    """
    profile = ctx.profile
    return ctx.train(
        p=profile.p, d=profile.d, runs=profile.intervention_runs, seed=embedding, embed_seed=embedding, **fields
    )


def ode_window(ds: xr.Dataset, window: tuple[int, int]) -> tuple[int, int]:
    """The profile's ODE window, cut to the steps the dataset has."""
    return int(window[0]), int(min(window[1], int(ds.step.max())))
