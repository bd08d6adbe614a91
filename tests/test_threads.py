"""Thread counts: chosen once per process, recorded in the provenance, and checked on a resume."""

import json

import pytest
import torch

from fittest.cli import main
from training import TrainConfig, train


def test_threads_are_recorded_in_the_provenance():
    ds = train(TrainConfig(p=7, d=4, runs=1, steps=3, hidden=8, device="cpu"))
    assert json.loads(ds.attrs["versions"])["torch_threads"] == torch.get_num_threads()


def test_a_resume_under_another_thread_count_warns(tmp_path):
    config = TrainConfig(p=7, d=4, runs=1, steps=6, hidden=8, device="cpu", checkpoint_every=2)
    checkpoint = tmp_path / "run.ckpt"
    before = torch.get_num_threads()
    train(config, checkpoint=checkpoint)
    assert checkpoint.exists()
    torch.set_num_threads(before + 1)
    try:
        with pytest.warns(RuntimeWarning, match=f"written with {before}"):
            train(config, checkpoint=checkpoint, resume=True)
    finally:
        torch.set_num_threads(before)


def test_bad_thread_counts_are_one_line(capsys):
    assert main(["--threads", "0", "train", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "--threads must be an integer >= 1" in err and err.count("\n") == 1
