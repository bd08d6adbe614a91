"""Bootstrap intervals of `dynamics.fit` (issue 10): their coverage is measured, not assumed.

The systems are linear maps with process noise, ``x[k+1] = x[k] + dt (A x[k] + b) + noise``, fitted with
forward differences: the regression is then exact, so a 95% interval must hold the true ``A`` and ``b`` about
95% of the time. Each test counts 240 intervals; a binomial count at 0.95 falls in 0.88..0.99 with
probability above 0.999.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import dynamics
from fittest.errors import InputError

A = np.array([[-0.5, 0.3], [-0.2, -0.4]])
B = np.array([0.5, 0.2])
TRUE = np.concatenate([A, B[:, None]], axis=1)  # (target, term): x_0, x_1, 1


def linear_map(samples: int, steps: int, seed: int) -> xr.DataArray:
    rng = np.random.default_rng(seed)
    dt = 0.1
    x = np.empty((samples, steps, 2))
    x[:, 0] = rng.normal(size=(samples, 2))
    for k in range(steps - 1):
        x[:, k + 1] = x[:, k] + dt * (x[:, k] @ A.T + B) + 0.05 * rng.normal(size=(samples, 2))
    return xr.DataArray(x, dims=("run", "t", "c"), coords={"t": dt * np.arange(steps)})


def fit(data, **options):
    return dynamics.fit(data, "linear", time="t", component="c", derivative="forward", **options)


def test_intervals_over_blocks_of_time_cover_the_truth():
    # 40 systems, one fit each: every sample's intervals come from resampling its own time points
    fitted = fit(linear_map(40, 200, seed=1), bootstrap=300, seed=0, block=1)
    intervals = fitted.confidence(0.95)
    assert intervals.low.dims == fitted.coefficients.dims and intervals.low.shape == (40, 2, 3)
    assert fitted.bootstrap_info["resampled"] == "blocks of time"
    inside = (intervals.low.values <= TRUE) & (TRUE <= intervals.high.values)
    assert 0.88 <= inside.mean() <= 0.99, inside.mean()  # measured 0.946
    # a lower level gives narrower intervals that cover less
    narrow = fitted.confidence(0.5)
    assert bool((narrow.high - narrow.low <= intervals.high - intervals.low).all())
    assert 0.35 <= ((narrow.low.values <= TRUE) & (TRUE <= narrow.high.values)).mean() <= 0.65


def test_intervals_over_samples_of_a_pooled_fit_cover_the_truth():
    inside = []
    for replicate in range(40):
        fitted = fit(linear_map(20, 40, seed=100 + replicate), pool=True, bootstrap=200, seed=replicate)
        assert fitted.bootstrap_info["resampled"] == "samples"
        intervals = fitted.confidence()
        inside.append((intervals.low.values <= TRUE) & (TRUE <= intervals.high.values))
    assert 0.88 <= np.mean(inside) <= 0.99, np.mean(inside)


def test_bootstrap_is_reproducible_saved_and_checked(tmp_path):
    data = linear_map(3, 80, seed=5)
    first = fit(data, bootstrap=20, seed=7)
    again = fit(data, bootstrap=20, seed=7)
    other = fit(data, bootstrap=20, seed=8)
    np.testing.assert_array_equal(first.bootstrap_coefficients.values, again.bootstrap_coefficients.values)
    assert not np.array_equal(first.bootstrap_coefficients.values, other.bootstrap_coefficients.values)
    assert first.bootstrap_info["block"] == 4  # the cube root of the 79 forward-difference rows
    first.save(tmp_path / "fit.nc")
    loaded = dynamics.load(tmp_path / "fit.nc")
    xr.testing.assert_allclose(loaded.confidence(0.9).low, first.confidence(0.9).low)
    with pytest.raises(InputError, match="bootstrap=200"):
        fit(data).confidence()
    with pytest.raises(InputError, match="level"):
        first.confidence(95)
    with pytest.raises(InputError, match="bootstrap"):
        fit(data, bootstrap=-1)
    with pytest.raises(InputError, match="longer than the series"):
        fit(data, bootstrap=5, block=500)
