"""Figure 15 (appendix G): the Lasso coefficient matrix A of three more runs of the default ensemble."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from paper_figures.framework import Context
from paper_figures.helpers import default_config, default_fits, heatmap, new_figure
from training import TrainConfig

TITLE = "Lasso coefficient heatmaps of three more runs"
CLAIM = "the Lasso fits' interaction matrices are extremely sparse, with a few cooperative and competitive pairs"


def configs(ctx: Context) -> list[TrainConfig]:
    """The ensemble the figure draws from: the default one."""
    return [default_config(ctx)]


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""
    ds, window, fits = default_fits(ctx)
    lasso = fits["lasso"]
    runs = [int(r) for r in ds.run.values[1:4]] or [int(ds.run.values[0])]
    ks = ds.frequency.values
    figure, axes = new_figure(len(runs), width=4.2, height=3.8)
    per_run = {}
    for ax, run in zip(axes[0], runs, strict=True):
        A = lasso.A.sel(run=run).values
        off = A[~np.eye(len(ks), dtype=bool)]
        image = heatmap(ax, A, ks, title=f"run {run}: {float(lasso.sparsity.sel(run=run)):.0%} zero")
        per_run[run] = {
            "sparsity": float(lasso.sparsity.sel(run=run)),
            "r2_derivative_mean": float(lasso.r2_derivative.sel(run=run).mean()),
            "nonzero_off_diagonal": int((off != 0).sum()),
            "positive_off_diagonal": int((off > 0).sum()),
            "negative_off_diagonal": int((off < 0).sum()),
            "diagonal_mean": float(np.diag(A).mean()),
        }
    figure.colorbar(image, ax=axes[0, -1], shrink=0.8)
    figure.suptitle(f"Lasso (alpha {ctx.profile.lasso_alpha}) A on steps {window[0]}-{window[1]}")
    return figure, {"window": window, "runs": per_run, "entries_per_matrix": len(ks) ** 2}


if __name__ == "__main__":
    from paper_figures.framework import main

    raise SystemExit(main(__file__))
