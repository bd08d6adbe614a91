"""Figure 14 (appendix F): surviving circles against every modulus p, prime or not (d = 128).

Shares the ensembles of figure 5 (left) where a modulus is in both. At even p the middle frequency p/2 is a line,
not a circle, and is not counted.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from paper_figures.context import Context
from paper_figures.fig05_circles_p_d import circle_counts
from paper_figures.plotting import mean_and_band, new_figure

NAME = "fig14"
TITLE = "Surviving circles against p, prime and non-prime"
CLAIM = "more variation than over primes only, but the number of circles still trends upward with p"


def is_prime(n: int) -> bool:
    return n > 1 and all(n % q for q in range(2, int(n**0.5) + 1))


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""
    profile = ctx.profile
    moduli = np.array(profile.moduli)
    counts = np.array([circle_counts(ctx, p=int(p)) for p in moduli], dtype=float)
    prime = np.array([is_prime(int(p)) for p in moduli])
    mean, low, high = mean_and_band(counts, axis=1)

    figure, axes = new_figure(1, width=6)
    ax = axes[0, 0]
    ax.plot(moduli, mean, "-", color="0.6")
    ax.fill_between(moduli, low, high, alpha=0.2, color="0.6")
    ax.scatter(moduli[prime], mean[prime], color="tab:red", zorder=3, label="prime p")
    ax.scatter(moduli[~prime], mean[~prime], color="tab:blue", zorder=3, label="non-prime p")
    ax.set(xlabel="p", ylabel="surviving circles", title=f"d = {profile.d}, {profile.sweep_runs} runs per p")
    ax.legend()

    flat = counts.ravel()
    xs = np.repeat(moduli, counts.shape[1])
    rho, pvalue = stats.spearmanr(xs, flat) if np.ptp(flat) > 0 else (np.nan, np.nan)
    residual = mean - np.polyval(np.polyfit(moduli, mean, 1), moduli)
    numbers = {
        "p": moduli,
        "prime": prime,
        "circles_mean": mean,
        "circles": counts,
        "spearman_rho": rho,
        "spearman_pvalue": pvalue,
        "slope_per_unit_p": float(np.polyfit(moduli, mean, 1)[0]),
        "residual_std": {
            "prime": float(residual[prime].std()) if prime.any() else None,
            "non_prime": float(residual[~prime].std()) if (~prime).any() else None,
        },
    }
    return figure, numbers


if __name__ == "__main__":
    from paper_figures.script import main

    raise SystemExit(main(NAME))
