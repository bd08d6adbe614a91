"""Figure 5 (section 3.1): the number of surviving circles against p (d = 128) and against d (p = 59).

``sweep_runs`` models per value, each with its own embedding, MLP and split; mean and 95% band of the count.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from paper_figures.context import Context
from paper_figures.ensembles import sweep_ensemble
from paper_figures.plotting import mean_and_band, new_figure
from training.survival import count_survivors

NAME = "fig05"
TITLE = "Number of surviving circles against p and against d"
CLAIM = "more circles survive as p grows (d = 128) and as d grows from 16 to 128 (p = 59)"


def circle_counts(ctx, **where) -> np.ndarray:
    """Surviving circles per run of the sweep ensemble at ``where`` (p or d)."""

    return count_survivors(sweep_ensemble(ctx, **where)).values


def trend(x, counts) -> dict:
    """Spearman correlation of the count with x over all runs, and the mean count per x."""
    xs = np.repeat(x, [len(c) for c in counts])
    flat = np.concatenate(counts)
    rho, pvalue = stats.spearmanr(xs, flat) if np.ptp(flat) > 0 else (np.nan, np.nan)
    return {"mean": [float(np.mean(c)) for c in counts], "spearman_rho": rho, "spearman_pvalue": pvalue}


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""
    profile = ctx.profile
    by_p = [circle_counts(ctx, p=p) for p in profile.primes]
    by_d = [circle_counts(ctx, d=d) for d in profile.dims]

    figure, axes = new_figure(2)
    for ax, x, counts, label, fixed in (
        (axes[0, 0], profile.primes, by_p, "p", f"d = {profile.d}"),
        (axes[0, 1], profile.dims, by_d, "d", f"p = {profile.p}"),
    ):
        mean, low, high = mean_and_band(np.array(counts, dtype=float), axis=1)
        ax.plot(x, mean, "o-")
        ax.fill_between(x, low, high, alpha=0.25)
        ax.set(xlabel=label, ylabel="surviving circles", title=f"{fixed}, {profile.sweep_runs} runs per {label}")

    numbers = {
        "by_p": {"p": list(profile.primes), "counts": by_p, **trend(profile.primes, by_p)},
        "by_d": {"d": list(profile.dims), "counts": by_d, **trend(profile.dims, by_d)},
    }
    return figure, numbers


if __name__ == "__main__":
    from paper_figures.script import main

    raise SystemExit(main(NAME))
