"""The models: one fitting function each, registered by name in :data:`MODELS`.

A fitter takes states and derivatives of shape ``(S, N, C)`` (``S`` samples, each with its own ODE) and
returns a :class:`FitResult` with coefficients of shape ``(S, C, P)`` on a term :class:`~dynamics.library.Library`.
With ``groups`` (``(S,)`` labels, :attr:`dynamics.problem.Problem.groups`) it fits one ODE to each group's
samples together and returns one per group (``S = 1`` when all samples share one, :func:`dynamics.fit`'s
``pool=True``). A row that is NaN (the padding of a shorter sample, see :func:`observed_rows`) is left out of
its sample's regression, and out of its group's.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dynamics import library as lib
from dynamics.catalog import MODEL_SPECS
from dynamics.problem import fewest_rows, group_rows, grouping
from dynamics.problem import members as group_members
from fittest.errors import InputError

# the options' defaults and choices are declared once, in dynamics.catalog
_LINEAR, _LASSO, _LOTKA_VOLTERRA, _SINDY = (
    MODEL_SPECS[name].defaults for name in ("linear", "lasso", "lotka_volterra", "sindy")
)


@dataclass
class FitResult:
    """What a fitter hands back.

    Attributes:
        library: the terms.
        coefficients: shape ``(S, C, P)``; zero where the library's mask excludes a term.
        info: per-sample diagnostics, each of shape ``(S,)`` (``rank``, ``converged``, ...).
        options: the options the fit used, as stored in the result's attributes.
        models: per-sample third-party models that can evaluate the right-hand side when the library is
            not polynomial (pysindy with a Fourier library, ...); None otherwise.
        members: the coefficients of each member of an ensemble fit (pysindy's ``EnsembleOptimizer``), shape
            ``(S, M, C, P)``; None for other fits.
    """

    library: lib.Library
    coefficients: np.ndarray
    info: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    models: list | None = None
    members: np.ndarray | None = None


def lstsq(X: np.ndarray, Y: np.ndarray, *, rcond: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-norm least squares for a stack of problems, via SVD of column-scaled design matrices.

    Arguments:
        X: shape ``(S, N, P)``.
        Y: shape ``(S, N, K)``.
        rcond: singular values below ``rcond`` times the largest count as zero; numpy's default
            ``eps * max(N, P)`` when None.

    Returns:
        ``(coef, rank)``: shapes ``(S, P, K)`` and ``(S,)``.
    """
    scale = np.linalg.norm(X, axis=1, keepdims=True)  # (S, 1, P): equalise columns before judging rank
    scale = np.where(scale > 0, scale, 1.0)
    U, s, Vt = np.linalg.svd(X / scale, full_matrices=False)
    if rcond is None:
        rcond = np.finfo(np.float64).eps * max(X.shape[1], X.shape[2])
    keep = s > rcond * s[:, :1]
    inverse = np.where(keep, 1.0 / np.where(keep, s, 1.0), 0.0)
    coef = np.einsum("sqp,sq,snq,snk->spk", Vt, inverse, U, Y, optimize=True)
    return coef / scale.transpose(0, 2, 1), keep.sum(axis=1)


def observed_rows(x: np.ndarray, dxdt: np.ndarray) -> np.ndarray | None:
    """Shape ``(S, N)``: True where a row holds data, False on the NaN padding of a shorter sample; None when
    every row holds data (the fitters then take their unmasked path, bit for bit as before)."""
    rows = np.isfinite(x).all(axis=-1) & np.isfinite(dxdt).all(axis=-1)
    return None if rows.all() else rows


def _fewest_rows(x: np.ndarray, rows: np.ndarray | None) -> int:
    """The number of data rows of the shortest sample."""
    return x.shape[1] if rows is None else int(rows.sum(axis=1).min())


def _masked_lstsq(library: lib.Library, x: np.ndarray, dxdt: np.ndarray, *, rcond: float | None = None):
    """Least squares of each target on the terms its mask allows; one solve for all targets when unmasked.

    Padded rows (NaN) are zeroed in the design and the target: a zero row adds nothing to a least-squares
    problem, so each sample is solved on its own rows, all samples still in one stacked solve.
    """
    factors = library.factors
    n_samples, _, n_components = dxdt.shape  # x may hold the control inputs beside the states
    coefficients = np.zeros((n_samples, n_components, library.n_terms))
    rows = observed_rows(x, dxdt)

    def design(columns):
        terms = lib.evaluate(columns, x)
        return terms if rows is None else np.where(rows[..., None], terms, 0.0)

    if rows is not None:
        dxdt = np.where(rows[..., None], dxdt, 0.0)
    if library.mask.all():
        coef, rank = lstsq(design(factors), dxdt, rcond=rcond)
        return coef.transpose(0, 2, 1), rank
    rank = np.full(n_samples, np.iinfo(np.int64).max)
    for target in range(n_components):
        columns = np.flatnonzero(library.mask[target])
        coef, target_rank = lstsq(design(factors[columns]), dxdt[..., target : target + 1], rcond=rcond)
        coefficients[:, target, columns] = coef[..., 0]
        rank = np.minimum(rank, target_rank)
    return coefficients, rank


def _groups_or_pooled(fitter: Callable[..., FitResult]) -> Callable[..., FitResult]:
    """``fitter`` that also takes the older ``pooled=True`` (all samples in one group) in place of ``groups``,
    so that a direct call written for it keeps working; the fitter itself sees only the groups."""

    @functools.wraps(fitter)
    def fit(x, dxdt, *, pooled: bool | None = None, **options) -> FitResult:
        if pooled is not None:
            if options.get("groups") is not None:
                raise InputError("give groups= or pooled=, not both")
            options["groups"] = grouping(np.shape(x)[0], pool=bool(pooled))
        return fitter(x, dxdt, **options)

    return fit


@_groups_or_pooled
def fit_linear(
    x,
    dxdt,
    *,
    names: Sequence[str],
    t=None,
    groups: np.ndarray | None = None,
    rcond: float | None = _LINEAR["rcond"],
    stable: bool = _LINEAR["stable"],
    rank: int | None = _LINEAR["rank"],
    u: np.ndarray | None = None,
    inputs: Sequence[str] = (),
    support: dict | None = None,
) -> FitResult:
    """``dx/dt = A x + b`` by ordinary least squares (a direct SVD solve, no iterations); with control inputs
    ``u``, ``dx/dt = A x + B u + b``.

    Options:
        rcond: relative cut-off for small singular values (rank-deficient data gives the minimum-norm fit).
        stable: require every eigenvalue of ``A`` to have a negative real part. The least-squares ``A`` is kept
            when it is stable (the constraint is then inactive); otherwise the fit is the least-squares one among
            the matrices whose symmetric part ``(A + A^T) / 2`` is negative definite (see :func:`stable_lstsq`).
            ``info["stable_constrained"]`` says which samples needed the constraint.
        rank: keep this many modes of the states, as DMD's rank truncation: the centred states are projected
            on their ``rank`` leading singular vectors ``U``, the reduced operator is fitted there, and
            ``A = U A_r U^T`` (its other eigenvalues are 0). For high-dimensional data that live on a few modes.
        u, inputs: the inputs at the rows of ``x``, shape ``(S, N, m)``, and their names.
        support: ``{target: [terms]}``, the terms each named target may use (see :func:`dynamics.library.restrict`).

    Raises:
        InputError: ``stable`` or ``rank`` combined with ``support`` or with each other, ``rank`` with inputs,
            or ``rank`` above the number of components.
    """
    if not isinstance(stable, bool | np.bool_):
        raise InputError(f"stable must be True or False, got {stable!r}")
    if (stable or rank is not None) and support is not None:
        raise InputError("stable= and rank= fit the whole A: give them without support=, or fit with support alone")
    if stable and rank is not None:
        raise InputError("stable= and rank= cannot be combined: a truncated A is already singular; choose one")
    if rank is not None and u is not None:
        raise InputError("rank= truncates the states' modes of a fit without inputs: fit with u= or rank=, not both")
    if rank is not None and rank > len(names):
        raise InputError(f"rank must be at most the number of components ({len(names)}), got {rank}")
    n_components = len(names)
    if u is not None:
        x = np.concatenate([x, u], axis=-1)  # the terms are monomials of [x, u], as in pysindy
    x, dxdt = group_rows(x, groups), group_rows(dxdt, groups)
    library = lib.restrict(lib.affine(names, inputs if u is not None else ()), support, names)
    lib.check_terms(library, _fewest_rows(x, observed_rows(x, dxdt)))
    options = {"rcond": rcond, **({"stable": True} if stable else {}), **({"rank": rank} if rank is not None else {})}
    if rank is not None:
        coefficients = _truncated_fit(x, dxdt, int(rank))
        return FitResult(library, coefficients, {"rank": np.full(x.shape[0], int(rank))}, options)
    coefficients, solved_rank = _masked_lstsq(library, x, dxdt, rcond=rcond)
    info = {"rank": solved_rank}
    if stable:
        a = coefficients[:, :, :n_components]
        unstable = np.linalg.eigvals(a).real.max(axis=-1) >= 0
        for sample in np.flatnonzero(unstable):
            coefficients[sample] = stable_lstsq(x[sample], dxdt[sample], n_components)
        info["stable_constrained"] = unstable
    return FitResult(library, coefficients, info, options)


def _observed(x: np.ndarray, dxdt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One sample's rows that hold data."""
    keep = np.isfinite(x).all(axis=-1) & np.isfinite(dxdt).all(axis=-1)
    return x[keep], dxdt[keep]


def stable_lstsq(
    x: np.ndarray, dxdt: np.ndarray, n_components: int, *, margin: float = 1e-6, iterations: int = 20_000
) -> np.ndarray:
    """Least squares of ``dx/dt = A x (+ B u) + b`` with ``(A + A^T) / 2`` negative definite, for one sample.

    That set is convex and lies inside the stable matrices: ``x^T A x < 0`` makes ``|x|^2`` a Lyapunov function,
    so every eigenvalue has real part ``<= -margin * |A_ls|``. It is smaller than the set of stable matrices (a
    stable but far from normal ``A`` is outside it), the price of a convex problem with one global minimum. The
    constant is eliminated by centring; the rest is accelerated projected gradient (FISTA), the projection
    clipping the symmetric part's eigenvalues (the skew part is free).

    Arguments:
        x: the states (and inputs after them), ``(N, C + m)``; NaN rows are left out.
        dxdt: the derivatives, ``(N, C)``.
        n_components: ``C``, the states among the columns of ``x``.
        margin: the symmetric part's largest eigenvalue, relative to the least-squares ``A``'s norm, is below
            ``-margin``.
        iterations: the most gradient steps.

    Returns:
        Coefficients ``(C, C + m + 1)`` on ``[x, u, 1]``.
    """
    x, dxdt = _observed(x, dxdt)
    mean_x, mean_d = x.mean(axis=0), dxdt.mean(axis=0)
    xc, dc = x - mean_x, dxdt - mean_d
    gram, cross = xc.T @ xc, xc.T @ dc  # the objective |xc W - dc|^2 / 2 has gradient gram W - cross
    step = 1.0 / max(float(np.linalg.eigvalsh(gram).max()), np.finfo(np.float64).tiny)
    w = np.linalg.lstsq(xc, dc, rcond=None)[0]  # (C + m, C): W = [A^T; B^T]
    floor = -margin * max(float(np.linalg.norm(w[:n_components])), 1.0)

    def project(w):
        a = w[:n_components].T
        symmetric, skew = (a + a.T) / 2, (a - a.T) / 2
        values, vectors = np.linalg.eigh(symmetric)
        clipped = (vectors * np.minimum(values, floor)) @ vectors.T
        out = w.copy()
        out[:n_components] = (clipped + skew).T
        return out

    w = previous = project(w)
    momentum = 1.0
    for _ in range(iterations):
        next_momentum = (1 + np.sqrt(1 + 4 * momentum**2)) / 2
        y = w + (momentum - 1) / next_momentum * (w - previous)
        previous, w = w, project(y - step * (gram @ y - cross))
        momentum = next_momentum
        if np.linalg.norm(w - previous) <= 1e-12 * max(np.linalg.norm(w), 1.0):
            break
    b = mean_d - mean_x @ w
    return np.concatenate([w.T, b[:, None]], axis=1)


def _truncated_fit(x: np.ndarray, dxdt: np.ndarray, rank: int) -> np.ndarray:
    """``A x + b`` fitted on the ``rank`` leading modes of the centred states, per sample (DMD's projection).

    Returns:
        Coefficients ``(S, C, C + 1)``.
    """
    n_samples, _, n_components = x.shape
    out = np.zeros((n_samples, n_components, n_components + 1))
    for sample in range(n_samples):
        xs, ds = _observed(x[sample], dxdt[sample])
        mean_x, mean_d = xs.mean(axis=0), ds.mean(axis=0)
        modes = np.linalg.svd(xs - mean_x, full_matrices=False)[2][:rank].T  # (C, r)
        z, dz = (xs - mean_x) @ modes, (ds - mean_d) @ modes
        reduced = np.linalg.lstsq(z, dz, rcond=None)[0].T  # dz = A_r z
        a = modes @ reduced @ modes.T
        out[sample, :, :n_components] = a
        out[sample, :, n_components] = mean_d - a @ mean_x
    return out


@_groups_or_pooled
def fit_lasso(
    x,
    dxdt,
    *,
    names: Sequence[str],
    t=None,
    groups: np.ndarray | None = None,
    alpha: float = _LASSO["alpha"],
    solver: str = _LASSO["solver"],
    max_iter: int = _LASSO["max_iter"],
    tol: float = _LASSO["tol"],
    support: dict | None = None,
) -> FitResult:
    """``dx/dt = A x + b`` with an L1 penalty ``alpha`` on ``A`` (``b`` is not penalised).

    Options:
        alpha: the penalty, > 0 (the authors used 0.01). The objective is scikit-learn's
            ``||y - X w - b||^2 / (2 N) + alpha ||w||_1``, per target.
        solver: ``"lars"`` (default): the exact minimiser by least-angle regression (scikit-learn's
            ``LassoLars``). ``"cd"``: coordinate descent (``Lasso``), what the authors ran; the amplitudes of
            different circles are strongly collinear, and there it stops at ``max_iter`` short of the minimum
            (measured on the shipped p = 59 ensemble: unconverged in every run, a higher objective, 25x slower).
        max_iter, tol: coordinate-descent limits (``solver="cd"``); ``info["converged"]`` says whether each
            sample converged.
        support: ``{target: [terms]}``, the terms each named target may use (see :func:`dynamics.library.restrict`);
            a target is then fitted on its own terms, with an intercept only when ``"1"`` is among them.

    Raises:
        InputError: ``alpha`` is not a positive number, or an unknown solver.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Lasso, LassoLars

    spec = MODEL_SPECS["lasso"]
    if isinstance(alpha, str):  # "cv" is fit()'s word; a fitter needs the number cross-validation chose
        raise InputError(f"alpha must be a number > 0, got {alpha!r}: for no penalty use model='linear'")
    alpha = spec.option("alpha").check(alpha)
    if solver not in spec.option("solver").choices:
        raise InputError(f"unknown Lasso solver {solver!r}: use 'lars' (exact) or 'cd' (coordinate descent)")
    # scikit-learn's own InvalidParameterError would reach the user as a traceback
    max_iter, tol = spec.option("max_iter").check(max_iter), spec.option("tol").check(tol)
    x, dxdt = group_rows(x, groups), group_rows(dxdt, groups)
    library = lib.restrict(lib.affine(names), support, names)
    rows = observed_rows(x, dxdt)
    lib.check_terms(library, _fewest_rows(x, rows))
    n_samples, _, n_components = x.shape
    coefficients = np.zeros((n_samples, n_components, n_components + 1))
    converged = np.ones(n_samples, dtype=bool)

    def one_fit(states, derivatives, intercept):
        if solver == "lars":
            model = LassoLars(alpha=alpha, fit_intercept=intercept, max_iter=int(max_iter))
        else:
            model = Lasso(alpha=alpha, fit_intercept=intercept, max_iter=int(max_iter), tol=float(tol))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(states, derivatives)
        return model, not any(issubclass(w.category, ConvergenceWarning) for w in caught)

    for sample in range(n_samples):
        keep = slice(None) if rows is None else rows[sample]
        if library.mask.all():
            model, converged[sample] = one_fit(x[sample][keep], dxdt[sample][keep], True)
            coefficients[sample, :, :n_components] = model.coef_
            coefficients[sample, :, n_components] = model.intercept_
            continue
        for target in range(n_components):
            # the constant is the library's last term; the rest are the states, in order
            columns = np.flatnonzero(library.mask[target, :n_components])
            intercept = bool(library.mask[target, n_components])
            if columns.size:
                model, ok = one_fit(x[sample][keep][:, columns], dxdt[sample][keep][:, target], intercept)
                coefficients[sample, target, columns] = model.coef_
                coefficients[sample, target, n_components] = model.intercept_ if intercept else 0.0
                converged[sample] &= ok
            else:
                coefficients[sample, target, n_components] = np.mean(dxdt[sample][keep][:, target])
    return FitResult(
        library,
        coefficients,
        {"converged": converged},
        {"alpha": alpha, "solver": solver, "max_iter": max_iter, "tol": tol},
    )


@_groups_or_pooled
def fit_lotka_volterra(
    x,
    dxdt,
    *,
    names: Sequence[str],
    t=None,
    groups: np.ndarray | None = None,
    form: str = _LOTKA_VOLTERRA["form"],
    support: dict | None = None,
) -> FitResult:
    """Lotka-Volterra by least squares.

    Options:
        form: ``"glv"`` (default), the generalised Lotka-Volterra ``dx_i/dt = x_i (r_i + sum_j a_ij x_j)``;
            ``"quadratic"``, the paper's eq. 2: every equation uses every ``x_j`` and every ``x_j x_k``.
        support: ``{target: [terms]}``, the terms of ``x_j`` and ``x_j x_k`` each named target may use instead
            (see :func:`dynamics.library.restrict`): the classic predator-prey model is
            ``{"x": ["x", "x y"], "y": ["y", "x y"]}``, without the self-interactions ``x^2``, ``y^2``.

    Raises:
        InputError: an unknown form.
    """
    if form == "glv":
        library = lib.lotka_volterra(names)
    elif form == "quadratic":
        library = lib.quadratic(names)
    else:
        raise InputError(f"unknown Lotka-Volterra form {form!r}: use 'glv' or 'quadratic'")
    library = lib.restrict(library, support, names)
    x, dxdt = group_rows(x, groups), group_rows(dxdt, groups)
    lib.check_terms(library, _fewest_rows(x, observed_rows(x, dxdt)))
    coefficients, rank = _masked_lstsq(library, x, dxdt)
    return FitResult(library, coefficients, {"rank": rank}, {"form": form})


@_groups_or_pooled
def fit_sindy(
    x,
    dxdt,
    *,
    names: Sequence[str],
    t=None,
    groups: np.ndarray | None = None,
    degree: int = _SINDY["degree"],
    threshold: float | None = _SINDY["threshold"],
    feature_library=_SINDY["feature_library"],
    optimizer=_SINDY["optimizer"],
    weak: int | None = _SINDY["weak"],
    u: np.ndarray | None = None,
    inputs: Sequence[str] = (),
    support: dict | None = None,
) -> FitResult:
    """A real :class:`pysindy.SINDy` fit per group of samples (one per sample, or one on all samples'
    trajectories when they form one group).

    The derivatives are the ones computed by ``fit``'s ``derivative`` method and are passed to pysindy as
    ``x_dot``, so every model in this package sees the same derivative estimate.

    Options:
        degree: degree of the default ``pysindy.PolynomialLibrary``.
        threshold: STLSQ threshold of the default optimizer (pysindy's default 0.1 when None).
        feature_library: any pysindy feature library, instead of the polynomial one.
        optimizer: any pysindy optimizer, instead of STLSQ (whose ridge is pysindy's ``alpha=0.05``, or
            ``1e-6`` in the weak form, where the default shrank true terms away). An ``EnsembleOptimizer`` keeps
            its members (:attr:`FitResult.members`).
        weak: the weak form with this many test-function windows: each equation is regressed on integrals of
            the terms and of ``dx/dt`` against smooth test functions over windows of the time grid (pysindy's
            ``WeakPDELibrary`` with ``K=weak``, built on each sample's grid), so the noisy derivatives ``fit``
            computes do not enter the regression; they still give :attr:`~dynamics.FittedODE.r2_derivative`.
            A ``WeakPDELibrary`` given as ``feature_library`` does the same with its own ``K``, ``H_xt`` and
            ``p``, rebuilt on each sample's grid. The fitted terms are those of the function library.
        u, inputs: control inputs at the rows of ``x``, shape ``(S, N, m)``, and their names: passed to
            pysindy's ``fit(x, t, x_dot, u=...)``, whose library then spans ``[x, u]``.
        support: ``{target: [terms]}``, the terms each named target may use (see
            :func:`dynamics.library.restrict`): each such target is fitted again by a fresh copy of the optimizer
            on its own terms' columns of pysindy's library (a library of monomials).

    Raises:
        InputError: the degree is not a positive integer, the threshold is negative, inputs with a library whose
            terms are not monomials, support with terms that are not, the weak form with inputs, support, a
            library that is not monomials, derivative terms or grouped samples on different grids, or pysindy
            refuses the data.
    """
    import pysindy as ps

    spec = MODEL_SPECS["sindy"]
    if feature_library is None:
        if isinstance(degree, float):  # 2.0 would build a library pysindy refuses deep inside
            raise InputError(f"degree must be a positive integer, got {degree!r}")
        feature_library = ps.PolynomialLibrary(degree=spec.option("degree").check(degree))
    weak_form = _weak_form(feature_library, weak, ps)
    if weak_form is not None:
        feature_library = weak_form["function_library"]
        if u is not None or support is not None:
            raise InputError("the weak form takes neither u= nor support=: fit without weak= for those")
    if optimizer is None:
        if isinstance(threshold, str):
            raise InputError(f"threshold must be a finite number >= 0, got {threshold!r} (None keeps pysindy's 0.1)")
        threshold = spec.option("threshold").check(threshold)
        # pysindy's ridge (alpha=0.05) is negligible against thousands of rows of derivatives, but the weak form
        # regresses K integrals over windows of the series, where it shrank true terms below the threshold: on
        # clean Lotka-Volterra every method but the weak form was exact, the weak form lost x (error 1.95); on
        # Lorenz at 1% noise it kept a spurious term (35.4). A vanishing ridge recovers both (3.6e-11, 0.035).
        ridge = {} if weak_form is None else {"alpha": _WEAK_RIDGE}
        optimizer = ps.STLSQ(**ridge) if threshold is None else ps.STLSQ(threshold=threshold, **ridge)
    if t is None:
        t = np.arange(x.shape[1], dtype=np.float64)
    rows = observed_rows(x, dxdt)
    if rows is None:
        rows = np.ones(x.shape[:2], dtype=bool)
    parts = group_members(groups, x.shape[0])
    n_points = fewest_rows(rows, groups)
    n_inputs = 0 if u is None else u.shape[2]
    expected = _polynomial_terms(feature_library, x.shape[2] + n_inputs, ps)
    if expected is not None and expected > n_points:
        # before fitting: a degree-50 library would take minutes to build only to be refused
        raise InputError(
            f"the SINDy library has {expected} terms but only {n_points} derivative points: "
            "widen t_range or lower the degree"
        )
    # pysindy parses its term names on spaces and ^: give it plain names, and label the terms with ours
    plain = [f"x{index}" for index in range(len(names))] + [f"u{index}" for index in range(n_inputs)]
    us = [None] * x.shape[0] if u is None else list(u)
    # each sample's data rows only: pysindy takes trajectories of different lengths as a list
    samples = [
        (xs[keep], ds[keep], t[keep], None if us_ is None else us_[keep])
        for xs, ds, keep, us_ in zip(x, dxdt, rows, us, strict=True)
    ]
    sample_groups = [[samples[index] for index in part] for part in parts]
    models, coefficients, ensemble = [], [], []
    for group in sample_groups:
        xs, ds, ts, controls = (list(part) for part in zip(*group, strict=True))
        controls = None if u is None else controls
        group_library = _fresh(feature_library) if weak_form is None else _weak_library(weak_form, ts, ps, xs)
        # the weak form integrates dx/dt itself: given derivatives would replace its integrals
        ds = ds if weak_form is None else [None] * len(ds)
        model = ps.SINDy(optimizer=_fresh(optimizer), feature_library=group_library)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                if len(xs) == 1:
                    one = None if controls is None else controls[0]
                    model.fit(xs[0], t=ts[0], x_dot=ds[0], u=one, feature_names=plain)
                else:
                    model.fit(xs, t=ts, x_dot=None if weak_form else ds, u=controls, feature_names=plain)
        except (ValueError, TypeError) as error:
            raise InputError(f"pysindy refused the data: {error}") from error
        models.append(model)
        coefficients.append(np.asarray(model.coefficients(), dtype=np.float64))
        # an EnsembleOptimizer keeps each member's coefficients; its own coef_ is only their aggregate
        ensemble.append(getattr(model.optimizer, "coef_list", None))
    feature_names = models[0].get_feature_names()
    if len(feature_names) > n_points:
        raise InputError(
            f"the SINDy library has {len(feature_names)} terms but only {n_points} derivative points: "
            "widen t_range or lower the degree"
        )
    powers = lib.parse_pysindy_names(feature_names, plain)
    if powers is None and n_inputs:
        raise InputError(
            "control inputs need a library of monomials of [x, u] (the fitted ODE is solved with u): use a "
            "PolynomialLibrary, or fit without u"
        )
    if powers is None and weak_form is not None:
        raise InputError(
            "the weak form's fitted ODE is solved from its terms, so they must be monomials: use a PolynomialLibrary "
            "as the function library"
        )
    if powers is None and support is not None:
        raise InputError("support= names monomials: use a PolynomialLibrary (or the default) with support")
    if powers is None:
        try:
            labelled = list(models[0].feature_library.get_feature_names(list(names)))
        except Exception:  # a library that cannot relabel: keep pysindy's names of x0, x1, ...
            labelled = list(feature_names)
        if len(labelled) != len(feature_names) or len(set(labelled)) != len(labelled):
            labelled = list(feature_names)
        library = lib.Library(tuple(labelled), None, np.ones((len(names), len(feature_names)), dtype=bool))
    else:
        library = lib.from_powers(powers, list(names) + list(inputs)[:n_inputs], n_inputs=n_inputs)
        models = None  # the monomials say everything; no need to keep pysindy objects around
        if support is not None:
            library = lib.restrict(library, support, names)
            coefficients = [_refit_on_support(library, group, optimizer) for group in sample_groups]
            ensemble = [None]  # refitted per target: the whole-library members no longer describe the fit
    options = {
        "degree": degree,
        "threshold": threshold,
        "feature_library": _describe(feature_library),
        "optimizer": _describe(optimizer),
        **({} if weak_form is None else {"weak": weak_form["K"]}),
    }
    members = None
    if all(member is not None and len(member) for member in ensemble):
        members = np.stack([np.asarray(member, dtype=np.float64) for member in ensemble])
    return FitResult(library, np.stack(coefficients), {}, options, models, members)


def _refit_on_support(library: lib.Library, group: list, optimizer) -> np.ndarray:
    """One group's coefficients ``(C, P)``: each target regressed by a fresh copy of ``optimizer`` on the columns
    its mask allows (pysindy's optimizers are scikit-learn regressors of a feature matrix)."""
    states = np.concatenate([xs if us is None else np.concatenate([xs, us], axis=-1) for xs, _, _, us in group])
    derivatives = np.concatenate([ds for _, ds, _, _ in group])
    theta = lib.evaluate(library.factors, states)
    out = np.zeros(library.mask.shape)
    for target, allowed in enumerate(library.mask):
        columns = np.flatnonzero(allowed)
        regressor = _fresh(optimizer)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            regressor.fit(theta[:, columns], derivatives[:, target : target + 1])
        out[target, columns] = np.asarray(regressor.coef_, dtype=np.float64).reshape(-1)
    return out


def _describe(estimator) -> str:
    """``repr`` of a pysindy object, or its class name when its repr fails (``CustomLibrary``'s does)."""
    try:
        return repr(estimator)
    except Exception:  # noqa: BLE001 - a third-party repr: any failure falls back to the name
        return f"{type(estimator).__name__}()"


def _fresh(estimator):
    """An unfitted copy of a pysindy library or optimizer, one per sample.

    scikit-learn's ``clone`` rebuilds from ``get_params``, which some pysindy classes do not round-trip
    (``CustomLibrary``, ``WeakPDELibrary`` end in AttributeError); a deep copy of the unfitted object is what
    pysindy itself would fit.
    """
    from sklearn.base import clone

    try:
        return clone(estimator)
    except Exception:  # noqa: BLE001 - any failure of clone: fall back to a copy
        import copy

        try:
            return copy.deepcopy(estimator)
        except Exception as error:
            raise InputError(
                f"the pysindy object {type(estimator).__name__} can be neither cloned nor copied ({error}): "
                "pass one that can, or fit with pysindy directly"
            ) from error


# the default optimizer's ridge in the weak form (see fit_sindy)
_WEAK_RIDGE = 1e-6


def _weak_form(feature_library, weak, ps) -> dict | None:
    """How to build the weak form on a grid (``WeakPDELibrary``'s options but the grid); None for the derivative
    form.

    The weak form is an ODE's when its library has no derivative terms: its features are then integrals of the
    function library's terms, and the fitted coefficients are those of an ODE in those terms.

    Raises:
        InputError: ``weak`` is not a positive integer, or a weak-form library with derivative or implicit
            terms, or one inside another library.
    """
    library_class = getattr(ps, "WeakPDELibrary", None)
    if weak is not None and (isinstance(weak, bool) or not isinstance(weak, int | np.integer) or weak < 1):
        raise InputError(f"weak must be the number of test-function windows, a positive integer; got {weak!r}")
    if library_class is not None and isinstance(feature_library, library_class):
        if feature_library.derivative_order or feature_library.multiindices or feature_library.implicit_terms:
            raise InputError(
                "this WeakPDELibrary has derivative or implicit terms (a PDE's): an ODE fit takes derivative_order=0"
            )
        return {
            "function_library": feature_library.function_library,
            "K": int(weak if weak is not None else feature_library.K),
            "H_xt": feature_library.H_xt,
            "p": feature_library.p,
            "include_bias": feature_library.include_bias,
        }
    stack, seen = list(getattr(feature_library, "libraries", None) or []), 0
    while library_class is not None and stack and seen < 100:
        item, seen = stack.pop(), seen + 1
        if isinstance(item, library_class):
            raise InputError(
                "a WeakPDELibrary inside another library cannot be fitted: give it alone as feature_library, or "
                "pass weak=K with the other library"
            )
        stack.extend(getattr(item, "libraries", None) or [])
    if weak is None:
        return None
    return {"function_library": feature_library, "K": int(weak), "H_xt": _FROM_DATA, "p": 4, "include_bias": False}


def _weak_library(form: dict, times: list, ps, states: list | None = None):
    """A fresh ``WeakPDELibrary`` on the time grid shared by ``times`` (one array per trajectory).

    ``weak=K`` chooses the windows' half-width from the data (:func:`_weak_half_width`); a ``WeakPDELibrary``
    given as the library keeps its own (pysindy's default when None).

    Its windows are placed at random by numpy's global generator: they are drawn from a fixed seed, the
    caller's generator left as it was, so that the same data give the same fit.

    Raises:
        InputError: the trajectories have different grids (grouped samples of different lengths or times).
    """
    grid = np.asarray(times[0], dtype=np.float64)
    if any(t.shape != grid.shape or not np.allclose(t, grid) for t in times[1:]):
        raise InputError(
            "the weak form fits pooled samples on one time grid, and these have different grids: fit them "
            "without pool=True, or on a common t_range"
        )
    state = np.random.get_state()
    try:
        np.random.seed(0)
        return ps.WeakPDELibrary(
            function_library=_fresh(form["function_library"]),
            spatiotemporal_grid=grid,
            K=form["K"],
            H_xt=_weak_half_width(grid, states) if form["H_xt"] is _FROM_DATA else form["H_xt"],
            p=form["p"],
            include_bias=form["include_bias"],
        )
    except ValueError as error:
        raise InputError(f"pysindy's WeakPDELibrary refused the grid: {error}") from None
    finally:
        np.random.set_state(state)


def _weak_half_width(grid: np.ndarray, states: list) -> float:
    """The half-width of ``weak=K``'s test-function windows: pysindy's default, a twentieth of the series,
    or a quarter of the fastest component's dominant period where that is shorter.

    A window that spans a whole oscillation integrates it to nearly nothing: on Hopf's spiral (period 6.3 in 75
    time units) pysindy's half-width of 3.75 lost every term even on clean data; a quarter period kept them (error
    0.009 at 1% noise), and on Lorenz (period 0.77 in 10) it gave 0.009 and 0.033 at 1% and 5% noise against 3.1
    and 30 with a twentieth.
    """
    length = float(grid[-1] - grid[0])
    step = length / max(grid.size - 1, 1)
    x = np.asarray(states[0]) - np.mean(states[0], axis=0)  # pooled samples share the grid: the first one's
    power = np.abs(np.fft.rfft(x, axis=0)) ** 2
    power[0] = 0.0
    fastest = float(np.fft.rfftfreq(grid.size, step)[np.argmax(power, axis=0)].max())
    half = length / 20.0 if fastest <= 0 else min(length / 20.0, 0.25 / fastest)
    return max(half, 10 * step)  # a noise peak must not shrink a window below a few points


# weak=K's windows: their half-width is chosen from the data
_FROM_DATA = "from data"


def _polynomial_terms(feature_library, n_components: int, ps) -> int | None:
    """The number of terms a ``PolynomialLibrary`` will make, without building it; None for other libraries."""
    if type(feature_library) is not ps.PolynomialLibrary:
        return None
    degree = getattr(feature_library, "degree", None)
    if not isinstance(degree, int | np.integer) or isinstance(degree, bool):
        return None
    n, d = n_components, int(degree)
    bias = 1 if getattr(feature_library, "include_bias", True) else 0
    if getattr(feature_library, "interaction_only", False):
        return sum(math.comb(n, k) for k in range(1, min(d, n) + 1)) + bias
    if not getattr(feature_library, "include_interaction", True):
        return n * d + bias
    return math.comb(n + d, d) - 1 + bias


MODELS: dict[str, Callable[..., FitResult]] = {
    "linear": fit_linear,
    "lasso": fit_lasso,
    "lotka_volterra": fit_lotka_volterra,
    "sindy": fit_sindy,
}
"""The registered models: name -> fitting function. Add a model by adding an entry here and its
:class:`~dynamics.catalog.ModelSpec` (options, defaults, help) to :data:`dynamics.catalog.MODEL_SPECS`."""
