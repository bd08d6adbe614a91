"""Solving a fitted ODE: the analytic matrix exponential, diffrax, and the discrete Euler rollout.

All three take flat arrays: coefficients ``(S, C, P)``, initial states ``(S, C)``, a time grid ``(T,)``
with the initial state at ``t[0]``, and return trajectories ``(S, T, C)`` plus a ``diverged`` flag ``(S,)``.
A sample whose solution leaves the finite numbers, or a component of which passes the bound (by default
:func:`default_bound`, the same for every method), is diverged and NaN from that time on; the others are
unaffected.

JAX is imported and switched to float64 on first use of :func:`diffrax_solve`, not when ``dynamics`` is
imported: the flag must be set before any JAX array exists (arrays made before stay float32), and
importing ``dynamics`` should not cost a JAX start-up for users who never call diffrax.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.linalg

from dynamics import library as lib
from fittest.errors import InputError

SOLVERS = ("tsit5", "kvaerno5")


def default_bound(states: np.ndarray) -> float:
    """The magnitude past which a solution counts as diverged: ``1e6`` times the largest magnitude of
    ``states`` (the initial states, or the data a solution is compared with), at least ``1e6``.

    An unstable fit's exact solution grows without end but stays finite for a long time (a dense linear fit
    reached 1e42): the bound calls that a blow-up, as the numerical solvers do.
    """
    with np.errstate(invalid="ignore"):
        largest = float(np.nanmax(np.abs(states), initial=0.0))
    return 1e6 * max(1.0, largest if np.isfinite(largest) else 1.0)


def _mask_after_blowup(ys: np.ndarray, bound: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """NaN from each sample's first time that is non-finite or beyond ``bound``; the flag says which it hit."""
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(ys) <= bound).all(axis=-1)  # (S, T): NaN compares False, so it is bad too
    if not bad.any():
        return ys, np.zeros(ys.shape[0], dtype=bool)
    after = np.cumsum(bad, axis=1) > 0
    ys = np.where(after[..., None], np.nan, ys)
    return ys, after.any(axis=1)


