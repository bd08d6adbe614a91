"""Sphinx configuration for the fittest documentation.

Build it from the repository root with::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The tutorials are MyST markdown notebooks that myst-nb executes on every build, so a tutorial whose code no
longer runs fails the build (and the test suite, which runs the same command).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# The packages are installed in editable mode in every supported set-up; putting the checkout first as well
# makes a build from a fresh clone document this checkout, not some other installed copy.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))
# The notebook kernels inherit this environment: they too import this checkout, including packages that an
# older editable install does not map yet.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
# tqdm.auto (behind fittest.progress) warns in a kernel without ipywidgets, on every tutorial page; the bars are
# off there anyway (stderr is not a terminal), so the warning tells a reader nothing.
os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), "ignore:IProgress not found"]))

# One torch thread per kernel, as the command line uses: the tutorials' training stays fast when other jobs share
# the machine (torch's default of a thread per core ran up to 9x slower then).
os.environ.setdefault("OMP_NUM_THREADS", "1")

# The tutorial kernels get CurveZMQ keys from the kernel manager, so their TCP traffic is encrypted and
# ipykernel has no reason to warn, once per tutorial, that it is not.
import zmq  # noqa: E402
from jupyter_client import KernelManager  # noqa: E402

if zmq.has("curve"):  # a libzmq built without libsodium cannot encrypt: the kernels then warn as before
    KernelManager.transport_encryption.default_value = "required"

import fittest  # noqa: E402

project = "fittest"
author = "the fittest authors"
copyright = "2026, the fittest authors"
release = fittest.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    # MathJax itself is copied into the build, so the maths renders on a machine without internet
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "fittest_cli_help",
    "fittest_api",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "jupyter_execute", ".jupyter_cache", "**.ipynb_checkpoints", "README.md"]

# -- MyST ---------------------------------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- Notebook execution ---------------------------------------------------------------------------------------
# "force" runs every tutorial on every build, so what the page shows is what this checkout computes. For quick
# local iterations on prose, FITTEST_DOCS_EXECUTION=cache reuses outputs whose code cells did not change (the
# cache does not see changes in the library, so never publish a cached build).
nb_execution_mode = os.environ.get("FITTEST_DOCS_EXECUTION", "force")
# The slowest cell (tutorial 4's training) takes about 40 s on an idle 2-core machine; a busy one has run it past
# 300 s. The limit is there to stop a hung kernel, not to judge speed, so it is far above any measured time.
nb_execution_timeout = int(os.environ.get("FITTEST_DOCS_TIMEOUT", "1800"))  # seconds per cell
nb_execution_raise_on_error = True  # a failing cell fails the build instead of rendering a traceback
nb_execution_show_tb = True  # and the build log shows that traceback
nb_merge_streams = True
nb_output_stderr = "show"
nb_execution_excludepatterns: list[str] = []

# -- autodoc ------------------------------------------------------------------------------------------------
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_preserve_defaults = True

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_custom_sections = [("Options", "params_style")]  # the model options of dynamics' fitters
napoleon_use_ivar = True  # "Attributes:" as fields: as directives they would collide with autodoc's own entries

# -- HTML ---------------------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"fittest {release}"
html_theme_options = {"navigation_with_keys": True}
