"""Every data figure of the paper (2 to 16), regenerated from the toolkit's public API.

One script per figure, ``paper_figures/figNN_<topic>.py``, each runnable on its own
(``python -m paper_figures.fig09_linear_ode --profile quick --out DIR``) or through
``fittest figures [NAMES...] --profile quick|paper --out DIR``. Each writes ``DIR/figNN.png`` and
``DIR/figNN.json`` (the numbers the figure shows) and caches the ensembles it trains.
"""

from paper_figures.cache import RunCache, config_key
from paper_figures.context import Context
from paper_figures.profiles import PAPER, PROFILES, QUICK, Profile, get_profile
from paper_figures.registry import FIGURES, figure_module, figure_names
from paper_figures.runner import make_figure, make_figures

__all__ = [
    "FIGURES",
    "PAPER",
    "PROFILES",
    "QUICK",
    "Context",
    "Profile",
    "RunCache",
    "config_key",
    "figure_module",
    "figure_names",
    "get_profile",
    "make_figure",
    "make_figures",
]
