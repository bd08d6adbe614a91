"""Which solution methods a fitted model supports, and the one it is solved with by default.

A fit's terms decide how it can be solved: the matrix exponential needs ``dx/dt = A x + b`` without inputs,
diffrax needs monomial terms (it evaluates them in jax), and Euler steps need only a right-hand side that can be
evaluated. :meth:`dynamics.FittedODE.simulate` and :func:`dynamics.compare` ask here, so that a default never
names a method the model cannot take and a refusal names one it can.

Each method is also a small frozen object carrying its own options (:class:`Analytic`, :class:`Diffrax`,
:class:`Euler`), which ``simulate(method=...)``, :func:`dynamics.compare`, :func:`dynamics.select` and
:func:`dynamics.write_report` take in place of the name; :func:`label` names it on a comparison's ``solution``
dimension.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

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


@dataclass(frozen=True)
class Analytic:
    """The matrix exponential of ``dx/dt = A x + b`` (affine fits without inputs); see :func:`dynamics.solve.analytic`.

    Arguments:
        form: ``"augmented"`` (no inverse of A) or ``"paper"`` (eq. 4 with ``A + eps I``).
        eps: the paper form's shift.

    Raises:
        InputError: (when solving) an unknown ``form``, or a fit that is not affine or has control inputs.
    """

    form: str = "augmented"
    eps: float = 1e-8
    name: ClassVar[str] = "analytic"


@dataclass(frozen=True)
class Diffrax:
    """An adaptive ODE solve with diffrax in float64 (monomial terms); see :func:`dynamics.solve.diffrax_solve`.

    Arguments:
        solver: ``"tsit5"`` (explicit) or ``"kvaerno5"`` (implicit, for stiff systems).
        rtol, atol: the step-size controller's tolerances.
        max_steps: the most steps per sample; a sample that needs more counts as diverged.

    Raises:
        InputError: (when solving) an unknown ``solver``, tolerances that are not positive, or terms that are not
            monomials.
    """

    solver: str = "tsit5"
    rtol: float = 1e-8
    atol: float = 1e-10
    max_steps: int = 100_000
    name: ClassVar[str] = "diffrax"


@dataclass(frozen=True)
class Euler:
    """The discrete rollout ``x[k+1] = x[k] + dt f(x[k])`` on the solution's grid (any right-hand side); it
    takes no options."""

    name: ClassVar[str] = "euler"


Solver = Analytic | Diffrax | Euler
_CLASSES = {cls.name: cls for cls in (Analytic, Diffrax, Euler)}


def as_solver(method, **options) -> Solver:
    """The solver object of ``method``: an object is kept; a name is built with the options its class takes.

    Arguments:
        method: ``"analytic"``, ``"diffrax"``, ``"euler"`` or a solver object.
        **options: ``form``, ``eps``, ``solver``, ``rtol``, ``atol``, ``max_steps``; each class takes its own.

    Raises:
        InputError: an unknown name.
    """
    if isinstance(method, Solver):
        return method
    if method not in _CLASSES:
        raise InputError(f"unknown method {method!r}: use one of {SOLUTIONS} or a dynamics.solutions solver")
    cls = _CLASSES[method]
    return cls(**{key: value for key, value in options.items() if key in cls.__dataclass_fields__})


def label(method) -> str:
    """The name of ``method`` on a comparison's ``solution`` dimension: a name as it is, an object by its
    method's name followed by the options it sets away from their defaults (``"diffrax(rtol=1e-06)"``).

    Arguments:
        method: a name of :data:`dynamics.catalog.SOLUTIONS` or a solver object.

    Returns:
        The label; an object with default options is labelled by its name alone, as the name is.

    Raises:
        InputError: neither a known name nor a solver object.
    """
    if isinstance(method, str) and method in SOLUTIONS:
        return method
    if not isinstance(method, Solver):
        raise InputError(f"unknown method {method!r}: use some of {SOLUTIONS} or a dynamics.solutions solver")
    default = type(method)()
    changed = [
        f"{key}={getattr(method, key)!r}"
        for key in method.__dataclass_fields__
        if getattr(method, key) != getattr(default, key)
    ]
    return method.name if not changed else f"{method.name}({', '.join(changed)})"
