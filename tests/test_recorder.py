"""training.Recorder: a user's own torch loop recorded into a run dataset, the same as training.train's."""

import numpy as np
import pytest
import torch
from torch import nn

import dynamics
import training
from fittest.errors import InputError
from training.engine.loop import initial_batches
from training.engine.model import PARAMETERS, forward, loss_and_accuracy
from training.engine.optimizer import EnsembleAdamW
from training.rundata import check_run

CONFIG = dict(p=11, d=8, runs=2, steps=20, hidden=16, device="cpu", dtype="float64", dense_until=20)


def plain_loop(config: training.TrainConfig, recorder_for) -> tuple[training.Recorder, dict]:
    """The built-in MLP trained by autograd in a plain loop, from the parameters training.train starts from."""
    (batch,) = initial_batches(config, torch.device("cpu"), chunk=config.runs)
    params = {name: batch.params[name].clone().requires_grad_(True) for name in PARAMETERS}
    optimizer = EnsembleAdamW(
        [params[name] for name in PARAMETERS],
        lr=config.per_run("lr"),
        weight_decay=config.per_run("weight_decay"),
        betas=config.betas,
    )
    rec = recorder_for(params)
    for step in range(config.steps + 1):
        loss, acc = loss_and_accuracy(forward(params, *batch.train[:2], activation=config.activation), batch.train[2])
        loss.sum().backward()  # the runs are independent: each one's gradient is its own loss's
        with torch.no_grad():
            test = loss_and_accuracy(
                forward(params, *batch.test_pairs[:2], activation=config.activation), batch.test_pairs[2]
            )
        rec.record(step, loss=loss, train_acc=acc, test_loss=test[0], test_acc=test[1], lr=0.01)
        if step < config.steps:
            optimizer.step([params[name].grad for name in PARAMETERS])
        for value in params.values():
            value.grad = None
    return rec, params


@pytest.fixture(scope="module")
def pair():
    config = training.TrainConfig(**CONFIG)
    reference = training.train(config)
    rec, params = plain_loop(config, lambda params: training.Recorder(p=config.p, embedding=params["embedding"]))
    return reference, rec, params


def test_recorder_of_the_builtin_mlp_gives_what_train_records(pair):
    reference, rec, _ = pair
    ds = rec.to_dataset()
    assert ds.sizes["run"] == 2 and list(ds["step"].values) == list(reference["step"].values)
    for name in ("signal", "amplitude", "grad_signal", "train_loss", "train_acc", "test_loss", "test_acc"):
        np.testing.assert_allclose(ds[name].values, reference[name].values, rtol=1e-9, atol=1e-12, err_msg=name)
    # the first and the last steps' embeddings are stored, as train stores step 0 and the end
    assert list(ds["snapshot"].values) == [0, 20] == list(reference["snapshot"].values)
    np.testing.assert_allclose(ds["embedding"].values, reference["embedding"].values, rtol=1e-9)
    assert ds["lr"].dims == ("run", "step") and ds["lr"].attrs["description"].startswith("lr, a scalar recorded")
    assert not ds["diverged"].values.any()


def test_recorder_dataset_follows_the_contract(pair):
    ds = pair[1].to_dataset(command="my loop")
    check_run(ds)
    assert ds.attrs["architecture"] == "user model" and ds.attrs["command"] == "my loop"
    assert "config" not in ds.attrs and "lr" not in ds.coords and "embed_seed" not in ds.coords
    assert int(ds["p"].values[0]) == 11 and ds["signal"].dtype == np.float64


def test_every_record_is_a_copy(pair):
    _, rec, params = pair
    before = rec.to_dataset()
    with torch.no_grad():
        params["embedding"].mul_(3.0)
    after = rec.to_dataset()
    for name in ("signal", "grad_signal", "embedding"):
        np.testing.assert_array_equal(before[name].values, after[name].values)
    # nor does the dataset share memory with the recorder's buffers
    before["signal"].values[:] = 0
    assert after["signal"].values.max() > 0


def test_survivors_and_a_linear_fit_work_on_a_recorded_run(pair):
    ds = pair[1].to_dataset()
    alive = training.survivors(ds)
    assert alive.dims == ("run", "frequency") and alive.dtype == bool
    np.testing.assert_array_equal(alive.values, training.survivors(pair[0]).values)
    fit = dynamics.fit(ds, model="linear")
    assert fit.A.shape[0] == 2


class Toy(nn.Module):
    def __init__(self, p: int, d: int):
        super().__init__()
        self.embed = nn.Embedding(p, d)
        self.out = nn.Linear(2 * d, p)

    def forward(self, a, b):
        return self.out(torch.cat([self.embed(a), self.embed(b)], -1))


