"""The measures' page (fittest report RUN.nc / SWEEP.zarr): its figures, its transition steps, the phase diagram and
power law of a sweep, and the command line's one-line refusals."""

from __future__ import annotations

import base64
import logging
import re

import numpy as np
import pytest
import xarray as xr

import dynamics
import training
from fittest.cli import main
from fittest.errors import InputError
from training.analysis.report import _mark_transitions

TINY = {"p": 11, "d": 8, "hidden": 16, "runs": 2, "steps": 150, "dense_until": 0, "record_every": 10}
MEMORISED, GENERALISED = 40, 120  # the synthetic accuracy curves cross 0.99 at these steps


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    """A tiny trained run whose accuracies are replaced by curves with known transitions."""
    ds = training.train(training.TrainConfig(**TINY, device="cpu"), progress=False)
    steps = ds["step"].values
    for name, at in (("train_acc", MEMORISED), ("test_acc", GENERALISED)):
        curve = np.where(steps >= at, 1.0, 0.5 * steps / at)
        ds[name] = ds[name].copy(data=np.tile(curve, (ds.sizes["run"], 1)).astype(ds[name].dtype))
    path = tmp_path_factory.mktemp("run") / "run.nc"
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def images(page: str) -> list[bytes]:
    return [base64.b64decode(found) for found in re.findall(r"src='data:image/png;base64,([^']+)'", page)]


def test_the_run_page_has_every_measure_and_the_known_transition_steps(run_file, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(run_file), "--out", str(out)]) == 0
    page, markdown = (out / "report.html").read_text(), (out / "report.md").read_text()
    names = re.findall(r"<section class='figure'><h2>([^<]+)</h2>", page)
    assert names == ["training curves", "restricted and excluded loss", "spectrum sparsity", "death steps"]
    shown = images(page)
    assert len(shown) == 4 and all(png[:8] == b"\x89PNG\r\n\x1a\n" for png in shown)
    assert len(list((out / "figures").glob("*.png"))) == 4
    rows = [line.split(" | ") for line in markdown.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) == 2
    for row in rows:  # memorisation, generalisation, their gap
        assert row[1:4] == [str(MEMORISED), str(GENERALISED), str(GENERALISED - MEMORISED)]
    # provenance: the file, the command as typed, the run's own configuration
    assert f"| data file | {run_file} |" in markdown and "| report made by | fittest report " in markdown
    assert "p=11" in markdown.split("## Provenance")[1]


def test_the_transitions_are_marked_at_their_median_step():
    from matplotlib.figure import Figure

    times = xr.Dataset(
        {
            "memorisation_step": ("run", [30.0, 50.0, np.nan]),
            "generalisation_step": ("run", [100.0, 300.0, 200.0]),
        }
    )
    ax = Figure().subplots()
    _mark_transitions(ax, times, label=True)
    marked = {line.get_label().split(",")[0]: line.get_xdata()[0] for line in ax.lines}
    assert marked == {"memorisation": 40.0, "generalisation": 200.0}
    assert "2 of 3 runs" in ax.lines[0].get_label()


def grid_summary(exponent: float = -1.0) -> xr.Dataset:
    """A sweep summary whose generalisation step is exactly 3 (lr * weight_decay) ** exponent; one run never."""
    lr, wd = np.array([1e-3, 3e-3, 1e-2]), np.array([0.1, 0.3, 1.0, 3.0])
    step = 3.0 * (lr[:, None, None] * wd[None, :, None]) ** exponent * np.ones((1, 1, 2))
    step[0, 0, 1] = np.nan
    coords = {"lr": lr, "weight_decay": wd, "replicate": [0, 1]}
    dims = ("lr", "weight_decay", "replicate")
    return xr.Dataset({"generalisation_step": (dims, step), "test_acc": (dims, np.ones_like(step))}, coords=coords)


