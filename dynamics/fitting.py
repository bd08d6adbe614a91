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
    window: int | None = None,
    polyorder: int | None = None,
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
        derivative: ``"central"`` (the default: second order, unbiased to O(dt²) on continuous-time data),
            ``"forward"`` (the paper's ``x[t+1] - x[t]`` over the step: right for a discrete map, O(dt) biased on
            a continuous one), ``"savgol"``, a pysindy differentiation object, or a DataArray of known
            derivatives. Smoothing methods fit their smoothed states, as pysindy does.
        window, polyorder: the Savitzky-Golay window (odd) and order, for ``derivative="savgol"`` only
            (None: 7 and 3, see :data:`dynamics.catalog.DERIVATIVE_OPTIONS`).
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
    x, dxdt, index = differentiate(traj, derivative, window=window, polyorder=polyorder)
    names = lib.component_names(traj.components)
    scale = _scale(x, dxdt, model, bool(pool))
    xs, ds = x / scale, dxdt / scale
    try:
        result = MODELS[model](xs, ds, names=names, t=traj.t[index], pooled=bool(pool), **model_options)
    except TypeError as error:
        if "unexpected keyword" not in str(error):
            raise
        raise InputError(f"model {model!r} does not take that option ({error}); see help(dynamics.fit)") from None
    # R² is the same on every component's own scale, where squares of 1e200 data do not overflow
    predicted = _predict(result, xs, bool(pool))
    if pool:
        scores = r2(ds.reshape(1, -1, x.shape[2]), predicted.reshape(1, -1, x.shape[2]), axis=1)
    else:
        scores = r2(ds, predicted, axis=1)
    if scale is not _UNSCALED:
        _unscale(result, scale)
    if not np.all(np.isfinite(result.coefficients)):
        raise InputError(
            f"the {model} fit gave NaN or inf coefficients: the data's scale (largest |x| "
            f"{np.abs(x).max():.3g}) is beyond what the model can fit; rescale the data or use model='linear'"
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


_UNSCALED = np.float64(1.0)
# least squares on monomials is equivariant under scaling each component: these models are fitted on scaled data
_SCALE_FREE = ("linear", "lotka_volterra")
# beyond these magnitudes squares and products of the states over- or underflow float64
_TINY, _HUGE = 1e-100, 1e100


def _scale(x: np.ndarray, dxdt: np.ndarray, model: str, pooled: bool):
    """Per-sample, per-component scales ``(S, 1, C)`` to fit on, or :data:`_UNSCALED`.

    Least-squares models are fitted on ``x / s`` (their coefficients transformed back by :func:`_unscale`), so
    that data of any magnitude (1e200, 1e-300) fits as well as data of order one. Penalised models (lasso,
    SINDy's threshold) are not scale-free: data whose magnitude would over- or underflow is refused.

    Raises:
        InputError: a penalised model on data beyond 1e-100 .. 1e100.
    """
    peak = np.abs(x).max(axis=(0, 1) if pooled else 1, keepdims=True)  # (S or 1, 1, C)
    if model in _SCALE_FREE:
        if np.all((peak >= 1e-3) & (peak <= 1e3) | (peak == 0)):
            return _UNSCALED  # order one already: fit the data as given, to the last bit
        return np.broadcast_to(np.where(peak > 0, peak, 1.0), (x.shape[0], 1, x.shape[2]))
    largest = max(float(peak.max()), float(np.abs(dxdt).max()))
    nonzero = peak[peak > 0]
    if largest > _HUGE or (nonzero.size and float(nonzero.min()) < _TINY):
        raise InputError(
            f"model {model!r} penalises its coefficients, so it is not scale-free, and the data's magnitude "
            f"(|x| up to {largest:.3g}, down to {float(nonzero.min()) if nonzero.size else 0:.3g}) would over- "
            "or underflow: rescale the data (divide by its maximum), or use model='linear' or 'lotka_volterra', "
            "which scale internally"
        )
    return _UNSCALED


def _unscale(result, scale: np.ndarray) -> None:
    """Coefficients fitted on ``x / s`` back to ``x``: ``c[i, k] = c'[i, k] s_i / prod_j s_j^p[k, j]``."""
    s = scale[:, 0, :]  # (S, C)
    if result.coefficients.shape[0] != s.shape[0]:
        s = s[:1]  # pooled: one scale for all samples
    powers = result.library.powers  # (P, C)
    log_term = np.log(s) @ powers.T  # (S, P)
    result.coefficients = result.coefficients * np.exp(np.log(s)[:, :, None] - log_term[:, None, :])


def _predict(result, x: np.ndarray, pooled: bool) -> np.ndarray:
    """The fitted right-hand side at the fitted states, shape ``(S, N, C)``."""
    flat = x.reshape(1, -1, x.shape[2]) if pooled else x
    return evaluate_rhs(result.library, result.coefficients, result.models, flat).reshape(x.shape)
