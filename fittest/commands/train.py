"""`fittest train`: not built yet."""

HELP = "(train: not built yet)"


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from fittest.errors import InputError

    raise InputError("'fittest train' is not built yet")
