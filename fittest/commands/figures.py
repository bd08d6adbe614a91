"""`fittest figures`: not built yet."""

HELP = "(figures: not built yet)"


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from fittest.errors import InputError

    raise InputError("'fittest figures' is not built yet")
