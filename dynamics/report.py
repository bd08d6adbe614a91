"""A report of one or more fits on the same data: a self-contained HTML page and a Markdown summary.

The page opens with its first figure, then one table of the models side by side with a line under each metric
saying what it means, the other figures of :mod:`dynamics.plots` (trajectories and the held-out forecast per
drawn sample, chosen with ``samples=``, four spread over the samples by default; the training curves of a run
dataset, R², coefficients, eigenvalues), the drawn samples' and the coefficients' tables, and last the
provenance (data file, command, date, configuration, versions). The page is laid out and written by
:func:`dynamics.page.write_page` (jinja2 templates, atomic writes).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from dynamics import plots
from dynamics.comparison import OBSERVED, SOLUTION, compare
from dynamics.fitted import FittedODE
from dynamics.page import Figure, Table, write_page
from dynamics.solutions import Solver
from dynamics.trajectories import infer_dims, select_variable
from fittest.atomic import output_folder
from fittest.errors import InputError

MAX_DRAWN = 12  # each drawn sample adds two grids of panels: more would make a page nobody scrolls through
DEFAULT_DRAWN = 4  # drawn when no samples are chosen: spread over the samples, so one run does not stand for all
PACKAGES = ("fittest", "numpy", "scipy", "xarray", "matplotlib", "scikit-learn", "jax", "diffrax", "pysindy")


def _stats(values) -> str:
    values = np.asarray(values, dtype=np.float64).ravel()
    infinite = int(np.isinf(values).sum())
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return f"inf in {infinite} of {values.size}" if infinite else "n/a"
    text = f"{np.median(finite):.4f} [{finite.min():.4g}, {finite.max():.4g}]"
    return text + (f"; inf in {infinite} of {values.size}" if infinite else "")


def _median(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else float("nan")


def _tail_share(comparison: xr.Dataset, time: str) -> float:
    """The held-out end's range over the whole window's range, median over samples and components."""
    observed = comparison[OBSERVED]
    split = comparison.attrs.get("forecast_split", float("nan"))
    tail = observed.where(observed[time] > split, drop=True)
    if tail.sizes.get(time, 0) == 0:
        return float("nan")
    with np.errstate(all="ignore"):
        share = (tail.max(time) - tail.min(time)) / (observed.max(time) - observed.min(time))
    return _median(share.values)


def summary_rows(fit, comparison: xr.Dataset, *, highlight=None, highlight_label: str = "highlighted"):
    """The numbers of one fit over all samples, as ``(name, value, meaning)`` rows.

    Arguments:
        fit: the fitted ODE.
        comparison: its :func:`dynamics.compare` result.
        highlight: a boolean DataArray aligned with ``comparison``'s ``r2_trajectory`` (samples x components),
            or None; adds the trajectory R² of the highlighted components and of the others.
        highlight_label: what a highlighted component is.

    Returns:
        A list of ``(name, value, meaning)``; ``meaning`` is one line (empty for descriptive rows).
    """
    time = fit.time
    sample_dims = [d for d in comparison["r2_derivative"].dims if d != fit.component]
    n_samples = int(np.prod([comparison.sizes[d] for d in sample_dims])) if sample_dims else 1
    rows = [
        ("model", fit.model, ""),
        ("options", ", ".join(f"{k}={v}" for k, v in fit.options.items()) or "-", ""),
        ("derivative", fit.derivative, "how dx/dt was estimated from the samples"),
        ("samples", f"{n_samples}" + (" (one pooled ODE)" if fit.pooled else " (one ODE each)"), ""),
        ("components", str(fit.coefficients.sizes["target"]), ""),
        (
            "terms per equation",
            str(int(fit.library.mask.sum(axis=1).max())),
            "the library's size: the unknowns of one equation",
        ),
        (
            "time window",
            f"{comparison[time].values[0]:g} .. {comparison[time].values[-1]:g} ({comparison.sizes[time]} points)"
            + (
                f"; the data had no {time!r} coordinate, so time is in unit steps 0, 1, 2, ... (rates per step)"
                if fit.unit_steps
                else ""
            ),
            "",
        ),
        (
            "R² of dx/dt, fitted data (median [min, max] over samples x components)",
            _stats(fit.r2_derivative),
            "the share of the derivative's variance the fitted right-hand side explains (1 is perfect); in sample, so "
            "it flatters models with many terms",
        ),
        (
            "R² of dx/dt per sample (mean over components, as scikit-learn's score)",
            _stats(fit.r2_derivative.mean("target")),
            "the same per sample: the mean of its components' R²",
        ),
    ]
    split = comparison.attrs.get("forecast_split", float("nan"))
    share = _tail_share(comparison, time) if "r2_forecast" in comparison else float("nan")
    for method in plots.solution_methods(comparison):
        chosen = comparison.sel({SOLUTION: method})
        rows.append(
            (
                f"R² of x(t), {method}",
                _stats(chosen["r2_trajectory"]),
                "the ODE solved from each sample's first observed state, against the whole observed trajectory: "
                "do small derivative errors add up?",
            )
        )
        rows.append(
            (
                f"R² of x(t) per sample, {method}",
                _stats(chosen["r2_trajectory_sample"]),
                "the same with a sample's components together (each centred on its own mean)",
            )
        )
        if highlight is not None:
            r2 = chosen["r2_trajectory"]
            rows.append(
                (
                    f"R² of x(t), {highlight_label} components, {method}",
                    _stats(r2.where(highlight).values),
                    f"the trajectory R² of the {highlight_label} components only (shaded in the panels)",
                )
            )
            rows.append(
                (
                    f"R² of x(t), other components, {method}",
                    _stats(r2.where(~highlight).values),
                    f"the trajectory R² of the components that are not {highlight_label}",
                )
            )
        if "r2_forecast" in comparison:
            note = comparison.attrs.get("forecast_note")
            rows.append(
                (
                    f"out-of-sample RMSE / range of x(t) after {time} {split:g}, {method}",
                    _stats(chosen["nrmse_forecast"]),
                    f"refitted on {time} <= {split:g} only, solved, scored on the held-out rest: the RMSE over the "
                    "component's range in the window (0.01 = an error of 1% of the range)",
                )
            )
            meaning = (
                "R² on the held-out rest alone: it divides by that short tail's own variance, so a tail that is "
                "nearly a plateau makes even a tiny error a very negative R²; read it beside RMSE / range"
            )
            if np.isfinite(share):
                meaning += f" (here the held-out tail spans a median {share:.1%} of a component's range)"
            rows.append(
                (
                    f"out-of-sample R² of x(t) after {time} {split:g}, {method}",
                    _stats(chosen["r2_forecast"]) + (f" ({note})" if note else ""),
                    meaning,
                )
            )
        rows.append(
            (
                f"diverged samples, {method}",
                f"{int(chosen['diverged'].sum())} of {n_samples}",
                "solutions that became NaN or infinite within the window",
            )
        )
    rows.append(
        (
            "sparsity (fraction of zero coefficients)",
            _stats(fit.sparsity),
            "the share of library terms set exactly to 0 (lasso and SINDy prune; least squares keeps all)",
        )
    )
    if fit.is_affine:
        stable = fit.stable
        rows.append(
            (
                "stable A (all Re λ < 0)",
                f"{int(stable.sum())} of {stable.size}",
                "samples whose solution settles instead of growing without bound",
            )
        )
        rows.append(
            (
                "max Re λ of A",
                _stats(fit.eigenvalues.real.max("eigenvalue")),
                f"the slowest mode's rate per {time} (> 0: it grows); 1 / |rate| is the longest time scale",
            )
        )
        rows.append(
            (
                "condition number of A",
                _stats(fit.condition),
                "how near A is to singular: large means some combinations of components are barely pinned down by "
                "the data (inf: singular, as when lasso zeroes a whole row)",
            )
        )
    return rows


def _column_names(fits) -> list[str]:
    names = [fit.model for fit in fits]
    return [name if names.count(name) == 1 else f"{name} ({k + 1})" for k, name in enumerate(names)]


def models_table(fits, comparisons, *, highlight=None, highlight_label: str = "highlighted") -> Table:
    """Every fit's :func:`summary_rows` side by side: one row per quantity, one column per model."""
    merged: dict[str, tuple[str, dict[int, str]]] = {}
    for index, (fit, comparison) in enumerate(zip(fits, comparisons, strict=True)):
        for name, value, meaning in summary_rows(fit, comparison, highlight=highlight, highlight_label=highlight_label):
            merged.setdefault(name, (meaning, {}))[1][index] = value
    rows = [[name, *(values.get(k, "-") for k in range(len(fits)))] for name, (_, values) in merged.items()]
    return Table(
        "Models side by side (all samples: median [min, max])",
        ["quantity", *_column_names(fits)],
        rows,
        [meaning for meaning, _ in merged.values()],
    )


