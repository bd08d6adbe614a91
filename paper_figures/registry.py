"""The list of figures: a name such as ``fig09`` for each script ``paper_figures/fig09_<topic>.py``."""

from __future__ import annotations

import importlib
from types import ModuleType

from fittest.errors import InputError

#: Figure name -> module. Figure 1 of the paper is an illustration with no data behind it.
FIGURES: dict[str, str] = {
    "fig02": "paper_figures.fig02_signals",
    "fig03": "paper_figures.fig03_pca_fourier",
    "fig04": "paper_figures.fig04_frozen",
    "fig05": "paper_figures.fig05_circles_p_d",
    "fig06": "paper_figures.fig06_initial_signal",
    "fig07": "paper_figures.fig07_initial_gradient",
    "fig08": "paper_figures.fig08_circles_kept",
    "fig09": "paper_figures.fig09_linear_ode",
    "fig10": "paper_figures.fig10_weight_decay",
    "fig11": "paper_figures.fig11_circularity",
    "fig12": "paper_figures.fig12_ablations",
    "fig13": "paper_figures.fig13_gradient_norms",
    "fig14": "paper_figures.fig14_nonprime",
    "fig15": "paper_figures.fig15_lasso_heatmaps",
    "fig16": "paper_figures.fig16_trajectories",
}


def figure_names(names=None) -> list[str]:
    """Normalise figure names: ``9``, ``"9"``, ``"fig9"``, ``"fig09"`` all mean ``"fig09"``; none means all.

    Raises:
        InputError: a name that is not one of the figures.
    """
    if not names:
        return list(FIGURES)
    result = []
    for name in names:
        text = str(name).strip().lower().removeprefix("fig")
        canonical = f"fig{int(text):02d}" if text.isdigit() else str(name)
        if canonical not in FIGURES:
            raise InputError(f"unknown figure {name!r}: choose from {', '.join(FIGURES)} (or give none for all)")
        if canonical not in result:
            result.append(canonical)
    return result


def figure_module(name: str) -> ModuleType:
    """The script module of figure ``name`` (imported on demand: the scripts import matplotlib and torch)."""
    return importlib.import_module(FIGURES[figure_names([name])[0]])
