"""The measures' report: a page of a run dataset's or a sweep's measures, in the layout of the fits' report.

A run's page shows its training curves with the memorisation and generalisation steps marked
(:func:`training.analysis.transitions.learning_times`), the restricted and excluded loss beside the full loss
(Nanda et al. 2023, recorded by :func:`training.train`), each site's spectrum sparsity over training
(:func:`~training.analysis.transitions.spectrum_sparsity`) and each component's death step
(:func:`~training.analysis.transitions.death_steps`), then a table per run. A sweep's page shows the phase
diagram of one summary value over two swept fields (:func:`training.analysis.phases.phase_diagram`) and, when asked,
its power-law fit (:func:`~training.analysis.phases.fit_power_law`). Both are written by
:func:`dynamics.write_page`, the one page layout of the toolkit.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from dynamics.page import Figure, Table, png, write_page
from fittest.atomic import output_folder
from fittest.errors import InputError
from training.analysis.phases import fit_power_law, phase_diagram
from training.analysis.transitions import death_steps, learning_times, spectrum_sparsity
from training.rundata import sites_of

__all__ = ["write_run_report", "write_sweep_report"]

PACKAGES = ("fittest", "numpy", "xarray", "matplotlib")
TRANSITION_STYLE = {"memorisation": ("#1f77b4", "--"), "generalisation": ("#d62728", "-.")}
# the full loss last and dashed: where no component is key the excluded loss equals it and would hide it
LOSSES = (("restricted_loss", "restricted", "#2ca02c", "-"), ("excluded_loss", "excluded", "#9467bd", "-"))
LOSSES += (("train_loss", "full (train) loss", "#333333", "--"),)


def _figure(rows: int = 1, columns: int = 1, *, width: float = 5.2, height: float = 3.6):
    # a bare Figure, not pyplot: drawing a report never switches the caller's backend (a notebook's, say)
    from matplotlib.figure import Figure as MplFigure

    figure = MplFigure(figsize=(width * columns, height * rows), layout="constrained")
    return figure, figure.subplots(rows, columns, squeeze=False)


def _step_axis(ax, steps: np.ndarray) -> None:
    """A log-like step axis when the record spans two decades or more (0 stays on it, linearly)."""
    positive = steps[steps > 0]
    if positive.size and steps.max() / positive.min() >= 100:
        ax.set_xscale("symlog", linthresh=float(positive.min()), linscale=0.3)
    ax.set_xlim(float(steps.min()), float(steps.max()))  # symlog's margins would reach into negative steps
    ax.set_xlabel("step")


def _mark_transitions(ax, times: xr.Dataset, *, label: bool) -> None:
    """Vertical lines at the median memorisation and generalisation steps over the runs."""
    for name, (color, style) in TRANSITION_STYLE.items():
        values = times[f"{name}_step"].values
        finite = values[np.isfinite(values)]
        if finite.size:
            median = float(np.median(finite))
            text = f"{name}, median step {median:g} ({finite.size} of {values.size} runs)" if label else None
            ax.axvline(median, color=color, ls=style, lw=1.2, label=text, zorder=0)


def _runs(da: xr.DataArray) -> list[xr.DataArray]:
    rest = [d for d in da.dims if d != "step"]
    stacked = da.stack(_run=rest) if rest else da.expand_dims(_run=[0])
    return [stacked.isel(_run=k) for k in range(stacked.sizes["_run"])]


def _curves(ax, da: xr.DataArray, *, color: str, label: str, log: bool, style: str = "-") -> None:
    """Each run thin, the median over runs bold."""
    steps = da["step"].values
    for run in _runs(da):
        ax.plot(steps, run.values, color=color, lw=0.6, alpha=0.35, ls=style)
    median = da.median([d for d in da.dims if d != "step"]) if da.ndim > 1 else da
    ax.plot(steps, median.values, color=color, lw=1.8, label=label, ls=style)
    if log and bool((da > 0).any()):
        ax.set_yscale("log")


def training_curves(ds: xr.Dataset, times: xr.Dataset) -> Figure | None:
    """Train and test loss (log) and accuracy over steps, the transitions marked: each run's on its accuracy curve,
    the median over runs as a vertical line."""
    if not {"train_loss", "test_loss", "train_acc", "test_acc"} <= set(ds.data_vars):
        return None
    figure, axes = _figure(1, 2)
    for ax, (train, test, what, log) in zip(
        axes[0], (("train_loss", "test_loss", "loss", True), ("train_acc", "test_acc", "accuracy", False)), strict=True
    ):
        _curves(ax, ds[train], color="#1f77b4", label=f"train {what}", log=log)
        _curves(ax, ds[test], color="#d62728", label=f"test {what}", log=log)
        _mark_transitions(ax, times, label=not log)
        _step_axis(ax, ds["step"].values)
        ax.set_ylabel(what)
    accuracy = axes[0, 1]
    for name, variable in (("memorisation", "train_acc"), ("generalisation", "test_acc")):
        steps = times[f"{name}_step"].values
        reached = np.flatnonzero(np.isfinite(steps))
        values = [float(ds[variable].isel(run=k).sel(step=steps[k])) for k in reached]
        accuracy.scatter(steps[reached], values, color=TRANSITION_STYLE[name][0], s=18, zorder=4)
    accuracy.legend(fontsize=7, loc="lower right")
    axes[0, 0].legend(fontsize=7)
    caption = (
        f"every run thin, the median bold; dots mark each run's memorisation (train accuracy >= "
        f"{times.attrs['train_threshold']:g}) and generalisation (test accuracy >= {times.attrs['test_threshold']:g}),"
        " the vertical lines their median over runs"
    )
    return Figure("training curves", png(figure), caption)


def progress_curves(ds: xr.Dataset, times: xr.Dataset) -> Figure | None:
    """The restricted and excluded loss beside the full train loss (log), the transitions marked."""
    present = [entry for entry in LOSSES if entry[0] in ds.data_vars]
    if len(present) < 2:
        return None
    figure, axes = _figure(1, 1, width=7.0)
    ax = axes[0, 0]
    for name, label, color, style in present:
        _curves(ax, ds[name], color=color, label=label, log=True, style=style)
    _mark_transitions(ax, times, label=True)
    _step_axis(ax, ds["step"].values)
    ax.set_ylabel("cross-entropy on the training pairs")
    ax.legend(fontsize=7)
    caption = (
        "restricted: the logits projected onto the key components (those of the unembedding's spectrum above twice "
        "the mean amplitude); excluded: the logits without them. The restricted loss falls as the key components "
        "carry the answer; the excluded loss rises as the memorising rest is cleaned up"
    )
    return Figure("restricted and excluded loss", png(figure), caption)


def _site_signals(ds: xr.Dataset) -> dict[str, tuple[str, str, str | None]]:
    """site -> (its power variable, its component dim, its unit dim), for the sites with a recorded power."""
    out = {}
    for site, info in sites_of(ds).items():
        powers = [
            name
            for name in info.get("variables", [])
            if name.endswith("signal") and not name.startswith("grad") and name in ds.data_vars
        ]
        if powers and "step" in ds[powers[0]].dims:
            out[site] = (powers[0], info["component"], info.get("unit"))
    return out


def sparsity_curves(ds: xr.Dataset, times: xr.Dataset, *, measure: str = "gini") -> Figure | None:
    """Each site's spectrum sparsity over steps (a per-unit site's averaged over its units)."""
    signals = _site_signals(ds)
    if not signals:
        return None
    figure, axes = _figure(1, len(signals), width=4.4)
    for ax, (site, (variable, component, unit)) in zip(axes[0], signals.items(), strict=True):
        sparsity = spectrum_sparsity(ds, variable=variable, measure=measure, component=component)
        if unit is not None and unit in sparsity.dims:
            sparsity = sparsity.mean(unit)
        _curves(ax, sparsity, color="#8c564b", label=f"{measure} of {variable}", log=False)
        _mark_transitions(ax, times, label=False)
        _step_axis(ax, ds["step"].values)
        ax.set_title(site + (f" (mean over {unit})" if unit is not None else ""), fontsize=9)
        ax.set_ylabel(measure)
    caption = (
        "how concentrated each site's spectrum is on few components (Gini: 0 flat, near 1 one component); every "
        "run thin, the median bold, the median transitions as vertical lines"
    )
    return Figure("spectrum sparsity", png(figure), caption)


def _deaths(ds: xr.Dataset) -> dict[str, xr.DataArray]:
    """site -> each (run, component)'s death step, for the sites without units (one spectrum per run)."""
    out = {}
    for site, (variable, component, unit) in _site_signals(ds).items():
        if unit is not None:
            continue
        amplitude = variable[: -len("signal")] + "amplitude"
        out[site] = death_steps(ds, variable=amplitude, component=component)
    return out


