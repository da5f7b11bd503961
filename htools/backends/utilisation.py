"""Instance utilisation data for hbal's ``-U FILE`` (spec §2.5).

Each line is ``name cpu mem dsk net``, split on single spaces (so doubled or
trailing spaces and tabs make a line invalid, as in Ganeti) with the four
loads read as Haskell Doubles.  The messages match Ganeti's; the caller adds
the context prefix, see ``load_util``.
"""

from __future__ import annotations

from htools.backends.text import _io_error_text, _lines, _read_float
from htools.errors import DataError

__all__ = ["UtilFileError", "load_util", "parse_util"]

Util = tuple[float, float, float, float]


class UtilFileError(DataError):
    """The file could not be read at all.

    Ganeti does not catch this case: its runtime prints ``hbal: <message>``
    and exits with 1, unlike a parse error, hence a distinct type.
    """


def _parse_line(line: str) -> tuple[str, Util]:
    fields = line.split(" ") if line else []
    if len(fields) != 5:
        raise DataError(f"Cannot parse line {line}")
    name, cpu, mem, dsk, net = fields
    return name, (_read_float(name, cpu), _read_float(name, mem),
                  _read_float(name, dsk), _read_float(name, net))


def parse_util(content: str) -> dict[str, Util]:
    """Map instance name to (cpu, mem, dsk, net) load.

    Every line must parse, including empty ones (a blank line is an error in
    Ganeti too).  A name given twice keeps its last values, which is what
    Ganeti ends up applying.
    """
    return dict(_parse_line(line) for line in _lines(content))


def load_util(path: str) -> dict[str, Util]:
    """Read and parse a ``-U`` file.

    Parse failures raise ``DataError`` with Ganeti's bare message; the CLI
    prints it as ``Error: can't parse utilisation data: <message>`` (exit 1).
    Unreadable files raise ``UtilFileError``, printed as ``hbal: <message>``
    (exit 1).  Ganeti reads this file before loading the cluster, so its
    errors win over any backend error.
    """
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            content = handle.read()
    except OSError as err:
        raise UtilFileError(f"{path}: openFile: {_io_error_text(err)}") from None
    except UnicodeDecodeError:
        raise UtilFileError(
            f"{path}: hGetContents: invalid argument (invalid byte sequence)") from None
    return parse_util(content)
