"""Survival analysis on any component basis (fittest.run/2): irreps, units, principal components."""

import json

import numpy as np
import pytest
import xarray as xr

from fittest.errors import InputError
from training.analysis.fitness import fitness, gradient_norm, growth, initial_amplitude
from training.analysis.forecast import forecast_survivors
from training.analysis.neurons import neuron_frequencies
from training.analysis.select import component_dim, rows_per_component
from training.analysis.statistics import correlation, separability
from training.analysis.survival import count_survivors, decay_threshold, survival_rate, survivors, top_circles

S4 = {"labels": ["trivial", "sign", "2", "3a", "3b"], "dim_rho": [1, 1, 2, 3, 3]}


def irrep_run(per_row_final, *, runs=3, steps=4, schema=2):
    """An S4 embedding site: per-row amplitude 1 for every irrep at step 0, ``per_row_final`` at the last step.

    The recorded amplitude of an irrep of dimension d spans d^2 rows, so it is d times its per-row amplitude:
    at initialisation the 3-dimensional irreps hold 3x the amplitude of the sign irrep, as a random embedding's do.
    """
    per_row = np.linspace(np.ones(5), np.asarray(per_row_final, dtype=float), steps)  # (step, irrep)
    amplitude = np.broadcast_to(per_row * np.asarray(S4["dim_rho"]), (runs, steps, 5)).copy()
    grad = np.broadcast_to(np.asarray(S4["dim_rho"]) ** 2 * 4.0, (runs, steps, 5)).copy()  # per row: 2 squared
    attrs = {"component": "irrep", "site": "embed"}
    ds = xr.Dataset(
        {
            "amplitude": (("run", "step", "irrep"), amplitude, attrs),
            "signal": (("run", "step", "irrep"), amplitude**2, attrs),
            "grad_signal": (("run", "step", "irrep"), grad, attrs),
        },
        coords={
            "run": np.arange(runs),
            "step": np.arange(steps),
            "irrep": S4["labels"],
            "dim_rho": ("irrep", S4["dim_rho"]),
        },
    )
    ds.attrs["schema"] = f"fittest.run/{schema}"
    return ds


def competing(runs=60, K=6, steps=30, seed=0):
    """Components grow or decay at a rate set by their initial amplitude (run, step, K), with noise."""
    rng = np.random.default_rng(seed)
    a0 = rng.lognormal(sigma=0.5, size=(runs, K))
    rate = 0.08 * (np.log(a0) - np.log(a0).mean(1, keepdims=True)) + 0.03 * rng.normal(size=(runs, K))
    t = np.arange(steps)
    amp = a0[:, None, :] * np.exp(rate[:, None, :] * t[None, :, None])
    grad = (rate * a0)[:, None, :] ** 2 * np.exp(-t)[None, :, None]
    return amp, grad


def as_dataset(amp, grad=None, *, dim="frequency", labels=None, declare=True):
    """The same numbers along a component dimension named ``dim`` (declared in the attributes, run/2 style)."""
    R, T, K = amp.shape
    attrs = {"component": dim, "site": "embed"} if declare else {}
    data = {"amplitude": (("run", "step", dim), amp, attrs)}
    if grad is not None:
        data["grad_signal"] = (("run", "step", dim), grad, attrs)
    labels = np.arange(1, K + 1) if labels is None else labels
    return xr.Dataset(data, coords={"run": np.arange(R), "step": np.arange(T), dim: labels})


