"""Per-neuron frequencies (He et al. 2026): neuron_signal, its recording, and training.neuron_frequencies."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import xarray as xr

import training
from fittest.errors import InputError
from training.config import memory_estimate
from training.engine.quantities import NEURON_SIGNAL, QUANTITIES, UNEMBED_SIGNAL, Live, with_optional
from training.engine.sites import OnDevice
from training.fourier import fourier_basis, neuron_signal


def one_frequency_layer(p: int, picks: list[int], *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """An identity embedding (d = p) and a first layer whose neuron u has weights cos(2 pi k_u n / p + phase)
    on both tokens, each half with its own phase."""
    rng = np.random.default_rng(seed)
    n = np.arange(p)
    halves = [np.stack([np.cos(2 * np.pi * k * n / p + rng.uniform(0, 2 * np.pi)) for k in picks]) for _ in range(2)]
    return np.eye(p), np.concatenate(halves, axis=1)


def test_neuron_signal_of_a_one_frequency_neuron_is_all_at_that_frequency():
    p, picks = 13, [1, 4, 6, 4, 2]
    embedding, w1 = one_frequency_layer(p, picks)
    power = neuron_signal(embedding, w1, fourier_basis(p))
    assert power.shape == (len(picks), 6)
    expected = np.zeros_like(power)
    # each half is a unit cosine: (p/2)^2 at its own frequency, whatever its phase; the two halves add
    expected[np.arange(len(picks)), np.array(picks) - 1] = 2 * (p / 2) ** 2
    np.testing.assert_allclose(power, expected, atol=1e-9)
    ds = xr.Dataset({"neuron_signal": (("run", "step", "unit1", "frequency"), power[None, None])})
    ds = ds.assign_coords(frequency=np.arange(1, 7), step=[5])
    found = training.neuron_frequencies(ds)
    assert found["frequency"].dims == ("run", "unit1")
    assert found["frequency"].values.tolist() == [picks]
    np.testing.assert_allclose(found["share"], 1.0, atol=1e-12)
    assert found.attrs["step"] == 5


def test_neuron_signal_equals_numpy_fft_of_both_halves():
    rng = np.random.default_rng(1)
    p, d, h = 11, 4, 6
    embedding, w1 = rng.normal(size=(3, p, d)), rng.normal(size=(3, h, 2 * d))
    u = embedding @ w1[..., :d].swapaxes(-1, -2)
    v = embedding @ w1[..., d:].swapaxes(-1, -2)
    fft = np.abs(np.fft.fft(u, axis=-2)) ** 2 + np.abs(np.fft.fft(v, axis=-2)) ** 2  # (3, p, h)
    expected = fft[:, 1:6].swapaxes(-1, -2)
    np.testing.assert_allclose(neuron_signal(embedding, w1, fourier_basis(p)), expected, rtol=1e-10)
    # the torch path of the training loop gives the same numbers
    batch = SimpleNamespace(params={"embedding": torch.as_tensor(embedding), "w1": torch.as_tensor(w1)})
    live = Live(batch, {}, None, None, OnDevice(training.bases.fourier(p), torch.as_tensor(embedding)))
    np.testing.assert_allclose(NEURON_SIGNAL.compute(live).numpy(), expected, rtol=1e-10)


def test_shares_of_a_share_split_between_two_frequencies():
    p = 11
    n = np.arange(p)
    # neuron 0: frequency 2 with three times the power of frequency 5; neuron 1: no weights at all
    half = np.stack([np.sqrt(3) * np.cos(2 * np.pi * 2 * n / p) + np.cos(2 * np.pi * 5 * n / p), np.zeros(p)])
    power = neuron_signal(np.eye(p), np.concatenate([half, half], axis=1), fourier_basis(p))
    ds = xr.Dataset({"neuron_signal": (("run", "step", "unit1", "frequency"), power[None, None])})
    ds = ds.assign_coords(frequency=np.arange(1, 6), step=[0])
    found = training.neuron_frequencies(ds, all_steps=True)
    assert found["frequency"].dims == ("run", "step", "unit1")
    assert int(found["frequency"].values[0, 0, 0]) == 2
    np.testing.assert_allclose(found["share"].values[0, 0, 0], 0.75, rtol=1e-12)
    assert np.isnan(found["share"].values[0, 0, 1])


def test_record_neurons_is_off_by_default_and_counted_in_the_memory_estimate():
    off = training.TrainConfig(p=23, hidden=64, runs=2, steps=100)
    on = off.replace(record_neurons=True)
    assert with_optional(off, QUANTITIES) == (*QUANTITIES, UNEMBED_SIGNAL)
    assert with_optional(on, QUANTITIES) == (*QUANTITIES, UNEMBED_SIGNAL, NEURON_SIGNAL)
    both = (*QUANTITIES, NEURON_SIGNAL)
    assert with_optional(on, both) == (*both, UNEMBED_SIGNAL)  # not twice
    extra = memory_estimate(on)["records"] - memory_estimate(off)["records"]
    # 101 records x 2 runs x 64 units x 11 frequencies, float32, live and in the dataset
    assert extra == 101 * 2 * 64 * 11 * 4 * 2
    with pytest.raises(InputError, match="record_neurons must be true or false"):
        training.TrainConfig(record_neurons="yes")


@pytest.fixture(scope="module")
def neuron_run():
    config = training.TrainConfig(
        p=23, d=32, runs=1, steps=300, hidden=64, device="cpu", record_neurons=True, dense_until=0,
        record_every=50, save_mlp=True, snapshot_steps=(0, 150, 300),
    )  # fmt: skip
    return training.train(config)


def test_recorded_neuron_signal_is_that_of_the_stored_layers(neuron_run):
    ds = neuron_run
    assert ds["neuron_signal"].dims == ("run", "step", "unit1", "frequency")
    assert ds["neuron_signal"].attrs["description"].startswith("power of each first-layer neuron")
    for step in ds["snapshot"].values:
        stored = neuron_signal(
            ds["embedding"].sel(snapshot=step).values.astype(np.float64),
            ds["mlp_w1"].sel(snapshot=step).values.astype(np.float64),
            fourier_basis(23),
        )
        np.testing.assert_allclose(ds["neuron_signal"].sel(step=step).values, stored, rtol=2e-4)


def test_neurons_pick_a_frequency_over_training(neuron_run):
    shares = training.neuron_frequencies(neuron_run, all_steps=True)["share"].mean(("run", "unit1")).values
    # measured: 0.22 at initialisation (about the largest of 11 random shares), 0.56 after 300 steps
    assert shares[0] < 0.3
    assert shares[-1] > shares[0] + 0.2
    assert np.all(np.diff(shares) > 0)


def test_neuron_frequencies_refuses_a_run_without_neuron_signal(neuron_run):
    with pytest.raises(InputError, match="record_neurons=True"):
        training.neuron_frequencies(neuron_run.drop_vars("neuron_signal"))
    with pytest.raises(InputError, match="not both"):
        training.neuron_frequencies(neuron_run, step=0, all_steps=True)
    with pytest.raises(InputError, match="step 7 was not recorded"):
        training.neuron_frequencies(neuron_run, step=7)
