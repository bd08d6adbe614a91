"""One estimator per objective: options declared once, then ``fit`` on a :class:`~dynamics.problem.Problem`.

:class:`DerivativeRegression` regresses the derivatives on a registered model's terms (the fitters of
:data:`dynamics.fitters.MODELS`); :class:`TrajectoryRefinement` refines such a fit so that the solved ODE
matches the observed states (:mod:`dynamics.shooting`). :func:`dynamics.fit` builds the problem and dispatches
to them; cross-validation folds and bootstrap replicates fit the same estimator on other problems.
"""

from __future__ import annotations

import warnings

import numpy as np

from dynamics import shooting
from dynamics.catalog import FitWarning
from dynamics.fitters import MODELS, FitResult
from dynamics.problem import Problem, grouped
from fittest.errors import InputError


class DerivativeRegression:
    """The derivative objective: ``dx/dt ≈ f(x)`` by a registered model, one ODE per group of samples.

    Arguments:
        model: a name in :data:`dynamics.fitters.MODELS`.
        **options: the model's options (``alpha``, ``threshold``, ``support``, ``inputs``, ...).
    """

    def __init__(self, model: str, **options) -> None:
        self.model = model
        self.options = options

    def with_options(self, **options) -> DerivativeRegression:
        """The same estimator with some options replaced (a cross-validation candidate)."""
        return DerivativeRegression(self.model, **{**self.options, **options})

    def fit(self, problem: Problem) -> FitResult:
        """The model's fit to ``problem``: coefficients ``(S, C, P)``, ``S = 1`` when its samples are one group.

        Raises:
            InputError: an option the model does not take, named.
        """
        given = {} if problem.u is None else {"u": problem.u}
        try:
            return MODELS[self.model](
                problem.x,
                problem.dxdt,
                names=problem.names,
                t=problem.t,
                groups=problem.groups,
                **self.options,
                **given,
            )
        except TypeError as error:
            if "unexpected keyword" not in str(error):
                raise
            raise InputError(
                f"model {self.model!r} does not take that option ({error}); see help(dynamics.fit)"
            ) from None


class TrajectoryRefinement:
    """The trajectory objective: from a derivative fit, the coefficients on the terms it kept and each group's
    initial states so that the solved ODE matches the observed states.

    Arguments:
        scale: the misfit's scale, ``"linear"`` or ``"log"`` (see :data:`dynamics.shooting.SCALES`).
    """

    def __init__(self, *, scale: str = "linear") -> None:
        self.scale = scale

    def fit(
        self, start: FitResult, observed: np.ndarray, t: np.ndarray, *, groups, inputs: np.ndarray | None
    ) -> np.ndarray:
        """Refine ``start`` in place; return the initial states ``(S, C)`` of the observed samples.

        The start competes with the result: a refinement that ends worse by its own measure (Lorenz at 5% noise:
        error 0.86 -> 18.3) is not kept, with a :class:`FitWarning`; ``start.info`` records
        ``trajectory_kept_start``, ``trajectory_converged``, ``trajectory_cost`` and ``trajectory_steps``.

        Arguments:
            start: the derivative fit.
            observed: the states ``(S, T, C)`` on the grid ``t``; NaN at a sample's end is padding.
            t: ``(T,)``.
            groups: the samples' groups, one ODE of ``start`` each (:attr:`dynamics.problem.Problem.groups`).
            inputs: ``(S, T, m)`` or None.
        """
        together = grouped(observed, groups)  # (G, k, T, C)
        forcing = None if inputs is None else grouped(inputs, groups)
        shot = shooting.fit_trajectories(
            start.library, start.coefficients, together, t, inputs=forcing, scale=self.scale
        )
        first = together[:, :, 0]  # a sample's NaN padding is at its end: its first point is observed
        costs = [
            shooting.misfit(start.library, coefficients, states, together, t, inputs=forcing, scale=self.scale)
            for coefficients, states in ((start.coefficients, first), (shot.coefficients, shot.x0))
        ]
        kept = costs[0] < costs[1]  # (N,): both measured by the same solve
        start.coefficients = np.where(kept[:, None, None], start.coefficients, shot.coefficients)
        x0 = np.where(kept[:, None, None], first, shot.x0)
        start.info["trajectory_kept_start"] = kept
        if kept.any():
            warnings.warn(
                f"objective='trajectory' ended with a larger trajectory misfit than its start in {int(kept.sum())} "
                f"of {kept.size} fit(s): those keep the derivative fit (fit.to_dataset()['trajectory_kept_start'])",
                FitWarning,
                stacklevel=3,
            )
        start.info["trajectory_converged"] = shot.converged
        start.info["trajectory_cost"] = np.where(kept, costs[0], shot.cost)
        start.info["trajectory_steps"] = shot.steps
        return x0.reshape(observed.shape[0], -1)
