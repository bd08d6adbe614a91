"""A report of one or more fits on the same data: a self-contained HTML page and a Markdown summary.

Figures (matplotlib, Agg backend, so no display is needed): every component's trajectory, observed against
each model's solution (the paper's figures 9b-c and 16); the coefficient heatmap (figures 9d and 15); R² per
component and its distribution over samples; the eigenvalues of ``A`` (stability). Every file is written
atomically through :func:`fittest.atomic.write_atomic`.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from dynamics.comparison import OBSERVED, SOLUTION, compare
from dynamics.fitted import FittedODE
from fittest.atomic import output_folder, write_atomic
from fittest.errors import InputError

R2_FLOOR = -1.0  # R² below this is drawn at the floor: a diverging solution would squash every other bar


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(figure)
    return buffer.getvalue()


def _label(fit, method: str) -> str:
    return f"{fit.model} ({method})"


def _pick(da: xr.DataArray, sample: dict) -> xr.DataArray:
    return da.isel({k: v for k, v in sample.items() if k in da.dims})


def figure_trajectories(fits, comparisons, sample: dict, *, component: str, time: str) -> bytes:
    """Every component of one sample: observed (black) and each model's solution."""
    plt = _pyplot()
    observed = _pick(comparisons[0]["trajectory"].sel({SOLUTION: OBSERVED}), sample)
    components = observed[component].values
    n = components.size
    columns = min(n, 6)
    rows = math.ceil(n / columns)
    # constrained layout keeps room for the figure legend and x label whatever the number of rows
    figure, axes = plt.subplots(
        rows, columns, figsize=(2.6 * columns, 2.0 * rows + 0.6), squeeze=False, sharex=True, layout="constrained"
    )
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, ax in enumerate(axes.flat):
        if index >= n:
            ax.axis("off")
            continue
        t = observed[time].values
        ax.plot(t, observed.isel({component: index}).values, color="black", lw=2.2, alpha=0.55, label="observed")
        line = 0
        for fit, comparison in zip(fits, comparisons, strict=True):
            for method in comparison[SOLUTION].values[1:]:
                solved = _pick(comparison["trajectory"].sel({SOLUTION: method}), sample).isel({component: index})
                ax.plot(
                    t, solved.values, lw=1.1, ls="--", color=colors[line % len(colors)], label=_label(fit, str(method))
                )
                line += 1
        ax.set_title(f"{component} {components[index]}", fontsize=9)
        ax.tick_params(labelsize=7)
        if index >= n - columns:  # nothing below it: sharex hid its time labels
            ax.tick_params(labelbottom=True)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside upper center", ncol=min(4, len(labels)), fontsize=8, frameon=False)
    figure.supxlabel(time, fontsize=9)
    return _png(figure)


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
            (_pick(fit.A, sample).values, [str(v) for v in fit.A["source"].values], "A: source"),
            (_pick(fit.b, sample).values[:, None], ["b"], "b"),
        ]
    else:
        blocks = [(_pick(fit.coefficients, sample).values, [str(v) for v in fit.coefficients["term"].values], "term")]
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
    return _png(figure)


