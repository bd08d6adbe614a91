"""The Dataset that holds a fit: what :func:`build_dataset` makes from a fitter's result, what the bootstrap and
cross-validation add to it, and the checks a file must pass to be read back as a fit.

Everything a fit knows is in this Dataset, so that saving a :class:`dynamics.FittedODE` is writing it and
loading is reading it back (``dynamics.load``).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np
import xarray as xr

from fittest.errors import InputError

SCHEMA = "fittest.fit/1"


def _is_json(value) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True


def _json_safe(options: dict) -> dict:
    """The options that survive a JSON round trip; others (pysindy objects) are kept as their repr."""
    return {key: value if _is_json(value) else repr(value) for key, value in options.items()}


def _replayable(fit_options: dict) -> dict:
    """The ``fit`` arguments that can be stored as JSON and replayed (for the forecast score after loading).

    Objects (a pysindy library, known derivatives) cannot: they are left out and ``replayable`` is False.
    """
    out = {key: value for key, value in fit_options.items() if _is_json(value)}
    if len(out) < len(fit_options):
        out["replayable"] = False
    return out


def build_dataset(
    *, result, traj, r2, model, derivative, pooled, fit_options, x0=None, objective="derivative", inputs=()
) -> xr.Dataset:
    """The Dataset behind a :class:`FittedODE`, from a fitter's result and the trajectories it saw.

    Arguments:
        result: the fitter's :class:`~dynamics.fitters.FitResult`.
        traj: the fitted trajectories.
        r2: R² of the fitted right-hand side per sample and target, shape ``(S, C)``.
        model: the model's name.
        derivative: the derivative method's label.
        pooled: whether one ODE was fitted to all samples.
        fit_options: the arguments of :func:`dynamics.fit`; the JSON-safe ones are stored for a refit.
        x0: the fitted initial states ``(S, C)`` (the trajectory objective); the first observed states when None.
        objective: what the fit minimised, ``"derivative"`` or ``"trajectory"``.
        inputs: the control inputs' names, when the terms include them.

    Returns:
        The Dataset that :meth:`FittedODE.to_dataset` returns and :meth:`FittedODE.save` writes.
    """
    from fittest.provenance import versions

    names = list(result.library.names)
    coef_dims = ("target", "term")
    target = ("target", traj.components)
    if pooled:
        coefficients = xr.DataArray(result.coefficients[0], dims=coef_dims, coords={"target": target, "term": names})
        r2_da = xr.DataArray(r2[0], dims=("target",), coords={"target": target})
        info = {k: xr.DataArray(np.asarray(v)[0]) for k, v in result.info.items()}
    else:
        coefficients = traj.wrap(result.coefficients, coef_dims, {"target": target, "term": names})
        r2_da = traj.wrap(r2, ("target",), {"target": target})
        info = {k: traj.wrap(np.asarray(v), ()) for k, v in result.info.items()}
    ds = xr.Dataset(
        {
            "coefficients": coefficients,
            "r2_derivative": r2_da,
            "x0": traj.wrap(traj.x0 if x0 is None else x0, (traj.component,)),
            "t": xr.DataArray(traj.t, dims=(traj.time,), coords={traj.time: traj.t}),
            "mask": xr.DataArray(result.library.mask, dims=coef_dims),
            **info,
        },
        coords={"source": ("source", traj.components)},
    )
    if result.members is not None:
        members = result.members[0] if pooled else result.members.transpose(0, 2, 3, 1)  # member axis last
        ensemble = (
            xr.DataArray(members, dims=("member",) + coef_dims, coords=coefficients.coords)
            if pooled
            else traj.wrap(members, coef_dims + ("member",), {"target": target, "term": names})
        )
        ensemble = ensemble.transpose("member", ...)
        ds["ensemble_coefficients"] = ensemble
        ds["inclusion_probability"] = (ensemble != 0).mean("member")
    if result.library.is_polynomial:
        n_states = result.library.powers.shape[1] - result.library.n_inputs
        ds["powers"] = xr.DataArray(result.library.powers[:, :n_states], dims=("term", "source"))
        if result.library.n_inputs:
            # the control inputs' exponents: the terms are monomials of [x, u]
            ds["input_powers"] = xr.DataArray(
                result.library.powers[:, n_states:], dims=("term", "input"), coords={"input": list(inputs)}
            )
    ds.attrs = {
        "schema": SCHEMA,
        "model": model,
        "options": json.dumps(_json_safe(result.options)),
        "derivative": derivative,
        "objective": objective,
        "variable": traj.variable or "",
        "time": traj.time,
        "component": traj.component,
        "t_range": json.dumps(traj.t_range),
        "time_coordinate": (
            f"none: the data had no {traj.time!r} coordinate, so time is unit steps 0, 1, 2, ... (rates per step)"
            if traj.unit_steps
            else f"the data's {traj.time!r} coordinate"
        ),
        "pooled": int(pooled),
        "fit_kwargs": json.dumps(_replayable(fit_options)),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": json.dumps(versions("fittest", "numpy", "xarray")),
    }
    return ds


def with_bootstrap(dataset: xr.Dataset, replicates: np.ndarray, traj, pooled: bool, **attrs) -> xr.Dataset:
    """``dataset`` with the bootstrap replicates of its coefficients, ``bootstrap_coefficients``
    (``bootstrap``, samples..., ``target``, ``term``), and what was resampled in its attributes.

    Arguments:
        dataset: what :func:`build_dataset` made.
        replicates: shape ``(B, S, C, P)`` (``S = 1`` when pooled).
        traj: the fitted trajectories, for the sample labels.
        pooled: whether one ODE was fitted to all samples.
        **attrs: ``resampled``, ``seed``, ``block``, ``failed``, ``unconverged``, stored as ``bootstrap_<name>``.
    """
    coefficients = dataset["coefficients"]
    values = replicates[:, 0] if pooled else replicates.reshape((replicates.shape[0],) + coefficients.shape)
    out = dataset.copy()
    out["bootstrap_coefficients"] = xr.DataArray(
        values, dims=("bootstrap",) + coefficients.dims, coords=coefficients.coords
    )
    out.attrs.update({f"bootstrap_{key}": value for key, value in attrs.items()})
    return out


def with_cv(dataset: xr.Dataset, option: str, value: float, table: dict) -> xr.Dataset:
    """``dataset`` with a cross-validation's table: ``cv_error`` and ``cv_error_se`` on ``cv_candidate``, and
    the attributes ``cv_option``, ``cv_choice`` and ``cv_folds``."""
    out = dataset.copy()
    coords = {"cv_candidate": table["candidates"]}
    out["cv_error"] = xr.DataArray(table["error"], dims="cv_candidate", coords=coords)
    out["cv_error_se"] = xr.DataArray(table["error_se"], dims="cv_candidate", coords=coords)
    out.attrs.update({"cv_option": option, "cv_choice": float(value), "cv_folds": table["folds"]})
    return out


def check_loaded(ds: xr.Dataset, where: str) -> dict:
    """Check that a file with the fit schema holds a usable fit; its stored ``fit`` arguments.

    The schema attribute says what the file claims to be; this checks that it is: the model is registered,
    the variables a fit needs are there with their dims and matching sizes, the coefficients are finite, and
    the JSON attributes parse.

    Raises:
        InputError: the first problem found, naming the file.
    """
    from dynamics.fitters import MODELS

    def bad(problem: str) -> InputError:
        return InputError(f"{where} is not a usable saved fit: {problem}; save the fit again with FittedODE.save")

    model = ds.attrs.get("model")
    if model not in MODELS:
        raise bad(f"unknown model {model!r} (known: {sorted(MODELS)})")
    for name in ("time", "component"):
        if not isinstance(ds.attrs.get(name), str) or not ds.attrs.get(name):
            raise bad(f"the attribute {name!r} is missing")
    parsed = {}
    for name, default in (("options", None), ("fit_kwargs", "{}"), ("t_range", "null")):
        text = ds.attrs.get(name, default)
        if text is None:
            raise bad(f"the attribute {name!r} is missing")
        try:
            parsed[name] = json.loads(text)
        except (TypeError, ValueError) as error:
            raise bad(f"the attribute {name!r} is not valid JSON ({error})") from None
    for name in ("options", "fit_kwargs"):
        if not isinstance(parsed[name], dict):
            raise bad(f"the attribute {name!r} is not a JSON object")
    time, component = ds.attrs["time"], ds.attrs["component"]
    needs = {
        "coefficients": ("target", "term"),
        "mask": ("target", "term"),
        "x0": (component,),
        "t": (time,),
        "r2_derivative": ("target",),
    }
    for name, dims in needs.items():
        if name not in ds.variables:
            raise bad(f"the variable {name!r} is missing")
        if tuple(ds[name].dims[-len(dims) :]) != dims:
            raise bad(f"the variable {name!r} has dims {ds[name].dims}, expected them to end with {dims}")
    coefficients = ds["coefficients"]
    n_target, n_term = coefficients.sizes["target"], coefficients.sizes["term"]
    if n_target < 1 or n_term < 1:
        raise bad("the coefficients are empty")
    if not np.issubdtype(coefficients.dtype, np.number) or not np.all(np.isfinite(coefficients.values)):
        raise bad("the coefficients hold NaN, inf or non-numbers")
    if ds["mask"].shape != (n_target, n_term):
        raise bad(f"the mask has shape {ds['mask'].shape}, the coefficients ({n_target}, {n_term})")
    if ds["x0"].sizes[component] != n_target:
        raise bad(f"x0 has {ds['x0'].sizes[component]} components, the coefficients {n_target} targets")
    if "source" not in ds.coords or ds.sizes["source"] != n_target:
        raise bad("the 'source' coordinate is missing or its size is not the number of targets")
    if "powers" not in ds.variables:
        raise bad("the variable 'powers' is missing (only fits with monomial terms are saved)")
    powers = ds["powers"].values
    if powers.shape != (n_term, n_target) or not np.issubdtype(powers.dtype, np.integer) or (powers < 0).any():
        raise bad(f"'powers' must be non-negative integers of shape ({n_term}, {n_target}), got {powers.shape}")
    t = np.asarray(ds["t"].values)
    if (
        t.size < 1
        or not np.issubdtype(t.dtype, np.number)
        or not np.all(np.isfinite(t))
        or np.any(np.diff(t.astype(np.float64)) <= 0)
    ):
        raise bad("the time grid 't' is empty, not finite or not strictly increasing")
    return parsed["fit_kwargs"]
