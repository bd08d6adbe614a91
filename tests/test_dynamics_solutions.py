"""Solving a fitted ODE: every method marks a solution that blows up as diverged (issue 23, item 9)."""

import numpy as np
import pytest
import xarray as xr
from scipy.linalg import expm

import dynamics
from fittest.errors import InputError


def linear_run(rate: float) -> xr.DataArray:
    """The exact solution of a 2-D linear system whose leading eigenvalue is ``rate``, on t in [0, 4]."""
    A = np.array([[rate, 1.0], [0.0, -1.0]])
    t = np.linspace(0, 4, 401)
    x = np.stack([expm(A * s) @ np.array([1.0, 0.5]) for s in t])
    return xr.DataArray(x, dims=("time", "c"), coords={"time": t, "c": ["a", "b"]})


@pytest.fixture(scope="module")
def unstable():
    return dynamics.fit(linear_run(0.8), "linear", derivative="central")


@pytest.mark.parametrize("method", ["analytic", "diffrax", "euler"])
def test_a_solution_past_the_bound_is_diverged_and_nan_from_then_on(unstable, method):
    # e^(0.8 t) passes 1e6 (the default bound, x0 of order 1) near t = 17, long before the float limit
    t = np.linspace(0, 40, 801)
    solved = unstable.simulate(t=t, method=method)
    assert bool(solved["diverged"]), method
    values = solved.values
    first = int(np.flatnonzero(np.isnan(values).any(axis=-1))[0])
    assert 14 < t[first] < 20, (method, t[first])
    assert np.isnan(values[first:]).all() and np.isfinite(values[:first]).all()
    assert np.abs(values[:first]).max() <= 1e6


def test_the_same_solution_inside_the_bound_is_not_diverged(unstable):
    t = np.linspace(0, 4, 81)
    exact = unstable.simulate(t=t, method="analytic")
    assert not bool(exact["diverged"])
    M = np.zeros((3, 3))
    M[:2, :2], M[:2, 2] = unstable.A.values, unstable.b.values
    expected = np.stack([(expm(M * s) @ np.append(unstable.x0.values, 1.0))[:2] for s in t])
    np.testing.assert_allclose(exact.values, expected, rtol=1e-9, atol=1e-9)
    # a wider bound lets the same solution run on
    assert not bool(unstable.simulate(t=np.linspace(0, 40, 801), method="analytic", bound=1e300)["diverged"])


def test_a_stable_fit_is_never_diverged():
    fit = dynamics.fit(linear_run(-0.3), "linear", derivative="central")
    for method in ("analytic", "diffrax", "euler"):
        assert not bool(fit.simulate(t=np.linspace(0, 200, 2001), method=method)["diverged"]), method


def test_solver_objects_carry_their_options_and_match_the_names(unstable):
    from dynamics import solutions

    t = np.linspace(0, 4, 81)
    by_name = unstable.simulate(t=t, method="diffrax", rtol=1e-6, atol=1e-8)
    by_object = unstable.simulate(t=t, method=solutions.Diffrax(rtol=1e-6, atol=1e-8))
    np.testing.assert_array_equal(by_object.values, by_name.values)
    assert by_object.attrs["method"] == "diffrax"
    exact = unstable.simulate(t=t, method=solutions.Analytic(form="paper", eps=1e-10))
    np.testing.assert_allclose(exact.values, unstable.simulate(t=t, method="analytic").values, rtol=1e-6)
    with pytest.raises(InputError, match="analytic"):
        dynamics.fit(linear_run(0.8), "sindy", degree=2).simulate(t=t, method=solutions.Analytic())


def test_compare_takes_a_solver_object_and_gives_the_numbers_of_its_name_with_those_options(unstable):
    by_name = dynamics.compare(unstable, methods="diffrax", rtol=1e-6, atol=1e-8, holdout=0.25)
    solver = dynamics.Diffrax(rtol=1e-6, atol=1e-8)
    by_object = dynamics.compare(unstable, methods=[solver], holdout=0.25)
    assert list(by_object.solution.values) == ["diffrax(rtol=1e-06, atol=1e-08)"]
    for name in ("trajectory", "r2_trajectory", "rmse", "forecast", "r2_forecast", "nrmse_forecast"):
        np.testing.assert_array_equal(by_object[name].values, by_name[name].values, err_msg=name)
    # the options are the object's: a looser tolerance gives another solution
    loose = dynamics.compare(unstable, methods=dynamics.Diffrax(rtol=1e-3, atol=1e-3), holdout=0)
    error = np.abs(loose.trajectory.values - by_name.trajectory.values).max() / np.abs(by_name.trajectory.values).max()
    assert 1e-6 < error < 1e-2


def test_a_tight_diffrax_object_agrees_with_the_matrix_exponential_to_1e_8():
    fit = dynamics.fit(linear_run(-0.3), "linear", derivative="central")
    tight = dynamics.Diffrax(rtol=1e-12, atol=1e-14)
    result = dynamics.compare(fit, methods=["analytic", tight], holdout=0)
    labels = ["analytic", "diffrax(rtol=1e-12, atol=1e-14)"]
    assert list(result.solution.values) == labels
    exact, solved = (result.trajectory.sel(solution=label).values for label in labels)
    assert np.abs(exact).max() > 0.1  # a solution of order one, so 1e-8 is a relative bound too
    np.testing.assert_allclose(solved, exact, rtol=0, atol=1e-8)
    # the default object is labelled by its name alone, as the name is
    assert dynamics.solutions.label(dynamics.Diffrax()) == "diffrax" == dynamics.solutions.label("diffrax")


def test_select_ranks_with_a_solver_object(unstable):
    data = linear_run(-0.3)
    exact = dynamics.select(data, ["linear", "lasso"], derivative="central", method="analytic")
    solved = dynamics.select(
        data, ["linear", "lasso"], derivative="central", method=dynamics.Diffrax(rtol=1e-12, atol=1e-14)
    )
    assert list(solved.model.values) == list(exact.model.values)
    np.testing.assert_allclose(solved.forecast_error.values, exact.forecast_error.values, rtol=1e-6)
    with pytest.raises(InputError, match="analytic"):
        dynamics.select(data, ["sindy"], method=dynamics.Analytic())


def test_compare_refuses_a_repeated_or_unknown_method(unstable):
    with pytest.raises(InputError, match="repeat"):
        dynamics.compare(unstable, methods=["diffrax", dynamics.Diffrax()], holdout=0)
    with pytest.raises(InputError, match="unknown method"):
        dynamics.compare(unstable, methods=[object()], holdout=0)
