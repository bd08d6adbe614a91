"""Choosing a model's penalty by cross-validation that keeps time order: ``alpha="cv"``, ``threshold="cv"``.

The folds are contiguous blocks of time (a gap of :data:`GAP` rows either side of the held-out block is left
out of training, since a derivative estimate shares data points with its neighbours), or, for a pooled fit of
several samples, groups of held-out samples. A candidate's score (``cv_score``) is by default the held-out
error of the fitted right-hand side against the derivative estimate, each component over its variance, summed
over samples; the choice is then the largest penalty whose mean score is within one standard error (over
folds) of the best one (the "one-standard-error rule"): penalties below it fit noise terms that barely change
the held-out error. On noisy derivatives that curve is flat, and the rule prunes true terms too (Lorenz at 1%
noise, 500 points: the ``y`` term of ``dy/dt``). ``cv_score="trajectory"`` scores the fitted ODE itself: solved
over short windows of the held-out block from their first observed state, against the observed states. Its
curve is a plateau while only noise terms go and rises some hundredfold when a true term goes, so the same rule
stops at the plateau's end.
"""

from __future__ import annotations

import warnings

import numpy as np

from dynamics.fitted import evaluate_rhs
from dynamics.problem import group_rows
from fittest.errors import InputError

OPTIONS = {"lasso": "alpha", "sindy": "threshold"}
"""The model option that ``"cv"`` may stand for, per model."""
CV = "cv"
FOLDS = 5
GAP = 2
CANDIDATES = 20
WINDOWS = 4
"""Held-out windows per fold that ``cv_score="trajectory"`` solves over."""
SCORES = ("derivative", "trajectory")
"""What ``cv_score`` may score a held-out fold by."""


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


def check_score(score, option: str | None) -> str:
    """``cv_score`` checked against its declaration in :data:`dynamics.catalog.FIT_OPTIONS`.

    Raises:
        InputError: an unknown score, or a score other than the default without an option given as ``"cv"``.
    """
    from dynamics.catalog import FIT_OPTIONS

    declared = {o.name: o for o in FIT_OPTIONS}["cv_score"]
    score = declared.check(score)
    if score != declared.default and option is None:
        allowed = " or ".join(f"{o}='cv'" for o in dict.fromkeys(OPTIONS.values()))
        raise InputError(f"cv_score={score!r} scores cross-validation, which this fit has none of: give {allowed}")
    return score


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

    Both are scikit-learn's unshuffled :class:`~sklearn.model_selection.KFold`: consecutive samples, or
    consecutive blocks of time with :data:`GAP` rows either side of the held-out block left out of training.

    Raises:
        InputError: too few rows for the folds.
    """
    from sklearn.model_selection import KFold

    if pooled and n_samples >= 2:
        splits = KFold(min(FOLDS, n_samples)).split(np.arange(n_samples))
        return [(train, test, True) for train, test in splits]
    if n_rows < 4 * FOLDS:
        raise InputError(f"cross-validation needs at least {4 * FOLDS} time points in {FOLDS} folds, got {n_rows}")
    out = []
    rows = np.arange(n_rows)
    for _, block in KFold(FOLDS).split(rows):
        near = (rows >= block[0] - GAP) & (rows <= block[-1] + GAP)
        out.append((np.flatnonzero(~near), block, False))
    return out


def choose(regression, option: str, problem, *, score: str = "derivative") -> tuple[float, dict]:
    """The cross-validated value of ``option`` and the table it was chosen from.

    Arguments:
        regression: the :class:`~dynamics.estimators.DerivativeRegression` (``"lasso"`` or ``"sindy"``) whose
            ``option`` is chosen.
        option: ``"alpha"`` or ``"threshold"``.
        problem: the :class:`~dynamics.problem.Problem`; its folds are problems on some of its rows or samples
            (its inputs split with the states).
        score: what a held-out fold is scored by (see :data:`SCORES`): ``"derivative"``, the fitted right-hand
            side against the derivative estimate; ``"trajectory"``, the fitted ODE solved over short windows of
            the held-out block from their first observed state against the observed states
            (:func:`_trajectory_errors`). Either way the choice is the largest penalty within one standard error
            of the best.

    Raises:
        InputError: too few time points for the folds (or the windows), a library the trajectory score cannot
            solve, or every candidate's held-out solution blew up.

    Returns:
        ``(value, table)``: the table holds ``candidates``, ``error`` (mean over folds), ``error_se`` and
        ``folds`` (``"time blocks"`` or ``"samples"``).
    """

    def fit(value, part=problem):
        return regression.with_options(**{option: value}).fit(part)

    candidates = _candidates(regression.model, problem.x, problem.dxdt, fit)
    folds = _folds(problem.x.shape[1], problem.n_samples, problem.pooled)
    errors = (_trajectory_errors if score == "trajectory" else _derivative_errors)(candidates, folds, fit, problem)
    mean, se = _summary(errors)
    best = int(np.nanargmin(mean))
    if not np.isfinite(mean[best]):
        raise InputError(
            "every candidate's held-out trajectories blew up: use cv_score='derivative' or give the penalty"
        )
    within = np.flatnonzero(mean <= mean[best] + se[best])
    chosen = float(candidates[within.max()])
    table = {"candidates": candidates, "error": mean, "error_se": se, "folds": _folds_name(folds)}
    return chosen, table


def _derivative_errors(candidates, folds, fit, problem) -> np.ndarray:
    """Held-out derivative errors ``(candidate, fold)``: the fitted right-hand side against the derivative
    estimate at the held-out rows, each component over its variance, summed over samples and components."""
    xs, ds, u, groups = problem.x, problem.dxdt, problem.u, problem.groups

    def rows(values, index, axis):
        """The states at the index, with their inputs beside them when there are inputs (what the terms read)."""
        x = np.take(values, index, axis=axis)
        return x if u is None else np.concatenate([x, np.take(u, index, axis=axis)], axis=-1)

    variance = np.nanvar(ds, axis=1, keepdims=True)
    variance = np.where(variance > 0, variance, 1.0)
    # a time-block fold scores each group's rows together, over the variance of that group's rows
    group_variance = np.nanvar(group_rows(ds, groups), axis=1, keepdims=True)
    group_variance = np.where(group_variance > 0, group_variance, 1.0)
    errors = np.zeros((candidates.size, len(folds)))
    for i, value in enumerate(candidates):
        for k, (train, test, by_samples) in enumerate(folds):
            if by_samples:
                result = fit(value, problem.select(samples=train))
                x_test, d_test, v_test = rows(xs, test, 0), ds[test], variance[test]
                coefficients = np.repeat(result.coefficients, test.size, axis=0)
                models = None if result.models is None else result.models * test.size
            else:
                result = fit(value, problem.select(rows=train))
                x_test, d_test = group_rows(rows(xs, test, 1), groups), group_rows(ds[:, test], groups)
                v_test = group_variance
                coefficients, models = result.coefficients, result.models
            predicted = evaluate_rhs(result.library, coefficients, models, x_test)
            with warnings.catch_warnings():
                # a shorter sample may have no rows in a block: it adds nothing to that fold's error
                warnings.simplefilter("ignore", RuntimeWarning)
                errors[i, k] = float(np.nansum(np.nanmean(((predicted - d_test) ** 2) / v_test, axis=1)))
    return errors


def _folds_name(folds) -> str:
    return "samples" if folds[0][2] else "time blocks"


def _summary(errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean over folds and its standard error, inf where a fold's solution blew up."""
    with np.errstate(invalid="ignore"):
        mean = errors.mean(axis=1)
        se = np.where(np.isfinite(mean), errors.std(axis=1, ddof=1) / np.sqrt(errors.shape[1]), np.inf)
    return mean, se


