"""The restricted and excluded loss (Nanda et al. 2023) of both built-in architectures, on known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import training
from fittest.errors import InputError
from training.engine.loop import initial_batches
from training.engine.measures import key_components, restricted_excluded_loss, split_logits
from training.engine.model import loss_and_accuracy
from training.engine.sites import OnDevice

SMALL = {"p": 11, "d": 8, "hidden": 16, "runs": 2, "device": "cpu"}


def _logits(config):
    batch = initial_batches(config, torch.device("cpu"), chunk=config.runs)[0]
    a, b, c = batch.train
    with torch.no_grad():
        logits = batch.model.forward(batch.params, a, b, config)
    return logits, c, OnDevice(config.task_spec.components(config.p), logits)


@pytest.mark.parametrize(
    "config",
    [
        training.TrainConfig(**SMALL),
        training.TrainConfig(architecture="transformer", **SMALL),
        training.TrainConfig(task="S3", **{**SMALL, "p": 6}),  # irreps: the trivial one is the constant itself
    ],
    ids=["mlp", "transformer", "S3"],
)
def test_keeping_every_component_restricts_nothing_and_keeping_none_excludes_nothing(config):
    logits, labels, basis = _logits(config)
    # scaled up so that the loss is far from log p and an error in the projection would show
    logits = 5 * logits / logits.std()
    full = loss_and_accuracy(logits, labels)[0]
    n = basis.basis.n_components
    every, none = torch.ones(2, n, dtype=torch.bool), torch.zeros(2, n, dtype=torch.bool)
    restricted, _ = restricted_excluded_loss(logits, labels, every, basis)
    _, excluded = restricted_excluded_loss(logits, labels, none, basis)
    torch.testing.assert_close(restricted, full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(excluded, full, rtol=1e-5, atol=1e-5)
    # the other way round each keeps only the constant, which the cross-entropy ignores: uniform logits, log p
    restricted, _ = restricted_excluded_loss(logits, labels, none, basis)
    _, excluded = restricted_excluded_loss(logits, labels, every, basis)
    torch.testing.assert_close(restricted, torch.full((2,), math.log(config.p)), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(excluded, torch.full((2,), math.log(config.p)), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(full, restricted)


def test_a_basis_that_does_not_span_the_logits_leaves_the_rest_to_the_excluded_side():
    # the characters of Z_11^* measure 8 of the 11 logit directions (not token 0, the trivial and the sign
    # character): kept everything, the restricted loss lacks those three, while the excluded loss keeps all
    logits, labels, basis = _logits(training.TrainConfig(task="multiply", **SMALL))
    logits = 5 * logits / logits.std()
    full = loss_and_accuracy(logits, labels)[0]
    every, none = torch.ones(2, 4, dtype=torch.bool), torch.zeros(2, 4, dtype=torch.bool)
    torch.testing.assert_close(restricted_excluded_loss(logits, labels, none, basis)[1], full)
    restricted, excluded = split_logits(logits, every, basis)
    rest = excluded - excluded.mean(-1, keepdim=True)
    assert float(rest.abs().max()) > 0.1  # what the characters do not measure
    torch.testing.assert_close(restricted + excluded, logits + logits.mean(-1, keepdim=True))


def test_the_split_puts_each_circle_on_its_side():
    p = 11
    basis = OnDevice(training.bases.fourier(p), torch.empty((), dtype=torch.float64))
    tokens = torch.arange(p, dtype=torch.float64)
    circle_2 = torch.cos(2 * math.pi * 2 * tokens / p)
    circle_4 = torch.sin(2 * math.pi * 4 * tokens / p)
    logits = (3.0 + circle_2 + 0.5 * circle_4).reshape(1, 1, p)
    keep = torch.zeros(1, 5, dtype=torch.bool)
    keep[0, 1] = True  # frequency 2
    restricted, excluded = split_logits(logits, keep, basis)
    torch.testing.assert_close(restricted[0, 0], 3.0 + circle_2)
    torch.testing.assert_close(excluded[0, 0], 3.0 + 0.5 * circle_4)


def test_key_components_follow_the_relative_rule():
    basis = OnDevice(training.bases.fourier(11), torch.empty(()))
    power = torch.tensor([[100.0, 1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    keep = key_components(power, basis)
    # amplitudes 10, 1, 1, 1, 1: mean 2.8, twice it 5.6; a flat spectrum has none
    assert keep.tolist() == [[True, False, False, False, False], [False] * 5]


def test_split_logits_refuses_a_mismatch():
    basis = OnDevice(training.bases.fourier(11), torch.empty(()))
    with pytest.raises(InputError, match="do not fit"):
        split_logits(torch.zeros(1, 3, 7), torch.zeros(1, 5, dtype=torch.bool), basis)


@pytest.mark.parametrize("architecture", ["mlp", "transformer"])
def test_train_records_both_losses_by_default(architecture):
    config = training.TrainConfig(architecture=architecture, steps=30, record_every=10, dense_until=0, **SMALL)
    ds = training.train(config)
    for name in ("restricted_loss", "excluded_loss"):
        assert ds[name].dims == ("run", "step") and bool(np.isfinite(ds[name]).all())
        assert ds[name].attrs["description"] == training.rundata.VARIABLES[name].description
    # at initialisation the logits are near uniform: the excluded loss (most of the logits) is near the full one
    assert abs(float(ds["excluded_loss"][0, 0]) - float(ds["train_loss"][0, 0])) < 0.1


STORED = {
    "p": 13,
    "d": 16,
    "hidden": 32,
    "runs": 2,
    "steps": 300,
    "weight_decay": 1.0,
    "dense_until": 0,
    "record_every": 50,
    "save_mlp": True,
    "snapshot_steps": (0, 100, 200, 300),
    "device": "cpu",
}


@pytest.fixture(scope="module", params=["mlp", "transformer"])
def stored_runs(request):
    lr = 0.03 if request.param == "mlp" else 0.01
    return training.train(training.TrainConfig(architecture=request.param, lr=lr, **STORED), progress=False)


@pytest.fixture(scope="module")
def stored_run():
    return training.train(training.TrainConfig(lr=0.03, **STORED), progress=False)


def test_the_measures_after_the_fact_equal_those_recorded_at_the_snapshot_steps(stored_runs):
    after = training.snapshot_progress(stored_runs)
    steps = after["snapshot"].values
    if stored_runs.attrs["architecture"] == "mlp":
        assert after["key"].values.any()  # some snapshot has key components: the restricted loss is not trivial
    for name in ("restricted_loss", "excluded_loss"):
        recorded = stored_runs[name].sel(step=steps).values  # float32 training, float64 replay
        np.testing.assert_allclose(after[name].values, recorded, rtol=1e-5, atol=1e-6)
    recorded = stored_runs["train_loss"].sel(step=steps).values
    np.testing.assert_allclose(after["loss"].values, recorded, rtol=1e-5, atol=1e-6)
    # the whole model replayed: its test loss too, for either architecture
    replayed = training.snapshot_metrics(stored_runs)["loss"].values
    np.testing.assert_allclose(replayed, stored_runs["test_loss"].sel(step=steps).values, rtol=1e-5, atol=1e-6)


def test_the_measures_after_the_fact_in_any_basis_keep_all_or_nothing(stored_run):
    # a random orthogonal basis of the 13 logits whose first row is the constant: components are pairs of rows
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(np.column_stack([np.ones(13), rng.standard_normal((13, 12))]))
    rows = q.T * np.sign(q[0, 0])
    basis = training.bases.Basis(
        dim="direction", rows=rows, component=np.r_[0, np.arange(12) // 2 + 1], labels=np.arange(7)
    )
    every = training.snapshot_progress(stored_run, basis=basis, keep=list(range(7)))
    none = training.snapshot_progress(stored_run, basis=basis, keep=[])
    np.testing.assert_allclose(every["restricted_loss"], every["loss"], rtol=1e-10)
    np.testing.assert_allclose(none["excluded_loss"], none["loss"], rtol=1e-10)
    np.testing.assert_allclose(none["restricted_loss"], math.log(13), rtol=1e-10)  # only the constant is left
    assert every["key"].dims == ("run", "snapshot", "direction") and bool(every["key"].all())
    with pytest.raises(InputError, match="size p = 13"):
        training.snapshot_progress(stored_run, basis=training.bases.fourier(11))
    with pytest.raises(InputError, match=r"\[9\] are not components"):
        training.snapshot_progress(stored_run, keep=[9])
    with pytest.raises(InputError, match="save_mlp=True"):
        training.snapshot_progress(stored_run.drop_vars("mlp_w3"))
