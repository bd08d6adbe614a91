"""Progress that a log file can show: whole lines with rate and ETA when standard error is not a terminal."""

import importlib

progress_module = importlib.import_module("fittest.progress")  # the package attribute is the function


def test_a_log_gets_whole_lines_with_rate_and_eta(monkeypatch, capsys):
    monkeypatch.setattr(progress_module, "LOG_INTERVAL", 0.0)
    bar = progress_module.progress(total=4, desc="train", unit="step")
    for step in range(4):
        bar.update(1)
        bar.set_postfix(loss=f"{1 / (step + 1):.2f}", refresh=False)
    bar.close()
    err = capsys.readouterr().err
    assert "\r" not in err and err.endswith("\n")
    lines = err.splitlines()
    assert lines and all(line.startswith("train:") for line in lines)
    last = lines[-1]
    assert "4/4" in last and "step/s" in last and "<" in last  # count, rate, elapsed<remaining


def test_nothing_is_printed_before_the_interval_or_when_disabled(capsys):
    bar = progress_module.progress(total=3, desc="quiet")
    bar.update(3)  # well within the first interval: a short job leaves its log clean
    bar.close()
    off = progress_module.progress(total=3, desc="off", enabled=False)
    off.update(3)
    off.close()
    assert capsys.readouterr().err == ""
