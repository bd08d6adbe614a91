"""The report's figures, as PNG bytes (matplotlib, Agg backend, so no display is needed).

Every component's trajectory, observed against each model's solution (the paper's figures 9b-c and 16), and
the held-out forecast; the coefficient heatmap (figures 9d and 15) and the coefficients' spread over samples;
R² per component and its distribution over samples; the eigenvalues of ``A`` (stability); the training curves
of a run dataset.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import xarray as xr

from dynamics.comparison import OBSERVED, SOLUTION
from dynamics.library import component_names
from dynamics.page import png

R2_FLOOR = -1.0  # R² below this is drawn at the floor: a diverging solution would squash every other bar
OBSERVED_STYLE = {"color": "#a8a8a8", "lw": 3.2, "zorder": 1}  # wide and pale, so a solution drawn over it shows
LINESTYLES = ("-", "--", "-.", ":")
HIGHLIGHT_COLOR = "#fff1c2"
HIGHLIGHT_EDGE = "#c99a00"
HELD_OUT_COLOR = "#dde8f5"
TRAINING_CURVES = (("train_loss", "test_loss", "loss"), ("train_acc", "test_acc", "accuracy"))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def pick(da: xr.DataArray, sample: dict) -> xr.DataArray:
    """``da`` at one sample, given as positions ``{dim: index}``; dims ``da`` lacks are ignored (pooled fits)."""
    return da.isel({k: v for k, v in sample.items() if k in da.dims})


def solution_methods(comparison: xr.Dataset) -> list[str]:
    """The solution methods of a comparison, without its observed entry."""
    return [str(m) for m in comparison[SOLUTION].values]


def _styles(fits, comparisons):
    """(label, colour, linestyle, fit index, method) of every solution line, the same in every figure."""
    colors = _pyplot().rcParams["axes.prop_cycle"].by_key()["color"]
    lines = []
    for index, (fit, comparison) in enumerate(zip(fits, comparisons, strict=True)):
        for method in solution_methods(comparison):
            k = len(lines)
            lines.append(
                (f"{fit.model} ({method})", colors[k % len(colors)], LINESTYLES[k % len(LINESTYLES)], index, method)
            )
    return lines


def _grid(n: int):
    plt = _pyplot()
    columns = min(n, 6)
    rows = math.ceil(n / columns)
    # constrained layout keeps room for the figure legend and the axis labels whatever the number of rows
    figure, axes = plt.subplots(
        rows, columns, figsize=(2.6 * columns + 0.4, 2.0 * rows + 0.8), squeeze=False, sharex=True, layout="constrained"
    )
    for index, ax in enumerate(axes.flat):
        if index >= n:
            ax.axis("off")
        elif index >= n - columns:  # nothing below it: sharex hid its time labels
            ax.tick_params(labelbottom=True)
    return figure, axes


def _panels(
    fits, comparisons, sample, variable, *, component, time, ylabel, highlight, highlight_label, title, extra=()
):
    """A grid of one panel per component: the observed trajectory and ``variable``'s solution lines."""
    observed = pick(comparisons[0][OBSERVED], sample)
    components = observed[component].values
    t = observed[time].values
    figure, axes = _grid(components.size)
    styles = _styles(fits, comparisons)
    for index, ax in enumerate(axes.flat[: components.size]):
        ax.plot(t, observed.isel({component: index}).values, label="observed", **OBSERVED_STYLE)
        for label, color, linestyle, k, method in styles:
            solved = pick(comparisons[k][variable].sel({SOLUTION: method}), sample).isel({component: index})
            ax.plot(t, solved.values, lw=1.3, ls=linestyle, color=color, label=label, zorder=3)
        marked = highlight is not None and bool(highlight[index])
        name = f"{component} {components[index]}" + (f" ({highlight_label})" if marked else "")
        ax.set_title(name, fontsize=9, fontweight="bold" if marked else "normal")
        if marked:
            ax.set_facecolor(HIGHLIGHT_COLOR)
            for spine in ax.spines.values():
                spine.set_edgecolor(HIGHLIGHT_EDGE)
        ax.tick_params(labelsize=7)
    from matplotlib.patches import Patch

    handles, labels = axes.flat[0].get_legend_handles_labels()
    patches = list(extra)
    if highlight is not None and np.any(highlight):
        patches.append((f"{highlight_label} (shaded panel)", HIGHLIGHT_COLOR, HIGHLIGHT_EDGE))
    for label, face, edge in patches:
        handles.append(Patch(facecolor=face, edgecolor=edge, label=label))
        labels.append(label)
    figure.legend(handles, labels, loc="outside upper center", ncol=min(5, len(labels)), fontsize=8, frameon=False)
    figure.supxlabel(time + (f"\n{title}" if title else ""), fontsize=9)
    figure.supylabel(ylabel, fontsize=9)
    return figure, axes


