"""Phase diagrams of a sweep: a summary value over two swept fields, and power-law fits of one against another.

Grokking time is reported to scale as a power of the learning rate times the weight decay (roughly
``t ~ (lr * wd) ** -1``); :func:`fit_power_law` measures such an exponent with its standard error, and
:func:`phase_diagram` draws any value of :func:`training.open_sweep`'s summary over two of its axes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from fittest.errors import InputError

__all__ = ["PowerLaw", "fit_power_law", "phase_diagram"]


@dataclass(frozen=True)
class PowerLaw:
    """``y = prefactor * x ** exponent``, fitted by least squares on ``log y`` against ``log x``.

    Attributes:
        exponent: the power of ``x``.
        prefactor: the factor ``c`` in front.
        exponent_se: the standard error of the exponent (of the log-log slope).
        prefactor_se: the standard error of the prefactor (delta method from that of the log intercept).
        n: the number of points used (positive and finite in both).
    """

    exponent: float
    prefactor: float
    exponent_se: float
    prefactor_se: float
    n: int

    def __call__(self, x):
        return self.prefactor * np.asarray(x, dtype=np.float64) ** self.exponent


def fit_power_law(x, y) -> PowerLaw:
    """Fit ``y = c * x ** a`` by ordinary least squares in log-log space.

    Arguments:
        x, y: array-likes of the same shape (DataArrays too); pairs where either is NaN, infinite or not
            positive are left out (a run that never generalised has a NaN time).

    Returns:
        :class:`PowerLaw` with the exponent, prefactor and their standard errors.

    Raises:
        InputError: the shapes differ, or fewer than three usable pairs or a single distinct ``x`` remain.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise InputError(f"fit_power_law(): x and y must have one shape, got {x.shape} and {y.shape}")
    use = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    lx, ly = np.log(x[use]), np.log(y[use])
    n = lx.size
    if n < 3 or np.unique(lx).size < 2:
        raise InputError(
            f"fit_power_law() needs at least 3 positive, finite pairs over 2 or more x values, got {n}: "
            "sweep more points or drop the runs that never reached the transition"
        )
    design = np.column_stack([lx, np.ones(n)])
    (slope, intercept), *_ = np.linalg.lstsq(design, ly, rcond=None)
    residual = ly - design @ np.array([slope, intercept])
    variance = residual @ residual / (n - 2)
    covariance = variance * np.linalg.inv(design.T @ design)
    prefactor = float(np.exp(intercept))
    return PowerLaw(
        exponent=float(slope),
        prefactor=prefactor,
        exponent_se=float(np.sqrt(covariance[0, 0])),
        prefactor_se=float(prefactor * np.sqrt(covariance[1, 1])),
        n=int(n),
    )


def phase_diagram(data, value: str, *, x: str, y: str, reduce: str = "mean", ax=None, log: bool = True):
    """Draw one summary value over two swept fields as an image with labelled axes.

    Arguments:
        data: :func:`training.open_sweep`'s summary, or any Dataset or DataArray with dims ``x`` and ``y``.
        value: the variable to draw (``generalisation_step``, ``n_circles``, ``test_acc``, ...).
        x, y: the two swept fields (dimensions), drawn along the horizontal and vertical axis.
        reduce: how the other dimensions (``replicate``, ...) are reduced: ``"mean"``, ``"median"``, ``"min"``
            or ``"max"`` (NaN left out).
        ax: a matplotlib axes to draw on; a new figure by default.
        log: colour by ``log10`` of the value when it is positive everywhere it is finite (times span decades).

    Returns:
        The matplotlib figure.

    Raises:
        InputError: a missing variable or dimension, ``x`` equal to ``y``, or an unknown ``reduce``.
    """
    if reduce not in ("mean", "median", "min", "max"):
        raise InputError(f"phase_diagram(): reduce must be mean, median, min or max, got {reduce!r}")
    if isinstance(data, xr.Dataset):
        if value not in data.data_vars:
            raise InputError(f"phase_diagram(): no variable {value!r}; the data has {', '.join(map(str, data))}")
        da = data[value]
    elif isinstance(data, xr.DataArray):
        da = data
    else:
        raise InputError(f"phase_diagram() needs a Dataset or DataArray, got {type(data).__name__}")
    if x == y or x not in da.dims or y not in da.dims:
        raise InputError(f"phase_diagram(): x and y must be two different dims of {value!r}, which has {da.dims}")
    rest = [dim for dim in da.dims if dim not in (x, y)]
    grid = getattr(da, reduce)(rest, skipna=True) if rest else da
    grid = grid.transpose(y, x).astype(np.float64)
    values = grid.values
    finite = values[np.isfinite(values)]
    logged = log and finite.size > 0 and bool((finite > 0).all())
    shown = np.log10(values) if logged else values

    import matplotlib.pyplot as plt

    fig = ax.figure if ax is not None else plt.figure(figsize=(5, 4))
    ax = ax if ax is not None else fig.add_subplot()
    image = ax.imshow(shown, origin="lower", aspect="auto", interpolation="nearest")
    ax.set_xticks(range(grid.sizes[x]), [f"{v:.3g}" if isinstance(v, float) else str(v) for v in grid[x].values])
    ax.set_yticks(range(grid.sizes[y]), [f"{v:.3g}" if isinstance(v, float) else str(v) for v in grid[y].values])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    label = f"log10 {value}" if logged else value
    fig.colorbar(image, ax=ax, label=f"{label} ({reduce} over {', '.join(rest)})" if rest else label)
    ax.set_title(f"{value} over {x} x {y}")
    return fig
