"""The problem a fit solves: states, their derivatives, the rows' times, inputs and how the samples are grouped.

A :class:`Problem` is what every estimator (:mod:`dynamics.estimators`), every cross-validation fold and every
bootstrap replicate fits. Pooling is one grouping of the samples: all samples in one group give one ODE, each
sample in its own group one ODE each. A fold or a replicate is the same problem on a subset of its samples or
rows (:meth:`Problem.select`), so that no caller threads a pooling flag or an inputs array beside the data.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fittest.errors import InputError


@dataclasses.dataclass(frozen=True)
class Problem:
    """States and derivatives to regress, with what goes with them.

    Attributes:
        x: the states at the derivative rows, ``(S, N, C)``; NaN rows (a shorter sample's padding) weigh nothing.
        dxdt: their derivatives, ``(S, N, C)``.
        t: the rows' times, ``(N,)``.
        names: the components' names, as the terms print them.
        u: the control inputs at the rows, ``(S, N, m)``, or None.
        groups: ``(S,)``, the group of each sample: samples of one group share one ODE.
    """

    x: np.ndarray
    dxdt: np.ndarray
    t: np.ndarray
    names: list
    u: np.ndarray | None = None
    groups: np.ndarray | None = None

    @classmethod
    def of(cls, x, dxdt, t, *, names, u=None, pool: bool = False) -> Problem:
        """The problem of one ODE for all samples (``pool``) or one for each."""
        return cls(x=x, dxdt=dxdt, t=t, names=names, u=u, groups=grouping(x.shape[0], pool=pool))

    @property
    def n_samples(self) -> int:
        return self.x.shape[0]

    @property
    def pooled(self) -> bool:
        """Whether the samples form one group (one ODE for all).

        Raises:
            InputError: a grouping other than one group or one per sample, which no fitter takes yet.
        """
        groups = np.arange(self.n_samples) if self.groups is None else self.groups
        if np.unique(groups).size == groups.size:
            return False
        if np.all(groups == groups[0]):
            return True
        raise InputError("samples are grouped into several shared ODEs: group all samples together or none")

    def select(self, *, samples=None, rows=None) -> Problem:
        """The same problem on some of its samples and/or rows (a fold's training data, a replicate)."""
        x, dxdt, u, groups, t = self.x, self.dxdt, self.u, self.groups, self.t
        if samples is not None:
            x, dxdt = x[samples], dxdt[samples]
            u = None if u is None else u[samples]
            groups = None if groups is None else groups[samples]
        if rows is not None:
            x, dxdt = x[:, rows], dxdt[:, rows]
            u = None if u is None else u[:, rows]
            t = t[rows]
        return dataclasses.replace(self, x=x, dxdt=dxdt, t=t, u=u, groups=groups)

    def stacked(self, x, dxdt, u=None) -> Problem:
        """A problem of other states ``(S', N, C)`` on these rows' times, one ODE per sample (a replicate's
        resampled rows: no longer a time series, pysindy needs only a grid of the right length)."""
        return Problem.of(x, dxdt, self.t[: x.shape[1]], names=self.names, u=u)


def grouping(n_samples: int, *, pool: bool) -> np.ndarray:
    """The groups ``(S,)`` of :func:`dynamics.fit`'s ``pool``: all samples in one, or each in its own.

    Arguments:
        n_samples: ``S``.
        pool: one ODE for all samples.

    Returns:
        The group label of each sample.
    """
    return np.zeros(n_samples, dtype=int) if pool else np.arange(n_samples)


def members(groups: np.ndarray | None, n_samples: int) -> list[np.ndarray]:
    """The samples of each group, the groups in the order they first appear; one group per sample when None.

    Arguments:
        groups: ``(S,)`` group labels, or None.
        n_samples: ``S``.

    Returns:
        One array of sample indices per group (one ODE each).
    """
    if groups is None:
        return [np.array([sample]) for sample in range(n_samples)]
    groups = np.asarray(groups)
    _, first = np.unique(groups, return_index=True)
    return [np.flatnonzero(groups == groups[index]) for index in np.sort(first)]


def fewest_rows(rows: np.ndarray, groups: np.ndarray | None) -> int:
    """The number of data rows of the smallest group's regression.

    Arguments:
        rows: ``(S, N)`` booleans, True where a row holds data.
        groups: ``(S,)`` group labels, or None for one group per sample.
    """
    return min(int(rows[part].sum()) for part in members(groups, rows.shape[0]))


def grouped(values: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """``(S, ...)`` values as ``(G, k, ...)``: the ``k`` samples of each of the ``G`` groups together.

    Raises:
        InputError: groups of different sizes (their samples cannot share one array).
    """
    parts = members(groups, values.shape[0])
    if len({part.size for part in parts}) > 1:
        raise InputError("the sample groups differ in size: group all samples together or none")
    return values[np.stack(parts)]


def group_rows(values: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """``(S, N, k)`` values as ``(G, n N, k)``: the rows of each group's ``n`` samples one after another, as one
    regression (or one score) sees them.

    Raises:
        InputError: groups of different sizes.
    """
    if groups is None:
        return values
    together = grouped(values, groups)
    return together.reshape(together.shape[0], -1, together.shape[-1])