def _fit_provenance(fits) -> list[list[str]]:
    """Each fit's options and when it was fitted, as provenance rows."""
    rows = []
    for fit, column in zip(fits, _column_names(fits), strict=True):
        stored = fit.to_dataset().attrs
        rows.append([f"fit options, {column}", json.dumps(fit.fit_options, default=repr, sort_keys=True)])
        if "created" in stored:
            rows.append([f"fitted, {column}", f"{stored['created']} with {stored.get('versions', '?')}"])
    return rows


def _sample_names(observed: xr.DataArray, sample_dims: list[str]) -> str:
    return ", ".join(f"{d}={observed[d].values.item()}" if d in observed.coords else f"{d} {0}" for d in sample_dims)


def report_samples(
    data: xr.Dataset | xr.DataArray,
    samples,
    *,
    variable: str | None = None,
    time: str | None = None,
    component: str | None = None,
) -> list[dict[str, int]]:
    """Which samples a report draws, as positions ``{dim: index}``.

    Arguments:
        data: the trajectories (a Dataset, read with ``variable``, or a DataArray).
        samples: None for up to :data:`DEFAULT_DRAWN` samples spread evenly over all (the first and the last
            among them); an int or a sequence of ints, positions along the samples (along the
            one sample dimension; in row-major order over several); strings ``"dim=value"`` (``"run=3"``) select
            by coordinate value, and digit strings (``"2"``, as a command line gives them) are positions; a dict
            ``{dim: value}`` is one sample by coordinate values.
        variable, time, component: how to read ``data``, as in :func:`dynamics.fit`.

    Returns:
        The samples, in the order given, without repeats.

    Raises:
        InputError: a position out of range, an unknown dimension or coordinate value, a string that is neither,
            more than ``MAX_DRAWN`` samples, or a sample dimension that is empty.
    """
    da = select_variable(data, variable)
    time, component = infer_dims(da, time, component)
    sample_dims = [str(d) for d in da.dims if d not in (time, component)]
    sizes = [da.sizes[d] for d in sample_dims]
    total = int(np.prod(sizes)) if sizes else 1
    if total == 0:
        raise InputError(f"the data have no samples (sizes {dict(zip(sample_dims, sizes, strict=True))})")
    where = ", ".join(f"{d} 0..{n - 1}" for d, n in zip(sample_dims, sizes, strict=True)) or "only one"
    if samples is None:
        # evenly spaced positions: the first and the last sample, and some between
        positions = np.unique(np.linspace(0, total - 1, min(total, DEFAULT_DRAWN)).round().astype(int))
        return [
            {d: int(i) for d, i in zip(sample_dims, np.unravel_index(int(p), sizes) if sizes else (), strict=True)}
            for p in positions
        ]
    if isinstance(samples, (int, np.integer, str, dict)):
        samples = [samples]
    picked: list[dict[str, int]] = []
    for item in samples:
        if isinstance(item, str) and item.strip().lstrip("-").isdigit():
            item = int(item)
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not 0 <= item < total:
                raise InputError(f"sample {item} is out of range: the data have {total} sample(s) ({where})")
            index = np.unravel_index(int(item), sizes) if sizes else ()
            picked.append({d: int(i) for d, i in zip(sample_dims, index, strict=True)})
            continue
        if isinstance(item, str):
            if "=" not in item:
                raise InputError(f"sample {item!r} is neither a position (0, 1, ...) nor dim=value (such as run=3)")
            name, _, text = item.partition("=")
            labels = {name.strip(): text.strip()}
        elif isinstance(item, dict):
            labels = dict(item)
        else:
            raise InputError(f"sample {item!r} is neither a position, dim=value nor a dict {{dim: value}}")
        position = {d: 0 for d in sample_dims}
        for name, value in labels.items():
            if name not in sample_dims:
                raise InputError(
                    f"sample {item!r}: {name!r} is not a sample dimension of the data (they are "
                    f"{', '.join(sample_dims) or 'none'})"
                )
            coordinate = da[name].values if name in da.coords else np.arange(da.sizes[name])
            matches = [k for k, c in enumerate(coordinate) if str(c) == str(value) or c == value]
            if not matches:
                shown = ", ".join(map(str, coordinate[:10])) + (", ..." if coordinate.size > 10 else "")
                raise InputError(f"sample {item!r}: {name} has no value {value!r} (it holds {shown})")
            position[name] = matches[0]
        picked.append(position)
    picked = [dict(p) for p in dict.fromkeys(tuple(p.items()) for p in picked)]
    if len(picked) > MAX_DRAWN:
        raise InputError(
            f"{len(picked)} samples to draw: at most {MAX_DRAWN} (the summary tables and R² figure cover all of them)"
        )
    return picked