def death_figure(deaths: dict[str, xr.DataArray], last_step: float) -> Figure | None:
    """Each component's death step per run, one panel per site; a component alive at the end is blank."""
    if not deaths:
        return None
    figure, axes = _figure(1, len(deaths), width=4.4, height=0.35 * max(d.sizes["run"] for d in deaths.values()) + 2)
    for ax, (site, died) in zip(axes[0], deaths.items(), strict=True):
        component = died.attrs["component"]
        grid = died.transpose("run", component)
        image = ax.imshow(grid.values, aspect="auto", interpolation="nearest", vmin=0, vmax=last_step, cmap="viridis_r")
        ax.set_xticks(range(grid.sizes[component]), [str(v) for v in grid[component].values], fontsize=7)
        ax.set_yticks(range(grid.sizes["run"]), [str(v) for v in grid["run"].values], fontsize=7)
        ax.set_xlabel(component)
        ax.set_ylabel("run")
        ax.set_title(f"{site}: death step (blank: alive at the end)", fontsize=9)
        figure.colorbar(image, ax=ax, label="step")
    caption = (
        "the first recorded step from which a component is never again a survivor (the relative rule of "
        "training.survivors at every record); a component dead from the first record shows 0"
    )
    return Figure("death steps", png(figure), caption)


