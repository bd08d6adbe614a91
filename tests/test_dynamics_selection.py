"""Model selection (issue 10): cross-validated penalties that keep time order, and `dynamics.select`."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.integrate import solve_ivp

import dynamics
from fittest.errors import InputError

LORENZ_TERMS = {("x", "x"), ("x", "y"), ("y", "x"), ("y", "y"), ("y", "x z"), ("z", "z"), ("z", "x y")}


def lorenz(t, z):
    x, y, w = z
    return [10 * (y - x), x * (28 - w) - y, x * y - 8 / 3 * w]


@pytest.fixture(scope="module")
def noisy_lorenz() -> xr.DataArray:
    t = np.arange(0, 10, 0.005)
    exact = solve_ivp(lorenz, (0, 10), [-8, 8, 27], t_eval=t, rtol=1e-10, atol=1e-10).y.T
    noisy = exact + 0.01 * exact.std(axis=0) * np.random.default_rng(0).normal(size=exact.shape)
    return xr.DataArray(noisy, dims=("time", "c"), coords={"time": t, "c": ["x", "y", "z"]})


def test_cv_threshold_picks_the_true_sparsity_of_noisy_lorenz(noisy_lorenz):
    fitted = dynamics.fit(noisy_lorenz, "sindy", time="time", component="c", threshold="cv")
    kept = fitted.coefficients != 0
    found = {
        (str(kept.target.values[i]), str(kept.term.values[j])) for i, j in zip(*np.nonzero(kept.values), strict=True)
    }
    assert found == LORENZ_TERMS
    chosen = fitted.options["threshold"]
    assert fitted.cv.attrs["choice"] == chosen and fitted.cv.attrs["folds"] == "time blocks"
    # the true terms' smallest magnitude is 1, the noise terms' far below: the choice lies between
    assert 0.05 < chosen < 1
    assert fitted.fit_options["threshold"] == "cv"  # a refit chooses again on its own window
    # a small fixed threshold keeps spurious terms on the same data
    fixed = dynamics.fit(noisy_lorenz, "sindy", time="time", component="c", threshold=0.01)
    assert int((fixed.coefficients != 0).sum()) > len(LORENZ_TERMS)


def test_cv_alpha_of_the_lasso_is_stored_and_bad_cv_is_refused(noisy_lorenz):
    fitted = dynamics.fit(noisy_lorenz, "lasso", time="time", component="c", alpha="cv")
    assert fitted.options["alpha"] == fitted.cv.attrs["choice"] > 0
    assert fitted.cv.error.sizes["candidate"] == 20
    with pytest.raises(InputError, match="not a cross-validated option"):
        dynamics.fit(noisy_lorenz, "lasso", time="time", component="c", solver="cv")


def terms_of(fitted) -> set[tuple[str, str]]:
    kept = fitted.coefficients != 0
    return {
        (str(kept.target.values[i]), str(kept.term.values[j])) for i, j in zip(*np.nonzero(kept.values), strict=True)
    }


def test_cv_scored_on_held_out_trajectories_keeps_a_true_lorenz_term_the_derivative_score_drops():
    # issue 23, 6: 500 points of Lorenz at 1% noise, where the derivative score's curve is flat and its
    # one-standard-error rule prunes dy/dt's -y (threshold 0.925 against a coefficient of about -0.9)
    t = np.arange(0, 5, 0.01)
    exact = solve_ivp(lorenz, (0, 5), [-8, 8, 27], t_eval=t, rtol=1e-10, atol=1e-10).y.T
    noisy = exact + 0.01 * exact.std(axis=0) * np.random.default_rng(3).normal(size=exact.shape)
    data = xr.DataArray(noisy, dims=("time", "c"), coords={"time": t, "c": ["x", "y", "z"]})
    by_derivative = dynamics.fit(data, "sindy", time="time", component="c", threshold="cv")
    assert ("y", "y") not in terms_of(by_derivative)
    by_trajectory = dynamics.fit(data, "sindy", time="time", component="c", threshold="cv", cv_score="trajectory")
    assert terms_of(by_trajectory) == LORENZ_TERMS  # every true term, and no other
    # its curve is a plateau that ends where a true term goes: the error there rises a hundredfold
    error = by_trajectory.cv.error.values
    assert error[-1] > 100 * error.min()
    assert by_trajectory.fit_options["cv_score"] == "trajectory"
    with pytest.raises(InputError, match="cv_score='trajectory' scores cross-validation"):
        dynamics.fit(data, "sindy", time="time", component="c", threshold=0.1, cv_score="trajectory")
    with pytest.raises(InputError, match="cv_score"):
        dynamics.fit(data, "sindy", time="time", component="c", threshold="cv", cv_score="forecast")


def test_cv_scored_on_held_out_trajectories_keeps_the_true_terms_of_a_lasso_at_5_percent_noise():
    from scipy.linalg import expm

    # two damped rotations and a decay: 9 true terms of 25; measured with 5% noise
    a = np.array([[-0.3, 1, 0, 0, 0], [-1, -0.3, 0, 0, 0], [0, 0, -0.3, 2, 0], [0, 0, -2, -0.3, 0], [0, 0, 0, 0, -0.5]])
    step = expm(a * 0.02)
    x = np.empty((300, 5))
    x[0] = [2.0, 0.0, 2.0, 0.0, 2.0]
    for k in range(299):
        x[k + 1] = step @ x[k]
    x += 0.05 * x.std(axis=0) * np.random.default_rng(3).normal(size=x.shape)
    data = xr.DataArray(x, dims=("t", "c"), coords={"t": 0.02 * np.arange(300)})
    true = a != 0
    by_derivative = dynamics.fit(data, "lasso", time="t", component="c", alpha="cv")
    assert (by_derivative.A.values != 0)[true].sum() == 7  # two true terms pruned
    by_trajectory = dynamics.fit(data, "lasso", time="t", component="c", alpha="cv", cv_score="trajectory")
    assert (by_trajectory.A.values != 0)[true].all()
    assert by_trajectory.options["alpha"] < by_derivative.options["alpha"]


def test_select_ranks_models_by_held_out_trajectory_error():
    def predator_prey(t, z):
        hares, lynxes = z
        return [hares * (0.8 - 0.4 * lynxes), lynxes * (-0.6 + 0.2 * hares)]

    t = np.linspace(0, 20, 81)
    runs = [solve_ivp(predator_prey, (0, 20), s, t_eval=t, rtol=1e-10).y.T for s in ([2, 1], [3, 1.5])]
    noisy = np.stack(runs) * np.exp(0.01 * np.random.default_rng(1).normal(size=(2, 81, 2)))
    data = xr.DataArray(noisy, dims=("herd", "year", "species"), coords={"year": t, "species": ["hare", "lynx"]})
    table = dynamics.select(data, ["linear", "lotka_volterra"], time="year", component="species")
    assert list(table.model.values) == ["lotka_volterra", "linear"]  # the true family forecasts the cycle
    assert table["rank"].values.tolist() == [1, 2]
    assert table.forecast_error.sel(model="lotka_volterra") < 0.05 < table.forecast_error.sel(model="linear")
    with pytest.raises(InputError, match="repeat"):
        dynamics.select(data, ["linear", "linear"], time="year", component="species")