def figure_r2(fits, comparisons, *, component: str) -> bytes:
    """Left: R² per component (median and range over samples). Right: each sample's mean R², one row a series."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    series = []
    for fit, comparison in zip(fits, comparisons, strict=True):
        series.append((f"{fit.model}: dx/dt", comparison["r2_derivative"]))
        for method in comparison[SOLUTION].values[1:]:
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
    return _png(figure)


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
    return _png(figure)


def _stats(values) -> str:
    values = np.asarray(values, dtype=np.float64).ravel()
    infinite = int(np.isinf(values).sum())
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return f"inf in {infinite} of {values.size}" if infinite else "n/a"
    text = f"{np.median(finite):.4f} [{finite.min():.4g}, {finite.max():.4g}]"
    return text + (f"; inf in {infinite} of {values.size}" if infinite else "")


def summary_rows(fit, comparison: xr.Dataset) -> list[tuple[str, str]]:
    """The numbers of one fit, as (name, value) rows."""
    sample_dims = [d for d in comparison["r2_derivative"].dims if d != fit.component]
    n_samples = int(np.prod([comparison.sizes[d] for d in sample_dims])) if sample_dims else 1
    rows = [
        ("model", fit.model),
        ("options", ", ".join(f"{k}={v}" for k, v in fit.options.items()) or "-"),
        ("derivative", fit.derivative),
        ("samples", f"{n_samples}" + (" (one pooled ODE)" if fit.pooled else " (one ODE each)")),
        ("components", str(fit.coefficients.sizes["target"])),
        ("terms per equation", str(int(fit.library.mask.sum(axis=1).max()))),
        (
            "time window",
            f"{comparison[fit.time].values[0]:g} .. {comparison[fit.time].values[-1]:g} "
            f"({comparison.sizes[fit.time]} points)"
            + (
                f"; the data had no {fit.time!r} coordinate, so time is in unit steps 0, 1, 2, ... (rates per step)"
                if fit.unit_steps
                else ""
            ),
        ),
        ("R² of dx/dt, fitted data (median [min, max] over samples x components)", _stats(fit.r2_derivative)),
        (
            "R² of dx/dt per sample (mean over components, as scikit-learn's score)",
            _stats(fit.r2_derivative.mean("target")),
        ),
    ]
    for method in comparison[SOLUTION].values[1:]:
        chosen = comparison.sel({SOLUTION: method})
        rows.append((f"R² of x(t), {method}", _stats(chosen["r2_trajectory"])))
        rows.append((f"R² of x(t) per sample, {method}", _stats(chosen["r2_trajectory_sample"])))
        if "r2_forecast" in comparison:
            split = comparison.attrs.get("forecast_split")
            rows.append(
                (
                    f"out-of-sample RMSE / range of x(t) after {fit.time} {split:g}, {method}",
                    _stats(chosen["nrmse_forecast"]),
                )
            )
            rows.append(
                (
                    f"out-of-sample R² of x(t) after {fit.time} {split:g}, {method}",
                    _stats(chosen["r2_forecast"])
                    + (f" ({comparison.attrs['forecast_note']})" if comparison.attrs.get("forecast_note") else ""),
                )
            )
        rows.append((f"diverged samples, {method}", f"{int(chosen['diverged'].sum())} of {n_samples}"))
    rows.append(("sparsity (fraction of zero coefficients)", _stats(fit.sparsity)))
    if fit.is_affine:
        stable = fit.stable
        rows.append(("stable A (all Re λ < 0)", f"{int(stable.sum())} of {stable.size}"))
        rows.append(("max Re λ of A", _stats(fit.eigenvalues.real.max("eigenvalue"))))
        rows.append(("condition number of A", _stats(fit.condition)))
    return rows


def _markdown(title: str, tables, figures: dict[str, str]) -> str:
    lines = [f"# {title}", ""]
    for heading, rows in tables:
        lines += [f"## {heading}", "", "| quantity | value |", "|---|---|"]
        lines += [f"| {name} | {value.replace('|', '/')} |" for name, value in rows]
        lines.append("")
    lines += ["## Figures", ""]
    lines += [f"![{name}]({path})" for name, path in figures.items()]
    return "\n".join(lines) + "\n"


def _html(title: str, tables, figures: dict[str, bytes]) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
        "text-align:left;font-size:14px}img{max-width:100%;margin:1em 0}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for heading, rows in tables:
        parts.append(f"<h2>{html.escape(heading)}</h2><table><tr><th>quantity</th><th>value</th></tr>")
        parts += [f"<tr><td>{html.escape(n)}</td><td>{html.escape(v)}</td></tr>" for n, v in rows]
        parts.append("</table>")
    for name, png in figures.items():
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(
            f"<h2>{html.escape(name)}</h2><img alt='{html.escape(name)}' src='data:image/png;base64,{encoded}'>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    fits: Sequence[FittedODE],
    path: str | os.PathLike,
    *,
    data=None,
    sample: dict | None = None,
    methods: Sequence[str] | None = None,
    holdout: float = 0.25,
    title: str | None = None,
    **options,
) -> dict[str, Path]:
    """Compare each fit with the data and write ``report.html``, ``report.md`` and ``figures/*.png``.

    Arguments:
        fits: fitted ODEs of the same data (for example ``linear`` and ``lasso``).
        path: the report folder; created if missing (its parent must exist).
        data: the trajectories; the fitted data when omitted and the fits were made in this session.
        sample: which sample's trajectories and coefficients to draw, as ``{dim: index}``; the first by default.
        methods: solution methods for every fit (see :func:`dynamics.compare`).
        holdout: the fraction held out for the out-of-sample score.
        title: the page title.
        **options: passed to :meth:`FittedODE.simulate`.

    Returns:
        The written files by name: ``html``, ``markdown`` and one entry per figure.

    Raises:
        InputError: no fits, fits of different data layouts, a report folder whose parent is missing, or bad
            comparison arguments.
    """
    fits = list(fits)
    if not fits:
        raise InputError("write_report needs at least one fit")
    if len({(f.time, f.component) for f in fits}) != 1:
        raise InputError("the fits in one report must use the same time and component dimensions")
    folder = output_folder(path, create=False)
    comparisons = [compare(fit, data, methods=methods, holdout=holdout, **options) for fit in fits]
    output_folder(output_folder(folder) / "figures")
    sample_dims = [d for d in comparisons[0]["r2_derivative"].dims if d != fits[0].component]
    sample = {d: 0 for d in sample_dims} | dict(sample or {})
    sample_text = ", ".join(
        f"{k}={comparisons[0][k].values[v]}" for k, v in sample.items() if k in comparisons[0].coords
    )
    figures: dict[str, bytes] = {
        f"trajectories ({sample_text or 'the only sample'})": figure_trajectories(
            fits, comparisons, sample, component=fits[0].component, time=fits[0].time
        ),
        "R² per component and per sample": figure_r2(fits, comparisons, component=fits[0].component),
    }
    for fit in fits:
        figures[f"coefficients of {fit.model} ({sample_text or 'the only sample'})"] = figure_coefficients(fit, sample)
    eigen = figure_eigenvalues(fits)
    if eigen is not None:
        figures["eigenvalues of A"] = eigen
    written: dict[str, Path] = {}
    files: dict[str, str] = {}
    for index, (name, png) in enumerate(figures.items()):
        slug = "".join(c if c.isascii() and c.isalnum() else "_" for c in name.split(" (")[0]).strip("_").lower()
        filename = f"figures/{index + 1}_{slug}.png"
        written[name] = write_atomic(folder / filename, lambda tmp, png=png: tmp.write_bytes(png))
        files[name] = filename
    title = title or f"Fitted ODEs: {', '.join(fit.model for fit in fits)}"
    tables = [
        (f"{fit.model}", summary_rows(fit, comparison)) for fit, comparison in zip(fits, comparisons, strict=True)
    ]
    markdown, page = _markdown(title, tables, files), _html(title, tables, figures)
    written["markdown"] = write_atomic(folder / "report.md", lambda tmp: tmp.write_text(markdown, encoding="utf-8"))
    written["html"] = write_atomic(folder / "report.html", lambda tmp: tmp.write_text(page, encoding="utf-8"))
    return written
