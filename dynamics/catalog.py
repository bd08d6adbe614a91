"""What ``dynamics`` offers, declared once: the models with their options, the solution and derivative methods.

The fitters in :mod:`dynamics.fitters` take their option defaults and choices from here, and a command line can
build its options from here without importing the fitting stack: this module imports the standard library only
(no numpy, xarray, scipy, scikit-learn, pysindy, jax or matplotlib), and ``dynamics/__init__.py`` loads its
other modules on first use, so ``import dynamics.catalog`` stays cheap.

The names:

- :data:`MODEL_SPECS`: model name -> :class:`ModelSpec` (``name``, one-line ``help``, ``options``), in the
  order :data:`dynamics.MODELS` registers the fitting functions.
- :class:`Option`: ``name``, ``type`` (``int``, ``float``, ``str``, or ``object`` for options that take a Python
  object such as a pysindy library, which no command line can spell), ``default``, one-line ``help``,
  ``choices`` (a tuple, or None when any value of the type is allowed).
- :data:`SOLUTIONS`: the solution methods of :meth:`dynamics.FittedODE.simulate` (its ``method=``) and of
  :func:`dynamics.compare` (its ``methods=``); :data:`DEFAULT_SOLUTION` is ``simulate``'s default
  (None: by what the fit supports).
- :data:`DERIVATIVES`: the derivative estimators :func:`dynamics.fit` takes by name (its ``derivative=``);
  :data:`DEFAULT_DERIVATIVE` is its default; :data:`DERIVATIVE_OPTIONS` are the Savitzky-Golay ``window`` and
  ``polyorder``. :data:`DEFAULT_MODEL` is ``fit``'s default model.

A command line turns them into options like this (options of the same name in two models, such as a lasso
``solver``, need a prefix of the caller's choosing)::

    import argparse
    from dynamics import catalog

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", nargs="+", default=[catalog.DEFAULT_MODEL], choices=list(catalog.MODEL_SPECS))
    parser.add_argument("--derivative", default=catalog.DEFAULT_DERIVATIVE, choices=catalog.DERIVATIVES)
    parser.add_argument("--methods", nargs="+", default=None, choices=catalog.SOLUTIONS)
    for spec in catalog.MODEL_SPECS.values():
        for option in spec.options:
            if option.type is object:
                continue
            parser.add_argument(
                f"--{spec.name}-{option.name}".replace("_", "-"),
                dest=f"{spec.name}_{option.name}",
                type=option.type,
                default=option.default,
                choices=option.choices,
                help=f"{spec.name}: {option.help} (default {option.default})",
            )
    args = parser.parse_args()
    # then, per model: dynamics.fit(data, model, **{o.name: getattr(args, f"{model}_{o.name}") for o in ...})
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from fittest.errors import InputError


class FitWarning(UserWarning):
    """A fit that ran but whose result the user should doubt or whose input was read by a default: an equation
    with every term eliminated, components of very different magnitudes under a penalty, data without a time
    coordinate, a trajectory refit that was worse than its start. ``warnings.simplefilter("error", FitWarning)``
    turns them into errors."""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Option:
    """One keyword option of a model's fitting function.

    Attributes:
        name: the keyword, as :func:`dynamics.fit` takes it.
        type: ``int``, ``float`` or ``str``; ``object`` when the option takes a Python object.
        default: the fitting function's default (None for "the library's own choice").
        help: one line, without the default.
        choices: the allowed values, or None when any value of ``type`` is allowed.
        words: words taken besides values of ``type`` (``"cv"``: choose by cross-validation).
        low, high: the bounds of a number (None: unbounded on that side); NaN and inf are never taken.
        above: True when the value must exceed ``low`` (``low`` itself is refused).
        below: True when the value must stay under ``high``.
        also: values taken besides the range (``0``: no bootstrap).
    """

    name: str
    type: type
    default: object
    help: str
    choices: tuple | None = None
    words: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    above: bool = False
    below: bool = False
    also: tuple = ()

    @property
    def constraint(self) -> str:
        """What a value must be, in words: ``an integer >= 2, or 0``."""
        kind = "an integer" if self.type is int else "a finite number"
        bounds = []
        if self.low == 0 and self.above and self.high is None:
            kind, bounds = ("a positive integer" if self.type is int else "a positive number"), None
        elif self.low is not None:
            bounds.append(f"{'>' if self.above else '>='} {_number(self.low)}")
        if self.high is not None and bounds is not None:
            bounds.append(f"{'<' if self.below else '<='} {_number(self.high)}")
        text = f"{kind} {' and '.join(bounds or ())}".rstrip()
        extras = [repr(v) for v in self.also] + [repr(w) for w in self.words]
        if self.default is None:
            meaning = self.help.partition("(None: ")[2].partition(")")[0]
            extras.append(f"None ({meaning})" if meaning else "None")
        return text + (f", or {' or '.join(extras)}" if extras else "")

    def check(self, value: object) -> object:
        """``value`` checked against the declared type, bounds and choices; an int option gives an int.

        Returns:
            The value (an ``int`` for an integer option, a ``float`` for a number, else unchanged).

        Raises:
            InputError: one line naming the option, what it must be, and what it got.
        """
        if value is None and self.default is None:
            return None
        if isinstance(value, str) and value in self.words:
            return value
        if self.choices is not None:
            if value not in self.choices:
                raise InputError(f"{self.name} must be one of {list(self.choices)}, got {value!r}")
            return value
        if self.type not in (int, float):
            return value
        if not isinstance(value, bool) and any(value == v and type(value) is type(v) for v in self.also):
            return value
        number = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
        if number and self.type is int:
            number = float(value).is_integer()
        if number:
            x = float(value)
            number = (self.low is None or (x > self.low if self.above else x >= self.low)) and (
                self.high is None or (x < self.high if self.below else x <= self.high)
            )
        if not number:
            raise InputError(f"{self.name} must be {self.constraint}, got {value!r}")
        return int(value) if self.type is int else float(value)


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its name, what it fits, and its options.

    Attributes:
        name: the key in :data:`dynamics.MODELS`.
        help: one line.
        options: the keyword options of its fitting function, beyond the ones every fitter takes.
    """

    name: str
    help: str
    options: tuple[Option, ...] = ()

    def option(self, name: str) -> Option:
        """The option called ``name``.

        Raises:
            KeyError: the model has no such option.
        """
        for option in self.options:
            if option.name == name:
                return option
        raise KeyError(f"model {self.name!r} has no option {name!r}: it has {[o.name for o in self.options]}")

    @property
    def defaults(self) -> dict[str, object]:
        """Option name -> default, as the fitting function's signature has them."""
        return {option.name: option.default for option in self.options}


