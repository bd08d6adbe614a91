"""Does a fitness measure predict survival? Correlations and a linear SVM (paper sections 3.2.1-3.2.2).

The paper reports a Pearson correlation of 0.85 (p < 1e-3) between initial signal and survival rate and an
SVM accuracy of 83.8% separating survivors from dead frequencies. With about 4 survivors among 29 circles
the guess "everything dies" already scores about 86%, so :func:`separability` reports that baseline and the
balanced accuracy (the mean of the two classes' recalls, 0.5 for any constant guess) beside the accuracy.

Both work on any component dimension (frequencies, irreps, units, principal components): an observation is one
element the two sides share. ``component=`` names the dimension the observations are per component along, and
then refuses a side that lacks it, which would otherwise be spread over the components by broadcasting.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping

import numpy as np
import xarray as xr
from scipy import stats

from fittest.errors import InputError

__all__ = ["correlation", "separability"]


def _pairs(x: xr.DataArray, y: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """The finite (x, y) pairs of two DataArrays, aligned on their shared coordinates."""
    if not isinstance(x, xr.DataArray) or not isinstance(y, xr.DataArray):
        raise InputError("correlation() takes two xarray DataArrays, e.g. a fitness measure and a survival rate")
    if not (set(x.dims) <= set(y.dims) or set(y.dims) <= set(x.dims)):
        # each side has a dimension the other lacks: broadcasting would pair every element with every other
        raise InputError(
            f"correlation(): the dimensions {x.dims} and {y.dims} do not nest, so the pairs would be an outer "
            "product; rename the shared dimension on one side (.rename) or reduce the extra one (.mean)"
        )
    x, y = xr.align(x, y, join="inner")
    x, y = xr.broadcast(x, y)
    a = x.transpose(*y.dims).values.astype(np.float64).ravel()
    b = y.values.astype(np.float64).ravel()
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def _has_component(data, component: str | None, what: str, purpose: str) -> None:
    """Refuse ``data`` (a DataArray, or each variable of a Dataset or mapping) without the ``component`` dim."""
    if component is None:
        return
    arrays = data.items() if isinstance(data, xr.Dataset | Mapping) else [(data.name, data)]
    for name, da in arrays:
        if isinstance(da, xr.DataArray) and component not in da.dims:
            raise InputError(
                f"{purpose}: {what} {name!r} has no {component!r} dimension (its dims: {da.dims}); give it per "
                f"{component} or pass the component dimension it has"
            )


def correlation(x: xr.DataArray, y: xr.DataArray, *, component: str | None = None) -> xr.Dataset:
    """Pearson and Spearman correlation between two labelled quantities, with two-sided p-values.

    Every element that both share (after aligning their coordinates) is one observation; pairs with a NaN
    are dropped. Typical use: ``correlation(fitness.initial_signal, rate.rate)`` with both per
    (embedding, frequency), the paper's figure 6 left; the same with ``irrep`` or any component dimension.

    Arguments:
        x, y: the two quantities.
        component: when given, the component dimension both sides must have (``"frequency"``, ``"irrep"``,
            ...); it is recorded in the result's attributes. ``None``: any shared elements, as they come.

    Returns:
        Dataset of scalars ``pearson_r``, ``pearson_p``, ``spearman_r``, ``spearman_p`` and ``n``.

    Raises:
        InputError: fewer than 3 shared finite pairs, one side is constant, each side has a dimension the
            other lacks, or a side lacks ``component``.
    """
    if isinstance(x, xr.DataArray) and isinstance(y, xr.DataArray):
        _has_component(x, component, "x", "correlation()")
        _has_component(y, component, "y", "correlation()")
    a, b = _pairs(x, y)
    if a.size < 3:
        raise InputError(f"correlation() needs at least 3 shared finite pairs, got {a.size}; check the coordinates")
    for values, name in ((a, x.name or "x"), (b, y.name or "y")):
        if np.ptp(values) == 0:
            raise InputError(f"correlation(): {name} is constant over the shared elements, so no correlation exists")
    pearson = stats.pearsonr(a, b)
    spearman = stats.spearmanr(a, b)
    return xr.Dataset(
        {
            "pearson_r": float(pearson.statistic),
            "pearson_p": float(pearson.pvalue),
            "spearman_r": float(spearman.statistic),
            "spearman_p": float(spearman.pvalue),
            "n": a.size,
        },
        attrs={"x": str(x.name), "y": str(y.name), **({"component": component} if component is not None else {})},
    )


def _design(features, alive: xr.DataArray) -> tuple[np.ndarray, np.ndarray, list[str], xr.DataArray]:
    if isinstance(features, xr.DataArray):
        features = {features.name or "feature": features}
    if not isinstance(features, xr.Dataset | Mapping) or len(features) == 0:
        raise InputError("separability() takes features as a Dataset or a mapping of name -> DataArray")
    if not isinstance(alive, xr.DataArray) or alive.dtype != bool:
        raise InputError("separability() takes the boolean DataArray that survivors() returns as alive")
    names = [str(n) for n in features]
    table = xr.Dataset({str(n): features[n] for n in features})
    table["alive"] = alive
    extra = [d for d in table.dims if d not in alive.dims]
    if extra:
        raise InputError(f"separability(): features have dimensions {extra} that survivors do not; select one value")
    flat = table.to_dataframe().reset_index()
    X = flat[names].to_numpy(dtype=np.float64)
    y = flat["alive"].to_numpy(dtype=bool)
    keep = np.all(np.isfinite(X), axis=1)
    return X[keep], y[keep], names, flat.loc[keep]


def separability(
    features,
    alive: xr.DataArray,
    *,
    cv: int = 5,
    C: float = 1.0,
    class_weight: str | None = None,
    groups: Hashable | None = None,
    seed: int = 0,
    component: str | None = None,
) -> xr.Dataset:
    """How well a linear SVM separates survivors from dead components on fitness measures (section 3.2.2).

    A scikit-learn pipeline ``StandardScaler -> LinearSVC`` is cross-validated on one sample per
    (run, component): per (run, frequency) for the paper's circles. The features are standardised because the
    initial amplitude and the growth differ by orders of magnitude.

    Arguments:
        features: Dataset (e.g. ``fitness(ds)[["initial_signal", "growth"]]``) or mapping of DataArrays with
            the dimensions of ``alive``.
        alive: boolean DataArray from :func:`training.survivors`.
        cv: number of folds (stratified, shuffled with ``seed``).
        C: the SVM's inverse regularisation strength.
        class_weight: ``None`` (the paper's plain SVM) or ``"balanced"`` to weigh survivors up.
        groups: a dimension or coordinate of ``alive`` (e.g. ``"run"``) whose values never straddle a training
            and a test fold (GroupKFold): components of one run share an embedding, so this gives the more
            honest score. ``None``: stratified folds over all samples, as the paper did.
        seed: seed of the fold shuffle.
        component: when given, the component dimension that ``alive`` and every feature must have; by default
            none is required (a per-run feature is spread over the components). Recorded in the attributes.

    Returns:
        Dataset with, per ``fold``, ``accuracy``, ``balanced_accuracy`` and ``baseline_accuracy`` (the
        all-dead guess on that fold); their means as ``*_mean``; ``baseline_balanced_accuracy`` (0.5);
        ``coef`` (per ``feature``, in standardised units) and ``intercept`` of the SVM fitted on all samples;
        ``n_samples``, ``n_survived``.

    Raises:
        InputError: malformed features, fewer survivors or dead samples than folds, fewer groups than folds, or
            ``alive`` or a feature without ``component``.
    """
    from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if isinstance(alive, xr.DataArray):
        _has_component(alive, component, "alive", "separability()")
    if isinstance(features, xr.DataArray | xr.Dataset | Mapping):
        _has_component(features, component, "the feature", "separability()")
    X, y, names, rows = _design(features, alive)
    n_alive = int(y.sum())
    if min(n_alive, y.size - n_alive) < cv:
        raise InputError(
            f"separability() needs at least cv={cv} survivors and {cv} dead samples, got {n_alive} and "
            f"{y.size - n_alive}; record more runs or lower cv"
        )
    if groups is None:
        splitter, labels = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed), None
    else:
        if groups not in rows.columns:
            raise InputError(f"separability(): groups={groups!r} is not a dimension or coordinate of alive")
        labels = rows[groups].to_numpy()
        if np.unique(labels).size < cv:
            raise InputError(f"separability(): {np.unique(labels).size} groups cannot fill cv={cv} folds")
        splitter = GroupKFold(n_splits=cv)
    model = make_pipeline(StandardScaler(), LinearSVC(C=C, class_weight=class_weight, random_state=seed))
    scores = cross_validate(
        model, X, y, groups=labels, cv=splitter, scoring=("accuracy", "balanced_accuracy"), return_indices=True
    )
    baseline = np.array([1 - y[test].mean() for test in scores["indices"]["test"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a convergence note on the full fit does not change the folds' scores
        model.fit(X, y)
    svm = model[-1]
    fold = np.arange(cv)
    result = xr.Dataset(
        {
            "accuracy": ("fold", scores["test_accuracy"]),
            "balanced_accuracy": ("fold", scores["test_balanced_accuracy"]),
            "baseline_accuracy": ("fold", baseline),
            "accuracy_mean": scores["test_accuracy"].mean(),
            "balanced_accuracy_mean": scores["test_balanced_accuracy"].mean(),
            "baseline_accuracy_mean": baseline.mean(),
            "baseline_balanced_accuracy": 0.5,
            "coef": ("feature", svm.coef_[0]),
            "intercept": float(svm.intercept_[0]),
            "n_samples": y.size,
            "n_survived": n_alive,
        },
        coords={"fold": fold, "feature": names},
        attrs={
            "model": "StandardScaler + LinearSVC",
            "C": C,
            "class_weight": str(class_weight),
            "cv": "GroupKFold by " + str(groups) if groups is not None else "StratifiedKFold (shuffled)",
            **({"component": component} if component is not None else {}),
        },
    )
    return result
