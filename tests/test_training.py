import math

import numpy as np
import pytest
import torch
import xarray as xr

from fittest.errors import InputError
from training import TrainConfig, open_run, train
from training.engine import loop as train_module
from training.engine.model import (
    forward,
    forward_naive,
    init_embedding,
    init_mlp,
    loss_and_accuracy,
    loss_gradients,
)
from training.engine.optimizer import EnsembleAdamW
from training.engine.replay import snapshot_loss, snapshot_metrics
from training.engine.schedule import record_steps
from training.tasks import pairs, split

TINY = dict(p=11, d=8, runs=2, steps=30, device="cpu", hidden=16)


def tiny(**changes):
    return TrainConfig(**{**TINY, **changes})


@pytest.fixture(scope="module")
def tiny_run():
    return train(tiny(snapshot_steps=(0, 7, 30)))


def test_dataset_follows_the_contract(tiny_run):
    ds = tiny_run
    assert ds.attrs["schema"] == "fittest.run/2"
    assert TrainConfig.from_json(ds.attrs["config"]) == tiny(snapshot_steps=(0, 7, 30))
    for name in ("created", "device", "versions", "command"):
        assert ds.attrs[name]
    assert ds["amplitude"].dims == ("run", "step", "frequency")
    assert ds["embedding"].dims == ("run", "snapshot", "token", "dim")
    assert list(ds["frequency"].values) == [1, 2, 3, 4, 5]
    assert list(ds["snapshot"].values) == [0, 7, 30]
    assert ds["step"].values[0] == 0 and ds["step"].values[-1] == 30
    for name in ("seed", "p", "d", "lr", "weight_decay", "embed_seed", "mlp_seed", "split_seed"):
        assert ds[name].dims == ("run",)
    np.testing.assert_allclose(ds["signal"], ds["amplitude"] ** 2, rtol=1e-5)
    assert ds["embed_seed"].values[0] != ds["embed_seed"].values[1]  # each run draws its own embedding


def test_recorded_signal_equals_numpy_fft_of_snapshots(tiny_run):
    ds = tiny_run
    K = ds.sizes["frequency"]
    for step in ds["snapshot"].values:
        E = ds["embedding"].sel(snapshot=step).values.astype(np.float64)
        F = np.fft.fft(E, axis=-2)
        expected = (np.abs(F[:, 1 : K + 1]) ** 2).sum(-1)
        np.testing.assert_allclose(ds["signal"].sel(step=step).values, expected, rtol=1e-4)
        # Parseval: sum over all p coefficients of ||F_k||^2 = p ||E||_F^2 (p odd: k=0 plus twice the kept half)
        zero = (np.abs(F[:, 0]) ** 2).sum(-1)
        total = zero + 2 * ds["signal"].sel(step=step).values.sum(-1)
        np.testing.assert_allclose(total, ds.sizes["token"] * (E**2).sum((-2, -1)), rtol=1e-4)


def test_first_snapshot_is_the_initialisation(tiny_run):
    seed = int(tiny_run["embed_seed"].values[1])
    np.testing.assert_allclose(tiny_run["embedding"].isel(run=1, snapshot=0), init_embedding(11, 8, seed), rtol=1e-6)
    # a later snapshot is a copy, not a view that the optimizer kept updating
    assert not np.allclose(tiny_run["embedding"].isel(snapshot=1), tiny_run["embedding"].isel(snapshot=2))