def _trajectory_errors(candidates, folds, fit, problem) -> np.ndarray:
    """Held-out trajectory errors ``(candidate, fold)``: each fold's fits solved from the first state of each of
    :data:`WINDOWS` windows of its held-out rows (of held-out samples: of their whole series) to the window's
    end, and compared with the states there; squared errors over each component's variance, mean over windows
    and time points, summed over samples and components as the derivative score is. A blown-up solution scores
    inf.

    Short windows keep the score informative on chaotic systems, whose long solutions part from the data
    whatever the model; restarting from observed states keeps one early error from spoiling a whole block.
    """
    from dynamics.solve import diffrax_solve

    xs, t, u = problem.x, problem.t, problem.u
    n_samples, n_rows, n_components = xs.shape
    variance = np.nanvar(xs, axis=1)  # (S, C)
    variance = np.where(variance > 0, variance, 1.0)
    tested = [np.arange(n_rows) if by_samples else test for _, test, by_samples in folds]
    horizon = min(test.size for test in tested) // WINDOWS
    if horizon < 2:
        raise InputError(f"cv_score='trajectory' needs at least {2 * WINDOWS * FOLDS} time points, got {n_rows}")
    errors = np.zeros((candidates.size, len(folds)))
    for k, ((train, test, by_samples), rows) in enumerate(zip(folds, tested, strict=True)):
        samples = test if by_samples else np.arange(n_samples)
        part = problem.select(samples=train) if by_samples else problem.select(rows=train)
        fits = [fit(value, part) for value in candidates]
        if any(result.models is not None for result in fits):
            raise InputError(
                "cv_score='trajectory' solves the fitted ODE, which needs a polynomial library: use "
                "cv_score='derivative'"
            )
        # (candidate, sample, C, P): a pooled fit's one ODE serves every sample
        coefficients = np.stack(
            [np.broadcast_to(r.coefficients, (samples.size,) + r.coefficients.shape[1:]) for r in fits]
        )
        flat = coefficients.reshape((-1,) + coefficients.shape[2:])
        total = np.zeros((candidates.size, samples.size))
        for w in range(WINDOWS):
            window = rows[w * horizon : (w + 1) * horizon]
            observed = xs[samples][:, window]  # (sample, h, C)
            start = np.broadcast_to(observed[:, 0], (candidates.size,) + observed[:, 0].shape).reshape(-1, n_components)
            forcing = None
            if u is not None:
                seen = u[samples][:, window]
                forcing = np.broadcast_to(seen, (candidates.size,) + seen.shape).reshape((-1,) + seen.shape[1:])
            bound = 1e3 * max(1.0, float(np.nanmax(np.abs(observed))))
            solved, diverged = diffrax_solve(
                flat, fits[0].library.factors, start, t[window], bound=bound, inputs=forcing
            )
            solved = solved.reshape((candidates.size, samples.size) + observed.shape[1:])
            with np.errstate(invalid="ignore", over="ignore"):
                squared = (solved - observed[None]) ** 2 / variance[samples][None, :, None, :]
                error = np.nanmean(squared, axis=2).sum(axis=-1)  # (candidate, sample)
            blown = diverged.reshape(candidates.size, samples.size) | ~np.isfinite(error)
            # a shorter sample's padding: a window past its end holds nothing to score
            unseen = ~np.isfinite(observed[:, 0]).all(axis=-1)
            total += np.where(unseen[None], 0.0, np.where(blown, np.inf, error))
        errors[:, k] = total.sum(axis=1) / WINDOWS
    return errors
