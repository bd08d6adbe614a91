"""What several figure scripts share: drawing, the ensembles they train, the ODE fits, example picks, counts.

- Drawing: :func:`new_figure` (a pyplot-free figure), the colours, :func:`mean_and_band`, :func:`error_bars`,
  :func:`heatmap`.
- Ensembles, defined once so that figures that can share one do; each as its config (``default_config``, ...),
  which a figure's ``configs(ctx)`` declares before drawing, and as the dataset read through the context. The
  default ensemble (the profile's p and d, 59 and 128 in the paper, weight decay 0.5, one fixed embedding with
  random MLPs and splits) serves figures 2, 3, 6, 7, 8, 9, 11, 12, 13, 15 and 16; the sweeps over d serve
  figures 5 and 9, and the sweep over p figures 5 and 14.
- The linear and Lasso ODE fits of figures 9, 15 and 16; the example run and frequencies of figures 2, 9, 13.
- Circle counts under two rules (figures 5, 10, 14): the authors' relative rule and the absolute rule of
  :func:`training.decay_threshold`, which also counts survivors that make up a large share of the circles.
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

import dynamics
from paper_figures.framework import Context
from paper_figures.profiles import Profile
from training import TrainConfig, correlation, count_survivors, decay_threshold

SURVIVED = "tab:orange"
DEAD = "tab:blue"
GREY = "0.7"


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float = 4.0, height: float = 3.2, **kwargs):
    """A matplotlib :class:`~matplotlib.figure.Figure` with a grid of axes, made without pyplot.

    pyplot keeps every figure alive in global state and needs a backend; a bare ``Figure`` needs neither,
    so many figures can be made in one process and in tests.

    Arguments:
        ncols, nrows: the grid.
        width, height: inches per axes.
        **kwargs: passed to :meth:`~matplotlib.figure.Figure.subplots` (``sharex``, ...).

    Returns:
        ``(figure, axes)``, axes as a 2-D array of shape ``(nrows, ncols)``.
    """
    figure = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False, **kwargs)
    return figure, axes


def mean_and_band(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and a 95% normal band (mean +- 1.96 standard errors) over ``axis``, NaN skipped.

    Returns:
        ``(mean, lower, upper)``; the band is the mean itself when ``axis`` has one element.
    """
    values = np.asarray(values, dtype=np.float64)
    mean = np.nanmean(values, axis=axis)
    n = np.sum(np.isfinite(values), axis=axis)
    sem = np.nanstd(values, axis=axis, ddof=1) / np.sqrt(np.maximum(n, 1)) if values.shape[axis] > 1 else 0 * mean
    return mean, mean - 1.96 * sem, mean + 1.96 * sem


def error_bars(rate, lower, upper) -> np.ndarray:
    """``yerr`` for :meth:`~matplotlib.axes.Axes.errorbar` from an interval, rounding below zero clipped away."""
    rate, lower, upper = (np.asarray(v, dtype=np.float64) for v in (rate, lower, upper))
    return np.clip(np.stack([rate - lower, upper - rate]), 0, None)


def heatmap(ax, A: np.ndarray, labels, *, title: str):
    """Draw a coefficient matrix ``A`` (target, source) with a symmetric colour scale; zero entries stay white.

    Returns:
        The image, for a colour bar.
    """
    bound = float(np.nanmax(np.abs(A))) or 1.0
    image = ax.imshow(np.where(A == 0, np.nan, A), cmap="RdBu_r", vmin=-bound, vmax=bound)
    ticks = np.arange(0, len(labels), max(1, round(len(labels) / 7)))
    ax.set(
        xticks=ticks,
        yticks=ticks,
        xticklabels=np.asarray(labels)[ticks],
        yticklabels=np.asarray(labels)[ticks],
        xlabel="source k",
        ylabel="target k",
        title=title,
    )
    return image