def test_factorized_first_layer_equals_naive():
    rng = np.random.default_rng(0)
    p, d, R = 13, 6, 3
    params = {
        name: torch.from_numpy(np.stack([value] * R) + rng.normal(size=(R, *value.shape)))
        for name, value in init_mlp(p, d, 10, seed=0).items()
    }
    params["embedding"] = torch.from_numpy(rng.normal(size=(R, p, d)))
    a, b, _ = (torch.from_numpy(x) for x in pairs(p))
    per_run = torch.from_numpy(np.stack([rng.permutation(p * p)[:50] for _ in range(R)]))
    for ia, ib in ((a, b), (a[per_run], b[per_run])):
        np.testing.assert_allclose(forward(params, ia, ib), forward_naive(params, ia, ib), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", ["silu", "relu", "gelu", "tanh"])
@pytest.mark.parametrize("runs, shared", [(1, True), (3, True), (3, False)])
def test_hand_written_gradients_equal_autograd(activation, runs, shared):
    rng = np.random.default_rng(1)
    p, d = 7, 5
    params = {
        name: torch.from_numpy(np.stack([value + rng.normal(size=value.shape) for _ in range(runs)]))
        for name, value in init_mlp(p, d, 9, seed=0).items()
    }
    params["embedding"] = torch.from_numpy(rng.normal(size=(runs, p, d)))
    a_all, b_all, c_all = (torch.from_numpy(x) for x in pairs(p))
    idx = torch.from_numpy(
        rng.permutation(p * p)[:30] if shared else np.stack([rng.permutation(p * p)[:30] for _ in range(runs)])
    )
    a, b, c = a_all[idx], b_all[idx], c_all[idx]
    grads, loss, accuracy = loss_gradients(params, a, b, c, activation=activation, metrics=True)
    leaves = {name: t.clone().requires_grad_(True) for name, t in params.items()}
    reference_loss, reference_acc = loss_and_accuracy(forward_naive(leaves, a, b, activation=activation), c)
    reference = torch.autograd.grad(reference_loss.sum(), list(leaves.values()))
    np.testing.assert_allclose(loss, reference_loss.detach(), rtol=1e-12)
    np.testing.assert_allclose(accuracy, reference_acc)
    for name, expected in zip(leaves, reference, strict=True):
        np.testing.assert_allclose(grads[name], expected, rtol=1e-9, atol=1e-12, err_msg=name)


def test_same_seeds_same_records_and_seed_semantics():
    one = train(tiny(steps=5))
    two = train(tiny(steps=5))
    for name in ("signal", "grad_signal", "train_loss", "test_acc", "embedding"):
        np.testing.assert_array_equal(one[name], two[name])
    other = train(tiny(steps=5, seed=1))
    assert not np.allclose(one["signal"], other["signal"])
    shared = train(tiny(steps=5, embed_seed=3))
    np.testing.assert_array_equal(
        shared["embedding"].isel(run=0, snapshot=0), shared["embedding"].isel(run=1, snapshot=0)
    )
    assert not np.allclose(shared["train_loss"].isel(run=0), shared["train_loss"].isel(run=1))
    assert (shared["embed_seed"] == 3).all() and shared["mlp_seed"].values[0] != shared["mlp_seed"].values[1]


def test_split_is_a_function_of_its_seed():
    train_idx, test_idx = split(11, 0.8, 5)
    assert len(train_idx) == math.floor(0.8 * 121) and len(np.union1d(train_idx, test_idx)) == 121
    np.testing.assert_array_equal(train_idx, split(11, 0.8, 5)[0])
    assert not np.array_equal(train_idx, split(11, 0.8, 6)[0])


def test_resume_gives_the_uninterrupted_run(tmp_path):
    config = tiny(steps=30, checkpoint_every=7, save_mlp=True, snapshot_steps=(0, 10, 25))
    checkpoint = tmp_path / "run.ckpt"
    whole = train(config, checkpoint=checkpoint)
    assert checkpoint.exists()  # its last state is step 28: resuming redoes steps 28..30 from it
    resumed = train(config, checkpoint=checkpoint, resume=True)
    for name in whole.data_vars:
        np.testing.assert_array_equal(whole[name], resumed[name], err_msg=name)
    with pytest.raises(InputError, match="another config"):
        train(config.replace(lr=0.02), checkpoint=checkpoint, resume=True)


def test_a_checkpoint_batched_otherwise_resumes_each_run_where_it_was(tmp_path, monkeypatch):
    # written one model at a time (a CUDA run, or a version that batched the CPU so), resumed in pairs
    config = tiny(runs=3, steps=30, checkpoint_every=7, lr=(0.01, 0.02, 0.03))
    checkpoint = tmp_path / "run.ckpt"
    monkeypatch.setattr(train_module, "cpu_chunk", lambda config: 1)
    whole = train(config, checkpoint=checkpoint)
    monkeypatch.setattr(train_module, "cpu_chunk", lambda config: 2)
    with pytest.warns(RuntimeWarning, match=r"batches of \[1, 1, 1\] runs on cpu device, as batches of \[2, 1\]"):
        resumed = train(config, checkpoint=checkpoint, resume=True)
    # the records up to the checkpoint's step 28 are the saved ones; steps 28..30 are trained again, in pairs
    saved = whole["step"].values[whole["step"].values < 28]
    for name in ("signal", "train_loss", "test_loss"):
        np.testing.assert_array_equal(whole[name].sel(step=saved), resumed[name].sel(step=saved))
        np.testing.assert_allclose(whole[name], resumed[name], rtol=1e-4, atol=1e-7, err_msg=name)


def test_frozen_embedding_keeps_amplitude_constant():
    ds = train(tiny(freeze_embedding=True, steps=20))
    amp = ds["amplitude"].values
    np.testing.assert_array_equal(amp, np.broadcast_to(amp[:, :1], amp.shape))
    assert (ds["grad_signal"].isel(step=0) > 0).all()  # the gradient is still measured
    assert ds["train_loss"].isel(step=-1).max() < ds["train_loss"].isel(step=0).min()  # the MLP trains


def test_per_run_rates_equal_separate_runs():
    fixed = dict(embed_seed=1, mlp_seed=2, split_seed=3, steps=15)
    ensemble = train(tiny(lr=(0.01, 0.03), weight_decay=(0.5, 0.1), **fixed))
    alone = train(tiny(runs=1, lr=0.03, weight_decay=0.1, **fixed))
    np.testing.assert_allclose(ensemble["signal"].isel(run=1), alone["signal"].isel(run=0), rtol=1e-5)
    assert list(ensemble["lr"].values) == [0.01, 0.03]


def test_batched_ensemble_equals_loop(monkeypatch):
    monkeypatch.setattr(train_module, "cpu_chunk", lambda config: 1)  # one model at a time
    looped = train(tiny(runs=3, steps=15))
    monkeypatch.setattr(train_module, "cpu_chunk", lambda config: 3)  # the whole ensemble in one batch
    batched = train(tiny(runs=3, steps=15))
    for name in ("signal", "grad_signal", "train_loss", "test_loss"):
        np.testing.assert_allclose(looped[name], batched[name], rtol=2e-4, atol=1e-6, err_msg=name)


def test_ensemble_adamw_matches_torch():
    torch.manual_seed(0)
    start = [torch.randn(1, 4, 3, dtype=torch.float64), torch.randn(1, 5, dtype=torch.float64)]
    ours = [t.clone() for t in start]
    theirs = [t.clone().requires_grad_(True) for t in start]
    mine = EnsembleAdamW(ours, lr=[0.01], weight_decay=[0.5], betas=(0.9, 0.999))
    reference = torch.optim.AdamW(theirs, lr=0.01, weight_decay=0.5, betas=(0.9, 0.999))
    for _ in range(20):
        grads = [torch.randn_like(t) for t in start]
        mine.step(grads)
        for t, g in zip(theirs, grads, strict=True):
            t.grad = g.clone()
        reference.step()
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b.detach(), rtol=1e-12)


