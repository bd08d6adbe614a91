import numpy as np
import pytest
import scipy.linalg
import xarray as xr

import dynamics
from fittest.errors import InputError


def affine_system(samples=3, n=12, steps=200, seed=0):
    """Exact trajectories of stable, persistently oscillating affine systems and their derivatives."""
    rng = np.random.default_rng(seed)
    Q = rng.normal(size=(samples, n, n))
    A = -0.05 * np.eye(n) + 0.3 * (Q - Q.transpose(0, 2, 1))
    b = rng.normal(size=(samples, n))
    x0 = rng.normal(size=(samples, n))
    t = np.linspace(0.0, 10.0, steps)
    fixed = np.linalg.solve(A, b[..., None])[..., 0]
    E = scipy.linalg.expm(t[None, :, None, None] * A[:, None])
    X = np.einsum("stij,sj->sti", E, x0 + fixed) - fixed[:, None]
    coords = {
        "run": np.arange(samples),
        "step": t,
        "frequency": np.arange(1, n + 1),
        "seed": ("run", 10 + np.arange(samples)),
    }
    data = xr.DataArray(X, dims=("run", "step", "frequency"), coords=coords, name="amplitude")
    dxdt = data.copy(data=np.einsum("sij,stj->sti", A, X) + b[:, None])
    return data, dxdt, A, b


@pytest.fixture(scope="module")
def system():
    return affine_system()


@pytest.fixture(scope="module")
def linear_fit(system):
    data, dxdt, _, _ = system
    return dynamics.fit(data, derivative=dxdt)


def test_linear_recovers_affine_system(system, linear_fit):
    data, _, A, b = system
    assert linear_fit.A.dims == ("run", "target", "source")
    assert linear_fit.b.dims == ("run", "target")
    assert list(linear_fit.A["source"].values) == list(data["frequency"].values)
    assert np.abs(linear_fit.A.values - A).max() / np.abs(A).max() < 1e-6
    assert np.abs(linear_fit.b.values - b).max() / np.abs(b).max() < 1e-6
    assert linear_fit.coefficients.dims == ("run", "target", "term")
    assert linear_fit.coefficients["term"].values[-1] == "1" and linear_fit.coefficients["term"].values[0] == "x_1"
    np.testing.assert_allclose(linear_fit.r2_derivative.values, 1.0, atol=1e-10)
    assert "seed" in linear_fit.coefficients.coords


def test_forward_differences_recover_the_discrete_map():
    rng = np.random.default_rng(1)
    n, steps, dt = 6, 120, 0.5
    A = -0.1 * np.eye(n) + 0.2 * rng.normal(size=(n, n)) / np.sqrt(n)
    b = rng.normal(size=n)
    x = np.empty((steps, n))
    x[0] = rng.normal(size=n)
    for k in range(steps - 1):  # the map the paper's regression of increments on states describes
        x[k + 1] = x[k] + dt * (A @ x[k] + b)
    data = xr.DataArray(x, dims=("step", "frequency"), coords={"step": dt * np.arange(steps)})
    fitted = dynamics.fit(data, derivative="forward")  # the map: increments over the step
    np.testing.assert_allclose(fitted.A.values, A, atol=1e-8)
    euler = fitted.simulate(method="euler")
    np.testing.assert_allclose(euler.values, x, rtol=1e-8, atol=1e-8)


def test_analytic_agrees_with_diffrax(linear_fit, system):
    data = system[0]
    analytic = linear_fit.simulate()
    assert analytic.dims == data.dims
    np.testing.assert_allclose(analytic.values, data.values, atol=1e-9)
    solved = linear_fit.simulate(method="diffrax", rtol=1e-12, atol=1e-13)
    assert not solved["diverged"].any()
    assert np.abs(solved.values - analytic.values).max() / np.abs(analytic.values).max() < 1e-8


