"""`dynamics.fit`: trajectories in xarray -> derivatives -> a registered model's fit -> :class:`FittedODE`;
:func:`refit` repeats a fit on other data or another window (the out-of-sample forecast of
:func:`dynamics.compare`)."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Hashable, Sequence

import numpy as np
import xarray as xr

from dynamics import bootstrap as resampling
from dynamics import crossval, shooting
from dynamics import library as lib
from dynamics.catalog import (
    DEFAULT_DERIVATIVE,
    DEFAULT_MODEL,
    FIT_OPTIONS,
    OBJECTIVES,
    FitWarning,
    check_model_options,
)
from dynamics.derivatives import (
    choose_derivative,
    derivative_name,
    differentiate,
    measurement_noise,
    savgol_window,
)
from dynamics.estimators import DerivativeRegression, TrajectoryRefinement
from dynamics.fitted import FittedODE, build_dataset, evaluate_rhs, with_bootstrap, with_cv
from dynamics.fitters import MODELS
from dynamics.metrics import r2
from dynamics.problem import Problem, fewest_rows, group_rows, grouping
from dynamics.shooting import SCALES
from dynamics.trajectories import (
    as_inputs,
    as_trajectories,
    from_numpy,
    from_runs,
    infer_dims,
    select_variable,
    with_times,
)
from fittest.errors import InputError

_FIT = {option.name: option.default for option in FIT_OPTIONS}


def fit(
    data: xr.Dataset | xr.DataArray,
    model: str = DEFAULT_MODEL,
    *,
    variable: Hashable | None = None,
    time: str | None = None,
    component: str | None = None,
    t: np.ndarray | float | None = None,
    t_range: Sequence[float] | None = None,
    derivative=DEFAULT_DERIVATIVE,
    window: int | None = None,
    polyorder: int | None = None,
    pool: bool = False,
    objective: str = _FIT["objective"],
    scale: str = _FIT["scale"],
    bootstrap: int = _FIT["bootstrap"],
    seed: int = _FIT["seed"],
    block: int | None = _FIT["block"],
    resample: str = _FIT["resample"],
    u: xr.DataArray | str | None = _FIT["u"],
    support: xr.DataArray | dict | None = None,
    cv_score: str = _FIT["cv_score"],
    **model_options,
) -> FittedODE:
    """Fit an ODE ``dx/dt = f(x)`` to trajectories, one per sample in one vectorised call.

    Arguments:
        data: a Dataset (see ``variable``) or DataArray with a time and a component dimension; every other
            dimension is a sample dimension (``run`` in a run dataset). A list of runs on different time grids
            (another step or start), each with its own time coordinate (or numpy arrays with a list ``t``), as
            pysindy takes a list of ``t``: each run is differentiated on its own grid and counted from its own
            start, and the runs become samples on a ``run`` dimension (see
            :func:`dynamics.trajectories.from_runs`; the derivative objective, without inputs). A Dataset of
            several variables of the same dimensions (and no ``amplitude``), none chosen, holds one variable per
            component (``x``, ``y``, ``z``; an input named by ``u`` is left out). A numpy array ``(T,)``,
            ``(T, C)`` or ``(S, T, C)`` (samples, times, components), with its times as ``t``.
        model: a name in :data:`dynamics.MODELS`: ``"linear"`` (``A x + b`` by least squares; options
            ``stable=True`` for an A whose eigenvalues have negative real parts, ``rank=k`` to fit on the states'
            ``k`` leading modes as DMD's rank truncation, see :func:`dynamics.fitters.fit_linear`), ``"lasso"``
            (L1 on ``A``; option ``alpha=0.01``), ``"lotka_volterra"`` (option ``form="glv" | "quadratic"``),
            ``"sindy"`` (pysindy; options ``degree``, ``threshold``, ``feature_library``, ``optimizer``).
        variable: the Dataset variable; ``amplitude`` when present.
        time: the time dimension; its coordinate is the time (steps, seconds, years). None: inferred where
            unambiguous (``step``, ``time``, ``t``, ... or the only dimension with an increasing numeric
            coordinate; see :func:`dynamics.trajectories.infer_dims`).
        component: the dimension that indexes the state vector; None: inferred (``frequency``, ``component``,
            ..., or the one dimension left in 2-D data).
        t: the times of the time axis (an array, or one step as pysindy takes it), for data without a time
            coordinate (a numpy array), or a list of them for a list of runs; without any the time is unit
            steps, with a :class:`FitWarning`. Not
            recorded for :func:`refit`, whose data carry their coordinate.
        t_range: ``(start, stop)`` of the time window, inclusive; ``(0, 1000)`` is the paper's window.
        derivative: ``"auto"`` (the default: central differences, and for a sindy fit in the derivative form,
            ``"adaptive"`` where the data are noisy; the choice is recorded in ``fit_options`` and
            :attr:`~dynamics.FittedODE.derivative`), ``"central"`` (second order, unbiased to O(dt²) on
            continuous-time data), ``"forward"`` (the paper's ``x[t+1] - x[t]`` over the step: right for a
            discrete map, O(dt) biased on a continuous one), ``"savgol"`` (one window), ``"adaptive"``
            (Savitzky-Golay with a window chosen at every point, see
            :func:`dynamics.derivatives.adaptive_savgol`), a pysindy differentiation object, or a DataArray of
            known derivatives. Smoothing methods fit their smoothed states, as pysindy does.
        window, polyorder: the Savitzky-Golay window (odd) and order, for ``derivative="savgol"`` only
            (None: the window chosen from the data by generalised cross-validation, recorded in ``fit_options``,
            see :func:`dynamics.derivatives.savgol_window`; order 3).
        pool: fit one ODE to all samples together instead of one per sample.
        objective: ``"derivative"`` (default): regress the derivative estimate. ``"trajectory"``: start from
            that fit, then fit the coefficients on the terms it kept and each sample's initial state so that the
            solved ODE matches the data (diffrax inside optimistix's Levenberg-Marquardt, see
            :mod:`dynamics.shooting`); :attr:`~dynamics.FittedODE.x0` is then the fitted initial state and
            ``trajectory_converged`` flags each sample. A penalised model's support is kept, not its penalty.
        scale: the trajectory objective's misfit: ``"linear"`` (each component over its spread) or ``"log"``
            (of the logarithms: positive series with multiplicative noise).
        bootstrap: refit on this many resamples (see :mod:`dynamics.bootstrap`: the samples of a pooled fit,
            blocks of time of each sample otherwise); :meth:`~dynamics.FittedODE.confidence` gives intervals.
        seed: the bootstrap's random seed.
        block: the bootstrap's block length in time points; None: the cube root of the series length.
        resample: what a bootstrap replicate redraws (see :mod:`dynamics.bootstrap`): ``"rows"``, the rows of the
            derivative regression in blocks of time (right when noise drives the system, as in a map fitted by
            forward differences); ``"noise"``, the states' measurement noise, redrawn around their smoothed
            values and differentiated again (right for noisy measurements of a continuous system, whose
            resampled rows gave intervals several times too wide); ``"auto"`` (default): noise for central
            differences of whole samples, rows otherwise. A pooled fit of several samples redraws samples.
        u: control inputs, as pysindy's ``u``: a DataArray (or the name of a Dataset variable) with the data's
            time axis, the sample dims or none of them, and at most one dimension indexing the inputs (see
            :func:`dynamics.trajectories.as_inputs`). The terms are then monomials of ``[x, u]``:
            ``dx/dt = A x + B u + b`` for ``"linear"`` (:attr:`~dynamics.FittedODE.B`), pysindy's control
            library for ``"sindy"``. Either objective (the trajectory's solve interpolates ``u`` linearly
            between the grid's points), with the bootstrap (a replicate resamples the inputs with the states:
            the same rows, blocks or samples) and cross-validation (its folds split the inputs with the
            states);
            :meth:`~dynamics.FittedODE.simulate` then needs ``u`` on its time grid.
        support: which terms each target equation may use, for every model but a sindy fit on a library that is
            not of monomials: ``{target: [term, ...]}`` with the names the fit prints (``"x y"``, ``"1"``; a
            target by its component's name or coordinate value), or a boolean DataArray on ``(target, term)`` as
            :attr:`~dynamics.FittedODE.coefficients`. It replaces the model's own choice for the targets it
            names (``lotka_volterra``'s terms are every ``x_j`` and ``x_j x_k``: ``{"x": ["x", "x y"], "y":
            ["y", "x y"]}`` is the classic predator-prey model); others keep theirs. Recorded in ``fit_options``
            as a dict.
        cv_score: what cross-validation (``alpha="cv"``, ``threshold="cv"``) scores a held-out fold by:
            ``"derivative"`` (default), the right-hand side against the derivative estimate, with the
            one-standard-error rule; ``"trajectory"``, the solved ODE against the held-out states over short
            windows, with the best score (it keeps true terms the first prunes on noisy data; see
            :mod:`dynamics.crossval`). Polynomial libraries only.
        **model_options: passed to the model's fitting function. ``alpha="cv"`` (lasso) and ``threshold="cv"``
            (sindy) choose the value by cross-validation that keeps time order (see :mod:`dynamics.crossval`);
            :attr:`~dynamics.FittedODE.cv` holds the table and ``fit.options`` the value chosen (the bootstrap's
            refits use that value).

    Returns:
        The :class:`FittedODE`.

    Raises:
        InputError: an unknown model, option or objective, ``pool`` that is not a bool, too few time points for
            the model, bad bootstrap options, inputs ``u`` with another model than linear or sindy, bad
            inputs, or bad data (see
            :func:`dynamics.trajectories.as_trajectories`) or derivatives.
    """
    if not isinstance(model, str) or model not in MODELS:
        raise InputError(f"unknown model {model!r}: use one of {sorted(MODELS)}")
    if not isinstance(pool, bool | np.bool_):
        # bool("False") is True: a string here would silently pool
        raise InputError(f"pool must be True or False, got {pool!r}")
    if objective not in OBJECTIVES:
        raise InputError(f"unknown objective {objective!r}: use one of {OBJECTIVES}")
    if scale not in SCALES:
        raise InputError(f"unknown scale {scale!r}: use one of {SCALES}")
    if scale != "linear" and objective != "trajectory":
        raise InputError(f"scale={scale!r} is an option of the trajectory objective: add objective='trajectory'")
    bootstrap, seed, block, resample = resampling.check(bootstrap, seed, block, resample)
    # the declared bounds, before any work: rcond=nan fitted garbage, max_iter=0 an all-zero model
    cv_option = crossval.wants_cv(model, model_options)  # "cv" given to an option that takes none, named
    cv_score = crossval.check_score(cv_score, cv_option)
    model_options = check_model_options(model, model_options)
    pool = bool(pool)
    exclude = (u,) if isinstance(u, str) else ()
    if isinstance(data, list | tuple):
        if objective != "derivative" or u is not None:
            raise InputError(
                "a list of runs on different time grids is fitted by the derivative objective without inputs u: "
                "drop objective='trajectory' and u, or put the runs on one grid"
            )
        traj = from_runs(data, variable=variable, time=time, component=component, t=t, t_range=t_range)
    elif t is not None or not isinstance(data, xr.Dataset | xr.DataArray):
        source = (
            select_variable(data, variable, exclude=exclude)
            if isinstance(data, xr.Dataset | xr.DataArray)
            else from_numpy(data)
        )
        time, component = infer_dims(source, time, component)
        source = source if t is None else with_times(source, t, time)
        traj = as_trajectories(source, time=time, component=component, t_range=t_range)
    else:
        traj = as_trajectories(
            data, variable=variable, time=time, component=component, t_range=t_range, exclude=exclude
        )
    time, component = traj.time, traj.component
    _refuse_reserved(traj)
    if traj.unit_steps:
        # pysindy 2 requires t; a silent unit step makes every rate per step, and a threshold prune everything
        warnings.warn(
            f"the data have no {traj.time!r} coordinate, so time is taken as unit steps 0, 1, 2, ... and every "
            f"rate is per step: give the times with data.assign_coords({traj.time}=...) or t=...",
            FitWarning,
            stacklevel=2,
        )
    if isinstance(derivative, str) and derivative == "auto":
        # recorded as chosen, so that a refit differentiates alike
        derivative = _auto_derivative(traj, model, model_options)
    if isinstance(derivative, str) and derivative == "savgol" and window is None:
        # chosen once, on the points every sample observed, and recorded so that a refit smooths alike
        window = savgol_window(_observed_together(traj)[0], polyorder=polyorder)
    x, dxdt, index = differentiate(traj, derivative, window=window, polyorder=polyorder)
    groups = grouping(x.shape[0], pool=pool)  # from here on, pooling is this grouping of the samples
    _check_size(model, x, dxdt, model_options, n_inputs=0 if u is None else 1, groups=groups)
    names = lib.component_names(traj.components)
    scale_by = _scale(x, dxdt, model, groups)
    inputs, controls = _controls(u, data, traj, index, model, scale_by)
    support = _support(support, traj.components, names)
    if support is not None:
        controls = {**controls, "support": support}
    xs, ds = x / scale_by, dxdt / scale_by
    t_fit = traj.t[index]
    problem = Problem(xs, ds, t_fit, names, u=controls.get("u"), groups=groups)
    regression = DerivativeRegression(model, **model_options, **{k: v for k, v in controls.items() if k != "u"})
    cv_table, chosen = None, model_options
    if cv_option is not None:
        value, cv_table = crossval.choose(regression, cv_option, problem, score=cv_score)
        chosen = {**model_options, cv_option: value}
        regression = regression.with_options(**{cv_option: value})
    result = regression.fit(problem)
    if model in _PENALISED:
        _warn_if_pruned(model, result, x, ds, names, groups)
    observed = traj.values / scale_by  # (S, T, C)
    x0 = None
    if objective == "trajectory":
        x0 = TrajectoryRefinement(scale=scale).fit(result, observed, traj.t, groups=problem.groups, inputs=inputs)
        x0 = x0 * _per_sample(scale_by, observed.shape)
    # R² is the same on every component's own scale, where squares of 1e200 data do not overflow
    predicted = _predict(result, xs, groups, controls.get("u"))
    scores = r2(group_rows(ds, groups), group_rows(predicted, groups), axis=1)
    replicates = None
    if bootstrap:
        kind = resampling.kind(
            resample,
            derivative=derivative,
            objective=objective,
            by_samples=problem.pooled and traj.n_samples > 1,
            ragged=traj.ragged,
        )
        smooth = residuals = None
        if kind == resampling.NOISE:
            smooth, residuals = measurement_noise(observed)
        job = _Resampling(
            result=result,
            regression=regression,
            problem=problem,
            observed=observed,
            t=traj.t,
            inputs=inputs,
            objective=objective,
            scale=scale,
            kind=kind,
            block=block or resampling.default_block(t_fit.size if kind == resampling.ROWS else traj.t.size)
            if kind != resampling.NOISE
            else block or 1,
            derivative=derivative,
            window=window,
            polyorder=polyorder,
            traj=traj,
            smooth=smooth,
            residuals=residuals,
        )
        replicates, unconverged = _bootstrap(job, bootstrap, seed)
        if kind == resampling.NOISE:
            replicates = resampling.centred(replicates, result.coefficients)
    if scale_by is not _UNSCALED:
        result.coefficients = _unscale(result.coefficients, result.library.powers, scale_by)
        if replicates is not None:
            replicates = _unscale(replicates, result.library.powers, scale_by)
    if not np.all(np.isfinite(result.coefficients)):
        raise InputError(
            f"the {model} fit gave NaN or inf coefficients: the data's scale (largest |x| "
            f"{np.nanmax(np.abs(x)):.3g}) is beyond what the model can fit; rescale the data or use model='linear'"
        )
    fit_options = {
        "model": model,
        "variable": traj.variable,
        "time": time,
        "component": component,
        "t_range": traj.t_range,
        "derivative": derivative,
        **({"window": window} if window is not None else {}),
        **({"polyorder": polyorder} if polyorder is not None else {}),
        "pool": pool,
        **({"objective": objective} if objective != _FIT["objective"] else {}),
        **({"scale": scale} if scale != _FIT["scale"] else {}),
        **({"bootstrap": bootstrap, "seed": seed} if bootstrap else {}),
        **({"block": block} if bootstrap and block is not None else {}),
        **({"resample": resample} if bootstrap and resample != _FIT["resample"] else {}),
        **({"u": u} if u is not None else {}),
        **({"support": support} if support is not None else {}),
        **({"cv_score": cv_score} if cv_score != _FIT["cv_score"] else {}),
        **model_options,
    }
    dataset = build_dataset(
        result=result,
        traj=traj,
        r2=scores,
        model=model,
        derivative=derivative_name(derivative),
        pooled=problem.pooled,
        fit_options=fit_options,
        x0=x0,
        objective=objective,
        inputs=controls.get("inputs", ()),
    )
    if replicates is not None:
        dataset = with_bootstrap(
            dataset,
            replicates,
            traj,
            problem.pooled,
            resampled=job.kind,
            failed=int(np.isnan(replicates).any(axis=(-2, -1)).sum()),
            **({"unconverged": unconverged} if objective == "trajectory" else {}),
            seed=seed,
            block=job.block,
        )
    if cv_table is not None:
        dataset = with_cv(dataset, cv_option, chosen[cv_option], cv_table)
    return FittedODE(dataset, models=result.models, trajectories=traj, fit_options=fit_options, inputs=inputs)


# the dimensions of a fit's own Dataset (see dynamics.fitted.build_dataset): data dims of these names would collide
_RESERVED = ("target", "term", "source", "input", "bootstrap", "cv_candidate")


# the models whose penalty (lasso's alpha, SINDy's threshold) is in the data's units: it can prune every term
_PENALISED = ("lasso", "sindy")


def _warn_if_pruned(model, result, x, ds, names, groups) -> None:
    """Warn (one line, :class:`FitWarning`) when a penalty eliminated every term of an equation whose
    derivative varies, or when the components' magnitudes differ so much that one penalty treats them unequally.

    pysindy warns "Sparsity parameter is too big"; a fit that silently prints ``(x)' = 0.000`` for data scaled by
    1e-8 is worse.
    """
    # an equation that reads "(x)' = 0": a lasso's unpenalised constant alone is a sparse answer, not an empty one
    empty = ~(result.coefficients != 0).any(axis=-1)  # (S, C)
    moving = np.nanstd(group_rows(ds, groups), axis=1) > 0  # (G, C)
    dropped = empty & moving
    option = "alpha" if model == "lasso" else "threshold"
    if dropped.any():
        largest = float(np.nanmax(np.abs(ds[..., dropped.any(axis=0)])))
        targets = [str(names[i]) for i in np.flatnonzero(dropped.any(axis=0))]
        warnings.warn(
            f"the {model} fit eliminated every term of {', '.join(f'({t})' for t in targets[:5])}"
            f"{' ...' if len(targets) > 5 else ''} in {int(dropped.any(axis=1).sum())} of {dropped.shape[0]} "
            f"sample(s) (their |dx/dt| up to {largest:.3g}): the penalty outweighs what data of this "
            f"scale support; rescale the data (divide by its scale) or lower {option}=",
            FitWarning,
            stacklevel=3,
        )
        return
    peak = np.nanmax(np.abs(x), axis=(0, 1))
    peak = peak[peak > 0]
    if peak.size > 1 and peak.max() / peak.min() > 1e3:
        warnings.warn(
            f"the components' magnitudes span {peak.min():.3g} to {peak.max():.3g}, and the {model} {option} "
            "weighs every coefficient alike, so small components' terms are pruned first: divide each component "
            "by its scale before fitting",
            FitWarning,
            stacklevel=3,
        )


def _check_size(model, x, dxdt, model_options, *, n_inputs, groups) -> None:
    """Refuse a model with more terms per equation than derivative rows before its library is built (the
    library of 10^6 components is a 10^6 x 10^6 matrix of exponents).

    Raises:
        InputError: more terms than rows.
    """
    n = x.shape[2]
    widest = {
        "linear": n + n_inputs + 1,
        "lasso": n + 1,
        "lotka_volterra": n + 1 if model_options.get("form", "glv") == "glv" else n + n * (n + 1) // 2,
    }.get(model)
    if widest is None:
        return  # sindy counts its library's terms itself, before building it
    rows = np.isfinite(x).all(axis=-1) & np.isfinite(dxdt).all(axis=-1)
    n_rows = fewest_rows(rows, groups)
    if n_rows < widest:
        raise InputError(
            f"the model has {widest} terms per equation but only {n_rows} derivative points: widen t_range, "
            "use fewer components, or choose a smaller model"
        )


def _observed_together(traj) -> tuple[np.ndarray, np.ndarray]:
    """The states ``(S, T', C)`` at the time points every sample observed, and those times ``(T',)``: the first
    ``T'`` (the shortest sample's length); for runs on different grids, the run with the most points on its own."""
    if traj.mask is not None:
        longest = int(np.argmax(traj.mask.sum(axis=1)))
        return traj.values[longest : longest + 1, traj.mask[longest]], traj.t[traj.mask[longest]]
    length = traj.t.size if traj.lengths is None else int(traj.lengths.min())
    return traj.values[:, :length], traj.t[:length]


def _auto_derivative(traj, model: str, model_options: dict) -> str:
    """What ``derivative="auto"`` is for this fit: ``"central"`` or ``"adaptive"``.

    A sindy fit in the derivative form takes :func:`dynamics.derivatives.choose_derivative`'s choice, made once
    on the points every sample observed: central differences on clean data, smoothing on noisy data (Van der Pol
    at 5% noise: coefficient error 0.003 against 1.49 for central differences, pysindy's smoothed differences
    0.003). The other models keep central differences: the bootstrap's redrawn measurement noise is calibrated
    on them (95% intervals covering about 95%), as are the stable and cross-validated fits that build on them.
    The weak form keeps them too: it integrates the states, which smoothing would only blur.
    """
    if model != "sindy" or model_options.get("weak") is not None:
        return "central"
    library = model_options.get("feature_library")
    if library is not None:
        import pysindy as ps  # a pysindy library was given: pysindy is already loaded

        if isinstance(library, ps.WeakPDELibrary):
            return "central"
    return choose_derivative(*_observed_together(traj))


def _refuse_reserved(traj) -> None:
    """Refuse data whose dimensions collide with the fit's own.

    Raises:
        InputError: a time, component or sample dimension named like one of :data:`_RESERVED`.
    """
    for dim in (*traj.sample_dims, traj.time, traj.component):
        if dim in _RESERVED:
            raise InputError(
                f"the data's dimension {dim!r} has a name the fit uses for its own coefficients "
                f"({', '.join(_RESERVED)}): rename it, e.g. data.rename({{{dim!r}: '{dim}_'}})"
            )


def _controls(u, data, traj, index, model, scale_by):
    """The inputs ``u`` read on the trajectories' grid, ``(S, T, m)``, and the fitter's keywords for them
    (``u`` at the derivative rows and the ``inputs`` names); ``(None, {})`` without inputs.

    Raises:
        InputError: inputs with a model that does not take them, or data that would need scaling.
    """
    if u is None:
        return None, {}
    if model not in _WITH_INPUTS:
        raise InputError(f"control inputs u enter the models {_WITH_INPUTS} only, not {model!r}")
    if scale_by is not _UNSCALED:
        raise InputError(
            "with control inputs the data are fitted as given, and their magnitude is far from one: rescale "
            "the data (divide by their maximum)"
        )
    names, values = as_inputs(u, data, traj)
    return values, {"u": values[:, index], "inputs": names}


def _support(support, components, names) -> dict | None:
    """``support`` as ``{target name: [term names]}``, targets named as the fit names them.

    Raises:
        InputError: a support of another kind, a DataArray without ``target`` and ``term`` dims or not boolean.
    """
    if support is None:
        return None
    if isinstance(support, xr.DataArray):
        if set(support.dims) != {"target", "term"} or support.dtype != bool:
            raise InputError(
                f"a support DataArray is boolean on ('target', 'term'), got {support.dtype} on {support.dims}: "
                "build it as fit.coefficients != 0 or pass {target: [terms]}"
            )
        support = support.transpose("target", "term")
        terms = [str(term) for term in support["term"].values]
        support = {
            target: [term for term, keep in zip(terms, row, strict=True) if keep]
            for target, row in zip(support["target"].values, support.values, strict=True)
        }
    if not isinstance(support, dict):
        raise InputError(f"support must be {{target: [terms]}} or a boolean (target, term) DataArray, got {support!r}")
    by_value = {str(value): name for value, name in zip(components, names, strict=True)}
    out = {}
    for target, terms in support.items():
        key = str(target)
        key = key if key in names else by_value.get(key, key)
        out[key] = [str(terms)] if isinstance(terms, str) else [str(term) for term in terms]
    return out


def _per_sample(scale_by, shape) -> np.ndarray:
    """The scales as ``(S, C)``, or 1."""
    return np.broadcast_to(scale_by, (shape[0], 1, shape[2]))[:, 0, :]


@dataclasses.dataclass(frozen=True)
class _Resampling:
    """What every bootstrap replicate refits: the fit, its estimator and problem (scaled as fitted), and how to
    redraw them.

    ``inputs`` are the inputs on the whole grid ``(S, T, m)`` (the problem holds them at its rows); ``smooth``
    and ``residuals`` ``(S, T, C)`` split the observed states for :data:`dynamics.bootstrap.NOISE`, which
    differentiates each replicate by ``derivative``.
    """

    result: object
    regression: DerivativeRegression
    problem: Problem
    observed: np.ndarray
    t: np.ndarray
    inputs: np.ndarray | None
    objective: str
    scale: str
    kind: str
    block: int
    derivative: object = None
    window: int | None = None
    polyorder: int | None = None
    traj: object = None
    smooth: np.ndarray | None = None
    residuals: np.ndarray | None = None


def _bootstrap(job: _Resampling, bootstrap: int, seed: int) -> tuple[np.ndarray, int]:
    """The coefficients of ``bootstrap`` refits on resampled data, shape ``(B, S, C, P)`` (``S = 1`` pooled), and
    how many trajectory refits stopped before their tolerance.

    The derivative objective refits on resampled rows, samples or redrawn measurement noise (one vectorised call
    for every replicate of every sample); the trajectory objective refits from the fit's optimum with the
    resample's counts as time-point (or sample) weights, all replicates in one compiled call. Inputs go with
    their states, resampled as the rows or samples are.
    """
    rng = np.random.default_rng(seed)
    n_samples, n_rows, n_components = job.problem.x.shape
    n_terms = job.result.coefficients.shape[-1]
    n_inputs = 0 if job.problem.u is None else job.problem.u.shape[2]
    # replicates are refitted a chunk at a time, drawn from the one random stream in order, so the numbers do not
    # depend on the chunk size and memory holds one chunk of resampled data plus the (B, S, C, P) coefficients
    kept = 3 * n_samples * n_components * n_terms * 8  # the replicates, unscaled and labelled: about three copies
    if job.objective == "derivative":
        width = 2 * n_components + n_inputs + 3 * n_terms  # states, derivatives, inputs; design matrix and its SVD
        per_replicate = 8 * n_samples * max(n_rows, job.t.size) * width
    else:
        width = n_components + n_inputs + 2 + n_components * (n_terms + n_components)  # data, weights, sensitivities
        per_replicate = 8 * n_samples * job.t.size * width
    chunk = resampling.plan(bootstrap, per_replicate=per_replicate, kept=kept)
    out = np.empty((bootstrap, job.result.coefficients.shape[0], n_components, n_terms))
    unconverged = 0
    for first in range(0, bootstrap, chunk):
        size = min(chunk, bootstrap - first)
        out[first : first + size], missed = _bootstrap_chunk(job, size, rng)
        unconverged += missed
    return out, unconverged


def _bootstrap_chunk(job: _Resampling, size: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """``size`` replicates of :func:`_bootstrap`, drawn from ``rng``: their coefficients ``(size, S, C, P)`` and
    how many trajectory refits stopped before their tolerance."""
    problem = job.problem
    xs, ds, u = problem.x, problem.dxdt, problem.u
    n_samples, n, n_components = xs.shape
    if job.objective == "derivative":
        if job.kind == resampling.SAMPLES:
            draws = rng.integers(0, n_samples, size=(size, n_samples))
            fits = [job.regression.fit(problem.select(samples=d)) for d in draws]
            return np.stack([refit.coefficients for refit in fits]), 0  # (size, 1, C, P)
        if job.kind == resampling.NOISE:
            states = resampling.noise_states(rng, job.smooth, job.residuals, size, job.block)
            redrawn = job.traj.with_values(states.reshape((-1,) + states.shape[2:]), job.t)
            xb, db, _ = differentiate(redrawn, job.derivative, window=job.window, polyorder=job.polyorder)
            ub = None if u is None else np.broadcast_to(u, (size,) + u.shape).reshape((-1,) + u.shape[1:])
        else:
            rows = resampling.time_indices(rng, (size, n_samples), n, job.block)
            picked = np.arange(n_samples)[None, :, None]
            xb = xs[picked, rows].reshape(-1, n, n_components)
            db = ds[picked, rows].reshape(-1, n, n_components)
            ub = None if u is None else u[picked, rows].reshape(-1, n, u.shape[2])
        refit = job.regression.fit(problem.stacked(xb, db, ub))
        if refit.coefficients.shape[-1] != job.result.coefficients.shape[-1]:
            raise InputError("a bootstrap refit gave another library of terms: use a polynomial library")
        return refit.coefficients.reshape((size, n_samples) + refit.coefficients.shape[1:]), 0
    n_t = job.t.size
    by_samples = job.kind == resampling.SAMPLES

    def per_problem(values):
        """``(S, T, k)`` values as the problems see them: ``(B, S, T, k)`` by samples, else ``(B * S, 1, T, k)``."""
        if by_samples:
            return np.broadcast_to(values, (size,) + values.shape)
        spread = np.broadcast_to(values[None, :, None], (size, n_samples, 1) + values.shape[1:])
        return spread.reshape((-1, 1) + values.shape[1:])

    if by_samples:
        draws = rng.integers(0, n_samples, size=(size, n_samples))
        weights = np.repeat(resampling.counts(draws, n_samples)[..., None], n_t, axis=2)  # (B, S, T)
        start = np.repeat(job.result.coefficients, size, axis=0)
    else:
        rows = resampling.time_indices(rng, (size, n_samples), n_t, job.block)
        weights = resampling.counts(rows, n_t).reshape(-1, 1, n_t)  # (B * S, 1, T)
        start = np.tile(job.result.coefficients, (size, 1, 1))
    forcing = None if job.inputs is None else per_problem(job.inputs)
    shot = shooting.fit_trajectories(
        job.result.library, start, per_problem(job.observed), job.t, weights=weights, inputs=forcing, scale=job.scale
    )
    # a refit that stopped at the step limit is kept (measured on noisy maps: its cost is as low as the others'),
    # and counted; one that left the bounds has no finite coefficients and is left out as NaN
    finite = np.isfinite(shot.coefficients).all(axis=(1, 2))
    refits = np.where(finite[:, None, None], shot.coefficients, np.nan)
    return refits.reshape((size, -1) + shot.coefficients.shape[1:]), int((~shot.converged).sum())


def refit(
    fitted: FittedODE,
    data: xr.Dataset | xr.DataArray,
    *,
    t_range: Sequence[float] | None = None,
    u: xr.DataArray | str | None = None,
) -> FittedODE:
    """Fit ``fitted``'s model again, with all of its options but the bootstrap, to ``data`` over ``t_range``.

    Arguments:
        fitted: the fit to repeat; its :attr:`~dynamics.FittedODE.fit_options` say how.
        data: the trajectories, read with the fit's time and component dimensions (and its variable when a
            Dataset).
        t_range: ``(start, stop)`` of the new window, inclusive; the fit's own window when None.
        u: the control inputs of ``data``, for a fit with inputs; the fit's own ``u`` option when None.

    Returns:
        The new :class:`FittedODE`.

    Raises:
        InputError: the fit does not know all its options (loaded from a file that could not store an object
            option such as a pysindy library, see :attr:`~dynamics.FittedODE.replayable`), or :func:`fit`'s errors.
    """
    if not fitted.replayable:
        raise InputError(
            "this fit's options could not be recorded in its file (objects such as a pysindy library): "
            "fit again with dynamics.fit"
        )
    options = fitted.fit_options
    # a refit scores or forecasts one fit: repeating the bootstrap would cost B fits for nothing it reports
    for name in ("bootstrap", "seed", "block", "resample"):
        options.pop(name, None)
    if t_range is not None:
        options["t_range"] = t_range
    if u is not None:
        options["u"] = u
    if not isinstance(data, xr.Dataset):
        options.pop("variable", None)  # a DataArray is the data itself: the name would only be checked against its own
    return fit(data, **options)


_UNSCALED = np.float64(1.0)
# least squares on monomials is equivariant under scaling each component: these models are fitted on scaled data
_SCALE_FREE = ("linear", "lotka_volterra")
# the models whose terms may include control inputs u (pysindy's control input)
_WITH_INPUTS = ("linear", "sindy")
# beyond these magnitudes squares and products of the states over- or underflow float64
_TINY, _HUGE = 1e-100, 1e100


def _scale(x: np.ndarray, dxdt: np.ndarray, model: str, groups: np.ndarray):
    """Per-sample, per-component scales ``(S, 1, C)`` to fit on (one per group, broadcast), or :data:`_UNSCALED`.

    Least-squares models are fitted on ``x / s`` (their coefficients transformed back by :func:`_unscale`), so
    that data of any magnitude (1e200, 1e-300) fits as well as data of order one. Penalised models (lasso,
    SINDy's threshold) are not scale-free: data whose magnitude would over- or underflow is refused.

    Raises:
        InputError: a penalised model on data beyond 1e-100 .. 1e100.
    """
    peak = np.nanmax(np.abs(group_rows(x, groups)), axis=1, keepdims=True)  # (G, 1, C); NaN: padding
    if model in _SCALE_FREE:
        if np.all((peak >= 1e-3) & (peak <= 1e3) | (peak == 0)):
            return _UNSCALED  # order one already: fit the data as given, to the last bit
        return np.broadcast_to(np.where(peak > 0, peak, 1.0), (x.shape[0], 1, x.shape[2]))
    largest = max(float(peak.max()), float(np.nanmax(np.abs(dxdt))))
    nonzero = peak[peak > 0]
    if largest > _HUGE or (nonzero.size and float(nonzero.min()) < _TINY):
        raise InputError(
            f"model {model!r} penalises its coefficients, so it is not scale-free, and the data's magnitude "
            f"(|x| up to {largest:.3g}, down to {float(nonzero.min()) if nonzero.size else 0:.3g}) would over- "
            "or underflow: rescale the data (divide by its maximum), or use model='linear' or 'lotka_volterra', "
            "which scale internally"
        )
    return _UNSCALED


def _unscale(coefficients: np.ndarray, powers: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Coefficients ``(..., S, C, P)`` fitted on ``x / s`` back to ``x``:
    ``c[i, k] = c'[i, k] s_i / prod_j s_j^p[k, j]``."""
    s = scale[:, 0, :]  # (S, C)
    if coefficients.shape[-3] != s.shape[0]:
        s = s[:1]  # pooled: one scale for all samples
    log_term = np.log(s) @ powers.T  # (S, P)
    return coefficients * np.exp(np.log(s)[:, :, None] - log_term[:, None, :])


def _predict(result, x: np.ndarray, groups: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
    """The fitted right-hand side at the fitted states (and inputs), shape ``(S, N, C)``."""
    if u is not None:
        x = np.concatenate([x, u], axis=-1)
    flat = group_rows(x, groups)
    return evaluate_rhs(result.library, result.coefficients, result.models, flat).reshape(x.shape[:2] + (-1,))
