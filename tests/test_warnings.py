"""Warnings that a user must see: a clipped time window, said once, in one line on the command line."""

import warnings

import numpy as np
import pytest
import xarray as xr

import dynamics
from fittest.cli import main


def _series(steps: int = 300) -> xr.DataArray:
    t = np.arange(steps + 1.0)
    values = np.exp(-np.outer(t, [0.01, 0.02]) / 3)
    return xr.DataArray(values, dims=("step", "frequency"), coords={"step": t, "frequency": [1, 2]}, name="x")


def test_a_window_beyond_the_data_warns_with_the_data_range():
    with pytest.warns(UserWarning, match=r"beyond the data's 'step' range \(0, 300\): fitting 0\.\.300 only"):
        dynamics.fit(_series(), t_range=(0, 1000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dynamics.fit(_series(), t_range=(0, 300))  # inside the data: no word


def test_the_command_line_says_it_in_one_line(tmp_path, capsys):
    path = tmp_path / "x.nc"
    _series().to_dataset().to_netcdf(path)
    saved = warnings.showwarning
    try:
        assert main(["fit", str(path), "--t-range", "0", "1000"]) == 0
    finally:
        warnings.showwarning = saved
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "warning" in line]
    assert len(lines) == 1 and lines[0].startswith("fittest fit: warning: --t-range (0, 1000) reaches beyond"), err


def test_command_line_errors_name_the_options_the_user_typed(tmp_path, capsys):
    path = tmp_path / "x.nc"
    _series().to_dataset().to_netcdf(path)
    assert main(["fit", str(path), "--t-range", "5", "1"]) == 2
    err = capsys.readouterr().err
    assert "--t-range must have start < stop" in err and "t_range" not in err, err


def test_compare_keeps_integer_steps_and_has_no_empty_note():
    data = _series(60).astype(np.float64)
    data = data.assign_coords(step=data.step.astype(np.int64))
    fitted = dynamics.fit(data)
    result = dynamics.compare(fitted, data)
    assert result["step"].dtype == np.int64 and "forecast_note" not in result.attrs
    assert not result["r2_trajectory"].isnull().any() and "observed" in result
    assert "forecast_note" in dynamics.compare(fitted, data, holdout=0.01).attrs  # no held-out point: said why
