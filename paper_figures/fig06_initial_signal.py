"""Figure 6 (section 3.2.1): survival rate against the initial signal: empirical, perturbed, constructed.

Left: for each of ``embeddings`` fixed embeddings (``runs`` trials each, random MLPs and splits), the survival
rate of every frequency against its initial signal, with the Pearson correlation over all points.
Middle: one frequency of an embedding (the one with the median initial signal) has its Fourier coefficient
scaled by each of ``perturb_factors``; its survival rate against how far its signal then lies from the mean of
the others (in their standard deviations). Right: embeddings built from two circles only (amplitudes s and r*s,
every other frequency 1e-6); the survival rate of each against r.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from paper_figures.framework import Context
from paper_figures.helpers import (
    default_config,
    default_ensemble,
    error_bars,
    intervention_config,
    intervention_ensemble,
    new_figure,
)
from training import TrainConfig, correlation, survival_rate, survivors, two_circles

TITLE = "Survival rate against initial signal: empirical, perturbed, constructed"
CLAIM = (
    "survival rate rises linearly with the initial signal (Pearson r = 0.85, p < 1e-3, 10 embeddings x 50 "
    "trials); a frequency perturbed far above the rest survives ~100%, far below rarely; of two constructed "
    "circles the larger always survives and the second survives more often as r grows"
)


def _rate(ds, k=None):

    rates = survival_rate(survivors(ds))
    return rates if k is None else rates.sel(frequency=k)


def empirical(ctx) -> dict:
    """Survival rate and initial signal of every frequency of every fixed embedding."""
    rows = []
    for embedding in range(ctx.profile.embeddings):
        ds = default_ensemble(ctx, embedding)
        rate = _rate(ds)
        rows.append(
            {
                "embedding": embedding,
                "initial_signal": ds.signal.isel(run=0, step=0).values,
                "rate": rate.rate.values,
                "lower": rate.lower.values,
                "upper": rate.upper.values,
            }
        )
    signal = np.concatenate([row["initial_signal"] for row in rows])
    rate = np.concatenate([row["rate"] for row in rows])
    r, pvalue = np.nan, np.nan
    if np.ptp(rate) > 0:  # a constant rate (all dead or all alive in few trials) has no correlation
        link = correlation(
            xr.DataArray(signal, dims="point", name="initial_signal"),
            xr.DataArray(rate, dims="point", name="survival_rate"),
        )
        r, pvalue = float(link.pearson_r), float(link.pearson_p)
    return {"per_embedding": rows, "pearson_r": r, "pearson_pvalue": pvalue, "trials": ctx.profile.runs}


def perturbed_frequency(base: xr.Dataset) -> int:
    """The frequency of an embedding that figure 6 (middle) perturbs: the one with the median initial signal."""
    initial = base.signal.isel(run=0, step=0).values
    return int(base.frequency.values[np.argsort(initial)[len(initial) // 2]])


def perturbed_config(ctx: Context, embedding: int, k: int, factor: float) -> TrainConfig:
    """Embedding ``embedding`` with frequency ``k``'s Fourier coefficient scaled by ``factor``."""
    return intervention_config(ctx, embedding, init_perturb={k: float(factor)})


def constructed_amplitudes(profile) -> tuple[float, list[tuple[float, dict]]]:
    """``(s, [(r, {k1: s, k2: r s}) for each ratio])`` of figure 6 (right)."""
    s = float(np.sqrt(profile.p * profile.d))  # the typical amplitude of one circle of a random N(0, 1) embedding
    return s, [(r, two_circles(profile.p, s, r, seed=0)) for r in profile.construct_ratios]


def configs(ctx: Context):
    """The ensembles the figure draws from, in two stages: the perturbed frequency is read from the first."""
    profile = ctx.profile
    embeddings = range(max(profile.embeddings, profile.perturb_embeddings))
    constructed = [intervention_config(ctx, init_construct=a) for _, a in constructed_amplitudes(profile)[1]]
    yield [*(default_config(ctx, embedding) for embedding in embeddings), *constructed]
    yield [
        perturbed_config(ctx, embedding, perturbed_frequency(default_ensemble(ctx, embedding)), factor)
        for embedding in range(profile.perturb_embeddings)
        for factor in profile.perturb_factors
        if factor != 1.0
    ]