def _number(value) -> str:
    value = float(value)
    return "never" if not np.isfinite(value) else f"{value:g}"


def run_table(ds: xr.Dataset, times: xr.Dataset, deaths: dict[str, xr.DataArray]) -> Table:
    """One row per run: its transitions, its final losses and accuracies and its dead components per site."""
    finals = [
        name for name in ("train_acc", "test_acc", "train_loss", "restricted_loss", "excluded_loss") if name in ds
    ]
    header = ["run", "memorisation step", "generalisation step", "gap"]
    header += [f"final {name}" for name in finals] + [f"dead {site} components" for site in deaths]
    rows = []
    for k, run in enumerate(ds["run"].values):
        row = [str(run)] + [_number(times[name].values[k]) for name in ("memorisation_step", "generalisation_step")]
        row.append(_number(times["transition_gap"].values[k]))
        row += [f"{float(ds[name].isel(run=k, step=-1)):.4g}" for name in finals]
        for died in deaths.values():
            values = died.isel(run=k).values
            row.append(f"{int(np.isfinite(values).sum())} of {values.size}")
        rows.append(row)
    return Table("Runs", header, rows, note="never: the run did not reach the threshold by its last record")


def write_run_report(
    ds: xr.Dataset,
    path: str | os.PathLike,
    *,
    train_threshold: float = 0.99,
    test_threshold: float = 0.99,
    title: str | None = None,
    source: str | os.PathLike | None = None,
    command: str | None = None,
) -> dict[str, Path]:
    """Write the measures of one run dataset as a page: ``report.html``, ``report.md`` and ``figures/*.png``.

    Arguments:
        ds: a run dataset (:func:`training.train`, ``fittest train``, :class:`training.Recorder`) with the train and
            test loss and accuracy over ``step``.
        path: the report folder; created if missing (its parent must exist).
        train_threshold: the train accuracy that counts as memorised (:func:`training.learning_times`).
        test_threshold: the test accuracy that counts as generalised.
        title: the page's title.
        source: the data file, for the provenance.
        command: what made the report, for the provenance.

    Returns:
        The written files: one entry per figure, ``markdown`` and ``html``.

    Raises:
        InputError: no train or test accuracy over ``step``, a threshold outside ``(0, 1]``, or a folder that cannot
            be made or written.
    """
    output_folder(path, create=False)
    times = learning_times(ds, train_threshold=train_threshold, test_threshold=test_threshold)
    deaths = _deaths(ds)
    blocks: list = [
        training_curves(ds, times),
        progress_curves(ds, times),
        run_table(ds, times, deaths),
        sparsity_curves(ds, times),
        death_figure(deaths, float(ds["step"].values[-1])),
    ]
    return write_page(
        path,
        [block for block in blocks if block is not None],
        title=title or f"Measures of {ds.sizes.get('run', 1)} run(s), {ds.attrs.get('architecture', 'a model')}",
        command=command or "training.write_run_report (from Python)",
        data=ds,
        source=source,
        packages=PACKAGES,
    )