def figure_trajectories(
    fits, comparisons, sample: dict, *, component: str, time: str, ylabel: str, highlight=None, highlight_label=""
) -> bytes:
    """Every component of one sample: observed (wide, grey) and each model's solution drawn over it.

    Arguments:
        fits, comparisons: the fits and their :func:`dynamics.compare` results.
        sample: the sample, as positions ``{dim: index}``.
        component, time: the data's dimensions.
        ylabel: the y-axis label, naming the variable.
        highlight: a boolean per component (or None): those panels are shaded and their titles say
            ``highlight_label``.
        highlight_label: what a highlighted component is (``"survivor"``).

    Returns:
        The PNG.
    """
    figure, _ = _panels(
        fits,
        comparisons,
        sample,
        "trajectory",
        component=component,
        time=time,
        ylabel=ylabel,
        highlight=highlight,
        highlight_label=highlight_label,
        title="",
    )
    return png(figure)


def figure_forecast(
    fits, comparisons, sample: dict, *, component: str, time: str, ylabel: str, highlight=None, highlight_label=""
) -> bytes | None:
    """The held-out forecast of one sample: each model refitted on the first part of the window, solved over all
    of it; the held-out end is shaded. None when no comparison has a forecast.

    Arguments and returns as :func:`figure_trajectories`.
    """
    if not any(
        "forecast" in c and np.isfinite(c["forecast"].sel({SOLUTION: solution_methods(c)})).any() for c in comparisons
    ):
        return None
    split = comparisons[0].attrs["forecast_split"]
    figure, axes = _panels(
        fits,
        comparisons,
        sample,
        "forecast",
        component=component,
        time=time,
        ylabel=ylabel,
        highlight=highlight,
        highlight_label=highlight_label,
        title=f"each model refitted on {time} <= {split:g} only and solved over the whole window; "
        "the blue end was held out (never seen by the refit)",
        extra=[(f"held out ({time} > {split:g})", HELD_OUT_COLOR, HELD_OUT_COLOR)],
    )
    end = float(comparisons[0][time].values[-1])
    for ax in axes.flat:
        if ax.has_data():
            ax.axvspan(split, end, color=HELD_OUT_COLOR, zorder=0, lw=0)
            ax.axvline(split, color="#4a6fa5", lw=0.8, ls=":", zorder=2)
    return png(figure)


