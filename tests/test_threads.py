"""Thread counts: chosen once per process, recorded in the provenance, and checked on a resume."""

import json
import os

import pytest
import torch

from fittest.cli import main
from fittest.errors import InputError
from training import TrainConfig, train
from training.engine import loop

TINY = TrainConfig(p=7, d=4, runs=1, steps=3, hidden=8, device="cpu")


def threads_used(**options) -> int:
    """The thread count a train() call ran with, as its provenance records it."""
    return json.loads(train(TINY, progress=False, **options).attrs["versions"])["torch_threads"]


@pytest.fixture
def torch_count():
    """Set torch's thread count for a test; the count it had is restored afterwards."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def test_threads_are_recorded_in_the_provenance(torch_count):
    assert threads_used(threads=1) == 1
    assert threads_used(threads=2) == 2
    torch_count(3)
    assert threads_used(threads=3) == 3


def test_train_uses_one_thread_unless_the_count_was_chosen_and_leaves_torchs_as_it_was(torch_count, monkeypatch):
    # torch's default, one thread per core, made the README's snippet 10-25x slower than the command line on a
    # busy machine
    default = os.cpu_count()
    if default < 2:
        pytest.skip("a one-core machine: torch's default is one thread already")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch_count(default)
    assert threads_used() == 1
    assert torch.get_num_threads() == default
    assert threads_used(threads=2) == 2
    assert torch.get_num_threads() == default
    torch_count(default + 1)  # a count the user chose
    assert threads_used() == default + 1
    monkeypatch.setenv("OMP_NUM_THREADS", str(default))  # chosen in the environment, as the command line does
    torch_count(default)
    assert threads_used() == default
    assert torch.get_num_threads() == default


def test_a_failing_train_leaves_torchs_thread_count_as_it_was(torch_count, monkeypatch, tmp_path):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch_count(os.cpu_count())
    with pytest.raises(InputError, match="resume needs a checkpoint"):
        train(TINY, resume=True, threads=3)
    monkeypatch.setattr(loop, "_train", lambda *args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        train(TINY, threads=3)
    assert torch.get_num_threads() == os.cpu_count()


@pytest.mark.parametrize("threads", [0, -1, 1.5, "2", True])
def test_bad_thread_counts_of_train_are_one_line(threads):
    with pytest.raises(InputError, match=r"threads must be an integer >= 1, got") as error:
        train(TINY, threads=threads)
    assert "\n" not in str(error.value)


def test_a_resume_under_another_thread_count_warns(tmp_path):
    config = TINY.replace(steps=6, checkpoint_every=2)
    checkpoint = tmp_path / "run.ckpt"
    train(config, checkpoint=checkpoint, threads=1)
    assert checkpoint.exists()
    with pytest.warns(RuntimeWarning, match="written with 1"):
        train(config, checkpoint=checkpoint, resume=True, threads=2)


def test_bad_thread_counts_are_one_line(capsys):
    assert main(["--threads", "0", "train", "--steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "--threads must be an integer >= 1" in err and err.count("\n") == 1
