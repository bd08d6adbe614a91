"""The ``fittest`` console command.

Each subcommand lives in its own module of this package and provides ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Modules import their heavy dependencies (torch, jax)
inside ``run`` so that ``fittest --help`` and the commands that do not need them start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shlex
import sys
import warnings
from collections.abc import Sequence

from fittest.errors import InputError

COMMANDS = ("demo", "train", "sweep", "fit", "report", "figures")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, as every other bad input's are."""

    def error(self, message: str):
        # argparse prints the whole usage block first; the one line names the problem and where the options are
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    from fittest import __version__

    parser = _Parser(
        prog="fittest",
        description="Record how representations evolve in training, find survivors, fit effective ODEs.",
    )
    parser.add_argument("--version", action="version", version=f"fittest {__version__}")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="threads of torch and the numerical libraries per process (default: OMP_NUM_THREADS, else 1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"fittest.cli.{name}")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run, _prog=f"fittest {name}", _parser=command)
    return parser


def _set_threads(threads: int | None) -> None:
    """Fix the thread count before torch or a BLAS is loaded (they read it once, at import).

    One thread per process is the default because it is the choice that holds up on a shared machine: on 2
    cores torch's default of one thread per core was 1.7x faster than one thread when the machine was idle but
    2-9x slower while another job kept both cores busy. Parallelism comes from processes (a sweep's workers).
    """
    if threads is not None:
        if threads < 1:
            raise InputError(f"--threads must be an integer >= 1, got {threads}")
        value = str(threads)
    else:
        value = os.environ.get("OMP_NUM_THREADS", "1")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = value
    if "torch" in sys.modules:  # already loaded (a caller that imported it first): tell it directly
        sys.modules["torch"].set_num_threads(int(value))


def in_option_words(message: str, parser: argparse.ArgumentParser | None) -> str:
    """A library message with the library's keyword names replaced by this command's option names.

    The library says ``t_range`` and ``time='year'``; a command-line user typed ``--t-range`` and
    ``--time year``. Only names that cannot be ordinary words are replaced: those with an underscore, and
    any keyword followed by ``=``.
    """
    if parser is None:
        return message
    for action in parser._actions:
        if not action.option_strings or action.dest in ("help", argparse.SUPPRESS):
            continue
        option = max(action.option_strings, key=len)
        message = re.sub(rf"\b{re.escape(action.dest)}=(['\"]?)([^'\"\s,;)]*)\1", rf"{option} \2", message)
        if "_" in action.dest:
            message = re.sub(rf"(?<![-\w]){re.escape(action.dest)}\b", option, message)
    return message


def _one_line_warnings(prog: str, parser: argparse.ArgumentParser) -> None:
    """Warnings as the command line's own one-liners (``fittest fit: warning: ...``), without a source line."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"{prog}: warning: {in_option_words(str(message), parser)}", file=file or sys.stderr)

    warnings.showwarning = show


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; bad input ends with a one-line message and exit status 2."""
    prog, args = "fittest", None
    try:  # Ctrl-C during the imports of start-up is an interruption too, not a traceback
        args = build_parser().parse_args(argv)
        prog = args._prog
        # the words as typed, for the provenance of what a command writes (fittest report shows them)
        args._command_line = shlex.join(["fittest", *(sys.argv[1:] if argv is None else argv)])
        if hasattr(sys.stdout, "reconfigure"):
            # a path that is not UTF-8 arrives as surrogate escapes; printing it ("saved ...") gives its bytes back
            sys.stdout.reconfigure(errors="surrogateescape")
        _set_threads(args.threads)
        _one_line_warnings(prog, args._parser)
        return int(args._run(args) or 0)
    except InputError as error:
        print(f"{prog}: error: {in_option_words(str(error), args._parser if args else None)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        # a command that kept something to resume from says how (train: the checkpoint and the command)
        print(f"{prog}: interrupted" + (f"; {interrupt}" if str(interrupt) else ""), file=sys.stderr)
        return 130
