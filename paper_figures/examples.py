"""The run and the two frequencies a figure draws as its example (figures 2, 9 and 13 draw the same ones)."""

from __future__ import annotations

import numpy as np
import xarray as xr


def example_run(alive: xr.DataArray) -> int:
    """The first run with a surviving circle (run 0 when none has one), from ``training.survivors``' mask."""
    return int(np.argmax(alive.sum("frequency").values > 0))


def dead_and_surviving(ds: xr.Dataset, alive: xr.DataArray, run: int) -> tuple[int, int]:
    """A dead and a surviving frequency of ``run``, the most telling of each.

    The dead one started strongest (the largest initial amplitude among the dead), so its decay is not
    explained by a small start; the surviving one ends strongest (the largest final amplitude among the
    survivors, or among all frequencies when none survived).

    Returns:
        ``(dead_k, live_k)``.
    """
    ks = ds.frequency.values
    amplitude = ds.amplitude.isel(run=run)
    survived = alive.isel(run=run).values
    initial, final = amplitude.isel(step=0).values, amplitude.isel(step=-1).values
    dead_k = int(ks[~survived][np.argmax(initial[~survived])])
    live_k = int(ks[survived][np.argmax(final[survived])]) if survived.any() else int(ks[np.argmax(final)])
    return dead_k, live_k
