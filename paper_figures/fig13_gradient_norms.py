"""Figure 13 (appendix D): the loss gradient on the embedding, in the Fourier basis, over training.

``grad_signal`` = ||(dL/dE)_k||^2 of one run of the default ensemble, survivors in colour, dead frequencies in
grey; the right panel zooms on steps 100 to 1000.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from paper_figures.framework import Context
from paper_figures.helpers import GREY, default_config, default_ensemble, example_run, new_figure
from training import TrainConfig, survivors

TITLE = "Fourier-basis gradient norms over training"
CLAIM = "the Fourier gradient spikes around step 100 and is negligible after step 1000"


def configs(ctx: Context) -> list[TrainConfig]:
    """The ensemble the figure draws from: the default one."""
    return [default_config(ctx)]


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""
    ds = default_ensemble(ctx)
    alive = survivors(ds)
    run = example_run(alive)
    norm = np.sqrt(ds.grad_signal.isel(run=run))  # ||(dL/dE)_k||
    survived = alive.isel(run=run).values
    steps = ds.step.values

    figure, axes = new_figure(2)
    for ax, (lo, hi) in zip(axes[0], ((0, steps[-1]), (100, 1000)), strict=True):
        window = (steps >= lo) & (steps <= hi)
        for i in np.argsort(survived):  # dead first, survivors drawn on top
            ax.plot(
                steps[window],
                norm.values[window, i],
                color=None if survived[i] else GREY,
                lw=1.5 if survived[i] else 0.7,
                label=f"k = {ds.frequency.values[i]}" if survived[i] else None,
            )
        ax.set(xlabel="step", ylabel=r"$\|(\partial L/\partial E)_k\|$", title=f"run {run}, steps {lo}-{hi}")
    axes[0, 0].set_xscale("symlog", linthresh=10)
    axes[0, 0].legend(fontsize=8)

    total = norm.values.sum(-1)  # summed over frequencies, per step
    peak = int(steps[np.argmax(total)])
    late = steps >= min(1000, steps[-1])
    numbers = {
        "run": run,
        "survivors": ds.frequency.values[survived],
        "peak_step": peak,
        "peak_total_norm": float(total.max()),
        "total_norm_at_step_1000_over_peak": float(total[late][0] / total.max()),
        "max_total_norm_after_1000_over_peak": float(total[late].max() / total.max()),
        "survivor_to_dead_mean_norm_ratio_first_1000": float(
            norm.values[steps <= 1000][:, survived].mean() / norm.values[steps <= 1000][:, ~survived].mean()
        )
        if survived.any() and (~survived).any()
        else None,
    }
    return figure, numbers


if __name__ == "__main__":
    from paper_figures.framework import main

    raise SystemExit(main(__file__))