def _aligned_highlight(highlight, comparison: xr.Dataset, component: str):
    """``highlight`` on the comparison's samples and components (by coordinate value), False where it has none."""
    if highlight is None:
        return None
    if not isinstance(highlight, xr.DataArray) or component not in highlight.dims:
        raise InputError(
            f"highlight must be a boolean DataArray with the component dimension {component!r} (and optionally the "
            "sample dimensions), such as training.survivors(data)"
        )
    target = comparison["r2_trajectory"].sel({SOLUTION: plots.solution_methods(comparison)[0]}, drop=True)
    extra = [d for d in highlight.dims if d not in target.dims]
    if extra:
        raise InputError(f"highlight has dimension(s) {extra} that the data lack (dims {tuple(target.dims)})")
    index = {d: target[d].values for d in highlight.dims if d in target.coords}
    aligned = highlight.astype(bool).reindex(index, fill_value=False) if index else highlight.astype(bool)
    return aligned.broadcast_like(target).transpose(*target.dims)


def _intervals(fit, level: float = 0.95):
    """``fit.confidence(level=...)`` when the fit was bootstrapped and offers intervals; None otherwise."""
    if not hasattr(fit, "confidence"):
        return None
    bootstrapped = getattr(fit, "bootstrap_coefficients", None) is not None or fit.fit_options.get("bootstrap")
    if not bootstrapped:
        return None
    try:
        intervals = fit.confidence(level=level)
    except InputError:
        return None
    if not isinstance(intervals, xr.Dataset) or not {"low", "high"} <= set(intervals.data_vars):
        return None
    return intervals


