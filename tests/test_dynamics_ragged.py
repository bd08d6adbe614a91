"""Ragged data (issue 10): samples of different lengths, given as NaN padding at the end of the time axis.

Each sample is fitted on its own observed points, the others are not dropped: a sample cut short recovers the
same system as a whole one, and its coefficients are those of a fit to that sample alone over its window.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import xarray as xr

import dynamics
from fittest.errors import InputError

A_TRUE = np.array([[-0.3, 1.0], [-1.0, -0.2]])
B_TRUE = np.array([0.5, -0.2])
LENGTHS = (150, 60, 150, 95)


def system(lengths=LENGTHS) -> xr.DataArray:
    """Four samples of dx/dt = A x + b from different starts on one grid, cut to ``lengths`` by NaN padding."""
    t = np.linspace(0, 7.5, 150)
    starts = np.array([[1.0, 0.0], [0.0, 2.0], [-1.5, 0.5], [2.0, -1.0]])
    fixed = -np.linalg.solve(A_TRUE, B_TRUE)
    values = np.stack([np.stack([scipy.linalg.expm(A_TRUE * s) @ (x0 - fixed) + fixed for s in t]) for x0 in starts])
    for sample, length in enumerate(lengths):
        values[sample, length:] = np.nan
    return xr.DataArray(values, dims=("run", "time", "component"), coords={"time": t, "run": [10, 11, 12, 13]})


def fit(data, model="linear", **options):
    return dynamics.fit(data, model, time="time", component="component", **options)


def alone(data, sample: int, model="linear", **options):
    """The fit of one sample over its observed window only."""
    one = data.isel(run=[sample]).dropna("time")
    return fit(one, model, **options)


def test_cut_samples_recover_the_same_matrix_as_whole_ones():
    ragged, whole = fit(system()), fit(system((150,) * 4))
    # central differences on a fine grid: the same A from 60 points as from 150
    np.testing.assert_allclose(ragged.A.values, np.broadcast_to(A_TRUE, (4, 2, 2)), atol=2e-3)
    np.testing.assert_allclose(ragged.A.values, whole.A.values, atol=2e-3)
    np.testing.assert_allclose(ragged.b.values, np.broadcast_to(B_TRUE, (4, 2)), atol=2e-3)
    # the whole samples are fitted exactly as without the others' padding
    np.testing.assert_allclose(ragged.A.sel(run=[10, 12]).values, whole.A.sel(run=[10, 12]).values, rtol=1e-10)
    for sample in (1, 3):  # a cut sample is fitted on its own points, as if it were alone
        np.testing.assert_allclose(ragged.A.values[sample], alone(system(), sample).A.values[0], rtol=1e-9)
    assert np.isfinite(ragged.r2_derivative.values).all() and ragged.r2_derivative.min() > 0.999


@pytest.mark.parametrize(
    ("model", "options"),
    [("lasso", {"alpha": 1e-4}), ("sindy", {"degree": 1, "threshold": 0.05}), ("lotka_volterra", {})],
)
def test_every_model_fits_each_sample_on_its_own_points(model, options):
    data = system()
    ragged = fit(data, model, **options)
    for sample in (1, 3):
        one = alone(data, sample, model, **options)
        np.testing.assert_allclose(ragged.coefficients.values[sample], one.coefficients.values[0], atol=1e-9)


def test_pooled_fit_concatenates_the_observed_rows():
    data = system()
    pooled = fit(data, pool=True)
    np.testing.assert_allclose(pooled.A.values, A_TRUE, atol=2e-3)
    # the same as a pooled fit of the samples cut to their lengths, run by run
    parts = [data.isel(run=[s]).dropna("time") for s in range(4)]
    rows = [dynamics.differentiate(dynamics.as_trajectories(p, time="time", component="component")) for p in parts]
    x = np.concatenate([r[0][0] for r in rows])
    d = np.concatenate([r[1][0] for r in rows])
    design = np.column_stack([x, np.ones(len(x))])
    expected = np.linalg.lstsq(design, d, rcond=None)[0].T
    np.testing.assert_allclose(pooled.A.values, expected[:, :2], rtol=1e-9)


def test_trajectory_objective_weighs_the_padding_zero():
    data = system()
    fitted = fit(data, objective="trajectory")
    assert bool(fitted.converged.all())
    # noise-free data: the solved ODE fits it exactly, from 60 points as from 150
    np.testing.assert_allclose(fitted.A.values, np.broadcast_to(A_TRUE, (4, 2, 2)), atol=1e-5)


def test_compare_scores_only_the_observed_points():
    data = system()
    scores = dynamics.compare(fit(data), holdout=0.25).sel(solution="analytic")
    assert np.isfinite(scores["rmse"].values).all() and float(scores["r2_trajectory"].min()) > 0.999
    cut = dynamics.compare(alone(data, 1), holdout=0).sel(solution="analytic")
    whole = dynamics.compare(fit(data), holdout=0).sel(solution="analytic")
    np.testing.assert_allclose(whole["rmse"].isel(run=1).values, cut["rmse"].isel(run=0).values, rtol=1e-6)
    # the solution is drawn over the whole grid; the data stay NaN on the padding
    assert np.isnan(scores["observed"].isel(run=1, time=-1)).all()
    assert np.isfinite(scores["trajectory"].isel(run=1, time=-1)).all()


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda v: v.__setitem__((1, 30), np.nan), "not padding"),  # a gap in the middle
        (lambda v: v.__setitem__((1, slice(100, None), 0), np.nan), "not padding"),  # one component ends early
        (lambda v: v.__setitem__((1, slice(1, None)), np.nan), "at least 2"),
        (lambda v: v.__setitem__((2, -1, 0), np.inf), "not padding"),
    ],
)
def test_nan_that_is_not_end_padding_is_refused(spoil, message):
    data = system((150,) * 4)
    values = data.values.copy()
    spoil(values)
    with pytest.raises(InputError, match=message):
        fit(data.copy(data=values))


# issue 23, 8: runs on different time grids, fitted together -------------------------------------------------------

A_GRID = np.array([[-0.5, 1.0], [-1.0, -0.3]])
B_GRID = np.array([0.2, -0.1])


def run_on(dt: float, start: float, steps: int, x0) -> xr.DataArray:
    """The exact solution of ``dx/dt = A x + b`` from ``x0`` at ``start``, on its own grid."""
    from scipy.linalg import expm

    rest = -np.linalg.solve(A_GRID, B_GRID)
    t = start + dt * np.arange(steps)
    x = np.array([rest + expm(A_GRID * (s - start)) @ (np.asarray(x0, dtype=float) - rest) for s in t])
    return xr.DataArray(x, dims=("t", "c"), coords={"t": t, "c": ["x", "y"]})


def test_runs_on_different_steps_and_starts_are_fitted_together_and_recover_the_system():
    runs = [run_on(0.01, 0.0, 400, [2, 0]), run_on(0.02, 3.0, 150, [-1, 1.5]), run_on(0.05, 7.5, 80, [0.5, -2])]
    pooled = dynamics.fit(runs, "linear", pool=True)
    # central differences on each run's own grid: O(dt^2) accurate, the coarsest run (dt 0.05) worst
    np.testing.assert_allclose(pooled.A.values, A_GRID, atol=2e-4)  # measured 1.0e-4
    np.testing.assert_allclose(pooled.b.values, B_GRID, atol=2e-4)
    each = dynamics.fit(runs, "linear")
    assert each.A.dims[0] == "run" and each.A.sizes["run"] == 3
    np.testing.assert_allclose(each.A.values, np.broadcast_to(A_GRID, (3, 2, 2)), atol=1e-3)  # measured 3.6e-4
    # the first run's fit is the fit of that run alone: the others' grids do not enter its derivatives
    alone = dynamics.fit(runs[0], "linear")
    np.testing.assert_allclose(each.A.isel(run=0).values, alone.A.values, rtol=1e-10)
    # numpy runs with a list of times, as pysindy takes them
    arrays = dynamics.fit([r.values for r in runs], "linear", t=[r["t"].values for r in runs], pool=True)
    np.testing.assert_allclose(arrays.A.values, pooled.A.values, rtol=1e-12)


def test_runs_on_different_grids_on_one_axis_are_told_to_come_as_a_list():
    runs = [run_on(0.01, 0.0, 200, [2, 0]), run_on(0.02, 0.5, 100, [-1, 1.5])]
    with pytest.raises(InputError, match=r"different time grids .* as a list"):
        dynamics.fit(xr.concat(runs, "run", join="outer"), "linear", time="t", component="c")
    with pytest.raises(InputError, match="derivative objective without inputs"):
        dynamics.fit(runs, "linear", objective="trajectory")
    with pytest.raises(InputError, match="one array per run"):
        dynamics.fit([r.values for r in runs], "linear", t=[0.01])
    with pytest.raises(InputError, match="must agree"):
        dynamics.fit([runs[0], runs[1].assign_coords(c=["p", "q"])], "linear")
