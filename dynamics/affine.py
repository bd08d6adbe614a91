"""The affine reading of a fit, ``dx/dt = A x + B u + b``: its matrices, eigenvalues, stability and condition.

A fit whose terms are all ``x_j``, ``u_k`` or ``1`` is this system; its coefficients, one per term, are gathered
into ``A`` (the states' columns), ``B`` (the inputs') and ``b`` (the constant). :class:`dynamics.FittedODE`
exposes these as labelled properties, and the analytic solution takes the same matrices as flat arrays.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from dynamics import library as lib
from fittest.errors import InputError


def term_sources(library: lib.Library, model: str) -> list[int]:
    """Per term, the column of ``[x, u]`` it is (``x_j`` is ``j``, ``u_k`` is ``C + k``), or -1 for the constant.

    Raises:
        InputError: the terms are not all of degree 0 or 1 (the model has no ``A`` and ``b``).
    """
    if not library.is_affine:
        raise InputError(
            f"model {model!r} has terms of degree {library.degree}, so it has no A and b: use .coefficients"
        )
    return [int(np.flatnonzero(row)[0]) if row.sum() == 1 else -1 for row in library.powers]


def parts(coefficients: np.ndarray, library: lib.Library, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(A, B, b)`` of flat coefficients ``(..., C, P)``: shapes ``(..., C, C)``, ``(..., C, m)``, ``(..., C)``.

    Raises:
        InputError: the model is not affine (see :func:`term_sources`).
    """
    sources = term_sources(library, model)
    n = coefficients.shape[-2]
    A = np.zeros(coefficients.shape[:-1] + (n,))
    B = np.zeros(coefficients.shape[:-1] + (library.n_inputs,))
    b = np.zeros(coefficients.shape[:-1])
    for term, source in enumerate(sources):
        if source < 0:
            b += coefficients[..., term]
        elif source < n:
            A[..., source] += coefficients[..., term]
        else:  # beyond the states: a control input's column
            B[..., source - n] += coefficients[..., term]
    return A, B, b


def _outer_coords(coefficients: xr.DataArray) -> dict:
    """The coefficients' coordinates that do not run along the terms (samples' and the targets')."""
    return {k: v for k, v in coefficients.coords.items() if "term" not in v.dims}


def sample_coords(array: xr.DataArray, core: tuple[str, ...]) -> dict:
    """The coordinates of ``array`` that label samples only: none of them runs along the ``core`` dims."""
    return {k: v for k, v in array.coords.items() if not (set(core) & set(v.dims))}


def state_matrix(coefficients: xr.DataArray, library: lib.Library, sources: np.ndarray, model: str) -> xr.DataArray:
    """``A`` (samples..., ``target``, ``source``) of labelled coefficients (samples..., ``target``, ``term``)."""
    A = parts(coefficients.values, library, model)[0]
    coords = {**_outer_coords(coefficients), "source": ("source", sources)}
    return xr.DataArray(A, dims=coefficients.dims[:-1] + ("source",), coords=coords, name="A")


def input_matrix(coefficients: xr.DataArray, library: lib.Library, inputs: tuple[str, ...], model: str) -> xr.DataArray:
    """``B`` (samples..., ``target``, ``input``).

    Raises:
        InputError: the fit had no control inputs, or is not affine.
    """
    if not library.n_inputs:
        raise InputError("this fit has no control inputs, so no B: fit with dynamics.fit(..., u=...)")
    B = parts(coefficients.values, library, model)[1]
    coords = {**_outer_coords(coefficients), "input": ("input", list(inputs))}
    return xr.DataArray(B, dims=coefficients.dims[:-1] + ("input",), coords=coords, name="B")


def constant(coefficients: xr.DataArray, library: lib.Library, model: str) -> xr.DataArray:
    """``b`` (samples..., ``target``); zero where the model has no constant term."""
    b = parts(coefficients.values, library, model)[2]
    return xr.DataArray(b, dims=coefficients.dims[:-1], coords=_outer_coords(coefficients), name="b")


def eigenvalues(A: xr.DataArray) -> xr.DataArray:
    """Eigenvalues of ``A`` (samples..., ``eigenvalue``), sorted by decreasing real part."""
    values = np.linalg.eigvals(A.values)
    values = np.take_along_axis(values, np.argsort(-values.real, axis=-1), axis=-1)
    coords = sample_coords(A, ("target", "source"))
    return xr.DataArray(values, dims=A.dims[:-2] + ("eigenvalue",), coords=coords, name="eigenvalues")


def condition(A: xr.DataArray) -> xr.DataArray:
    """The condition number of ``A`` (samples...); ``inf`` or huge means singular."""
    with np.errstate(divide="ignore"):
        values = np.linalg.cond(A.values)
    return xr.DataArray(values, dims=A.dims[:-2], coords=sample_coords(A, ("target", "source")), name="condition")


def sparsity(coefficients: xr.DataArray, library: lib.Library) -> xr.DataArray:
    """The fraction of exactly-zero coefficients among the non-constant terms each equation may use."""
    allowed = library.mask.copy()
    if library.is_polynomial:
        allowed &= library.powers.sum(axis=1)[None, :] > 0
    mask = xr.DataArray(allowed, dims=("target", "term"))
    zero = ((coefficients == 0) & mask).sum(("target", "term"))
    return (zero / max(int(allowed.sum()), 1)).rename("sparsity")
