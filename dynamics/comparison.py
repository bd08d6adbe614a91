"""Observed trajectories against a fitted ODE's solutions: R² on trajectories and derivatives, RMSE, forecasts.

In-sample R² on derivatives flatters models with many terms (the paper notes that its Lotka-Volterra fit
reaches R² near 1 and still goes unstable when solved). Two scores guard against that here: R² of the
*solved trajectory* against the data, and an out-of-sample forecast: refit on the first part of the window,
solve over the whole window, and score only the held-out end.

The result's solutions lie along a ``solution`` dimension (``"observed"`` first, then each solution method), so
``result.sel(solution="analytic")`` picks one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import xarray as xr

from dynamics import metrics, solutions
from dynamics.catalog import DERIVATIVES
from dynamics.derivatives import differentiate
from dynamics.fitted import FittedODE, evaluate_rhs
from dynamics.fitting import refit
from dynamics.solve import default_bound
from dynamics.trajectories import Trajectories, as_inputs, as_trajectories
from fittest.errors import InputError

OBSERVED = "observed"
SOLUTION = "solution"  # the result's dimension of solutions: not "method", which Dataset.sel takes as its own option


def _scores(observed: xr.DataArray, solved: xr.DataArray, time: str, component: str) -> dict[str, xr.DataArray]:
    """R² and RMSE along ``time`` per component, and R² of each sample with its components pooled."""

    def score(function, core, **axes):
        return xr.apply_ufunc(function, observed, solved, input_core_dims=[core, core], kwargs=axes)

    return {
        "r2": score(metrics.r2, [time], axis=-1),
        "rmse": score(metrics.rmse, [time], axis=-1),
        # each component centred on its own mean, as in the per-component R²
        "r2_sample": score(metrics.r2, [time, component], axis=(-2, -1), mean_axis=-2),
    }


def _stack(per_method: dict[str, xr.DataArray], methods: Sequence[str]) -> xr.DataArray:
    """One variable on the ``solution`` dimension, one entry per solution method."""
    return xr.concat([per_method[m] for m in methods], dim=xr.DataArray(list(methods), dims=SOLUTION, name=SOLUTION))


def compare(
    fitted: FittedODE,
    data: xr.Dataset | xr.DataArray | None = None,
    *,
    methods: str | solutions.Solver | Sequence[str | solutions.Solver] | None = None,
    holdout: float = 0.25,
    u: xr.DataArray | str | None = None,
    **options,
) -> xr.Dataset:
    """Solve ``fitted`` from each sample's first observed state and score the solutions against the data.

    Arguments:
        fitted: a :class:`~dynamics.FittedODE`.
        data: the trajectories (Dataset or DataArray, read with the fit's variable, dims and window); the
            fitted data when omitted and the fit was made in this session.
        methods: solution methods, each a name (``"analytic"``, ``"diffrax"``, ``"euler"``, which takes its
            options from ``**options``) or a solver object carrying its own (:class:`dynamics.Diffrax`
            ``(rtol=1e-6)``, ...); by default the most exact one the fit supports
            (:attr:`~dynamics.FittedODE.solution`). Each is labelled on the ``solution`` dimension by
            :func:`dynamics.solutions.label`: its name, with the options an object sets away from their defaults.
        holdout: the fraction of the window's time points held out at its end for the forecast score; 0 skips it.
        u: a fit with control inputs: the inputs on the data's time grid, as :func:`dynamics.fit` takes them (a
            DataArray or a variable of the Dataset ``data``); the fit's own ``u`` when omitted. The solutions and
            the forecast are driven by them over the whole window, the held-out end included, and the forecast's
            refit sees them over its part of the window only.
        **options: passed to :meth:`FittedODE.simulate` (``form``, ``solver``, ``rtol``, ...).

    Returns:
        A Dataset with ``observed`` (samples..., time, component), the data, and ``trajectory`` (``solution``,
        samples..., time, component), one solution per method; per method ``r2_trajectory`` and ``rmse``
        (samples..., component), ``r2_trajectory_sample`` (samples..., all components together), ``diverged``
        (samples...), the out-of-sample ``r2_forecast``, ``rmse_forecast``, ``nrmse_forecast`` (RMSE over the
        component's range in the window), ``r2_forecast_sample``, ``forecast`` (like ``trajectory``: the
        solution of the fit refitted on the first part of the window, over the whole window) and
        ``diverged_forecast`` (samples...: that solution blew up); and
        ``r2_derivative`` (samples..., component) of the fitted right-hand side on these data. The time
        coordinate keeps the data's integer type. The attribute ``forecast_note`` says why a forecast is NaN.
        Select a method with ``result.sel(solution="analytic")``.

    Raises:
        InputError: no data and none remembered, data without the fit's sample dimensions or with another
            number of components, an unknown method, two methods with the same label, a holdout outside
            [0, 1), or a fit with control inputs
            whose inputs are neither given nor known.
    """
    methods = _methods(fitted, methods)
    if not 0 <= holdout < 1:
        raise InputError(f"holdout must be a fraction in [0, 1), got {holdout!r}")
    if data is None:
        if fitted.trajectories is None:
            raise InputError("this fit was loaded from a file: pass the data it was fitted to")
        traj = fitted.trajectories
    else:
        traj = as_trajectories(
            data,
            variable=fitted.variable if isinstance(data, xr.Dataset) else None,
            time=fitted.time,
            component=fitted.component,
            t_range=fitted.t_range,
            exclude=[fitted.fit_options["u"]] if isinstance(fitted.fit_options.get("u"), str) else (),
        )
    missing = [dim for dim in fitted.sample_dims if dim not in traj.sample_dims]
    if missing:
        raise InputError(
            f"the fit has one ODE per {', '.join(fitted.sample_dims)} but the data lack {', '.join(missing)} "
            f"(dims {tuple(map(str, traj.to_dataarray().dims))}): pass the data the fit was made on"
        )
    n_fit = fitted.coefficients.sizes["target"]
    if traj.components.size != n_fit:
        raise InputError(
            f"the data have {traj.components.size} {fitted.component} components but the fit was made on {n_fit}: "
            "pass the data the fit was made on"
        )
    time, component = traj.time, traj.component
    forcing = _inputs(fitted, data, traj, u)  # (samples..., time, input) or None
    if forcing is not None:
        options = {**options, "u": forcing}
    observed = traj.to_dataarray()
    observed.name = None
    x0 = traj.wrap(traj.x0, (component,))
    # diverged means far beyond anything observed: data that themselves grow by orders of magnitude are no blow-up
    options.setdefault("bound", default_bound(observed.values))

    solved, diverged, scores = {}, {}, {}
    for method, solver in methods.items():
        solution = fitted.simulate(x0, traj.t, method=solver, **options)
        diverged[method] = solution["diverged"].drop_vars([time, component], errors="ignore")
        solution = solution.drop_vars("diverged").transpose(*observed.dims)
        solution.name = None
        solved[method] = solution.assign_coords(observed.coords)
        scores[method] = _scores(observed, solved[method], time, component)

    ds = xr.Dataset(
        {
            # the data beside the solutions, not an entry of the solution dimension: every score would carry
            # an all-NaN "observed" entry otherwise
            OBSERVED: observed,
            "trajectory": _stack(solved, methods),
            "r2_trajectory": _stack({m: s["r2"] for m, s in scores.items()}, methods),
            "rmse": _stack({m: s["rmse"] for m, s in scores.items()}, methods),
            "r2_trajectory_sample": _stack({m: s["r2_sample"] for m, s in scores.items()}, methods),
            "diverged": _stack(diverged, methods),
            "r2_derivative": _derivative_r2(fitted, traj, forcing),
        }
    )
    ds.attrs = {"model": fitted.model, "holdout": float(holdout)}
    if holdout > 0:
        forecast = _forecast(fitted, traj, x0, methods, holdout, options, observed)
        attrs = {**ds.attrs, **forecast.attrs}
        for name, variable in forecast.data_vars.items():
            ds[name] = variable
        ds.attrs = attrs
    return _time_as_given(ds, data, time)


def _methods(fitted: FittedODE, methods) -> dict[str, str | solutions.Solver]:
    """Each asked method by its label on the ``solution`` dimension; the fit's default when None.

    Raises:
        InputError: an unknown method, or two with the same label.
    """
    if methods is None:
        methods = [fitted.solution]  # the most exact method the fit supports
    elif isinstance(methods, str | solutions.Solver):
        methods = [methods]
    labels = {solutions.label(method): method for method in methods}
    if len(labels) != len(methods):
        raise InputError(f"the methods {[solutions.label(m) for m in methods]} repeat one: give each once")
    return labels


def _inputs(fitted: FittedODE, data, traj: Trajectories, u) -> xr.DataArray | None:
    """A fit's control inputs on the trajectories' samples and grid, ``(samples..., time, input)``; None for a
    fit without inputs.

    Raises:
        InputError: inputs for a fit without them, or none to be had for a fit with them.
    """
    if not fitted.inputs:
        if u is not None:
            raise InputError("this fit has no control inputs: drop u")
        return None
    given = fitted.fit_options.get("u") if u is None else u
    if given is None or (isinstance(given, str) and not isinstance(data, xr.Dataset)):
        if u is None and data is None and fitted.trajectories is not None and fitted.fitted_inputs is not None:
            values = fitted.fitted_inputs
        else:
            raise InputError(
                f"this fit has control inputs {list(fitted.inputs)}: pass them as u= (a DataArray on the data's "
                "time grid), or the Dataset that holds them as data"
            )
    else:
        names, values = as_inputs(given, data, traj)
        if len(names) != len(fitted.inputs):
            raise InputError(f"u has {len(names)} input(s), the fit {len(fitted.inputs)} ({list(fitted.inputs)})")
    return traj.wrap(values, (traj.time, "input"), {"input": list(fitted.inputs)})


def _time_as_given(ds: xr.Dataset, data, time: str) -> xr.Dataset:
    """The time coordinate in the data's own integer type (steps stay int64), when the data has one."""
    given = data[time] if data is not None and time in getattr(data, "coords", {}) else None
    if given is None or not np.issubdtype(given.dtype, np.integer) or time not in ds.coords:
        return ds
    values = ds[time].values
    if not np.array_equal(values, np.round(values)):
        return ds
    return ds.assign_coords({time: values.astype(given.dtype)})


