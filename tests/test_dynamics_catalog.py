"""The metadata in dynamics.catalog, the lazy package, and the public refit that the comparison uses."""

import importlib
import inspect
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

import dynamics
from dynamics import catalog
from fittest.errors import InputError

HEAVY = ("numpy", "xarray", "scipy", "sklearn", "pysindy", "jax", "matplotlib", "torch")


def test_catalog_imports_the_standard_library_only():
    code = f"import sys, dynamics.catalog; print(' '.join(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == []


def test_every_registered_model_is_declared_with_its_signatures_defaults():
    assert list(dynamics.MODELS) == list(catalog.MODEL_SPECS)
    # what fit() passes to every fitter, and the fit options (control inputs, support) to those that take them
    common = {"x", "dxdt", "names", "t", "groups", "u", "inputs", "support"}
    for name, function in dynamics.MODELS.items():
        spec = catalog.MODEL_SPECS[name]
        signature = inspect.signature(function).parameters
        options = {key: p.default for key, p in signature.items() if key not in common}
        assert options == spec.defaults, name
        assert all(p.kind is p.KEYWORD_ONLY for key, p in signature.items() if key in options), name
        for option in spec.options:
            assert option.help and "\n" not in option.help
            assert option.default is None or option.type is object or isinstance(option.default, option.type)
            assert option.choices is None or option.default in option.choices


def test_catalog_names_the_methods_the_functions_take():
    assert inspect.signature(dynamics.FittedODE.simulate).parameters["method"].default == catalog.DEFAULT_SOLUTION
    assert inspect.signature(dynamics.fit).parameters["derivative"].default == catalog.DEFAULT_DERIVATIVE
    assert inspect.signature(dynamics.fit).parameters["model"].default == catalog.DEFAULT_MODEL
    assert catalog.DEFAULT_SOLUTION is None and catalog.DEFAULT_DERIVATIVE in catalog.DERIVATIVES
    with pytest.raises(KeyError, match="no option 'beta'"):
        catalog.MODEL_SPECS["lasso"].option("beta")


def test_every_public_name_resolves_lazily():
    for name in dynamics.__all__:
        assert getattr(dynamics, name) is not None
    assert set(dynamics.__all__) <= set(dir(dynamics))
    importlib.import_module("dynamics.comparison")  # importing a submodule sets it on the package: no name clash
    assert callable(dynamics.compare)
    with pytest.raises(AttributeError, match="no attribute 'fitted_ode'"):
        dynamics.fitted_ode  # noqa: B018


def trajectories(runs=2, n=3, steps=40, seed=3):
    rng = np.random.default_rng(seed)
    A = -0.1 * np.eye(n) + 0.02 * rng.normal(size=(runs, n, n))
    x = np.empty((runs, steps, n))
    x[:, 0] = 1 + rng.random((runs, n))
    for k in range(steps - 1):
        x[:, k + 1] = x[:, k] + np.einsum("rij,rj->ri", A, x[:, k]) + 0.05 + 1e-3 * rng.normal(size=(runs, n))
    coords = {"run": np.arange(runs), "step": np.arange(steps), "frequency": np.arange(1, n + 1)}
    return xr.Dataset({"amplitude": (("run", "step", "frequency"), x)}, coords=coords)


def test_refit_repeats_the_fit_with_its_options(tmp_path):
    data = trajectories()
    fitted = dynamics.fit(data, "lasso", t_range=(0, 30), alpha=1e-4, derivative="central")
    assert fitted.fit_options["alpha"] == 1e-4 and fitted.replayable and fitted.trajectories is not None
    assert fitted.t_range == (0, 30) and fitted.variable == "amplitude" and fitted.derivative == "central"
    xr.testing.assert_identical(dynamics.refit(fitted, data).coefficients, fitted.coefficients)
    early = dynamics.refit(fitted, data["amplitude"], t_range=(0, 20))
    direct = dynamics.fit(data, "lasso", t_range=(0, 20), alpha=1e-4, derivative="central")
    xr.testing.assert_identical(early.coefficients, direct.coefficients)
    loaded = dynamics.load(fitted.save(tmp_path / "fit.nc"))
    stored = {**fitted.fit_options, "t_range": [0, 30]}  # JSON keeps the window as a list
    assert loaded.trajectories is None and loaded.replayable and loaded.fit_options == stored
    xr.testing.assert_identical(dynamics.refit(loaded, data).coefficients, fitted.coefficients)


def test_refit_refuses_a_fit_whose_options_were_not_stored(tmp_path):
    import pysindy as ps

    data = trajectories()
    fitted = dynamics.fit(data, "sindy", optimizer=ps.STLSQ(threshold=0.01))
    loaded = dynamics.load(fitted.save(tmp_path / "fit.nc"))
    assert fitted.replayable and not loaded.replayable and "optimizer" not in loaded.fit_options
    with pytest.raises(InputError, match="could not be recorded"):
        dynamics.refit(loaded, data)
    scores = dynamics.compare(loaded, data, methods="euler")
    assert "could not be recorded" in scores.attrs["forecast_note"] and np.isnan(scores["r2_forecast"]).all()
