"""Figure 16 (appendix G): observed and ODE-solved trajectories of every frequency of one training run.

The linear and Lasso fits of run 0 of the default ensemble, solved analytically from the observed state at
step 0 over the fitted window, against the observed amplitudes.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

import dynamics
from paper_figures.framework import Context
from paper_figures.helpers import default_config, default_fits, new_figure
from training import TrainConfig

TITLE = "Observed and estimated trajectories of all frequencies of one run"
CLAIM = "the linear ODE's solutions follow the observed signal of all 29 frequencies of a run"


def configs(ctx: Context) -> list[TrainConfig]:
    """The ensemble the figure draws from: the default one."""
    return [default_config(ctx)]


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""
    ds, window, fits = default_fits(ctx)
    compared = {name: dynamics.compare(fit, methods=["analytic"], holdout=0) for name, fit in fits.items()}
    observed = compared["linear"].observed.isel(run=0)
    solved = {name: cmp.sel(solution="analytic") for name, cmp in compared.items()}
    ks = ds.frequency.values
    cols = int(np.ceil(np.sqrt(len(ks))))
    rows = int(np.ceil(len(ks) / cols))
    figure, axes = new_figure(cols, rows, width=2.2, height=1.7, sharex=True)
    for i, ax in enumerate(axes.ravel()):
        if i >= len(ks):
            ax.set_visible(False)
            continue
        ax.plot(observed.step, observed.isel(frequency=i), color="k", lw=2.2, alpha=0.35, label="observed")
        for name, sol in solved.items():
            ax.plot(observed.step, sol.trajectory.isel(run=0, frequency=i), lw=1, ls="--", label=name)
        ax.set_title(f"k = {ks[i]}", fontsize=8)
        ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=6)
    figure.suptitle(f"run 0, steps {window[0]}-{window[1]}: observed amplitude and analytic ODE solutions")

    numbers = {
        "window": window,
        "frequencies": ks,
        "r2_trajectory": {name: sol.r2_trajectory.isel(run=0).values for name, sol in solved.items()},
        "r2_trajectory_median": {name: float(sol.r2_trajectory.isel(run=0).median()) for name, sol in solved.items()},
        "r2_trajectory_all_runs_median": {name: float(sol.r2_trajectory.median()) for name, sol in solved.items()},
        "diverged_runs": {name: int(sol.diverged.sum()) for name, sol in solved.items()},
    }
    return figure, numbers


if __name__ == "__main__":
    from paper_figures.framework import main

    raise SystemExit(main(__file__))
