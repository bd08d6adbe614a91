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


def forced_map(samples: int, steps: int, seed: int) -> xr.Dataset:
    """The linear map driven by a known input of two channels per sample, ``+ dt B_u u[k]``."""
    rng = np.random.default_rng(seed)
    dt = 0.1
    u = np.stack([np.sin(0.3 * np.arange(steps))[None].repeat(samples, 0), rng.normal(size=(samples, steps))], -1)
    x = np.empty((samples, steps, 2))
    x[:, 0] = rng.normal(size=(samples, 2))
    for k in range(steps - 1):
        drive = x[:, k] @ A.T + u[:, k] @ B_U.T + B
        x[:, k + 1] = x[:, k] + dt * drive + 0.05 * rng.normal(size=(samples, 2))
    return xr.Dataset(
        {"x": (("run", "t", "c"), x), "u": (("run", "t", "channel"), u)}, coords={"t": dt * np.arange(steps)}
    )


B_U = np.array([[0.4, 0.0], [0.1, -0.3]])


def test_intervals_with_control_inputs_cover_the_truth():
    # the inputs are resampled with the states they drove: the same rows of each sample
    data = forced_map(40, 200, seed=3)
    fitted = fit(data, variable="x", u="u", bootstrap=300, seed=0, block=1)
    intervals = fitted.confidence(0.95)
    # the true coefficient of each term: a state's column of A, an input's column of B_U, or the constant
    columns = np.concatenate([A, B_U], axis=1)
    truth = np.stack([columns[:, np.flatnonzero(p)[0]] if p.sum() == 1 else B for p in fitted.library.powers], 1)
    assert truth.shape == (2, 5)
    inside = (intervals.low.values <= truth) & (truth <= intervals.high.values)
    # 400 intervals: measured 0.9375; inputs left in place while the states are resampled cover 0.73
    assert 0.9 <= inside.mean() <= 0.99, inside.mean()
    # and the intervals are as wide as least squares says, input terms included: 2 x 1.96 standard errors of
    # the regression of the forward differences on [x, u, 1], whose noise is 0.05 / dt
    rows = np.concatenate([data["x"].values, data["u"].values], axis=-1)[:, :-1]
    design = np.prod(rows[..., None, :] ** fitted.library.powers, axis=-1)  # (run, row, term)
    variance = (0.05 / 0.1) ** 2 * np.linalg.inv(np.einsum("sni,snj->sij", design, design))
    expected = 2 * 1.96 * np.sqrt(np.diagonal(variance, axis1=1, axis2=2))  # (run, term)
    ratio = (intervals.high - intervals.low).values / expected[:, None, :]
    per_term = ratio.mean(axis=(0, 1))  # measured 0.97-0.98 for every term
    assert 0.85 < per_term.min() and per_term.max() < 1.15, per_term


def test_trajectory_refits_that_fail_are_left_out_and_counted(monkeypatch):
    from dynamics import shooting

    real = shooting.fit_trajectories

    def every_third_refit_blows_up(*args, weights=None, **kwargs):
        result = real(*args, weights=weights, **kwargs)
        if weights is not None:  # the bootstrap's refits; the fit itself is left as it is
            result.coefficients[::3] = np.nan
            result.converged[::3] = False
        return result

    data = linear_map(2, 60, seed=4)
    whole = fit(data, objective="trajectory", bootstrap=12, seed=1)
    # on process noise some of the 24 refits reach the 200-step limit at costs like the others' (measured 7):
    # kept, and counted
    assert whole.bootstrap_info["failed"] == 0 and 0 < whole.bootstrap_info["unconverged"] < 24
    assert not np.isnan(whole.bootstrap_coefficients.values).any()
    monkeypatch.setattr(shooting, "fit_trajectories", every_third_refit_blows_up)
    failing = fit(data, objective="trajectory", bootstrap=12, seed=1)
    assert failing.bootstrap_info["failed"] == 8  # 24 refits, every third
    replicates = failing.bootstrap_coefficients.values  # (bootstrap, run, target, term)
    lost = np.isnan(replicates).all(axis=(2, 3))
    assert lost.sum() == 8 and not np.isnan(replicates[~lost]).any()
    # the intervals come from the refits that are left, the same as the fit without blow-ups gave them
    kept = whole.bootstrap_coefficients.values.copy()
    kept[lost] = np.nan
    np.testing.assert_allclose(failing.confidence().low.values, np.nanquantile(kept, 0.025, axis=0), rtol=1e-9)


