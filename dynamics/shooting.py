"""Fitting by trajectory (single shooting): the parameters and initial states whose solved ODE best matches the data.

The derivative fit regresses finite differences on the states; on sparse, noisy data (a few dozen yearly points)
those differences are poor and the fit is biased. Here the misfit is measured on the trajectories themselves:
for every problem (a sample, or all samples of a pooled fit, or one bootstrap replicate of either) the
coefficients ``c`` on the terms the derivative fit kept and the initial states ``x0`` minimise

    sum over samples g, times t, components i of  w[g, t] * ((x̂_gi(t; c, x0_g) - x_gi(t)) / s_gi)^2

with ``x̂`` solved by diffrax (Tsit5, float64) and the sum minimised by optimistix's Levenberg-Marquardt.
``s`` is each sample's component spread (its standard deviation over time), so that components of different
magnitudes weigh alike; with ``scale="log"`` the residual is ``log x̂ - log x`` instead (multiplicative noise on
positive series). ``w`` are time-point weights: 1 by default, bootstrap counts for a resample, 0 on the NaN
padding of a shorter sample.

Two choices make it fast. The Jacobian comes from the forward sensitivity equations, ``dS/dt = (df/dx) S +
df/dc``, solved beside the states in one diffrax solve whose steps are chosen on the states alone, rather than by
differentiating through the solver (which also differentiates its step-size control and interpolation, 1.7x
the work). And the problems run in a fixed number of vmapped *lanes*: a lane whose problem converges writes its
answer and takes the next problem from the queue, so that a batch costs the sum of its problems' steps instead
of its slowest problem's steps times the batch.

A problem whose iterations fail (the solver's step limit, a solution that blows up) is flagged by
``converged=False``; lanes do not interact, so the others are unaffected.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np

from dynamics import library as lib
from dynamics.solve import jax64, polynomial_terms, step_size_controller
from fittest.checks import integer
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
def _compiled(lanes: int, max_steps: int, ode_steps: int, ode_rtol: float, ode_atol: float, rtol: float, atol: float):
    """The jitted solve over all problems; compiled once per shape for each set of limits and tolerances."""
    jax, jnp, diffrax = jax64()
    import equinox as eqx
    import optimistix as optx

    def sensitivities(coef, keep, y0s, us, factors, ts, bound, rows, cols):
        """The solutions ``(G, T, C)`` of a problem's samples and their derivatives ``(G, T, C, R + C)`` with
        respect to the ``R`` free coefficients and the sample's initial state; ``us`` ``(G, T, m)`` are the
        samples' inputs on the grid (``m = 0``: none), the last factors of the terms."""
        n_free, n_states = rows.shape[0], coef.shape[0]
        # which state each free coefficient's term drives, as a 0/1 matrix (C, R)
        drives = (rows[None, :] == jnp.arange(n_states)[:, None]) * keep[rows, cols][None, :]

        def field(t, z, u):
            x, s = z
            # a state past the bound is frozen (and penalised by the residual) so that a blow-up of a trial step
            # ends the solve cheaply instead of at the step limit
            inside = jnp.all(jnp.abs(x) < bound)
            x = jnp.where(inside, x, 0.0)
            # inputs between the grid's points: linear interpolation, as when the fit is solved
            now = diffrax.LinearInterpolation(ts, u).evaluate(t) if u.shape[-1] else u[0]

            def terms(state):
                return polynomial_terms(jnp, factors, jnp.concatenate([state, now]))

            phi, dphi = terms(x), jax.jacfwd(terms)(x)
            dx = coef @ phi
            ds = (coef @ dphi) @ s + jnp.concatenate([drives * phi[cols][None, :], jnp.zeros((n_states, n_states))], 1)
            return jnp.where(inside, dx, 0.0), jnp.where(inside, ds, 0.0)

        def one(y0, u):
            s0 = jnp.concatenate([jnp.zeros((n_states, n_free)), jnp.eye(n_states)], axis=1)
            solution = diffrax.diffeqsolve(
                diffrax.ODETerm(field),
                diffrax.Tsit5(),
                t0=ts[0],
                t1=ts[-1],
                dt0=None,
                y0=(y0, s0),
                args=u,
                saveat=diffrax.SaveAt(ts=ts),
                # steps are chosen on the states alone, as when differentiating through the solver: the
                # sensitivities only steer Levenberg-Marquardt, the residuals set the optimum
                stepsize_controller=step_size_controller(
                    diffrax,
                    rtol=ode_rtol,
                    atol=ode_atol,
                    kinks=ts if u.shape[-1] else None,
                    norm=lambda error: jnp.sqrt(jnp.mean(error[0] ** 2)),
                ),
                max_steps=ode_steps,
                throw=False,
            )
            return solution.ys

        return jax.vmap(one)(y0s, us)

    def residuals_and_jacobian(params, args):
        theta, y0s = params
        observed, weights, spread, keep, bound, us, rows, cols, factors, ts, log = args
        coef = jnp.zeros(keep.shape, dtype=theta.dtype).at[rows, cols].set(theta) * keep
        xs, s = sensitivities(coef, keep, y0s, us, factors, ts, bound, rows, cols)
        # both misfits are cheap next to the solve; choosing at run time keeps one compiled function
        positive = (xs > 0) & (xs < bound)
        safe = jnp.where(positive, xs, 1.0)
        plain_ok = jnp.abs(xs) < bound
        misfit = jnp.where(
            log,
            jnp.where(positive, jnp.log(safe) - observed, _PENALTY),
            jnp.where(plain_ok, (xs - observed) / spread[:, None, :], _PENALTY),
        )
        slope = jnp.where(log, jnp.where(positive, 1.0 / safe, 0.0), jnp.where(plain_ok, 1.0 / spread[:, None, :], 0.0))
        # padded or unsampled time points weigh nothing, whatever the solution does there
        root = jnp.where(weights > 0, jnp.sqrt(weights), 0.0)[..., None]
        residual = jnp.where(root > 0, misfit * root, 0.0)
        # past a failed solve (its step limit) diffrax fills in inf, where the residual is the penalty
        s = jnp.where(jnp.isfinite(s), s, 0.0)
        return residual, s * (slope * root)[..., None]

    @jax.custom_jvp
    def residuals(params, args):
        return residuals_and_jacobian(params, args)[0]

    @residuals.defjvp
    def _residuals_jvp(primals, tangents):
        params, args = primals
        d_theta, d_y0s = tangents[0]
        residual, jacobian = residuals_and_jacobian(params, args)
        n_free = d_theta.shape[0]
        # zero tangents of args: the data are constants of the fit
        change = jnp.einsum("gtck,k->gtc", jacobian[..., :n_free], d_theta)
        change = change + jnp.einsum("gtck,gk->gtc", jacobian[..., n_free:], d_y0s)
        return residual, change

    solver = optx.LevenbergMarquardt(rtol=rtol, atol=atol)
    tags = frozenset()

    def fn(params, args):
        return residuals(params, args), None

    def lane_init(params, args):
        f_struct = jax.eval_shape(residuals, params, args)
        return solver.init(fn, params, args, {}, f_struct, None, tags)

    def lane_step(params, state, args):
        params, state, _ = solver.step(fn, params, args, {}, state, tags)
        done, result = solver.terminate(fn, params, args, {}, state, tags)
        return params, state, done, result == optx.RESULTS.successful

    def run(theta0, y00, observed, weights, spread, keep, bound, us, rows, cols, factors, ts, log):
        n = theta0.shape[0]
        per_problem = (observed, weights, spread, keep, bound, us)
        shared = (rows, cols, factors, ts, log)
        arg_axes = (0,) * len(per_problem) + (None,) * len(shared)

        def lane_args(index):
            return tuple(a[index] for a in per_problem) + shared

        def fresh(index):
            params = (theta0[index], y00[index])
            state = eqx.filter_vmap(lane_init, in_axes=(0, arg_axes))(params, lane_args(index))
            return params, state

        index = jnp.arange(lanes)
        params, state = fresh(index)
        dynamic, static = eqx.partition(state, eqx.is_array)
        outputs = (jnp.zeros_like(theta0), jnp.zeros_like(y00), jnp.zeros(n, bool), jnp.zeros(n), jnp.zeros(n, int))
        carry = (params, dynamic, index, jnp.ones(lanes, bool), jnp.zeros(lanes, int), jnp.asarray(lanes), outputs)

        def cond(carry):
            return jnp.any(carry[3])

        def body(carry):
            params, dynamic, index, active, steps, queued, outputs = carry
            state = eqx.combine(dynamic, static)
            step = eqx.filter_vmap(lane_step, in_axes=(0, eqx.if_array(0), arg_axes))
            params, state, done, ok = step(params, state, lane_args(index))
            dynamic = eqx.partition(state, eqx.is_array)[0]
            steps = steps + 1
            finite = jnp.isfinite(params[0]).all(axis=1) & jnp.isfinite(params[1]).all(axis=(1, 2))
            residual = state.f_info.residual
            cost = 0.5 * jnp.sum(residual**2, axis=(1, 2, 3))
            whole = jnp.all(jnp.abs(residual) < _PENALTY, axis=(1, 2, 3))
            # a problem is finished once: its lane writes its answer, then takes the next problem in the queue. An
            # accepted solution that left the bounds ends it too: the penalty is flat, so the steps that would
            # follow only creep (200 of them, at the cost of every other lane's steps)
            finished = active & (done | ~ok | ~finite | ~whole | (steps >= max_steps))
            converged = done & ok & finite & whole & jnp.isfinite(cost)
            slot = jnp.where(finished, index, n)  # n: out of range, dropped
            values = (params[0], params[1], converged, cost, steps)
            outputs = tuple(o.at[slot].set(v, mode="drop") for o, v in zip(outputs, values, strict=True))
            following = queued + jnp.cumsum(finished) - 1
            take = finished & (following < n)
            queued = queued + jnp.sum(finished)
            active = jnp.where(finished, take, active)
            index = jnp.where(take, following, index)
            new_params, new_state = fresh(index)
            new_dynamic = eqx.partition(new_state, eqx.is_array)[0]

            def pick(new, old):
                return jnp.where(take.reshape((-1,) + (1,) * (old.ndim - 1)), new, old)

            params = jax.tree.map(pick, new_params, params)
            dynamic = jax.tree.map(pick, new_dynamic, dynamic)
            steps = jnp.where(take, 0, steps)
            return params, dynamic, index, active, steps, queued, outputs

        return jax.lax.while_loop(cond, body, carry)[-1]

    return jnp, jax.jit(run)


