"""Time derivatives of sampled trajectories: the paper's forward difference, central, Savitzky-Golay (one window
or one per point), pysindy.

Every method returns the states it pairs with each derivative, so that a regression ``dx/dt ~ f(x)`` uses
matching rows: the forward difference ``(x[t+1] - x[t]) / dt`` belongs to ``x[t]`` and has no value at the
last time point, which is what the authors' code regressed (increments on states).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import xarray as xr

from dynamics.catalog import DERIVATIVE_OPTIONS, DERIVATIVES
from dynamics.trajectories import Trajectories
from fittest.errors import InputError


def derivative_name(method) -> str:
    """A short label for a derivative method, for attributes and reports."""
    if isinstance(method, str):
        return method
    if isinstance(method, xr.DataArray):
        return "given"
    return type(method).__name__


def differentiate(
    traj: Trajectories, method="central", *, window: int | None = None, polyorder: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Derivatives of every sample's trajectory, and the states they pair with.

    A method that smooths (``"savgol"``, a pysindy differentiator with ``smoothed_x_`` such as
    ``SmoothedFiniteDifference``) returns its smoothed states, as pysindy regresses them: the raw noisy states
    against a smoothed derivative would bias the fit (on 1%-noisy Lorenz it doubled the coefficient error).

    Arguments:
        traj: the trajectories.
        method: ``"forward"``, ``"central"`` (the default: second order, any grid), ``"savgol"``
            (Savitzky-Golay, uniform grid), ``"adaptive"`` (Savitzky-Golay with a window chosen at every point,
            :func:`adaptive_savgol`), ``"auto"`` (central or adaptive, as :func:`choose_derivative` says), a
            pysindy differentiation object (anything with ``__call__(x, t)``, such as
            ``pysindy.SmoothedFiniteDifference()``), or a DataArray of known derivatives with the same dims as
            the data.
        window: Savitzky-Golay window length (odd); None: chosen from the data (:func:`savgol_window`). Only for
            ``"savgol"``.
        polyorder: Savitzky-Golay polynomial order, below ``window``; None: the catalog's default.

    Ragged trajectories (NaN padding at the end of shorter samples) are differentiated per length, each sample
    on its observed points only: rows beyond a sample's end are NaN in ``x`` and ``dxdt``.

    Returns:
        ``(x, dxdt, index)``: the states and derivatives, both ``(S, T', C)``, and the time indices (into
        ``traj.t``) they belong to, shape ``(T',)``.

    Raises:
        InputError: ``traj`` is not :class:`Trajectories`, an unknown method, a Savitzky-Golay window that does
            not fit, a non-uniform grid for Savitzky-Golay, known derivatives of the wrong shape, or non-finite
            derivatives, or ``window``/``polyorder`` with another method than ``"savgol"``.
    """
    if not isinstance(traj, Trajectories):
        raise InputError(
            f"differentiate() takes Trajectories, got {type(traj).__name__}: "
            "pass dynamics.as_trajectories(data, time=..., component=...)"
        )
    x, t = traj.values, traj.t
    n = t.size
    if not (isinstance(method, str) and method == "savgol") and (window is not None or polyorder is not None):
        raise InputError(
            f"window and polyorder are Savitzky-Golay options, but the derivative is {derivative_name(method)!r}: "
            "drop them or use derivative='savgol'"
        )
    if traj.mask is not None:
        if isinstance(method, xr.DataArray):
            raise InputError("known derivatives are not taken with a list of runs: give a method, e.g. 'central'")
        return _by_run(traj, method, window=window, polyorder=polyorder)
    if traj.ragged and not isinstance(method, xr.DataArray):
        return _by_length(traj, method, window=window, polyorder=polyorder)
    states = x
    if isinstance(method, str):
        if method == "forward":
            index = np.arange(n - 1)
            dxdt = np.diff(x, axis=1) / np.diff(t)[None, :, None]
        elif method == "central":
            if n < 3:
                raise InputError("derivative='central' needs at least 3 time points: use 'forward' or widen t_range")
            index = np.arange(n)
            dxdt = np.gradient(x, t, axis=1, edge_order=2)
        elif method == "savgol":
            states, dxdt, index = _savgol(x, t, window=window, polyorder=polyorder)
        elif method == "adaptive":
            if not _uniform(t):
                raise InputError("derivative='adaptive' needs a uniform time grid: use 'central' or resample the data")
            states, dxdt, _ = adaptive_savgol(x, t)
            index = np.arange(n)
        elif method == "auto":
            return differentiate(traj, choose_derivative(x, t))
        else:
            raise InputError(
                f"unknown derivative {method!r}: use one of {DERIVATIVES}, a pysindy differentiation object, or a "
                "DataArray of known derivatives"
            )
    elif isinstance(method, xr.DataArray):
        index = np.arange(n)
        dxdt = _given(traj, method)
    elif callable(method):
        index = np.arange(n)
        rows, smoothed = [], []
        try:
            for sample in x:
                rows.append(np.asarray(method(sample, t), dtype=np.float64))
                # pysindy's smoothing differentiators keep the states they differentiated (smoothed_x_), and
                # pysindy regresses those: so must we
                smooth = getattr(method, "smoothed_x_", None)
                smoothed.append(sample if smooth is None else np.asarray(smooth, dtype=np.float64))
        except Exception as error:  # a third-party object: report its failure as bad input, with its words
            raise InputError(f"the differentiation object {type(method).__name__} failed: {error}") from error
        dxdt = np.stack(rows)
        if dxdt.shape != x.shape:
            raise InputError(f"the differentiation object returned shape {dxdt.shape}, expected {x.shape}")
        states = np.stack(smoothed)
        if states.shape != x.shape or not np.all(np.isfinite(states)):
            states = x  # an object whose smoothed_x_ is not the states of this call: keep the data
        # pysindy marks points it could not differentiate (edges) with NaN: drop those rows
        keep = np.all(np.isfinite(dxdt), axis=(0, 2))
        index, dxdt = index[keep], dxdt[:, keep]
    else:
        raise InputError(
            f"derivative must be one of {DERIVATIVES}, a pysindy differentiation object, or a DataArray, "
            f"got {type(method).__name__}"
        )
    observed = traj.observed[:, index]  # known derivatives on a ragged sample's padding are not used
    if not np.all(np.isfinite(dxdt[observed])):
        raise InputError("the derivatives hold NaN or inf: check the data and the derivative method")
    dxdt = np.where(observed[..., None], dxdt, np.nan)
    return states[:, index], dxdt, index