def _derivative_r2(fitted: FittedODE, traj: Trajectories, forcing: xr.DataArray | None = None) -> xr.DataArray:
    """R² of ``f(x)`` (``f(x, u)`` with inputs) against the fit's derivative estimate on these trajectories."""
    method = fitted.fit_options.get("derivative", fitted.derivative)
    if isinstance(method, xr.DataArray) or (isinstance(method, str) and method not in DERIVATIVES):
        method = "central"  # known derivatives belong to the fitted data only
    savgol = {k: fitted.fit_options.get(k) for k in ("window", "polyorder")} if method == "savgol" else {}
    x, dxdt, index = differentiate(traj, method, **savgol)
    dims, coords = (traj.time, traj.component), {traj.time: traj.t[index]}
    observed = traj.wrap(dxdt, dims, coords)
    if forcing is None:
        predicted = fitted.rhs(traj.wrap(x, dims, coords))
    else:
        # the terms are monomials of [x, u]: evaluated with each sample's (or the pooled) coefficients
        u = forcing.values.reshape(traj.n_samples, traj.t.size, -1)[:, index]
        coefficients = fitted.coefficients.values.reshape((-1,) + fitted.coefficients.shape[-2:])
        coefficients = np.broadcast_to(coefficients, (traj.n_samples,) + coefficients.shape[1:])
        values = evaluate_rhs(fitted.library, coefficients, None, np.concatenate([x, u], axis=-1))
        predicted = traj.wrap(values[..., : x.shape[-1]], dims, coords)
    predicted = predicted.transpose(*observed.dims).assign_coords(observed.coords)
    axis = observed.dims.index(traj.time)
    values = metrics.r2(observed.values, predicted.values, axis=axis)
    return xr.DataArray(
        values,
        dims=tuple(d for d in observed.dims if d != traj.time),
        coords={k: v for k, v in observed.coords.items() if traj.time not in v.dims},
    )


