"""The one place that turns xarray input into a ``(sample, time, component)`` float64 array, with checks.

Every dimension of the input other than the time and the component dimension is a sample dimension: the
samples are flattened into one leading axis for the vectorised fitters and solvers, and
:meth:`Trajectories.wrap` puts results back into the input's labelled shape.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import xarray as xr

from fittest.errors import InputError


@dataclass(frozen=True)
class Trajectories:
    """Trajectories as a plain array plus everything needed to label results again.

    Attributes:
        values: shape ``(S, T, C)``; ``S`` is the product of the sample dimensions' sizes (1 when none).
        t: the time coordinate, shape ``(T,)``, float64, strictly increasing.
        time: the name of the time dimension.
        component: the name of the component dimension.
        components: the component coordinate's values, shape ``(C,)``.
        sample_dims: the sample dimensions, in the input's order.
        sample_shape: their sizes.
        sample_coords: the input's coordinates that live on sample dimensions only (``run``, ``seed``, ...).
        variable: the name of the data variable the values came from, if any.
        t_range: the time window that was selected, if any.
        unit_steps: True when the data had no time coordinate, so that ``t`` is ``0, 1, 2, ...``: rates are
            then per step, whatever the data's real spacing.
        lengths: shape ``(S,)``, each sample's number of observed time points when some samples are shorter
            (ragged data: ``values`` is NaN from ``lengths[s]`` on, the padding); None when every sample is whole.
        mask: shape ``(S, T)``, True where each sample was observed, for runs on different time grids placed on
            the union of their grids (:func:`from_runs`); None otherwise.
    """

    values: np.ndarray
    t: np.ndarray
    time: str
    component: str
    components: np.ndarray
    sample_dims: tuple[str, ...] = ()
    sample_shape: tuple[int, ...] = ()
    sample_coords: dict = field(default_factory=dict)
    variable: str | None = None
    t_range: tuple[float, float] | None = None
    unit_steps: bool = False
    lengths: np.ndarray | None = None
    mask: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return self.values.shape[0]

    @property
    def ragged(self) -> bool:
        """True when some sample is shorter than the time axis (NaN padding at its end) or, for runs on
        different grids, misses some of its points."""
        return self.lengths is not None or self.mask is not None

    @property
    def observed(self) -> np.ndarray:
        """Shape ``(S, T)``: True at the time points each sample observed (False on the padding)."""
        if self.mask is not None:
            return self.mask
        if self.lengths is None:
            return np.ones(self.values.shape[:2], dtype=bool)
        return np.arange(self.t.size)[None, :] < self.lengths[:, None]

    @property
    def x0(self) -> np.ndarray:
        """The first observed state of every sample, shape ``(S, C)``."""
        return self.values[:, 0, :]

    def coords(self, *dims: str) -> dict:
        """The sample coordinates plus the given extra dimensions' coordinates, for building a DataArray."""
        out = {name: coord for name, coord in self.sample_coords.items()}
        for dim in dims:
            if dim == self.time:
                out[dim] = self.t
            elif dim == self.component:
                out[dim] = self.components
        return out

    def wrap(self, array: np.ndarray, dims: Sequence[str], coords: dict | None = None, **kwargs) -> xr.DataArray:
        """Label ``array`` whose leading axis is the flattened samples.

        Arguments:
            array: shape ``(S, *rest)``.
            dims: the names of the ``rest`` axes.
            coords: extra coordinates for those axes (the time and component coordinates are added when
                their names appear in ``dims``).
            **kwargs: passed on to :class:`xarray.DataArray` (``name``, ``attrs``).

        Returns:
            A DataArray with dims ``(*sample_dims, *dims)``.
        """
        array = np.asarray(array)
        shaped = array.reshape(self.sample_shape + array.shape[1:])
        all_coords = self.coords(*dims)
        all_coords.update(coords or {})
        return xr.DataArray(shaped, dims=self.sample_dims + tuple(dims), coords=all_coords, **kwargs)

    def with_values(self, values: np.ndarray, t: np.ndarray) -> Trajectories:
        """A copy with other values on another time grid (same samples and components), every sample whole."""
        return Trajectories(
            values=values,
            t=t,
            time=self.time,
            component=self.component,
            components=self.components,
            sample_dims=self.sample_dims,
            sample_shape=self.sample_shape,
            sample_coords=self.sample_coords,
            variable=self.variable,
            t_range=self.t_range,
            unit_steps=self.unit_steps,
        )

    def to_dataarray(self, name: str | None = None) -> xr.DataArray:
        """The values as a DataArray with dims ``(*sample_dims, time, component)``."""
        return self.wrap(self.values, (self.time, self.component), name=name or self.variable)


