import numpy as np
import pytest
import xarray as xr
from scipy import stats

from fittest.errors import InputError
from training.analysis.fitness import fitness, gradient_norm, growth, initial_amplitude
from training.analysis.statistics import correlation, separability
from training.analysis.survival import count_survivors, survival_rate, survivors, wilson_interval


def run_dataset(amplitude, *, p, steps=None, grad=None):
    """A hand-made run dataset (docs/contract.md) around an amplitude array (run, step, frequency)."""
    amplitude = np.asarray(amplitude, dtype=float)
    R, T, K = amplitude.shape
    steps = np.arange(T) if steps is None else np.asarray(steps)
    data = {
        "amplitude": (("run", "step", "frequency"), amplitude),
        "signal": (("run", "step", "frequency"), amplitude**2),
    }
    if grad is not None:
        data["grad_signal"] = (("run", "step", "frequency"), np.asarray(grad, dtype=float))
    p = np.broadcast_to(p, R)
    return xr.Dataset(
        data,
        coords={"run": np.arange(R), "step": steps, "frequency": np.arange(1, K + 1), "p": ("run", p)},
    )


def competing(runs=60, p=13, steps=40, seed=0):
    """Circles grow or decay at a rate set by their initial amplitude: the fit survive, with noise."""
    rng = np.random.default_rng(seed)
    K = (p - 1) // 2
    a0 = rng.lognormal(sigma=0.5, size=(runs, K))
    rate = 0.08 * (np.log(a0) - np.log(a0).mean(1, keepdims=True)) + 0.03 * rng.normal(size=(runs, K))
    t = np.arange(steps)
    amp = a0[:, None, :] * np.exp(rate[:, None, :] * t[None, :, None])
    grad = (rate * a0)[:, None, :] ** 2 * np.exp(-t)[None, :, None]
    ds = run_dataset(amp, p=p, grad=grad)
    return ds.assign_coords(embedding_seed=("run", np.arange(runs) // 10))


def test_relative_rule_excludes_the_mean_frequency_and_uses_the_last_step():
    last = np.array([[10.0, 1, 1, 1, 1, 1], [3.0, 3, 1, 1, 0.5, 0.5]])
    first = np.ones_like(last)
    ds = run_dataset(np.stack([first, last], axis=1), p=13)
    alive = survivors(ds)
    assert alive.dims == ("run", "frequency") and alive.dtype == bool
    # run 1: mean over k=1..6 is 1.5, so 3 > 2 * 1.5 is false; counting a large k=0 could never flip this
    np.testing.assert_array_equal(alive.values, [[1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(count_survivors(ds).values, [1, 0])
    assert alive.attrs["rule"] == "relative" and alive.attrs["step"] == 1
    # a looser factor and an earlier step
    np.testing.assert_array_equal(survivors(ds, factor=1.5).values[1], [1, 1, 0, 0, 0, 0])
    assert not survivors(ds, step=0).values.any()


def test_absolute_rule_and_signal_variable():
    ds = run_dataset(np.array([[[1.0, 2.0, 0.2, 5.0]]]), p=9)
    np.testing.assert_array_equal(survivors(ds, rule="absolute", threshold=1.5).values, [[0, 1, 0, 1]])
    np.testing.assert_array_equal(survivors(ds, variable="signal").values, [[0, 0, 0, 1]])
    only_signal = ds.drop_vars("amplitude")
    xr.testing.assert_equal(survivors(only_signal), survivors(ds))


def test_gap_rule_finds_the_split_the_relative_rule_misses():
    # 3 survivors among 8 circles lift the mean: only one clears twice the mean, the gap rule finds all 3
    last = np.array([[16.3, 4.4, 4.6, 18.2, 3.6, 16.9, 4.2, 3.4], [1.0, 1.2, 0.9, 1.1, 1.5, 1.0, 0.8, 1.1]])
    ds = run_dataset(last[:, None, :], p=17)
    np.testing.assert_array_equal(count_survivors(ds).values, [1, 0])
    gap = survivors(ds, rule="gap")
    np.testing.assert_array_equal(gap.values[0], [1, 0, 0, 1, 0, 1, 0, 0])
    assert not gap.values[1].any()  # no gap of 2x: a spectrum without survivors
    np.testing.assert_array_equal(survivors(ds, rule="gap", factor=1.2).values[1], [0, 0, 0, 0, 1, 0, 0, 0])
    padded = ds.copy(deep=True)
    padded["amplitude"][0, 0, 7] = np.nan
    np.testing.assert_array_equal(survivors(padded, rule="gap").values[0], gap.values[0])
    with pytest.raises(InputError, match="above 1"):
        survivors(ds, rule="gap", factor=1.0)


def test_even_p_and_padded_mixed_p():
    # p=12 has circles 1..5 (6 is a line); a p=7 run padded onto that axis has circles 1..3 only
    amp = np.array([[[1.0, 1, 1, 1, 9.0]], [[5.0, 1, 1, 9.0, 9.0]]])
    ds = run_dataset(amp, p=[12, 7])
    alive = survivors(ds)
    np.testing.assert_array_equal(alive.values, [[0, 0, 0, 0, 1], [1, 0, 0, 0, 0]])
    padded = ds.copy(deep=True)
    padded["amplitude"][1, :, 3:] = np.nan
    xr.testing.assert_equal(survivors(padded), alive)
    # frequencies 4 and 5 are circles of the p=12 run only: one trial each
    rate = survival_rate(alive)
    np.testing.assert_array_equal(rate["trials"].values, [2, 2, 2, 1, 1])
    np.testing.assert_allclose(rate["rate"].values, [0.5, 0, 0, 0, 1])


def test_survivors_bad_input():
    ds = run_dataset(np.ones((1, 2, 3)), p=7)
    with pytest.raises(InputError, match="unknown survival rule"):
        survivors(ds, rule="median")
    with pytest.raises(InputError, match="threshold"):
        survivors(ds, rule="absolute")
    with pytest.raises(InputError, match="step 5 was not recorded"):
        survivors(ds, step=5)
    with pytest.raises(ValueError, match="needs the variable 'amplitude'"):
        survivors(ds.drop_vars(["amplitude", "signal"]))


def test_wilson_interval_matches_scipy():
    for k, n in [(0, 10), (3, 10), (10, 10), (17, 50), (1, 1)]:
        lower, upper = wilson_interval(k, n)
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert lower == pytest.approx(ci.low, abs=1e-12) and upper == pytest.approx(ci.high, abs=1e-12)
    lower, upper = wilson_interval([2, 5], [10, 10], confidence=0.8)
    assert np.all(lower < [0.2, 0.5]) and np.all(upper > [0.2, 0.5])
    with pytest.raises(InputError):
        wilson_interval(3, 2)


def test_survival_rate_overall_and_grouped():
    ds = competing()
    alive = survivors(ds)
    rate = survival_rate(alive)
    assert rate["rate"].dims == ("frequency",)
    np.testing.assert_allclose(rate["rate"], alive.mean("run"))
    assert np.all(rate["lower"] <= rate["rate"]) and np.all(rate["rate"] <= rate["upper"])
    assert np.all(rate["trials"] == 60)
    grouped = survival_rate(alive, by="embedding_seed")
    assert grouped["rate"].sizes == {"embedding_seed": 6, "frequency": 6}
    np.testing.assert_array_equal(grouped["trials"], 10)
    np.testing.assert_allclose(grouped["rate"].sel(embedding_seed=2), alive.isel(run=slice(20, 30)).mean("run"))
    with pytest.raises(InputError, match="boolean"):
        survival_rate(ds["amplitude"])


def test_fitness_measures_by_hand():
    amp = np.array([[[2.0, 4.0], [3.0, 4.0], [3.5, 2.0]]])  # (run, step, frequency)
    grad = np.array([[[9.0, 16.0], [4.0, 1.0], [0.0, 0.0]]])
    ds = run_dataset(amp, p=5, grad=grad)
    np.testing.assert_allclose(initial_amplitude(ds).values, [[2.0, 4.0]])
    np.testing.assert_allclose(growth(ds, at=1).values, [[0.5, 0.0]])
    np.testing.assert_allclose(growth(ds, at=2).values, [[0.25, -0.5]])
    both = growth(ds, at=[1, 2])
    assert both.dims == ("run", "at", "frequency")
    np.testing.assert_allclose(gradient_norm(ds).values, [[3.0, 4.0]])
    table = fitness(ds, at=2)
    assert set(table.data_vars) == {"initial_amplitude", "initial_signal", "growth", "gradient_norm"}
    np.testing.assert_allclose(table["initial_signal"].values, [[4.0, 16.0]])
    np.testing.assert_allclose(table["gradient_norm"].values, [[0.0, 0.0]])


def test_fitness_bad_input():
    ds = run_dataset(np.ones((1, 3, 2)), p=5)
    with pytest.raises(InputError, match="grad_signal"):
        fitness(ds)
    assert set(fitness(ds, at=1, measures=["growth"]).data_vars) == {"growth"}
    with pytest.raises(InputError, match=r"steps \[5, 4\]"):
        growth(ds, at=5)
    with pytest.raises(InputError, match=">= 1"):
        growth(ds, at=0)
    with pytest.raises(InputError, match="unknown fitness"):
        fitness(ds, measures=["speed"])


def test_correlation_matches_scipy_and_aligns():
    rng = np.random.default_rng(0)
    x = xr.DataArray(rng.normal(size=(4, 5)), dims=("run", "frequency"), coords={"frequency": np.arange(1, 6)})
    y = (2 * x + rng.normal(size=(4, 5))).isel(frequency=slice(1, None))  # one frequency fewer
    y[0, 0] = np.nan
    result = correlation(x, y)
    a = x.isel(frequency=slice(1, None)).values.ravel()[1:]
    b = y.values.ravel()[1:]
    assert int(result["n"]) == 15
    assert float(result["pearson_r"]) == pytest.approx(stats.pearsonr(a, b).statistic)
    assert float(result["spearman_p"]) == pytest.approx(stats.spearmanr(a, b).pvalue)
    with pytest.raises(InputError, match="constant"):
        correlation(x, x * 0)
    with pytest.raises(InputError, match="do not nest"):
        correlation(x, y.rename(frequency="k"))
    assert int(correlation(x, x.mean("run"))["n"]) == 20  # a per-frequency side broadcasts over runs


def test_initial_amplitude_predicts_survival_on_competing_circles():
    ds = competing(runs=100)
    alive = survivors(ds)
    rate = survival_rate(alive, by="embedding_seed")
    # the embedding-level quantity: mean initial amplitude of each frequency over a group's runs
    strength = initial_amplitude(ds).groupby("embedding_seed").mean("run")
    result = correlation(strength, rate["rate"])
    assert float(result["pearson_r"]) > 0.5 and float(result["pearson_p"]) < 1e-3
    # a measure unrelated to survival does not correlate
    noise = strength.copy(data=np.random.default_rng(1).normal(size=strength.shape))
    assert abs(float(correlation(noise, rate["rate"])["pearson_r"])) < 0.4


def test_separability_beats_baseline_only_when_there_is_signal():
    ds = competing(runs=100)
    alive = survivors(ds)
    features = fitness(ds, at=1)[["initial_signal", "growth"]]
    result = separability(features, alive, cv=5)
    dead = 1 - alive.values.mean()
    assert float(result["baseline_accuracy_mean"]) == pytest.approx(dead, abs=0.02)
    assert float(result["balanced_accuracy_mean"]) > 0.75
    assert float(result["accuracy_mean"]) > float(result["baseline_accuracy_mean"])
    assert list(result["feature"].values) == ["initial_signal", "growth"]
    assert float(result["coef"].sel(feature="growth")) > 0
    grouped = separability(features, alive, cv=5, groups="run")
    assert float(grouped["balanced_accuracy_mean"]) > 0.75
    # shuffled labels: balanced accuracy falls to chance while plain accuracy can still look high
    shuffled = alive.copy(data=np.random.default_rng(0).permutation(alive.values.ravel()).reshape(alive.shape))
    chance = separability(features, shuffled, cv=5, class_weight="balanced")
    assert 0.35 < float(chance["balanced_accuracy_mean"]) < 0.65


def test_separability_bad_input():
    ds = competing(runs=3)
    alive = survivors(ds)
    with pytest.raises(InputError, match="survivors"):
        separability(fitness(ds, at=1)[["growth"]], alive, cv=50)
    with pytest.raises(InputError, match="boolean"):
        separability(fitness(ds, at=1)[["growth"]], ds["amplitude"])
    with pytest.raises(InputError, match="groups"):
        separability(fitness(ds, at=1)[["growth"]], alive, cv=2, groups="nothing")
