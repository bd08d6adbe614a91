"""Choosing a model's penalty by cross-validation that keeps time order: ``alpha="cv"``, ``threshold="cv"``.

The folds are contiguous blocks of time (a gap of :data:`GAP` rows either side of the held-out block is left
out of training, since a derivative estimate shares data points with its neighbours), or, for a pooled fit of
several samples, groups of held-out samples. A candidate's score is the held-out error of the fitted
right-hand side against the derivative estimate, each component over its variance, summed over samples. The
choice is the largest penalty whose mean score is within one standard error (over folds) of the best one
(the "one-standard-error rule"): penalties below it fit noise terms that barely change the held-out error.
"""

from __future__ import annotations

import warnings

import numpy as np

from dynamics.fitted import evaluate_rhs
from dynamics.fitters import MODELS
from fittest.errors import InputError

OPTIONS = {"lasso": "alpha", "sindy": "threshold"}
"""The model option that ``"cv"`` may stand for, per model."""
CV = "cv"
FOLDS = 5
GAP = 2
CANDIDATES = 20


def wants_cv(model: str, model_options: dict) -> str | None:
    """The option of ``model`` given as ``"cv"``, or None.

    Raises:
        InputError: ``"cv"`` given for an option that cannot be cross-validated.
    """
    for name, value in model_options.items():
        if isinstance(value, str) and value == CV:
            if OPTIONS.get(model) != name:
                allowed = ", ".join(f"{m} {o}" for m, o in OPTIONS.items())
                raise InputError(f"{name}='cv' is not a cross-validated option of {model!r}: 'cv' applies to {allowed}")
            return name
    return None


def _candidates(model: str, xs: np.ndarray, ds: np.ndarray, fit) -> np.ndarray:
    """A geometric grid of penalties from one that keeps nearly every term to one that drops them all."""
    if model == "lasso":
        # NaN rows are a shorter sample's padding: they add nothing
        centred_x = np.nan_to_num(xs - np.nanmean(xs, axis=1, keepdims=True))
        centred_d = np.nan_to_num(ds - np.nanmean(ds, axis=1, keepdims=True))
        # scikit-learn's smallest alpha that zeroes every coefficient
        rows = np.isfinite(xs).all(axis=2).sum(axis=1)[:, None, None]
        top = float(np.abs(np.einsum("snc,snk->sck", centred_x, centred_d) / rows).max())
    else:
        top = float(np.abs(fit(0.0).coefficients).max())
    top = top if np.isfinite(top) and top > 0 else 1.0
    return np.geomspace(top * 1e-4, top, CANDIDATES)


def _folds(n_rows: int, n_samples: int, pooled: bool) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """``(train, test, by_samples)`` index sets: sample groups for a pooled fit of several samples, else time blocks.

    Raises:
        InputError: too few rows for the folds.
    """
    if pooled and n_samples >= 2:
        groups = np.array_split(np.arange(n_samples), min(FOLDS, n_samples))
        return [(np.setdiff1d(np.arange(n_samples), g), g, True) for g in groups]
    if n_rows < 4 * FOLDS:
        raise InputError(f"cross-validation needs at least {4 * FOLDS} time points in {FOLDS} folds, got {n_rows}")
    out = []
    for block in np.array_split(np.arange(n_rows), FOLDS):
        near = (np.arange(n_rows) >= block[0] - GAP) & (np.arange(n_rows) <= block[-1] + GAP)
        out.append((np.flatnonzero(~near), block, False))
    return out


def choose(
    model: str, option: str, xs: np.ndarray, ds: np.ndarray, *, names, t, pooled: bool, model_options: dict
) -> tuple[float, dict]:
    """The cross-validated value of ``option`` and the table it was chosen from.

    Arguments:
        model: ``"lasso"`` or ``"sindy"``.
        option: ``"alpha"`` or ``"threshold"``.
        xs, ds: states and derivatives, ``(S, N, C)``, as the fitter takes them.
        names, t, pooled: as for the fitter.
        model_options: the model's other options; ``u`` among them (the inputs at the rows, ``(S, N, m)``) is
            split into the folds with the states.

    Returns:
        ``(value, table)``: the table holds ``candidates``, ``error`` (mean over folds), ``error_se`` and
        ``folds`` (``"time blocks"`` or ``"samples"``).
    """
    fitter = MODELS[model]
    others = {k: v for k, v in model_options.items() if k not in (option, "u")}
    u = model_options.get("u")

    def fit(value, x=xs, d=ds, together=pooled, inputs=u):
        given = {} if inputs is None else {"u": inputs}
        return fitter(x, d, names=names, t=t[: x.shape[1]], pooled=together, **{option: value}, **given, **others)

    def rows(values, index, axis):
        """The states at the index, with their inputs beside them when there are inputs (what the terms read)."""
        x = np.take(values, index, axis=axis)
        return x if u is None else np.concatenate([x, np.take(u, index, axis=axis)], axis=-1)

    candidates = _candidates(model, xs, ds, fit)
    folds = _folds(xs.shape[1], xs.shape[0], pooled)
    variance = np.nanvar(ds, axis=1, keepdims=True)
    variance = np.where(variance > 0, variance, 1.0)
    errors = np.zeros((candidates.size, len(folds)))
    for i, value in enumerate(candidates):
        for k, (train, test, by_samples) in enumerate(folds):
            if by_samples:
                result = fit(value, xs[train], ds[train], True, None if u is None else u[train])
                x_test, d_test, v_test = rows(xs, test, 0), ds[test], variance[test]
                coefficients = np.repeat(result.coefficients, test.size, axis=0)
                models = None if result.models is None else result.models * test.size
            else:
                result = fit(value, xs[:, train], ds[:, train], pooled, None if u is None else u[:, train])
                x_test, d_test, v_test = rows(xs, test, 1), ds[:, test], variance
                coefficients, models = result.coefficients, result.models
                if pooled:
                    x_test = x_test.reshape(1, -1, x_test.shape[2])
                    d_test = d_test.reshape(1, -1, xs.shape[2])
                    v_test = np.nanvar(ds.reshape(1, -1, xs.shape[2]), axis=1, keepdims=True)
            predicted = evaluate_rhs(result.library, coefficients, models, x_test)
            with warnings.catch_warnings():
                # a shorter sample may have no rows in a block: it adds nothing to that fold's error
                warnings.simplefilter("ignore", RuntimeWarning)
                errors[i, k] = float(np.nansum(np.nanmean(((predicted - d_test) ** 2) / v_test, axis=1)))
    mean = errors.mean(axis=1)
    se = errors.std(axis=1, ddof=1) / np.sqrt(len(folds))
    best = int(np.nanargmin(mean))
    within = np.flatnonzero(mean <= mean[best] + se[best])
    chosen = float(candidates[within.max()])
    table = {
        "candidates": candidates,
        "error": mean,
        "error_se": se,
        "folds": "samples" if folds[0][2] else "time blocks",
    }
    return chosen, table
