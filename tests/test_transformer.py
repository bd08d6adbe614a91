"""The transformer architecture: Nanda et al.'s one-layer model, batched over an ensemble (issue 11)."""

import numpy as np
import pytest
import torch

from fittest.errors import InputError
from training import TrainConfig, snapshot_metrics, survivors, train
from training.engine import loop as train_module
from training.engine import transformer as tf

TINY = dict(architecture="transformer", p=11, d=16, heads=4, hidden=32, runs=2, steps=25, device="cpu")


def tiny(**changes):
    return TrainConfig(**{**TINY, **changes})


def random_ensemble(runs, p, d, hidden, seed=0):
    """Float64 parameters with nonzero biases, so that every gradient term is exercised."""
    rng = np.random.default_rng(seed)
    models = []
    for r in range(runs):
        one = {"embedding": tf.init_embedding(p, d, 100 + r), **tf.init_parameters(p, d, hidden, seed=200 + r)}
        one["b_in"], one["b_out"] = rng.standard_normal(hidden) * 0.1, rng.standard_normal(d) * 0.1
        models.append(one)
    return {name: torch.tensor(np.stack([m[name] for m in models])) for name in tf.PARAMETERS}


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_batched_gradients_equal_autograd_of_the_plain_single_model(shared, activation):
    runs, p, d, hidden, heads = 3, 7, 8, 12, 2
    params = random_ensemble(runs, p, d, hidden)
    rng = np.random.default_rng(1)
    if shared:
        index = torch.as_tensor(rng.choice(p * p, 30, replace=False))
        a, b = index // p, index % p
    else:
        index = torch.as_tensor(np.stack([rng.choice(p * p, 30, replace=False) for _ in range(runs)]))
        a, b = index // p, index % p
    c = (a + b) % p
    grads, loss, accuracy = tf.loss_gradients(params, a, b, c, heads=heads, activation=activation, metrics=True)
    assert set(grads) == set(tf.PARAMETERS)
    for r in range(runs):
        reference = tf.Transformer(
            {name: value[r] for name, value in params.items()}, heads=heads, activation=activation
        )
        ar, br, cr = (x if shared else x[r] for x in (a, b, c))
        logits = reference(ar, br)
        expected = torch.nn.functional.cross_entropy(logits, cr)
        expected.backward()
        np.testing.assert_allclose(loss[r].item(), expected.item(), rtol=1e-12)
        assert accuracy[r].item() == (logits.argmax(-1) == cr).double().mean().item()
        for name, parameter in reference.named_parameters():
            np.testing.assert_allclose(grads[name][r], parameter.grad, rtol=1e-10, atol=1e-13, err_msg=name)


def test_forward_equals_the_plain_model_on_every_pair():
    params = random_ensemble(2, 11, 16, 20)
    index = torch.arange(121)
    a, b = index // 11, index % 11
    logits = tf.forward(params, a, b, heads=4)
    for r in range(2):
        reference = tf.Transformer({name: value[r] for name, value in params.items()}, heads=4)
        np.testing.assert_allclose(logits[r], reference(a, b).detach(), rtol=1e-12, atol=1e-13)


def test_each_run_of_the_ensemble_equals_it_trained_alone(monkeypatch):
    config = tiny(runs=3, steps=20, dtype="float64", lr=(1e-3, 3e-3, 1e-2))
    monkeypatch.setattr(train_module, "cpu_chunk", lambda config: 3)  # the whole ensemble in one batch
    ensemble = train(config)
    for r in (0, 2):
        seeds = {f"{kind}_seed": int(config.run_seeds(kind)[r]) for kind in ("embed", "mlp", "split")}
        alone = train(config.replace(runs=1, lr=config.lr[r], **seeds))
        for name in ("signal", "grad_signal", "unembed_signal", "train_loss", "test_loss", "embedding"):
            np.testing.assert_allclose(ensemble[name].isel(run=r), alone[name].isel(run=0), rtol=1e-9, err_msg=name)


