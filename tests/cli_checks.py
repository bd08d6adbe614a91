"""What the command-line tests share: a tiny training run's options, and the one-line error they expect."""

from __future__ import annotations

import pytest

# a run that trains in well under a second
TINY = ["--p", "11", "--d", "8", "--runs", "2", "--steps", "12", "--hidden", "16", "--device", "cpu"]


def one_line_error(capsys: pytest.CaptureFixture, command: str) -> str:
    """The error ``fittest <command>`` just printed, checked to be one line that names the command."""
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"fittest {command}: error:"), err
    return err