MODEL_SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "linear",
            "dx/dt = A x + b by least squares",
            (
                Option(
                    "rcond",
                    float,
                    None,
                    "relative cut-off for small singular values (None: numpy's)",
                    low=0,
                    high=1,
                    below=True,
                ),
                # object: a command line cannot spell a bool through argparse's type (bool("False") is True)
                Option("stable", object, False, "require every eigenvalue of A to have a negative real part"),
                Option(
                    "rank",
                    int,
                    None,
                    "keep this many modes of the states, as DMD's rank (None: all)",
                    low=1,
                ),
            ),
        ),
        ModelSpec(
            "lasso",
            "dx/dt = A x + b with an L1 penalty on A",
            (
                Option(
                    "alpha",
                    float,
                    0.01,
                    "the L1 penalty, > 0 (the authors used 0.01), or cv",
                    words=("cv",),
                    low=0,
                    above=True,
                ),
                Option(
                    "solver",
                    str,
                    "lars",
                    "lars (the exact minimiser) or cd (coordinate descent, the authors')",
                    ("lars", "cd"),
                ),
                Option("max_iter", int, 10_000, "coordinate-descent iterations at most (solver cd)", low=1),
                Option("tol", float, 1e-6, "coordinate-descent tolerance (solver cd)", low=0, above=True),
            ),
        ),
        ModelSpec(
            "lotka_volterra",
            "Lotka-Volterra by least squares",
            (
                Option(
                    "form",
                    str,
                    "glv",
                    "glv (generalised Lotka-Volterra) or quadratic (the paper's eq. 2)",
                    ("glv", "quadratic"),
                ),
            ),
        ),
        ModelSpec(
            "sindy",
            "pysindy's SINDy on a polynomial library",
            (
                Option("degree", int, 2, "degree of the polynomial library", low=1),
                Option("threshold", float, None, "STLSQ threshold (None: pysindy's 0.1), or cv", words=("cv",), low=0),
                Option("feature_library", object, None, "a pysindy feature library instead of the polynomial one"),
                Option("optimizer", object, None, "a pysindy optimizer instead of STLSQ"),
                Option(
                    "weak",
                    int,
                    None,
                    "weak form: regress integrals over this many test-function windows of the time grid "
                    "(pysindy's WeakPDELibrary K; None: the derivatives)",
                    low=1,
                ),
            ),
        ),
    )
}
"""Model name -> :class:`ModelSpec`; :data:`dynamics.MODELS` registers a fitting function under each name."""