def _fields(summary: xr.Dataset, value: str | None, x: str | None, y: str | None) -> tuple[str, str, str]:
    """The value and the two swept fields, by default the generalisation step over the sweep's two fields."""
    value = value or "generalisation_step"
    if value not in summary.data_vars:
        raise InputError(f"the sweep's summary has no value {value!r}; choose one of {', '.join(map(str, summary))}")
    swept = [str(d) for d in summary[value].dims if d != "replicate"]
    if x is None and y is None:
        if len(swept) != 2:
            raise InputError(
                f"the sweep varies {len(swept)} field(s) ({', '.join(swept) or 'none'}): name the two swept fields "
                "of the phase diagram as x and y"
            )
        x, y = swept
    elif x is None or y is None:
        raise InputError("name both swept fields of the phase diagram, x and y, or neither")
    for field in (x, y):
        if field not in swept:
            raise InputError(f"{field!r} is not a swept field of this sweep; it varies {', '.join(swept)}")
    if x == y:
        raise InputError(f"the phase diagram needs two different fields, got {x!r} twice")
    return value, x, y


def _power_law_axis(summary: xr.Dataset, against: str, x: str, y: str) -> tuple[xr.DataArray, str]:
    """The quantity a power law is fitted against: a swept field, or the product ``x*y`` of the two."""
    product = {f"{x}*{y}", f"{y}*{x}"}
    if against in product:
        return summary[x] * summary[y], f"{x} x {y}"
    if against in (x, y):
        return summary[against], against
    raise InputError(f"power_law must be {x!r}, {y!r} or '{x}*{y}' (their product), got {against!r}")


