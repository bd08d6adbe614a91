import base64
import glob
import re

import numpy as np
import pytest
import xarray as xr

import dynamics
from fittest.cli import main
from fittest.errors import InputError


def ensemble(runs=3, n=5, steps=60, seed=0):
    rng = np.random.default_rng(seed)
    A = -0.05 * np.eye(n) + 0.01 * rng.normal(size=(runs, n, n))
    b = 0.05 * rng.random((runs, n))
    x = np.empty((runs, steps, n))
    x[:, 0] = 1 + rng.random((runs, n))
    for k in range(steps - 1):
        x[:, k + 1] = x[:, k] + np.einsum("rij,rj->ri", A, x[:, k]) + b + 1e-3 * rng.normal(size=(runs, n))
    coords = {"run": np.arange(runs), "step": np.arange(steps), "frequency": np.arange(1, n + 1)}
    return xr.Dataset(
        {"amplitude": (("run", "step", "frequency"), x), "train_loss": (("run", "step"), x[..., 0])}, coords=coords
    )


def test_report_is_self_contained(tmp_path):
    data = ensemble()
    fits = [dynamics.fit(data, "linear"), dynamics.fit(data, "lasso", alpha=1e-4)]
    written = dynamics.write_report(fits, tmp_path / "report", methods=["analytic", "euler"])
    page = written["html"].read_text()
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    # by default every one of the 3 runs is drawn (up to 4): trajectories and held-out forecast of each, R², two
    # coefficient spreads, two coefficient maps of each run, eigenvalues
    assert len(images) == 3 * 2 + 1 + 2 + 2 * 3 + 1
    assert all(base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n" for image in images)
    assert figure_names(page)[:6:2] == ["trajectories (run=0)", "trajectories (run=1)", "trajectories (run=2)"]
    summary = written["markdown"].read_text()
    assert "| R² of dx/dt, fitted data" in summary and "sparsity" in summary and "stable A" in summary
    assert len(glob.glob(str(tmp_path / "report" / "figures" / "*.png"))) == len(images)
    # the first figure comes before any table, the long provenance after every figure
    for text in (page, summary):
        first_figure, first_table = text.index("trajectories (run=0)"), text.index("Models side by side")
        assert first_figure < first_table and text.rindex("eigenvalues of A") < text.index("Provenance")
    assert not glob.glob(str(tmp_path / "report" / "**" / "*.fittest-tmp"), recursive=True)


def test_cli_fit_report_and_errors(tmp_path, capsys):
    path = tmp_path / "runs.nc"
    ensemble().to_netcdf(path, engine="h5netcdf")
    out, report = tmp_path / "fit.nc", tmp_path / "rep"
    status = main(
        [
            "fit",
            str(path),
            "--model",
            "linear",
            "lasso",
            "--t-range",
            "0",
            "40",
            "--out",
            str(out),
            "--report",
            str(report),
            "--alpha",
            "0.0001",
        ]
    )
    assert status == 0
    assert (report / "report.html").is_file() and (tmp_path / "fit-lasso.nc").is_file()
    loaded = dynamics.load(tmp_path / "fit-linear.nc")
    assert loaded.t[-1] == 40 and loaded.A.sizes["target"] == 5
    assert main(["report", str(tmp_path / "fit-linear.nc"), "--data", str(path), "--out", str(tmp_path / "r2")]) == 0
    assert "R² of x(t), analytic" in (tmp_path / "r2" / "report.md").read_text()
    capsys.readouterr()
    notes = tmp_path / "notes.txt"
    notes.write_text("not netCDF")  # xarray's own refusal runs over several lines: the command's stays one
    for argv, message in [
        (["fit", str(tmp_path / "missing.nc")], "no such file"),
        (["fit", str(notes)], "cannot be read as netCDF"),
        (["report", str(notes), "--data", str(path), "--out", str(report)], "cannot be read as netCDF"),
        (["fit", str(path), "--model", "cubic"], "unknown model"),
        (["fit", str(path), "--model", "lasso", "--alpha", "-1"], "alpha must be a positive"),
        (["fit", str(path), "--component", "k"], "component dimension 'k'"),
        (["fit", str(path), "--t-range", "0", "3", "--model", "linear"], "derivative points"),
        (["fit", str(path), "--model", "sindy", "--threshold", "-1"], "threshold must be a finite number >= 0"),
        (["fit", str(path), "--report", str(tmp_path / "typo" / "rep")], "parent"),
        (
            ["report", str(out.with_name("fit-linear.nc")), "--data", str(path), "--out", str(tmp_path / "a" / "b")],
            "parent",
        ),
        (
            ["report", str(out.with_name("fit-linear.nc")), "--data", str(tmp_path), "--out", str(report)],
            "is a folder",
        ),
    ]:
        assert main(argv) == 2, argv
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error
    assert not (tmp_path / "typo").exists() and not (tmp_path / "a").exists()  # nothing made on the way
    # a bad --report is refused before fitting: no fit is saved without its report
    argv = ["fit", str(path), "--out", str(tmp_path / "lonely.nc"), "--report", str(tmp_path / "typo" / "rep")]
    assert main(argv) == 2 and not (tmp_path / "lonely.nc").exists()


DATASETS = sorted(glob.glob("datasets/*.nc"))


@pytest.mark.skipif(not DATASETS, reason="no recorded run dataset in datasets/")
@pytest.mark.parametrize("path", DATASETS)
def test_linear_fits_recorded_runs(path):
    from fittest.cli.fit import open_data

    data = open_data(path)
    if data.attrs.get("schema") != "fittest.run/1" or data.sizes.get("step", 0) < 50:
        pytest.skip("not a run dataset with a trajectory")
    fitted = dynamics.fit(data, "linear", t_range=(0, 1000), derivative="forward")
    # the paper: R² of the linear fit on increments close to 1 (0.998-0.999 on the authors' setup)
    assert float(fitted.r2_derivative.median()) > 0.99


def run_like(runs=3, n=4, steps=40, seed=1):
    """A tiny dataset shaped as a run dataset: amplitudes, the four training curves and a config attribute."""
    data = ensemble(runs=runs, n=n, steps=steps, seed=seed)
    decay = np.exp(-np.arange(steps) / 10.0)
    for name, curve in (("train_loss", decay), ("test_loss", 1.5 * decay), ("train_acc", 1 - decay)):
        data[name] = (("run", "step"), np.tile(curve, (runs, 1)))
    data["test_acc"] = (("run", "step"), np.tile(1 - 0.9 * decay, (runs, 1)))
    data.attrs = {"config": '{"p": 11, "runs": 3, "lr": 0.01}', "command": "fittest train --p 11 --runs 3"}
    return data


def figure_names(page):
    return re.findall(r"<section class='figure'><h2>([^<]+)</h2>", page)


def test_report_provenance_models_table_training_curves_and_survivors(tmp_path):
    data = run_like()
    fits = [dynamics.fit(data, "linear"), dynamics.fit(data, "lasso", alpha=1e-4)]
    survivors = xr.zeros_like(data["amplitude"].isel(step=-1), dtype=bool)
    survivors[1, 2] = survivors[2, 0] = True  # run 1: frequency 3; run 2: frequency 1
    written = dynamics.write_report(
        fits,
        tmp_path / "r",
        data=data,
        samples=[1, "run=2"],
        highlight=survivors,
        highlight_label="survivor",
        source="runs.nc",
        command="fittest fit runs.nc",
    )
    page, markdown = written["html"].read_text(), written["markdown"].read_text()
    # provenance: the data file, the command, the date, the data's configuration, the fit's options, versions
    for text in ("runs.nc", "fittest fit runs.nc", "report date", "fittest train --p 11 --runs 3", "lr=0.01"):
        assert text in page and text in markdown, text
    assert '"alpha": 0.0001' in markdown and "numpy " + np.__version__ in markdown
    # one table with every model side by side, and a line under each metric saying what it means
    header = next(line for line in markdown.splitlines() if line.startswith("| quantity |"))
    assert header == "| quantity | linear | lasso | what it means |"
    oos = next(line for line in markdown.splitlines() if line.startswith("| out-of-sample R²"))
    assert "plateau" in oos and "held-out tail spans" in oos
    assert "how near A is to singular" in page
    table = markdown.split("## Models side by side")[1].split("\n## ")[0]
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    metrics = [
        row for row in rows if row[0].lstrip("| ") not in ("model", "options", "samples", "components", "time window")
    ]
    assert len(metrics) >= 14 and all(row[-1].strip(" |") for row in metrics), metrics  # each metric says what it means
    assert page.count("<div class='meaning'>") == len(metrics)
    # training curves of a run dataset, first; then each chosen sample's trajectories and forecast
    names = figure_names(page)
    assert names[:5] == [
        "training curves",
        "trajectories (run=1)",
        "held-out forecast (run=1)",
        "trajectories (run=2)",
        "held-out forecast (run=2)",
    ]
    # survivors: named in the samples table and scored apart from the other components
    rows = {line.split(" | ")[0]: line for line in markdown.splitlines() if line.startswith("| run=")}
    assert rows["| run=1"].split(" | ")[1] == "3" and rows["| run=2"].split(" | ")[1] == "1"
    assert "| R² of x(t), survivor components, analytic" in markdown
    assert "survivor components shaded" in page  # the caption under the panels, whose legend is in the PNG


def test_report_without_run_data_has_no_training_curves(tmp_path):
    data = ensemble()[["amplitude"]]
    fit = dynamics.fit(data, "linear")
    written = dynamics.write_report([fit], tmp_path / "r", data=data, samples="run=1")
    page = written["html"].read_text()
    assert "training curves" not in page and "data configuration" not in page
    assert figure_names(page)[:2] == ["trajectories (run=1)", "held-out forecast (run=1)"]
    # no data passed: the provenance says the fitted data were used
    page = dynamics.write_report([fit], tmp_path / "r2", holdout=0)["html"].read_text()
    assert "the fitted data, in memory" in page and "held-out forecast" not in page


def test_report_samples_selection_and_errors(tmp_path):
    data = ensemble(runs=3)
    assert dynamics.report_samples(data, None) == [{"run": 0}, {"run": 1}, {"run": 2}]
    assert dynamics.report_samples(ensemble(runs=10), None) == [{"run": 0}, {"run": 3}, {"run": 6}, {"run": 9}]
    assert dynamics.report_samples(data, ["2", 0, "run=2"]) == [{"run": 2}, {"run": 0}]
    two = data.expand_dims(seed=[10, 20]).transpose("seed", "run", "step", "frequency")
    assert dynamics.report_samples(two, [4, "seed=20"]) == [{"seed": 1, "run": 1}, {"seed": 1, "run": 0}]
    fit = dynamics.fit(data, "linear")
    for samples, message in [
        ([3], "sample 3 is out of range: the data have 3 sample(s) (run 0..2)"),
        (["run=7"], "run has no value '7' (it holds 0, 1, 2)"),
        (["seed=0"], "'seed' is not a sample dimension of the data (they are run)"),
        (["last"], "neither a position"),
        (list(range(3)) * 5, None),
    ]:
        if message is None:  # repeats count once: three samples, under the limit
            assert len(dynamics.report_samples(data, samples)) == 3
            continue
        with pytest.raises(InputError, match=re.escape(message)) as caught:
            dynamics.write_report([fit], tmp_path / "r", samples=samples)
        assert "\n" not in str(caught.value)
    assert not (tmp_path / "r").exists()  # refused before anything was written


def test_report_shows_bootstrap_intervals_only_when_bootstrapped(tmp_path):
    data = ensemble(runs=2, n=3, steps=30)[["amplitude"]]
    plain = dynamics.write_report([dynamics.fit(data, "linear")], tmp_path / "a", data=data, holdout=0)
    assert "interval" not in plain["markdown"].read_text()
    fit = dynamics.fit(data, "linear", bootstrap=20, seed=0)
    boot = dynamics.write_report([fit], tmp_path / "b", data=data, samples=[1], holdout=0)["markdown"].read_text()
    assert "| 95% interval, first drawn sample |" in boot
    # the drawn sample's (run 1) interval of the constant term of the first equation, as fit.confidence gives it
    interval = fit.confidence(level=0.95).isel(run=1).sel(target=1, term="1")
    row = next(line for line in boot.splitlines() if line.startswith("| (x_1)': 1 |"))
    assert row.endswith(f"| [{float(interval['low']):.4g}, {float(interval['high']):.4g}] |")
    assert "bootstrap intervals as bars" in boot


SHIPPED = "datasets/p59_d128_default.nc"


@pytest.mark.skipif(not glob.glob(SHIPPED), reason="no shipped run dataset")
def test_cli_report_of_a_run_dataset_marks_survivors_and_draws_chosen_runs(tmp_path, capsys):
    import training

    # a small piece of the shipped run dataset is still one (schema, variables, config): cheap to fit and draw
    small = training.open_run(SHIPPED).isel(run=[0, 1, 2], frequency=slice(0, 6), step=slice(0, 80))
    path = tmp_path / "runs.nc"
    small.to_netcdf(path, engine="h5netcdf")
    report = tmp_path / "rep"
    argv = ["fit", str(path), "--derivative", "forward", "--samples", "2", "run=0", "--report", str(report)]
    assert main([*argv, "--out", str(tmp_path / "fit.nc")]) == 0
    markdown = (report / "report.md").read_text()
    assert "| data file | " + str(path) + " |" in markdown
    assert "| report made by | fittest fit " + str(path) in markdown
    assert "| data configuration | " in markdown and "p=59" in markdown
    page = (report / "report.html").read_text()
    assert figure_names(page)[:3] == ["training curves", "trajectories (run=2)", "held-out forecast (run=2)"]
    survived = training.survivors(small)
    for run in (2, 0):
        row = next(line for line in markdown.splitlines() if line.startswith(f"| run={run} |"))
        expected = ", ".join(str(f) for f in small["frequency"].values[survived.sel(run=run).values]) or "none"
        assert row.split(" | ")[1] == expected
    assert "| sample | survivor components |" in markdown
    # fittest report draws the same from the saved fit
    out = tmp_path / "rep2"
    argv = ["report", str(tmp_path / "fit.nc"), "--data", str(path), "--out", str(out), "--samples", "1"]
    assert main([*argv, "--holdout", "0"]) == 0
    assert "trajectories (run=1)" in (out / "report.html").read_text()
    capsys.readouterr()
    # bad samples: one line, exit 2, before any fitting or writing
    for samples, message in [(["3"], "sample 3 is out of range"), (["run=9"], "run has no value '9'")]:
        bad = tmp_path / "bad"
        assert (
            main(["fit", str(path), "--samples", *samples, "--report", str(bad), "--out", str(tmp_path / "x.nc")]) == 2
        )
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error
        assert not bad.exists() and not (tmp_path / "x.nc").exists()
    assert main(["fit", str(path), "--samples", "0"]) == 2
    assert "add --report DIR" in capsys.readouterr().err
