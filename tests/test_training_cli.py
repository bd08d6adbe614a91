import numpy as np
import pytest

from fittest.cli import main
from training import TrainConfig, open_run

TINY = ["--p", "11", "--d", "8", "--runs", "2", "--steps", "12", "--hidden", "16", "--device", "cpu"]


def test_train_command_writes_the_run_dataset(tmp_path, capsys):
    out = tmp_path / "run.nc"
    assert (
        main(["train", *TINY, "--lr", "0.01", "0.02", "--init-perturb", "2=3.0", "--save-mlp", "--out", str(out)]) == 0
    )
    ds = open_run(out)
    config = TrainConfig.from_json(ds.attrs["config"])
    assert config == TrainConfig(
        p=11, d=8, runs=2, steps=12, hidden=16, device="cpu", lr=(0.01, 0.02), init_perturb={2: 3.0}, save_mlp=True
    )
    assert ds.attrs["command"].startswith("fittest train --p 11") and "--save-mlp" in ds.attrs["command"]
    assert "mlp_w1" in ds
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.nc"]  # default checkpoint removed after writing
    assert "wrote" in capsys.readouterr().out


def test_command_line_resume_continues_a_checkpoint(tmp_path):
    out, checkpoint = tmp_path / "a.nc", tmp_path / "a.ckpt"
    options = [*TINY, "--checkpoint-every", "5", "--checkpoint", str(checkpoint)]
    assert main(["train", *options, "--out", str(out)]) == 0
    assert checkpoint.exists()
    assert main(["train", *options, "--resume", "--out", str(tmp_path / "b.nc")]) == 0
    np.testing.assert_array_equal(open_run(out)["signal"], open_run(tmp_path / "b.nc")["signal"])
    assert main(["train", *options, "--lr", "0.5", "--resume"]) == 2


@pytest.mark.parametrize(
    "options, field",
    [
        (["--p", "2"], "p"),
        (["--p", "seven"], "p"),
        (["--d", "0"], "d"),
        (["--steps", "0"], "steps"),
        (["--train-frac", "1.2"], "train_frac"),
        (["--device", "tpu"], "device"),
        (["--dtype", "half"], "dtype"),
        (["--init-perturb", "3"], "init_perturb"),
        (["--steps", "1", "--out", "missing/run.nc"], "does not exist"),
    ],
)
def test_bad_options_end_in_one_line_and_exit_2(options, field, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", *options]) == 2
    err = capsys.readouterr().err.strip()
    # the error names the field as the user typed it: --train-frac, not train_frac
    assert len(err.splitlines()) == 1 and field.replace("_", "-") in err and err.startswith("fittest train: error:")
    assert list(tmp_path.iterdir()) == []
