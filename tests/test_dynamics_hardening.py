"""Hardening of dynamics (issue 19: 8, 11, 12, 17, 22; issue 23: 1-4, 7, 11, 12), each on a system with a known
answer."""

import warnings

import numpy as np
import pytest
import xarray as xr

import dynamics
from fittest.errors import InputError

A_TRUE = np.array([[-0.5, 1.0], [-1.0, -0.5]])
B_TRUE = np.array([0.2, -0.1])


def decaying(samples=2, steps=200, dt=0.05, scale=1.0, dims=("run", "time", "c"), seed=0):
    """Exact solutions of dx/dt = A x + b (a damped rotation) from random starts, scaled by ``scale``."""
    from scipy.linalg import expm

    rng = np.random.default_rng(seed)
    t = np.arange(steps) * dt
    fixed = -np.linalg.solve(A_TRUE, B_TRUE)
    starts = rng.normal(size=(samples, 2)) * 2
    values = np.stack([[fixed + expm(A_TRUE * s) @ (x0 - fixed) for s in t] for x0 in starts])
    coords = {dims[0]: np.arange(samples), dims[1]: t, dims[2]: ["x", "y"]}
    return xr.DataArray(values * scale, dims=dims, coords=coords, name="state")


@pytest.fixture(scope="module")
def data():
    return decaying()


def fit(data, *args, **kwargs):
    return dynamics.fit(data, *args, time="time", component="c", **kwargs)


# H8, H12: options outside their declared bounds, refused in one line before any work ------------------------------
@pytest.mark.parametrize(
    "options, message",
    [
        ({"rcond": float("nan")}, "rcond must be a finite number >= 0 and < 1"),
        ({"rcond": float("inf")}, "rcond must be"),
        ({"model": "lasso", "max_iter": 0}, "max_iter must be an integer >= 1"),
        ({"model": "lasso", "max_iter": -5, "solver": "cd"}, "max_iter must be"),
        ({"model": "lasso", "tol": float("nan"), "solver": "cd"}, "tol must be a positive number"),
        ({"bootstrap": 1}, "bootstrap must be an integer >= 2, or 0"),
        ({"model": "sindy", "degree": 0}, "degree must be an integer >= 1"),
    ],
)
def test_options_outside_their_declared_bounds_are_refused_in_one_line(data, options, message):
    options = dict(options)
    with pytest.raises(InputError, match=message) as caught:
        fit(data, options.pop("model", "linear"), **options)
    assert "\n" not in str(caught.value)


def test_declared_options_take_their_documented_values(data):
    from dynamics import catalog

    assert catalog.FIT_OPTIONS[[o.name for o in catalog.FIT_OPTIONS].index("bootstrap")].check(0) == 0
    assert catalog.MODEL_SPECS["linear"].option("rcond").check(None) is None
    assert catalog.MODEL_SPECS["lasso"].option("alpha").check("cv") == "cv"
    fitted = fit(data, rcond=1e-12)
    np.testing.assert_allclose(fitted.A.values, np.broadcast_to(A_TRUE, (2, 2, 2)), atol=1e-3)


@pytest.mark.parametrize("name", ["sample", "term", "target", "source"])
def test_a_sample_dimension_named_like_the_fits_own_dims_works_or_is_refused_in_one_line(name):
    runs = decaying(dims=(name, "time", "c"))
    try:
        fitted = fit(runs)
    except InputError as error:
        assert name in str(error) and "rename" in str(error) and "\n" not in str(error)
        return
    np.testing.assert_allclose(fitted.A.values, np.broadcast_to(A_TRUE, (2, 2, 2)), atol=1e-3)
    text = fitted.equations()
    assert text.count("(x)' =") == 2 and f"{name}=1" in text
    assert str(fitted).startswith("FittedODE linear")


# H11: the bootstrap's memory is estimated first, and its replicates are streamed ----------------------------------
@pytest.mark.parametrize("replicates", [10**9, 10**12])
def test_a_bootstrap_beyond_memory_is_refused_in_one_line_with_the_estimate_and_a_feasible_count(data, replicates):
    with pytest.raises(InputError, match=r"bootstrap=\d+ would need about .*B of memory.*use bootstrap=\d+") as caught:
        fit(data, bootstrap=replicates)
    assert "\n" not in str(caught.value)


def test_bootstrap_replicates_are_streamed_in_chunks_with_the_same_numbers(data, monkeypatch):
    import tracemalloc

    from dynamics import bootstrap

    whole = fit(data, bootstrap=50, seed=3)
    # a chunk of one replicate's data: the numbers must not depend on the chunking
    monkeypatch.setattr(bootstrap, "CHUNK_BYTES", 1)
    chunked = fit(data, bootstrap=50, seed=3)
    np.testing.assert_array_equal(whole.bootstrap_coefficients.values, chunked.bootstrap_coefficients.values)
    # memory: 4000 replicates of 2 x 199 rows would be 4000 x 2 x 199 x 13 x 8 B = 165 MB resampled at once
    monkeypatch.setattr(bootstrap, "CHUNK_BYTES", 2**20)
    tracemalloc.start()
    try:
        many = fit(data, bootstrap=4000, seed=3)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20
    interval = many.confidence()
    assert bool(((interval.low <= many.coefficients) & (many.coefficients <= interval.high)).all())


def test_a_fit_on_a_million_components_is_refused_before_building_its_library():
    import tracemalloc

    wide = xr.DataArray(np.ones((3, 10**6)), dims=("time", "c"))
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="1000001 terms per equation but only 2 derivative points"):
            dynamics.fit(wide, time="time", component="c", derivative="forward")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**30  # np.eye(10**6) alone would be 8 TB


# H17: select reports the forecast's own blow-up ------------------------------------------------------------------
def test_select_reports_the_forecast_that_blew_up_as_diverged():
    # growth at rate 900 until t = 0.75, then flat: the full window's fit grows slower and stays finite over the
    # window, while the refit on the first 75% (rate ~900 exactly) overflows before t = 1 (e^900 > 1e308)
    t = np.linspace(0, 1, 2001)
    data = xr.DataArray(np.exp(900 * np.minimum(t, 0.75))[:, None], dims=("time", "c"), coords={"time": t})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scores = dynamics.compare(fit(data), data)
        ranked = dynamics.select(data, ["linear"], time="time", component="c")
    assert not bool(scores.diverged.any()) and bool(scores.diverged_forecast.all())
    assert np.isnan(float(ranked.forecast_error[0])) and float(ranked.diverged[0]) == 1.0
