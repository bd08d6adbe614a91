"""pysindy's ensembles and weak form through ``dynamics.fit(model="sindy")`` (issue 23, item 9)."""

import warnings

import numpy as np
import pysindy as ps
import pytest
import xarray as xr
from scipy.integrate import solve_ivp

import dynamics

# Lorenz on a degree-2 library without the constant: x y z x^2 x y x z y^2 y z z^2
TRUE_TERMS = {"x": {"x", "y"}, "y": {"x", "y", "x z"}, "z": {"z", "x y"}}
TRUTH = {("x", "x"): -10, ("x", "y"): 10, ("y", "x"): 28, ("y", "y"): -1, ("y", "x z"): -1}
TRUTH.update({("z", "z"): -8 / 3, ("z", "x y"): 1})


def lorenz(duration: float, dt: float, noise: float) -> xr.DataArray:
    def rhs(_, s):
        return [10 * (s[1] - s[0]), s[0] * (28 - s[2]) - s[1], s[0] * s[1] - 8 / 3 * s[2]]

    t = np.arange(0, duration, dt)
    x = solve_ivp(rhs, (0, duration), [-8, 8, 27], t_eval=t, rtol=1e-10, atol=1e-10).y.T
    x = x + noise * x.std(axis=0) * np.random.default_rng(0).standard_normal(x.shape)
    return xr.DataArray(x, dims=("time", "c"), coords={"time": t, "c": ["x", "y", "z"]})


def relative_error(coefficients: xr.DataArray) -> float:
    """The largest error of a true coefficient relative to its size, and of an absent one relative to 1."""
    worst = 0.0
    for target in coefficients["target"].values:
        for term in coefficients["term"].values:
            value = float(coefficients.sel(target=target, term=term))
            truth = TRUTH.get((str(target), str(term)), 0.0)
            worst = max(worst, abs(value - truth) / (abs(truth) if truth else 1.0))
    return worst


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    optimizer = ps.EnsembleOptimizer(ps.STLSQ(threshold=0.2), bagging=True, n_models=20)
    np.random.seed(0)  # pysindy's bagging draws from numpy's global generator
    fitted = dynamics.fit(
        lorenz(5.0, 0.002, 0.01),
        "sindy",
        feature_library=ps.PolynomialLibrary(degree=2, include_bias=False),
        optimizer=optimizer,
    )
    path = tmp_path_factory.mktemp("ensemble") / "fit.nc"
    fitted.save(path)
    return fitted, dynamics.load(path)


def test_an_ensemble_keeps_its_members_and_their_inclusion_probability(ensemble):
    fitted, _ = ensemble
    members = fitted.ensemble_coefficients
    assert members.dims == ("member", "target", "term") and members.sizes["member"] == 20
    # bagging: the members differ, and the fit is their median (pysindy's default aggregate)
    assert float(members.std("member").max()) > 0
    np.testing.assert_allclose(members.median("member").values, fitted.coefficients.values)
    probability = fitted.inclusion_probability
    assert probability.dims == ("target", "term")
    for target in probability["target"].values:
        for term in probability["term"].values:
            value = float(probability.sel(target=target, term=term))
            if str(term) in TRUE_TERMS[str(target)]:
                assert value >= 0.9, (target, term, value)
            else:
                assert value <= 0.1, (target, term, value)


def test_an_ensemble_survives_save_and_load(ensemble):
    fitted, loaded = ensemble
    assert loaded.ensemble_coefficients.equals(fitted.ensemble_coefficients)
    assert loaded.inclusion_probability.equals(fitted.inclusion_probability)


def test_a_fit_without_an_ensemble_has_none():
    fitted = dynamics.fit(lorenz(1.0, 0.01, 0.0), "sindy", degree=2)
    assert fitted.ensemble_coefficients is None and fitted.inclusion_probability is None


def test_an_ensemble_per_sample_carries_the_sample_dims():
    one = lorenz(2.0, 0.002, 0.0)
    data = xr.concat([one, one * 1.0], dim="run")
    optimizer = ps.EnsembleOptimizer(ps.STLSQ(threshold=0.2), bagging=True, n_models=5)
    fitted = dynamics.fit(data, "sindy", degree=2, optimizer=optimizer)
    assert fitted.ensemble_coefficients.dims == ("member", "run", "target", "term")
    assert fitted.inclusion_probability.dims == ("run", "target", "term")
    pooled = dynamics.fit(data, "sindy", degree=2, optimizer=optimizer, pool=True)
    assert pooled.ensemble_coefficients.dims == ("member", "target", "term")


@pytest.fixture(scope="module")
def noisy_lorenz():
    return lorenz(10.0, 0.002, 0.05)


def test_the_weak_form_beats_the_derivatives_on_noisy_lorenz(noisy_lorenz):
    # measured: weak form 0.010, derivative form 0.087 (5% noise, 5000 points, degree 2 without the constant)
    library = ps.PolynomialLibrary(degree=2, include_bias=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weak = dynamics.fit(noisy_lorenz, "sindy", feature_library=library, weak=100)
        # against the unsmoothed pointwise derivatives (fit's default smooths noisy data: 0.030)
        pointwise = dynamics.fit(noisy_lorenz, "sindy", feature_library=library, derivative="central")
    assert weak.options["weak"] == 100
    assert relative_error(weak.coefficients) < 0.05
    assert relative_error(weak.coefficients) < relative_error(pointwise.coefficients) / 3
    # the same data and options give the same fit: the test functions' windows come from a fixed seed
    np.random.seed(1)
    again = dynamics.fit(noisy_lorenz, "sindy", feature_library=library, weak=100)
    np.testing.assert_array_equal(again.coefficients.values, weak.coefficients.values)


def test_a_weak_library_given_by_the_user_is_rebuilt_on_each_samples_grid(noisy_lorenz):
    # two runs of different lengths (the second NaN-padded): each is fitted on its own grid, not the library's
    short = noisy_lorenz.where(noisy_lorenz.time < 8)
    data = xr.concat([noisy_lorenz, short], dim="run")

    def weak_library(grid):
        function_library = ps.PolynomialLibrary(degree=2, include_bias=False)
        return ps.WeakPDELibrary(function_library=function_library, spatiotemporal_grid=grid, K=100, H_xt=0.5)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = dynamics.fit(data, "sindy", feature_library=weak_library(noisy_lorenz.time.values))
        alone = dynamics.fit(short.dropna("time"), "sindy", feature_library=weak_library(np.arange(0, 8, 0.002)))
    assert fitted.options["weak"] == 100
    assert relative_error(fitted.coefficients.isel(run=0)) < 0.05
    np.testing.assert_allclose(fitted.coefficients.isel(run=1).values, alone.coefficients.values)


def test_the_weak_form_refuses_what_it_cannot_fit(noisy_lorenz):
    from fittest.errors import InputError

    with pytest.raises(InputError, match="weak must be"):
        dynamics.fit(noisy_lorenz, "sindy", weak=0)
    data = xr.concat([noisy_lorenz, noisy_lorenz.where(noisy_lorenz.time < 8)], dim="run")
    with pytest.raises(InputError, match="one time grid"):
        dynamics.fit(data, "sindy", weak=50, pool=True)
