"""Figure 7 (section 3.2.2): the initial "gradient" of each circle and its survival.

The paper's gradient is the relative growth of the amplitude over one early step, (a(t) - a(t-1)) / a(0)
(``training.growth``). Pooled over the default ensembles of ``embeddings`` embeddings: (left) its
distribution at step 4 by survival; (middle) survival rate against it, in quantile bins, at steps 1 to 4;
(right) initial signal against growth at step 4 with the linear SVM's boundary. The SVM's cross-validated
accuracy is reported beside the all-dead baseline and the balanced accuracy, since with ~4 survivors of 29
guessing "dead" for everything already scores ~85%.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from paper_figures.framework import Context
from paper_figures.helpers import DEAD, SURVIVED, default_config, default_ensemble, error_bars, new_figure
from training import TrainConfig, correlation, growth, initial_amplitude, separability, survivors, wilson_interval

TITLE = "Initial gradient: distribution, survival rate, signal-vs-gradient scatter with a linear SVM"
CLAIM = (
    "circles with a larger initial gradient survive more often; high initial signal and gradient together "
    "predict survival; a linear SVM separates survived from dead with 83.8% accuracy"
)

STEPS = (1, 2, 3, 4)
BINS = 5


def pooled(ctx):
    """Growth at steps 1-4, initial signal and survival of every (run, frequency) of every fixed embedding."""
    grow, signal, alive = [], [], []
    for embedding in range(ctx.profile.embeddings):
        ds = default_ensemble(ctx, embedding)
        grow.append(growth(ds, at=list(STEPS)).transpose("run", "frequency", "at").values.reshape(-1, len(STEPS)))
        signal.append((initial_amplitude(ds) ** 2).values.ravel())
        alive.append(survivors(ds).values.ravel())
    return np.concatenate(grow), np.concatenate(signal), np.concatenate(alive)


def configs(ctx: Context) -> list[TrainConfig]:
    """The ensembles the figure draws from: the default one of every fixed embedding."""
    return [default_config(ctx, embedding) for embedding in range(ctx.profile.embeddings)]


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""
    import xarray as xr

    grow, signal, alive = pooled(ctx)
    g4 = grow[:, -1]
    sample = np.arange(len(alive))
    features = xr.Dataset({"initial_signal": ("sample", signal), "growth": ("sample", g4)}, coords={"sample": sample})
    svm = separability(features, xr.DataArray(alive, dims="sample", coords={"sample": sample}), cv=5)
    link = correlation(
        xr.DataArray(g4, dims="sample", name="growth"),
        xr.DataArray(alive.astype(float), dims="sample", name="survived"),
    )

    figure, axes = new_figure(3, width=4.2)
    ax = axes[0, 0]
    bins = np.linspace(g4.min(), g4.max(), 30)
    ax.hist(g4[~alive], bins=bins, color=DEAD, alpha=0.7, label="dead")
    ax.hist(g4[alive], bins=bins, color=SURVIVED, alpha=0.8, label="survived")
    ax.set(xlabel="growth at step 4, (a(4) - a(3)) / a(0)", ylabel="(run, frequency) pairs")
    ax.legend()
    ax = axes[0, 1]
    by_step = {}
    for i, step in enumerate(STEPS):
        edges = np.quantile(grow[:, i], np.linspace(0, 1, BINS + 1))
        which = np.clip(np.searchsorted(edges, grow[:, i], side="right") - 1, 0, BINS - 1)
        survived = np.array([alive[which == b].sum() for b in range(BINS)])
        trials = np.array([(which == b).sum() for b in range(BINS)])
        centres = np.array([grow[which == b, i].mean() for b in range(BINS)])
        low, high = wilson_interval(survived, trials)
        rate = survived / trials
        ax.errorbar(centres, rate, yerr=error_bars(rate, low, high), fmt="o-", capsize=2, label=f"step {step}")
        by_step[f"step_{step}"] = {"bin_mean_growth": centres, "rate": rate, "lower": low, "upper": high}
    ax.set(xlabel="growth (quantile bins)", ylabel="survival rate", ylim=(-0.02, 1.02))
    ax.legend(fontsize=8)
    ax = axes[0, 2]
    ax.scatter(signal[~alive], g4[~alive], s=6, color=DEAD, alpha=0.5, label="dead")
    ax.scatter(signal[alive], g4[alive], s=10, color=SURVIVED, alpha=0.9, label="survived")
    # the SVM works on standardised features: map its line w . (x - m) / s + c = 0 back to the data's units
    w, c = svm.coef.values, float(svm.intercept)
    m = np.array([signal.mean(), g4.mean()])
    s = np.array([signal.std(), g4.std()])
    xs = np.linspace(signal.min(), signal.max(), 50)
    if w[1] != 0:
        ax.plot(xs, m[1] + s[1] * (-c - w[0] * (xs - m[0]) / s[0]) / w[1], "k--", lw=1, label="linear SVM")
    ax.set(
        xlabel=r"initial signal $\|F_k\|^2$",
        ylabel="growth at step 4",
        ylim=(g4.min(), g4.max()),
        title=f"SVM accuracy {float(svm.accuracy_mean):.1%} (all-dead {float(svm.baseline_accuracy_mean):.1%})",
    )
    ax.legend(fontsize=8)

    numbers = {
        "pairs": int(alive.size),
        "survived": int(alive.sum()),
        "growth_at_4_mean": {"survived": float(g4[alive].mean()), "dead": float(g4[~alive].mean())},
        "pearson_growth_vs_survived": float(link.pearson_r),
        "pearson_pvalue": float(link.pearson_p),
        "survival_rate_by_growth_bin": by_step,
        "svm": {
            "accuracy": float(svm.accuracy_mean),
            "balanced_accuracy": float(svm.balanced_accuracy_mean),
            "all_dead_baseline_accuracy": float(svm.baseline_accuracy_mean),
            "coef_standardised": {"initial_signal": float(w[0]), "growth": float(w[1])},
        },
    }
    return figure, numbers


if __name__ == "__main__":
    from paper_figures.framework import main

    raise SystemExit(main(__file__))