def _by_length(traj: Trajectories, method, **options) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`differentiate` of ragged trajectories: each group of samples of one length on its own points, the
    results on the union of their time indices, NaN where a sample has none."""
    groups = []
    for length in np.unique(traj.lengths):
        members = np.flatnonzero(traj.lengths == length)
        whole = dataclasses.replace(
            traj,
            values=traj.values[members, :length],
            t=traj.t[:length],
            sample_dims=("sample",),
            sample_shape=(members.size,),
            sample_coords={},
            lengths=None,
        )
        groups.append((members, differentiate(whole, method, **options)))
    index = np.unique(np.concatenate([part[2] for _, part in groups]))
    shape = (traj.n_samples, index.size, traj.values.shape[2])
    x, dxdt = np.full(shape, np.nan), np.full(shape, np.nan)
    for members, (states, rates, rows) in groups:
        at = np.searchsorted(index, rows)
        x[members[:, None], at[None, :]] = states
        dxdt[members[:, None], at[None, :]] = rates
    return x, dxdt, index


def _by_run(traj: Trajectories, method, **options) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`differentiate` of runs on different grids (:attr:`Trajectories.mask`): each run on its own points,
    the results at their places on the union grid, NaN where a run has none."""
    x, dxdt = np.full(traj.values.shape, np.nan), np.full(traj.values.shape, np.nan)
    for sample, seen in enumerate(traj.mask):
        at = np.flatnonzero(seen)
        whole = dataclasses.replace(
            traj,
            values=traj.values[sample : sample + 1, at],
            t=traj.t[at],
            sample_dims=("sample",),
            sample_shape=(1,),
            sample_coords={},
            lengths=None,
            mask=None,
        )
        states, rates, rows = differentiate(whole, method, **options)
        x[sample, at[rows]] = states[0]
        dxdt[sample, at[rows]] = rates[0]
    index = np.flatnonzero(np.isfinite(dxdt).all(axis=-1).any(axis=0))
    return x[:, index], dxdt[:, index], index