def test_augmented_and_paper_forms_agree(linear_fit):
    augmented = linear_fit.simulate()
    np.testing.assert_allclose(linear_fit.simulate(form="paper", eps=0.0).values, augmented.values, atol=1e-10)
    # the paper's shift eps = 1e-8 moves the solution by O(eps |A^-1 b| t), far below the data's scale
    paper = linear_fit.simulate(form="paper")
    assert np.abs(paper.values - augmented.values).max() < 1e-5


def test_analytic_uses_one_expm_per_step_size(linear_fit, monkeypatch):
    calls = []
    original = scipy.linalg.expm
    monkeypatch.setattr(scipy.linalg, "expm", lambda M: calls.append(M.shape) or original(M))
    linear_fit.simulate()
    assert calls == [(1, 3, 13, 13)]  # one step size, all samples at once
    calls.clear()
    linear_fit.simulate(t=[0.0, 0.5, 1.0, 3.0, 5.0])
    assert calls == [(2, 3, 13, 13)]


def lotka_data(points=801):
    from pysindy.utils import lotka
    from scipy.integrate import solve_ivp

    t = np.linspace(0, 2, points)
    X = solve_ivp(lotka, (0, 2), [1.0, 0.5], t_eval=t, rtol=1e-12, atol=1e-12).y.T
    coords = {"time": t, "species": ["prey", "predator"]}
    data = xr.DataArray(X, dims=("time", "species"), coords=coords)
    dxdt = data.copy(data=np.array([lotka(0, x) for x in X]))
    return data, dxdt


LOTKA = {
    ("prey", "prey"): 1.0,
    ("prey", "prey predator"): -10.0,
    ("predator", "predator"): -2.0,
    ("predator", "prey predator"): 10.0,
}


@pytest.mark.parametrize(
    "model, options",
    [("lotka_volterra", {}), ("lotka_volterra", {"form": "quadratic"}), ("sindy", {"threshold": 0.5})],
)
def test_lotka_volterra_is_recovered(model, options):
    data, dxdt = lotka_data()
    for derivative, tolerance in ((dxdt, 1e-6), ("central", 3e-3)):  # relative to the largest, 10
        fitted = dynamics.fit(data, model, time="time", component="species", derivative=derivative, **options)
        coefficients = fitted.coefficients
        expected = xr.zeros_like(coefficients)
        for (target, term), value in LOTKA.items():
            expected.loc[{"target": target, "term": term}] = value
        assert np.abs(coefficients - expected).max() < tolerance * 10, (derivative, coefficients.to_pandas())
    if model == "lotka_volterra" and not options:
        # generalised LV: the prey equation may not use predator alone
        assert not fitted.library.mask[0, list(fitted.coefficients["term"].values).index("predator")]


def test_diffrax_blowup_is_contained():
    # dx/dt = x^2 blows up at t = 1/x0: x0 = 1 blows up at 1, x0 = 0.25 stays finite up to t = 2
    t = np.linspace(0, 0.5, 60)
    x0 = np.array([1.0, 0.25])
    X = x0[:, None] / (1 - x0[:, None] * t[None])
    data = xr.DataArray(X[..., None], dims=("run", "step", "frequency"), coords={"step": t})
    fitted = dynamics.fit(data, "lotka_volterra", derivative=data.copy(data=X[..., None] ** 2))
    times = np.linspace(0, 2, 41)
    for method in ("diffrax", "euler"):
        solved = fitted.simulate(t=times, method=method)
        assert list(solved["diverged"].values) == [True, False], method
        assert np.isnan(solved.values[0, -1]).all() and np.isfinite(solved.values[0, times < 0.9]).all()
        assert np.isfinite(solved.values[1]).all()
    # diffrax stops at the blow-up itself (Euler's rollout lags behind it)
    assert np.isnan(fitted.simulate(t=times, method="diffrax").values[0, times > 1.01]).all()
    exact = 0.25 / (1 - 0.25 * times)
    np.testing.assert_allclose(fitted.simulate(t=times, method="diffrax").values[1, :, 0], exact, rtol=1e-6)


