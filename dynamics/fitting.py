"""`dynamics.fit`: trajectories in xarray -> derivatives -> a registered model's fit -> :class:`FittedODE`;
:func:`refit` repeats a fit on other data or another window (the out-of-sample forecast of
:func:`dynamics.compare`)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import xarray as xr

from dynamics import library as lib
from dynamics.catalog import DEFAULT_DERIVATIVE, DEFAULT_MODEL
from dynamics.derivatives import derivative_name, differentiate
from dynamics.fitted import FittedODE, build_dataset, evaluate_rhs
from dynamics.fitters import MODELS
from dynamics.metrics import r2
from dynamics.trajectories import as_trajectories
from fittest.errors import InputError


def fit(
    data: xr.Dataset | xr.DataArray,
    model: str = DEFAULT_MODEL,
    *,
    variable: Hashable | None = None,
    time: str = "step",
    component: str = "frequency",
    t_range: Sequence[float] | None = None,
    derivative=DEFAULT_DERIVATIVE,
    pool: bool = False,
    **model_options,
) -> FittedODE:
    """Fit an ODE ``dx/dt = f(x)`` to trajectories, one per sample in one vectorised call.

    Arguments:
        data: a Dataset (see ``variable``) or DataArray with a time and a component dimension; every other
            dimension is a sample dimension (``run`` in a run dataset).
        model: a name in :data:`dynamics.MODELS`: ``"linear"`` (``A x + b`` by least squares), ``"lasso"``
            (L1 on ``A``; option ``alpha=0.01``), ``"lotka_volterra"`` (option ``form="glv" | "quadratic"``),
            ``"sindy"`` (pysindy; options ``degree``, ``threshold``, ``feature_library``, ``optimizer``).
        variable: the Dataset variable; ``amplitude`` when present.
        time: the time dimension; its coordinate is the time (steps, seconds, years).
        component: the dimension that indexes the state vector.
        t_range: ``(start, stop)`` of the time window, inclusive; ``(0, 1000)`` is the paper's window.
        derivative: ``"forward"`` (the paper's ``x[t+1] - x[t]`` over the step), ``"central"``, ``"savgol"``,
            a pysindy differentiation object, or a DataArray of known derivatives.
        pool: fit one ODE to all samples together instead of one per sample.
        **model_options: passed to the model's fitting function.

    Returns:
        The :class:`FittedODE`.

    Raises:
        InputError: an unknown model or option, ``pool`` that is not a bool, too few time points for the model,
            or bad data (see :func:`dynamics.trajectories.as_trajectories`) or derivatives.
    """
    if not isinstance(model, str) or model not in MODELS:
        raise InputError(f"unknown model {model!r}: use one of {sorted(MODELS)}")
    if not isinstance(pool, bool | np.bool_):
        # bool("False") is True: a string here would silently pool
        raise InputError(f"pool must be True or False, got {pool!r}")
    traj = as_trajectories(data, variable=variable, time=time, component=component, t_range=t_range)
    x, dxdt, index = differentiate(traj, derivative)
    names = lib.component_names(traj.components)
    try:
        result = MODELS[model](x, dxdt, names=names, t=traj.t[index], pooled=bool(pool), **model_options)
    except TypeError as error:
        if "unexpected keyword" not in str(error):
            raise
        raise InputError(f"model {model!r} does not take that option ({error}); see help(dynamics.fit)") from None
    predicted = _predict(result, x, bool(pool))
    if pool:
        scores = r2(dxdt.reshape(1, -1, x.shape[2]), predicted.reshape(1, -1, x.shape[2]), axis=1)
    else:
        scores = r2(dxdt, predicted, axis=1)
    fit_options = {
        "model": model,
        "variable": traj.variable,
        "time": time,
        "component": component,
        "t_range": traj.t_range,
        "derivative": derivative,
        "pool": bool(pool),
        **model_options,
    }
    dataset = build_dataset(
        result=result,
        traj=traj,
        r2=scores,
        model=model,
        derivative=derivative_name(derivative),
        pooled=bool(pool),
        fit_options=fit_options,
    )
    return FittedODE(dataset, models=result.models, trajectories=traj, fit_options=fit_options)


def refit(
    fitted: FittedODE,
    data: xr.Dataset | xr.DataArray,
    *,
    t_range: Sequence[float] | None = None,
) -> FittedODE:
    """Fit ``fitted``'s model again, with all of its options, to ``data`` over ``t_range``.

    Arguments:
        fitted: the fit to repeat; its :attr:`~dynamics.FittedODE.fit_options` say how.
        data: the trajectories, read with the fit's time and component dimensions (and its variable when a
            Dataset).
        t_range: ``(start, stop)`` of the new window, inclusive; the fit's own window when None.

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
    if t_range is not None:
        options["t_range"] = t_range
    if not isinstance(data, xr.Dataset):
        options.pop("variable", None)  # a DataArray is the data itself: the name would only be checked against its own
    return fit(data, **options)


def _predict(result, x: np.ndarray, pooled: bool) -> np.ndarray:
    """The fitted right-hand side at the fitted states, shape ``(S, N, C)``."""
    flat = x.reshape(1, -1, x.shape[2]) if pooled else x
    return evaluate_rhs(result.library, result.coefficients, result.models, flat).reshape(x.shape)
