"""Counting surviving circles under two rules, for the figures that compare counts across p, d or weight decay.

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
    rho, pvalue = stats.spearmanr(xs, flat) if np.ptp(flat) > 0 and np.ptp(xs) > 0 else (np.nan, np.nan)
    return {"mean": [float(np.mean(c)) for c in counts], "spearman_rho": rho, "spearman_pvalue": pvalue}