# issue 23, 11: measurement noise on a continuous system ---------------------------------------------------------

A_FLOW = np.array([[-0.5, 1.0], [-1.0, -0.3]])
B_FLOW = np.array([0.2, -0.1])
TRUE_FLOW = np.concatenate([A_FLOW, B_FLOW[:, None]], axis=1)


def measured_flow(samples: int, steps: int, noise: float, seed: int) -> xr.DataArray:
    """The linear flow ``dx/dt = A x + b`` sampled exactly (matrix exponential), each component measured with
    Gaussian noise of ``noise`` times its spread."""
    from scipy.linalg import expm

    rng = np.random.default_rng(seed)
    dt, rest = 0.05, -np.linalg.solve(A_FLOW, B_FLOW)
    step = expm(A_FLOW * dt)
    x = np.empty((samples, steps, 2))
    x[:, 0] = 2 * rng.normal(size=(samples, 2))
    for k in range(steps - 1):
        x[:, k + 1] = rest + (x[:, k] - rest) @ step.T
    x += noise * x.std(axis=1, keepdims=True) * rng.normal(size=x.shape)
    return xr.DataArray(x, dims=("run", "t", "c"), coords={"t": dt * np.arange(steps)})


@pytest.mark.parametrize("noise", [0.01, 0.05])
def test_intervals_under_measurement_noise_cover_the_truth_at_their_level(noise):
    # 40 systems x 6 coefficients = 240 intervals of the default central difference
    data = measured_flow(40, 200, noise, seed=1)
    fitted = dynamics.fit(data, "linear", time="t", component="c", bootstrap=200, seed=0)
    assert fitted.bootstrap_info["resampled"] == "measurement noise"
    intervals = fitted.confidence(0.95)
    inside = (intervals.low.values <= TRUE_FLOW) & (TRUE_FLOW <= intervals.high.values)
    assert 0.88 <= inside.mean() <= 0.99, inside.mean()  # measured 0.971 (1%), 0.967 (5%)
    # redrawing rows of the derivative regression breaks the central difference's cancellation of the noise at
    # each block's edge: every interval covers (measured 1.0 at both levels), and each is wider
    rows = dynamics.fit(data, "linear", time="t", component="c", bootstrap=200, seed=0, resample="rows")
    wide = rows.confidence(0.95)
    assert ((wide.low.values <= TRUE_FLOW) & (TRUE_FLOW <= wide.high.values)).mean() > 0.99
    ratio = float(np.median((wide.high - wide.low).values / (intervals.high - intervals.low).values))
    assert ratio > 1.25, ratio  # measured 1.44 (1%), 1.43 (5%)
    # the replicates are centred on the fit, and their spread is the estimator's own over the 40 systems
    np.testing.assert_allclose(fitted.bootstrap_coefficients.mean("bootstrap"), fitted.coefficients, atol=1e-12)
    spread = float(np.sqrt((fitted.bootstrap_coefficients.var("bootstrap").values).mean()))
    actual = float(np.sqrt(((fitted.coefficients.values - TRUE_FLOW) ** 2).mean()))
    assert 0.7 < spread / actual < 1.3, (spread, actual)  # measured 1.00, 1.02


def test_redrawing_the_noise_is_refused_where_the_states_cannot_be_differentiated_again():
    data = measured_flow(3, 60, 0.01, seed=2)
    known = data.differentiate("t")
    with pytest.raises(InputError, match="resample='noise'.*resample='rows'"):
        dynamics.fit(data, "linear", time="t", component="c", derivative=known, bootstrap=5, resample="noise")
    with pytest.raises(InputError, match="redraws its samples"):
        dynamics.fit(data, "linear", time="t", component="c", pool=True, bootstrap=5, resample="noise")
    with pytest.raises(InputError, match="resample"):
        dynamics.fit(data, "linear", time="t", component="c", bootstrap=5, resample="wild")