# dimension names read as time or as the state's components when the caller names none (issue 23, 12): the
# neural-network run dataset's own first, so that its fits stay what they were
TIME_NAMES = ("step", "time", "t", "steps", "epoch", "iteration", "year", "years", "day", "days", "seconds")
COMPONENT_NAMES = ("frequency", "component", "components", "state", "species", "variable", "feature", "c", "dim")
STACKED = "component"  # the component dimension of a Dataset of one variable per component


def infer_dims(da: xr.DataArray, time: str | None, component: str | None) -> tuple[str, str]:
    """The time and component dimensions of ``da``: the given ones, or the unambiguous ones.

    Time: a dimension named like time (:data:`TIME_NAMES`, the first found in that order), else the only
    dimension with a strictly increasing numeric coordinate. Component: a dimension named like one
    (:data:`COMPONENT_NAMES`), else the only dimension left besides time in 2-D data.

    Raises:
        InputError: no dimension, or several, could be the one asked for.
    """
    declared = da.attrs.get("component")  # a variable that names its own component dimension (a run dataset's)
    if component is None and isinstance(declared, str) and declared in da.dims:
        component = declared
    dims = [str(d) for d in da.dims]
    if time is None:
        named = [name for name in TIME_NAMES if name in dims and name != component]
        if named:
            time = named[0]
        else:
            increasing = [
                d
                for d in dims
                if d != component
                and d in da.coords
                and np.issubdtype(da[d].dtype, np.number)
                and da.sizes[d] > 1
                and bool(np.all(np.diff(np.asarray(da[d].values, dtype=np.float64)) > 0))
            ]
            if len(increasing) > 1:
                # a coordinate 0, 1, 2, ... numbers samples (run) as often as it counts time: prefer a real grid
                grids = [d for d in increasing if not np.array_equal(da[d].values, np.arange(da.sizes[d]))]
                increasing = grids if len(grids) == 1 else increasing
            if len(increasing) != 1:
                raise InputError(
                    f"cannot tell which dimension of {tuple(dims)} is time ("
                    + ("several have increasing coordinates" if increasing else "none is named like time")
                    + "): pass time='<dim>'"
                )
            time = increasing[0]
    if component is None:
        named = [name for name in COMPONENT_NAMES if name in dims and name != time]
        rest = [d for d in dims if d != time]
        if named:
            component = named[0]
        elif len(rest) == 1:
            component = rest[0]
        else:
            raise InputError(
                f"cannot tell which of the dimensions {tuple(rest)} indexes the state's components: pass "
                "component='<dim>'"
            )
    return time, component


def from_numpy(values, t=None) -> xr.DataArray:
    """A numpy array as trajectories: ``(T,)`` one component, ``(T, C)``, or ``(S, T, C)`` samples; ``t`` the
    times (unit steps when None).

    Raises:
        InputError: another number of dimensions, values that are not numbers, or ``t`` of another length.
    """
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("data must be an xarray Dataset or DataArray, or an array of numbers") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim not in (2, 3):
        raise InputError(
            f"a numpy array of trajectories must be (time,), (time, component) or (sample, time, component); got "
            f"shape {array.shape}: wrap it in xarray.DataArray with named dims for other layouts"
        )
    dims = ("time", "component") if array.ndim == 2 else ("sample", "time", "component")
    da = xr.DataArray(array, dims=dims)
    return da if t is None else with_times(da, t, "time")