def perturbed(ctx) -> list[dict]:
    """For each perturbed embedding: the chosen frequency's deviation and survival rate per factor."""
    profile = ctx.profile
    lines = []
    for embedding in range(profile.perturb_embeddings):
        base = default_ensemble(ctx, embedding)
        k = perturbed_frequency(base)
        points = []
        for factor in profile.perturb_factors:
            if factor == 1.0:  # the unperturbed embedding is the default ensemble: reuse it
                ds = base
            else:
                ds = ctx.load(perturbed_config(ctx, embedding, k, factor))
            signal = ds.signal.isel(run=0, step=0)
            others = signal.drop_sel(frequency=k).values
            deviation = (float(signal.sel(frequency=k)) - others.mean()) / others.std()
            rate = _rate(ds, k)
            points.append(
                {
                    "factor": factor,
                    "deviation": deviation,
                    "rate": float(rate.rate),
                    "lower": float(rate.lower),
                    "upper": float(rate.upper),
                    "trials": int(rate.trials),
                }
            )
        lines.append({"embedding": embedding, "frequency": k, "points": points})
    return lines


def constructed(ctx) -> dict:
    """Survival rates of the two constructed circles (and how many others revive) against r."""
    profile = ctx.profile
    s, ratios = constructed_amplitudes(profile)
    rows = []
    for r, amplitudes in ratios:
        k1, k2 = amplitudes
        ds = intervention_ensemble(ctx, init_construct=amplitudes)
        alive = survivors(ds)
        rate = survival_rate(alive)
        others = alive.drop_sel(frequency=[k1, k2]).sum("frequency").values
        rows.append(
            {
                "r": r,
                "k1": k1,
                "k2": k2,
                "rate_k1": float(rate.rate.sel(frequency=k1)),
                "rate_k2": float(rate.rate.sel(frequency=k2)),
                "lower_k2": float(rate.lower.sel(frequency=k2)),
                "upper_k2": float(rate.upper.sel(frequency=k2)),
                "revived_per_run": float(others.mean()),
            }
        )
    return {"amplitude_s": s, "trials": profile.intervention_runs, "rows": rows}


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""
    left, middle, right = empirical(ctx), perturbed(ctx), constructed(ctx)

    figure, axes = new_figure(3, width=4.2)
    ax = axes[0, 0]
    for row in left["per_embedding"]:
        err = error_bars(row["rate"], row["lower"], row["upper"])
        ax.errorbar(
            row["initial_signal"],
            row["rate"],
            yerr=err,
            fmt="o",
            ms=3,
            alpha=0.7,
            elinewidth=0.5,
            label=f"embedding {row['embedding']}",
        )
    ax.set(
        xlabel=r"initial signal $\|F_k\|^2$",
        ylabel="survival rate",
        title=f"Pearson r = {left['pearson_r']:.2f} ({left['trials']} trials each)",
    )
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    for line in middle:
        pts = line["points"]
        x = [pt["deviation"] for pt in pts]
        y = [pt["rate"] for pt in pts]
        err = error_bars(*([pt[key] for pt in pts] for key in ("rate", "lower", "upper")))
        ax.errorbar(x, y, yerr=err, fmt="o-", capsize=2, label=f"emb. {line['embedding']}, k = {line['frequency']}")
    ax.set(
        xlabel="perturbed signal - mean of the others (in their std)",
        ylabel="survival rate",
        title="perturbed frequency",
        ylim=(-0.05, 1.05),
    )
    ax.legend(fontsize=7)
    ax = axes[0, 2]
    rs = [row["r"] for row in right["rows"]]
    ax.plot(rs, [row["rate_k1"] for row in right["rows"]], "o-", label="largest (signal s)")
    ax.errorbar(
        rs,
        [row["rate_k2"] for row in right["rows"]],
        yerr=error_bars(*([row[key] for row in right["rows"]] for key in ("rate_k2", "lower_k2", "upper_k2"))),
        fmt="s-",
        capsize=2,
        label="second (signal r s)",
    )
    ax.set(xlabel="ratio r", ylabel="survival rate", title="two constructed circles", ylim=(-0.05, 1.05))
    ax.legend(fontsize=7)

    numbers = {"empirical": left, "perturbed": middle, "constructed": right}
    return figure, numbers


if __name__ == "__main__":
    from paper_figures.framework import main

    raise SystemExit(main(__file__))
