"""Figure 5 (section 3.1): the number of surviving circles against p (d = 128) and against d (p = 59).

``sweep_runs`` models per value, each with its own embedding, MLP and split; mean and 95% band of the count,
under the authors' relative rule and the absolute rule of :func:`training.decay_threshold` (the relative rule
undercounts at small p, where survivors are a large share of the few frequencies).
"""

from __future__ import annotations

from matplotlib.figure import Figure

from paper_figures.framework import Context
from paper_figures.helpers import counts_configs, counts_over, draw_counts, new_figure
from training import TrainConfig

TITLE = "Number of surviving circles against p and against d"
CLAIM = "more circles survive as p grows (d = 128) and as d grows from 16 to 128 (p = 59)"


def configs(ctx: Context) -> list[TrainConfig]:
    """The ensembles the figure draws from: the sweeps over p and over d."""
    return [*counts_configs(ctx, "p", ctx.profile.primes), *counts_configs(ctx, "d", ctx.profile.dims)]


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""
    profile = ctx.profile
    by_p = counts_over(ctx, "p", profile.primes)
    by_d = counts_over(ctx, "d", profile.dims)

    figure, axes = new_figure(2)
    draw_counts(axes[0, 0], profile.primes, by_p, key="p")
    axes[0, 0].set_title(f"d = {profile.d}, {profile.sweep_runs} runs per p")
    draw_counts(axes[0, 1], profile.dims, by_d, key="d")
    axes[0, 1].set_title(f"p = {profile.p}, {profile.sweep_runs} runs per d")
    return figure, {"by_p": by_p, "by_d": by_d}


if __name__ == "__main__":
    from paper_figures.framework import main

    raise SystemExit(main(__file__))