def test_irreps_are_judged_per_basis_row():
    ds = irrep_run([0.2, 5.0, 0.2, 5.0, 0.2])  # sign and 3a survive, per row
    alive = survivors(ds)
    assert alive.dims == ("run", "irrep") and list(alive["irrep"].values) == S4["labels"]
    np.testing.assert_array_equal(alive.values, [[0, 1, 0, 1, 0]] * 3)
    assert alive.attrs["component"] == "irrep" and alive.attrs["normalise"] == "rows"
    np.testing.assert_array_equal(count_survivors(ds).values, [2, 2, 2])
    # at initialisation every irrep holds the same power per row: no gap, no survivor
    assert not survivors(ds, step=0, rule="gap").values.any()
    # as recorded, the gap rule calls the large irreps survivors before training began: the bias normalise removes
    np.testing.assert_array_equal(survivors(ds, step=0, rule="gap", normalise=None).values[0], [0, 0, 1, 1, 1])
    # the signal (a power) is divided by the rows, the amplitude by their square root: the same verdict
    xr.testing.assert_equal(survivors(ds, variable="signal"), alive)
    rate = survival_rate(alive)
    np.testing.assert_array_equal(rate["rate"].values, [0, 1, 0, 1, 0])
    assert rate.attrs["component"] == "irrep"


def test_irrep_top_decay_threshold_and_fitness():
    ds = irrep_run([0.2, 6.0, 0.2, 5.0, 0.2])
    kept = top_circles(ds, 2)
    assert kept.dims == ("run", "rank")
    assert kept.values.tolist() == [["sign", "3a"]] * 3  # per row sign leads; as recorded 3a (15) beats sign (6)
    assert top_circles(ds, 2, normalise=None).values[0].tolist() == ["3a", "sign"]
    threshold = decay_threshold(ds)
    assert threshold == pytest.approx(0.5)  # half the per-row initial amplitude, 1
    xr.testing.assert_equal(survivors(ds, rule="absolute", threshold=threshold), survivors(ds))
    np.testing.assert_allclose(initial_amplitude(ds).values, 1.0)
    np.testing.assert_allclose(initial_amplitude(ds, normalise=None).values[0], S4["dim_rho"])
    np.testing.assert_allclose(gradient_norm(ds).values, 2.0)
    # growth is a ratio of one irrep's amplitudes: the same per row or not
    np.testing.assert_allclose(growth(ds, at=1).values[0], (np.array([0.2, 6, 0.2, 5, 0.2]) - 1) / 3)
    table = fitness(ds, at=1)
    assert set(table.dims) == {"run", "irrep"}
    np.testing.assert_allclose(table["initial_signal"].values, 1.0)
    with pytest.raises(InputError, match=r"n must be an integer in 1\.\.5 \(the irrep components\)"):
        top_circles(ds, 6)


@pytest.mark.parametrize("dim, labels", [("irrep", [f"r{i}" for i in range(6)]), ("unit", None), ("pc", None)])
def test_another_component_dimension_gives_the_frequency_numbers(dim, labels):
    amp, grad = competing()
    reference = as_dataset(amp, grad, declare=False)
    other = as_dataset(amp, grad, dim=dim, labels=labels)
    for rule in ({}, {"rule": "gap"}, {"rule": "absolute", "threshold": 1.0}):
        np.testing.assert_array_equal(survivors(other, **rule).values, survivors(reference, **rule).values)
    alive, truth = survivors(other), survivors(reference)
    assert alive.dims == ("run", dim)
    np.testing.assert_array_equal(count_survivors(other).values, count_survivors(reference).values)
    np.testing.assert_array_equal(survival_rate(alive)["rate"].values, survival_rate(truth)["rate"].values)
    assert decay_threshold(other) == decay_threshold(reference)
    order = top_circles(other, 3).values
    expected = np.asarray(other[dim].values)[top_circles(reference, 3).values - 1]
    np.testing.assert_array_equal(order, expected)
    features = fitness(other, at=1)
    np.testing.assert_array_equal(features["growth"].values, fitness(reference, at=1)["growth"].values)
    rate = survival_rate(alive)["rate"]
    got = correlation(features["initial_signal"].mean("run"), rate, component=dim)
    want = correlation(fitness(reference, at=1)["initial_signal"].mean("run"), survival_rate(truth)["rate"])
    assert float(got["pearson_r"]) == float(want["pearson_r"]) and got.attrs["component"] == dim
    svm = separability(features[["initial_signal", "growth"]], alive, cv=3, component=dim)
    base = separability(fitness(reference, at=1)[["initial_signal", "growth"]], truth, cv=3)
    assert float(svm["balanced_accuracy_mean"]) == float(base["balanced_accuracy_mean"])


