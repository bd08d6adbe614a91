import subprocess
import sys

import numpy as np
import xarray as xr

from fittest.cli import main


def test_demo_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--p", "13", "--d", "24", "--runs", "2", "--steps", "300"])
    assert code == 0
    ds = xr.load_dataset(out / "run.nc", engine="h5netcdf")
    assert ds.attrs["schema"] == "fittest.run/2"
    assert ds.sizes["run"] == 2 and list(ds.frequency.values) == list(range(1, 7))
    html = (out / "report" / "report.html").read_text()
    assert "data:image/png;base64," in html
    # the report's provenance names the demo's own run file, and its panels mark the survivors
    summary = (out / "report" / "report.md").read_text()
    assert f"| data file | {out / 'run.nc'} |" in summary and "| sample | survivor components |" in summary
    printed = capsys.readouterr().out
    r2 = float(printed.split("linear: median R² of dx/dt over steps 0-300: ")[1].split()[0])
    assert 0.9 < r2 <= 1.0
    assert np.isfinite(ds["amplitude"]).all()


def test_bad_input_is_one_line_exit_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "fittest.cli", "demo", "--p", "2", "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "p must be an integer >= 3" in result.stderr
    assert not (tmp_path / "x").exists()


def test_option_errors_are_one_line_and_name_the_field(capsys):
    for argv, message in [
        (["demo", "--p", "2.5"], "p must be an integer >= 3, got 2.5"),
        (["demo", "--p", "True"], "p must be an integer >= 3, got 'True'"),
        (["fit", "run.nc", "--methods", "rk4"], "invalid choice: 'rk4'"),
        (["bogus"], "invalid choice: 'bogus'"),
    ]:
        try:
            status = main(argv)
        except SystemExit as stop:  # argparse's own errors leave through exit()
            status = stop.code
        error = capsys.readouterr().err
        assert status == 2 and message in error and error.count("\n") == 1, (argv, error)


def test_demo_refuses_a_missing_parent_or_a_file_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    for out, message in ((tmp_path / "typo" / "demo", "does not exist"), (tmp_path / "file", "is a file")):
        assert main(["demo", "--out", str(out), "--p", "13", "--d", "8", "--runs", "1", "--steps", "200"]) == 2
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error
    assert not (tmp_path / "typo").exists()