DEFAULT_MODEL = "linear"

SOLUTIONS = ("analytic", "diffrax", "euler")
"""How :meth:`dynamics.FittedODE.simulate` solves: the matrix exponential (affine models), diffrax, Euler steps."""
DEFAULT_SOLUTION = None
"""``simulate``'s default: None, the most exact method the fit supports (``"analytic"`` for an affine fit without
inputs, ``"diffrax"`` for other monomials, ``"euler"`` otherwise; see :mod:`dynamics.solutions`)."""

DERIVATIVES = ("forward", "central", "savgol", "adaptive", "auto")
"""The derivative estimators by name: the paper's forward difference, central differences, Savitzky-Golay with
one window (``window``, or one chosen from the data), Savitzky-Golay with a window chosen at every point
(``"adaptive"``), and ``"auto"``: central differences on clean data, adaptive on noisy data (see
:func:`dynamics.derivatives.choose_derivative`)."""
DEFAULT_DERIVATIVE = "auto"
"""Central differences (second order, so continuous-time data is not biased by O(dt) as with ``"forward"``: on
Lorenz sampled at dt = 0.002 the forward difference gave a coefficient error of 1.95 against 0.008 for central,
with R² above 0.9998 either way), and for a sindy fit in the derivative form on noisy data, Savitzky-Golay with
windows chosen point by point (``"adaptive"``; Van der Pol at 5% noise: 0.003 against 1.49 for central
differences). The paper's ``"forward"`` is right for a discrete map: its increments ``x[t+1] - x[t]`` are what
the authors regressed on the states, and its figures pass it explicitly."""

DERIVATIVE_OPTIONS: tuple[Option, ...] = (
    Option(
        "window",
        int,
        None,
        "Savitzky-Golay window length, odd, > polyorder (None: chosen from the data; derivative savgol only)",
        low=1,
    ),
    Option("polyorder", int, 3, "Savitzky-Golay polynomial order (derivative savgol only)", low=0),
)
"""Options of the named derivative estimators; :func:`dynamics.fit` takes them as keywords (None: the default)."""

OBJECTIVES = ("derivative", "trajectory")
"""What :func:`dynamics.fit` minimises: the misfit of the right-hand side to the derivative estimate (a linear
regression, one solve), or the misfit of the solved ODE to the data (nonlinear least squares started from the
derivative fit; see :mod:`dynamics.shooting`)."""

FIT_OPTIONS: tuple[Option, ...] = (
    Option(
        "objective",
        str,
        "derivative",
        "derivative (regress dx/dt) or trajectory (the solved ODE against the data, from the derivative fit)",
        OBJECTIVES,
    ),
    Option(
        "scale", str, "linear", "trajectory objective: linear, or log (log-data, positive series)", ("linear", "log")
    ),
    Option(
        "bootstrap",
        int,
        0,
        "refit on this many resamples for confidence intervals, >= 2 (0: none)",
        low=2,
        also=(0,),
    ),
    Option("seed", int, 0, "the bootstrap's random seed", low=0, high=2**63 - 1),
    Option("block", int, None, "bootstrap block length in time points (None: the cube root of the length)", low=1),
    Option(
        "resample",
        str,
        "auto",
        "what a bootstrap replicate redraws: rows (of the derivative regression, or samples when pooled), noise "
        "(the states' measurement noise, then differentiated again), or auto",
        ("auto", "rows", "noise"),
    ),
    Option(
        "cv_score",
        str,
        "derivative",
        "what cross-validation scores a held-out fold by: derivative (one-standard-error rule) or trajectory",
        ("derivative", "trajectory"),
    ),
    Option("u", str, None, "a Dataset variable of control inputs (linear: dx/dt = A x + B u + b; sindy: pysindy's u)"),
)
"""Options of :func:`dynamics.fit` beyond the model's and the derivative's, with their defaults."""


def check_model_options(model: str, options: dict) -> dict:
    """``options`` of ``model`` with each declared one checked by :meth:`Option.check` (others pass as given:
    the fitting function names an unknown keyword).

    Raises:
        InputError: the first option outside its declared type, bounds or choices.
    """
    spec = MODEL_SPECS[model]
    declared = {option.name: option for option in spec.options}
    return {name: declared[name].check(value) if name in declared else value for name, value in options.items()}
