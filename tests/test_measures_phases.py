"""Phase diagrams and power-law fits of a sweep, on known answers."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402

from fittest.errors import InputError  # noqa: E402
from training.analysis.phases import fit_power_law, phase_diagram  # noqa: E402


def _grid(noise: float, seed: int = 0) -> xr.DataArray:
    # t = 3 (lr * wd) ** -1, with 5% multiplicative noise, over 6 x 6 points and 3 replicates
    rng = np.random.default_rng(seed)
    lr = np.geomspace(1e-4, 1e-2, 6)
    wd = np.geomspace(0.01, 1.0, 6)
    exact = 3.0 / (lr[:, None, None] * wd[None, :, None]) * np.ones((1, 1, 3))
    t = exact * (1 + noise * rng.standard_normal(exact.shape))
    return xr.DataArray(
        t, dims=("lr", "weight_decay", "replicate"), coords={"lr": lr, "weight_decay": wd}, name="generalisation_step"
    )


def test_the_fit_recovers_a_known_exponent_with_noise():
    t = _grid(0.05)
    product = t["lr"] * t["weight_decay"]
    law = fit_power_law(product.broadcast_like(t), t)
    assert abs(law.exponent + 1) < 0.05
    assert law.prefactor == pytest.approx(3.0, rel=0.1)
    assert 0 < law.exponent_se < 0.05  # 108 points at 5% noise: about 0.004
    assert law.n == t.size


def test_the_fit_is_exact_without_noise_and_leaves_out_what_never_happened():
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    y = 7.0 * x**-1.5
    y_missing = np.r_[y, np.nan, 0.0]
    law = fit_power_law(np.r_[x, 32.0, 64.0], y_missing)
    assert law.exponent == pytest.approx(-1.5) and law.prefactor == pytest.approx(7.0) and law.n == 5
    assert law.exponent_se == pytest.approx(0.0, abs=1e-9)
    assert law(2.0) == pytest.approx(7.0 * 2**-1.5)
    with pytest.raises(InputError, match="at least 3"):
        fit_power_law([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(InputError, match="one shape"):
        fit_power_law([1.0, 2.0, 3.0], [1.0, 2.0])


def test_the_phase_diagram_draws_the_reduced_grid_with_labelled_axes():
    t = _grid(0.0)
    fig = phase_diagram(t.to_dataset(), "generalisation_step", x="weight_decay", y="lr")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "weight_decay" and ax.get_ylabel() == "lr"
    shown = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(shown, np.log10(t.mean("replicate").values), rtol=1e-12)  # rows lr, columns wd
    assert "log10 generalisation_step" in fig.axes[1].get_ylabel()
    with pytest.raises(InputError, match="two different dims"):
        phase_diagram(t, "generalisation_step", x="lr", y="lr")
    with pytest.raises(InputError, match="no variable"):
        phase_diagram(t.to_dataset(), "n_circles", x="lr", y="weight_decay")
