"""Fitting by trajectory (issue 10): on sparse, noisy data the solved ODE recovers what finite differences bias.

Every fit here has the same shapes (4 herds, 13 points over 15 years, 2 species, the Lotka-Volterra library), so the
compiled Levenberg-Marquardt solve is built once for the module.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.integrate import solve_ivp

import dynamics
from dynamics import shooting
from fittest.errors import InputError

TRUE = {("hare", "hare"): 0.8, ("hare", "hare lynx"): -0.4, ("lynx", "lynx"): -0.6, ("lynx", "hare lynx"): 0.2}


def predator_prey(t, z):
    hares, lynxes = z
    return [hares * (0.8 - 0.4 * lynxes), lynxes * (-0.6 + 0.2 * hares)]


@pytest.fixture(scope="module")
def herds() -> xr.DataArray:
    rng = np.random.default_rng(3)
    years = np.linspace(0, 15, 13)  # counts every 15 months: finite differences over a year are poor
    starts = [[2.0, 1.0], [3.0, 1.5], [1.5, 2.0], [2.5, 0.8]]
    exact = np.stack([solve_ivp(predator_prey, (0, 15), s, t_eval=years, rtol=1e-11, atol=1e-12).y.T for s in starts])
    noisy = exact * np.exp(0.03 * rng.normal(size=exact.shape))  # 3% multiplicative noise
    return xr.DataArray(
        noisy, dims=("herd", "year", "species"), coords={"year": years, "species": ["hare", "lynx"]}, name="count"
    )


def fit(data, **options):
    return dynamics.fit(data, "lotka_volterra", time="year", component="species", **options)


def error(fitted) -> float:
    """The largest error over the true system's four non-zero coefficients and the zero ones, over all herds."""
    truth = xr.zeros_like(fitted.coefficients)
    for (target, term), value in TRUE.items():
        truth.loc[{"target": target, "term": term}] = value
    return float(abs(fitted.coefficients - truth).max())


@pytest.fixture(scope="module")
def both(herds):
    return fit(herds), fit(herds, objective="trajectory")


def test_trajectory_fit_recovers_what_the_derivative_fit_biases(both):
    derivative, trajectory = both
    assert derivative.objective == "derivative" and trajectory.objective == "trajectory"
    assert bool(trajectory.converged.all())
    # measured: 0.23 by central differences on 13 points over 15 years, 0.07 by trajectory
    assert error(derivative) > 0.15
    assert error(trajectory) < 0.1
    assert error(trajectory) < error(derivative) / 2.5


def test_simulate_starts_from_the_fitted_initial_state(herds, both):
    _, trajectory = both
    assert not np.allclose(trajectory.x0.values, herds.isel(year=0).values)  # fitted, not the noisy first count
    solved = trajectory.simulate(method="diffrax")
    np.testing.assert_allclose(solved.isel(year=0).values, trajectory.x0.values)
    # the solution from the fitted x0 follows the data to about the noise level (3%)
    misfit = np.log(solved.values / herds.values)
    assert float(np.sqrt((misfit**2).mean())) < 0.05
    assert "trajectory_converged" in trajectory.to_dataset() and "trajectory_cost" in trajectory.to_dataset()


def test_log_scale_fits_the_logarithms(herds):
    fitted = fit(herds, objective="trajectory", scale="log")
    assert bool(fitted.converged.all()) and error(fitted) < 0.1
    assert fitted.fit_options["scale"] == "log"
    with pytest.raises(InputError, match="positive"):
        fit(-herds, objective="trajectory", scale="log")
    with pytest.raises(InputError, match="objective='trajectory'"):
        fit(herds, scale="log")
    with pytest.raises(InputError, match="unknown objective"):
        fit(herds, objective="trajectories")


def test_a_failed_problem_is_flagged_and_the_others_are_unaffected(herds, both):
    _, trajectory = both
    start = fit(herds)
    coefficients = start.coefficients.transpose("herd", "target", "term").values.copy()
    # herd 1 starts from hares that grow at e^(30 t), a misfit 10^4 times the others': it does not converge
    # within the step limit
    coefficients[1, 0, list(start.coefficients["term"].values).index("hare")] = 30.0
    observed = herds.transpose("herd", "year", "species").values[:, None]
    result = shooting.fit_trajectories(start.library, coefficients, observed, herds["year"].values)
    assert result.converged.tolist() == [True, False, True, True]
    assert np.isfinite(result.coefficients).all()
    others = [0, 2, 3]
    np.testing.assert_allclose(
        result.coefficients[others],
        trajectory.coefficients.transpose("herd", "target", "term").values[others],
        rtol=1e-6,
        atol=1e-9,
    )


def test_lanes_must_be_a_positive_integer(herds, both):
    start = fit(herds)
    coefficients = start.coefficients.transpose("herd", "target", "term").values
    observed = herds.transpose("herd", "year", "species").values[:, None]
    for lanes in (0, -2, 1.5):
        with pytest.raises(InputError, match="lanes"):
            shooting.fit_trajectories(start.library, coefficients, observed, herds["year"].values, lanes=lanes)


def test_a_pysindy_library_that_is_not_polynomial_is_refused(herds):
    ps = pytest.importorskip("pysindy")
    with pytest.raises(InputError, match="monomial"):
        dynamics.fit(
            herds,
            "sindy",
            time="year",
            component="species",
            objective="trajectory",
            feature_library=ps.FourierLibrary(n_frequencies=1),
        )