def test_snapshot_loss_recomputes_recorded_loss():
    ds = train(tiny(save_mlp=True, steps=20, snapshot_steps=(0, 10)))
    assert ds["mlp_w2"].dims == ("run", "snapshot", "unit2", "unit1")
    metrics = snapshot_metrics(ds)
    for step in (0, 10, 20):
        np.testing.assert_allclose(metrics["loss"].sel(snapshot=step), ds["test_loss"].sel(step=step), rtol=1e-4)
        np.testing.assert_allclose(metrics["accuracy"].sel(snapshot=step), ds["test_acc"].sel(step=step))
    train_loss = snapshot_loss(ds, split="train")
    np.testing.assert_allclose(train_loss.sel(snapshot=20), ds["train_loss"].sel(step=20), rtol=1e-4)
    ablated = snapshot_loss(ds, embedding=xr.zeros_like(ds["embedding"]))
    assert ablated.dims == ("run", "snapshot")
    assert not np.allclose(ablated, metrics["loss"])
    with pytest.raises(InputError, match="save_mlp"):
        snapshot_loss(train(tiny(steps=2)))


def test_cpu_training_flushes_subnormal_numbers_and_restores_the_default():
    """Subnormal float32 arithmetic costs the CPU microcode (a default run's step grew from 3.7 to 47 ms by step
    12 000): training flushes them to zero, and leaves the mode as the caller had it."""
    from training.engine.quantities import QUANTITIES, Quantity
    from training.rundata import Variable

    def underflow(live):  # 1e-38 * 0.01 is subnormal in float32: zero when flushed
        return torch.full((live.train_loss.shape[0],), 1e-38, dtype=torch.float32) * 0.01

    probe = Quantity("probe", underflow, Variable(("run", "step"), "a subnormal product", required=False))
    ds = train(tiny(steps=3), quantities=(*QUANTITIES, probe))
    assert float(ds["probe"].max()) == 0.0
    assert float(torch.tensor(1e-38, dtype=torch.float32) * 0.01) > 0.0
    torch.set_flush_denormal(True)  # a caller who flushes already keeps flushing
    try:
        train(tiny(steps=1))
        assert float(torch.tensor(1e-38, dtype=torch.float32) * 0.01) == 0.0
    finally:
        torch.set_flush_denormal(False)


