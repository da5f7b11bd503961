"""Errors that end a program with a one-line message instead of a traceback."""


class HtoolsError(Exception):
    """A user-facing failure: bad input data, unknown names, backend errors.

    The message is printed as Ganeti prints it (callers add the ``Error: ...``
    prefix that belongs to their context) and the program exits with 1.
    """


class DataError(HtoolsError):
    """The cluster data could not be loaded or is inconsistent."""
