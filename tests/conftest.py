"""What several test files share: the refusal fixture of the command-line tests, and the documentation build.

The documentation build (sphinx, executing every tutorial) is the suite's longest single job. It starts in a
background process as soon as the session's first test starts, and the tests that read the built site run
last, so on a machine with a second core the build overlaps the rest of the suite instead of adding to it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# A hung build, not a slow one: a busy machine has taken several times the idle 80 s.
DOCS_TIMEOUT = 3000


class DocsBuild:
    """The README's build command, ``python -m sphinx -W --keep-going -b html docs <out>``, as a process."""

    def __init__(self, out: Path):
        self.out = out
        self.log = out.parent / "build.log"  # myst-nb writes executed notebooks beside the output folder
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"), FITTEST_DOCS_EXECUTION="force")
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "docs", str(out)],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, so that stop() ends the kernels with it
            )
        self.started = time.monotonic()

    def wait(self) -> Path:
        """The built site; fails the test if the build failed or hung."""
        left = DOCS_TIMEOUT - (time.monotonic() - self.started)
        try:
            code = self.process.wait(timeout=max(left, 1))
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"the docs build did not finish in {DOCS_TIMEOUT} s:\n{self.log.read_text()[-4000:]}")
        assert code == 0, f"docs build failed:\n{self.log.read_text()[-12000:]}"
        return self.out

    def stop(self) -> None:
        """Ends the build if it still runs (an aborted session, a hung kernel)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _reads_the_site(item: pytest.Item) -> bool:
    return "site" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config, items):
    # the tests of the built site last, so that the build has the rest of the suite's time to finish
    items.sort(key=_reads_the_site)  # a stable sort: every other order stays as collected


@pytest.fixture(scope="session", autouse=True)
def docs_build(request, tmp_path_factory):
    """The documentation build, started at the session's first test if any selected test reads the site."""
    if not any(_reads_the_site(item) for item in request.session.items):
        yield None
        return
    build = DocsBuild(tmp_path_factory.mktemp("docs") / "html")
    yield build
    build.stop()


@pytest.fixture
def no_training(monkeypatch):
    """Training fails the test if it starts: a refusal must come before any work."""
    import training.engine.loop as loop

    monkeypatch.setattr(loop, "initial_batches", lambda *a, **k: pytest.fail("training started"))
