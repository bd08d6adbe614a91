"""Figure 8 (section 4.1): the loss of a trained model when only its 1, 2 or 3 strongest circles are kept.

Post-hoc ablation of the default ensemble (trained with ``save_mlp``): at every embedding snapshot each run's
embedding is cut to the n circles with the largest final amplitude and the stored MLP of that step evaluates
the test loss (``training.ablated_metrics``).
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from paper_figures.framework import Context
from paper_figures.helpers import default_config, default_ensemble, new_figure
from training import TrainConfig, ablated_metrics, snapshot_metrics

TITLE = "Test loss with only 1, 2 or 3 circles kept"
CLAIM = (
    "with one circle the model cannot do modular addition, with two the loss stays considerably high, with "
    "three it reaches near-zero loss"
)

KEPT = (1, 2, 3)


def configs(ctx: Context) -> list[TrainConfig]:
    """The ensemble the figure draws from: the default one."""
    return [default_config(ctx)]


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""
    ds = default_ensemble(ctx)
    steps = ds.snapshot.values
    curves = {"all": snapshot_metrics(ds)} | {f"{n} kept": ablated_metrics(ds, n) for n in KEPT}

    figure, axes = new_figure(len(KEPT), width=3.8)
    for ax, n in zip(axes[0], KEPT, strict=True):
        loss = curves[f"{n} kept"].loss.values
        for r in range(loss.shape[0]):
            ax.plot(steps, loss[r], color="tab:red", alpha=0.3, lw=0.8)
        ax.plot(steps, np.median(loss, 0), color="tab:red", lw=2, label=f"{n} circle{'s' * (n > 1)} kept (median)")
        ax.plot(steps, np.median(curves["all"].loss.values, 0), color="k", lw=1, ls="--", label="nothing removed")
        ax.set(xscale="symlog", yscale="log", xlabel="step", ylabel="test loss", title=f"{n} circle(s) kept")
        ax.legend(fontsize=8)

    numbers = {
        "snapshot_steps": steps,
        "final_test_loss_median": {key: float(np.median(c.loss.values[:, -1])) for key, c in curves.items()},
        "final_test_acc_mean": {key: float(c.accuracy.values[:, -1].mean()) for key, c in curves.items()},
        "test_loss_median": {key: np.median(c.loss.values, 0) for key, c in curves.items()},
    }
    return figure, numbers


if __name__ == "__main__":
    from paper_figures.framework import main

    raise SystemExit(main(__file__))
