"""Which solution methods a fitted model supports, and the one it is solved with by default.

A fit's terms decide how it can be solved: the matrix exponential needs ``dx/dt = A x + b`` without inputs,
diffrax needs monomial terms (it evaluates them in jax), and Euler steps need only a right-hand side that can be
evaluated. :meth:`dynamics.FittedODE.simulate` and :func:`dynamics.compare` ask here, so that a default never
names a method the model cannot take and a refusal names one it can.
"""

from __future__ import annotations

from dynamics.catalog import SOLUTIONS
from fittest.errors import InputError


def supported(*, affine: bool, polynomial: bool, inputs: bool) -> tuple[str, ...]:
    """The methods of :data:`dynamics.catalog.SOLUTIONS` that solve such a model, the most exact first.

    Arguments:
        affine: every term is ``x_j``, ``u_k`` or ``1``.
        polynomial: every term is a monomial.
        inputs: the terms include control inputs.
    """
    methods = []
    if affine and not inputs:
        methods.append("analytic")
    if polynomial:
        methods.append("diffrax")
    methods.append("euler")
    return tuple(methods)


def choose(method: str | None, *, model: str, affine: bool, polynomial: bool, inputs: bool) -> str:
    """``method`` checked against what the model supports; the most exact supported one when None.

    Raises:
        InputError: an unknown method, or one the model does not support (the message names those it does).
    """
    can = supported(affine=affine, polynomial=polynomial, inputs=inputs)
    if method is None:
        return can[0]
    if method not in SOLUTIONS:
        raise InputError(f"unknown method {method!r}: use one of {SOLUTIONS}")
    if method not in can:
        why = {
            "analytic": "the matrix exponential solves dx/dt = A x + b without inputs only",
            "diffrax": "diffrax needs monomial terms, and this pysindy library has others",
        }[method]
        raise InputError(f"method={method!r} cannot solve this {model} fit ({why}): use {' or '.join(map(repr, can))}")
    return method
