"""Fitting by trajectory (single shooting): the parameters and initial states whose solved ODE best matches the data.

The derivative fit regresses finite differences on the states; on sparse, noisy data (a few dozen yearly points)
those differences are poor and the fit is biased. Here the misfit is measured on the trajectories themselves:
for every problem (a sample, or all samples of a pooled fit, or one bootstrap replicate of either) the
coefficients ``c`` on the terms the derivative fit kept and the initial states ``x0`` minimise

    sum over samples g, times t, components i of  w[g, t] * ((x̂_gi(t; c, x0_g) - x_gi(t)) / s_gi)^2

with ``x̂`` solved by diffrax (Tsit5, float64) and the sum minimised by optimistix's Levenberg-Marquardt, both
vmapped over the problems so that a batch is one compiled call. ``s`` is each sample's component spread (its
standard deviation over time), so that components of different magnitudes weigh alike; with ``scale="log"``
the residual is ``log x̂ - log x`` instead (multiplicative noise on positive series). ``w`` are time-point
weights: 1 by default, bootstrap counts for a resample, 0 on the NaN padding of a shorter sample.

A problem whose iterations fail (the solver's step limit, a solution that blows up) is flagged by
``converged=False``; vmapped problems do not interact, so the others are unaffected.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from dynamics import library as lib
from dynamics.solve import jax64, polynomial_field
from fittest.errors import InputError

SCALES = ("linear", "log")
# a residual where the solution left the finite numbers: large, so that the solver refuses the step
_PENALTY = 1e3


@dataclass
class ShootingResult:
    """What :func:`fit_trajectories` hands back, per problem.

    Attributes:
        coefficients: shape ``(N, C, P)``.
        x0: shape ``(N, G, C)``: the fitted initial state of each of a problem's ``G`` samples.
        converged: shape ``(N,)``: the solver reported success and the final solution is finite.
        cost: shape ``(N,)``: half the sum of squared weighted residuals at the optimum.
        steps: shape ``(N,)``: Levenberg-Marquardt steps taken.
    """

    coefficients: np.ndarray
    x0: np.ndarray
    converged: np.ndarray
    cost: np.ndarray
    steps: np.ndarray


@functools.cache
def _compiled(max_steps: int, ode_steps: int, ode_rtol: float, ode_atol: float, rtol: float, atol: float):
    """The jitted, vmapped solve; compiled once per shape for each set of step limits and tolerances."""
    jax, jnp, diffrax = jax64()
    import optimistix as optx

    def solve_group(coef, y0s, factors, ts, bound):
        def field(t, y, c):
            # a state past the bound is frozen (and penalised below) so that a blow-up of a trial step ends the
            # solve cheaply; a diffrax Event would do the same at several seconds more compilation
            inside = jnp.all(jnp.abs(y) < bound)
            return jnp.where(inside, polynomial_field(jnp, c, factors, jnp.where(inside, y, 0.0)), 0.0)

        def one(y0):
            solution = diffrax.diffeqsolve(
                diffrax.ODETerm(field),
                diffrax.Tsit5(),
                t0=ts[0],
                t1=ts[-1],
                dt0=None,
                y0=y0,
                args=coef,
                saveat=diffrax.SaveAt(ts=ts),
                stepsize_controller=diffrax.PIDController(rtol=ode_rtol, atol=ode_atol),
                # Levenberg-Marquardt builds its Jacobian by forward-mode differentiation through the solver
                adjoint=diffrax.ForwardMode(),
                max_steps=ode_steps,
                throw=False,
            )
            return solution.ys

        return jax.vmap(one)(y0s)

    def residuals(params, args):
        theta, y0s = params
        observed, weights, spread, keep, rows, cols, factors, ts, bound, log = args
        coef = jnp.zeros(keep.shape, dtype=theta.dtype).at[rows, cols].set(theta) * keep
        ys = solve_group(coef, y0s, factors, ts, bound)
        # both misfits are cheap next to the solve; choosing at run time keeps one compiled function
        positive = (ys > 0) & (ys < bound)
        logged = jnp.where(positive, jnp.log(jnp.where(positive, ys, 1.0)) - observed, _PENALTY)
        plain = jnp.where(jnp.abs(ys) < bound, (ys - observed) / spread[:, None, :], _PENALTY)
        misfit = jnp.where(log, logged, plain)
        # padded or unsampled time points weigh nothing, whatever the solution does there
        return jnp.where(weights[..., None] > 0, misfit * jnp.sqrt(weights)[..., None], 0.0)

    solver = optx.LevenbergMarquardt(rtol=rtol, atol=atol)

    def problem(theta0, y00, observed, weights, spread, keep, bound, rows, cols, factors, ts, log):
        args = (observed, weights, spread, keep, rows, cols, factors, ts, bound, log)
        solution = optx.least_squares(residuals, solver, (theta0, y00), args, max_steps=max_steps, throw=False)
        theta, y0s = solution.value
        # a failed solve (its step limit, a blow-up) leaves inf in the solution, which the residual turns into
        # the penalty: the final residual says whether the optimum's solution is whole
        final = residuals((theta, y0s), args)
        coef = jnp.zeros(keep.shape, dtype=theta.dtype).at[rows, cols].set(theta) * keep
        cost = 0.5 * jnp.sum(final**2)
        ok = (solution.result == optx.RESULTS.successful) & jnp.isfinite(cost)
        ok = ok & jnp.all(jnp.abs(final) < _PENALTY)
        return coef, y0s, ok, cost, solution.stats["num_steps"]

    batched = jax.vmap(problem, in_axes=(0, 0, 0, 0, 0, 0, 0, None, None, None, None, None))
    return jnp, jax.jit(batched)


def fit_trajectories(
    library: lib.Library,
    coefficients: np.ndarray,
    observed: np.ndarray,
    t: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    scale: str = "linear",
    max_steps: int = 200,
    ode_steps: int = 16_384,
    ode_rtol: float = 1e-9,
    ode_atol: float = 1e-12,
    rtol: float = 1e-10,
    atol: float = 1e-10,
) -> ShootingResult:
    """Refine coefficients and initial states so that the solved ODEs match the observed trajectories.

    Arguments:
        library: the terms; they must be monomials.
        coefficients: shape ``(N, C, P)``: the starting point (the derivative fit) of each of ``N`` problems.
            Only the terms that are non-zero in some problem's start are fitted; a term that is zero in one
            problem's start stays zero there (a sparse model keeps its support).
        observed: shape ``(N, G, T, C)``: the ``G`` samples each problem fits (``G = 1`` for one ODE per sample).
            A time point with NaN (the padding of a shorter sample) weighs nothing, whatever ``weights`` says.
        t: shape ``(T,)``, the time grid.
        weights: shape ``(N, G, T)``, non-negative; 1 everywhere when None.
        scale: ``"linear"`` or ``"log"`` (the misfit of the logarithms; positive data only).
        max_steps: Levenberg-Marquardt steps at most.
        ode_steps: ODE solver steps at most per solve.
        ode_rtol, ode_atol: the ODE solver's tolerances (diffrax's PID step-size controller).
        rtol, atol: Levenberg-Marquardt's tolerances on the parameters' and the cost's changes.

    Returns:
        The :class:`ShootingResult`.

    Raises:
        InputError: terms that are not monomials, an unknown scale, or non-positive data with ``scale="log"``.
    """
    if not library.is_polynomial:
        raise InputError(
            "objective='trajectory' solves the ODE, which needs monomial terms; this pysindy library has others: "
            "use objective='derivative' or a PolynomialLibrary"
        )
    if scale not in SCALES:
        raise InputError(f"unknown scale {scale!r}: use one of {SCALES}")
    observed = np.asarray(observed, dtype=np.float64)
    n, g, _, c = observed.shape
    weights = np.ones(observed.shape[:3]) if weights is None else np.asarray(weights, dtype=np.float64)
    weights = np.where(np.isfinite(observed).all(axis=3), weights, 0.0)
    seen = weights > 0
    values = np.where(seen[..., None], observed, np.nan)
    if scale == "log":
        if np.any(values[seen] <= 0):
            raise InputError(
                "scale='log' fits the logarithm of the data, which must then be positive: use scale='linear'"
            )
        target = np.log(values)
    else:
        target = values
    with np.errstate(invalid="ignore"):
        spread = np.nanstd(values, axis=2)  # (N, G, C)
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    # the first observed state of each sample starts its x0 (a sample's first time point may be unsampled)
    first = np.argmax(seen, axis=2)  # (N, G)
    y00 = np.take_along_axis(observed, first[..., None, None], axis=2)[:, :, 0, :]
    keep = (coefficients != 0) & library.mask[None]
    rows, cols = np.nonzero(keep.any(axis=0))
    theta0 = coefficients[:, rows, cols]
    bound = 1e6 * np.maximum(1.0, np.nanmax(np.abs(values), axis=(1, 2, 3)))
    jnp, run = _compiled(int(max_steps), int(ode_steps), float(ode_rtol), float(ode_atol), float(rtol), float(atol))
    coef, x0, ok, cost, steps = run(
        jnp.asarray(theta0),
        jnp.asarray(y00),
        jnp.asarray(np.nan_to_num(target)),
        jnp.asarray(weights),
        jnp.asarray(spread),
        jnp.asarray(keep.astype(np.float64)),
        jnp.asarray(bound),
        jnp.asarray(rows),
        jnp.asarray(cols),
        jnp.asarray(library.factors),
        jnp.asarray(t, dtype=jnp.float64),
        jnp.asarray(scale == "log"),
    )
    coef, x0, ok = np.asarray(coef), np.asarray(x0), np.asarray(ok)
    # a problem that failed keeps its start, flagged, rather than NaN that would poison the whole fit
    finite = np.isfinite(coef).all(axis=(1, 2)) & np.isfinite(x0).all(axis=(1, 2))
    coef = np.where(finite[:, None, None], coef, coefficients)
    x0 = np.where(finite[:, None, None], x0, y00)
    return ShootingResult(coef, x0, ok & finite, np.asarray(cost), np.asarray(steps))
