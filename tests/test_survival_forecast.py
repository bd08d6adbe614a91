import numpy as np
import pytest
import xarray as xr

from fittest.errors import InputError
from training.analysis.forecast import forecast_survivors


def exponential_runs(runs=12, K=6, steps=60, seed=0):
    """Each circle grows or decays exponentially from a random start: a linear ODE solves it exactly."""
    rng = np.random.default_rng(seed)
    a0 = rng.uniform(1.0, 2.0, size=(runs, K))
    rate = rng.choice([-0.05, 0.05], size=(runs, K), p=[0.7, 0.3])
    rate[:, 0] = 0.05  # at least one survivor per run
    t = np.arange(steps)
    amp = a0[:, None, :] * np.exp(rate[:, None, :] * t[None, :, None])
    return xr.Dataset(
        {"amplitude": (("run", "step", "frequency"), amp)},
        coords={"run": np.arange(runs), "step": t, "frequency": np.arange(1, K + 1), "p": ("run", [2 * K + 1] * runs)},
    )


def test_ode_forecast_calls_exponential_fates_early():
    pytest.importorskip("dynamics")
    ds = exponential_runs()
    result = forecast_survivors(ds, horizons=[0, 3, 10, 20, 40], cv=3)
    ode = result.sel(forecast="ode")
    assert np.isnan(float(ode["accuracy"].sel(horizon=3)))  # 3 increments cannot fit 7 unknowns per row
    assert float(ode["exact"].sel(horizon=10)) == 1.0
    np.testing.assert_array_equal(ode["called_at"], 10)
    # persistence cannot see the fates at the start, when all circles are alike
    assert float(result["exact"].sel(forecast="amplitude", horizon=0)) < 0.5
    assert float(result["balanced_accuracy"].sel(forecast="amplitude", horizon=40)) == 1.0
    # the growth feature separates the fates once the circles have moved (not perfectly: a circle's fate
    # under the relative rule also depends on its run's other circles, which the per-circle SVM does not see)
    fitness = result["balanced_accuracy"].sel(forecast="fitness")
    assert (
        float(fitness.sel(horizon=10)) > 0.75 and float(fitness.sel(horizon=10)) > float(fitness.sel(horizon=0)) + 0.1
    )


def test_called_at_needs_every_later_horizon_right():
    ds = exponential_runs()
    result = forecast_survivors(ds, horizons=[0, 20, 40], methods=["amplitude"])
    exact = (result["predicted"] == result["truth"]).all("frequency").sel(forecast="amplitude")
    for r in range(ds.sizes["run"]):
        right = exact.isel(run=r).values
        called = float(result["called_at"].sel(forecast="amplitude").isel(run=r))
        if right[-1]:
            first = [h for j, h in enumerate([0, 20, 40]) if right[j:].all()][0]
            assert called == first
        else:
            assert np.isnan(called)


def test_forecast_bad_input():
    ds = exponential_runs(runs=2)
    with pytest.raises(InputError, match="unknown forecast"):
        forecast_survivors(ds, methods=["tea leaves"])
    with pytest.raises(InputError, match="before the last"):
        forecast_survivors(ds, horizons=[59], methods=["amplitude"])
    with pytest.raises(InputError, match="needs >= cv=5 runs"):
        forecast_survivors(ds, methods=["fitness"])
    with pytest.raises(InputError, match="step="):
        forecast_survivors(ds, methods=["amplitude"], step=3)
