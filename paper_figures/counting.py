"""Counting and drawing surviving circles under two rules, for the figures that sweep p, d or weight decay.

The authors' relative rule (amplitude above twice the mean over frequencies) undercounts whenever survivors are
a large share of all frequencies: with 4 equal survivors among 8 frequencies and the rest near zero, twice the
mean lies above every survivor. That happens at small p (few frequencies) and without weight decay (nothing
decays). The absolute rule counts a circle as surviving when its final amplitude is above half the mean initial
amplitude of its ensemble: a dead circle ends near a tenth of its initial amplitude and a survivor near all of
it (figure 2), so half separates them at every p, d and weight decay tried.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import stats

from paper_figures.context import Context
from paper_figures.ensembles import sweep_ensemble
from paper_figures.plotting import mean_and_band
from training import count_survivors

#: A survivor's final amplitude must exceed this share of the ensemble's mean initial amplitude (absolute rule).
ABSOLUTE_FRACTION = 0.5

RULES = {"relative": "> 2x mean amplitude (authors' rule)", "absolute": f"> {ABSOLUTE_FRACTION:g}x initial mean"}


def circle_counts(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """Surviving circles per run under each rule of :data:`RULES`, ``{rule: counts (run,)}``."""
    threshold = ABSOLUTE_FRACTION * float(ds.amplitude.isel(step=0).mean())
    return {
        "relative": count_survivors(ds).values,
        "absolute": count_survivors(ds, rule="absolute", threshold=threshold).values,
    }


def trend(x, counts) -> dict:
    """The mean count per x and the Spearman correlation of the count with x over all runs.

    Arguments:
        x: the swept values.
        counts: one array of per-run counts per value of x.
    """
    xs = np.repeat(np.asarray(x, dtype=float), [len(c) for c in counts])
    flat = np.concatenate(counts).astype(float)
    # two points always rank-correlate perfectly, and a constant side has no ranks to correlate
    ranked = flat.size > 2 and np.ptp(flat) > 0 and np.ptp(xs) > 0
    rho, pvalue = stats.spearmanr(xs, flat) if ranked else (np.nan, np.nan)
    return {"mean": [float(np.mean(c)) for c in counts], "spearman_rho": rho, "spearman_pvalue": pvalue}


def counts_over(ctx: Context, key: str, values) -> dict:
    """Circle counts of the sweep ensembles at each value of ``key`` (``"p"`` or ``"d"``), under both rules."""
    per_value = [circle_counts(sweep_ensemble(ctx, **{key: int(v)})) for v in values]
    result = {key: list(values)}
    for rule in RULES:
        counts = [c[rule] for c in per_value]
        result[rule] = {"counts": counts, **trend(values, counts)}
    return result


def draw_counts(ax, x, result: dict, *, key: str) -> None:
    """Mean count and 95% band against ``x``, one line per rule, from ``{rule: {"counts": per-x counts}}``."""
    for rule, style in zip(RULES, ("o-", "s--"), strict=True):
        mean, low, high = mean_and_band(np.array(result[rule]["counts"], dtype=float), axis=1)
        ax.plot(x, mean, style, label=RULES[rule])
        ax.fill_between(x, low, high, alpha=0.2)
    ax.set(xlabel=key, ylabel="surviving circles")
    ax.legend(fontsize=8)
