"""A run's records are a function of its config, device and thread count alone: bit for bit the same whether it
is trained alone, in an ensemble with other seeds and rates, or in any grouping of a sweep's points."""

import numpy as np
import pytest
import torch

from training import TrainConfig, train
from training.engine.optimizer import EnsembleAdamW
from training.sweeps.tasks import plan

# four runs whose rates differ from their neighbours' and repeat (runs 0 and 2), so that batches with shared
# and with differing rates both occur
LR = (0.01, 0.02, 0.01, 0.005)
DECAY = (1.0, 0.5, 1.0, 0.0)
SIZES = {
    "mlp": dict(p=13, d=8, hidden=16, record_neurons=True, save_mlp=True),
    "transformer": dict(p=11, d=8, hidden=16, heads=2, lr=1e-3),
}
STEPS = dict(steps=40, dense_until=40, snapshot_steps=(10, 25), device="cpu")


def assert_same_run(ensemble, run: int, single, where: str) -> None:
    """Every recorded variable of ``ensemble``'s run ``run`` equals ``single``'s only run, bit for bit."""
    compared = 0
    for name, values in ensemble.data_vars.items():
        if "run" in values.dims:
            theirs = single[name].isel(run=0).values
            np.testing.assert_array_equal(values.isel(run=run).values, theirs, err_msg=f"{name}, {where}")
            compared += 1
    assert compared >= 8  # the records, the snapshots and the divergence flag, not an empty comparison


@pytest.mark.parametrize("architecture", ["mlp", "transformer"])
def test_a_run_in_an_ensemble_is_the_run_trained_alone(architecture):
    config = TrainConfig(architecture=architecture, runs=4, seed=5, **{**SIZES[architecture], **STEPS})
    config = config.replace(lr=tuple(v * config.lr / 0.01 for v in LR), weight_decay=DECAY)
    ensemble = train(config, progress=False)
    assert (
        not ensemble["diverged"].any()
        and ensemble["train_loss"].isel(step=-1).max() < ensemble["train_loss"].isel(step=0).min()
    )  # the runs learn, so their records differ from step to step and run to run
    for run in (0, 1, 3):
        seeds = {f"{kind}_seed": int(config.run_seeds(kind)[run]) for kind in ("embed", "mlp", "split")}
        alone = config.replace(runs=1, lr=config.lr[run], weight_decay=config.weight_decay[run], **seeds)
        assert_same_run(ensemble, run, train(alone, progress=False), f"run {run}")


def test_a_sweep_point_is_the_same_in_every_grouping():
    # fixed seeds: a merged task's runs then share them, and differ in their rates only
    base = TrainConfig(runs=1, embed_seed=3, mlp_seed=4, split_seed=5, **{**SIZES["mlp"], **STEPS})
    points = [base.replace(lr=lr, weight_decay=decay) for lr, decay in zip(LR[1:], DECAY[1:], strict=True)]
    trained = {}
    for max_runs in (None, 2, 1):  # one task of three runs; tasks of two and one; every point alone
        tasks = plan(points, max_runs=max_runs)
        assert len(tasks) == {None: 1, 2: 2, 1: 3}[max_runs]
        runs = [(task.config, run) for task in tasks for run in range(task.config.runs)]
        datasets = {id(task.config): train(task.config, progress=False) for task in tasks}
        trained[max_runs] = [(datasets[id(config)], run) for config, run in runs]
    for point, (alone, _) in enumerate(trained[1]):
        for max_runs in (None, 2):
            ensemble, run = trained[max_runs][point]
            assert_same_run(ensemble, run, alone, f"point {point}, max_runs={max_runs}")


@pytest.mark.parametrize("rates", [((0.01, 0.5), (0.02, 0.1), (0.01, 0.5)), ((0.01, 0.5),) * 3])
def test_each_run_of_the_optimizer_steps_as_it_does_alone(rates):
    # shapes whose per-run sizes are not multiples of a vector's width, so that a run's position in the batch
    # would decide which of its elements take the vectorized path
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(3, 5, 3, generator=generator), torch.randn(3, 7, generator=generator)]
    steps = [[torch.randn(t.shape, generator=generator) for t in start] for _ in range(6)]
    lr, decay = zip(*rates, strict=True)
    batch = [t.clone() for t in start]
    optimizer = EnsembleAdamW(batch, lr=lr, weight_decay=decay)
    for grads in steps:
        optimizer.step(grads)
    for run in range(3):
        single = [t[run : run + 1].clone() for t in start]
        alone = EnsembleAdamW(single, lr=lr[run : run + 1], weight_decay=decay[run : run + 1])
        for grads in steps:
            alone.step([g[run : run + 1] for g in grads])
        for mine, theirs in zip(batch, single, strict=True):
            assert torch.equal(mine[run : run + 1], theirs), f"run {run}"
    assert not torch.equal(batch[0], start[0])
