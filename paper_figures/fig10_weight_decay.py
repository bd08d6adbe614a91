"""Figure 10 (appendix A): the number of surviving circles against weight decay.

One ensemble holds every weight decay (``TrainConfig`` takes one value per run): ``sweep_runs`` models per
value at p = ``weight_decay_p``, d = 128. Counted with the authors' relative rule (amplitude above twice the
mean) and with an absolute rule (amplitude above half the mean initial amplitude: the circle did not decay
away), because without weight decay nothing decays and "twice the mean" no longer separates survivors from the rest.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from paper_figures.framework import Context
from paper_figures.helpers import ABSOLUTE_FRACTION, circle_counts, draw_counts, new_figure, trend
from training import TrainConfig

TITLE = "Number of surviving circles against weight decay"
CLAIM = (
    "with no weight decay all frequencies survive (and the model does not grok); as weight decay grows the "
    "number of circles drops"
)


def configs(ctx: Context) -> list[TrainConfig]:
    """The one ensemble the figure draws from: ``sweep_runs`` runs per weight decay, a value per run."""
    profile = ctx.profile
    per_run = np.repeat(np.asarray(profile.weight_decays, dtype=float), profile.sweep_runs)
    return [ctx.config(p=profile.weight_decay_p, d=profile.d, runs=len(per_run), seed=0, weight_decay=tuple(per_run))]


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""
    profile = ctx.profile
    decays = np.asarray(profile.weight_decays, dtype=float)
    (config,) = configs(ctx)
    ds = ctx.load(config)
    by_rule = {rule: {"counts": counts.reshape(len(decays), -1)} for rule, counts in circle_counts(ds).items()}
    relative, absolute = by_rule["relative"]["counts"], by_rule["absolute"]["counts"]
    accuracy = ds.test_acc.isel(step=-1).values.reshape(len(decays), -1)

    figure, axes = new_figure(2)
    K = ds.sizes["frequency"]
    draw_counts(axes[0, 0], decays, by_rule, key="weight decay")
    axes[0, 0].axhline(K, color="0.5", ls=":", lw=1)
    axes[0, 0].set(
        xscale="symlog",
        title=f"p = {profile.weight_decay_p}, d = {profile.d}, {profile.sweep_runs} runs each ({K} frequencies)",
    )
    axes[0, 1].plot(decays, accuracy.mean(1), "o-")
    axes[0, 1].set(xscale="symlog", xlabel="weight decay", ylabel="final test accuracy", ylim=(0, 1.02))

    positive = decays > 0  # without weight decay nothing decays: those runs say nothing about the trend
    ranked = trend(decays[positive], absolute[positive])
    numbers = {
        "p": profile.weight_decay_p,
        "frequencies": K,
        "weight_decay": decays,
        "circles_relative_rule_mean": relative.mean(1),
        "circles_absolute_rule_mean": absolute.mean(1),
        "circles_relative_rule": relative,
        "circles_absolute_rule": absolute,
        "absolute_rule": f"final amplitude > {ABSOLUTE_FRACTION:g} x the ensemble's mean initial amplitude",
        "final_test_acc_mean": accuracy.mean(1),
        "spearman_rho_absolute_vs_weight_decay_above_0": ranked["spearman_rho"],
        "spearman_pvalue": ranked["spearman_pvalue"],
    }
    return figure, numbers


if __name__ == "__main__":
    from paper_figures.framework import main

    raise SystemExit(main(__file__))