def with_times(da: xr.DataArray, t, time: str) -> xr.DataArray:
    """``da`` with ``t`` as its time coordinate.

    Raises:
        InputError: ``t`` is not 1-D numbers of the time axis's length.
    """
    try:
        times = np.asarray(t, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("t must be a 1-D array of times") from None
    if times.ndim == 0 and np.isfinite(times) and times > 0:  # a step, as pysindy takes it
        times = np.arange(da.sizes[time]) * float(times)
    if times.ndim != 1 or times.size != da.sizes[time]:
        raise InputError(f"t must hold one time per point of {time!r} ({da.sizes[time]}), got shape {times.shape}")
    return da.assign_coords({time: times})


def select_variable(
    data: xr.Dataset | xr.DataArray,
    variable: Hashable | None,
    *,
    exclude: Sequence[Hashable] = (),
) -> xr.DataArray:
    """The DataArray to fit: ``data`` itself, or the named variable of a Dataset (``amplitude`` by default, or the
    only one); a Dataset of several variables of the same dimensions, none chosen, is one variable per component,
    stacked along a new dimension :data:`STACKED` (``exclude``: variables that are no state, such as inputs).

    Raises:
        InputError: ``data`` is neither, or the variable is missing.
    """
    if isinstance(data, xr.DataArray):
        if variable is not None and data.name is not None and data.name != variable:
            raise InputError(f"variable={variable!r} was given but the DataArray is named {data.name!r}: drop it")
        return data
    if not isinstance(data, xr.Dataset):
        raise InputError(
            f"data must be an xarray Dataset or DataArray, got {type(data).__name__}: wrap a numpy array in "
            "xarray.DataArray(values, dims=(..., 'step', 'frequency'))"
        )
    if variable is None:
        states = [name for name in data.data_vars if name not in set(exclude)]
        if "amplitude" in data.data_vars:
            variable = "amplitude"
        elif len(states) == 1:
            variable = states[0]
        elif len(states) > 1 and len({data[name].dims for name in states}) == 1 and STACKED not in data.dims:
            # pysindy users hold x, y, z as variables: they are the components, in the Dataset's order
            return data[states].to_dataarray(dim=STACKED).rename(None)
        else:
            raise InputError(
                f"the Dataset has several variables {sorted(map(str, data.data_vars))} and no 'amplitude': "
                "choose one with variable=..."
            )
    if variable not in data.data_vars:
        raise InputError(
            f"variable {variable!r} is not in the Dataset (it has {sorted(map(str, data.data_vars))}): "
            "choose one of those with variable=..."
        )
    return data[variable]


def as_trajectories(
    data: xr.Dataset | xr.DataArray,
    *,
    variable: Hashable | None = None,
    time: str | None = "step",
    component: str | None = "frequency",
    t_range: Sequence[float] | None = None,
    exclude: Sequence[Hashable] = (),
) -> Trajectories:
    """Check ``data`` and flatten it to ``(sample, time, component)``.

    Arguments:
        data: a Dataset (see ``variable``) or a DataArray with a time and a component dimension.
        variable: the Dataset variable to use; ``amplitude`` when present, or the only variable.
        time: the time dimension. Its coordinate is the time grid; without one the grid is ``0, 1, ...`` (unit
            steps), and :attr:`Trajectories.unit_steps` says so. None: inferred (see :func:`infer_dims`).
        component: the component dimension: the state vector's entries; None: inferred.
        exclude: Dataset variables that are not states (inputs), left out when the variables are the components.
        t_range: ``(start, stop)``, both inclusive, in units of the time coordinate, like ``.sel``.

    Returns:
        The checked :class:`Trajectories`.

    Raises:
        InputError: a dimension is missing, a sample dimension is empty, values are infinite or NaN anywhere but
            in padding at the end of a sample, a sample has fewer than two observed points, the time coordinate is
            not strictly increasing or not numeric, or the window holds fewer than two time points.

    Samples of different lengths are given as NaN padding at the end of the time axis (every component NaN
    from some time on, as ``xr.concat`` of shorter runs makes): :attr:`Trajectories.lengths` then holds each
    sample's length, and the fits, the trajectory objective and the scores use the observed points only.
    """
    if not isinstance(data, xr.Dataset | xr.DataArray) and data is not None and not isinstance(data, str):
        data = from_numpy(data)
    da = select_variable(data, variable, exclude=exclude)
    name = None if da.name is None else str(da.name)
    if time is None or component is None:
        time, component = infer_dims(da, time, component)
    for label, dim in (("time", time), ("component", component)):
        if dim not in da.dims:
            raise InputError(
                f"the {label} dimension {dim!r} is not in the data (dims {tuple(map(str, da.dims))}): "
                f"pass {label}='<one of those>'"
            )
    if time == component:
        raise InputError(f"time and component must be different dimensions, both are {time!r}")
    if time in da.coords:
        t_all = np.asarray(da[time].values)
        if np.issubdtype(t_all.dtype, np.datetime64) or np.issubdtype(t_all.dtype, np.timedelta64):
            raise InputError(
                f"the time coordinate {time!r} holds dates: convert it to numbers (for example seconds or years "
                "since the start) with data.assign_coords(...)"
            )
        if not np.issubdtype(t_all.dtype, np.number):
            raise InputError(f"the time coordinate {time!r} must be numeric, got dtype {t_all.dtype}")
        t_all = t_all.astype(np.float64)
        unit_steps = False
    else:
        t_all = np.arange(da.sizes[time], dtype=np.float64)
        unit_steps = True
    if not np.all(np.isfinite(t_all)):
        raise InputError(f"the time coordinate {time!r} holds NaN or inf: drop those points with .isel/.dropna")
    steps = np.diff(t_all)
    if np.any(steps <= 0):
        bad = int(np.argmax(steps <= 0))
        raise InputError(
            f"the time coordinate {time!r} is not strictly increasing (at index {bad + 1}: {t_all[bad]} then "
            f"{t_all[bad + 1]}): sort it with .sortby({time!r}) and drop duplicates with "
            f".drop_duplicates({time!r})"
        )
    window = None
    if t_range is not None:
        try:
            start, stop = (float(v) for v in t_range)
        except (TypeError, ValueError):
            raise InputError(f"t_range must be two numbers (start, stop), got {t_range!r}") from None
        if not start < stop:
            raise InputError(f"t_range must have start < stop, got {t_range!r}")
        if start < t_all[0] or stop > t_all[-1]:
            # the window is clipped to the data; say so, or a fit over "0..1000" of a 300-step run misleads
            warnings.warn(
                f"t_range ({start:g}, {stop:g}) reaches beyond the data's {time!r} range ({t_all[0]:g}, "
                f"{t_all[-1]:g}): fitting {max(start, t_all[0]):g}..{min(stop, t_all[-1]):g} only",
                UserWarning,
                stacklevel=3,
            )
        keep = (t_all >= start) & (t_all <= stop)
        da = da.isel({time: np.flatnonzero(keep)})
        t_all = t_all[keep]
        window = (start, stop)
    if t_all.size < 2:
        raise InputError(
            f"the time window holds {t_all.size} point(s) of {time!r}; at least 2 are needed: widen t_range"
        )
    if da.sizes[component] < 1:
        raise InputError(f"the component dimension {component!r} is empty")
    if not np.issubdtype(da.dtype, np.number) or np.issubdtype(da.dtype, np.complexfloating):
        raise InputError(f"the data must be real numbers, got dtype {da.dtype}")

    sample_dims = tuple(str(d) for d in da.dims if d not in (time, component))
    empty = [d for d in sample_dims if da.sizes[d] == 0]
    if empty:
        raise InputError(
            f"the sample dimension {empty[0]!r} is empty (size 0): there is no trajectory to fit; check the "
            f"selection (.isel/.sel on {empty[0]!r})"
        )
    da = da.transpose(*sample_dims, time, component)
    values = np.asarray(da.values, dtype=np.float64)
    sample_shape = tuple(da.sizes[d] for d in sample_dims)
    lengths = _lengths(values.reshape((-1,) + values.shape[-2:]), da.dims, sample_shape)
    sample_coords = {str(k): v.variable for k, v in da.coords.items() if set(v.dims) <= set(sample_dims) and v.dims}
    if component in da.coords:
        components = np.asarray(da[component].values)
    else:
        components = np.arange(da.sizes[component])
    return Trajectories(
        values=values.reshape((-1,) + values.shape[-2:]),
        t=t_all,
        time=time,
        component=component,
        components=components,
        sample_dims=sample_dims,
        sample_shape=sample_shape,
        sample_coords=sample_coords,
        variable=name,
        t_range=window,
        unit_steps=unit_steps,
        lengths=lengths,
    )


def from_runs(
    runs: Sequence,
    *,
    variable: Hashable | None = None,
    time: str | None = None,
    component: str | None = None,
    t: Sequence | None = None,
    t_range: Sequence[float] | None = None,
    exclude: Sequence[Hashable] = (),
) -> Trajectories:
    """Runs on different time grids (another step, another start) as one :class:`Trajectories` on a ``run``
    dimension, as pysindy takes a list of trajectories with a list of ``t``.

    Each run's time is counted from its own first point (the ODE is autonomous: where a run starts on the clock
    does not enter its dynamics), and the runs are placed on the union of those grids; a run is NaN at the
    union's points it did not observe, and :attr:`Trajectories.mask` says which it did. Every run is
    differentiated on its own grid.

    Arguments:
        runs: DataArrays or Datasets (each with its own time coordinate) or numpy arrays ``(T, C)`` or ``(T,)``,
            each one trajectory (no sample dimensions).
        variable, time, component, t_range, exclude: as for :func:`as_trajectories`, for every run.
        t: for numpy runs, the list of their times, one array (or step) per run.

    Returns:
        The :class:`Trajectories`, with ``mask`` set.

    Raises:
        InputError: no runs, a run with sample dimensions, runs whose components or dimensions differ, a ``t``
            that is not one entry per run, or :func:`as_trajectories`'s errors for a run.
    """
    if len(runs) == 0:
        raise InputError("the list of runs is empty: give at least one trajectory")
    if t is not None and (isinstance(t, str) or not isinstance(t, Sequence) or len(t) != len(runs)):
        raise InputError(f"with a list of {len(runs)} runs, t is a list of their times, one array per run")
    parts = []
    for i, run in enumerate(runs):
        da = select_variable(run, variable, exclude=exclude) if isinstance(run, xr.Dataset | xr.DataArray) else None
        da = from_numpy(run) if da is None else da
        run_time, run_component = infer_dims(da, time, component)
        da = da if t is None else with_times(da, t[i], run_time)
        part = as_trajectories(da, time=run_time, component=run_component, t_range=t_range)
        if part.sample_dims:
            raise InputError(
                f"run {i} has the sample dimension(s) {part.sample_dims}: each run in the list is one trajectory "
                "(time and component only); give its samples as runs of their own"
            )
        first = parts[0] if parts else part
        if (part.time, part.component) != (first.time, first.component) or not np.array_equal(
            part.components, first.components
        ):
            raise InputError(
                f"run {i} has the dims ({part.time!r}, {part.component!r}) and components {list(part.components)}, "
                f"run 0 ({first.time!r}, {first.component!r}) and {list(first.components)}: the runs must agree"
            )
        parts.append(part)
    rebased = [part.t - part.t[0] for part in parts]
    # times that differ by rounding only (0.1 * 3 against 0.3) are one point of the union
    tolerance = 1e-9 * max(1.0, max(float(times[-1]) for times in rebased))
    union = np.unique(np.concatenate(rebased))
    union = union[np.concatenate([[True], np.diff(union) > tolerance])]
    first = parts[0]
    values = np.full((len(parts), union.size, first.values.shape[2]), np.nan)
    mask = np.zeros((len(parts), union.size), dtype=bool)
    for sample, (part, times) in enumerate(zip(parts, rebased, strict=True)):
        at = np.searchsorted(union, times - tolerance)
        values[sample, at] = part.values[0]
        mask[sample, at] = True
    # the first run's labels, on the union grid, with the runs as samples
    return replace(
        first,
        values=values,
        t=union,
        sample_dims=("run",),
        sample_shape=(len(parts),),
        unit_steps=any(part.unit_steps for part in parts),
        mask=mask,
    )


def _lengths(values: np.ndarray, dims: tuple, sample_shape: tuple[int, ...]) -> np.ndarray | None:
    """Each sample's observed length when some end in NaN padding; None when every sample is whole.

    Raises:
        InputError: inf anywhere, NaN that is not padding (a gap, or one component missing), or a sample with
            fewer than two observed points.
    """
    bad = ~np.isfinite(values)  # (S, T, C)
    if not bad.any():
        return None
    missing = bad.any(axis=2)  # (S, T)
    n_t = values.shape[1]
    lengths = np.where(missing.any(axis=1), np.argmax(missing, axis=1), n_t)
    padding = np.arange(n_t)[None, :] >= lengths[:, None]
    # padding is all-NaN rows after the last observed one; anything else missing is a hole in the data
    hole = (bad & ~padding[..., None]) | (padding[..., None] & ~np.isnan(values)) | np.isinf(values)

    def where(sample: int, *rest: int) -> dict:
        index = np.unravel_index(sample, sample_shape) if sample_shape else ()
        return dict(zip(dims, (*map(int, index), *rest), strict=False))

    if hole.any():
        sample = int(np.argmax(hole.any(axis=(1, 2))))
        first = where(sample, int(np.argmax(hole[sample].any(axis=1))))
        if (np.isnan(values).all(axis=2) | np.isfinite(values).all(axis=2)).all():
            # whole time points missing inside a series: what aligning runs of different grids on one axis makes
            raise InputError(
                f"the data holds NaN or inf at whole time points inside a sample's series (first at index {first}), "
                "not padding at its end: runs on different time grids (another step or start) go in as a list, each "
                "with its own time coordinate, dynamics.fit([run_a, run_b], ...); otherwise fill the gaps "
                "(.interpolate_na) or select a window without them (t_range=...)"
            )
        raise InputError(
            f"the data holds NaN or inf value(s) that are not padding at the end of a sample (first at index "
            f"{first}): select a window without them (t_range=...), drop those samples, or fill them "
            "(.interpolate_na); only a shorter sample's end may be NaN, in every component"
        )
    if lengths.min() < 2:
        sample = int(np.argmin(lengths))
        raise InputError(
            f"a sample ({where(sample)}) has {int(lengths.min())} observed time point(s) before its NaN padding; "
            "at least 2 are needed: drop it"
        )
    return lengths if (lengths < n_t).any() else None


def as_inputs(u, data: xr.Dataset | xr.DataArray, traj: Trajectories) -> tuple[list[str], np.ndarray]:
    """Control inputs ``u`` on the trajectories' samples and time grid, as pysindy's ``u`` enters a model.

    Arguments:
        u: a DataArray, or the name of a variable of the Dataset ``data``, with the data's time dimension (and
            coordinate, from which the fit's window is selected), any of the sample dimensions (an input shared
            by every sample may lack them) and at most one more dimension, which indexes the inputs.
        data: what the trajectories were read from.
        traj: the trajectories.

    Returns:
        ``(names, values)``: the inputs' names (the coordinate of their dimension; the DataArray's name, or
        ``u``, for a single input) and their values, shape ``(S, T, m)``.

    Raises:
        InputError: a name that is no variable of a Dataset, u without the time dimension, with other sample
            sizes or more than one extra dimension, another time grid, or values that are not finite.
    """
    if isinstance(u, str):
        if not isinstance(data, xr.Dataset) or u not in data.data_vars:
            raise InputError(
                f"u={u!r} names no variable of the data: pass a Dataset holding it, or the input as a DataArray"
            )
        u = data[u]
    if not isinstance(u, xr.DataArray):
        raise InputError(f"u must be a DataArray or a Dataset variable's name, got {type(u).__name__}")
    if traj.time not in u.dims:
        raise InputError(f"u has no time dimension {traj.time!r} (dims {tuple(map(str, u.dims))}): give it the data's")
    extra = [str(d) for d in u.dims if d != traj.time and d not in traj.sample_dims]
    if len(extra) > 1:
        raise InputError(f"u has the dimensions {extra} beyond the data's: keep one, which indexes the inputs")
    if traj.t_range is not None and traj.time in u.coords:
        start, stop = traj.t_range
        u = u.sel({traj.time: slice(start, stop)})
    if u.sizes[traj.time] != traj.t.size or (
        traj.time in u.coords and not np.allclose(np.asarray(u[traj.time], dtype=np.float64), traj.t)
    ):
        raise InputError(f"u must be on the data's time grid ({traj.t.size} points of {traj.time!r})")
    for dim in traj.sample_dims:
        if dim in u.dims and u.sizes[dim] != traj.sample_shape[traj.sample_dims.index(dim)]:
            raise InputError(f"u has {u.sizes[dim]} entries along {dim!r}, the data {traj.sample_shape}")
    if extra:
        names = [str(v) for v in (u[extra[0]].values if extra[0] in u.coords else range(u.sizes[extra[0]]))]
        names = [name if extra[0] in u.coords else f"u_{name}" for name in names]
    else:
        u = u.expand_dims("input", axis=-1)
        extra, names = ["input"], [str(u.name) if u.name is not None else "u"]
    sizes = dict(zip(traj.sample_dims, traj.sample_shape, strict=True))
    u = u.expand_dims({d: n for d, n in sizes.items() if d not in u.dims})
    values = np.asarray(u.transpose(*traj.sample_dims, traj.time, extra[0]).values, dtype=np.float64)
    values = values.reshape(traj.n_samples, traj.t.size, -1)
    observed = traj.observed
    if not np.all(np.isfinite(values[observed])):
        raise InputError("u holds NaN or inf at observed time points: fill them (.interpolate_na)")
    if not observed.all():
        # a shorter sample's padding weighs nothing, but the trajectory objective solves over the whole grid and
        # interpolates u there: it holds the sample's last input, so that a NaN there cannot stop the solve
        last = np.maximum.accumulate(np.where(observed, np.arange(traj.t.size), 0), axis=1)
        values = np.take_along_axis(values, last[..., None], axis=1)
    return names, values
