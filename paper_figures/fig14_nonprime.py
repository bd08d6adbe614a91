"""Figure 14 (appendix F): surviving circles against every modulus p, prime or not (d = 128).

Shares the ensembles of figure 5 (left) where a modulus is in both. At even p the middle frequency p/2 is a line,
not a circle, and is not counted.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from paper_figures.framework import Context
from paper_figures.helpers import COUNTING_RULES, counts_configs, counts_over, draw_counts, new_figure
from training import TrainConfig, is_prime

TITLE = "Surviving circles against p, prime and non-prime"
CLAIM = "more variation than over primes only, but the number of circles still trends upward with p"


def configs(ctx: Context) -> list[TrainConfig]:
    """The ensembles the figure draws from: the sweep over every modulus, prime or not."""
    return counts_configs(ctx, "p", ctx.profile.moduli)


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""
    profile = ctx.profile
    moduli = np.array(profile.moduli)
    result = counts_over(ctx, "p", moduli)
    prime = np.array([is_prime(int(p)) for p in moduli])

    figure, axes = new_figure(1, width=6)
    ax = axes[0, 0]
    draw_counts(ax, moduli, result, key="p")
    for rule in COUNTING_RULES:
        mean = np.asarray(result[rule]["mean"])
        ax.scatter(moduli[prime], mean[prime], color="tab:red", zorder=3, s=18)
    ax.set_title(f"d = {profile.d}, {profile.sweep_runs} runs per p (red: prime p)")

    numbers = {"p": moduli, "prime": prime}
    for rule in COUNTING_RULES:
        mean = np.asarray(result[rule]["mean"])
        fit = np.polyfit(moduli, mean, 1)
        residual = mean - np.polyval(fit, moduli)
        numbers[rule] = {
            **result[rule],
            "slope_per_unit_p": float(fit[0]),
            "residual_std": {
                "prime": float(residual[prime].std()) if prime.any() else None,
                "non_prime": float(residual[~prime].std()) if (~prime).any() else None,
            },
        }
    return figure, numbers


if __name__ == "__main__":
    from paper_figures.framework import main

    raise SystemExit(main(__file__))
