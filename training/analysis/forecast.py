"""Survival forecasting, which the paper does not have: call the final survivors from the first N steps only.

For each horizon ``N`` (a recorded step) only the records up to step ``N`` are used, and the final survivor
set (by :func:`training.survivors` at the last recorded step) is predicted three ways, along whichever component
dimension the dataset has (Fourier circles, irreps, units, principal components; ``component=`` overrides):

- ``"amplitude"``: apply the survival rule to the amplitudes at step ``N`` (persistence: who leads now wins);
- ``"fitness"``: a linear SVM on fitness measures known at ``N`` (log initial amplitude and the log growth
  ``log(a(N) / a(0))``), trained on other runs (cross-validated by run, so a run is never predicted by a
  model that saw it);
- ``"ode"``: fit the linear ODE ``dx/dt = A x + b`` of :func:`dynamics.fit` on steps ``0 .. N`` of each run,
  solve it analytically from the state at ``N`` to the last recorded step, and apply the survival rule to
  the solution.

The result says, per method and horizon, how often each component's fate and each run's whole set are right,
and per run the earliest horizon from which the whole set is called correctly for good.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr

from fittest.errors import InputError
from training.analysis.select import circles_only, per_row, pick_amplitude
from training.analysis.survival import survivors

__all__ = ["FORECASTS", "forecast_survivors"]

FORECASTS = ("amplitude", "fitness", "ode")
_DEFAULT_HORIZONS = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def _by_amplitude(amp: xr.DataArray, horizon: int, rule: dict) -> xr.DataArray:
    return survivors(amp, step=horizon, component=amp.dims[-1], **rule)


def _by_fitness(amp: xr.DataArray, horizon: int, truth: xr.DataArray, cv: int, seed: int) -> xr.DataArray:
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    start = amp.sel(step=0)
    now = amp.sel(step=horizon)
    with np.errstate(divide="ignore", invalid="ignore"):
        features = np.stack([np.log(start.values), np.log(now.values / start.values)], axis=-1)
    runs, K = truth.shape
    X = features.reshape(runs * K, -1)
    y = truth.values.reshape(-1)
    groups = np.repeat(np.arange(runs), K)
    predicted = np.zeros(runs * K, dtype=bool)
    for fit_on, predict_on in GroupKFold(cv).split(X, y, groups):
        fit_on = fit_on[np.all(np.isfinite(X[fit_on]), axis=1)]
        predict_on = predict_on[np.all(np.isfinite(X[predict_on]), axis=1)]
        if fit_on.size == 0 or predict_on.size == 0:
            continue
        if np.unique(y[fit_on]).size < 2:  # the other runs show one fate only: predict it
            predicted[predict_on] = y[fit_on][0]
            continue
        model = make_pipeline(StandardScaler(), LinearSVC(class_weight="balanced", random_state=seed))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # liblinear convergence notes on tiny folds
            predicted[predict_on] = model.fit(X[fit_on], y[fit_on]).predict(X[predict_on])
    return truth.copy(data=predicted.reshape(runs, K))


def _by_ode(amp: xr.DataArray, horizon: int, rule: dict) -> tuple[xr.DataArray, np.ndarray]:
    import dynamics

    dim = amp.dims[-1]
    last = amp["step"].values[-1].item()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rank-deficient fits on short windows still give a forecast to score
        fitted = dynamics.fit(amp, model="linear", t_range=(0, horizon), derivative="forward", component=dim)
        start = amp.sel(step=horizon).transpose("run", dim)
        solution = fitted.simulate(x0=start, t=np.array([horizon, last], dtype=np.float64), method="analytic")
    final = solution.isel({fitted.time: -1}).transpose("run", dim)
    final = final.assign_coords(p=amp["p"]) if "p" in amp.coords else final
    diverged = np.asarray(solution["diverged"].values if "diverged" in solution.coords else np.zeros(final.shape[0]))
    final = final.drop_vars([c for c in final.coords if c not in ("run", dim, "p")])
    return survivors(final, component=dim, **rule), diverged


def _scores(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Per-circle accuracy and balanced accuracy, share of runs with the exact set, mean Jaccard index."""
    hit = predicted == truth
    alive, dead = truth, ~truth
    recall_alive = (hit & alive).sum() / max(alive.sum(), 1)
    recall_dead = (hit & dead).sum() / max(dead.sum(), 1)
    union = (predicted | truth).sum(1)
    jaccard = np.where(union > 0, (predicted & truth).sum(1) / np.maximum(union, 1), 1.0)
    return {
        "accuracy": hit.mean(),
        "balanced_accuracy": (recall_alive + recall_dead) / 2,
        "exact": hit.all(1).mean(),
        "jaccard": jaccard.mean(),
    }