def test_defaults_are_nanda_et_al_and_explicit_values_win():
    config = TrainConfig(architecture="transformer")
    assert (config.p, config.d, config.heads, config.hidden, config.activation) == (113, 128, 4, 512, "relu")
    assert (config.lr, config.weight_decay, config.betas, config.train_frac) == (1e-3, 1.0, (0.9, 0.98), 0.3)
    mlp = TrainConfig()
    assert (mlp.p, mlp.lr, mlp.hidden, mlp.heads, mlp.train_frac) == (59, 0.01, 100, None, 0.8)
    assert TrainConfig(architecture="transformer", p=59, lr=0.01).p == 59
    assert TrainConfig(architecture="transformer", lr=0.01).lr == 0.01
    # replace re-derives the defaulted fields for another architecture and keeps the explicit ones
    moved = TrainConfig(lr=0.02).replace(architecture="transformer")
    assert (moved.lr, moved.p, moved.heads, moved.hidden) == (0.02, 113, 4, 512)
    assert moved.replace(architecture="mlp") == TrainConfig(lr=0.02)
    assert TrainConfig.from_json(config.to_json()) == config
    assert "transformer 0.001" in TrainConfig.__dataclass_fields__["lr"].metadata["help"]


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(architecture="cnn"), "architecture must be one of mlp, transformer"),
        (dict(architecture="mlp", heads=4), "heads is an option of the transformer"),
        (dict(heads=3), "heads=3 does not divide d=16"),
        (dict(record_neurons=True), "record_neurons"),
        (dict(mlp_init="normal"), "mlp_init"),
        (dict(heads=0), "heads"),
    ],
)
def test_bad_combinations_are_refused_in_one_line(changes, words):
    with pytest.raises(InputError, match=words) as error:
        tiny(**changes)
    assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def tiny_run():
    return train(tiny(snapshot_steps=(0, 10)))


def test_dataset_says_transformer_and_records_the_unembedding(tiny_run):
    ds = tiny_run
    assert ds.attrs["architecture"] == "transformer"
    assert ds["unembed_signal"].dims == ("run", "step", "frequency")
    assert ds["embedding"].shape == (2, 3, 11, 16)  # the p number tokens only, not "="
    # at step 0 W_U is its initialisation: its spectrum over the p logits is numpy's FFT of the columns
    config = tiny()
    for r, seed in enumerate(config.run_seeds("mlp")):
        w_u = tf.init_parameters(config.p, config.d, config.hidden, seed=int(seed))["w_u"]
        spectrum = (np.abs(np.fft.fft(w_u.T, axis=0)[1:6]) ** 2).sum(-1)
        np.testing.assert_allclose(ds["unembed_signal"].isel(run=r, step=0), spectrum, rtol=1e-5)
    # and signal is that of the number tokens' embedding, as for the MLP
    embedding = ds["embedding"].isel(snapshot=0).values.astype(np.float64)
    expected = (np.abs(np.fft.fft(embedding, axis=-2)[:, 1:6]) ** 2).sum(-1)
    np.testing.assert_allclose(ds["signal"].sel(step=0), expected, rtol=1e-5)


def test_mlp_dataset_records_its_readout_as_the_unembedding():
    config = TrainConfig(p=11, d=8, runs=1, steps=3, hidden=8, device="cpu", save_mlp=True)
    ds = train(config)
    assert ds.attrs["architecture"] == "mlp" and ds["unembed_signal"].dims == ("run", "step", "frequency")
    w3 = ds["mlp_w3"].isel(run=0, snapshot=0).values.astype(np.float64)  # (p logits, hidden)
    spectrum = (np.abs(np.fft.fft(w3, axis=0)[1:6]) ** 2).sum(-1)
    np.testing.assert_allclose(ds["unembed_signal"].isel(run=0, step=0), spectrum, rtol=1e-5)


def test_replaying_a_transformer_dataset_without_its_parameters_is_refused(tiny_run):
    with pytest.raises(InputError, match="no stored transformer parameters .*save_mlp=True"):
        snapshot_metrics(tiny_run)


def test_resume_gives_the_identical_dataset(tmp_path):
    config = tiny(steps=30, checkpoint_every=12, snapshot_steps=(0, 10, 25))
    checkpoint = tmp_path / "run.ckpt"
    whole = train(config, checkpoint=checkpoint)
    assert checkpoint.exists()  # its last state is step 24: resuming redoes steps 24..30 from it
    resumed = train(config, checkpoint=checkpoint, resume=True)
    for name in whole.data_vars:
        np.testing.assert_array_equal(whole[name], resumed[name], err_msg=name)


def test_small_transformer_groks_and_concentrates_its_signal():
    config = TrainConfig(
        architecture="transformer", p=23, d=32, heads=4, hidden=128, runs=2, steps=500, lr=1e-2, train_frac=0.7,
        dense_until=0, record_every=100, device="cpu",
    )  # fmt: skip
    ds = train(config)
    assert (ds["test_acc"].isel(step=-1) > 0.95).all()
    signal = ds["signal"].isel(step=-1).values
    share = np.sort(signal, -1)[:, ::-1][:, :4].sum(-1) / signal.sum(-1)
    assert (share > 0.6).all(), share  # 4 of 11 frequencies: uniform would be 0.36
    assert (survivors(ds).sum("frequency") <= 6).all()