def test_recorder_reads_an_nn_embedding_and_its_grad_like_the_numpy_fft():
    torch.manual_seed(0)
    p, d = 7, 4
    model = Toy(p, d)
    rec = training.Recorder(p=p, embedding=model.embed, snapshots=(1,))
    a, b = torch.arange(p).repeat(p), torch.arange(p).repeat_interleave(p)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    grads = []
    for step in range(3):
        loss = nn.functional.cross_entropy(model(a, b), (a + b) % p)
        loss.backward()
        rec.record(step, loss=loss.item(), accuracy=torch.tensor(0.5))
        grads.append(model.embed.weight.grad.clone())
        optimizer.step()
        optimizer.zero_grad()
    ds = rec.to_dataset()
    assert list(ds["snapshot"].values) == [0, 1, 2] and ds.sizes["run"] == 1
    fft = np.abs(np.fft.fft(ds["embedding"].values[0], axis=-2)) ** 2
    np.testing.assert_allclose(ds["signal"].values[0], fft[:, 1:4].sum(-1), rtol=1e-5)
    gfft = np.abs(np.fft.fft(torch.stack(grads).numpy(), axis=-2)) ** 2
    np.testing.assert_allclose(ds["grad_signal"].values[0], gfft[:, 1:4].sum(-1), rtol=1e-5)
    assert np.isnan(ds["test_acc"].values).all() and "not recorded" in ds["test_acc"].attrs["description"]
    assert ds["test_acc"].dtype == ds["signal"].dtype == np.float32  # the NaN fill keeps the records' precision
    np.testing.assert_allclose(ds["accuracy"].values, 0.5)


def test_a_callable_with_its_gradient_records_some_rows_of_a_larger_embedding():
    weight = nn.Parameter(torch.randn(8, 3))  # 7 tokens and an "=" token, as in a transformer
    (weight**2).sum().backward()
    rec = training.Recorder(p=7, embedding=lambda: weight[:7], gradient=lambda: weight.grad[:7])
    rec.record(0, loss=1.0)
    expected = training.signal(2 * weight.detach()[:7].numpy().astype(np.float64))
    np.testing.assert_allclose(rec.to_dataset()["grad_signal"].values[0, 0], expected, rtol=1e-5)
    with pytest.raises(InputError, match="computed tensor"):
        training.Recorder(p=7, embedding=lambda: weight[:7]).record(0, loss=1.0)


def test_a_later_name_is_nan_before_it_and_the_buffers_grow():
    weight = nn.Parameter(torch.randn(5, 2))
    weight.grad = torch.zeros_like(weight)
    rec = training.Recorder(p=5, embedding=weight)
    for step in range(40):  # past the first capacity of 16
        rec.record(step, loss=float(step), **({"late": 1.0} if step >= 30 else {}))
    ds = rec.to_dataset()
    np.testing.assert_array_equal(ds["train_loss"].values[0], np.arange(40))
    assert np.isnan(ds["late"].values[0, :30]).all() and (ds["late"].values[0, 30:] == 1).all()
    rec.record(40, loss=float("nan"))
    assert bool(rec.to_dataset()["diverged"].values[0])


@pytest.mark.parametrize(
    ("make", "record", "message"),
    [
        (lambda w: dict(p=6, embedding=w), None, "shape \\(5, 2\\) but p=6"),
        (lambda w: dict(p=5, embedding=torch.randn(2, 2, 2, 2)), None, "shape \\(2, 2, 2, 2\\)"),
        (lambda w: dict(p=5, embedding=nn.Linear(2, 2)), None, "nn.Embedding"),
        (lambda w: dict(p=6, embedding=w, task="multiply"), None, "prime p"),
        (lambda w: dict(p=5, embedding=w, snapshots=(-1,)), None, "snapshots must be an integer"),
        (lambda w: dict(p=5, embedding=w), dict(step=-1, loss=1.0), "step must be an integer"),
        (lambda w: dict(p=5, embedding=w), dict(step=0, loss="low"), "loss must be a number or a tensor"),
        (lambda w: dict(p=5, embedding=w), dict(step=0, loss=torch.ones(3)), "3 elements but .* 1 run"),
        (lambda w: dict(p=5, embedding=w), dict(step=0, loss=1.0, signal=2.0), "'signal' is a name"),
        (lambda w: dict(p=5, embedding=w), dict(step=0, loss=1.0, train_loss=2.0), "as loss="),
    ],
)
def test_bad_input_is_one_line(make, record, message):
    weight = nn.Parameter(torch.randn(5, 2))
    weight.grad = torch.zeros_like(weight)
    with pytest.raises(InputError, match=message):
        rec = training.Recorder(**make(weight))
        rec.record(**(record or {}))


def test_missing_gradient_and_steps_out_of_order_are_refused():
    weight = nn.Parameter(torch.randn(5, 2))
    rec = training.Recorder(p=5, embedding=weight)
    with pytest.raises(InputError, match="no gradient: call record after loss.backward"):
        rec.record(0, loss=1.0)
    with pytest.raises(InputError, match="nothing recorded yet"):
        rec.to_dataset()
    weight.grad = torch.zeros_like(weight)
    rec.record(3, loss=1.0)
    with pytest.raises(InputError, match="step 3 is not after the last recorded step 3"):
        rec.record(3, loss=1.0)
    assert rec.steps == [3]
