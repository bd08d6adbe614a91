"""The shipped quick-profile results are what this code computes: figure 10 (one ensemble of 18 runs, the
cheapest figure that trains) made afresh equals its shipped JSON to the last digit.

Both sides run at one thread (the command line's default): at another count a reduction adds its terms in
another order, and training amplifies that (getting-started, "Threads and the same bits")."""

import json
from pathlib import Path

import torch

import paper_figures

SHIPPED = Path(__file__).resolve().parents[1] / "paper_figures" / "results" / "quick"


def test_figure_10_equals_its_shipped_numbers(tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        made = paper_figures.make_figure("fig10", profile="quick", out=tmp_path, cache=tmp_path / "cache")
    finally:
        torch.set_num_threads(before)
    shipped = json.loads((SHIPPED / "fig10.json").read_text())
    made = json.loads((tmp_path / "fig10.json").read_text())
    assert made["numbers"] == shipped["numbers"]
    assert made["runs"]["configs"] == shipped["runs"]["configs"]
