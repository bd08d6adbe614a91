"""Control inputs (issue 10): ``u`` enters linear and SINDy models as pysindy's control input does.

The known answer: a damped oscillator driven by a force, ``dx/dt = A x + B u + b``, sampled finely; the fit
recovers A and B, SINDy with the same library and no threshold gives the same least-squares answer, and the
fitted ODE solved with the force follows the data.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.integrate import solve_ivp

import dynamics
from fittest.errors import InputError

A_TRUE = np.array([[0.0, 1.0], [-2.0, -0.3]])
B_TRUE = np.array([[0.0, 0.0], [1.0, 0.5]])
C_TRUE = np.array([0.1, 0.0])
T = np.linspace(0, 10, 401)


def force(t):
    return np.stack([np.sin(1.3 * t), np.cos(0.4 * t) ** 2], axis=-1)


@pytest.fixture(scope="module")
def driven() -> xr.Dataset:
    starts = [[1.0, 0.0], [0.0, 1.0], [-0.5, 0.5]]

    def rhs(t, x):
        return A_TRUE @ x + B_TRUE @ force(t) + C_TRUE

    x = np.stack([solve_ivp(rhs, (0, 10), s, t_eval=T, rtol=1e-11, atol=1e-12).y.T for s in starts])
    return xr.Dataset(
        {
            "x": (("run", "t", "q"), x),
            # one force for every run: u has no run dimension
            "force": (("t", "channel"), force(T)),
        },
        coords={"t": T, "q": ["position", "velocity"], "channel": ["sine", "drift"]},
    )


def fit(data, model="linear", **options):
    return dynamics.fit(data, model, variable="x", time="t", component="q", u="force", **options)


def test_forced_oscillator_recovers_a_and_b(driven):
    fitted = fit(driven)
    assert fitted.inputs == ("sine", "drift")
    assert fitted.B.dims == ("run", "target", "input")
    np.testing.assert_allclose(fitted.A.values, np.broadcast_to(A_TRUE, (3, 2, 2)), atol=2e-3)
    np.testing.assert_allclose(fitted.B.values, np.broadcast_to(B_TRUE, (3, 2, 2)), atol=2e-3)
    np.testing.assert_allclose(fitted.b.values, np.broadcast_to(C_TRUE, (3, 2)), atol=2e-3)
    # without the force the same data cannot be fitted as well
    unforced = dynamics.fit(driven, "linear", variable="x", time="t", component="q")
    assert float(fitted.r2_derivative.min()) > 0.9999 > float(unforced.r2_derivative.min())


def test_sindy_takes_u_as_pysindy_does(driven):
    linear, sindy = fit(driven), fit(driven, "sindy", degree=1, threshold=0.0)
    np.testing.assert_allclose(sindy.A.values, linear.A.values, atol=1e-9)
    np.testing.assert_allclose(sindy.B.values, linear.B.values, atol=1e-9)
    pooled = fit(driven, "sindy", degree=2, threshold=0.05, pool=True)
    assert "sine" in " ".join(map(str, pooled.coefficients["term"].values))


def test_simulate_with_the_force_follows_the_data(driven):
    fitted = fit(driven)
    solved = fitted.simulate(method="diffrax")  # the fitted force on the fitted grid
    np.testing.assert_allclose(solved.values, driven["x"].values, atol=5e-3)
    given = fitted.simulate(method="diffrax", u=driven["force"])
    np.testing.assert_allclose(given.values, solved.values, atol=1e-9)
    # Euler holds u[k] over step k: its first step is x0 + dt (A x0 + B u0 + b), exactly
    euler = fitted.simulate(method="euler", u=force(T)).values
    A, B, b = fitted.A.values, fitted.B.values, fitted.b.values
    x0 = fitted.x0.values
    step = x0 + (T[1] - T[0]) * (np.einsum("sij,sj->si", A, x0) + np.einsum("sij,j->si", B, force(T)[0]) + b)
    np.testing.assert_allclose(euler[:, 1], step, rtol=1e-12)
    with pytest.raises(InputError, match="diffrax"):
        fitted.simulate(method="analytic")
    with pytest.raises(InputError, match="pass u"):
        fitted.simulate(t=T[:50], method="diffrax")


def test_trajectory_fit_with_the_force_recovers_what_sparse_differences_bias():
    # 26 points over 10 time units, 1% noise: central differences over 0.4 shrink the oscillation's rates
    t = np.linspace(0, 10, 26)
    rng = np.random.default_rng(5)

    def rhs(time, x):
        return A_TRUE @ x + B_TRUE @ force(time) + C_TRUE

    starts = [[1.0, 0.0], [0.0, 1.0], [-0.5, 0.5]]
    x = np.stack([solve_ivp(rhs, (0, 10), s, t_eval=t, rtol=1e-11, atol=1e-12).y.T for s in starts])
    sparse = xr.Dataset(
        {"x": (("run", "t", "q"), x + 0.01 * rng.normal(size=x.shape)), "force": (("t", "channel"), force(t))},
        coords={"t": t, "q": ["position", "velocity"], "channel": ["sine", "drift"]},
    )
    derivative, trajectory = fit(sparse), fit(sparse, objective="trajectory")
    assert bool(trajectory.converged.all())

    def error(fitted):
        return max(float(abs(fitted.A - A_TRUE).max()), float(abs(fitted.B - B_TRUE).max()))

    # measured: 0.27 by differences (A 0.14), 0.042 by trajectory (A 0.008)
    assert error(derivative) > 0.2
    assert error(trajectory) < min(0.06, error(derivative) / 4)
    # the solution from the fitted x0 under the force follows the noise-free states closer than the noise (0.01)
    solved = trajectory.simulate(method="diffrax")
    assert float(np.sqrt(((solved.values - x) ** 2).mean())) < 0.006  # measured 0.0039


def test_a_trajectory_bootstrap_refits_the_force_with_the_states(driven):
    # every replicate reweights the time points of a sample and solves it under the same force
    rng = np.random.default_rng(2)
    sparse = driven.isel(t=slice(None, None, 10))
    noisy = sparse.assign(x=sparse["x"] + 0.01 * rng.normal(size=sparse["x"].shape))
    fitted = fit(noisy, objective="trajectory", bootstrap=40, seed=0)
    assert bool(fitted.converged.all())
    intervals = fitted.confidence(0.95)
    replicates = fitted.bootstrap_coefficients
    assert replicates.sizes["bootstrap"] == 40
    # the replicates centre on the fit, and their intervals hold the true A and B
    centre = replicates.median("bootstrap")
    assert float(abs(centre - fitted.coefficients).max()) < 0.05
    truth = np.concatenate([A_TRUE, B_TRUE, C_TRUE[:, None]], axis=1)  # x_0, x_1, u_0, u_1, 1
    order = [int(np.flatnonzero(p)[0]) if p.sum() == 1 else 4 for p in fitted.library.powers]
    truth = truth[:, order]
    inside = (intervals.low.values <= truth) & (truth <= intervals.high.values)
    assert inside.mean() >= 0.8, inside.mean()


def test_cross_validated_sindy_with_the_force_finds_its_terms(driven):
    # the folds (groups of runs) split the force with the states: the one-standard-error threshold keeps exactly
    # the true system's terms out of the 15 quadratic monomials of [x, u]
    noisy = driven.assign(x=driven["x"] + 0.002 * np.random.default_rng(0).normal(size=driven["x"].shape))
    fitted = fit(noisy, "sindy", degree=2, threshold="cv", pool=True)
    assert fitted.cv.attrs["folds"] == "samples"
    assert fitted.fit_options["threshold"] == "cv" and 0 < fitted.cv.attrs["choice"] < 0.2
    coefficients = fitted.coefficients
    values = coefficients.values.reshape((-1,) + coefficients.shape[-2:])[0]  # the one pooled ODE
    targets, terms = coefficients["target"].values, coefficients["term"].values
    kept = {(str(targets[i]), str(terms[j])) for i, j in zip(*np.nonzero(values), strict=True)}
    assert kept == {
        ("position", "1"),
        ("position", "velocity"),
        ("velocity", "position"),
        ("velocity", "velocity"),
        ("velocity", "sine"),
        ("velocity", "drift"),
    }
    column = {str(term): j for j, term in enumerate(terms)}
    np.testing.assert_allclose(values[1, [column["sine"], column["drift"]]], B_TRUE[1], atol=0.01)
    np.testing.assert_allclose(values[1, [column["position"], column["velocity"]]], A_TRUE[1], atol=0.01)


def test_a_shorter_sample_with_nan_inputs_on_its_padding_fits_by_trajectory(driven):
    # the third run ends at t = 5: its states and its inputs are NaN after that
    sparse = driven.isel(t=slice(None, None, 8))
    short = sparse["t"] > 5
    force = sparse["force"].expand_dims(run=3).copy()
    force[2] = force[2].where(~short)
    ragged = sparse.assign(x=sparse["x"].where(~((sparse["run"] == 2) & short)), force=force)
    for pool in (False, True):
        fitted = fit(ragged, objective="trajectory", pool=pool)
        assert bool(fitted.converged.all()), pool
        np.testing.assert_allclose(fitted.B.values.reshape(-1, 2, 2)[-1], B_TRUE, atol=0.02)


def test_saved_fit_keeps_b(driven, tmp_path):
    fitted = fit(driven)
    loaded = dynamics.load(fitted.save(tmp_path / "fit.nc"))
    np.testing.assert_allclose(loaded.B.values, fitted.B.values)
    np.testing.assert_allclose(
        loaded.simulate(method="diffrax", u=driven["force"]).values, fitted.simulate(method="diffrax").values
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": "lasso"}, "linear"),
        ({"u": "nothing"}, "names no variable"),
    ],
)
def test_inputs_that_cannot_be_fitted_are_refused(driven, options, message):
    options = {"model": "linear", "u": "force", **options}
    with pytest.raises(InputError, match=message):
        dynamics.fit(driven, variable="x", time="t", component="q", **options)


def test_command_line_fits_with_a_dataset_variable_as_input(driven, tmp_path):
    from fittest.cli import main

    driven.to_netcdf(tmp_path / "driven.nc")
    argv = ["fit", str(tmp_path / "driven.nc"), "--variable", "x", "--time", "t", "--component", "q"]
    assert main([*argv, "--u", "force", "--out", str(tmp_path / "fit.nc")]) == 0
    np.testing.assert_allclose(dynamics.load(tmp_path / "fit.nc").B.values, fit(driven).B.values)
    assert main([*argv, "--u", "missing"]) == 2  # a name that is no variable: one line, exit 2
