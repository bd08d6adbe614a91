"""Effective ODEs fitted to trajectories held in xarray: fit, solve, compare, report.

>>> import dynamics
>>> fitted = dynamics.fit(runs, model="linear", t_range=(0, 1000))   # one ODE per run
>>> fitted.A, fitted.b, fitted.r2_derivative
>>> fitted.simulate(method="analytic")
>>> fitted.compare(runs).r2_trajectory
>>> fitted.report("report/")
"""

from dynamics.compare import compare
from dynamics.derivatives import differentiate
from dynamics.fitted import FittedODE, load
from dynamics.fitters import MODELS, FitResult
from dynamics.fitting import fit
from dynamics.report import write_report
from dynamics.trajectories import Trajectories, as_trajectories

__all__ = [
    "MODELS",
    "FitResult",
    "FittedODE",
    "Trajectories",
    "as_trajectories",
    "compare",
    "differentiate",
    "fit",
    "load",
    "write_report",
]
