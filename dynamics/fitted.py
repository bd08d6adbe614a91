"""`FittedODE`: a fitted right-hand side over its labelled Dataset, with its solutions and save/load.

The class is a thin view: everything a fit knows is one :class:`xarray.Dataset` (built and checked in
:mod:`dynamics.schema`), the affine reading ``A``, ``B``, ``b`` is :mod:`dynamics.affine`, the equations are
written by :mod:`dynamics.equations`, and solutions are chosen and run by :mod:`dynamics.solutions`.
"""

from __future__ import annotations

import json
import os

import numpy as np
import xarray as xr

from dynamics import affine, solutions
from dynamics import library as lib
from dynamics import solve as solvers
from dynamics.equations import equations as write_equations
from dynamics.equations import summary
from dynamics.schema import SCHEMA, build_dataset, check_loaded, with_bootstrap, with_cv
from dynamics.solve import evaluate_rhs
from dynamics.trajectories import Trajectories
from fittest.atomic import read_netcdf, write_netcdf
from fittest.errors import InputError

# what other modules import from here, wherever its body lives
__all__ = ["SCHEMA", "FittedODE", "build_dataset", "evaluate_rhs", "load", "with_bootstrap", "with_cv"]


class FittedODE:
    """A fitted ODE ``dx/dt = f(x)`` per sample, with ``f`` a linear combination of library terms.

    Built by :func:`dynamics.fit` or :func:`dynamics.load`, not by hand.

    Attributes:
        model: the registered model name (``"linear"``, ``"lasso"``, ...).
        coefficients: DataArray (samples..., ``target``, ``term``).
        r2_derivative: DataArray (samples..., ``target``): R² of ``f(x)`` against the derivative estimate.
        x0: DataArray (samples..., component): the default initial state of :meth:`simulate`: the first state of
            the fitted window, or the fitted initial state when the fit's objective was ``"trajectory"``.
        t: the fitted window's time grid, the default solution times.
    """

    def __init__(
        self,
        dataset: xr.Dataset,
        *,
        models: list | None = None,
        trajectories: Trajectories | None = None,
        fit_options: dict | None = None,
        inputs: np.ndarray | None = None,
    ):
        """Wrap a fit's Dataset.

        Arguments:
            dataset: what :func:`build_dataset` makes (or :func:`load` reads).
            models: per-sample pysindy models, for terms that are not monomials.
            trajectories: the fitted trajectories, when the fit was made in this session.
            fit_options: the arguments of :func:`dynamics.fit` that made it; from a file, the JSON-safe ones
                with ``"replayable": False`` when some could not be stored.
            inputs: the control inputs it was fitted with, ``(S, T, m)`` on the fitted grid, when made in
                this session.
        """
        self._ds = dataset
        self._models = models
        self._trajectories = trajectories
        stored = dict(fit_options or {})
        # a file that could not hold an object option (a pysindy library) says so; a fit in this session has them all
        self._replayable = bool(stored.pop("replayable", True)) and bool(stored)
        self._fit_options = stored
        names = [str(v) for v in dataset["term"].values]
        powers = dataset["powers"].values if "powers" in dataset else None
        n_inputs = dataset.sizes.get("input", 0) if "input_powers" in dataset else 0
        if n_inputs:
            powers = np.concatenate([powers, dataset["input_powers"].values], axis=1)
        self.library = lib.Library(tuple(names), powers, dataset["mask"].values.astype(bool), n_inputs)
        self._inputs = inputs

    # ----------------------------------------------------------------- labelled views
    @property
    def model(self) -> str:
        return self._ds.attrs["model"]

    @property
    def options(self) -> dict:
        return json.loads(self._ds.attrs["options"])

    @property
    def time(self) -> str:
        return self._ds.attrs["time"]

    @property
    def component(self) -> str:
        return self._ds.attrs["component"]

    @property
    def pooled(self) -> bool:
        return bool(self._ds.attrs["pooled"])

    @property
    def variable(self) -> str | None:
        """The fitted Dataset variable; None when the fit was given a DataArray without a name."""
        return self._ds.attrs.get("variable") or None

    @property
    def t_range(self) -> tuple[float, float] | None:
        """The ``t_range`` the fit was given; None for the whole time axis."""
        text = self._ds.attrs.get("t_range")
        value = json.loads(text) if text else None
        return tuple(value) if value else None

    @property
    def derivative(self) -> str:
        """The derivative method's label (``"forward"``, ``"given"`` for known derivatives, a class name, ...)."""
        return self._ds.attrs.get("derivative", "")

    @property
    def unit_steps(self) -> bool:
        """True when the data had no time coordinate, so the fit took unit steps ``0, 1, 2, ...`` as its time
        (its rates are per step); the attribute ``time_coordinate`` of :meth:`to_dataset` says the same in words."""
        return self._ds.attrs.get("time_coordinate", "").startswith("none")

    @property
    def trajectories(self) -> Trajectories | None:
        """The trajectories the fit was made on; None when it was loaded from a file."""
        return self._trajectories

    @property
    def fit_options(self) -> dict:
        """The arguments of :func:`dynamics.fit` that made this fit (``model``, ``variable``, ``time``,
        ``component``, ``t_range``, ``derivative``, ``pool`` and the model's options), a fresh copy.

        After :func:`load` it holds only what a file can store; see :attr:`replayable`.
        """
        return dict(self._fit_options)

    @property
    def replayable(self) -> bool:
        """True when :attr:`fit_options` holds every argument of the fit, so :func:`dynamics.refit` can
        repeat it; False for a loaded fit whose options held objects (a pysindy library) or were not stored."""
        return self._replayable

    @property
    def coefficients(self) -> xr.DataArray:
        return self._ds["coefficients"]

    @property
    def r2_derivative(self) -> xr.DataArray:
        return self._ds["r2_derivative"]

    @property
    def objective(self) -> str:
        """What the fit minimised: ``"derivative"`` (the regression on dx/dt) or ``"trajectory"`` (the solved ODE
        against the data, see :mod:`dynamics.shooting`)."""
        return self._ds.attrs.get("objective", "derivative")

    @property
    def converged(self) -> xr.DataArray:
        """True (samples...) where every iterative step of the fit converged: the trajectory objective's
        Levenberg-Marquardt (``trajectory_converged``) and a lasso's coordinate descent (``converged``)."""
        flags = [self._ds[name] for name in ("converged", "trajectory_converged") if name in self._ds]
        out = xr.DataArray(True)
        for flag in flags:
            out = out & flag.astype(bool)
        dims = self.sample_dims
        if not flags and dims:
            out = xr.DataArray(np.ones(self.x0.shape[:-1], dtype=bool), dims=dims, coords=self._sample_coords())
        return out.rename("converged")

    @property
    def bootstrap_coefficients(self) -> xr.DataArray | None:
        """The coefficients of each bootstrap refit (``bootstrap``, samples..., ``target``, ``term``); None when
        the fit was not bootstrapped (``dynamics.fit(..., bootstrap=B)``)."""
        return self._ds["bootstrap_coefficients"] if "bootstrap_coefficients" in self._ds else None

    @property
    def bootstrap_info(self) -> dict:
        """How the bootstrap resampled: ``replicates``, ``resampled`` (``"samples"`` or ``"blocks of time"``),
        ``seed``, ``block``, ``failed`` (refits without finite coefficients, a trajectory refit whose solution
        left the bounds: NaN in :attr:`bootstrap_coefficients` and left out of :meth:`confidence`) and, for the
        trajectory objective, ``unconverged`` (refits that reached the step limit before their tolerance, kept);
        empty when the fit was not bootstrapped."""
        if self.bootstrap_coefficients is None:
            return {}
        info = {k.removeprefix("bootstrap_"): v for k, v in self._ds.attrs.items() if k.startswith("bootstrap_")}
        return {"replicates": int(self._ds.sizes["bootstrap"]), **info}

    @property
    def ensemble_coefficients(self) -> xr.DataArray | None:
        """The coefficients of each member of an ensemble fit (``member``, samples..., ``target``, ``term``):
        pysindy's ``EnsembleOptimizer`` given as ``dynamics.fit(..., model="sindy", optimizer=...)``, whose
        aggregate (the median by default) is :attr:`coefficients`; None for other fits."""
        return self._ds["ensemble_coefficients"] if "ensemble_coefficients" in self._ds else None

    @property
    def inclusion_probability(self) -> xr.DataArray | None:
        """The fraction of an ensemble's members that keep each term (samples..., ``target``, ``term``): near 1
        for the terms the data need, low for those a few resamples let in; None for fits without an ensemble."""
        return self._ds["inclusion_probability"] if "inclusion_probability" in self._ds else None

    @property
    def cv(self) -> xr.Dataset | None:
        """The cross-validation that chose an option given as ``"cv"``: ``error`` and ``error_se`` (the held-out
        error, mean and standard error over folds) per ``candidate``, with the attributes ``option``, ``choice``
        and ``folds``; None when no option was cross-validated."""
        if "cv_error" not in self._ds:
            return None
        table = xr.Dataset({"error": self._ds["cv_error"], "error_se": self._ds["cv_error_se"]})
        table = table.rename(cv_candidate="candidate")
        table.attrs = {k.removeprefix("cv_"): v for k, v in self._ds.attrs.items() if k.startswith("cv_")}
        return table

    def confidence(self, level: float = 0.95) -> xr.Dataset:
        """Bootstrap percentile intervals of the coefficients.

        Arguments:
            level: the coverage, in (0, 1).

        Returns:
            A Dataset with ``low`` and ``high``, each shaped and labelled like :attr:`coefficients`, and the
            attributes ``level`` and those of :attr:`bootstrap_info`.

        Raises:
            InputError: the fit was not bootstrapped, or ``level`` is not in (0, 1).
        """
        from dynamics.bootstrap import percentile_interval

        replicates = self.bootstrap_coefficients
        if replicates is None:
            raise InputError("this fit has no bootstrap: fit with dynamics.fit(..., bootstrap=200) for intervals")
        low, high = percentile_interval(replicates.values, level, axis=0)
        coefficients = self.coefficients
        return xr.Dataset(
            {"low": coefficients.copy(data=low), "high": coefficients.copy(data=high)},
            attrs={"level": float(level), **self.bootstrap_info},
        )

    @property
    def x0(self) -> xr.DataArray:
        return self._ds["x0"]

    @property
    def t(self) -> np.ndarray:
        return np.asarray(self._ds["t"].values, dtype=np.float64)

    @property
    def sample_dims(self) -> tuple[str, ...]:
        """The dimensions that index separate ODEs (none when pooled or for one trajectory)."""
        return tuple(str(d) for d in self.coefficients.dims[:-2])

    def _sample_coords(self) -> dict:
        """The coefficients' coordinates that label samples only (``run``, ``seed``, ...)."""
        return affine.sample_coords(self.coefficients, ("target", "term"))

    @property
    def is_affine(self) -> bool:
        """True when every term is ``x_j`` or ``1``, so that ``A`` and ``b`` exist."""
        return self.library.is_affine

    @property
    def A(self) -> xr.DataArray:
        """DataArray (samples..., ``target``, ``source``): the matrix A of ``dx/dt = A x + b``.

        Raises:
            InputError: the model has terms of degree 2 or more (see :attr:`is_affine`).
        """
        return affine.state_matrix(self.coefficients, self.library, self._ds["source"].values, self.model)

    @property
    def inputs(self) -> tuple[str, ...]:
        """The control inputs' names (the fit's ``u``); empty when it had none."""
        return tuple(str(v) for v in self._ds["input"].values) if self.library.n_inputs else ()

    @property
    def B(self) -> xr.DataArray:
        """DataArray (samples..., ``target``, ``input``): the matrix B of ``dx/dt = A x + B u + b``.

        Raises:
            InputError: the fit had no control inputs, or the model has terms of degree 2 or more.
        """
        return affine.input_matrix(self.coefficients, self.library, self.inputs, self.model)

    @property
    def b(self) -> xr.DataArray:
        """DataArray (samples..., ``target``): the constant b of ``dx/dt = A x + b``; zero if the model has none.

        Raises:
            InputError: the model has terms of degree 2 or more (see :attr:`is_affine`).
        """
        return affine.constant(self.coefficients, self.library, self.model)

    @property
    def eigenvalues(self) -> xr.DataArray:
        """Eigenvalues of ``A`` (samples..., ``eigenvalue``), sorted by decreasing real part."""
        return affine.eigenvalues(self.A)

    @property
    def stable(self) -> xr.DataArray:
        """True where every eigenvalue of ``A`` has a negative real part (the fixed point attracts)."""
        return (self.eigenvalues.real.max("eigenvalue") < 0).rename("stable")

    @property
    def condition(self) -> xr.DataArray:
        """The condition number of ``A``; ``inf`` or huge means singular (the paper's eq. 4 then needs its eps)."""
        return affine.condition(self.A)

    @property
    def sparsity(self) -> xr.DataArray:
        """The fraction of exactly-zero coefficients among the non-constant terms each equation may use.

        For affine models this is the sparsity of ``A`` (the constant ``b`` is never penalised).
        """
        return affine.sparsity(self.coefficients, self.library)

    # ----------------------------------------------------------------- evaluation
    def _rhs_flat(self, x: np.ndarray) -> np.ndarray:
        """``f(x)`` for ``x`` of shape ``(n, ..., C)`` laid out as :meth:`_broadcast_param` expects."""
        if self.library.is_polynomial:
            return evaluate_rhs(self.library, self._broadcast_param(self.coefficients, x.shape[0]), None, x)
        if self._models is None:
            raise InputError("this fit's terms are not monomials and its pysindy models were not saved: refit it")
        # the same layout as _broadcast_param: each fit sample's model repeats over that sample's states
        repeat = x.shape[0] // len(self._models)
        return evaluate_rhs(self.library, None, [m for m in self._models for _ in range(repeat)], x)

    def _states(self, x, name: str = "x") -> xr.DataArray:
        """States as a DataArray with the component dimension last; numpy gets the fit's sample dims first."""
        if isinstance(x, xr.DataArray):
            if self.component not in x.dims:
                raise InputError(f"{name} has no {self.component!r} dimension (dims {x.dims}): name it so")
            if x.sizes[self.component] != self.coefficients.sizes["target"]:
                raise InputError(
                    f"{name} has {x.sizes[self.component]} components, the fit {self.coefficients.sizes['target']}"
                )
            return x.transpose(..., self.component).astype(np.float64)
        x = np.asarray(x, dtype=np.float64)
        dims = self.x0.dims[:-1]
        n_extra = x.ndim - 1 - len(dims)
        if n_extra < 0 or x.shape[: len(dims)] != self.x0.shape[:-1] or x.shape[-1] != self.x0.shape[-1]:
            raise InputError(
                f"{name} must have shape {self.x0.shape[:-1]} + (...,) + ({self.x0.shape[-1]},) (samples "
                f"{dims}, then any axes, then components), got {x.shape}"
            )
        extra = tuple(f"axis_{i}" for i in range(n_extra))
        coords = {k: v for k, v in self.x0.coords.items()}
        return xr.DataArray(x, dims=dims + extra + (self.component,), coords=coords)

    def _broadcast(self, x: xr.DataArray) -> xr.DataArray:
        """``x`` with the fit's sample dims present and first, the component dim last."""
        dims = [d for d in x.dims if d != self.component]
        for dim in self.sample_dims:
            if dim not in x.dims:
                x = x.expand_dims({dim: self.coefficients.sizes[dim]})
        if any(dim in x.dims and x.sizes[dim] != self.coefficients.sizes[dim] for dim in self.sample_dims):
            raise InputError(f"the states' sample sizes do not match the fit's {dict(self.coefficients.sizes)}")
        order = list(self.sample_dims) + [d for d in dims if d not in self.sample_dims]
        return x.transpose(*order, self.component)

    def rhs(self, x) -> xr.DataArray | np.ndarray:
        """The fitted right-hand side ``f(x)``.

        Arguments:
            x: a DataArray with the component dimension (it may also have the fit's sample dims, which are
                matched by name, and any other dims), or a numpy array of shape ``(*samples, ..., C)``.

        Returns:
            ``dx/dt``, the same kind and shape as ``x``.

        Raises:
            InputError: ``x`` lacks the component dimension, has another number of components, or its sample
                sizes do not match the fit's.
        """
        if self.library.n_inputs:
            raise InputError(
                f"this fit's right-hand side also takes the control inputs {list(self.inputs)}: rhs() evaluates "
                "fits without inputs; solve it with simulate(u=...)"
            )
        as_numpy = not isinstance(x, xr.DataArray)
        states = self._broadcast(self._states(x))
        values = states.values
        flat = values.reshape((-1,) + values.shape[len(self.sample_dims) :]) if self.sample_dims else values[None]
        out = self._rhs_flat(flat).reshape(values.shape)
        result = states.copy(data=out).rename("dxdt")
        if as_numpy:
            return result.values
        return result.transpose(*x.dims, ...)  # the caller's order; broadcast sample dims go last

    # ----------------------------------------------------------------- solutions
    def simulate(
        self,
        x0=None,
        t=None,
        *,
        method: str | solutions.Solver | None = None,
        form: str = "augmented",
        eps: float = 1e-8,
        solver: str = "tsit5",
        rtol: float = 1e-8,
        atol: float = 1e-10,
        max_steps: int = 100_000,
        bound: float | None = None,
        u=None,
    ) -> xr.DataArray:
        """Solve the fitted ODE.

        Arguments:
            x0: initial states at ``t[0]``: a DataArray with the component dim (and sample dims), or numpy
                ``(*samples, C)``; the fitted window's first states by default.
            t: the solution times, strictly increasing; the fitted window's grid by default.
            method: ``"analytic"`` (affine models without inputs: matrix exponential), ``"diffrax"`` (any
                polynomial model), or ``"euler"`` (the discrete rollout with the grid's steps, as the authors' code
                did), or a solver object carrying its options (:class:`dynamics.solutions.Analytic`,
                :class:`~dynamics.solutions.Diffrax`, :class:`~dynamics.solutions.Euler`); None (default): the most
                exact one the model supports (:attr:`solution`). A name takes its options from the arguments below.
            form: analytic only: ``"augmented"`` (no inverse of A) or ``"paper"`` (eq. 4 with ``A + eps I``).
            eps: the paper form's shift.
            solver, rtol, atol, max_steps: diffrax only; see :func:`dynamics.solve.diffrax_solve`.
            bound: every method: a state component beyond this magnitude marks its sample diverged;
                :func:`dynamics.solve.default_bound` (``1e6`` times the largest initial magnitude) when None.
            u: the control inputs on the solution's grid ``t`` (a fit with inputs needs them; the fitted ones
                by default, on the fitted grid): a DataArray with the time dimension, any of the sample dims
                and one dimension of the inputs (absent for one input), or numpy ``(T,)``, ``(T, m)`` or
                ``(*samples, T, m)``. diffrax interpolates u linearly between the grid's points, Euler holds
                ``u[k]`` over step ``k``; ``"analytic"`` is refused (its matrix exponential has no inputs).

        Returns:
            DataArray (samples..., time, component) with a ``diverged`` coordinate (samples...): True where the
            solution left the finite numbers or passed ``bound`` (or diffrax gave up), whatever the method; that
            sample is NaN from then on.

        Raises:
            InputError: an unknown method, ``"analytic"`` for a non-affine model or a fit with inputs,
                ``"diffrax"`` for terms that are not monomials, an unknown ``form`` or ``solver``, non-positive
                tolerances, bad ``x0``, ``t`` or ``u``, or no ``u`` for a fit with inputs.
        """
        chosen = solutions.as_solver(
            method if isinstance(method, solutions.Solver) else self._solution(method),
            form=form,
            eps=eps,
            solver=solver,
            rtol=rtol,
            atol=atol,
            max_steps=max_steps,
        )
        method = self._solution(chosen.name)
        states = self.x0 if x0 is None else self._states(x0, "x0")
        states = self._broadcast(states)
        sample_shape = states.shape[:-1]
        x0_flat = states.values.reshape(-1, states.shape[-1])
        n = x0_flat.shape[0]
        times = self.t if t is None else np.asarray(t, dtype=np.float64)
        if times.ndim != 1 or times.size < 1 or not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
            raise InputError("t must be a 1-D, finite, strictly increasing array of times (x0 is at t[0])")
        inputs = self._solution_inputs(u, states, times, t is None)
        if times.size == 1:
            values, diverged = x0_flat[:, None, :].copy(), np.zeros(n, dtype=bool)
        elif method == "analytic":  # solutions.choose took it for an affine fit without inputs only
            A = self._broadcast_param(self.A, n)
            b = self._broadcast_param(self.b, n)
            values, diverged = solvers.analytic(A, b, x0_flat, times, form=chosen.form, eps=chosen.eps, bound=bound)
        elif method == "euler":
            if self.library.is_polynomial:
                # laid out once, not on every one of the T - 1 steps
                coef, factors = self._broadcast_param(self.coefficients, n), self.library.factors
                values, diverged = solvers.euler(
                    lambda x: solvers.rhs_numpy(coef, factors, x), x0_flat, times, inputs, bound=bound
                )
            else:
                values, diverged = solvers.euler(self._rhs_flat, x0_flat, times, bound=bound)
        else:
            coef = self._broadcast_param(self.coefficients, n)
            values, diverged = solvers.diffrax_solve(
                coef,
                self.library.factors,
                x0_flat,
                times,
                solver=chosen.solver,
                rtol=chosen.rtol,
                atol=chosen.atol,
                max_steps=chosen.max_steps,
                bound=bound,
                inputs=inputs,
            )
        sample_dims = tuple(d for d in states.dims if d != self.component)
        coords = {k: v for k, v in states.coords.items() if k != self.component}
        coords[self.time] = times
        coords[self.component] = self.x0[self.component].values
        out = xr.DataArray(
            values.reshape(sample_shape + values.shape[1:]),
            dims=sample_dims + (self.time, self.component),
            coords=coords,
            name=self.variable or "x",
            attrs={"method": method, "model": self.model},
        )
        return out.assign_coords(diverged=(sample_dims, diverged.reshape(sample_shape)))

    @property
    def fitted_inputs(self) -> np.ndarray | None:
        """The control inputs the fit was made with, ``(S, T, m)`` on its grid; None without inputs, or for a fit
        loaded from a file."""
        return self._inputs

    @property
    def solution(self) -> str:
        """The solution method :meth:`simulate` and :func:`dynamics.compare` use by default: ``"analytic"`` for an
        affine fit without inputs, ``"diffrax"`` for other monomial terms, ``"euler"`` for a custom library."""
        return self._solution(None)

    def _solution(self, method: str | None) -> str:
        """``method`` checked against what this fit supports, or the default (see :mod:`dynamics.solutions`)."""
        return solutions.choose(
            method,
            model=self.model,
            affine=self.library.is_polynomial and self.is_affine,
            polynomial=self.library.is_polynomial,
            inputs=bool(self.library.n_inputs),
        )

    def _solution_inputs(self, u, states: xr.DataArray, times: np.ndarray, fitted_grid: bool) -> np.ndarray | None:
        """The control inputs laid out like the flattened states on the grid ``times``, ``(n, T, m)``; None for
        a fit without inputs.

        Raises:
            InputError: inputs for a fit without them, none for a fit with them, or the wrong shape.
        """
        m = self.library.n_inputs
        if not m:
            if u is not None:
                raise InputError("this fit has no control inputs: drop u (fit with dynamics.fit(..., u=...))")
            return None
        rest = states.isel({self.component: 0}, drop=True)
        n = int(np.prod(rest.shape))
        if u is None:
            if self._inputs is None or not fitted_grid or self._inputs.shape[0] != n:
                raise InputError(f"this fit has control inputs {list(self.inputs)}: pass u on the solution's grid")
            return self._inputs
        if isinstance(u, xr.DataArray):
            if self.time not in u.dims:
                raise InputError(f"u has no {self.time!r} dimension (dims {tuple(map(str, u.dims))})")
            extra = [d for d in u.dims if d != self.time and d not in rest.dims]
            if len(extra) > 1:
                raise InputError(f"u has the dimensions {extra} beyond the solution's: keep one, for the inputs")
            u = u.rename({extra[0]: "input"}) if extra else u.expand_dims("input", axis=-1)
            try:
                grid = u.isel({self.time: 0, "input": 0}, drop=True)
                u = u.broadcast_like(rest.drop_vars(list(rest.coords))) if grid.dims != rest.dims else u
                u = u.transpose(*rest.dims, self.time, "input")
            except ValueError as error:
                raise InputError(f"u does not fit the solution's samples {dict(rest.sizes)}: {error}") from None
            values = np.asarray(u.values, dtype=np.float64)
        else:
            values = np.asarray(u, dtype=np.float64)
            values = values[:, None] if values.ndim == 1 else values
        try:
            values = np.broadcast_to(values, rest.shape + (times.size, m)).reshape(n, times.size, m)
        except ValueError:
            raise InputError(
                f"u must have shape {rest.shape} + ({times.size}, {m}) (the solution's samples, its {times.size} "
                f"times, the fit's {m} input(s)), or a shape that broadcasts to it; got {values.shape}"
            ) from None
        if not np.all(np.isfinite(values)):
            raise InputError("u holds NaN or inf: the solution needs the inputs at every time of its grid")
        return values

    def _broadcast_param(self, param: xr.DataArray, n: int) -> np.ndarray:
        """A sample-indexed parameter laid out like the flattened states (fit samples first, then the rest)."""
        values = param.values
        core = values.shape[len(self.sample_dims) :]
        values = values.reshape((-1,) + core)
        # states are ordered (fit samples..., extra dims...): each fit sample repeats over the extra dims
        return np.repeat(values, n // values.shape[0], axis=0)

    # ----------------------------------------------------------------- persistence
    def to_dataset(self) -> xr.Dataset:
        """Everything the fit knows, as a Dataset (what :meth:`save` writes)."""
        return self._ds.copy()

    def save(self, path: str | os.PathLike) -> os.PathLike:
        """Write :meth:`to_dataset` to a netCDF file atomically; :func:`dynamics.load` reads it back.

        Raises:
            InputError: the fit's terms are not monomials (a custom pysindy library), the folder is missing, or
                ``path`` is a folder.
        """
        if not self.library.is_polynomial:
            raise InputError("a fit whose terms are not monomials cannot be saved: use a polynomial library")
        return write_netcdf(self.to_dataset(), path)

    def __repr__(self) -> str:
        sizes = dict(self.coefficients.sizes)
        return f"FittedODE(model={self.model!r}, sizes={sizes}, options={self.options})"

    # ----------------------------------------------------------------- reading the model
    def equations(self, precision: int = 3, *, samples: int | None = None) -> str:
        """The fitted equations, one line per target, per sample, as pysindy prints them.

        Arguments:
            precision: digits after the decimal point (pysindy's ``print(precision=...)``); a coefficient that
                would print as zero that way, or one of a million or more, is written with this many significant
                digits instead (``1.23e-05``), so that no kept term reads ``0.000``.
            samples: print the first this many samples (all when None).

        Returns:
            Lines ``(target)' = c term + c term ...``; terms with a zero coefficient are left out, the constant
            term is written as its coefficient alone. Each sample's block starts with its coordinates.

        Raises:
            InputError: ``precision`` or ``samples`` is not a non-negative integer.
        """
        return write_equations(self.coefficients, self.library.mask, precision, samples=samples)

    def __str__(self) -> str:
        return summary(self.coefficients, self.library.mask, model=self.model, derivative=self.derivative)

    def _repr_html_(self) -> str:
        import html

        return f"<pre>{html.escape(str(self))}</pre>"


def load(path: str | os.PathLike) -> FittedODE:
    """Read a fit written by :meth:`FittedODE.save`.

    Raises:
        InputError: the file is missing, not netCDF, or not a saved fit.
    """
    ds = read_netcdf(path, what="a netCDF file (give a fit saved by FittedODE.save or 'fittest fit --out')")
    if ds.attrs.get("schema") != SCHEMA:
        raise InputError(
            f"{os.fspath(path)!r} is not a saved fit (schema {ds.attrs.get('schema')!r}, expected {SCHEMA!r})"
        )
    fit_options = check_loaded(ds, f"{os.fspath(path)!r}")
    return FittedODE(ds, fit_options=fit_options)