def figure_training(data: xr.Dataset, *, sample_dims, drawn: list[dict], time: str, window) -> bytes | None:
    """The training curves of a run dataset: loss (log scale) and accuracy, train solid and test dashed.

    Arguments:
        data: the dataset; its ``train_loss``, ``test_loss``, ``train_acc`` and ``test_acc`` are drawn, those it has.
        sample_dims: the sample dimensions; every sample is drawn thin and grey, the ``drawn`` ones in colour.
        drawn: the drawn samples as positions ``{dim: index}``.
        time: the time dimension.
        window: ``(start, stop)`` of the fitted window, shaded; None for none.

    Returns:
        The PNG, or None when the data hold no training curve.
    """
    if not isinstance(data, xr.Dataset):
        return None
    present = [
        (train, test, name)
        for train, test, name in TRAINING_CURVES
        if any(v in data.data_vars and time in data[v].dims for v in (train, test))
    ]
    if not present:
        return None
    plt = _pyplot()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    figure, axes = plt.subplots(1, len(present), figsize=(6.0 * len(present), 3.6), squeeze=False, layout="constrained")
    for ax, (train, test, name) in zip(axes.flat, present, strict=True):
        for variable, linestyle in ((train, "-"), (test, "--")):
            if variable not in data.data_vars:
                continue
            da = data[variable]
            other = [d for d in da.dims if d != time]
            stacked = da.transpose(*other, time).values.reshape(-1, da.sizes[time]) if other else da.values[None]
            t = da[time].values if time in da.coords else np.arange(da.sizes[time])
            for row in stacked:
                ax.plot(t, row, color="0.82", lw=0.7, ls=linestyle, zorder=1)
            for k, sample in enumerate(drawn):
                chosen = pick(da, sample)
                if chosen.ndim != 1:
                    continue
                label = f"{variable}, " + ", ".join(
                    f"{d}={da[d].values[i]}" if d in da.coords else f"{d} {i}"
                    for d, i in sample.items()
                    if d in da.dims
                )
                ax.plot(t, chosen.values, color=colors[k % len(colors)], lw=1.4, ls=linestyle, label=label, zorder=3)
        if name == "loss":
            values = np.concatenate([data[v].values.ravel() for v in (train, test) if v in data.data_vars])
            if np.all(values[np.isfinite(values)] > 0):
                ax.set_yscale("log")
        if window is not None:
            ax.axvspan(window[0], window[1], color="#eef3e0", zorder=0, lw=0, label="fitted window")
        t = data[time].values if time in data.coords else np.arange(data.sizes[time])
        positive = np.asarray(t, dtype=np.float64)[np.asarray(t, dtype=np.float64) > 0]
        if positive.size and positive.max() / positive.min() > 100:
            # grokking happens early and is read on log steps; linear below the first recorded step keeps step 0
            ax.set_xscale("symlog", linthresh=float(positive.min()))
        ax.set_xlabel(time)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    figure.suptitle("training curves (train solid, test dashed; all samples in grey)", fontsize=10)
    return png(figure)


