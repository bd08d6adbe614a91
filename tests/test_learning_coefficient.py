"""The local learning coefficient: devinterp's SGLD estimate recovers d/2 on a regular model, is stored per snapshot
(run, snapshot) for the built-in models and a Recorder's, and says how to install the optional estimator."""

import sys

import numpy as np
import pytest
import torch

import training
from fittest.errors import InputError
from training.rundata import check_run


def _least_squares(d: int, n: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A linear regression with d weights at its exact minimum on n samples: regular, so λ = d/2."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g)
    y = x @ torch.randn(d, 1, generator=g) + torch.randn(n, 1, generator=g)
    model = torch.nn.Linear(d, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.linalg.lstsq(x, y).solution.T)
    return model, x, y


def test_a_regular_model_has_half_its_parameter_count():
    pytest.importorskip("devinterp")
    d = 10
    model, x, y = _least_squares(d, 1000)
    before = model.weight.detach().clone()
    # full batch (no gradient noise), nβ = n/log n ≈ 145 against a Hessian ≈ I: γ = 1 costs under 1%, the step
    # ε = 1e-3 adds about 4% (Euler's bias ε nβ / 4), and 4 chains of 500 steps give a spread of about 3%
    estimate = training.local_learning_coefficient(
        model, x, y, loss="mse", epsilon=1e-3, gamma=1.0, draws=500, batch_size=1000, seed=0
    )
    assert abs(float(estimate["llc"]) - d / 2) < 0.1 * d / 2
    assert estimate["llc_chain"].dims == ("chain",) and estimate.sizes == {"chain": 4, "draw": 500}
    assert 0 < float(estimate["llc_std"]) < 1
    assert np.isclose(float(estimate["llc"]), float(estimate["llc_chain"].mean()))
    assert estimate.attrs["nbeta"] == pytest.approx(1000 / np.log(1000))
    assert torch.equal(model.weight, before)  # the chains sample a copy


def test_the_same_seed_gives_the_same_estimate_and_leaves_the_callers_random_stream():
    pytest.importorskip("devinterp")
    model, x, y = _least_squares(3, 200)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = training.local_learning_coefficient(model, x, y, loss="mse", draws=30, chains=2, seed=4)
    assert torch.equal(torch.rand(1), expected_next)
    again = training.local_learning_coefficient(model, x, y, loss="mse", draws=30, chains=2, seed=4)
    other = training.local_learning_coefficient(model, x, y, loss="mse", draws=30, chains=2, seed=5)
    assert float(first["llc"]) == float(again["llc"])
    assert float(first["llc"]) != float(other["llc"])


def test_bad_options_and_losses_are_one_line_errors():
    pytest.importorskip("devinterp")
    model, x, y = _least_squares(3, 50)
    with pytest.raises(InputError, match="epsilon must be a finite number > 0"):
        training.local_learning_coefficient(model, x, y, loss="mse", epsilon=0)
    with pytest.raises(InputError, match="same number"):
        training.local_learning_coefficient(model, x, y[:10], loss="mse")
    with pytest.raises(InputError, match="one value per sample"):
        training.local_learning_coefficient(model, x, y, loss=lambda out, target: (out - target).pow(2).mean())
    with pytest.raises(InputError, match="loss must be one of"):
        training.local_learning_coefficient(model, x, y, loss="hinge")
    with pytest.raises(InputError, match="SGLD diverged.*lower epsilon"):
        training.local_learning_coefficient(model, x, y, loss="mse", epsilon=10.0, draws=50)


def test_without_devinterp_the_error_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "devinterp" or m.startswith("devinterp.")] + ["devinterp"]:
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules: the import fails as if not installed
    model, x, y = _least_squares(3, 50)
    with pytest.raises(InputError, match=r'pip install -e "\.\[llc\]"') as error:
        training.local_learning_coefficient(model, x, y, loss="mse")
    assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def tiny_run():
    config = training.TrainConfig(
        p=7, d=8, hidden=8, runs=2, steps=20, device="cpu", save_mlp=True, snapshot_steps=(0, 10, 20), record_every=5
    )
    return training.train(config)


def test_every_stored_snapshot_gets_an_estimate_beside_the_signals(tiny_run, tmp_path):
    pytest.importorskip("devinterp")
    out = training.snapshot_llc(tiny_run, chains=2, draws=5, progress_bar=False)
    assert out["llc"].dims == ("run", "snapshot") and out["llc"].shape == (2, 3)
    assert out["llc_std"].dims == ("run", "snapshot")
    assert np.isfinite(out["llc"].values).all() and (out["llc_std"].values >= 0).all()
    assert out["llc"].attrs["chains"] == 2 and out["llc"].attrs["draws"] == 5
    assert out["signal"].identical(tiny_run["signal"]) and "llc" not in tiny_run  # a new dataset, the rest kept
    check_run(out)
    out.to_netcdf(tmp_path / "run.nc")
    assert training.open_run(tmp_path / "run.nc")["llc"].equals(out["llc"])
    # one run's estimate is that of its stored model alone, with the same seed at each snapshot
    alone = training.snapshot_llc(tiny_run.isel(run=[1], snapshot=[2]), chains=2, draws=5, progress_bar=False)
    assert alone["llc"].values.item() == out["llc"].values[1, 2]


def test_a_run_without_stored_models_is_refused(tiny_run):
    pytest.importorskip("devinterp")
    with pytest.raises(InputError, match="save_mlp=True"):
        training.snapshot_llc(tiny_run.drop_vars("mlp_w2"), draws=5, progress_bar=False)


def test_a_recorders_estimates_are_stored_at_its_snapshots():
    pytest.importorskip("devinterp")
    torch.manual_seed(0)
    p = 5
    model = torch.nn.Sequential(torch.nn.Embedding(p, 4), torch.nn.Flatten(), torch.nn.Linear(8, p))
    a, b = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    x, y = torch.stack([a.flatten(), b.flatten()], 1), (a + b).flatten() % p
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    rec = training.Recorder(p=p, embedding=model[0], snapshots=[3])
    estimates = {}
    for step in range(6):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        rec.record(step, loss=loss)
        if step in (0, 3):
            estimates[step] = training.local_learning_coefficient(model, x, y, chains=2, draws=5)
        optimizer.step()
        optimizer.zero_grad()
    ds = training.with_llc(rec.to_dataset(), estimates)
    assert list(ds["snapshot"].values) == [0, 3, 5]
    assert ds["llc"].dims == ("run", "snapshot")
    assert np.isfinite(ds["llc"].values[0, :2]).all() and np.isnan(ds["llc"].values[0, 2])  # step 5: none given
    assert float(ds["llc"][0, 1]) == float(estimates[3]["llc"])
    with pytest.raises(InputError, match="not a snapshot step"):
        training.with_llc(ds, {4: 1.0})
    with pytest.raises(InputError, match="1 run"):
        training.with_llc(ds, {3: [1.0, 2.0]})
