"""`fittest fit`: not built yet."""

HELP = "(fit: not built yet)"


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from fittest.errors import InputError

    raise InputError("'fittest fit' is not built yet")