def test_the_sweep_page_draws_the_phase_diagram_and_recovers_the_power_law(tmp_path):
    written = training.write_sweep_report(grid_summary(-1.0), tmp_path / "s", power_law=True)
    markdown = written["markdown"].read_text()
    assert list(written)[:2] == ["phase diagram of generalisation_step", "power law of generalisation_step"]
    exponent = next(line for line in markdown.splitlines() if line.startswith("| exponent a |"))
    assert exponent.split(" | ")[1].startswith("-1 ± ")
    assert "| runs fitted | 23 of 24 |" in markdown  # the run that never generalised is left out
    assert "| 0.001 | 0.1 | 30000 | 1 of 2 |" in markdown  # the point's median, and one of its runs without a value
    # one field alone: the exponent of lr at each weight decay is the same -1, and the table says against what
    markdown = training.write_sweep_report(grid_summary(-0.5), tmp_path / "t", power_law="lr")["markdown"].read_text()
    assert "(lr)^a" in markdown


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"value": "n_circles"}, "no value 'n_circles'"),
        ({"x": "lr"}, "name both swept fields"),
        ({"x": "lr", "y": "p"}, "'p' is not a swept field"),
        ({"power_law": "p"}, "power_law must be 'lr', 'weight_decay' or 'lr*weight_decay'"),
    ],
)
def test_the_sweep_page_refuses_what_it_cannot_draw(tmp_path, options, message):
    with pytest.raises(InputError, match=re.escape(message)):
        training.write_sweep_report(grid_summary(), tmp_path / "s", **options)
    assert not (tmp_path / "s").exists()


def test_a_sweep_of_three_fields_needs_the_two_named(tmp_path):
    summary = grid_summary().expand_dims(p=[7, 11]).transpose("p", ...)
    with pytest.raises(InputError, match="varies 3 field"):
        training.write_sweep_report(summary, tmp_path / "s")
    written = training.write_sweep_report(summary, tmp_path / "s", x="lr", y="weight_decay")
    assert "over lr x weight_decay, the median over replicates" in written["markdown"].read_text()


def test_fittest_report_of_a_sweep_store(tmp_path, capsys):
    import distributed

    base = training.TrainConfig(p=7, d=8, hidden=16, steps=40, runs=1, dense_until=5, record_every=5, device="cpu")
    configs = [base.replace(lr=lr, weight_decay=wd) for lr in (0.01, 0.03) for wd in (0.5, 1.0)]
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0", silence_logs=logging.CRITICAL
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        training.sweep(configs, store=tmp_path / "s.zarr", client=client)
    out = tmp_path / "report"
    argv = ["report", str(tmp_path / "s.zarr"), "--out", str(out), "--value", "train_loss", "--power-law"]
    assert main(argv) == 0
    markdown = (out / "report.md").read_text()
    assert "# Sweep: train_loss over lr x weight_decay" in markdown
    assert "| exponent a |" in markdown and "| complete | 1 |" in markdown
    capsys.readouterr()
    for extra, message in [
        (["--test-threshold", "0.9"], "--test-threshold applies to a run dataset"),
        (["--x", "lr", "--y", "seed"], "'seed' is not a swept field"),
    ]:
        assert main(["report", str(tmp_path / "s.zarr"), "--out", str(tmp_path / "bad"), *extra]) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error
    assert not (tmp_path / "bad").exists()


def test_fittest_report_says_in_one_line_what_the_input_is_not(run_file, tmp_path, capsys):
    plain = tmp_path / "plain.nc"
    xr.Dataset({"x": (("step",), np.arange(5.0))}).to_netcdf(plain, engine="h5netcdf")
    data = xr.Dataset(
        {"amplitude": (("run", "step", "frequency"), np.exp(-np.arange(40.0))[None, :, None] * np.ones((2, 1, 3)))},
        coords={"run": [0, 1], "step": np.arange(40), "frequency": [1, 2, 3]},
    )
    fit = tmp_path / "fit.nc"
    dynamics.fit(data, "linear").save(fit)
    out = str(tmp_path / "out")
    for argv, message in [
        ([str(fit), "--out", out], "is a saved fit: name the data it was fitted to with --data"),
        ([str(plain), "--out", out], "is neither a run dataset (fittest train) nor a sweep store"),
        ([str(run_file), str(run_file), "--out", out], "2 inputs without --data"),
        ([str(run_file), "--out", out, "--samples", "1"], "--samples applies to saved fits"),
        ([str(run_file), "--out", out, "--value", "n_circles"], "--value applies to a sweep store"),
        ([str(run_file), "--out", out, "--train-threshold", "1.5"], "--train-threshold must be an accuracy in (0, 1]"),
        ([str(run_file), "--data", str(run_file), "--out", out], "leave out --data to report its measures"),
        ([str(fit), "--data", str(plain), "--out", out, "--power-law"], "--power-law applies to a run dataset or a"),
        ([str(run_file), "--out", str(run_file)], "same path as the input"),
    ]:
        assert main(["report", *argv]) == 2, argv
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error
    assert not (tmp_path / "out").exists()
