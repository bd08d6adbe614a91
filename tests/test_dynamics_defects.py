"""The defects a pysindy user hit (issue 10, "Defects found" 1-10), one test each."""

import json
import tracemalloc
import warnings

import numpy as np
import pytest
import xarray as xr
from scipy.integrate import solve_ivp

import dynamics
from dynamics import catalog
from dynamics.derivatives import differentiate
from dynamics.trajectories import as_trajectories
from fittest.cli import main
from fittest.errors import InputError

# the Lorenz coefficients on pysindy's polynomial library of degree 2: 1 x y z x^2 x y x z y^2 y z z^2
LORENZ = np.zeros((3, 10))
LORENZ[0, 1], LORENZ[0, 2] = -10.0, 10.0
LORENZ[1, 1], LORENZ[1, 2], LORENZ[1, 6] = 28.0, -1.0, -1.0
LORENZ[2, 3], LORENZ[2, 5] = -8.0 / 3.0, 1.0


def lorenz(dt=0.002, duration=10.0, noise=0.0, seed=0):
    def rhs(_, s):
        return [10 * (s[1] - s[0]), s[0] * (28 - s[2]) - s[1], s[0] * s[1] - 8 / 3 * s[2]]

    t = np.arange(0, duration, dt)
    x = solve_ivp(rhs, (0, duration), [-8, 8, 27], t_eval=t, rtol=1e-12, atol=1e-12).y.T
    x = x + noise * np.random.default_rng(seed).normal(size=x.shape) * x.std(axis=0)
    return xr.DataArray(x, dims=("time", "c"), coords={"time": t, "c": ["x", "y", "z"]}, name="state")


@pytest.fixture(scope="module")
def noisy_lorenz():
    return lorenz(noise=0.01)