def _forecast(fitted, traj, x0, methods, holdout, options, observed) -> xr.Dataset:
    """Refit on the first ``1 - holdout`` of the window and score the solution on the rest."""
    time = traj.time
    spread = observed.max(time) - observed.min(time)
    spread = spread.where(spread > 0)
    n_train = max(2, math.ceil((1 - holdout) * traj.t.size))
    note = ""
    if n_train >= traj.t.size:
        note = "the holdout holds no time point"
    elif not fitted.replayable:
        note = "the fit's options could not be recorded in the file (objects such as a pysindy library)"
    scores, forecasts, blown = {}, {}, {}
    if not note:
        forcing = options.get("u")
        try:
            # with inputs, the refit sees them over its window only; its solution below is driven over the whole
            early = refit(
                fitted,
                traj.to_dataarray(),
                t_range=(traj.t[0], traj.t[n_train - 1]),
                **({} if forcing is None else {"u": forcing}),
            )
        except InputError as error:
            note = f"refit on the first {n_train} points failed: {error}"
        else:
            later = {time: slice(n_train, None)}
            for method, solver in methods.items():
                solution = early.simulate(x0, traj.t, method=solver, **options)
                flag = solution["diverged"]
                blown[method] = flag.drop_vars([c for c in flag.coords if c not in flag.dims])
                solution = solution.drop_vars("diverged").transpose(*observed.dims).assign_coords(observed.coords)
                forecasts[method] = solution
                scores[method] = _scores(observed.isel(later), solution.isel(later), time, traj.component)
    if not scores:
        empty = _scores(observed, observed, time, traj.component)
        scores = {m: {k: xr.full_like(v, np.nan) for k, v in empty.items()} for m in methods}
        forecasts = {m: xr.full_like(observed, np.nan, dtype=np.float64) for m in methods}
        # no forecast was made, so none blew up: the note says why the scores are NaN
        blown = {m: xr.zeros_like(observed.isel({time: 0, traj.component: 0}, drop=True), dtype=bool) for m in methods}
    ds = xr.Dataset(
        {
            # the early refit's solution over the whole window, so a report can draw the held-out forecast
            "forecast": _stack(forecasts, methods),
            "r2_forecast": _stack({m: s["r2"] for m, s in scores.items()}, methods),
            "rmse_forecast": _stack({m: s["rmse"] for m, s in scores.items()}, methods),
            # R² on a short, flat held-out end is dominated by its small variance: scale the error by the
            # component's range over the whole window instead
            "nrmse_forecast": _stack({m: s["rmse"] for m, s in scores.items()}, methods) / spread,
            "r2_forecast_sample": _stack({m: s["r2_sample"] for m, s in scores.items()}, methods),
            # the forecast's own blow-up, which the full window's solution (``diverged``) may not share
            "diverged_forecast": _stack(blown, methods),
        }
    )
    ds.attrs = {"forecast_split": float(traj.t[n_train - 1]) if n_train <= traj.t.size else float("nan")}
    if note:  # only when there is something to say: an empty attribute reads like a missing explanation
        ds.attrs["forecast_note"] = note
    return ds
