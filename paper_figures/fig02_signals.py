"""Figure 2: the signal of every frequency over training; a dead and a surviving circle at three steps.

Left: ``||F_k||^2`` of each frequency of one run of the default ensemble against the step, log scale,
survivors in colour. Right: the tokens projected on the plane of a dead frequency (top) and of a surviving
one (bottom) at the first, a middle and the last embedding snapshot.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from paper_figures.framework import Context
from paper_figures.helpers import GREY, dead_and_surviving, default_config, default_ensemble, example_run
from training import TrainConfig, circle_plane, survivors

TITLE = "Signals over training; a dead and a surviving circle at three steps"
CLAIM = (
    "a few frequencies (3-5) keep a large signal while all others decay towards 0; a surviving frequency's "
    "projection becomes a clear circle, a dead one collapses to its centre"
)


def configs(ctx: Context) -> list[TrainConfig]:
    """The ensemble the figure draws from: the default one."""
    return [default_config(ctx)]


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""
    ds = default_ensemble(ctx)
    alive = survivors(ds)
    run = example_run(alive)
    dead_k, live_k = dead_and_surviving(ds, alive, run)
    signal = ds.signal.isel(run=run)
    ks = ds.frequency.values
    survived = alive.isel(run=run).values
    final = signal.isel(step=-1).values
    snaps = ds.snapshot.values
    chosen = [int(snaps[0]), int(snaps[len(snaps) // 2]), int(snaps[-1])]

    figure = Figure(figsize=(13, 5), layout="constrained")
    left, right = figure.subfigures(1, 2, width_ratios=[1.1, 1.4])
    ax = left.subplots()
    steps = np.maximum(ds.step.values, 1)  # step 0 shown at 1 on the log axis
    for i in np.flatnonzero(~survived):
        ax.plot(steps, signal.values[:, i], color=GREY, lw=0.8)
    for i, k in enumerate(ks):
        if survived[i]:
            ax.plot(steps, signal.values[:, i], lw=1.8, label=f"k = {k}")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="step",
        ylabel=r"signal $\|F_k\|^2$",
        title=f"run {run}: {int(survived.sum())} of {len(ks)} circles survive",
    )
    ax.legend(fontsize=8)

    grid = right.subplots(2, 3)
    radius = {}
    for row, (label, k) in enumerate((("dead", dead_k), ("surviving", live_k))):
        points = [circle_plane(ds.embedding.isel(run=run).sel(snapshot=s).values, k) for s in chosen]
        reach = max(np.abs(pts).max() for pts in points) * 1.1
        radius[label] = [float(np.linalg.norm(pts, axis=1).mean()) for pts in points]
        for col, (step, pts) in enumerate(zip(chosen, points, strict=True)):
            ax = grid[row, col]
            ax.scatter(pts[:, 0], pts[:, 1], c=np.arange(len(pts)), cmap="twilight", s=12)
            ax.set(
                xlim=(-reach, reach),
                ylim=(-reach, reach),
                aspect="equal",
                xticks=[],
                yticks=[],
                title=f"{label} k={k}, step {step}",
            )

    numbers = {
        "run": run,
        "survivors": [int(k) for k in ks[survived]],
        "circles_per_run": alive.sum("frequency").values,
        "final_test_acc": ds.test_acc.isel(step=-1).values,
        "dead_frequency": dead_k,
        "surviving_frequency": live_k,
        "snapshot_steps": chosen,
        "mean_radius_in_plane": radius,
        "final_to_initial_signal": {
            "survivors_median": float(np.median(final[survived] / signal.isel(step=0).values[survived]))
            if survived.any()
            else None,
            "dead_median": float(np.median(final[~survived] / signal.isel(step=0).values[~survived])),
        },
    }
    return figure, numbers


if __name__ == "__main__":
    from paper_figures.framework import main

    raise SystemExit(main(__file__))
