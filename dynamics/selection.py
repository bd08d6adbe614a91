"""`dynamics.select`: rank models by how well they forecast held-out trajectories.

Each model is fitted to the data and then scored by :func:`dynamics.compare`'s out-of-sample forecast: refitted
on the first ``1 - holdout`` of the window, solved from the first state over the whole window, and measured on
the held-out end only, which no fit saw. The error is the forecast's RMSE over each component's range
(``nrmse_forecast``), averaged over components and samples, so that models of any size are ranked on the same
footing; in-sample scores would favour the largest library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from dynamics import solutions
from dynamics.comparison import compare
from dynamics.fitting import fit
from fittest.errors import InputError


def _entries(models) -> list[tuple[str, str, dict]]:
    """``(label, model, options)`` for each entry: a name, ``(name, options)`` or ``{"model": name, **options}``.

    Raises:
        InputError: an entry of another kind, none at all, or two entries with the same label.
    """
    if isinstance(models, str) or not isinstance(models, Sequence) or not models:
        raise InputError("models must be a non-empty list of names, (name, options) pairs or {'model': ...} dicts")
    out = []
    for entry in models:
        if isinstance(entry, str):
            name, options = entry, {}
        elif isinstance(entry, Mapping) and "model" in entry:
            name, options = entry["model"], {k: v for k, v in entry.items() if k != "model"}
        elif isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], Mapping):
            name, options = entry[0], dict(entry[1])
        else:
            raise InputError(f"cannot read the model entry {entry!r}: use 'linear', ('sindy', {{...}}) or a dict")
        label = name if not options else f"{name}({', '.join(f'{k}={v!r}' for k, v in options.items())})"
        out.append((label, name, options))
    labels = [label for label, _, _ in out]
    if len(set(labels)) != len(labels):
        raise InputError(f"the models {labels} repeat an entry: give each once")
    return out


def select(
    data: xr.Dataset | xr.DataArray,
    models: Sequence = ("linear", "lotka_volterra", "sindy"),
    *,
    holdout: float = 0.25,
    criterion: str = "forecast",
    method: str | solutions.Solver | None = None,
    **fit_options,
) -> xr.Dataset:
    """Fit each model and rank them by the out-of-sample error of their forecast trajectories.

    Arguments:
        data: the trajectories, as for :func:`dynamics.fit`.
        models: names (``"linear"``), ``(name, options)`` pairs or ``{"model": name, **options}`` dicts.
        holdout: the fraction of the window's end held out and forecast.
        criterion: what ranks the models: ``"forecast"`` (default), the held-out forecast error below; or an
            information criterion of the derivative regression, ``"aic"``, ``"bic"`` or ``"aicc"`` (see
            :func:`information_criteria`), which needs no forecast, so none is computed.
        method: the solution method of every forecast: a name (``"diffrax"``) or a solver object carrying its
            options (:class:`dynamics.Diffrax` ``(rtol=1e-6)``); each fit's most exact one when None.
        **fit_options: options every fit takes (``time``, ``component``, ``derivative``, ``objective``, ...).

    Returns:
        A Dataset on a ``model`` dimension (labels such as ``"sindy(threshold=0.1)"``), best first, with
        ``forecast_error`` (the mean ``nrmse_forecast``), ``r2_forecast`` (the mean over samples of the
        forecast's R² with components pooled), ``r2_derivative`` (in sample, mean), ``terms`` (non-zero
        coefficients per equation, mean), ``diverged`` (the fraction of samples whose forecast blew up) and
        ``rank`` (1 is best; a model whose forecasts all blew up ranks last). The attributes say the holdout
        and the forecast split.

    Raises:
        InputError: bad entries, a holdout outside (0, 1), an unknown method or one a model cannot be solved
            with, or any fit's errors.
    """
    if not 0 < holdout < 1:
        raise InputError(f"holdout must be a fraction in (0, 1), got {holdout!r}")
    if criterion not in CRITERIA:
        raise InputError(f"unknown criterion {criterion!r}: use one of {CRITERIA}")
    rows, split = [], float("nan")
    for label, name, options in _entries(models):
        fitted = fit(data, name, **fit_options, **options)
        if criterion != "forecast":
            rows.append({"model": label, **information_criteria(fitted)})
            continue
        scores = compare(fitted, data, holdout=holdout, methods=method)
        solved = scores.isel(solution=-1)  # the one solution method asked for
        if scores.attrs.get("forecast_note"):
            raise InputError(f"model {label}: {scores.attrs['forecast_note']}")
        split = scores.attrs["forecast_split"]
        allowed = fitted.coefficients != 0
        rows.append(
            {
                "model": label,
                "forecast_error": float(solved.nrmse_forecast.mean(skipna=False)),
                "r2_forecast": float(solved.r2_forecast_sample.mean()),
                "r2_derivative": float(fitted.r2_derivative.mean()),
                "terms": float(allowed.sum("term").mean()),
                # the ranked forecast's own blow-up: the full window's solution may well have stayed finite
                "diverged": float(solved.diverged_forecast.astype(float).mean()),
            }
        )
    key = "forecast_error" if criterion == "forecast" else criterion
    errors = np.array([row[key] for row in rows])
    order = np.argsort(np.where(np.isfinite(errors), errors, np.inf), kind="stable")
    columns = [name for name in rows[0] if name != "model"]
    ds = xr.Dataset(
        {name: ("model", [rows[i][name] for i in order]) for name in columns},
        coords={"model": [rows[i]["model"] for i in order]},
    )
    ds["rank"] = ("model", np.arange(1, len(rows) + 1))
    if criterion == "forecast":
        ds["forecast_error"].attrs["description"] = "held-out forecast RMSE over each component's range, mean"
        ds.attrs = {"holdout": float(holdout), "forecast_split": split}
    else:
        ds.attrs = {"criterion": criterion}
    return ds


CRITERIA = ("forecast", "aic", "bic", "aicc")
"""The rankings :func:`select` offers: the held-out forecast error, or an information criterion."""


def information_criteria(fitted) -> dict[str, float]:
    """AIC, BIC and AICc of a fit's derivative regression, summed over its samples.

    Each equation's residuals are taken as Gaussian with their own variance, so the log-likelihood of ``n``
    derivative rows is ``-n/2 sum_c log(RSS_c / n)`` up to a constant that every model of the same data shares;
    ``RSS_c / n`` is ``(1 - R²_c)`` times the derivative's variance, so ``n sum_c log(1 - R²_c)`` ranks alike and
    is free of the data's units. ``k`` counts the non-zero coefficients (a pruned term costs nothing), and AICc
    adds ``2k(k + 1) / (N - k - 1)`` with ``N`` the residuals of all equations.

    Arguments:
        fitted: a :class:`~dynamics.FittedODE`.

    Returns:
        ``{"aic", "bic", "aicc", "terms", "r2_derivative"}``; lower criteria are better.
    """
    n = fitted.t.size
    unexplained = np.clip(1.0 - fitted.r2_derivative.values, np.finfo(np.float64).tiny, None)
    fit_term = float(n * np.log(unexplained).sum())
    k = int((fitted.coefficients != 0).sum())
    total = n * unexplained.size
    aic = fit_term + 2 * k
    return {
        "aic": aic,
        "bic": fit_term + k * np.log(total),
        "aicc": aic + (2 * k * (k + 1) / (total - k - 1) if total > k + 1 else np.inf),
        "terms": float((fitted.coefficients != 0).sum("term").mean()),
        "r2_derivative": float(fitted.r2_derivative.mean()),
    }
