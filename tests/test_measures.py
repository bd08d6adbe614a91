"""Measures of a run: transition times, component deaths and the sparsity of a spectrum, on known answers."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fittest.errors import InputError
from training.analysis.transitions import death_steps, spectrum_sparsity, transition_times

STEPS = np.arange(0, 1001, 100)


def _run(train_acc, test_acc, amplitude) -> xr.Dataset:
    amp = np.asarray(amplitude, dtype=np.float64)
    return xr.Dataset(
        {
            "train_acc": (("run", "step"), np.asarray(train_acc, dtype=np.float64)),
            "test_acc": (("run", "step"), np.asarray(test_acc, dtype=np.float64)),
            "amplitude": (("run", "step", "frequency"), amp),
        },
        coords={"step": STEPS, "frequency": np.arange(1, amp.shape[-1] + 1)},
    )


def _curve(at: float, width: float = 40.0) -> np.ndarray:
    return 1 / (1 + np.exp(-(STEPS - at) / width))


def test_transition_times_on_a_synthetic_accuracy_curve():
    # run 0 memorises at 200 (1/(1+e^-(200-100)/40) = 0.924 < 0.99; at 300, 0.9933) and generalises at 800;
    # run 1 never generalises
    train = np.stack([_curve(100.0), _curve(100.0)])
    test = np.stack([_curve(600.0), np.full(len(STEPS), 0.5)])
    amplitude = np.ones((2, len(STEPS), 3))
    out = transition_times(_run(train, test, amplitude))
    assert out["memorisation_step"].values.tolist() == [300.0, 300.0]
    assert out["generalisation_step"].values[0] == 800.0
    assert np.isnan(out["generalisation_step"].values[1])
    assert out["transition_gap"].values[0] == 500.0 and np.isnan(out["transition_gap"].values[1])
    # a lower threshold moves the transition earlier: 0.9 is first reached at 200 (0.924)
    assert transition_times(_run(train, test, amplitude), train_threshold=0.9)["memorisation_step"][0] == 200.0


def test_death_step_is_the_start_of_the_last_dead_stretch():
    amplitude = np.full((1, len(STEPS), 3), 5.0)
    # component 1 dips below at step 200, revives at 300 and dies for good at 500; component 2 never dies;
    # component 3 dies at the very end
    amplitude[0, 2, 0] = 0.1
    amplitude[0, 5:, 0] = 0.1
    amplitude[0, -1, 2] = 0.1
    ds = _run(np.ones((1, len(STEPS))), np.ones((1, len(STEPS))), amplitude)
    dead = death_steps(ds, rule="absolute", threshold=1.0)
    assert dead.dims == ("run", "frequency")
    assert dead.values[0, 0] == 500.0 and np.isnan(dead.values[0, 1]) and dead.values[0, 2] == 1000.0
    assert transition_times(ds, rule="absolute", threshold=1.0)["death_step"].equals(dead)


def test_death_step_under_the_relative_rule_and_across_p():
    # four circles; circle 4 leads until step 400 then falls to the level of the rest: it stops clearing twice the
    # mean at 500. Padding for a run of smaller p is NaN, never a death.
    amplitude = np.full((2, len(STEPS), 4), 1.0)
    amplitude[:, :5, 3] = 10.0
    # circle 1 is no survivor while circle 4 lifts the mean (4 < 2 * 4), then one (4 > 2 * 1.75): alive at the end
    amplitude[:, :, 0] = 4.0
    ds = _run(np.ones((2, len(STEPS))), np.ones((2, len(STEPS))), amplitude).assign_coords(p=("run", [11, 7]))
    dead = death_steps(ds)
    assert dead.values[0].tolist()[3] == 500.0
    assert np.isnan(dead.values[0, 0])
    assert np.isnan(dead.values[1, 3])  # frequency 4 is no circle of p = 7
    assert dead.values[1, 1] == 0.0  # never alive: dead from the first record


def test_death_steps_refuses_a_step_and_a_missing_step_axis():
    ds = _run(np.ones((1, len(STEPS))), np.ones((1, len(STEPS))), np.ones((1, len(STEPS), 3)))
    with pytest.raises(InputError, match="step="):
        death_steps(ds, step=100)
    with pytest.raises(InputError, match="no 'step'"):
        death_steps(ds["amplitude"].isel(step=0))
    with pytest.raises(InputError, match="train_threshold"):
        transition_times(ds, train_threshold=1.5)


@pytest.mark.parametrize("n", [2, 5, 29])
def test_sparsity_of_known_spectra(n):
    one_hot = xr.DataArray(np.eye(n)[2 % n], dims="frequency", name="signal")
    flat = xr.DataArray(np.full(n, 3.0), dims="frequency", name="signal")
    assert float(spectrum_sparsity(one_hot)) == pytest.approx(1 - 1 / n)
    assert float(spectrum_sparsity(flat)) == pytest.approx(0.0, abs=1e-12)
    assert float(spectrum_sparsity(one_hot, measure="ipr")) == pytest.approx(1.0)
    assert float(spectrum_sparsity(flat, measure="ipr")) == pytest.approx(1 / n)


def test_sparsity_of_a_two_level_spectrum_and_padding():
    # k equal components among n: ipr = 1/k, gini = 1 - k/n (sum over the k top ranks of (2i - n - 1) / (n k))
    n, k = 10, 3
    x = np.r_[np.zeros(n - k), np.full(k, 2.0)]
    da = xr.DataArray(np.stack([x, np.r_[x[:-1], np.nan]]), dims=("run", "frequency"), name="signal")
    gini = spectrum_sparsity(da).values
    assert gini[0] == pytest.approx(1 - k / n)
    assert gini[1] == pytest.approx(1 - (k - 1) / (n - 1))  # the NaN entry is left out, not counted as zero
    assert spectrum_sparsity(da, measure="ipr").values.tolist() == pytest.approx([1 / k, 1 / (k - 1)])
    with pytest.raises(InputError, match="measure"):
        spectrum_sparsity(da, measure="entropy")
    with pytest.raises(InputError, match="negative"):
        spectrum_sparsity(-da)


def test_the_sweep_summary_holds_each_runs_transition_times(tmp_path):
    import logging

    import distributed

    import training
    from training.analysis.transitions import learning_times

    config = training.TrainConfig(p=7, d=8, hidden=16, steps=40, runs=2, dense_until=5, record_every=5, lr=0.03)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0", silence_logs=logging.CRITICAL
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        training.sweep([config], store=tmp_path / "s.zarr", client=client)
    tree, summary = training.open_sweep(tmp_path / "s.zarr")
    ds = tree[str(summary["task"].values.ravel()[0])].to_dataset()
    expected = learning_times(ds)
    for name in ("memorisation_step", "generalisation_step", "transition_gap"):
        np.testing.assert_array_equal(summary[name].values.ravel(), expected[name].values)
    assert np.isfinite(summary["memorisation_step"].values).any()  # a run that memorised: the test has a number
