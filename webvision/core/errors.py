"""Errors in what the user gave (data, lists, weights, paths): entry points report them in one line."""


class InputError(ValueError):
    """Bad input; the message names the file, the row or line, and the value."""


class DataError(InputError):
    """Bad input data; the message names the file, the line and the value."""


class WeightsError(InputError):
    """A weights file that cannot be used; the message names it and says why."""


class FlagError(ValueError):
    """A flag out of range, or combined with one it does not go with; the message names them.
    Command lines report it as a usage error (exit status 2)."""
