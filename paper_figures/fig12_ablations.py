"""Figure 12 (appendix C): train from an initial embedding ablated to one or two circles (runs A-D).

The circles an embedding "chooses" are read from its default ensemble: k1 and k2, the two frequencies with
the largest mean final amplitude over its runs. Then the same embedding, MLPs and splits are trained with only
k1 kept (A), only k1 and k2 (B), one random frequency (C), two random frequencies (D); every other frequency is
zeroed at initialisation. Test loss over training, and the circles each run ends with.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from paper_figures.framework import Context
from paper_figures.helpers import (
    default_config,
    default_ensemble,
    intervention_config,
    intervention_ensemble,
    mean_and_band,
    new_figure,
)
from training import survivors

TITLE = "Ablated initial embeddings: keep k1 (A), k1 and k2 (B), one (C) or two (D) random circles"
CLAIM = (
    "keeping only the strongest circle (A) the model revives others and ends with ~4 circles, with loss "
    "spikes; keeping the two strongest (B) reaches loss ~1e-7 with those two only, faster than the original; "
    "with one or two random circles (C, D) at least three circles survive after training"
)


def conditions(base: xr.Dataset) -> tuple[dict[str, tuple[int, ...] | None], dict]:
    """The kept frequencies of each run (None: nothing ablated) and k1, k2 of the default ensemble ``base``."""
    ks = base.frequency.values
    order = ks[np.argsort(base.amplitude.isel(step=-1).mean("run").values)[::-1]]
    k1, k2 = int(order[0]), int(order[1])
    rng = np.random.default_rng(12)
    others = [int(k) for k in ks if k not in (k1, k2)]
    r1, r2, r3 = (int(k) for k in rng.choice(others, size=3, replace=False))
    keep = {"all": None, "A: k1": (k1,), "B: k1, k2": (k1, k2), "C: random 1": (r1,), "D: random 2": (r2, r3)}
    return keep, {"k1": k1, "k2": k2}


def configs(ctx: Context):
    """The ensembles the figure draws from, in two stages: the kept circles are read from the default ensemble."""
    yield [default_config(ctx)]
    keep, _ = conditions(default_ensemble(ctx))
    yield [intervention_config(ctx, init_keep=kept) for kept in keep.values() if kept is not None]


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""
    profile = ctx.profile
    base = default_ensemble(ctx)
    keep, chosen = conditions(base)
    results = {}
    for label, kept in keep.items():
        if kept is None:  # the untouched control: the default ensemble's first runs, same seeds
            ds = base.isel(run=slice(profile.intervention_runs))
        else:
            ds = intervention_ensemble(ctx, init_keep=kept)
        alive = survivors(ds)
        results[label] = {
            "kept": kept,
            "steps": ds.step.values,
            "test_loss": ds.test_loss.values,
            "final_test_loss_median": float(np.median(ds.test_loss.isel(step=-1).values)),
            "final_test_acc_mean": float(ds.test_acc.isel(step=-1).mean()),
            "circles_per_run": alive.sum("frequency").values,
            "kept_circles_surviving_rate": float(alive.sel(frequency=list(kept)).mean()) if kept else None,
        }

    figure, axes = new_figure(2)
    panels = (("all", "A: k1", "B: k1, k2"), ("all", "C: random 1", "D: random 2"))
    for ax, labels in zip(axes[0], panels, strict=True):
        for label in labels:
            res = results[label]
            mean, low, high = mean_and_band(np.log10(res["test_loss"]), axis=0)
            kept = "" if res["kept"] is None else f" {list(res['kept'])}"
            ax.plot(res["steps"], 10**mean, label=f"{label}{kept}")
            ax.fill_between(res["steps"], 10**low, 10**high, alpha=0.2)
        ax.set(yscale="log", xlabel="step", ylabel="test loss (geometric mean over runs)")
        ax.legend(fontsize=8)
    axes[0, 0].set_title(f"strongest circles: k1 = {chosen['k1']}, k2 = {chosen['k2']}")
    axes[0, 1].set_title("random circles")

    numbers = {
        **chosen,
        "runs": profile.intervention_runs,
        "conditions": {
            label: {key: value for key, value in res.items() if key not in ("steps", "test_loss")}
            for label, res in results.items()
        },
    }
    return figure, numbers


if __name__ == "__main__":
    from paper_figures.framework import main

    raise SystemExit(main(__file__))