def figure_coefficients(fit, sample: dict) -> bytes:
    """The coefficient heatmap of one sample: ``A`` and ``b`` side by side for affine models, target x term
    otherwise.

    ``A`` and ``b`` get a colour scale each: ``b`` is often orders of magnitude larger than the entries of a
    sparse ``A``, and one shared scale would paint all of ``A`` white.
    """
    plt = _pyplot()
    rows = [str(v) for v in fit.coefficients["target"].values]
    height = max(3.0, 0.22 * len(rows) + 1.5)
    if fit.is_affine:
        blocks = [
            (pick(fit.A, sample).values, [str(v) for v in fit.A["source"].values], "A: source"),
            (pick(fit.b, sample).values[:, None], ["b"], "b"),
        ]
    else:
        blocks = [(pick(fit.coefficients, sample).values, [str(v) for v in fit.coefficients["term"].values], "term")]
    n_columns = sum(len(columns) for _, columns, _ in blocks)
    width = min(max(4.0, 0.22 * n_columns + 2 + 1.2 * (len(blocks) - 1)), 30)
    figure, axes = plt.subplots(
        1,
        len(blocks),
        figsize=(width, height),
        squeeze=False,
        layout="constrained",
        gridspec_kw={"width_ratios": [max(len(columns), 4) for _, columns, _ in blocks]},
    )
    for ax, (matrix, columns, xlabel) in zip(axes.flat, blocks, strict=True):
        limit = float(np.nanmax(np.abs(matrix))) if np.isfinite(matrix).any() else 0.0
        limit = limit or 1.0
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        step = max(1, len(columns) // 60)
        ax.set_xticks(range(0, len(columns), step), columns[::step], fontsize=6, rotation=90)
        ax.set_xlabel(xlabel)
        if not np.any(matrix):  # an empty panel would look like a drawing failure
            ax.text(0.5, 0.5, "all coefficients are 0", transform=ax.transAxes, ha="center", va="center")
        # a one-column block is narrow: a colour bar of the default fraction of its width would be tiny
        figure.colorbar(image, ax=ax, shrink=0.8, fraction=0.15 if len(columns) > 4 else 0.5)
    axes[0, 0].set_ylabel("target")
    figure.suptitle(
        f"{fit.model}: coefficients" + (" (A and b on their own colour scales)" if fit.is_affine else ""), fontsize=10
    )
    return png(figure)


CONSTANT = "1"  # the library's name of the constant term (b of an affine model)


def largest_coefficients(fit, count: int, *, constant: bool | None = None) -> list[tuple[int, int]]:
    """(target, term) positions of the ``count`` coefficients of largest median magnitude over samples.

    Arguments:
        fit: the fitted ODE.
        count: how many.
        constant: True for the constant term only, False for the other terms only, None for all.
    """
    values = fit.coefficients.transpose(..., "target", "term").values
    flat = values.reshape(-1, *values.shape[-2:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        size = np.nan_to_num(np.nanmedian(np.abs(flat), axis=0), nan=-1.0)
    if constant is not None:
        is_constant = np.asarray([str(term) == CONSTANT for term in fit.coefficients["term"].values])
        size[:, is_constant != constant] = -1.0
    order = np.argsort(-size, axis=None, kind="stable")[:count]
    return [tuple(int(i) for i in np.unravel_index(k, size.shape)) for k in order if size.flat[k] > 0]


def coefficient_name(fit, target: int, term: int) -> str:
    """``"(x_3)': x_1 x_2"``, the coefficient of a term in a target's equation, named as
    :meth:`~dynamics.FittedODE.equations` names them."""
    targets = component_names(fit.coefficients["target"].values)
    return f"({targets[target]})': {fit.coefficients['term'].values[term]}"


def figure_coefficient_spread(fit, *, drawn: list[dict], intervals=None, count: int = 15) -> bytes | None:
    """The largest coefficients (by median magnitude): every sample as a grey point, the median as a black tick,
    the drawn samples in colour with their confidence intervals when ``intervals`` is given. The constant term
    gets a panel of its own: it is often decades larger than the rest and would squash them.

    Arguments:
        fit: the fitted ODE.
        drawn: the drawn samples, as positions ``{dim: index}``.
        intervals: a Dataset with ``low`` and ``high`` shaped like ``fit.coefficients``, or None.
        count: how many coefficients per panel.

    Returns:
        The PNG, or None when there is nothing to spread (one pooled ODE without intervals, or all zero).
    """
    if fit.pooled and intervals is None:
        return None
    panels = [
        (title, chosen)
        for title, constant in (("constant term", True), ("other terms", False))
        if (chosen := largest_coefficients(fit, count, constant=constant))
    ]
    if not panels:
        return None
    plt = _pyplot()
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    coefficients = fit.coefficients
    heights = [len(chosen) for _, chosen in panels]
    figure, axes = plt.subplots(
        len(panels),
        1,
        figsize=(7.5, 0.24 * sum(heights) + 1.2 * len(panels) + 0.6),
        squeeze=False,
        layout="constrained",
        gridspec_kw={"height_ratios": heights},
    )
    for ax, (title, chosen) in zip(axes.flat, panels, strict=True):
        y = np.arange(len(chosen))
        columns = [coefficients.isel(target=i, term=j).values.ravel() for i, j in chosen]
        for row, values in zip(y, columns, strict=True):
            ax.scatter(values, np.full(values.shape, row), s=9, color="0.65", zorder=1, lw=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            medians = [np.nanmedian(values) for values in columns]
        ax.scatter(medians, y, marker="|", s=160, color="black", zorder=2, label="median over samples")
        for k, sample in enumerate(drawn):
            values = pick(coefficients, sample)
            label = ", ".join(f"{d}={coefficients[d].values[i]}" for d, i in sample.items() if d in coefficients.dims)
            x = np.array([float(values.isel(target=i, term=j)) for i, j in chosen])
            offset = y + 0.15 * (k - (len(drawn) - 1) / 2)
            color = colors[k % len(colors)]
            if intervals is not None:
                low, high = pick(intervals["low"], sample), pick(intervals["high"], sample)
                lows = np.array([float(low.isel(target=i, term=j)) for i, j in chosen])
                highs = np.array([float(high.isel(target=i, term=j)) for i, j in chosen])
                ax.errorbar(x, offset, xerr=[x - lows, highs - x], fmt="none", color=color, lw=1.2, zorder=3)
            ax.scatter(x, offset, s=18, color=color, zorder=4, label=label or "the fit")
        ax.set_yticks(y, [coefficient_name(fit, i, j) for i, j in chosen], fontsize=7)
        ax.set_ylim(len(chosen) - 0.5, -0.5)
        ax.axvline(0, color="black", lw=0.6, zorder=0)
        ax.grid(axis="x", alpha=0.3)
        ax.set_title(f"{title}: the {len(chosen)} largest by median |value|", fontsize=9)
    axes.flat[0].legend(fontsize=7, loc="best")
    axes.flat[-1].set_xlabel("coefficient")
    figure.suptitle(
        f"{fit.model}: coefficients across samples"
        + (" (bars: the drawn samples' confidence intervals)" if intervals is not None else ""),
        fontsize=10,
    )
    return png(figure)


def figure_r2(fits, comparisons, *, component: str) -> bytes:
    """Left: R² per component (median and range over samples). Right: each sample's mean R², one row a series."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    series = []
    for fit, comparison in zip(fits, comparisons, strict=True):
        series.append((f"{fit.model}: dx/dt", comparison["r2_derivative"]))
        for method in solution_methods(comparison):
            series.append((f"{fit.model}: x(t), {method}", comparison["r2_trajectory"].sel({SOLUTION: method})))
    components = comparisons[0][component].values
    width = 0.8 / len(series)
    lowest = 1.0
    for k, (label, values) in enumerate(series):
        other = [d for d in values.dims if d != component]
        per_component = np.clip(values.transpose(*other, component).values.reshape(-1, components.size), R2_FLOOR, 1)
        if not np.isfinite(per_component).any():
            continue
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(per_component, axis=0)
            low, high = np.nanmin(per_component, axis=0), np.nanmax(per_component, axis=0)
        lowest = min(lowest, float(np.nanmin(low)))
        x = np.arange(components.size) + (k - (len(series) - 1) / 2) * width
        color = colors[k % len(colors)]
        left.errorbar(x, median, yerr=[median - low, high - median], fmt="o", ms=3, lw=0.8, color=color, label=label)
        sample_mean = np.clip(values.mean(component).values.ravel(), R2_FLOOR, 1)
        # a strip of points rather than a histogram: a few samples, and R² near 1 needs no binning to be read
        right.scatter(sample_mean, np.full(sample_mean.shape, k), s=14, alpha=0.6, color=color)
    left.set_xticks(range(components.size), [str(c) for c in components], fontsize=7, rotation=90)
    left.set_xlabel(component)
    left.set_ylabel("R² (median and range over samples)")
    left.set_ylim(max(R2_FLOOR, lowest - 0.05 * (1 - lowest) - 1e-3), 1 + 0.02 * (1 - lowest) + 1e-4)
    left.grid(axis="y", alpha=0.3)
    left.legend(fontsize=7, loc="lower left")
    right.set_yticks(range(len(series)), [label for label, _ in series], fontsize=7)
    right.set_ylim(len(series) - 0.5, -0.5)
    right.set_xlabel("R² per sample (mean over components)")
    right.grid(axis="x", alpha=0.3)
    figure.suptitle(f"R² (values below {R2_FLOOR} drawn at {R2_FLOOR})", fontsize=10)
    figure.tight_layout()
    return png(figure)


def figure_eigenvalues(fits) -> bytes | None:
    """Eigenvalues of ``A`` of every sample in the complex plane; right of the dashed line is unstable."""
    affine = [fit for fit in fits if fit.is_affine]
    if not affine:
        return None
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(5.5, 4.2))
    for fit in affine:
        values = fit.eigenvalues.values.ravel()
        ax.scatter(values.real, values.imag, s=9, alpha=0.5, label=fit.model)
    ax.axvline(0, color="black", ls="--", lw=0.8)
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    ax.set_xscale("symlog", linthresh=1e-4)
    ax.set_title("eigenvalues of A (all samples)", fontsize=10)
    ax.legend(fontsize=8)
    figure.tight_layout()
    return png(figure)
