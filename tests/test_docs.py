"""The documentation builds with warnings as errors, and its executed tutorials show what they compute.

The build is the README's command, ``python -m sphinx -W --keep-going -b html docs <dir>``, run once per test
session in the background (tests/conftest.py); myst-nb executes every tutorial during it, so a tutorial that no
longer runs fails here.
"""

from __future__ import annotations

import html
import importlib
import re
from pathlib import Path

import pytest

pytest.importorskip("myst_nb", reason="the docs extra is not installed: pip install -e '.[docs]'")
pytest.importorskip("furo", reason="the docs extra is not installed: pip install -e '.[docs]'")

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = ["index", "getting-started", "background", "cli", "api/index", "api/training", "api/dynamics", "api/fittest"]


def _toctree_entries(index: Path) -> list[str]:
    """The documents a MyST page's toctree lists, so the test follows whichever tutorials are published."""
    text = index.read_text()
    entries = []
    for block in re.findall(r"```\{toctree\}\n(.*?)```", text, re.S):
        entries += [line.strip() for line in block.splitlines() if line.strip() and not line.startswith(":")]
    return entries


TUTORIALS = [f"tutorials/{name}" for name in _toctree_entries(DOCS / "tutorials" / "index.md")]


@pytest.fixture(scope="module")
def site(docs_build) -> Path:
    # conftest started the build at the session's first test; these tests run last, so it has mostly finished
    return docs_build.wait()


def _text(path: Path) -> str:
    return html.unescape(path.read_text())


def test_every_page_is_built(site):
    for page in PAGES + ["tutorials/index"] + TUTORIALS:
        assert (site / f"{page}.html").is_file(), f"{page}.html missing from the built site"


def test_maths_renders_without_internet(site):
    page = _text(site / "background.html")
    scripts = re.findall(r'<script[^>]*src="([^"]*mathjax[^"]*)"', page, re.I)
    assert scripts and all(not src.startswith(("http:", "https:", "//")) for src in scripts), scripts
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_source_pages_link_back_to_their_objects(site):
    # viewcode's "[docs]" links from the highlighted source must land on the object, not at the page's top
    missing = []
    for source in (site / "_modules").rglob("*.html"):
        for href in re.findall(r'href="([^"]+)#([^"]+)">\[docs\]', source.read_text()):
            target = (source.parent / href[0]).resolve()
            if f'id="{href[1]}"' not in target.read_text():
                missing.append(f"{source.relative_to(site)} -> {href[0]}#{href[1]}")
    assert not missing, "\n".join(missing[:10])


def test_the_build_log_is_free_of_kernel_warnings(site):
    log = (site.parent / "build.log").read_text()
    assert "without encryption" not in log, log[-3000:]


def test_there_are_tutorials():
    assert len(TUTORIALS) >= 1, "docs/tutorials/index.md lists no tutorial"


@pytest.mark.parametrize("page", TUTORIALS + ["background"])
def test_executed_pages_show_their_outputs(site, page):
    text = _text(site / f"{page}.html")
    outputs = re.findall(r'class="cell_output[^"]*"', text)
    code_cells = re.findall(r'class="cell_input[^"]*"', text)
    assert code_cells, f"{page}: no code cells"
    assert len(outputs) >= len(code_cells) // 2, f"{page}: {len(outputs)} outputs for {len(code_cells)} code cells"
    assert "Traceback (most recent call last)" not in text, f"{page} shows a traceback"


@pytest.mark.parametrize("page", TUTORIALS)
def test_tutorials_draw_figures(site, page):
    text = _text(site / f"{page}.html")
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', text)
    assert images, f"{page}: the executed tutorial has no figure"
    for src in images:
        assert (site / page).parent.joinpath(src).resolve().is_file(), f"{page}: figure {src} missing"


def test_background_checks_parseval(site):
    text = _text(site / "background.html")
    totals = r"(?:sum over all k of \|\|F_k\|\|\^2|\|\|F_0\|\|\^2 \+ 2 \* sum\(signal\)|p \* \|\|W_E\|\|_F\^2)"
    values = [float(v) for v in re.findall(totals + r"\s*:\s*([0-9.e+-]+)", text)]
    assert len(values) == 3, "the Parseval cell's three printed totals are not on the page"
    assert max(values) - min(values) <= 1e-9 * max(values)


@pytest.mark.parametrize("package", ["training", "dynamics", "fittest"])
def test_api_reference_documents_every_public_name(site, package):
    module = importlib.import_module(package)
    text = _text(site / "api" / f"{package}.html")
    missing = [
        name
        for name in getattr(module, "__all__", [])
        if not name.startswith("_") and f'id="{package}.{name}"' not in text
    ]
    assert not missing, f"api/{package}.html lacks {missing}"


def test_cli_page_shows_every_command(site):
    from fittest.cli import COMMANDS

    text = _text(site / "cli.html")
    for command in COMMANDS:
        assert f"usage: fittest {command}" in text, f"cli.html lacks the help of 'fittest {command}'"


def test_api_reference_links_to_the_tutorials_as_examples(site):
    text = _text(site / "api" / "dynamics.html")
    entry = text[text.index('id="dynamics.fit"') :]
    entry = entry[: entry.index('id="dynamics.load"')] if 'id="dynamics.load"' in entry else entry
    assert "Examples:" in entry and "03-your-own-trajectories.html" in entry, "dynamics.fit links to no tutorial"


def _page_text(site: Path, page: str) -> str:
    """The page's visible text, tags removed, so that printed outputs can be read back."""
    return re.sub(r"<[^>]+>", "", _text(site / f"{page}.html"))


def test_tutorial_claims_match_their_outputs(site):
    """The prose around the outputs states facts; if the toolkit's numbers move, the prose must be revisited."""
    paper_scale = _page_text(site, "tutorials/02-fitting-odes")
    r2 = re.search(r"linear\s+median R² of the increments ([0-9.]+)", paper_scale)
    assert r2 and float(r2.group(1)) >= 0.998, "tutorial 2 says the shipped runs match the paper's R² of 0.998-0.999"
    circles = re.search(r"circles per run: \[([0-9 ]+)\]", paper_scale)
    assert circles and all(3 <= int(n) <= 6 for n in circles.group(1).split()), "tutorial 2: 3-5 survivors per run"

    own = _page_text(site, "tutorials/03-your-own-trajectories")
    errors = {m: float(v) for m, v in re.findall(r"(forward|central|savgol)\s+largest error in A: ([0-9.e+-]+)", own)}
    assert errors["savgol"] < errors["central"] < errors["forward"], "tutorial 3 ranks the derivative estimates"

    statistics = _page_text(site, "tutorials/04-the-paper")
    rates = re.search(r"survival rate: ([0-9.]+) over \d+ runs -> ([0-9.]+) over \d+ runs", statistics)
    assert rates and float(rates.group(2)) > float(rates.group(1)), "tutorial 4: a boosted circle survives more often"
