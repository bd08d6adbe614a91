"""`fittest demo`: not built yet."""

HELP = "(demo: not built yet)"


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from fittest.errors import InputError

    raise InputError("'fittest demo' is not built yet")