def test_forecast_on_irreps_equals_the_frequency_forecast():
    pytest.importorskip("dynamics")
    rng = np.random.default_rng(0)
    a0 = rng.uniform(1.0, 2.0, size=(6, 4))
    rate = rng.choice([-0.05, 0.05], size=(6, 4), p=[0.7, 0.3])
    rate[:, 0] = 0.05
    amp = a0[:, None, :] * np.exp(rate[:, None, :] * np.arange(40)[None, :, None])
    labels = ["trivial", "sign", "2", "3"]
    reference = forecast_survivors(as_dataset(amp, declare=False), horizons=[0, 10, 20], cv=3)
    result = forecast_survivors(as_dataset(amp, dim="irrep", labels=labels), horizons=[0, 10, 20], cv=3)
    assert result["predicted"].dims == ("forecast", "horizon", "run", "irrep")
    for name in ("accuracy", "exact", "called_at", "predicted"):
        np.testing.assert_array_equal(result[name].values, reference[name].values)
    assert float(result["exact"].sel(forecast="ode", horizon=10)) == 1.0
    per_unit = as_dataset(amp, dim="irrep", labels=labels)["amplitude"].expand_dims(head=2)
    with pytest.raises(InputError, match=r"select one value of head"):
        forecast_survivors(per_unit.rename("amplitude").to_dataset(), methods=["amplitude"])


def test_component_override_and_ambiguity():
    amp, _ = competing(runs=4, K=5, steps=3)
    heads = xr.DataArray(np.stack([amp, amp[..., ::-1]], axis=2), dims=("run", "step", "head", "pc"), name="attn")
    heads = heads.assign_coords(pc=np.arange(1, 6))
    with pytest.raises(InputError, match=r"any of \['head', 'pc'\].*pass component=<dim>") as error:
        survivors(heads)
    assert "\n" not in str(error.value)
    alive = survivors(heads, component="pc")  # per head
    np.testing.assert_array_equal(alive.isel(head=0).values, alive.isel(head=1).values[:, ::-1])
    assert count_survivors(heads, component="pc").dims == ("run", "head")
    # the explicit component wins over the variable's declaration, which wins over the name frequency
    declared = heads.rename(head="frequency").assign_attrs(component="pc")
    assert component_dim(declared, purpose="t") == "pc"
    assert component_dim(declared, "frequency", purpose="t") == "frequency"
    with pytest.raises(InputError, match=r"component='irrep' is not a dimension of 'attn'"):
        survivors(heads, component="irrep")
    with pytest.raises(InputError, match=r"declares the component dimension 'irrep'"):
        survivors(heads.assign_attrs(component="irrep"))
    with pytest.raises(InputError, match=r"correlation\(\): y 'attn' has no 'irrep' dimension"):
        correlation(heads.isel(step=0, head=0).rename(pc="irrep"), heads.isel(step=0), component="irrep")


def test_frequency_datasets_keep_their_numbers():
    amp, grad = competing()
    ds = as_dataset(amp, grad, declare=False).assign_coords(p=("run", [13] * 60))
    default = survivors(ds)
    xr.testing.assert_equal(survivors(ds, component="frequency"), default)
    # Fourier circles span two rows each: per-row comparison changes no relative or gap verdict
    for rule in ("relative", "gap"):
        xr.testing.assert_equal(survivors(ds, rule=rule, normalise="rows"), survivors(ds, rule=rule))
    assert default.attrs["normalise"] == "none"
    assert decay_threshold(ds, normalise="rows") == pytest.approx(decay_threshold(ds) / np.sqrt(2))


