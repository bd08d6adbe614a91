"""Recording any site of any model in any basis (training.Site, training.Recorder(sites=...)), and group tasks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import dynamics
import training
from fittest.errors import InputError


class OneHotMLP(nn.Module):
    """He et al.'s set-up: one-hot a and b, one hidden layer, the logits of a + b mod p."""

    def __init__(self, p: int, width: int):
        super().__init__()
        self.p = p
        self.hidden = nn.Linear(2 * p, width)
        self.act = nn.ReLU()
        self.out = nn.Linear(width, p)

    def forward(self, x):
        return self.out(self.act(self.hidden(x)))


def one_hot_pairs(p: int) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = torch.cartesian_prod(torch.arange(p), torch.arange(p)).T
    x = torch.cat([nn.functional.one_hot(a, p), nn.functional.one_hot(b, p)], -1).double()
    return x, (a + b) % p


def test_an_activation_site_equals_a_hand_computed_projection():
    torch.manual_seed(0)
    p, width = 7, 5
    model = OneHotMLP(p, width).double()
    x, c = one_hot_pairs(p)
    probe = x[:: p + 1]  # the pairs (a, a): one row per token
    directions = np.linalg.qr(np.random.default_rng(1).normal(size=(width, 3)))[0].T  # 3 orthonormal rows
    sites = {
        "hidden": training.Site.activation(model.act, training.bases.directions(directions), inputs=probe, axis=1),
        "tokens": training.Site.activation(model.act, training.bases.fourier(p), inputs=probe, per_unit=True),
    }
    rec = training.Recorder(sites=sites, model=model)
    loss = nn.functional.cross_entropy(model(x), c)
    rec.record(0, loss=loss)
    ds = rec.to_dataset()
    with torch.no_grad():
        h = torch.relu(model.hidden(probe)).numpy()
    expected = ((h @ directions.T) ** 2).sum(0)  # each direction's power summed over the probe inputs
    np.testing.assert_allclose(ds["hidden_signal"].values[0, 0], expected, rtol=1e-12)
    assert ds["hidden_signal"].dims == ("run", "step", "direction")
    F = np.fft.fft(h, axis=0)[1 : (p - 1) // 2 + 1]  # each unit's Fourier power over the tokens
    np.testing.assert_allclose(ds["tokens_signal"].values[0, 0], (np.abs(F) ** 2).T, rtol=1e-10)
    assert ds["tokens_signal"].dims == ("run", "step", "tokens_unit", "frequency")
    training.check_run(ds)


def test_a_per_unit_weight_site_gives_each_neurons_power_per_frequency():
    torch.manual_seed(1)
    p, width = 11, 6
    model = OneHotMLP(p, width).double()
    x, c = one_hot_pairs(p)
    site = training.Site.weight(
        lambda: model.hidden.weight[:, :p],
        training.bases.fourier(p),
        axis=1,
        per_unit=True,
        gradient=lambda: model.hidden.weight.grad[:, :p],
    )
    rec = training.Recorder(sites={"w_a": site})
    nn.functional.cross_entropy(model(x), c).backward()
    rec.record(0, loss=1.0)
    ds = rec.to_dataset()
    w = model.hidden.weight.detach()[:, :p].numpy()
    F = np.abs(np.fft.fft(w, axis=1)[:, 1 : (p - 1) // 2 + 1]) ** 2
    np.testing.assert_allclose(ds["w_a_signal"].values[0, 0], F, rtol=1e-10)
    g = model.hidden.weight.grad[:, :p].numpy()
    G = np.abs(np.fft.fft(g, axis=1)[:, 1 : (p - 1) // 2 + 1]) ** 2
    np.testing.assert_allclose(ds["w_a_grad_signal"].values[0, 0], G, rtol=1e-10)
    shares = training.neuron_frequencies(ds, variable="w_a_signal")
    assert shares["share"].dims == ("run", "w_a_unit")


def test_a_basis_of_the_wrong_size_is_refused_naming_both_sizes():
    weight = nn.Parameter(torch.randn(6, 3))
    weight.grad = torch.zeros_like(weight)
    rec = training.Recorder(sites={"e": training.Site.weight(weight, training.bases.fourier(7))})
    with pytest.raises(InputError, match="acts on 7 elements but axis 0 of the site has 6"):
        rec.record(0, loss=1.0)


@pytest.mark.parametrize(
    ("weight", "message"),
    [
        (torch.zeros(5, 2, dtype=torch.int64), "int64 values: a site must be a floating-point"),
        (torch.zeros(0, 5, 2), "with no elements"),
        (torch.zeros(5, 2, device="meta"), "meta device"),
    ],
)
def test_weights_that_cannot_be_recorded_are_refused_at_the_first_record(weight, message):
    with pytest.raises(InputError, match=message):
        training.Recorder(sites={"e": training.Site.weight(weight, training.bases.fourier(5), gradient=False)}).record(
            0, loss=1.0
        )


def test_low_precision_models_record_in_float32_and_lose_nothing():
    weight = nn.Parameter(torch.randn(5, 3).to(torch.bfloat16))
    weight.grad = torch.ones_like(weight)
    rec = training.Recorder(p=5, embedding=weight)
    rec.record(0, loss=70000.0, acc=0.987654)  # float16 would hold inf and 0.98779
    ds = rec.to_dataset()
    assert ds["signal"].dtype == np.float32 and ds["train_loss"].values[0, 0] == 70000.0
    assert abs(ds["acc"].values[0, 0] - 0.987654) < 1e-6 and not ds["diverged"].values[0]
    np.testing.assert_allclose(ds["signal"].values[0, 0], training.signal(weight.detach().float().numpy()), rtol=1e-6)


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (dict(step=2**63, loss=1.0), "step must be an integer"),
        (dict(step=0, loss=1.0, **{"a/b": 1.0}), "scalar name 'a/b' cannot be stored"),
        (dict(step=0, loss=1.0 + 2j), "loss must be a number or a tensor"),
    ],
)
def test_records_a_dataset_could_not_hold_are_refused_at_record(record, message):
    weight = nn.Parameter(torch.randn(5, 2))
    weight.grad = torch.zeros_like(weight)
    rec = training.Recorder(p=5, embedding=weight)
    with pytest.raises(InputError, match=message):
        rec.record(**record)
    assert rec.steps == []


def test_site_names_and_probe_batches_without_a_model_are_refused():
    weight = nn.Parameter(torch.randn(5, 2))
    basis = training.bases.fourier(5)
    with pytest.raises(InputError, match="site name 'a b' cannot name"):
        training.Recorder(sites={"a b": training.Site.weight(weight, basis)})
    with pytest.raises(InputError, match="needs the model"):
        training.Recorder(sites={"h": training.Site.activation(nn.ReLU(), basis, inputs=torch.zeros(5, 2))})
    with pytest.raises(InputError, match="either sites"):
        training.Recorder()


def test_group_task_records_irreps_whose_powers_add_up_to_the_whole_embedding():
    config = training.TrainConfig(task="S3", d=6, runs=2, steps=5, hidden=8, device="cpu", dtype="float64")
    assert config.p == 6
    ds = training.train(config)
    assert ds["signal"].dims == ("run", "step", "irrep") and ds.sizes["irrep"] == 3
    assert sorted(ds["dim_rho"].values.tolist()) == [1, 1, 2]
    E = ds["embedding"].values  # (run, snapshot, token, dim)
    total = ds["signal"].sel(step=ds["snapshot"].values).sum("irrep").values
    np.testing.assert_allclose(total, (E**2).sum((-2, -1)), rtol=1e-10)  # Parseval over all irreps
    with pytest.raises(InputError, match="has 6 tokens"):
        training.TrainConfig(task="S3", p=7)
    with pytest.raises(InputError, match="task must be one of"):
        training.TrainConfig(task="Q9x")


def test_group_composition_mlps_learn_s3_and_generalise_on_s4_and_analysis_runs_on_irreps():
    s3 = training.train(training.TrainConfig(task="S3", d=16, runs=1, steps=300, hidden=32, device="cpu"))
    assert s3["train_acc"].isel(step=-1).item() == 1.0  # 28 pairs of 36: it learns them, too few to generalise
    config = training.TrainConfig(task="S4", d=32, runs=2, steps=1500, hidden=64, device="cpu", dense_until=0)
    ds = training.train(config)
    assert (ds["test_acc"].isel(step=-1).values > 0.9).all(), ds["test_acc"].isel(step=-1).values
    alive = training.survivors(ds, rule="gap", factor=1.5)
    assert alive.dims == ("run", "irrep") and alive.any()
    fit = dynamics.fit(ds, model="linear", component="irrep")
    assert fit.A.shape == (2, 5, 5)  # one linear ODE per run over the 5 irreps
