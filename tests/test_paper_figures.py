"""paper_figures: the plumbing (names, profiles, cache keys, JSON), and a subset of figures made end to end.

The end-to-end figures run on a tiny profile (p = 23, d = 32, 800 steps, 3 runs), small enough for seconds on a
CPU and large enough that circles survive, so the numbers in each JSON can be checked, not just the files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math

import numpy as np
import pytest

import paper_figures as pf
import training
from fittest.atomic import TEMP_SUFFIX
from fittest.cli import main as cli
from fittest.errors import InputError
from paper_figures import jsonable, write_json

TINY = dataclasses.replace(
    pf.QUICK,
    name="tiny",
    p=23,
    d=32,
    steps=800,
    runs=3,
    embeddings=1,
    sweep_runs=2,
    dims=(32,),
    intervention_runs=2,
    circularity_samples=4,
    circularity_dims=(4, 16, 64),
    device="cpu",
)
K = (TINY.p - 1) // 2
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


MADE = ["fig02", "fig08", "fig09", "fig11", "fig13", "fig16"]


def counting_sweep(calls: list):
    """``training.sweep`` that records the configs and options of every call in ``calls``."""
    real = training.sweep

    def sweep(configs, **options):
        configs = list(configs)
        report = real(configs, **options)
        calls.append({"configs": configs, "options": options, "completed": report.completed})
        return report

    return sweep


@pytest.fixture(scope="module")
def log():
    """What the fixture ``made`` saw: its sweeps and its standard error (the progress bars)."""
    return {"sweeps": [], "stderr": ""}


@pytest.fixture(scope="module")
def made(tmp_path_factory, log):
    """Make a subset of figures once (they share the tiny default ensemble); return a reader of their JSON."""
    out = tmp_path_factory.mktemp("figures")
    cache = pf.RunCache(tmp_path_factory.mktemp("cache"))
    stderr = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(stderr):
        patch.setattr(training, "sweep", counting_sweep(log["sweeps"]))
        results = pf.make_figures(MADE, profile=TINY, out=out, cache=cache, bar=True)
    log["stderr"] = stderr.getvalue()
    return out, cache, results


def test_figure_names_and_registry():
    assert pf.figure_names(["9", "fig2", 13, "fig09"]) == ["fig09", "fig02", "fig13"]
    assert pf.figure_names(None) == [f"fig{n:02d}" for n in range(2, 17)]
    for name, module in pf.FIGURES.items():
        assert module.startswith(f"paper_figures.{name}_")
    with pytest.raises(InputError, match="unknown figure 'fig01'"):
        pf.figure_names(["fig01"])
    with pytest.raises(InputError, match="unknown profile"):
        pf.get_profile("fast")


def test_profiles_hold_the_papers_counts():
    paper = pf.PROFILES["paper"]
    assert (paper.steps, paper.runs, paper.embeddings, paper.sweep_runs) == (30_000, 50, 10, 100)
    assert (paper.p, paper.d, paper.ode_window) == (59, 128, (0, 1000))
    quick = pf.PROFILES["quick"]
    assert quick.steps <= 5000 and quick.runs < paper.runs and quick.sweep_runs < paper.sweep_runs
    with pytest.raises(InputError, match="runs"):
        dataclasses.replace(quick, runs=1)


def test_cache_key_is_stable_and_ignores_the_device():
    import training

    a = training.TrainConfig(p=23, d=8, runs=2, steps=10, device="cpu")
    assert pf.config_key(a) == pf.config_key(training.TrainConfig(p=23, d=8, runs=2, steps=10, device="cpu"))
    assert pf.config_key(a) == pf.config_key(a.replace(device="auto"))
    assert pf.config_key(a) != pf.config_key(a.replace(steps=11))
    assert pf.config_key(a) != pf.config_key(a.replace(init_perturb={3: 2.0}))


def test_json_writer_makes_numpy_and_nan_portable(tmp_path):
    content = {"a": np.arange(3), "b": np.float32(0.5), "c": float("nan"), "d": (np.bool_(True), np.int64(4))}
    assert jsonable(content) == {"a": [0, 1, 2], "b": 0.5, "c": None, "d": [True, 4]}
    path = write_json(tmp_path / "x.json", content)
    assert json.loads(path.read_text())["c"] is None
    assert not list(tmp_path.glob(f"*{TEMP_SUFFIX}"))  # the suffix write_atomic's temporary files carry
    with pytest.raises(InputError, match="does not exist"):
        write_json(tmp_path / "missing" / "x.json", content)


def test_cli_rejects_unknown_figures_and_bad_folders(capsys, tmp_path):
    assert cli(["figures", "fig99", "--out", "unused"]) == 2
    assert "unknown figure 'fig99'" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert cli(["figures", "fig13", "--cache", str(tmp_path / "file"), "--out", str(tmp_path)]) == 2
    assert "is a file" in capsys.readouterr().err
    assert cli(["figures", "fig13", "--no-cache", "--out", str(tmp_path / "typo" / "figs")]) == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "typo").exists()


def test_every_figure_writes_png_and_json(made):
    out, _, results = made
    for name, content in results.items():
        assert (out / f"{name}.png").read_bytes()[:8] == PNG_MAGIC
        on_disk = json.loads((out / f"{name}.json").read_text())
        assert on_disk["figure"] == name and on_disk["profile"]["name"] == "tiny"
        assert on_disk["title"] and on_disk["claim"] and on_disk["numbers"]
        assert on_disk == json.loads(json.dumps(jsonable(content)))


def test_second_call_only_redraws(made, tmp_path):
    _, cache, _ = made
    again = pf.make_figure("fig13", profile=TINY, out=tmp_path, cache=cache)
    assert again["runs"]["trained_now"] == 0
    assert len(again["runs"]["configs"]) == 1  # the default ensemble, read from disk


def declared(names) -> dict[str, training.TrainConfig]:
    """The configs the figures ``names`` declare for the tiny profile, by their JSON."""
    ctx = pf.Context(profile=TINY, cache=pf.RunCache(enabled=False))
    return {c.to_json(): c for name in names for c in pf.figure_module(name).configs(ctx)}


def test_the_figures_ensembles_train_in_one_sweep_and_a_second_call_trains_none(made, log, tmp_path, monkeypatch):
    out, cache, results = made
    wanted = declared(MADE)
    assert len(wanted) == 2  # the default ensemble (figures 2, 8, 9, 11, 13, 16) and d = 32 of figure 9
    # one sweep, before drawing, of exactly the declared configs, each a task of its own; drawing trained nothing
    (call,) = log["sweeps"]
    assert {c.to_json() for c in call["configs"]} == set(wanted)
    assert call["options"]["merge"] is False and len(call["completed"]) == 2
    assert sorted(cache.trained) == sorted(pf.config_key(c) for c in wanted.values()) and cache.sweeps == 1
    assert sum(content["runs"]["trained_now"] for content in results.values()) == 2
    assert (cache.folder / "runs.zarr").is_dir() and not list(cache.folder.glob("*.nc"))
    # a second call, by a new cache on the same folder, finds every ensemble complete and trains none
    calls = []
    monkeypatch.setattr(training, "sweep", counting_sweep(calls))
    again_cache = pf.RunCache(cache.folder)
    again = pf.make_figures(["fig13", "fig09"], profile=TINY, out=tmp_path, cache=again_cache, bar=False)
    assert again_cache.trained == [] and again_cache.sweeps == 0
    assert all(call["completed"] == () for call in calls)
    for name in ("fig13", "fig09"):
        assert again[name]["runs"]["trained_now"] == 0
        first = json.loads((out / f"{name}.json").read_text())["numbers"]
        assert json.loads((tmp_path / f"{name}.json").read_text())["numbers"] == first


def test_the_bar_numbers_each_ensemble_and_counts_down_the_whole_job(made, log):
    text = log["stderr"]
    assert "ensemble 1 of 2 done" in text and "ensemble 2 of 2 done" in text
    # each ensemble is named: the default one of 3 runs and figure 9's sweep point of 2 (same p and d)
    assert "p=23 d=32 3 runs embed_seed=0 save_mlp=True" in text and "p=23 d=32 2 runs save_mlp=False" in text
    assert "2/2" in text and ("ensemble/s" in text or "s/ensemble" in text)  # a rate over the job's ensembles


def test_undeclared_ensembles_train_through_the_sweep_and_old_netcdf_caches_are_read(tmp_path, monkeypatch):
    import types

    import paper_figures.framework as framework
    from fittest.atomic import write_netcdf
    from paper_figures.helpers import new_figure

    small = {"p": 7, "d": 8, "hidden": 16, "runs": 1, "steps": 20, "dense_until": 5, "record_every": 5}
    cache = pf.RunCache(tmp_path / "cache")
    ctx = pf.Context(profile=TINY, cache=cache)
    old = ctx.config(**small, seed=1)
    (tmp_path / "cache").mkdir()
    write_netcdf(training.train(old, progress=False), cache.path(old))  # a file of the former cache

    def build(ctx):  # declares nothing: asks while drawing
        new, former = ctx.train(**small), ctx.train(**small, seed=1)
        figure, _ = new_figure()
        return figure, {"loss": [float(ds.train_loss.isel(step=-1).sum()) for ds in (new, former)]}

    monkeypatch.setattr(
        framework, "figure_module", lambda name: types.SimpleNamespace(TITLE="t", CLAIM="c", build=build)
    )
    calls = []
    monkeypatch.setattr(training, "sweep", counting_sweep(calls))
    content = pf.make_figure("fig03", profile=TINY, out=tmp_path, cache=cache)
    (call,) = calls  # the undeclared one, alone; the former cache's file is read, not trained again
    assert [c.to_json() for c in call["configs"]] == [ctx.config(**small).to_json()]
    assert content["runs"]["trained_now"] == 1 and len(content["runs"]["configs"]) == 2
    assert all(math.isfinite(x) for x in content["numbers"]["loss"])


@pytest.mark.parametrize(
    ("words", "expected"),
    [(["--workers", "3"], {"workers": 3}), (["--scheduler", "tcp://nowhere:1"], {"scheduler": "tcp://nowhere:1"})],
)
def test_workers_and_scheduler_reach_the_sweep(words, expected, tmp_path, monkeypatch, capsys):
    seen = {}

    def sweep(configs, **options):
        seen.update(options, configs=list(configs))
        raise InputError("stopped by the test")

    monkeypatch.setattr(training, "sweep", sweep)
    args = ["figures", "fig13", "fig02", "--profile", "quick", "--cache", str(tmp_path / "c"), "--out", str(tmp_path)]
    assert cli([*args, *words]) == 2
    assert "stopped by the test" in capsys.readouterr().err
    defaults = {"workers": None, "scheduler": None}
    assert {key: seen[key] for key in defaults} == {**defaults, **expected}
    assert len(seen["configs"]) == 1 and seen["merge"] is False  # both figures draw from the default ensemble
    with pytest.raises(SystemExit) as exited:  # one or the other
        cli([*args, "--workers", "2", "--scheduler", "tcp://x:1"])
    assert exited.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_fig02_survivors_per_run(made):
    numbers = json.loads((made[0] / "fig02.json").read_text())["numbers"]
    counts = numbers["circles_per_run"]
    assert len(counts) == TINY.runs
    assert all(1 <= c < K for c in counts)
    assert numbers["surviving_frequency"] in numbers["survivors"]
    assert numbers["dead_frequency"] not in numbers["survivors"]
    # a dead circle collapses towards its centre, a surviving one keeps its radius
    dead, alive = numbers["mean_radius_in_plane"]["dead"], numbers["mean_radius_in_plane"]["surviving"]
    assert dead[-1] / dead[0] < alive[-1] / alive[0]


def test_fig08_more_circles_lower_loss(made):
    loss = json.loads((made[0] / "fig08.json").read_text())["numbers"]["final_test_loss_median"]
    assert loss["1 kept"] > loss["3 kept"]
    assert loss["1 kept"] > loss["all"]


def test_fig09_r2_in_range_and_least_squares_beats_lasso(made):
    numbers = json.loads((made[0] / "fig09.json").read_text())["numbers"]
    by_d = numbers["r2_derivative_by_d"]
    assert by_d["d"] == list(TINY.dims)
    for linear, lasso in zip(by_d["linear"], by_d["lasso"], strict=True):
        assert 0 <= lasso <= linear <= 1  # least squares maximises the in-sample R² that Lasso trades for sparsity
    assert 0 < numbers["default_ensemble"]["lasso_sparsity_mean"] < 1
    assert numbers["r2_trajectory"]["linear (Euler)"]["all_frequencies_mean"] > 0.9


def test_fig11_circularity_grows_with_d(made):
    numbers = json.loads((made[0] / "fig11.json").read_text())["numbers"]
    mean, top = numbers["random"]["mean"], numbers["random"]["max"]
    assert numbers["circularity_increases_with_d"] and np.all(np.diff(mean) > 0)
    assert all(0 < m <= t <= 1 for m, t in zip(mean, top, strict=True))
    assert numbers["pairs"]["survived"] + numbers["pairs"]["dead"] == TINY.runs * K


def test_fig13_gradient_peaks_early(made):
    numbers = json.loads((made[0] / "fig13.json").read_text())["numbers"]
    assert 0 < numbers["peak_step"] < TINY.steps
    assert numbers["max_total_norm_after_1000_over_peak"] < 1


def test_fig16_linear_solution_follows_every_frequency(made):
    numbers = json.loads((made[0] / "fig16.json").read_text())["numbers"]
    assert len(numbers["r2_trajectory"]["linear"]) == K
    assert numbers["r2_trajectory_median"]["linear"] > 0.95
    assert numbers["diverged_runs"]["linear"] == 0
    assert all(r is None or math.isfinite(r) for r in numbers["r2_trajectory"]["lasso"])


def test_one_failing_figure_does_not_stop_the_others(tmp_path, monkeypatch):
    import types

    import paper_figures.framework as framework
    from paper_figures.helpers import new_figure

    def build_ok(ctx):
        figure, _ = new_figure()
        return figure, {"value": np.float64(1.5)}

    def build_broken(ctx):
        raise RuntimeError("diverged")

    stubs = {
        name: types.SimpleNamespace(TITLE=name, CLAIM="-", build=build)
        for name, build in (("fig02", build_broken), ("fig03", build_ok))
    }
    monkeypatch.setattr(framework, "figure_module", lambda name: stubs[name])
    results = pf.make_figures(
        ["fig02", "fig03"], profile=TINY, out=tmp_path, cache=tmp_path / "c", bar=False, keep_going=True
    )
    assert results["fig02"] == {"error": "RuntimeError: diverged"}
    assert json.loads((tmp_path / "fig03.json").read_text())["numbers"] == {"value": 1.5}
    assert not (tmp_path / "fig02.png").exists()
    with pytest.raises(RuntimeError, match="diverged"):
        pf.make_figures(["fig02"], profile=TINY, out=tmp_path, cache=tmp_path / "c", bar=False)


def test_absolute_rule_counts_what_the_relative_rule_misses():
    import xarray as xr

    from paper_figures.helpers import circle_counts, trend

    # 8 frequencies starting at 10; run 0 keeps 4 of them near 9 and the rest decay to 1; run 1 keeps 1
    final = np.array([[9, 9, 9, 9, 1, 1, 1, 1], [9, 1, 1, 1, 1, 1, 1, 1]], dtype=float)
    amplitude = np.stack([np.full_like(final, 10.0), final], axis=1)  # (run, step, frequency)
    ds = xr.Dataset(
        {"amplitude": (("run", "step", "frequency"), amplitude)},
        coords={"run": [0, 1], "step": [0, 100], "frequency": np.arange(1, 9)},
    )
    counts = circle_counts(ds)
    assert counts["relative"].tolist() == [0, 1]  # twice the mean (10) is above every survivor of run 0
    assert counts["absolute"].tolist() == [4, 1]
    result = trend([1, 2, 3], [np.array([1, 1]), np.array([2, 3]), np.array([4, 4])])
    assert result["mean"] == [1.0, 2.5, 4.0] and result["spearman_rho"] > 0.9


def test_circle_plane_and_is_prime_now_in_training():
    import training

    p, k = 11, 3
    angle = 2 * np.pi * k * np.arange(p) / p
    E = np.stack([2 * np.cos(angle), 2 * np.sin(angle), np.zeros(p)], axis=1) + 5.0  # a ring of radius 2, off-centre
    assert np.allclose(np.linalg.norm(training.circle_plane(E, k), axis=1), 2)
    with pytest.raises(InputError, match="k must be a frequency"):
        training.circle_plane(E, 6)
    assert [n for n in range(-2, 30) if training.is_prime(n)] == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]
    assert pf.PAPER.primes[0] == 17 and all(training.is_prime(n) for n in pf.PAPER.primes)
