"""The shipped quick-profile results are what this code computes: figure 10 (one ensemble of 18 runs, the
cheapest figure that trains) made afresh equals its shipped JSON to the last digit.

Both sides run at one thread (the command line's default): at another count a reduction adds its terms in
another order, and training amplifies that (getting-started, "Threads and the same bits").

The figure reads only the first and the last record of its ensemble. Recording is evaluation without gradients
and does not touch the training, so the ensemble is trained here with those two records alone, at a third of the
cost of recording every step, and the figure's own code computes its numbers from them. Those numbers are counts
and accuracies: a change in the training's last bits can leave them as they are (an lr of 0.0100001 for 0.01
did), a change that moves any run's outcome (an lr of 0.0105) changes every one of them."""

import json
from pathlib import Path

import torch

import paper_figures
import training
from paper_figures.cache import config_dict, config_key
from paper_figures.framework import Context, figure_module, jsonable

SHIPPED = Path(__file__).resolve().parents[1] / "paper_figures" / "results" / "quick"


class _Trained:
    """A stand-in for the run cache that hands the figure the one ensemble trained by the test."""

    def __init__(self, config, ds):
        self.config, self.ds = config, ds

    def get(self, config):
        assert config == self.config, "the figure asked for another ensemble than the one it declares"
        return self.ds


def test_figure_10_equals_its_shipped_numbers():
    shipped = json.loads((SHIPPED / "fig10.json").read_text())
    module = figure_module("fig10")
    (config,) = module.configs(Context(profile=paper_figures.get_profile("quick"), cache=None))
    # the ensemble the figure declares today is the one the shipped numbers were made from
    assert {config_key(config): jsonable(config_dict(config))} == shipped["runs"]["configs"]
    ends = config.replace(dense_until=0, record_every=config.steps, snapshot_steps=(), device="cpu")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ds = training.train(ends, progress=False)
    finally:
        torch.set_num_threads(before)
    assert list(ds["step"].values) == [0, config.steps]
    _, numbers = module.build(Context(profile=paper_figures.get_profile("quick"), cache=_Trained(config, ds)))
    assert jsonable(numbers) == shipped["numbers"]
