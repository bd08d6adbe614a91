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
  :func:`dynamics.compare` (its ``methods=``); :data:`DEFAULT_SOLUTION` is ``simulate``'s default.
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

from dataclasses import dataclass


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
    """

    name: str
    type: type
    default: object
    help: str
    choices: tuple | None = None
    words: tuple[str, ...] = ()


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
            (Option("rcond", float, None, "relative cut-off for small singular values (None: numpy's)"),),
        ),
        ModelSpec(
            "lasso",
            "dx/dt = A x + b with an L1 penalty on A",
            (
                Option("alpha", float, 0.01, "the L1 penalty, > 0 (the authors used 0.01), or cv", words=("cv",)),
                Option(
                    "solver",
                    str,
                    "lars",
                    "lars (the exact minimiser) or cd (coordinate descent, the authors')",
                    ("lars", "cd"),
                ),
                Option("max_iter", int, 10_000, "coordinate-descent iterations at most (solver cd)"),
                Option("tol", float, 1e-6, "coordinate-descent tolerance (solver cd)"),
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
                Option("degree", int, 2, "degree of the polynomial library"),
                Option("threshold", float, None, "STLSQ threshold (None: pysindy's 0.1), or cv", words=("cv",)),
                Option("feature_library", object, None, "a pysindy feature library instead of the polynomial one"),
                Option("optimizer", object, None, "a pysindy optimizer instead of STLSQ"),
            ),
        ),
    )
}
"""Model name -> :class:`ModelSpec`; :data:`dynamics.MODELS` registers a fitting function under each name."""

DEFAULT_MODEL = "linear"

SOLUTIONS = ("analytic", "diffrax", "euler")
"""How :meth:`dynamics.FittedODE.simulate` solves: the matrix exponential (affine models), diffrax, Euler steps."""
DEFAULT_SOLUTION = "analytic"

DERIVATIVES = ("forward", "central", "savgol")
"""The derivative estimators by name: the paper's forward difference, central differences, Savitzky-Golay."""
DEFAULT_DERIVATIVE = "central"
"""Central differences: second order, so continuous-time data is not biased by O(dt) as with ``"forward"``
(on Lorenz sampled at dt = 0.002 the forward difference gave a coefficient error of 1.95 against 0.008 for
central, with R² above 0.9998 either way). The paper's ``"forward"`` is right for a discrete map: its increments
``x[t+1] - x[t]`` are what the authors regressed on the states, and its figures pass it explicitly."""

DERIVATIVE_OPTIONS: tuple[Option, ...] = (
    Option("window", int, 7, "Savitzky-Golay window length, odd, > polyorder (derivative savgol only)"),
    Option("polyorder", int, 3, "Savitzky-Golay polynomial order (derivative savgol only)"),
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
    Option("bootstrap", int, 0, "refit on this many resamples for confidence intervals (0: none)"),
    Option("seed", int, 0, "the bootstrap's random seed"),
    Option("block", int, None, "bootstrap block length in time points (None: the cube root of the length)"),
    Option("u", str, None, "a Dataset variable of control inputs (linear: dx/dt = A x + B u + b; sindy: pysindy's u)"),
)
"""Options of :func:`dynamics.fit` beyond the model's and the derivative's, with their defaults."""
