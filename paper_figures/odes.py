"""The ODE fits figures 9, 15 and 16 share: linear and Lasso fits of amplitudes on the profile's ODE window."""

from __future__ import annotations

import numpy as np
import xarray as xr

from paper_figures.context import Context
from paper_figures.ensembles import default_ensemble, ode_window
from paper_figures.profiles import Profile


def linear_and_lasso(ds: xr.Dataset, profile: Profile):
    """``(window, {"linear": fit, "lasso": fit})``: both fits of ``ds`` on the profile's ODE window, one per run."""
    import dynamics

    window = ode_window(ds, profile.ode_window)
    fits = {
        "linear": dynamics.fit(ds, model="linear", t_range=window),
        "lasso": dynamics.fit(ds, model="lasso", t_range=window, alpha=profile.lasso_alpha),
    }
    return window, fits


def default_fits(ctx: Context):
    """``(ds, window, {"linear": fit, "lasso": fit})`` of the default ensemble, one ODE per run."""
    ds = default_ensemble(ctx)
    return ds, *linear_and_lasso(ds, ctx.profile)


def heatmap(ax, A: np.ndarray, labels, *, title: str):
    """Draw a coefficient matrix with a symmetric colour scale; zero entries stay white."""
    bound = float(np.nanmax(np.abs(A))) or 1.0
    image = ax.imshow(np.where(A == 0, np.nan, A), cmap="RdBu_r", vmin=-bound, vmax=bound)
    ticks = np.arange(0, len(labels), max(1, round(len(labels) / 7)))
    ax.set(
        xticks=ticks,
        yticks=ticks,
        xticklabels=np.asarray(labels)[ticks],
        yticklabels=np.asarray(labels)[ticks],
        xlabel="source k",
        ylabel="target k",
        title=title,
    )
    return image