def _step_groups(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct step sizes of a grid and, per step, which one it is (equal up to rounding)."""
    dt = np.diff(t)
    scale = np.max(np.abs(dt))
    keys = np.round(dt / scale, 12)
    unique, which = np.unique(keys, return_inverse=True)
    return unique * scale, which


def analytic(
    A: np.ndarray,
    b: np.ndarray,
    x0: np.ndarray,
    t: np.ndarray,
    *,
    form: str = "augmented",
    eps: float = 1e-8,
    bound: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The exact solution of ``dx/dt = A x + b`` on the grid ``t``.

    One matrix exponential per distinct step size (one on a uniform grid), then repeated products: the
    state at ``t[k+1]`` is the propagator of the step applied to the state at ``t[k]``.

    Arguments:
        A: shape ``(S, C, C)``.
        b: shape ``(S, C)``.
        x0: shape ``(S, C)``, the state at ``t[0]``.
        t: shape ``(T,)``, strictly increasing.
        form: ``"augmented"`` (default): ``[x; 1]`` evolves by ``exp(M t)`` with ``M = [[A, b], [0, 0]]``, which
            needs no inverse of ``A``; ``"paper"``: eq. 4 of the paper, ``x(t) = e^{A't} x0 + (e^{A't} - I)
            A'^{-1} b`` with ``A' = A + eps I``.
        eps: the paper form's shift.
        bound: a state component beyond this magnitude marks its sample diverged (NaN from then on);
            :func:`default_bound` of ``x0`` when None.

    Returns:
        ``(x, diverged)``: shapes ``(S, T, C)`` and ``(S,)``.

    Raises:
        InputError: an unknown form.
    """
    n_samples, n = b.shape
    steps, which = _step_groups(t)
    if form == "augmented":
        M = np.zeros((n_samples, n + 1, n + 1))
        M[:, :n, :n] = A
        M[:, :n, n] = b
        state = np.concatenate([x0, np.ones((n_samples, 1))], axis=1)
        shift = np.zeros_like(x0)
    elif form == "paper":
        M = A + eps * np.eye(n)
        shift = np.linalg.solve(M, b[..., None])[..., 0]  # A'^{-1} b: x + shift evolves by exp(A' t)
        state = x0 + shift
    else:
        raise InputError(f"unknown analytic form {form!r}: use 'augmented' or 'paper'")
    propagators = scipy.linalg.expm(steps[:, None, None, None] * M[None])  # (steps, S, n, n)
    with np.errstate(over="ignore", invalid="ignore"):
        if steps.size == 1:
            out = _uniform_products(propagators[0], state, t.size)
        else:
            out = np.empty((n_samples, t.size, state.shape[1]))
            out[:, 0] = state
            for k, index in enumerate(which):
                state = np.matmul(propagators[index], state[..., None])[..., 0]
                out[:, k + 1] = state
    xs = out[..., :n] - shift[:, None, :]
    return _mask_after_blowup(xs, default_bound(x0) if bound is None else bound)


def _uniform_products(E: np.ndarray, z0: np.ndarray, size: int) -> np.ndarray:
    """``E^k z0`` for ``k = 0 .. size - 1``, shapes ``(S, n, n)``, ``(S, n)`` -> ``(S, size, n)``.

    Blocked so that the work is a few large matrix products instead of ``size`` tiny ones: with block
    length ``B``, ``E^(jB + i) z0 = E^i (E^(jB) z0)``, so ``B`` powers of ``E`` and the block starts
    ``E^(jB) z0`` (about ``2 sqrt(size)`` sequential products) give every state in one batched product.
    """
    n_samples, n = z0.shape
    block = max(1, int(np.ceil(np.sqrt(size))))
    n_blocks = int(np.ceil(size / block))
    powers = np.empty((n_samples, block, n, n))
    powers[:, 0] = np.eye(n)
    for i in range(1, block):
        powers[:, i] = np.matmul(E, powers[:, i - 1])
    jump = np.matmul(E, powers[:, block - 1])  # E^block
    starts = np.empty((n_samples, n, n_blocks))
    starts[:, :, 0] = z0
    for j in range(1, n_blocks):
        starts[:, :, j] = np.matmul(jump, starts[:, :, j - 1 : j])[..., 0]
    states = np.matmul(powers.reshape(n_samples, block * n, n), starts)  # (S, block * n, n_blocks)
    states = states.reshape(n_samples, block, n, n_blocks).transpose(0, 3, 1, 2).reshape(n_samples, -1, n)
    return states[:, :size]


def rhs_numpy(coefficients: np.ndarray, factors: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``dx/dt`` for states ``x`` of shape ``(S, ..., C)`` and coefficients ``(S, C, P)``."""
    features = lib.evaluate(factors, x)  # (S, ..., P)
    flat = features.reshape(features.shape[0], -1, features.shape[-1])
    out = np.einsum("scp,snp->snc", coefficients, flat)
    return out.reshape(x.shape[:-1] + (coefficients.shape[1],))


def evaluate_rhs(
    library: lib.Library, coefficients: np.ndarray | None, models: list | None, x: np.ndarray
) -> np.ndarray:
    """The right-hand side ``f(x)`` of ``S`` fitted ODEs.

    Arguments:
        library: the terms.
        coefficients: shape ``(S, C, P)``; used when the terms are monomials.
        models: one fitted third-party model per sample (pysindy); used when they are not.
        x: states, shape ``(S, ..., C)``.

    Returns:
        ``dx/dt``, the shape of ``x``.
    """
    if library.is_polynomial:
        return rhs_numpy(coefficients, library.factors, x)
    out = np.full(x.shape, np.nan)
    for sample, (model, xs) in enumerate(zip(models, x, strict=True)):
        flat = xs.reshape(-1, xs.shape[-1])
        rows = np.isfinite(flat).all(axis=-1)  # a shorter sample's NaN padding: nothing to predict there
        values = out[sample].reshape(flat.shape)
        values[rows] = np.asarray(model.predict(flat[rows])).reshape(-1, flat.shape[-1])
        out[sample] = values.reshape(xs.shape)
    return out


def euler(
    rhs, x0: np.ndarray, t: np.ndarray, inputs: np.ndarray | None = None, *, bound: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The discrete rollout ``x[k+1] = x[k] + (t[k+1] - t[k]) f(x[k])`` that the authors' code used.

    Arguments:
        rhs: maps states ``(S, C)`` (with the inputs appended, ``(S, C + m)``) to derivatives ``(S, C)``.
        x0: shape ``(S, C)``.
        t: shape ``(T,)``.
        inputs: control inputs on the grid, ``(S, T, m)``: step ``k`` uses ``u[k]``.
        bound: a state component beyond this magnitude marks its sample diverged (NaN from then on);
            :func:`default_bound` of ``x0`` when None.

    Returns:
        ``(x, diverged)``: shapes ``(S, T, C)`` and ``(S,)``.
    """
    out = np.empty((x0.shape[0], t.size, x0.shape[1]))
    out[:, 0] = state = x0
    with np.errstate(over="ignore", invalid="ignore"):
        for k, dt in enumerate(np.diff(t)):
            state = state + dt * rhs(state if inputs is None else np.concatenate([state, inputs[:, k]], axis=-1))
            out[:, k + 1] = state
    return _mask_after_blowup(out, default_bound(x0) if bound is None else bound)


@functools.cache
def jax64():
    """``(jax, jax.numpy, diffrax)`` with JAX switched to float64; imported on first use (see the module docstring)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import diffrax
    import jax.numpy as jnp

    return jax, jnp, diffrax


def step_size_controller(diffrax, *, rtol: float, atol: float, kinks=None, norm=None):
    """diffrax's PID step-size controller; with ``kinks`` (the grid of linearly interpolated inputs) it also steps
    onto each kink, where the field's derivative jumps: stepping over them left errors far above ``rtol``."""
    controller = diffrax.PIDController(rtol=rtol, atol=atol, **({} if norm is None else {"norm": norm}))
    return controller if kinks is None else diffrax.ClipStepSizeController(controller, jump_ts=kinks)


def polynomial_terms(jnp, factors, y):
    """The ``P`` monomials of one state ``(C,)`` in JAX, from the library's factors ``(P, D)``."""
    padded = jnp.concatenate([y, jnp.ones((1,), dtype=y.dtype)])
    return jnp.prod(padded[factors], axis=-1)


def polynomial_field(jnp, coefficients, factors, y):
    """``dy/dt`` of one polynomial ODE in JAX: coefficients ``(C, P)``, factors ``(P, D)``, state ``(C,)``."""
    return coefficients @ polynomial_terms(jnp, factors, y)


@functools.cache
def _compiled():
    jax, jnp, diffrax = jax64()

    @functools.partial(jax.jit, static_argnames=("solver", "max_steps"))
    def solve(coefficients, factors, x0, ts, rtol, atol, bound, inputs, *, solver, max_steps):
        def field(t, y, args):
            coef, us = args
            if us.shape[-1]:
                # control inputs between the grid's points: linear interpolation
                y = jnp.concatenate([y, diffrax.LinearInterpolation(ts, us).evaluate(t)])
            return polynomial_field(jnp, coef, factors, y)

        def blown_up(t, y, args, **kwargs):
            return jnp.logical_not(jnp.all(jnp.abs(y) < bound))

        method = diffrax.Kvaerno5() if solver == "kvaerno5" else diffrax.Tsit5()

        def one(coef, y0, us):
            solution = diffrax.diffeqsolve(
                diffrax.ODETerm(field),
                method,
                t0=ts[0],
                t1=ts[-1],
                dt0=None,
                y0=y0,
                args=(coef, us),
                saveat=diffrax.SaveAt(ts=ts),
                stepsize_controller=step_size_controller(
                    diffrax, rtol=rtol, atol=atol, kinks=ts if us.shape[-1] else None
                ),
                event=diffrax.Event(blown_up),
                max_steps=max_steps,
                throw=False,
            )
            return solution.ys, solution.result == diffrax.RESULTS.successful

        return jax.vmap(one)(coefficients, x0, inputs)

    return jax, jnp, solve


def diffrax_solve(
    coefficients: np.ndarray,
    factors: np.ndarray,
    x0: np.ndarray,
    t: np.ndarray,
    *,
    solver: str = "tsit5",
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 100_000,
    bound: float | None = None,
    inputs: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate a polynomial ODE with diffrax in float64, vmapped over samples, compiled once per shape.

    Arguments:
        coefficients: shape ``(S, C, P)``.
        factors: shape ``(P, D)``, from :attr:`dynamics.library.Library.factors`.
        x0: shape ``(S, C)``, the state at ``t[0]``.
        t: shape ``(T,)``, the save times.
        solver: ``"tsit5"`` (explicit, default) or ``"kvaerno5"`` (implicit, for stiff systems).
        rtol, atol: tolerances of the PID step-size controller.
        max_steps: the most steps per sample; a sample that needs more counts as diverged.
        bound: a state component beyond this magnitude ends that sample's solve as a blow-up; by default
            :func:`default_bound` of ``x0``.
        inputs: control inputs on the grid ``t``, shape ``(S, T, m)``, linearly interpolated between its points;
            the terms are then monomials of ``[x, u]``.

    Returns:
        ``(x, diverged)``: shapes ``(S, T, C)`` and ``(S,)``.

    Raises:
        InputError: an unknown solver or bad tolerances.
    """
    if solver not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}: use one of {SOLVERS}")
    if not (rtol > 0 and atol > 0):
        raise InputError(f"rtol and atol must be positive, got rtol={rtol}, atol={atol}")
    if bound is None:
        bound = default_bound(x0)
    jax, jnp, solve = _compiled()
    ys, ok = solve(
        jnp.asarray(coefficients, dtype=jnp.float64),
        jnp.asarray(factors),
        jnp.asarray(x0, dtype=jnp.float64),
        jnp.asarray(t, dtype=jnp.float64),
        jnp.float64(rtol),
        jnp.float64(atol),
        jnp.float64(bound),
        jnp.asarray(np.zeros(x0.shape[:1] + t.shape + (0,)) if inputs is None else inputs, dtype=jnp.float64),
        solver=solver,
        max_steps=int(max_steps),
    )
    ys, blown = _mask_after_blowup(np.asarray(ys), bound)
    return ys, blown | ~np.asarray(ok)