def test_record_schedule():
    steps = record_steps(TrainConfig(steps=2500, record_every=400))
    np.testing.assert_array_equal(steps[:1001], np.arange(1001))
    np.testing.assert_array_equal(steps[1001:], [1400, 1800, 2200, 2500])
    log = record_steps(TrainConfig(steps=30000, record_spacing="log", log_records=50))
    assert log[-1] == 30000 and np.all(np.diff(log) > 0) and len(log) <= 1001 + 50
    assert list(record_steps(TrainConfig(steps=5))) == [0, 1, 2, 3, 4, 5]


def test_config_json_round_trip():
    config = TrainConfig(runs=3, lr=(0.01, 0.02, 0.03), init_perturb={3: 2.0}, init_keep=(1, 4), embed_seed=4)
    again = TrainConfig.from_json(config.to_json())
    assert again == config and again.init_perturb == {3: 2.0}


@pytest.mark.parametrize(
    "changes, field",
    [
        (dict(p=2), "p"),
        (dict(p=7.5), "p"),
        (dict(d=0), "d"),
        (dict(steps=0), "steps"),
        (dict(train_frac=1.0), "train_frac"),
        (dict(train_frac=0), "train_frac"),
        (dict(device="tpu"), "device"),
        (dict(dtype="float16"), "dtype"),
        (dict(lr=(0.1,)), "lr"),
        (dict(weight_decay=-1), "weight_decay"),
        (dict(activation="sigmoid"), "activation"),
        (dict(init_keep=(40,)), "init_keep"),
        (dict(runs=0), "runs"),
    ],
)
def test_bad_config_names_the_field(changes, field):
    with pytest.raises(InputError, match=field):
        TrainConfig(**changes)


