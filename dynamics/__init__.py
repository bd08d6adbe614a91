"""Effective ODEs fitted to trajectories held in xarray: fit, solve, compare, report.

>>> import dynamics
>>> fitted = dynamics.fit(runs, model="linear", t_range=(0, 1000))   # one ODE per run
>>> fitted.A, fitted.b, fitted.r2_derivative
>>> fitted.simulate(method="analytic")
>>> dynamics.compare(fitted, runs).r2_trajectory.sel(solution="analytic")
>>> dynamics.write_report([fitted], "report/", data=runs)

The names below are loaded on first use (PEP 562), so that ``import dynamics.catalog`` (the models, their
options and the method names, for a command line's ``--help``) does not import xarray, scipy or jax.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dynamics.catalog import DERIVATIVES, MODEL_SPECS, SOLUTIONS, FitWarning, ModelSpec, Option
    from dynamics.comparison import compare
    from dynamics.derivatives import differentiate
    from dynamics.fitted import FittedODE, load
    from dynamics.fitters import MODELS, FitResult
    from dynamics.fitting import fit, refit
    from dynamics.page import Figure, Table, write_page
    from dynamics.report import report_samples, write_report
    from dynamics.selection import select
    from dynamics.solutions import Analytic, Diffrax, Euler
    from dynamics.trajectories import Trajectories, as_trajectories

# public name -> the module that defines it
_HOMES = {
    "DERIVATIVES": "dynamics.catalog",
    "FitWarning": "dynamics.catalog",
    "MODEL_SPECS": "dynamics.catalog",
    "ModelSpec": "dynamics.catalog",
    "Option": "dynamics.catalog",
    "SOLUTIONS": "dynamics.catalog",
    "compare": "dynamics.comparison",
    "differentiate": "dynamics.derivatives",
    "FittedODE": "dynamics.fitted",
    "load": "dynamics.fitted",
    "MODELS": "dynamics.fitters",
    "FitResult": "dynamics.fitters",
    "fit": "dynamics.fitting",
    "refit": "dynamics.fitting",
    "Figure": "dynamics.page",
    "Table": "dynamics.page",
    "write_page": "dynamics.page",
    "report_samples": "dynamics.report",
    "write_report": "dynamics.report",
    "select": "dynamics.selection",
    "Analytic": "dynamics.solutions",
    "Diffrax": "dynamics.solutions",
    "Euler": "dynamics.solutions",
    "Trajectories": "dynamics.trajectories",
    "as_trajectories": "dynamics.trajectories",
}

__all__ = [
    "DERIVATIVES",
    "MODELS",
    "MODEL_SPECS",
    "SOLUTIONS",
    "Analytic",
    "Diffrax",
    "Euler",
    "FitResult",
    "FitWarning",
    "Figure",
    "FittedODE",
    "ModelSpec",
    "Option",
    "Table",
    "Trajectories",
    "as_trajectories",
    "compare",
    "differentiate",
    "fit",
    "load",
    "refit",
    "report_samples",
    "select",
    "write_page",
    "write_report",
]


def __getattr__(name: str):
    """Import the module that defines ``name`` and keep the name here, so the next access is a plain lookup.

    Raises:
        AttributeError: ``name`` is not a public name of ``dynamics`` (nor a submodule already imported).
    """
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