def savgol_window(x: np.ndarray, *, polyorder: int | None = None) -> int:
    """The Savitzky-Golay window for these data, chosen by generalised cross-validation.

    Each candidate window smooths the data; its score is the mean squared residual over ``(1 - h)^2``, with ``h``
    the weight the filter gives the point itself (the hat matrix's diagonal inside the series), which charges a
    narrow window for following the noise. Noisy data get a wide window (Van der Pol at 5% noise: 7 gave a
    coefficient error of 0.44, a window near 21 closes the gap to pysindy's smoothed differences), clean data
    the narrowest.

    Arguments:
        x: shape ``(S, T, C)``, every point observed.
        polyorder: the polynomial order (the catalog's default when None).

    Returns:
        An odd window, above ``polyorder`` and at most ``T``.

    Raises:
        InputError: too few time points for any window of this order.
    """
    from scipy.signal import savgol_coeffs, savgol_filter

    declared = {option.name: option for option in DERIVATIVE_OPTIONS}
    polyorder = declared["polyorder"].check(declared["polyorder"].default if polyorder is None else polyorder)
    n = x.shape[1]
    smallest = polyorder + 2 - polyorder % 2  # the first odd window above the order
    candidates = [w for w in _WINDOWS if smallest <= w <= min(n, max(smallest, n // 3))] or [smallest]
    if candidates[0] > n:
        raise InputError(f"derivative='savgol' with polyorder={polyorder} needs at least {smallest} time points")
    scores = []
    for window in candidates:
        smoothed = savgol_filter(x, window, polyorder, axis=1, mode="interp")
        own = savgol_coeffs(window, polyorder)[window // 2]
        scores.append(np.mean((x - smoothed) ** 2) / (1.0 - own) ** 2)
    return int(candidates[int(np.argmin(scores))])


def measurement_noise(x: np.ndarray, *, polyorder: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The states split into a smooth part and the measurement noise around it, for the bootstrap.

    The smooth part is the Savitzky-Golay filter with the window :func:`savgol_window` chooses; the residuals are
    divided by ``sqrt(1 - h)`` (``h`` the filter's weight on the point itself), since a smoother absorbs that
    share of each point's own noise and its raw residuals would understate the noise.

    Arguments:
        x: shape ``(S, T, C)``, every point observed.
        polyorder: the polynomial order (the catalog's default when None).

    Returns:
        ``(smooth, residuals)``, both ``(S, T, C)``.
    """
    from scipy.signal import savgol_coeffs, savgol_filter

    declared = {option.name: option for option in DERIVATIVE_OPTIONS}
    polyorder = declared["polyorder"].check(declared["polyorder"].default if polyorder is None else polyorder)
    window = savgol_window(x, polyorder=polyorder)
    if window <= polyorder:
        return x, np.zeros_like(x)  # too short a series to smooth: nothing is taken for noise
    smooth = savgol_filter(x, window, polyorder, axis=1, mode="interp")
    own = savgol_coeffs(window, polyorder)[window // 2]
    return smooth, (x - smooth) / np.sqrt(1.0 - own)


def adaptive_savgol(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Savitzky-Golay smoothing and derivative with a window chosen at every point, by local cross-validation.

    Each candidate window's generalised cross-validation score (as :func:`savgol_window`'s) is averaged over a
    neighbourhood of every point, twice as wide as the widest candidate, instead of over the whole series, and each
    point takes the window that scores best there. One window for the whole series is chosen by where the
    series is slow and long: on Hopf's decaying spiral (a fast transient from radius 2, then thousands of points
    of slow decay) the single window of 99 points smoothed the transient away, and the coefficient error at 1%
    noise was 0.61, against 0.007 with windows chosen point by point.

    Arguments:
        x: shape ``(S, T, C)``, every point observed.
        t: the uniform time grid, shape ``(T,)``.

    Returns:
        ``(states, dxdt, windows)``: the smoothed states and derivatives ``(S, T, C)``, and the window each point
        took, ``(S, T, C)`` integers.
    """
    from scipy.ndimage import uniform_filter1d
    from scipy.signal import savgol_coeffs, savgol_filter

    polyorder = _ADAPTIVE_ORDER
    candidates = _adaptive_candidates(x.shape[1])
    span = 2 * candidates[-1]
    delta = float(t[1] - t[0])
    # the scores compare windows at each point: on each series' own scale, where squares of 1e200 do not overflow
    peak = np.max(np.abs(x), axis=1, keepdims=True)
    unit = np.where(peak > 0, peak, 1.0)
    best = np.full(x.shape, np.inf)
    states, dxdt = np.empty_like(x), np.empty_like(x)
    windows = np.zeros(x.shape, dtype=np.int64)
    # one window at a time, keeping the best so far: memory stays a few copies of the data for any number of
    # candidates
    for window in candidates:
        smoothed = savgol_filter(x, window, polyorder, axis=1, mode="interp")
        own = savgol_coeffs(window, polyorder)[window // 2]
        score = uniform_filter1d(((x - smoothed) / unit) ** 2, span, axis=1, mode="nearest") / (1.0 - own) ** 2
        better = score < best
        best = np.where(better, score, best)
        states = np.where(better, smoothed, states)
        rates = savgol_filter(x, window, polyorder, deriv=1, delta=delta, axis=1, mode="interp")
        dxdt = np.where(better, rates, dxdt)
        windows = np.where(better, window, windows)
    return states, dxdt, windows


def choose_derivative(x: np.ndarray, t: np.ndarray) -> str:
    """What ``derivative="auto"`` uses on these data: ``"central"`` or ``"adaptive"``.

    Central differences are exact to O(dt^2) and add no smoothing bias, but divide the measurement noise by the
    step: on Van der Pol at 5% noise (dt = 0.002) their coefficient error was 1.49, against 0.003 for
    :func:`adaptive_savgol`. So the data are smoothed where the noise central differences would carry,
    ``sigma / (sqrt(2) dt)``, exceeds the spread of the derivative itself in some component (the median over
    samples). ``sigma`` is the residual of the narrowest Savitzky-Golay window (5 points, order 3), divided by
    ``sqrt(1 - h)`` (``h`` the filter's weight on the point itself): within 2% of the noise added to the
    classic problems, and 1e-7 of their spread on clean data. Measured on those problems, the ratio was 0.24 to
    0.61 where central differences did as well as smoothing (Lorenz and the cubic oscillator at 1% noise) and
    1.2 to 17 where they did not. A grid that is not uniform, or too short for a choice of windows, gets central
    differences.

    Arguments:
        x: shape ``(S, T, C)``, every point observed.
        t: the time grid, shape ``(T,)``.

    Returns:
        ``"central"`` or ``"adaptive"``.
    """
    from scipy.signal import savgol_coeffs, savgol_filter

    if t.size < 3 * _ADAPTIVE_SMALLEST or not _uniform(t):
        return "central"
    # on each series' own scale, where squares of 1e200 do not overflow
    peak = np.max(np.abs(x), axis=1, keepdims=True)
    x = x / np.where(peak > 0, peak, 1.0)
    residual = x - savgol_filter(x, _ADAPTIVE_SMALLEST, _ADAPTIVE_ORDER, axis=1, mode="interp")
    own = savgol_coeffs(_ADAPTIVE_SMALLEST, _ADAPTIVE_ORDER)[_ADAPTIVE_SMALLEST // 2]
    edge = _ADAPTIVE_SMALLEST // 2 + 1  # the fitted polynomial's ends are not a point's own smoother
    sigma = np.sqrt(np.mean(residual[:, edge:-edge] ** 2, axis=1) / (1.0 - own))  # (S, C)
    _, dxdt, _ = adaptive_savgol(x, t)
    spread = np.std(dxdt, axis=1)
    noise = sigma / (np.sqrt(2.0) * float(t[1] - t[0]))
    ratio = np.where(spread > 0, noise / np.where(spread > 0, spread, 1.0), 0.0)
    return "adaptive" if float(np.median(np.max(ratio, axis=1))) > 1.0 else "central"


def _adaptive_candidates(n: int) -> list[int]:
    """The windows :func:`adaptive_savgol` tries on a series of ``n`` points: from the narrowest of its order to a
    third of the series.

    Raises:
        InputError: too short a series for a smoothing window.
    """
    if n < _ADAPTIVE_SMALLEST:
        raise InputError(f"derivative='adaptive' needs at least {_ADAPTIVE_SMALLEST} time points: use 'central'")
    return [w for w in _WINDOWS if _ADAPTIVE_SMALLEST <= w <= max(_ADAPTIVE_SMALLEST, n // 3)]


def _uniform(t: np.ndarray) -> bool:
    """Whether the time grid's steps are equal (to rounding): what every Savitzky-Golay filter assumes."""
    steps = np.diff(t)
    return bool(np.allclose(steps, steps[0], rtol=1e-9, atol=0))


# the adaptive smoother's polynomial order (the catalog's Savitzky-Golay default) and its narrowest window
_ADAPTIVE_ORDER = next(option.default for option in DERIVATIVE_OPTIONS if option.name == "polyorder")
_ADAPTIVE_SMALLEST = 5

# the windows savgol_window tries: odd, spaced about 25% apart
_WINDOWS = (3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 25, 31, 37, 45, 55, 67, 81, 99, 121, 147, 179, 219, 267, 325, 397)


def _savgol(x, t, *, window, polyorder):
    from scipy.signal import savgol_filter

    declared = {option.name: option for option in DERIVATIVE_OPTIONS}
    polyorder = declared["polyorder"].check(declared["polyorder"].default if polyorder is None else polyorder)
    window = savgol_window(x, polyorder=polyorder) if window is None else declared["window"].check(window)

    if not _uniform(t):
        raise InputError("derivative='savgol' needs a uniform time grid: use 'central' or resample the data")
    if window % 2 == 0 or window <= polyorder or window > t.size:
        raise InputError(
            f"derivative='savgol' needs an odd window > polyorder and <= the number of time points ({t.size}), "
            f"got window={window}, polyorder={polyorder}"
        )
    dxdt = savgol_filter(x, window, polyorder, deriv=1, delta=float(t[1] - t[0]), axis=1, mode="interp")
    smoothed = savgol_filter(x, window, polyorder, deriv=0, axis=1, mode="interp")
    return smoothed, dxdt, np.arange(t.size)


def _given(traj: Trajectories, given: xr.DataArray) -> np.ndarray:
    dims = traj.sample_dims + (traj.time, traj.component)
    if set(given.dims) != set(dims):
        raise InputError(f"known derivatives must have dims {dims}, got {tuple(map(str, given.dims))}")
    if traj.t_range is not None and traj.time in given.coords:
        start, stop = traj.t_range
        given = given.sel({traj.time: slice(start, stop)})
    values = np.asarray(given.transpose(*dims).values, dtype=np.float64)
    expected = traj.sample_shape + traj.values.shape[1:]
    if values.shape != expected:
        raise InputError(f"known derivatives have shape {values.shape}, the data {expected}: they must match")
    return values.reshape(traj.values.shape)
