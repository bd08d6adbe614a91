"""`fittest report`: not built yet."""

HELP = "(report: not built yet)"


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from fittest.errors import InputError

    raise InputError("'fittest report' is not built yet")