def power_law_figure(summary: xr.Dataset, value: str, against: str, x: str, y: str) -> tuple[Figure, Table]:
    """``value`` against a swept field (or the product of the two) on log-log axes, with its power-law fit."""
    axis, label = _power_law_axis(summary, against, x, y)
    values, axis = xr.broadcast(summary[value], axis)
    law = fit_power_law(axis.values, values.values)
    figure, axes = _figure(1, 1)
    ax = axes[0, 0]
    shown = np.isfinite(values.values) & (values.values > 0)
    ax.scatter(axis.values[shown], values.values[shown], s=16, color="#1f77b4", label="runs")
    grid = np.geomspace(np.nanmin(axis.values[shown]), np.nanmax(axis.values[shown]), 50)
    ax.plot(
        grid, law(grid), color="#d62728", label=f"{law.prefactor:.3g} x^({law.exponent:.3f} ± {law.exponent_se:.3f})"
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(label)
    ax.set_ylabel(value)
    ax.legend(fontsize=8)
    left_out = int(values.size - law.n)
    caption = f"least squares on log {value} against log {label}; {law.n} runs fitted" + (
        f", {left_out} left out (never reached, or not positive)" if left_out else ""
    )
    table = Table(
        f"Power law: {value} = c ({label})^a",
        ["quantity", "value"],
        [
            ["exponent a", f"{law.exponent:.4g} ± {law.exponent_se:.2g}"],
            ["prefactor c", f"{law.prefactor:.4g} ± {law.prefactor_se:.2g}"],
            ["runs fitted", f"{law.n} of {values.size}"],
        ],
        note="± one standard error; grokking time is reported to scale as (lr x weight decay)^-1",
    )
    return Figure(f"power law of {value}", png(figure), caption), table


def point_table(summary: xr.Dataset, value: str, x: str, y: str) -> Table:
    """One row per point of the grid: the value's median over the other dims and how many runs reached it."""
    da = summary[value]
    rest = [d for d in da.dims if d not in (x, y)]
    median = da.median(rest, skipna=True) if rest else da
    reached = da.notnull().sum(rest) if rest else da.notnull().astype(int)
    total = int(np.prod([da.sizes[d] for d in rest])) if rest else 1
    rows = []
    for xv in summary[x].values:
        for yv in summary[y].values:
            point = {x: xv, y: yv}
            rows.append(
                [f"{xv:g}" if isinstance(xv, float) else str(xv), f"{yv:g}" if isinstance(yv, float) else str(yv)]
                + [_number(median.sel(point)), f"{int(reached.sel(point))} of {total}"]
            )
    return Table(f"{value} per point", [x, y, f"median {value}", "runs with a value"], rows)


def write_sweep_report(
    summary: xr.Dataset,
    path: str | os.PathLike,
    *,
    value: str | None = None,
    x: str | None = None,
    y: str | None = None,
    power_law: str | bool | None = None,
    reduce: str = "median",
    title: str | None = None,
    source: str | os.PathLike | None = None,
    command: str | None = None,
) -> dict[str, Path]:
    """Write a sweep's phase diagram (and a power-law fit) as a page: ``report.html``, ``report.md``, ``figures/``.

    Arguments:
        summary: :func:`training.open_sweep`'s summary (one entry per run over the swept fields and ``replicate``).
        path: the report folder; created if missing (its parent must exist).
        value: the summary value to draw; ``generalisation_step`` by default.
        x, y: the two swept fields of the diagram; by default the sweep's two, when it varies exactly two.
        power_law: fit ``value = c * s ** a`` against ``s``: True for the product of the fields ``x`` and ``y`` (as
            ``"lr*weight_decay"``), one field's name (``"lr"``), or None for no fit.
        reduce: how the replicates of a point are reduced in the diagram (``mean``, ``median``, ``min``, ``max``).
        title: the page's title.
        source: the sweep store, for the provenance.
        command: what made the report, for the provenance.

    Returns:
        The written files: one entry per figure, ``markdown`` and ``html``.

    Raises:
        InputError: an unknown value or field, a sweep that does not vary exactly two fields without ``x`` and
            ``y``, a ``power_law`` that is not one of the fields or their product, too few runs for the fit, or a
            folder that cannot be made or written.
    """
    if not isinstance(summary, xr.Dataset):
        raise InputError(f"write_sweep_report() needs open_sweep's summary Dataset, got {type(summary).__name__}")
    output_folder(path, create=False)
    value, x, y = _fields(summary, value, x, y)
    figure, axes = _figure(1, 1)
    phase_diagram(summary, value, x=x, y=y, reduce=reduce, ax=axes[0, 0])
    blocks: list = [
        Figure(
            f"phase diagram of {value}",
            png(figure),
            f"{value} over {x} x {y}, the {reduce} over replicates; blank where no run reached it",
        )
    ]
    if power_law is not None and power_law is not False:
        against = f"{x}*{y}" if power_law is True else str(power_law)
        blocks += power_law_figure(summary, value, against, x, y)
    blocks.append(point_table(summary, value, x, y))
    counts = [
        [name, str(summary.attrs[name])] for name in ("tasks", "complete", "failed", "missing") if name in summary.attrs
    ]
    if counts:
        blocks.append(Table("Tasks of the sweep", ["state", "tasks"], counts))
    return write_page(
        path,
        blocks,
        title=title or f"Sweep: {value} over {x} x {y}",
        command=command or "training.write_sweep_report (from Python)",
        data=summary,
        source=source,
        packages=PACKAGES,
    )
