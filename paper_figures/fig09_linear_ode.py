"""Figure 9 (section 4.2): a linear ODE dx/dt = A x + b models the circles' amplitudes over the first 1000 steps.

(a) R² of the fitted derivative, linear least squares and Lasso, for each d of the sweep (p fixed). (b, c) a
dead and a surviving frequency of one run: the observed amplitude, the Euler rollouts of the linear and the
Lasso fit (what the authors' code drew) and the Lasso fit's analytic solution e^{At} in the paper's form
(A + 1e-8 I). (d) that run's Lasso coefficient matrix A.
"""

from __future__ import annotations

from matplotlib.figure import Figure

import dynamics
from paper_figures.framework import Context
from paper_figures.helpers import (
    dead_and_surviving,
    default_config,
    default_fits,
    example_run,
    heatmap,
    linear_and_lasso,
    new_figure,
    sweep_config,
    sweep_ensemble,
)
from training import TrainConfig, survivors

TITLE = "Linear ODE: R² against d, dead and surviving trajectories, Lasso coefficients"
CLAIM = (
    "a linear ODE fits the amplitudes over steps 0-1000 with R² close to 1 for every d; linear regression is "
    "almost perfect, Lasso comparable with extremely sparse A; the analytic solution matches too"
)


def r2_by_d(ctx) -> dict:
    """Mean over runs of the per-run R² (mean over frequencies) of the linear and Lasso fits, per d."""
    result = {"d": list(ctx.profile.dims), "linear": [], "lasso": [], "lasso_sparsity": []}
    for d in ctx.profile.dims:
        _, fits = linear_and_lasso(sweep_ensemble(ctx, d=d), ctx.profile)
        for model, fitted in fits.items():
            result[model].append(float(fitted.r2_derivative.mean("target").mean()))
        result["lasso_sparsity"].append(float(fits["lasso"].sparsity.mean()))
    return result


def configs(ctx: Context) -> list[TrainConfig]:
    """The ensembles the figure draws from: the default one and the sweep over d."""
    return [default_config(ctx), *(sweep_config(ctx, d=d) for d in ctx.profile.dims)]


def build(ctx: Context) -> tuple[Figure, dict]:
    """Train or read what the figure needs through ``ctx``; return the figure and the numbers it shows."""
    by_d = r2_by_d(ctx)
    ds, window, fits = default_fits(ctx)
    alive = survivors(ds)
    run = example_run(alive)
    dead_k, live_k = dead_and_surviving(ds, alive, run)
    ks = ds.frequency.values

    # one run's comparisons: refit on that run alone so that the fit's samples match the data given
    _, one_run = linear_and_lasso(ds.isel(run=[run]), ctx.profile)
    lin, las = one_run["linear"], one_run["lasso"]
    cmp_lin = dynamics.compare(lin, methods=["euler"], holdout=0)
    cmp_las = dynamics.compare(las, methods=["euler", "analytic"], holdout=0, form="paper")
    curves = {
        "observed": cmp_lin.observed,
        "linear (Euler)": cmp_lin.trajectory.sel(solution="euler"),
        "Lasso (Euler)": cmp_las.trajectory.sel(solution="euler"),
        "Lasso (analytic, A + 1e-8 I)": cmp_las.trajectory.sel(solution="analytic"),
    }
    scores = {
        "linear (Euler)": cmp_lin.r2_trajectory.sel(solution="euler"),
        "Lasso (Euler)": cmp_las.r2_trajectory.sel(solution="euler"),
        "Lasso (analytic, A + 1e-8 I)": cmp_las.r2_trajectory.sel(solution="analytic"),
    }

    figure, axes = new_figure(4, width=3.9)
    ax = axes[0, 0]
    ax.plot(by_d["d"], by_d["linear"], "o-", label="linear")
    ax.plot(by_d["d"], by_d["lasso"], "s-", label=f"Lasso (alpha {ctx.profile.lasso_alpha})")
    ax.set(xlabel="d", ylabel="R² of dx/dt (mean over runs)", title=f"(a) fits on steps {window[0]}-{window[1]}")
    ax.legend()
    for ax, (label, k) in zip(axes[0, 1:3], (("dead", dead_k), ("surviving", live_k)), strict=True):
        for name, curve in curves.items():
            style = {"color": "k", "lw": 2.5, "alpha": 0.4} if name == "observed" else {"lw": 1.2, "ls": "--"}
            ax.plot(curve.step, curve.isel(run=0).sel(frequency=k), label=name, **style)
        ax.set(xlabel="step", ylabel=r"amplitude $\|F_k\|$", title=f"({'b' if label == 'dead' else 'c'}) {label} k={k}")
        ax.legend(fontsize=7)
    A = las.A.isel(run=0).values
    image = heatmap(axes[0, 3], A, ks, title=f"(d) Lasso A, run {run}: {float(las.sparsity.isel(run=0)):.0%} zero")
    figure.colorbar(image, ax=axes[0, 3], shrink=0.8)

    numbers = {
        "r2_derivative_by_d": by_d,
        "default_ensemble": {
            "r2_derivative_linear_mean": float(fits["linear"].r2_derivative.mean()),
            "r2_derivative_lasso_mean": float(fits["lasso"].r2_derivative.mean()),
            "lasso_sparsity_mean": float(fits["lasso"].sparsity.mean()),
        },
        "run": run,
        "window": window,
        "dead_frequency": dead_k,
        "surviving_frequency": live_k,
        "r2_trajectory": {
            name: {
                "dead": float(s.isel(run=0).sel(frequency=dead_k)),
                "surviving": float(s.isel(run=0).sel(frequency=live_k)),
                "all_frequencies_mean": float(s.isel(run=0).mean()),
            }
            for name, s in scores.items()
        },
    }
    return figure, numbers


if __name__ == "__main__":
    from paper_figures.framework import main

    raise SystemExit(main(__file__))
