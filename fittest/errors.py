"""The one exception type for bad input."""


class InputError(ValueError):
    """Input that the toolkit refuses, with a message that names the problem and the fix.

    It subclasses :class:`ValueError` so that callers who catch ``ValueError`` keep working; the command
    line turns it into a one-line message and exit status 2 instead of a traceback.
    """