def test_rows_per_component():
    da = xr.DataArray(np.ones(4), dims="irrep", coords={"irrep": list("abcd")})
    da = da.assign_coords(dim_rho=("irrep", [1, 1, 2, 2]), kind=("irrep", ["real", "real", "complex", "quaternionic"]))
    np.testing.assert_array_equal(rows_per_component(da, "irrep", purpose="t").values, [1, 1, 8, 4])
    explicit = da.assign_coords(rows=("irrep", [1, 2, 3, 4]))
    np.testing.assert_array_equal(rows_per_component(explicit, "irrep", purpose="t").values, [1, 2, 3, 4])
    custom = xr.DataArray(np.ones((1, 3)), dims=("run", "probe"), name="amplitude")
    with pytest.raises(InputError, match=r"number of basis rows of each 'probe'"):
        survivors(custom, normalise="rows")
    np.testing.assert_array_equal(survivors(custom, rule="absolute", threshold=0.5).values, [[1, 1, 1]])


def per_unit_irreps():
    """hidden_signal (run, step, hidden_unit, irrep): unit u puts per-row power ``1 + 9 [irrep == pick_u]``."""
    picks = ["sign", "3a", "2", "trivial"]
    per_row = np.ones((len(picks), 5)) + 9 * (np.array(S4["labels"])[None, :] == np.array(picks)[:, None])
    power = per_row * np.asarray(S4["dim_rho"]) ** 2  # the recorded power spans d^2 rows
    power = np.stack([np.ones_like(power) * np.asarray(S4["dim_rho"]) ** 2, power])[None]  # steps 0 and 10
    attrs = {"component": "irrep", "unit": "hidden_unit", "site": "hidden"}
    ds = xr.Dataset(
        {"hidden_signal": (("run", "step", "hidden_unit", "irrep"), power, attrs)},
        coords={"step": [0, 10], "irrep": S4["labels"], "dim_rho": ("irrep", S4["dim_rho"])},
    )
    ds.attrs["schema"] = "fittest.run/2"
    return ds, picks


def test_neuron_frequencies_on_a_per_unit_irrep_site():
    ds, picks = per_unit_irreps()
    found = neuron_frequencies(ds, variable="hidden_signal")
    assert found["dominant"].dims == ("run", "hidden_unit") and "frequency" not in found
    assert found["dominant"].values[0].tolist() == picks
    np.testing.assert_allclose(found["share"].values, 10 / 14)  # per row: 10 over 10 + 4 * 1
    assert found.attrs == {"step": 10, "component": "irrep", "unit": "hidden_unit", "normalise": "rows"}
    # at initialisation every irrep is level per row (share 1/5); as recorded the 3-dim irreps would win
    start = neuron_frequencies(ds, variable="hidden_signal", step=0)
    np.testing.assert_allclose(start["share"].values, 0.2)
    assert neuron_frequencies(ds, variable="hidden_signal", step=0, normalise=None)["dominant"].values[0, 0] == "3a"
    every = neuron_frequencies(ds, variable="hidden_signal", all_steps=True)
    assert every["share"].dims == ("run", "step", "hidden_unit")
    # the dims found without the attributes: the unit from the dataset's sites, or named
    bare = ds.copy()
    bare["hidden_signal"].attrs = {}
    with pytest.raises(InputError, match="pass unit=<dim> and component=<dim>"):
        neuron_frequencies(bare, variable="hidden_signal")
    named = neuron_frequencies(bare, variable="hidden_signal", unit="hidden_unit")
    xr.testing.assert_equal(named["dominant"], found["dominant"])
    bare.attrs["sites"] = json.dumps(
        {"hidden": {"component": "irrep", "unit": "hidden_unit", "variables": ["hidden_signal"]}}
    )
    xr.testing.assert_equal(neuron_frequencies(bare, variable="hidden_signal")["share"], found["share"])


def test_neuron_frequencies_names_the_ways_to_record_units():
    ds, _ = per_unit_irreps()
    with pytest.raises(InputError) as error:
        neuron_frequencies(ds)
    message = str(error.value)
    assert "record_neurons=True or record a per-unit site with training.Recorder" in message
    assert "its per-unit variables: hidden_signal; pass variable=" in message and "\n" not in message