def fit_trajectories(
    library: lib.Library,
    coefficients: np.ndarray,
    observed: np.ndarray,
    t: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    inputs: np.ndarray | None = None,
    scale: str = "linear",
    max_steps: int = 200,
    ode_steps: int = 16_384,
    ode_rtol: float = 1e-8,
    ode_atol: float = 1e-12,
    rtol: float = 1e-8,
    atol: float = 1e-8,
    lanes: int = 16,
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
        inputs: shape ``(N, G, T, m)``: the control inputs ``u`` on the grid, whose monomials with the states
            are the library's terms (linearly interpolated between the grid's points); None for none.
        scale: ``"linear"`` or ``"log"`` (the misfit of the logarithms; positive data only).
        max_steps: Levenberg-Marquardt steps at most.
        ode_steps: ODE solver steps at most per solve.
        ode_rtol, ode_atol: the ODE solver's tolerances (diffrax's PID step-size controller).
        rtol, atol: Levenberg-Marquardt's tolerances on the parameters' and the cost's changes.
        lanes: problems solved side by side (at most ``N``); a finished lane takes the next problem. Measured
            on 100 four-species problems, one thread: 8 lanes 5.3 s, 16 lanes 4.9 s, 32 lanes 5.0 s, all 100 at
            once 13.0 s.

    Returns:
        The :class:`ShootingResult`.

    Raises:
        InputError: terms that are not monomials, an unknown scale, non-positive data with ``scale="log"``, or
            ``lanes`` not a positive integer.
    """
    lanes = integer("lanes", lanes, 1)
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
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        # a sample that a bootstrap replicate did not draw weighs nothing anywhere: its spread is NaN, replaced
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = np.nanstd(values, axis=2)  # (N, G, C)
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    # the first observed state of each sample starts its x0 (a sample's first time point may be unsampled)
    first = np.argmax(seen, axis=2)  # (N, G)
    y00 = np.take_along_axis(observed, first[..., None, None], axis=2)[:, :, 0, :]
    keep = (coefficients != 0) & library.mask[None]
    rows, cols = np.nonzero(keep.any(axis=0))
    theta0 = coefficients[:, rows, cols]
    bound = 1e6 * np.maximum(1.0, np.nanmax(np.abs(values), axis=(1, 2, 3)))
    us = np.zeros(observed.shape[:3] + (0,)) if inputs is None else np.asarray(inputs, dtype=np.float64)
    n_lanes = min(n, lanes)
    jnp, run = _compiled(
        n_lanes, int(max_steps), int(ode_steps), float(ode_rtol), float(ode_atol), float(rtol), float(atol)
    )
    theta, x0, ok, cost, steps = run(
        jnp.asarray(theta0),
        jnp.asarray(y00),
        jnp.asarray(np.nan_to_num(target)),
        jnp.asarray(weights),
        jnp.asarray(spread),
        jnp.asarray(keep.astype(np.float64)),
        jnp.asarray(bound),
        jnp.asarray(us),
        jnp.asarray(rows),
        jnp.asarray(cols),
        jnp.asarray(library.factors),
        jnp.asarray(t, dtype=jnp.float64),
        jnp.asarray(scale == "log"),
    )
    coef = np.zeros(keep.shape)
    coef[:, rows, cols] = np.asarray(theta)
    coef = coef * keep
    x0, ok = np.asarray(x0), np.asarray(ok)
    # a problem that failed keeps its start, flagged, rather than NaN that would poison the whole fit
    finite = np.isfinite(coef).all(axis=(1, 2)) & np.isfinite(x0).all(axis=(1, 2))
    coef = np.where(finite[:, None, None], coef, coefficients)
    x0 = np.where(finite[:, None, None], x0, y00)
    return ShootingResult(coef, x0, ok & finite, np.asarray(cost), np.asarray(steps))


def misfit(
    library: lib.Library,
    coefficients: np.ndarray,
    x0: np.ndarray,
    observed: np.ndarray,
    t: np.ndarray,
    *,
    inputs: np.ndarray | None = None,
    scale: str = "linear",
) -> np.ndarray:
    """The trajectory objective's misfit of given coefficients and initial states, to compare two of them.

    Arguments:
        library: the terms (monomials).
        coefficients: shape ``(N, C, P)``.
        x0: shape ``(N, G, C)``: each sample's initial state.
        observed: shape ``(N, G, T, C)``; NaN points weigh nothing.
        t: shape ``(T,)``.
        inputs: shape ``(N, G, T, m)`` or None.
        scale: ``"linear"`` (residuals over each component's spread, as :func:`fit_trajectories` weighs them)
            or ``"log"``.

    Returns:
        Shape ``(N,)``: half the sum of squared residuals, as :attr:`ShootingResult.cost` (inf where the solution
        blew up).
    """
    from dynamics.solve import diffrax_solve

    n, g, n_t, c = observed.shape
    coef = np.repeat(coefficients, g, axis=0)
    forcing = None if inputs is None else np.asarray(inputs, dtype=np.float64).reshape(n * g, n_t, -1)
    bound = 1e6 * max(1.0, float(np.nanmax(np.abs(observed))))
    solved, diverged = diffrax_solve(coef, library.factors, x0.reshape(n * g, c), t, bound=bound, inputs=forcing)
    solved = solved.reshape(observed.shape)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if scale == "log":
            residual = np.log(solved) - np.log(observed)
        else:
            spread = np.nanstd(observed, axis=2, keepdims=True)
            residual = (solved - observed) / np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    seen = np.isfinite(observed)
    bad = (seen & ~np.isfinite(residual)).any(axis=(1, 2, 3)) | diverged.reshape(n, g).any(axis=1)
    cost = 0.5 * np.where(seen & np.isfinite(residual), residual, 0.0).__pow__(2).sum(axis=(1, 2, 3))
    return np.where(bad, np.inf, cost)
