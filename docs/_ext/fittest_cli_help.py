"""A directive that shows the ``fittest`` command line's own ``--help`` text, so the page never drifts from it.

Usage in MyST markdown::

    ```{fittest-cli-help}
    ```

    ```{fittest-cli-help} train
    ```

The first form shows the top-level help, the second one subcommand's.
"""

from __future__ import annotations

import os

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

WIDTH = "100"  # argparse wraps at $COLUMNS; fix it so that the page does not depend on the builder's terminal


def _help_text(command: str | None) -> str:
    from fittest.cli import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parser = build_parser()
        if command is None:
            return parser.format_help()
        subparsers = [action for action in parser._actions if action.dest == "command"]
        choices = subparsers[0].choices if subparsers else {}
        if command not in choices:
            raise ValueError(f"fittest has no subcommand {command!r}; it has {', '.join(choices)}")
        return choices[command].format_help()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


class FittestCliHelp(SphinxDirective):
    optional_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        command = self.arguments[0] if self.arguments else None
        try:
            text = _help_text(command)
        except Exception as error:  # a broken CLI must fail a -W build, not vanish from the page
            return [self.state.document.reporter.error(f"fittest-cli-help: {error}", line=self.lineno)]
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


def setup(app: Sphinx) -> dict:
    app.add_directive("fittest-cli-help", FittestCliHelp)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
