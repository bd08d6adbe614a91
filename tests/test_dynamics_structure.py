"""Structure a user imposes on a fit (issue 23 items 6, 9, 10): support=, stable=, rank=, information criteria."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy.integrate import solve_ivp
from scipy.linalg import expm
from scipy.optimize import minimize

import dynamics
from fittest.errors import InputError

# x' = a x - b x y, y' = -c y + d x y: the classic predator-prey model, without self-interaction
_PREDATOR_PREY = {"a": 1.0, "b": 0.5, "c": 1.5, "d": 0.75}
_CLASSIC = {"x": ["x", "x y"], "y": ["y", "x y"]}


@pytest.fixture(scope="module")
def predator_prey() -> xr.DataArray:
    a, b, c, d = _PREDATOR_PREY.values()
    t = np.linspace(0, 15, 1501)
    solution = solve_ivp(
        lambda _, z: [a * z[0] - b * z[0] * z[1], -c * z[1] + d * z[0] * z[1]],
        (0, 15),
        [3.0, 1.0],
        t_eval=t,
        rtol=1e-11,
        atol=1e-12,
    )
    return xr.DataArray(solution.y.T, dims=("time", "component"), coords={"time": t, "component": ["x", "y"]})


def _truth(terms) -> np.ndarray:
    a, b, c, d = _PREDATOR_PREY.values()
    known = {("x", "x"): a, ("x", "x y"): -b, ("y", "y"): -c, ("y", "x y"): d}
    return np.array([[known.get((target, term), 0.0) for term in terms] for target in ("x", "y")])


@pytest.mark.parametrize("model", ["lotka_volterra", "sindy"])
def test_support_recovers_the_classic_predator_prey(predator_prey, model):
    fitted = dynamics.fit(predator_prey, model, support=_CLASSIC)
    coefficients = fitted.coefficients.transpose("target", "term")
    truth = _truth(coefficients.term.values)
    # the 4 coefficients to 1e-3 (central differences at dt 0.01), every other term exactly 0
    np.testing.assert_allclose(coefficients.values, truth, atol=1e-3)
    assert ((coefficients.values != 0) == (truth != 0)).all()


def test_support_as_a_dataarray_and_in_refit(predator_prey):
    by_dict = dynamics.fit(predator_prey, "lotka_volterra", support=_CLASSIC)
    mask = by_dict.coefficients != 0
    by_array = dynamics.fit(predator_prey, "lotka_volterra", support=mask)
    np.testing.assert_array_equal(by_array.coefficients.values, by_dict.coefficients.values)
    assert by_dict.fit_options["support"] == _CLASSIC
    again = dynamics.refit(by_dict, predator_prey)
    np.testing.assert_array_equal(again.coefficients.values, by_dict.coefficients.values)


def test_support_restricts_linear_and_lasso(predator_prey):
    support = {"x": ["x"], "y": ["y", "1"]}
    for model in ("linear", "lasso"):
        coefficients = dynamics.fit(predator_prey, model, support=support).coefficients
        assert coefficients.sel(target="x", term="y").item() == 0
        assert coefficients.sel(target="x", term="1").item() == 0
        assert coefficients.sel(target="y", term="x").item() == 0


@pytest.mark.parametrize(
    ("support", "message"),
    [
        ({"z": ["x"]}, "support names the target 'z'"),
        ({"x": ["x z"]}, "which the model lacks"),
        ({"x": []}, "leaves 'x' no term"),
        ("x", "support must be"),
    ],
)
def test_bad_support_is_named(predator_prey, support, message):
    with pytest.raises(InputError, match=message):
        dynamics.fit(predator_prey, "lotka_volterra", support=support)


def _damped_oscillator(seed: int) -> tuple[xr.DataArray, np.ndarray]:
    """A weakly damped oscillator (eigenvalues -0.01 ± 1i), 10 time units at 20 points each, 20% noise."""
    a = np.array([[-0.01, 1.0], [-1.0, -0.01]])
    t = np.linspace(0, 10, 201)
    states = np.stack([expm(a * s) @ np.array([2.0, 0.0]) for s in t])
    states = states + 0.2 * np.random.default_rng(seed).standard_normal(states.shape)
    data = xr.DataArray(states, dims=("time", "component"), coords={"time": t, "component": ["x", "y"]})
    return data, a


@pytest.mark.parametrize("seed", [0, 2])
def test_stable_linear_fit(seed):
    data, truth = _damped_oscillator(seed)
    free = dynamics.fit(data, "linear")
    assert free.eigenvalues.real.max() > 0  # noise made the least-squares A unstable
    stable = dynamics.fit(data, "linear", stable=True)
    eigenvalues = stable.eigenvalues.values
    assert eigenvalues.real.max() < 0
    np.testing.assert_allclose(np.sort(np.abs(eigenvalues.imag)), [1.0, 1.0], atol=0.05)
    # the truth (symmetric part -0.01 I) is in the constrained set, so the constrained optimum fits no worse
    x = data.values
    derivative = np.gradient(x, data.time.values, axis=0, edge_order=2)  # the fit's central differences
    coefficients = stable.coefficients.sel(target=["x", "y"]).values

    def residual(a):
        b = (derivative - x @ a.T).mean(axis=0)
        return np.sum((x @ a.T + b - derivative) ** 2)

    def feasible(p):
        # every A with (A + A^T) / 2 <= 0: minus a Gram matrix plus a skew part
        lower = np.array([[p[0], 0.0], [p[1], p[2]]])
        return -lower @ lower.T + p[3] * np.array([[0.0, 1.0], [-1.0, 0.0]])

    # the convex problem's optimum, found independently over that set's parametrisation
    best = min(
        (minimize(lambda p: residual(feasible(p)), start, method="BFGS") for start in ([0.1, 0, 0.1, 1], [1, 0, 1, 0])),
        key=lambda r: r.fun,
    )
    assert residual(coefficients[:, :2]) <= best.fun * (1 + 1e-6)
    assert residual(coefficients[:, :2]) <= residual(truth)
    assert bool(stable.to_dataset()["stable_constrained"].item())


def test_stable_keeps_a_stable_least_squares_fit():
    data, _ = _damped_oscillator(1)
    free, stable = dynamics.fit(data, "linear"), dynamics.fit(data, "linear", stable=True)
    assert free.eigenvalues.real.max() < 0
    np.testing.assert_array_equal(stable.coefficients.values, free.coefficients.values)


def test_rank_truncation_recovers_a_low_rank_systems_eigenvalues():
    # a 65-dimensional linear system living on 4 modes: eigenvalues -0.1 ± 1i and -0.2 ± 2i
    rng = np.random.default_rng(0)
    blocks = np.zeros((4, 4))
    blocks[:2, :2] = [[-0.1, 1.0], [-1.0, -0.1]]
    blocks[2:, 2:] = [[-0.2, 2.0], [-2.0, -0.2]]
    modes = np.linalg.qr(rng.standard_normal((65, 4)))[0]
    t = np.linspace(0, 10, 2001)
    reduced = np.stack([expm(blocks * s) @ np.ones(4) for s in t])
    data = xr.DataArray(reduced @ modes.T, dims=("time", "component"), coords={"time": t, "component": range(65)})
    fitted = dynamics.fit(data, "linear", rank=4)
    eigenvalues = fitted.eigenvalues.values
    largest = eigenvalues[np.argsort(-np.abs(eigenvalues))[:4]]
    expected = np.array([-0.1 + 1j, -0.1 - 1j, -0.2 + 2j, -0.2 - 2j])
    np.testing.assert_allclose(np.sort_complex(largest), np.sort_complex(expected), atol=1e-3)
    assert np.sort(np.abs(eigenvalues))[-5] < 1e-8  # the other 61 are zero
    with pytest.raises(InputError, match="rank must be at most"):
        dynamics.fit(data, "linear", rank=66)


def test_bic_keeps_lorenzs_seven_terms_at_one_percent_noise():
    t = np.arange(0, 10, 0.002)
    clean = solve_ivp(
        lambda _, z: [10 * (z[1] - z[0]), z[0] * (28 - z[2]) - z[1], z[0] * z[1] - 8 / 3 * z[2]],
        (0, 10),
        [-8.0, 8.0, 27.0],
        t_eval=t,
        rtol=1e-10,
        atol=1e-10,
    ).y.T
    noisy = clean + 0.01 * clean.std(axis=0) * np.random.default_rng(0).standard_normal(clean.shape)
    data = xr.DataArray(noisy, dims=("time", "component"), coords={"time": t, "component": ["x", "y", "z"]})
    thresholds = (0.001, 0.01, 0.1, 1.0, 3.0)
    ranked = dynamics.select(
        data, [("sindy", {"threshold": v}) for v in thresholds], criterion="bic", derivative="savgol"
    )
    assert ranked.attrs["criterion"] == "bic" and "forecast_error" not in ranked
    best = ranked.model.values[0]
    chosen = dynamics.fit(
        data,
        "sindy",
        threshold=thresholds[[f"sindy(threshold={v!r})" for v in thresholds].index(best)],
        derivative="savgol",
    )
    names = chosen.coefficients.transpose("target", "term")
    kept = {
        (str(names.target.values[i]), str(names.term.values[j]))
        for i, j in zip(*np.nonzero((names != 0).values), strict=True)
    }
    assert kept == {("x", "x"), ("x", "y"), ("y", "x"), ("y", "y"), ("y", "x z"), ("z", "z"), ("z", "x y")}
    # the smallest threshold keeps noise terms, which the BIC's penalty ranks below
    assert ranked.sel(model="sindy(threshold=0.001)").terms > 7 / 3
    with pytest.raises(InputError, match="unknown criterion"):
        dynamics.select(data, ["linear"], criterion="cp")