def coefficient_table(fit, column: str, *, drawn: list[dict], intervals, count: int = 12) -> Table:
    """The ``count`` largest coefficients over all samples: median, range, in how many samples each is positive,
    negative or zero, and the first drawn sample's interval when the fit was bootstrapped."""
    coefficients = fit.coefficients
    header = ["coefficient", "median", "[min, max]", "samples + / − / 0"]
    if intervals is not None:
        header.append(f"{intervals.attrs.get('level', 0.95):.0%} interval, first drawn sample")
    rows = []
    # the constant term apart: it is often decades larger than the rest and would fill the table
    chosen = plots.largest_coefficients(fit, count // 3, constant=True)
    chosen += plots.largest_coefficients(fit, count - len(chosen), constant=False)
    for i, j in chosen:
        values = coefficients.isel(target=i, term=j).values.ravel()
        finite = values[np.isfinite(values)]
        median = float(np.median(finite)) if finite.size else float("nan")
        # counts rather than agreement with the median: a pruned coefficient's median is often 0 itself
        signs = f"{int((finite > 0).sum())} / {int((finite < 0).sum())} / {int((finite == 0).sum())}"
        row = [
            plots.coefficient_name(fit, i, j),
            f"{median:.4g}",
            f"[{finite.min():.4g}, {finite.max():.4g}]",
            signs,
        ]
        if intervals is not None:
            low = float(plots.pick(intervals["low"], drawn[0]).isel(target=i, term=j))
            high = float(plots.pick(intervals["high"], drawn[0]).isel(target=i, term=j))
            row.append(f"[{low:.4g}, {high:.4g}]")
        rows.append(row)
    return Table(
        f"Coefficients of {column} across samples (the largest by median |value|, the constant term apart)",
        header,
        rows,
        note="one pooled ODE: a single value per coefficient" if fit.pooled else "",
    )


def _page_order(tables: dict, figures: list) -> list:
    """The page's blocks in reading order: the first figure at once, then the models table, the other figures, the
    per-sample and coefficient tables; :func:`dynamics.page.write_page` puts the provenance (long) last."""
    first, rest = figures[:1], figures[1:]
    return [*first, tables["models"], *rest, tables["samples"], *tables["coefficients"]]


def _samples_table(fits, comparisons, drawn, observed, sample_dims, highlight, highlight_label) -> Table:
    """One row per drawn sample: its highlighted components and each model's trajectory R²."""
    columns = _column_names(fits)
    component = fits[0].component
    header = ["sample"] + ([f"{highlight_label} components"] if highlight is not None else [])
    for column, comparison in zip(columns, comparisons, strict=True):
        header += [f"R² of x(t), {column} ({m})" for m in plots.solution_methods(comparison)]
    rows = []
    for sample in drawn:
        row = [_sample_names(plots.pick(observed, sample), sample_dims) or "the only sample"]
        if highlight is not None:
            marked = plots.pick(highlight, sample)
            row.append(", ".join(str(c) for c in marked[component].values[marked.values]) or "none")
        for comparison in comparisons:
            for method in plots.solution_methods(comparison):
                value = plots.pick(comparison["r2_trajectory_sample"].sel({SOLUTION: method}), sample)
                row.append(f"{float(value):.4f}")
        rows.append(row)
    return Table(
        "Samples drawn",
        header,
        rows,
        note=f"the trajectory panels below show these samples; {highlight_label} components are shaded there"
        if highlight is not None
        else "the trajectory panels below show these samples",
    )


def write_report(
    fits: Sequence[FittedODE],
    path: str | os.PathLike,
    *,
    data=None,
    samples=None,
    sample: dict | None = None,
    highlight: xr.DataArray | None = None,
    highlight_label: str = "highlighted",
    methods: str | Solver | Sequence[str | Solver] | None = None,
    holdout: float = 0.25,
    title: str | None = None,
    source: str | os.PathLike | None = None,
    command: str | None = None,
    **options,
) -> dict[str, Path]:
    """Compare each fit with the data and write ``report.html``, ``report.md`` and ``figures/*.png``.

    Arguments:
        fits: fitted ODEs of the same data (for example ``linear`` and ``lasso``).
        path: the report folder; created if missing (its parent must exist).
        data: the trajectories; the fitted data when omitted and the fits were made in this session. A run
            dataset's training curves (``train_loss``, ``test_loss``, ``train_acc``, ``test_acc``) are drawn too,
            and its ``config``, ``command`` and ``versions`` attributes go into the provenance.
        samples: which samples to draw (trajectories, forecast, coefficients); see :func:`report_samples`. The
            first by default; the tables and the R² figure always cover every sample.
        sample: one sample as positions ``{dim: index}`` (the older spelling of ``samples``).
        highlight: a boolean DataArray over components (and optionally samples), such as
            ``training.survivors(data)``: those panels are shaded and named, and the tables score them apart.
        highlight_label: what a highlighted component is (``"survivor"``).
        methods: solution methods for every fit, names or solver objects such as :class:`dynamics.Diffrax`
            ``(rtol=1e-6)`` (see :func:`dynamics.compare`).
        holdout: the fraction held out for the out-of-sample score and the forecast figure.
        title: the page title.
        source: the data file, for the provenance; the data's ``source`` encoding when omitted.
        command: the command that made the report, for the provenance.
        **options: passed to :meth:`FittedODE.simulate`.

    Returns:
        The written files by name: ``html``, ``markdown`` and one entry per figure.

    Raises:
        InputError: no fits, fits of different data layouts, a report folder whose parent is missing, bad
            samples, a highlight without the component dimension, or bad comparison arguments.
    """
    fits = list(fits)
    if not fits:
        raise InputError("write_report needs at least one fit")
    if len({(f.time, f.component) for f in fits}) != 1:
        raise InputError("the fits in one report must use the same time and component dimensions")
    if sample is not None and samples is not None:
        raise InputError("give samples= or sample=, not both")
    folder = output_folder(path, create=False)
    time, component = fits[0].time, fits[0].component
    comparisons = [compare(fit, data, methods=methods, holdout=holdout, **options) for fit in fits]
    observed = comparisons[0][OBSERVED]
    sample_dims = [str(d) for d in observed.dims if d not in (time, component)]
    if sample is not None:
        unknown = [d for d in sample if d not in sample_dims]
        if unknown:
            raise InputError(f"sample {sample!r}: {unknown} not among the sample dimensions {sample_dims}")
        drawn = [{d: 0 for d in sample_dims} | {d: int(i) for d, i in sample.items()}]
        outside = [d for d in sample_dims if not 0 <= drawn[0][d] < observed.sizes[d]]
        if outside:
            raise InputError(f"sample {sample!r}: {outside[0]} has positions 0..{observed.sizes[outside[0]] - 1}")
    else:
        drawn = report_samples(observed, samples, time=time, component=component)
    highlight = _aligned_highlight(highlight, comparisons[0], component)
    output_folder(output_folder(folder) / "figures")

    variable = fits[0].variable or (str(data.name) if isinstance(data, xr.DataArray) and data.name else "x")
    description = data[variable].attrs.get("description") if isinstance(data, xr.Dataset) and variable in data else None
    ylabel = variable + (f": {description}" if description and len(description) < 60 else "")
    figures: dict[str, tuple[bytes, str]] = {}
    training = plots.figure_training(
        data,
        sample_dims=sample_dims,
        drawn=drawn,
        time=time,
        window=(float(observed[time][0]), float(observed[time][-1])),
    )
    if training is not None:
        figures["training curves"] = (
            training,
            "loss and accuracy of every sample over training; the drawn samples in colour, the fitted window shaded",
        )
    styles = {"component": component, "time": time, "ylabel": ylabel, "highlight_label": highlight_label}
    for sample_ in drawn:
        name = _sample_names(plots.pick(observed, sample_), sample_dims) or "the only sample"
        marked = None if highlight is None else plots.pick(highlight, sample_).values
        figures[f"trajectories ({name})"] = (
            plots.figure_trajectories(fits, comparisons, sample_, highlight=marked, **styles),
            "observed (wide grey) and each model solved from the first observed state (coloured, drawn over it)"
            + (f"; {highlight_label} components shaded" if marked is not None and marked.any() else ""),
        )
        forecast = plots.figure_forecast(fits, comparisons, sample_, highlight=marked, **styles)
        if forecast is not None:
            figures[f"held-out forecast ({name})"] = (
                forecast,
                f"each model refitted on the first {1 - holdout:.0%} of the window and solved over all of it: the "
                "blue end is what it never saw, where the table's out-of-sample scores are measured",
            )
    figures["R² per component and per sample"] = (
        plots.figure_r2(fits, comparisons, component=component),
        "left: each component's R² (median, bars from min to max over samples); right: one point per sample",
    )
    columns = _column_names(fits)
    intervals = {column: _intervals(fit) for fit, column in zip(fits, columns, strict=True)}
    for fit, column in zip(fits, columns, strict=True):
        spread = plots.figure_coefficient_spread(fit, drawn=drawn, intervals=intervals[column])
        if spread is not None:
            figures[f"coefficients of {column} across samples"] = (
                spread,
                "the largest coefficients by median |value|: every sample grey, the median a black tick, the drawn "
                "samples in colour" + (", bootstrap intervals as bars" if intervals[column] is not None else ""),
            )
    for fit, column in zip(fits, columns, strict=True):
        for sample_ in drawn:
            name = _sample_names(plots.pick(observed, sample_), sample_dims) or "the only sample"
            figures[f"coefficients of {column} ({name})"] = (
                plots.figure_coefficients(fit, sample_),
                "this sample's coefficient of each source (column) in each target's equation (row), red positive, "
                "blue negative" + ("; b on its own colour scale" if fit.is_affine else ""),
            )
    eigen = plots.figure_eigenvalues(fits)
    if eigen is not None:
        figures["eigenvalues of A"] = (eigen, "every sample's eigenvalues; right of the dashed line grows")

    title = title or f"Fitted ODEs: {', '.join(fit.model for fit in fits)}"
    tables = {
        "models": models_table(fits, comparisons, highlight=highlight, highlight_label=highlight_label),
        "samples": _samples_table(fits, comparisons, drawn, observed, sample_dims, highlight, highlight_label),
        "coefficients": [
            coefficient_table(fit, column, drawn=drawn, intervals=intervals[column])
            for fit, column in zip(fits, columns, strict=True)
        ],
    }
    shown = [Figure(name, png, caption) for name, (png, caption) in figures.items()]
    return write_page(
        folder,
        _page_order(tables, shown),
        title=title,
        command=command or "dynamics.write_report (from Python)",
        data=data,
        source=source or ("the fitted data, in memory" if data is None else None),
        extra_rows=_fit_provenance(fits),
        packages=PACKAGES,
    )