def test_single_trajectory_with_float_time_and_pool():
    data, dxdt, A, b = affine_system(samples=1, n=4, steps=80, seed=3)
    one = data.isel(run=0, drop=True).rename(step="years")
    fitted = dynamics.fit(one, time="years", derivative=dxdt.isel(run=0, drop=True).rename(step="years"))
    assert fitted.A.dims == ("target", "source")
    np.testing.assert_allclose(fitted.A.values, A[0], atol=1e-8)
    solved = fitted.simulate()
    assert solved.dims == ("years", "frequency") and not bool(solved["diverged"])
    np.testing.assert_allclose(solved.values, one.values, atol=1e-8)
    # pooled: two runs of the same system from different starts give one ODE that reproduces both
    t = one["years"].values
    fixed = np.linalg.solve(A[0], b[0])
    start = np.arange(1.0, 5.0)
    other = one.copy(data=np.einsum("tij,j->ti", scipy.linalg.expm(t[:, None, None] * A[0]), start + fixed) - fixed)
    both = xr.concat([one, other], dim="run")
    pooled = dynamics.fit(both, time="years", derivative="central", pool=True)
    assert pooled.A.dims == ("target", "source")
    np.testing.assert_allclose(pooled.A.values, A[0], atol=2e-2)
    assert pooled.simulate().dims == ("run", "years", "frequency")


def test_save_load_roundtrip(linear_fit, tmp_path):
    path = linear_fit.save(tmp_path / "fit.nc")
    loaded = dynamics.load(path)
    xr.testing.assert_identical(loaded.coefficients, linear_fit.coefficients)
    xr.testing.assert_allclose(loaded.A, linear_fit.A)
    np.testing.assert_allclose(loaded.simulate().values, linear_fit.simulate().values)
    assert loaded.model == "linear"
    with pytest.raises(InputError, match="not a saved fit"):
        xr.Dataset({"a": ("x", [1.0])}).to_netcdf(tmp_path / "other.nc", engine="h5netcdf")
        dynamics.load(tmp_path / "other.nc")
    (tmp_path / "notes.txt").write_text("not netCDF")
    for wrong, message in ((tmp_path / "notes.txt", "is not a netCDF file"), (tmp_path, "is a folder")):
        with pytest.raises(InputError, match=message) as caught:
            dynamics.load(wrong)
        assert "\n" not in str(caught.value)  # the command line prints it as one line


def test_differentiate_names_what_it_takes(system):
    with pytest.raises(InputError, match="as_trajectories"):
        dynamics.differentiate(system[0])
    x, dxdt, index = dynamics.differentiate(dynamics.as_trajectories(system[0]))
    assert dxdt.shape == x.shape and index.size == x.shape[1]


def test_lasso_penalises_A_not_b_and_singular_A_is_not_an_error(system):
    data = system[0]
    fitted = dynamics.fit(data, "lasso", alpha=1e3, derivative="forward")
    assert (fitted.A.values == 0).all() and float(fitted.sparsity.min()) == 1.0
    forward = np.diff(data.values, axis=1) / np.diff(data["step"].values)[None, :, None]
    np.testing.assert_allclose(fitted.b.values, forward.mean(axis=1), rtol=1e-8)
    assert np.isinf(fitted.condition.values).all() and not fitted.stable.any()
    # A = 0: x(t) = x0 + b t, both forms
    t = data["step"].values
    expected = fitted.x0.values[:, None, :] + fitted.b.values[:, None, :] * (t - t[0])[None, :, None]
    np.testing.assert_allclose(fitted.simulate().values, expected, atol=1e-9)
    np.testing.assert_allclose(fitted.simulate(form="paper").values, expected, atol=1e-5)


def test_rhs_accepts_dataarray_and_numpy(linear_fit, system):
    data, dxdt, _, _ = system
    np.testing.assert_allclose(linear_fit.rhs(data).transpose(*dxdt.dims).values, dxdt.values, atol=1e-9)
    np.testing.assert_allclose(linear_fit.rhs(data.values), dxdt.values, atol=1e-9)


