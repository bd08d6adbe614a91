"""Every data figure of the paper (2 to 16), regenerated from the toolkit's public API.

One script per figure, ``paper_figures/figNN_<topic>.py``, each runnable on its own
(``python -m paper_figures.fig09_linear_ode --profile quick --out DIR``) or through
``fittest figures [NAMES...] --profile quick|paper --out DIR``. Each writes ``DIR/figNN.png`` and
``DIR/figNN.json`` (the numbers the figure shows) and caches the ensembles it trains.

The rooms: :mod:`paper_figures.framework` (finding the scripts, the context, the outputs, ``make_figure(s)``,
the scripts' command line), :mod:`paper_figures.cache`, :mod:`paper_figures.profiles`, and
:mod:`paper_figures.helpers`, what several scripts share.
"""

from paper_figures.cache import RunCache, config_key
from paper_figures.framework import (
    FIGURES,
    Context,
    figure_module,
    figure_names,
    jsonable,
    make_figure,
    make_figures,
    write_json,
    write_png,
)
from paper_figures.profiles import PAPER, PROFILES, QUICK, Profile, get_profile

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
    "jsonable",
    "make_figure",
    "make_figures",
    "write_json",
    "write_png",
]
