"""Instance utilisation data for hbal's ``-U FILE`` (spec §2.5).

Each line is ``name cpu mem dsk net``, split on single spaces (so doubled or
trailing spaces and tabs make a line invalid, as in Ganeti) with the four
loads read as Haskell Doubles (``htools.hsread``).  The messages match
Ganeti's; the caller adds the context prefix, see ``load_util``.
"""

from __future__ import annotations

from htools.errors import DataError
from htools.hsread import ReadError, read_double, read_file, sep_split, split_lines

__all__ = ["UtilFileError", "load_util", "parse_util"]

Util = tuple[float, float, float, float]


class UtilFileError(DataError):
    """The file could not be read at all.

    Ganeti does not catch this case: its runtime prints ``hbal: <message>``
    and exits with 1, unlike a parse error, hence a distinct type.
    """


def _parse_line(line: str) -> tuple[str, Util]:
    fields = sep_split(line, " ")
    if len(fields) != 5:
        raise DataError(f"Cannot parse line {line}")
    name, cpu, mem, dsk, net = fields
    try:
        return name, (read_double(name, cpu), read_double(name, mem),
                      read_double(name, dsk), read_double(name, net))
    except ReadError as err:
        raise DataError(str(err)) from None


def parse_util(content: str) -> dict[str, Util]:
    """Map instance name to (cpu, mem, dsk, net) load.

    Every line must parse, including empty ones (a blank line is an error in
    Ganeti too).  A name given twice keeps its last values, which is what
    Ganeti ends up applying.
    """
    return dict(_parse_line(line) for line in split_lines(content))


def load_util(path: str) -> dict[str, Util]:
    """Read and parse a ``-U`` file.

    Parse failures raise ``DataError`` with Ganeti's bare message; the CLI
    prints it as ``Error: can't parse utilisation data: <message>`` (exit 1).
    Unreadable files raise ``UtilFileError``, printed as ``hbal: <message>``
    (exit 1).  Ganeti reads this file before loading the cluster, so its
    errors win over any backend error.
    """
    return parse_util(read_file(path, UtilFileError))
