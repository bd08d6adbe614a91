"""Figure 11 (appendix B): circularity of random embeddings against d; initial circularity and survival.

Left: the mean and maximum circularity (eq. 5) over frequencies of ``circularity_samples`` random N(0, 1)
embeddings at p = 59, for each d; no training. Right: the initial circularity of every (run, frequency) of the
default ensembles, split by whether the circle survived.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from paper_figures.framework import Context
from paper_figures.helpers import DEAD, SURVIVED, default_config, default_ensemble, new_figure
from training import TrainConfig, circularity, correlation, survivors

TITLE = "Circularity: random embeddings against d, and initial circularity of survivors"
CLAIM = (
    "circularity of a random embedding grows with d; whether larger initial circularity means survival is inconclusive"
)


def random_circularity(dims, samples: int, *, p: int, seed: int = 0) -> dict:
    """Mean and maximum circularity over frequencies, averaged over ``samples`` N(0, 1) embeddings per d."""

    rng = np.random.default_rng(seed)
    mean, top = [], []
    for d in dims:
        c = circularity(rng.normal(size=(samples, p, d)))  # (samples, K)
        mean.append(float(np.nanmean(c)))
        top.append(float(np.nanmean(np.nanmax(c, axis=-1))))
    return {"d": list(dims), "mean": mean, "max": top}


def configs(ctx: Context) -> list[TrainConfig]:
    """The ensembles the figure draws from: the default one of every fixed embedding."""
    return [default_config(ctx, embedding) for embedding in range(ctx.profile.embeddings)]


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""

    profile = ctx.profile
    left = random_circularity(profile.circularity_dims, profile.circularity_samples, p=profile.p)

    values, alive = [], []
    for embedding in range(profile.embeddings):
        ds = default_ensemble(ctx, embedding)
        initial = ds.embedding.isel(snapshot=0).values  # (run, token, dim)
        values.append(circularity(initial))
        alive.append(survivors(ds).values)
    values, alive = np.concatenate(values).ravel(), np.concatenate(alive).ravel()
    finite = np.isfinite(values)
    values, alive = values[finite], alive[finite]
    r, pvalue = np.nan, np.nan
    if alive.size > 2 and 0 < alive.sum() < alive.size:  # all dead or all alive: nothing to correlate
        # the point-biserial r is Pearson's r with the binary side as 0/1
        link = correlation(
            xr.DataArray(alive.astype(float), dims="pair", name="survived"),
            xr.DataArray(values, dims="pair", name="initial_circularity"),
        )
        r, pvalue = float(link.pearson_r), float(link.pearson_p)

    figure, axes = new_figure(2)
    ax = axes[0, 0]
    ax.plot(left["d"], left["mean"], "o-", label="mean over frequencies")
    ax.plot(left["d"], left["max"], "s-", label="max over frequencies")
    ax.axvline(profile.p, color="0.5", ls=":", lw=1, label=f"d = p = {profile.p}")
    ax.set(
        xscale="log",
        xlabel="embedding dimension d",
        ylabel="circularity at initialisation",
        title=f"random N(0,1) embeddings, p={profile.p}",
    )
    ax.legend()
    ax = axes[0, 1]
    bins = np.linspace(values.min(), values.max(), 25)
    ax.hist(values[~alive], bins=bins, color=DEAD, alpha=0.7, label="dead")
    ax.hist(values[alive], bins=bins, color=SURVIVED, alpha=0.8, label="survived")
    ax.set(
        xlabel="initial circularity", ylabel="(run, frequency) pairs", yscale="log", title=f"point-biserial r = {r:.2f}"
    )
    ax.legend()

    numbers = {
        "random": left,
        "circularity_increases_with_d": bool(np.all(np.diff(left["mean"]) > 0)),
        "initial_circularity_mean": {
            "survived": float(values[alive].mean()) if alive.any() else None,
            "dead": float(values[~alive].mean()) if (~alive).any() else None,
        },
        "pairs": {"survived": int(alive.sum()), "dead": int((~alive).sum())},
        "point_biserial_r": r,
        "point_biserial_pvalue": pvalue,
    }
    return figure, numbers


if __name__ == "__main__":
    from paper_figures.framework import main

    raise SystemExit(main(__file__))