def test_compare_scores(linear_fit, system):
    data = system[0]
    result = dynamics.compare(linear_fit, data, methods=["analytic", "euler"])
    # the data sit beside the solutions, so no score carries an all-NaN "observed" entry (issue 13 item 19)
    assert list(result["solution"].values) == ["analytic", "euler"]
    assert result["observed"].dims == ("run", "step", "frequency")
    np.testing.assert_array_equal(result["observed"].transpose(*data.dims).values, data.values)
    assert result["trajectory"].dims == ("solution", "run", "step", "frequency")
    assert result["r2_trajectory"].dims == ("solution", "run", "frequency")
    analytic = result.sel(solution="analytic")
    np.testing.assert_allclose(analytic["r2_trajectory"].values, 1.0, atol=1e-10)
    np.testing.assert_allclose(analytic["r2_forecast"].values, 1.0, atol=1e-6)
    assert result["r2_trajectory"].sel(solution="euler").min() < 0.999  # a coarse rollout of a continuous ODE
    assert not result["r2_trajectory"].isnull().any()
    assert result["step"].dtype == data["step"].dtype and "forecast_note" not in result.attrs


@pytest.mark.parametrize(
    "change, kwargs, message",
    [
        # named dims that are missing; unnamed ones are inferred where unambiguous (test_dynamics_hardening)
        (lambda d: d.rename(step="time"), {"time": "step"}, "time dimension 'step'"),
        (lambda d: d.rename(frequency="k"), {"component": "frequency"}, "component dimension 'frequency'"),
        (lambda d: d.rename(frequency="k"), {}, r"cannot tell which of the dimensions \('run', 'k'\)"),
        (lambda d: d.where(d.step != d.step[5]), {}, "NaN or inf"),
        (lambda d: d.assign_coords(step=d.step.values[::-1]), {}, "not strictly increasing"),
        (lambda d: d.assign_coords(step=np.r_[0.0, d.step.values[:-1]]), {}, "not strictly increasing"),
        (lambda d: d.isel(step=slice(0, 8)), {"derivative": "forward"}, "only 7 derivative points"),
        (lambda d: d, {"model": "quartic"}, "unknown model"),
        (lambda d: d, {"model": "lasso", "alpha": -0.1}, "alpha must be a positive"),
        (lambda d: d, {"model": "sindy", "threshold": -0.1}, "threshold must be a finite number >= 0"),
        (lambda d: d, {"derivative": "spline"}, "unknown derivative"),
        (lambda d: d, {"nonsense": 1}, "does not take that option"),
        (lambda d: d, {"pool": "False"}, "pool must be True or False"),
    ],
)
def test_bad_input_is_named(system, change, kwargs, message):
    with pytest.raises(InputError, match=message):
        dynamics.fit(change(system[0]), **kwargs)


def test_compare_needs_the_fits_sample_dimension(linear_fit, system):
    with pytest.raises(InputError, match="one ODE per run but the data lack run"):
        dynamics.compare(linear_fit, system[0].isel(run=0))
    with pytest.raises(InputError, match="the data have 4 frequency components but the fit was made on 12"):
        dynamics.compare(linear_fit, system[0].isel(frequency=slice(0, 4)))


def test_bad_simulate_arguments(linear_fit):
    with pytest.raises(InputError, match="unknown method"):
        linear_fit.simulate(method="rk4")
    with pytest.raises(InputError, match="strictly increasing"):
        linear_fit.simulate(t=[0.0, 0.0, 1.0])
    with pytest.raises(InputError, match="x0 must have shape"):
        linear_fit.simulate(x0=np.zeros(5))