def forecast_survivors(
    ds: xr.Dataset,
    *,
    horizons: Sequence[int] | None = None,
    methods: Sequence[str] = FORECASTS,
    cv: int = 5,
    seed: int = 0,
    component: str | None = None,
    normalise: str | None = "auto",
    **rule,
) -> xr.Dataset:
    """Predict each run's final survivors from its first ``N`` recorded steps, for several ``N``.

    Arguments:
        ds: a run dataset (``amplitude`` or ``signal`` over ``run``, ``step`` and a component dimension).
        horizons: the steps ``N`` to forecast from; recorded steps before the last. By default
            ``0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000`` where recorded.
        methods: any of :data:`FORECASTS`. ``"fitness"`` needs at least ``cv`` runs; ``"ode"`` needs
            :mod:`dynamics` and is left NaN at horizons too short to fit (fewer than ``K + 1`` recorded
            increments, ``K`` the number of components).
        cv: folds (over runs) for the ``"fitness"`` classifier.
        seed: seed of the classifier.
        component: the component dimension, as for :func:`training.survivors`.
        normalise: judge and forecast per basis row, as for :func:`training.survivors`.
        **rule: the survival rule, as for :func:`training.survivors` (``rule``, ``factor``, ``threshold``);
            the same rule judges the truth and the forecasts.

    Returns:
        Dataset over ``forecast`` (the method) and ``horizon`` with ``accuracy`` and ``balanced_accuracy`` (per
        component),
        ``exact`` (share of runs whose whole set is right) and ``jaccard`` (mean overlap of the sets);
        ``called_at`` (forecast, run): the first horizon from which every later horizon gets the run's set right
        (NaN if none); ``predicted`` (forecast, horizon, run, <component>); ``truth`` (run, <component>);
        ``diverged`` (horizon, run) for the ODE.

    Raises:
        InputError: an unknown method, ``step`` or ``variable`` among ``rule``, a horizon that was not recorded
            or is not before the last step, no record at step 0, too few runs for the classifier, or an amplitude
            with dimensions other than ``run``, ``step`` and one component dimension.
    """
    unknown = [m for m in methods if m not in FORECASTS]
    if unknown or not methods:
        raise InputError(f"unknown forecast method(s) {unknown}; choose from {', '.join(FORECASTS)}")
    if "step" in rule or "variable" in rule:
        raise InputError("forecast_survivors() judges the amplitude at the last step; do not pass step= or variable=")
    purpose = "forecast_survivors()"
    amp, dim = pick_amplitude(ds, "amplitude", purpose, component=component)
    extra = [d for d in amp.dims if d not in ("run", "step", dim)]
    if extra or "run" not in amp.dims or "step" not in amp.dims:
        hint = f"; select one value of {', '.join(extra)} (.sel)" if extra else ""
        raise InputError(f"{purpose} needs the amplitude over (run, step, {dim}); it has dims {amp.dims}{hint}")
    amp, scaled = per_row(amp, dim, normalise, purpose=purpose)
    amp = circles_only(amp, dim).transpose("run", "step", dim)
    recorded = amp["step"].values
    last = recorded[-1].item()
    if horizons is None:
        horizons = [h for h in _DEFAULT_HORIZONS if h in recorded and h < last]
    horizons = [int(h) for h in horizons]
    bad = [h for h in horizons if h not in recorded or h >= last]
    if bad or not horizons:
        raise InputError(f"horizons {bad or horizons} must be recorded steps before the last one ({last})")
    if 0 not in recorded:
        raise InputError("forecast_survivors() needs step 0 (the initialisation) in the records")
    if "fitness" in methods and amp.sizes["run"] < cv:
        raise InputError(f"the 'fitness' forecast is cross-validated over runs: needs >= cv={cv} runs")
    rule = {**rule, "normalise": None}  # normalised once above, for the truth and every forecast alike
    truth = survivors(amp, component=dim, **rule)
    runs, K = truth.shape
    predicted = np.zeros((len(methods), len(horizons), runs, K), dtype=bool)
    scored = np.full((len(methods), len(horizons)), True)
    diverged = np.zeros((len(horizons), runs), dtype=bool)
    for j, horizon in enumerate(horizons):
        for i, method in enumerate(methods):
            if method == "amplitude":
                guess = _by_amplitude(amp, horizon, rule)
            elif method == "fitness":
                guess = _by_fitness(amp, horizon, truth, cv, seed)
            elif np.searchsorted(recorded, horizon) < K + 1:
                scored[i, j] = False  # fewer increments than the K + 1 unknowns of each row of (A, b)
                continue
            else:
                guess, diverged[j] = _by_ode(amp, horizon, rule)
            predicted[i, j] = guess.transpose("run", dim).values
    names = ("accuracy", "balanced_accuracy", "exact", "jaccard")
    table = {name: np.full((len(methods), len(horizons)), np.nan) for name in names}
    for i in range(len(methods)):
        for j in range(len(horizons)):
            if scored[i, j]:
                for name, value in _scores(predicted[i, j], truth.values).items():
                    table[name][i, j] = value
    exact = (predicted == truth.values).all(-1) & scored[..., None]  # (forecast, horizon, run)
    # correct from horizon j on: every later horizon is right too
    for_good = np.flip(np.logical_and.accumulate(np.flip(exact, 1), axis=1), 1)
    first = np.argmax(for_good, axis=1)
    called_at = np.where(for_good.any(1), np.asarray(horizons)[first], np.nan)
    coords = {"forecast": list(methods), "horizon": horizons, "run": amp["run"].values, dim: amp[dim]}
    result = xr.Dataset(
        {
            **{name: (("forecast", "horizon"), values) for name, values in table.items()},
            "called_at": (("forecast", "run"), called_at),
            "predicted": (("forecast", "horizon", "run", dim), predicted),
            "truth": (("run", dim), truth.values),
            "diverged": (("horizon", "run"), diverged),
        },
        coords=coords,
        attrs={"final_step": last, **{k: v for k, v in truth.attrs.items() if k != "step"}, "normalise": scaled},
    )
    return result