def log_spaced_steps(steps: int, count: int = 12) -> tuple[int, ...]:
    """Steps to snapshot the embedding at: 0, then ``count`` roughly log-spaced steps up to ``steps`` (kept)."""
    spaced = np.unique(np.round(np.geomspace(10, steps, count)).astype(int))
    return tuple(int(s) for s in np.unique([0, *spaced, steps]))


def default_config(ctx: Context, embedding: int = 0) -> TrainConfig:
    """``profile.runs`` models at the profile's p and d sharing fixed embedding number ``embedding``.

    MLPs and train/test splits differ between runs; the MLP parameters are saved at every snapshot so that
    circles can be ablated afterwards (figure 8).
    """
    return ctx.config(
        p=ctx.profile.p,
        d=ctx.profile.d,
        runs=ctx.profile.runs,
        seed=embedding,
        embed_seed=embedding,
        save_mlp=True,
        snapshot_steps=log_spaced_steps(ctx.profile.steps),
    )


def default_ensemble(ctx: Context, embedding: int = 0) -> xr.Dataset:
    """The run dataset of :func:`default_config`."""
    return ctx.load(default_config(ctx, embedding))


def sweep_config(ctx: Context, *, p: int | None = None, d: int | None = None, **fields) -> TrainConfig:
    """``profile.sweep_runs`` models at ``(p, d)`` (the profile's by default), each with its own embedding."""
    p = ctx.profile.p if p is None else p
    d = ctx.profile.d if d is None else d
    return ctx.config(p=p, d=d, runs=ctx.profile.sweep_runs, seed=0, **fields)


def sweep_ensemble(ctx: Context, **fields) -> xr.Dataset:
    """The run dataset of :func:`sweep_config`."""
    return ctx.load(sweep_config(ctx, **fields))


def intervention_config(ctx: Context, embedding: int = 0, **fields) -> TrainConfig:
    """``profile.intervention_runs`` models with the default ensemble's embedding and run seeds, intervened on.

    Run r has the MLP and split of run r of :func:`default_ensemble` (seeds derive from the base seed and r),
    so the first runs of the default ensemble are this ensemble's untouched control.
    """
    profile = ctx.profile
    return ctx.config(
        p=profile.p, d=profile.d, runs=profile.intervention_runs, seed=embedding, embed_seed=embedding, **fields
    )


def intervention_ensemble(ctx: Context, embedding: int = 0, **fields) -> xr.Dataset:
    """The run dataset of :func:`intervention_config`."""
    return ctx.load(intervention_config(ctx, embedding, **fields))


def linear_and_lasso(ds: xr.Dataset, profile: Profile) -> tuple[tuple[int, int], dict[str, dynamics.FittedODE]]:
    """``(window, {"linear": fit, "lasso": fit})``: both fits of ``ds``'s amplitudes, one ODE per run.

    The window is the profile's ODE window, cut to the steps the dataset has.
    """
    window = int(profile.ode_window[0]), int(min(profile.ode_window[1], int(ds.step.max())))
    fits = {
        "linear": dynamics.fit(ds, model="linear", t_range=window, derivative="forward"),
        "lasso": dynamics.fit(ds, model="lasso", t_range=window, alpha=profile.lasso_alpha, derivative="forward"),
    }
    return window, fits


def default_fits(ctx: Context) -> tuple[xr.Dataset, tuple[int, int], dict[str, dynamics.FittedODE]]:
    """``(ds, window, {"linear": fit, "lasso": fit})`` of the default ensemble, one ODE per run."""
    ds = default_ensemble(ctx)
    return ds, *linear_and_lasso(ds, ctx.profile)


def example_run(alive: xr.DataArray) -> int:
    """The first run with a surviving circle (run 0 when none has one), from ``training.survivors``' mask."""
    return int(np.argmax(alive.sum("frequency").values > 0))