def test_missing_output_folder_fails_before_training(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        train(tiny(steps=1), out=tmp_path / "missing" / "run.nc")
    assert not (tmp_path / "missing").exists()
    # a folder given where a file belongs fails before training too, not at the final rename
    with pytest.raises(InputError, match="is a folder"):
        train(tiny(steps=50), out=tmp_path)
    with pytest.raises(InputError, match="checkpoint .* is a folder"):
        train(tiny(steps=50, checkpoint_every=10), checkpoint=tmp_path)


def test_open_run_round_trip_and_refusals(tmp_path, tiny_run):
    path = tmp_path / "run.nc"
    train(tiny(steps=3), out=path)
    ds = open_run(path)
    assert ds["signal"].dims == ("run", "step", "frequency") and ds.attrs["schema"] == "fittest.run/2"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    with pytest.raises(InputError, match="not a fittest run dataset: no such file"):
        open_run(tmp_path / "absent.nc")
    (tmp_path / "text.nc").write_text("hello")
    with pytest.raises(InputError, match="not a fittest run dataset: cannot be read"):
        open_run(tmp_path / "text.nc")
    ds.drop_vars("grad_signal").to_netcdf(tmp_path / "partial.nc", engine="h5netcdf")
    with pytest.raises(InputError, match="missing grad_signal"):
        open_run(tmp_path / "partial.nc")


def test_default_model_groks_and_keeps_a_few_circles():
    # the paper's model and optimizer, 1000 steps: test accuracy > 0.9 and 3-6 surviving circles (paper: 3-5);
    # only the first and last records are read, and recording every step would cost more than the training
    ds = train(TrainConfig(runs=3, steps=1000, device="cpu", snapshot_steps=(), dense_until=0, record_every=1000))
    assert list(ds["step"].values) == [0, 1000]
    assert (ds["test_acc"].isel(step=-1) > 0.9).all()
    final = ds["amplitude"].isel(step=-1)
    survivors = (final > 2 * final.mean("frequency")).sum("frequency").values
    assert 3 <= np.median(survivors) <= 6 and survivors.min() >= 2 and survivors.max() <= 8, survivors
    # the dead circles shrink: the smallest final amplitude is far below the smallest initial one
    assert (final.min("frequency") < 0.5 * ds["amplitude"].isel(step=0).min("frequency")).all()


@pytest.mark.slow
def test_paper_scale_run_keeps_three_to_six_circles():
    ds = train(TrainConfig(runs=2, device="cpu"))
    final = ds["amplitude"].isel(step=-1)
    survivors = (final > 2 * final.mean("frequency")).sum("frequency").values
    assert (ds["test_acc"].isel(step=-1) > 0.95).all()
    assert ((survivors >= 3) & (survivors <= 6)).all(), survivors


def test_interventions_shape_the_initial_embedding():
    base = train(tiny(steps=1))
    perturbed = train(tiny(steps=1, init_perturb={2: 3.0}))
    ratio = perturbed["amplitude"].isel(step=0) / base["amplitude"].isel(step=0)
    np.testing.assert_allclose(ratio.sel(frequency=2), 3.0, rtol=1e-5)
    np.testing.assert_allclose(ratio.drop_sel(frequency=2), 1.0, rtol=1e-5)
    kept = train(tiny(steps=1, init_keep=(1, 4)))["amplitude"].isel(step=0)
    assert (kept.sel(frequency=[2, 3, 5]) < 1e-4).all() and (kept.sel(frequency=[1, 4]) > 0.1).all()
    built = train(tiny(steps=1, init_construct={3: 50.0}))["signal"].isel(step=0)
    assert (built.sel(frequency=3) > 1e3 * built.drop_sel(frequency=3).max("frequency")).all()
    with pytest.raises(InputError, match="init_perturb"):
        tiny(init_perturb={2: 0})


def test_the_snapshot_schedule_follows_a_changed_length():
    # the config keeps the steps as given and adds the ends at use: a longer run must not keep the old end
    config = TrainConfig(steps=3000, snapshot_steps=(0, 1000, 5000), device="cpu")
    assert config.snapshot_schedule == (0, 1000, 3000)
    assert config.replace(steps=8000).snapshot_schedule == (0, 1000, 5000, 8000)
    assert config.replace(steps=500).snapshot_schedule == (0, 500)
    assert TrainConfig.from_json(config.to_json()) == config