def runs(samples=3, n=4, steps=80, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(steps, dtype=float)
    rates = rng.uniform(0.01, 0.05, size=(samples, 1, n))
    values = 1.0 + rng.uniform(1, 3, size=(samples, 1, n)) * np.exp(-rates * t[None, :, None])
    values = values + 0.1 * np.sin(0.1 * t)[None, :, None] * rng.normal(size=(samples, 1, n))
    coords = {"run": np.arange(samples), "step": t, "frequency": np.arange(1, n + 1)}
    return xr.DataArray(values, dims=("run", "step", "frequency"), coords=coords, name="amplitude")


# 1 ------------------------------------------------------------------------------------------------------------
def test_pysindy_smoothing_differentiator_regresses_its_smoothed_states(noisy_lorenz):
    import pysindy as ps

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = dynamics.fit(noisy_lorenz, "sindy", time="time", component="c", derivative=ps.SmoothedFiniteDifference())
        theirs = ps.SINDy(differentiation_method=ps.SmoothedFiniteDifference())
        theirs.fit(noisy_lorenz.values, t=noisy_lorenz["time"].values)
    np.testing.assert_allclose(ours.coefficients.values, theirs.coefficients(), atol=1e-9)
    assert np.abs(ours.coefficients.values - LORENZ).max() < 0.03  # 0.040 with the raw noisy states


def test_savgol_smooths_the_states_and_takes_window_and_order(noisy_lorenz, tmp_path, capsys):
    from scipy.signal import savgol_filter

    traj = as_trajectories(noisy_lorenz, time="time", component="c")
    x, _, _ = differentiate(traj, "savgol", window=15, polyorder=3)
    np.testing.assert_allclose(x[0], savgol_filter(noisy_lorenz.values, 15, 3, axis=0, mode="interp"), rtol=1e-12)
    wide = dynamics.fit(noisy_lorenz, "sindy", time="time", component="c", derivative="savgol", window=15)
    assert np.abs(wide.coefficients.values - LORENZ).max() < 0.02  # 0.033 with the fixed window 7
    assert wide.fit_options["window"] == 15 and "polyorder" not in wide.fit_options
    with pytest.raises(InputError, match="Savitzky-Golay options"):
        dynamics.fit(noisy_lorenz, time="time", component="c", window=15)
    with pytest.raises(InputError, match="odd window"):
        dynamics.fit(noisy_lorenz, time="time", component="c", derivative="savgol", window=14)
    # and on the command line, from the catalog
    assert [o.name for o in catalog.DERIVATIVE_OPTIONS] == ["window", "polyorder"]
    path = tmp_path / "runs.nc"
    runs().to_netcdf(path, engine="h5netcdf")
    out = tmp_path / "fit.nc"
    argv = ["fit", str(path), "--derivative", "savgol", "--window", "9", "--polyorder", "2", "--out", str(out)]
    assert main(argv) == 0
    assert dynamics.load(out).fit_options["window"] == 9 and dynamics.load(out).fit_options["polyorder"] == 2
    assert main(["fit", str(path), "--window", "9"]) == 2
    assert "Savitzky-Golay options" in capsys.readouterr().err


# 2 ------------------------------------------------------------------------------------------------------------
def test_pysindy_libraries_that_clone_refuses_still_fit():
    import pysindy as ps

    data = runs(samples=2)
    custom = ps.CustomLibrary(library_functions=[lambda x: x, lambda x: x**2], function_names=[str, "{}^2".format])
    fitted = dynamics.fit(data, "sindy", feature_library=custom, optimizer=ps.STLSQ(threshold=0.0))
    assert fitted.coefficients.sizes["term"] == 8 and np.isfinite(fitted.coefficients.values).all()
    assert fitted.rhs(data.isel(step=slice(0, 3))).shape == (2, 3, 4)
    # the weak form of an ODE fits (tests/test_dynamics_sindy_forms.py); a PDE's implicit terms are refused
    with pytest.raises(InputError, match="derivative or implicit terms"):
        dynamics.fit(
            data,
            "sindy",
            feature_library=ps.WeakPDELibrary(
                function_library=ps.PolynomialLibrary(degree=2),
                spatiotemporal_grid=data["step"].values,
                implicit_terms=True,
            ),
        )


@pytest.mark.parametrize("optimizer", ["STLSQ", "SR3", "SSR", "FROLS", "EnsembleOptimizer"])
def test_pysindy_optimizers_fit(optimizer):
    import pysindy as ps

    made = ps.EnsembleOptimizer(opt=ps.STLSQ(), bagging=True, n_models=3) if optimizer == "EnsembleOptimizer" else None
    made = made or getattr(ps, optimizer)()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = dynamics.fit(runs(samples=2), "sindy", degree=1, optimizer=made)
    assert np.isfinite(fitted.coefficients.values).all()


# 3 ------------------------------------------------------------------------------------------------------------
def test_cli_fits_a_netcdf3_file(tmp_path):
    path = tmp_path / "classic.nc"
    runs().to_netcdf(path, engine="scipy")  # netCDF3 classic, which h5netcdf cannot read
    assert main(["fit", str(path), "--out", str(tmp_path / "fit.nc")]) == 0
    assert dynamics.load(tmp_path / "fit.nc").A.sizes["target"] == 4


# 4 ------------------------------------------------------------------------------------------------------------
def test_default_derivative_is_central_and_unbiased_on_continuous_data():
    import inspect

    # the default is "auto" (issue 23, item 5): on clean data that is central differences, recorded as such
    assert catalog.DEFAULT_DERIVATIVE == "auto"
    assert inspect.signature(dynamics.fit).parameters["derivative"].default == "auto"
    data = lorenz()
    default = dynamics.fit(data, "sindy", time="time", component="c")
    forward = dynamics.fit(data, "sindy", time="time", component="c", derivative="forward")
    assert default.derivative == "central" and default.fit_options["derivative"] == "central"
    assert np.abs(default.coefficients.values - LORENZ).max() < 0.01  # 0.008
    assert np.abs(forward.coefficients.values - LORENZ).max() > 1.0  # 1.95, with R² still > 0.9998
    assert float(forward.r2_derivative.min()) > 0.9998


def test_the_papers_callers_pass_forward_explicitly():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for name in ("paper_figures/helpers.py", "fittest/cli/demo.py", "training/analysis/forecast.py"):
        text = (root / name).read_text()
        calls = text.count("dynamics.fit(")
        # the demo names its choice once, as DERIVATIVE = "forward", to print it beside the fit's default
        explicit = text.count('derivative="forward"')
        if 'DERIVATIVE = "forward"' in text:
            explicit += text.count("derivative=DERIVATIVE")
        assert calls and explicit >= calls, name


# 5 ------------------------------------------------------------------------------------------------------------
def test_term_names_are_pysindy_style_and_keep_labels():
    data = lorenz(duration=2.0)
    fitted = dynamics.fit(data, "lotka_volterra", time="time", component="c", form="quadratic")
    assert "x y" in fitted.coefficients["term"].values and "x^2" in fitted.coefficients["term"].values
    labelled = runs(samples=1, n=3).isel(run=0).assign_coords(frequency=["^GSPC", "^DJI", "CL=F"])
    for model in ("linear", "sindy"):
        fitted = dynamics.fit(labelled, model)
        assert list(fitted.coefficients["target"].values) == ["^GSPC", "^DJI", "CL=F"]
        assert "^GSPC" in fitted.coefficients["term"].values, fitted.coefficients["term"].values
    sindy = dynamics.fit(labelled, "sindy", threshold=0.0)
    assert "^GSPC ^DJI" in sindy.coefficients["term"].values and "^GSPC^2" in sindy.coefficients["term"].values
    assert sindy.library.is_polynomial


# 6 ------------------------------------------------------------------------------------------------------------
def test_missing_time_coordinate_is_stated(tmp_path):
    data = runs().drop_vars("step")
    fitted = dynamics.fit(data)
    assert fitted.unit_steps and "unit steps" in fitted.to_dataset().attrs["time_coordinate"]
    assert not dynamics.fit(runs()).unit_steps
    fitted.save(tmp_path / "fit.nc")
    assert dynamics.load(tmp_path / "fit.nc").unit_steps
    written = dynamics.write_report([fitted], tmp_path / "rep", data=data)
    assert "unit steps" in open(written["markdown"]).read()


# 7 ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("factor", [1e200, 1e-300])
def test_extreme_scales_fit_as_well_as_order_one(factor):
    data = runs()
    reference = dynamics.fit(data)
    scaled = dynamics.fit(data * factor)
    assert (scaled.to_dataset()["rank"] == reference.to_dataset()["rank"]).all()
    np.testing.assert_allclose(scaled.A.values, reference.A.values, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(scaled.b.values / factor, reference.b.values, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(scaled.r2_derivative.values, reference.r2_derivative.values, atol=1e-9)
    lv = dynamics.fit(data * factor, "lotka_volterra")
    lv_reference = dynamics.fit(data, "lotka_volterra")
    np.testing.assert_allclose(lv.r2_derivative.values, lv_reference.r2_derivative.values, atol=1e-6)
    with pytest.raises(InputError, match="not scale-free"):
        dynamics.fit(data * factor, "lasso")


def test_the_shipped_run_times_1e200_fits_the_same_A():
    import glob

    paths = sorted(glob.glob("datasets/*.nc"))
    if not paths:
        pytest.skip("no recorded run dataset in datasets/")
    from fittest.cli.fit import open_data

    data = open_data(paths[0])["amplitude"].isel(run=slice(0, 2)).astype(np.float64)  # float32 * 1e200 is inf
    reference = dynamics.fit(data, t_range=(0, 1000))
    scaled = dynamics.fit(data * 1e200, t_range=(0, 1000))
    np.testing.assert_allclose(scaled.A.values, reference.A.values, rtol=1e-5, atol=1e-8 * np.abs(reference.A).max())


# 8 ------------------------------------------------------------------------------------------------------------
def test_huge_sindy_library_is_refused_before_fitting(monkeypatch, tmp_path, capsys):
    import pysindy as ps

    def never(*args, **kwargs):
        raise AssertionError("pysindy was asked to fit")

    monkeypatch.setattr(ps.SINDy, "fit", never)
    # refused from the count of terms alone: no library is built (memory, unlike time, does not depend on load)
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="terms but only"):
            dynamics.fit(runs(), "sindy", degree=50)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6, f"{peak / 1e6:.0f} MB allocated before the refusal"
    path = tmp_path / "runs.nc"
    runs().to_netcdf(path, engine="h5netcdf")
    assert main(["fit", str(path), "--model", "sindy", "--degree", "50"]) == 2
    assert "terms but only" in capsys.readouterr().err


# 9 ------------------------------------------------------------------------------------------------------------
def test_empty_sample_dimension_is_named():
    with pytest.raises(InputError, match="sample dimension 'run' is empty"):
        dynamics.fit(runs().isel(run=[]))


# 10 -----------------------------------------------------------------------------------------------------------
def _broken(ds: xr.Dataset, how: str) -> xr.Dataset:
    ds = ds.copy()
    if how == "no coefficients":
        return ds.drop_vars("coefficients")
    if how == "bad fit_kwargs":
        ds.attrs["fit_kwargs"] = "{not json"
    elif how == "NaN coefficients":
        ds["coefficients"] = ds["coefficients"].where(False)
    elif how == "unknown model":
        ds.attrs["model"] = "quantum"
    elif how == "bad options":
        ds.attrs["options"] = "[1, 2"
    elif how == "no powers":
        return ds.drop_vars("powers")
    elif how == "wrong mask":
        ds["mask"] = ds["mask"].isel(term=slice(0, 2))
        ds = ds.drop_vars("powers")
    return ds


@pytest.mark.parametrize(
    "how, message",
    [
        ("no coefficients", "'coefficients' is missing"),
        ("bad fit_kwargs", "'fit_kwargs' is not valid JSON"),
        ("NaN coefficients", "coefficients hold NaN"),
        ("unknown model", "unknown model 'quantum'"),
        ("bad options", "'options' is not valid JSON"),
        ("no powers", "'powers' is missing"),
    ],
)
def test_load_checks_what_it_reads(tmp_path, capsys, how, message):
    data = runs()
    fitted = dynamics.fit(data)
    path, data_path = tmp_path / "broken.nc", tmp_path / "runs.nc"
    _broken(fitted.to_dataset(), how).to_netcdf(path, engine="h5netcdf")
    data.to_netcdf(data_path, engine="h5netcdf")
    with pytest.raises(InputError, match=message):
        dynamics.load(path)
    assert main(["report", str(path), "--data", str(data_path), "--out", str(tmp_path / "rep")]) == 2
    error = capsys.readouterr().err
    assert message.replace("'", "") in error.replace("'", "") and error.count("\n") == 1
    assert not (tmp_path / "rep").exists()
    json.loads(fitted.to_dataset().attrs["fit_kwargs"])  # the unbroken one loads


# reading the model ---------------------------------------------------------------------------------------------
def test_equations_print_the_fitted_model_like_pysindy():
    fitted = dynamics.fit(lorenz(), "sindy", time="time", component="c")
    assert fitted.equations(1).splitlines() == [
        "(x)' = -10.0 x + 10.0 y",
        "(y)' = 28.0 x - 1.0 y - 1.0 x z",
        "(z)' = -2.7 z + 1.0 x y",
    ]
    text = str(fitted)
    assert text.startswith("FittedODE sindy (central derivative), 1 sample") and "(z)' = -2.666 z" in text
    assert fitted._repr_html_().startswith("<pre>FittedODE sindy")
    many = dynamics.fit(runs(samples=5, n=2))
    blocks = many.equations(samples=2).splitlines()
    assert blocks[0] == "run=0" and blocks[1].startswith("(x_1)' = ") and blocks[1].endswith(" x_2 + 0.037")
    assert len(blocks) == 6 and "... 2 more sample(s)" in str(many)
    with pytest.raises(InputError, match="precision must be a non-negative integer"):
        many.equations(-1)