def test_pysindy_objects_are_accepted():
    import pysindy as ps

    data, _ = lotka_data(points=401)
    smoothed = dynamics.fit(
        data, "lotka_volterra", time="time", component="species", derivative=ps.SmoothedFiniteDifference()
    )
    assert float(smoothed.r2_derivative.min()) > 0.999
    # a library that is not polynomial: the fit, rhs and Euler rollout work, diffrax and saving say why not
    fourier = dynamics.fit(
        data,
        "sindy",
        time="time",
        component="species",
        derivative="central",
        feature_library=ps.FourierLibrary(n_frequencies=1),
        optimizer=ps.STLSQ(threshold=0.0),
    )
    assert "sin(1 prey)" in list(fourier.coefficients["term"].values)
    assert fourier.rhs(data).shape == data.shape
    assert fourier.simulate(method="euler").shape == data.shape
    with pytest.raises(InputError, match="monomial"):
        fourier.simulate(method="diffrax")


def _lasso_kkt_violation(fitted, data, alpha):
    """Largest violation of the Lasso optimality conditions, relative to alpha, over samples and targets."""
    x = data.transpose("run", "step", "frequency").values
    X, Y = x[:, :-1], np.diff(x, axis=1) / np.diff(data["step"].values)[None, :, None]
    worst = 0.0
    for r in range(x.shape[0]):
        A, b = fitted.A.values[r], fitted.b.values[r]
        residual = Y[r] - X[r] @ A.T - b
        gradient = X[r].T @ residual / len(X[r])  # (source, target): d(loss)/dw up to sign
        active = A.T != 0
        worst = max(worst, np.abs(gradient[active] - alpha * np.sign(A.T[active])).max(initial=0) / alpha)
        worst = max(worst, (np.abs(gradient[~active]) - alpha).max(initial=0) / alpha)
    return worst


def test_lasso_reaches_its_optimum_on_collinear_trajectories():
    # amplitudes of several circles decaying together: strongly collinear columns, as in a run dataset
    t = np.arange(400.0)
    rng = np.random.default_rng(5)
    modes = np.stack([np.exp(-t / 80), np.exp(-t / 200), np.ones_like(t)], axis=1)
    weights = rng.uniform(0.5, 2, size=(2, 3, 8))
    values = modes @ weights * 50 + rng.normal(scale=0.01, size=(2, t.size, 8))
    data = xr.DataArray(values, dims=("run", "step", "frequency"), coords={"step": t, "frequency": np.arange(1, 9)})
    alpha = 1e-4
    exact = dynamics.fit(data, "lasso", alpha=alpha, derivative="forward")  # the increments the KKT check uses
    assert _lasso_kkt_violation(exact, data, alpha) < 1e-3
    assert bool(exact.to_dataset()["converged"].all())
    authors = dynamics.fit(data, "lasso", alpha=alpha, solver="cd", max_iter=200, derivative="forward")
    assert _lasso_kkt_violation(authors, data, alpha) > 1e-2  # coordinate descent stops short here
    with pytest.raises(InputError, match=r"solver must be one of \['lars', 'cd'\], got 'newton'"):
        dynamics.fit(data, "lasso", solver="newton")


def test_euler_rollout_of_per_run_pysindy_models_with_extra_initial_states():
    """Each run's own model drives every initial state given for that run (was a zip length error)."""
    ps = pytest.importorskip("pysindy")
    t = np.linspace(0, 5, 80)
    x = np.stack([np.stack([np.sin(t + k), np.cos(1.3 * t + k)], axis=-1) for k in range(2)])
    data = xr.DataArray(x, dims=("run", "step", "frequency"), coords={"run": [0, 1], "step": t})
    fourier = dynamics.fit(
        data,
        "sindy",
        derivative="central",
        feature_library=ps.FourierLibrary(n_frequencies=1),
        optimizer=ps.STLSQ(threshold=0.0),
    )
    x0 = xr.DataArray(np.random.default_rng(0).normal(size=(2, 3, 2)), dims=("run", "start", "frequency"))
    together = fourier.simulate(x0, t, method="euler")
    assert together.sizes == {"run": 2, "start": 3, "step": 80, "frequency": 2}
    for start in range(3):
        alone = fourier.simulate(x0.isel(start=[start]), t, method="euler")
        np.testing.assert_array_equal(together.isel(start=[start]).values, alone.values)