def dead_and_surviving(ds: xr.Dataset, alive: xr.DataArray, run: int) -> tuple[int, int]:
    """A dead and a surviving frequency of ``run``, the most telling of each.

    The dead one started strongest (the largest initial amplitude among the dead), so its decay is not
    explained by a small start; the surviving one ends strongest (the largest final amplitude among the
    survivors, or among all frequencies when none survived).

    Returns:
        ``(dead_k, live_k)``.
    """
    ks = ds.frequency.values
    amplitude = ds.amplitude.isel(run=run)
    survived = alive.isel(run=run).values
    initial, final = amplitude.isel(step=0).values, amplitude.isel(step=-1).values
    dead_k = int(ks[~survived][np.argmax(initial[~survived])])
    live_k = int(ks[survived][np.argmax(final[survived])]) if survived.any() else int(ks[np.argmax(final)])
    return dead_k, live_k


#: The absolute rule's share of the mean initial amplitude (see :func:`training.decay_threshold`).
ABSOLUTE_FRACTION = 0.5

#: The two counting rules of figures 5, 10 and 14, with their legend labels.
COUNTING_RULES = {
    "relative": "> 2x mean amplitude (authors' rule)",
    "absolute": f"> {ABSOLUTE_FRACTION:g}x initial mean",
}


def circle_counts(ds: xr.Dataset) -> dict[str, np.ndarray]:
    """Surviving circles per run under each rule of :data:`COUNTING_RULES`, ``{rule: counts (run,)}``."""
    threshold = decay_threshold(ds, ABSOLUTE_FRACTION)
    return {
        "relative": count_survivors(ds).values,
        "absolute": count_survivors(ds, rule="absolute", threshold=threshold).values,
    }


def trend(x, counts) -> dict:
    """The mean count per x and the Spearman correlation of the count with x over all runs.

    Arguments:
        x: the swept values.
        counts: one array of per-run counts per value of x.

    Returns:
        ``{"mean": per x, "spearman_rho", "spearman_pvalue"}``; NaN where there is nothing to rank.
    """
    xs = np.repeat(np.asarray(x, dtype=float), [len(c) for c in counts])
    flat = np.concatenate(counts).astype(float)
    rho, pvalue = np.nan, np.nan
    # two points always rank-correlate perfectly, and a constant side has no ranks to correlate
    if flat.size > 2 and np.ptp(flat) > 0 and np.ptp(xs) > 0:
        link = correlation(xr.DataArray(xs, dims="run", name="x"), xr.DataArray(flat, dims="run", name="count"))
        rho, pvalue = float(link.spearman_r), float(link.spearman_p)
    return {"mean": [float(np.mean(c)) for c in counts], "spearman_rho": rho, "spearman_pvalue": pvalue}


def counts_configs(ctx: Context, key: str, values) -> list[TrainConfig]:
    """The sweep ensembles :func:`counts_over` counts, one per value of ``key``."""
    return [sweep_config(ctx, **{key: int(v)}) for v in values]


def counts_over(ctx: Context, key: str, values) -> dict:
    """Circle counts of the sweep ensembles at each value of ``key`` (``"p"`` or ``"d"``), under both rules.

    Returns:
        ``{key: values, rule: {"counts": per value, **trend}}`` for each rule of :data:`COUNTING_RULES`.
    """
    per_value = [circle_counts(ctx.load(config)) for config in counts_configs(ctx, key, values)]
    result = {key: list(values)}
    for rule in COUNTING_RULES:
        counts = [c[rule] for c in per_value]
        result[rule] = {"counts": counts, **trend(values, counts)}
    return result


def draw_counts(ax, x, result: dict, *, key: str) -> None:
    """Mean count and 95% band against ``x``, one line per rule, from ``{rule: {"counts": per-x counts}}``."""
    for rule, style in zip(COUNTING_RULES, ("o-", "s--"), strict=True):
        mean, low, high = mean_and_band(np.array(result[rule]["counts"], dtype=float), axis=1)
        ax.plot(x, mean, style, label=COUNTING_RULES[rule])
        ax.fill_between(x, low, high, alpha=0.2)
    ax.set(xlabel=key, ylabel="surviving circles")
    ax.legend(fontsize=8)
