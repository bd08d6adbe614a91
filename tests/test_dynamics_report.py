import base64
import glob
import re

import numpy as np
import pytest
import xarray as xr

import dynamics
from fittest.cli import main


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
    assert len(images) == 5  # trajectories, R², two coefficient maps, eigenvalues
    assert all(base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n" for image in images)
    summary = written["markdown"].read_text()
    assert "| R² of dx/dt, fitted data" in summary and "sparsity" in summary and "stable A" in summary
    assert len(glob.glob(str(tmp_path / "report" / "figures" / "*.png"))) == 5
    assert not glob.glob(str(tmp_path / "report" / "*.tmp"))


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
    for argv, message in [
        (["fit", str(tmp_path / "missing.nc")], "no such file"),
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
            "no such file",
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
