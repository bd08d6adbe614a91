"""The problem and its estimators (issue 23, the structure): pooling is one grouping of the samples, and a
fold or replicate is the same problem on some of its rows or samples."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import dynamics
from dynamics.derivatives import differentiate
from dynamics.estimators import DerivativeRegression
from dynamics.problem import Problem
from dynamics.trajectories import as_trajectories
from fittest.errors import InputError

A = np.array([[-0.5, 0.3], [-0.2, -0.4]])


def maps(samples: int = 10, steps: int = 200, seed: int = 0) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    x = np.empty((samples, steps, 2))
    x[:, 0] = rng.normal(size=(samples, 2))
    for k in range(steps - 1):
        x[:, k + 1] = x[:, k] + 0.1 * x[:, k] @ A.T + 0.02 * rng.normal(size=(samples, 2))
    return xr.DataArray(x, dims=("run", "t", "c"), coords={"t": 0.1 * np.arange(steps)})


@pytest.mark.parametrize("pool", [True, False])
def test_the_estimator_on_the_problem_is_the_fit(pool):
    data = maps()
    traj = as_trajectories(data, time="t", component="c")
    x, dxdt, index = differentiate(traj, "forward")
    problem = Problem.of(x, dxdt, traj.t[index], names=["x_0", "x_1"], pool=pool)
    assert problem.pooled is pool
    result = DerivativeRegression("linear").fit(problem)
    fitted = dynamics.fit(data, "linear", time="t", component="c", derivative="forward", pool=pool)
    assert result.coefficients.shape[0] == (1 if pool else 10)
    np.testing.assert_array_equal(result.coefficients.reshape(fitted.coefficients.shape), fitted.coefficients)
    if pool:
        # the forward difference of a map with process noise regresses exactly: A within its noise
        np.testing.assert_allclose(result.coefficients[0, :, :2], A, atol=0.06)  # measured 0.034


def test_a_fold_keeps_the_grouping_and_splits_the_inputs_with_the_states():
    rng = np.random.default_rng(1)
    x, dxdt, u = rng.normal(size=(4, 30, 2)), rng.normal(size=(4, 30, 2)), rng.normal(size=(4, 30, 1))
    problem = Problem.of(x, dxdt, np.arange(30.0), names=["a", "b"], u=u, pool=True)
    rows = problem.select(rows=np.arange(10, 20))
    assert rows.pooled and rows.t.tolist() == list(range(10, 20)) and rows.u.shape == (4, 10, 1)
    samples = problem.select(samples=np.array([0, 2]))
    np.testing.assert_array_equal(samples.u, u[[0, 2]])
    assert samples.pooled
    assert not Problem.of(x, dxdt, np.arange(30.0), names=["a", "b"]).select(samples=np.array([1, 3])).pooled
    with pytest.raises(InputError, match="several shared ODEs"):
        _ = Problem(x, dxdt, np.arange(30.0), ["a", "b"], groups=np.array([0, 0, 1, 1])).pooled
    with pytest.raises(InputError, match="does not take that option"):
        DerivativeRegression("linear", colour="red").fit(problem)


@pytest.mark.parametrize("model", ["linear", "lasso", "lotka_volterra", "sindy"])
def test_a_fitter_fits_one_ode_per_group_and_takes_the_older_pooled_spelling(model):
    traj = as_trajectories(maps(samples=4, steps=120, seed=2), time="t", component="c")
    x, dxdt, index = differentiate(traj, "forward")
    if model == "lotka_volterra":
        x, dxdt = np.abs(x) + 1.0, dxdt  # its log-linear terms want positive states
    options = {"names": ["x_0", "x_1"], "t": traj.t[index], **({"alpha": 1e-3} if model == "lasso" else {})}
    fitter = dynamics.MODELS[model]
    pooled = fitter(x, dxdt, pooled=True, **options).coefficients
    np.testing.assert_array_equal(fitter(x, dxdt, groups=np.zeros(4, dtype=int), **options).coefficients, pooled)
    # two groups of two samples: each group's ODE is the pooled fit of its own samples alone
    paired = fitter(x, dxdt, groups=np.array([0, 1, 0, 1]), **options).coefficients
    assert paired.shape[0] == 2
    for group, samples in enumerate(([0, 2], [1, 3])):
        alone = fitter(x[samples], dxdt[samples], pooled=True, **options).coefficients[0]
        np.testing.assert_allclose(paired[group], alone, rtol=1e-12, atol=1e-12)
    assert np.abs(paired[0] - paired[1]).max() > 1e-4  # other samples, other noise: not one fit repeated
    uneven = np.array([0, 0, 0, 1])
    if model == "sindy":  # pysindy takes each group's trajectories as a list: groups of any size
        three = fitter(x[:3], dxdt[:3], pooled=True, **options).coefficients[0]
        np.testing.assert_allclose(fitter(x, dxdt, groups=uneven, **options).coefficients[0], three, rtol=1e-12)
    else:  # the least-squares fitters stack each group's samples into one array
        with pytest.raises(InputError, match="differ in size"):
            fitter(x, dxdt, groups=uneven, **options)
