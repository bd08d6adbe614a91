"""The software a result was made with: the one way every package records versions in what it writes."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path


def versions(*packages: str, **extra: object) -> dict[str, object]:
    """Python's version, each installed package's (as pip knows it), the source commit, and ``extra``.

    Arguments:
        *packages: distribution names (``"torch"``, ``"scikit-learn"``); one that is not installed is left out.
        **extra: more entries, such as the torch thread count a result's bits depend on.

    Returns:
        name -> version, with ``git_commit`` when the toolkit runs from a git checkout.
    """
    found: dict[str, object] = {"python": platform.python_version()}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    found.update(extra)
    try:  # the source commit, when the package runs from a git checkout
        found["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return found
