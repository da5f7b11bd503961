"""Reading text the way Ganeti's Haskell code reads it.

Ganeti reads numbers and booleans everywhere (text data files, ``--simulate``
specs, utilisation files, command-line options) with Haskell's ``read``
through its ``tryRead``, splits lists with ``sepSplit``, sizes with
``parseUnit`` and files with ``readFile`` and ``lines``.  Users see the
results and the error messages verbatim, so this module reproduces them
exactly, once, for every tool and backend:

* numbers as GHC's lexer reads them: leading blanks (Haskell's ``isSpace``,
  Unicode spaces included), any number of balanced parentheses, a ``-``
  token, ``0x``/``0o`` literals; Doubles also take fractions, exponents,
  ``NaN`` and ``Infinity``; Ints wrap around at 64 bits and reject fractions;
  trailing characters, even blanks, are "leftover";
* :func:`read_int`, :func:`read_double` and :func:`read_bool` raise
  :class:`ReadError` with ``tryRead``'s two messages, which callers wrap in
  their own error type where Ganeti reports them differently;
* :func:`read_file` opens files with the wording of Haskell's I/O errors.
"""

from __future__ import annotations

import errno
import math
import re
import unicodedata
from collections.abc import Callable
from fractions import Fraction
from typing import TypeVar

__all__ = [
    "ReadError",
    "io_error_text",
    "parse_unit",
    "read_bool",
    "read_double",
    "read_file",
    "read_int",
    "reads_double",
    "reads_int",
    "sep_split",
    "split_lines",
    "wrap_int",
]


class ReadError(ValueError):
    """A value that does not read; the message is Ganeti's, word for word."""


# ---------------------------------------------------------------------------
# Ints and their 64-bit wrap-around

_INT_BITS = 1 << 64
# Python refuses int() of very long decimal strings; they are read in chunks.
_CHUNK = 1000


def wrap_int(value: int) -> int:
    """Haskell's ``fromInteger :: Integer -> Int``: wraps around silently."""
    return (value + (1 << 63)) % _INT_BITS - (1 << 63)


def _decimal_int(digits: str) -> int:
    """``int(digits)``, taken modulo 2**64 beyond Python's digit limit.

    Only the low 64 bits survive :func:`wrap_int`, so reducing early is exact.
    """
    if len(digits) <= _CHUNK:
        return int(digits)
    value = 0
    for start in range(0, len(digits), _CHUNK):
        chunk = digits[start:start + _CHUNK]
        value = (value * 10 ** len(chunk) + int(chunk)) % _INT_BITS
    return value


def _int_to_float(value: int) -> float:
    """Haskell's ``fromInteger`` to Double: too large means Infinity."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


# ---------------------------------------------------------------------------
# The lexer (GHC's ``Text.Read.Lex``, as far as numbers and Bool need it)

_DECIMAL = "0123456789"
_DECIMAL_SET = frozenset(_DECIMAL)  # unlike the string, does not contain ""
_BASES = {"x": 16, "X": 16, "o": 8, "O": 8}
_BASE_DIGITS = {16: "0123456789abcdefABCDEF", 8: "01234567"}


def _is_space(c: str) -> bool:
    """Haskell's ``isSpace``: ASCII blanks, NBSP and Unicode space separators."""
    return c in " \t\n\r\f\v\xa0" or (c > "\xff" and unicodedata.category(c) == "Zs")


def _skip_spaces(s: str, pos: int) -> int:
    while pos < len(s) and _is_space(s[pos]):
        pos += 1
    return pos


def _munch(s: str, pos: int, allowed: str) -> int:
    while pos < len(s) and s[pos] in allowed:
        pos += 1
    return pos


def _lex_ident(s: str, pos: int) -> tuple[str, int] | None:
    """An identifier at ``pos``: a letter or ``_``, then letters, digits, ``_``, ``'``."""
    if pos >= len(s) or not (s[pos] == "_" or unicodedata.category(s[pos])[0] == "L"):
        return None
    end = pos + 1
    while end < len(s) and (s[end] in "_'" or unicodedata.category(s[end])[0] in "LN"):
        end += 1
    return s[pos:end], end


def _lex_number(s: str, pos: int, want_float: bool) -> tuple[int | float, int] | None:
    """One unsigned numeric lexeme at ``pos``: its value and end position.

    ``0x``/``0o`` literals, else digits with an optional ``.digits`` fraction
    and ``e[+-]digits`` exponent, each part taken only if complete.  Ints
    reject fractions and exponents and come back unwrapped (long decimals
    already reduced modulo 2**64); Doubles also accept the identifiers
    ``NaN`` and ``Infinity``.
    """
    if pos >= len(s):
        return None
    c = s[pos]
    if c not in _DECIMAL_SET:
        ident = _lex_ident(s, pos) if want_float else None
        if ident is None:
            return None
        word, end = ident
        value = {"NaN": math.nan, "Infinity": math.inf}.get(word)
        return None if value is None else (value, end)
    if c == "0" and s[pos + 1:pos + 2] in _BASES:
        base = _BASES[s[pos + 1]]
        end = _munch(s, pos + 2, _BASE_DIGITS[base])
        if end > pos + 2:  # else it is just "0" followed by a letter
            value = int(s[pos + 2:end], base)  # powers of two: no length limit
            return (_int_to_float(value) if want_float else value), end
    digits_end = _munch(s, pos, _DECIMAL)
    end = digits_end
    has_frac = s[end:end + 1] == "." and s[end + 1:end + 2] in _DECIMAL_SET
    if has_frac:
        end = _munch(s, end + 1, _DECIMAL)
    has_exp = False
    if s[end:end + 1] in ("e", "E"):
        exp_pos = end + 2 if s[end + 1:end + 2] in ("+", "-") else end + 1
        exp_end = _munch(s, exp_pos, _DECIMAL)
        if exp_end > exp_pos:
            has_exp, end = True, exp_end
    if want_float:
        return float(s[pos:end]), end
    if has_frac or has_exp:
        return None
    return _decimal_int(s[pos:digits_end]), digits_end


_T = TypeVar("_T")
_Lexeme = Callable[[str, int], tuple[_T, int] | None]


def _parens(s: str, lexeme: _Lexeme[_T]) -> tuple[_T, int] | None:
    """GHC's ``parens``: leading blanks, then ``lexeme`` inside any number of
    balanced parentheses (blanks allowed between tokens).  (value, end) or None.
    """
    pos = _skip_spaces(s, 0)
    depth = 0
    while pos < len(s) and s[pos] == "(":
        depth += 1
        pos = _skip_spaces(s, pos + 1)
    lexed = lexeme(s, pos)
    if lexed is None:
        return None
    value, pos = lexed
    for _ in range(depth):
        pos = _skip_spaces(s, pos)
        if pos >= len(s) or s[pos] != ")":
            return None
        pos += 1
    return value, pos


def _signed_number(s: str, pos: int, want_float: bool) -> tuple[int | float, int] | None:
    """GHC's ``readNumber`` body: an optional ``-`` token, then a number."""
    negative = s[pos:pos + 1] == "-"
    if negative:
        pos = _skip_spaces(s, pos + 1)
    lexed = _lex_number(s, pos, want_float)
    if lexed is None:
        return None
    value, end = lexed
    return (-value if negative else value), end


def _int_lexeme(s: str, pos: int) -> tuple[int, int] | None:
    lexed = _signed_number(s, pos, False)
    return None if lexed is None else (wrap_int(int(lexed[0])), lexed[1])


def _double_lexeme(s: str, pos: int) -> tuple[float, int] | None:
    lexed = _signed_number(s, pos, True)
    return None if lexed is None else (float(lexed[0]), lexed[1])


def _bool_lexeme(s: str, pos: int) -> tuple[bool, int] | None:
    ident = _lex_ident(s, pos)
    if ident is None or ident[0] not in ("True", "False"):
        return None
    return ident[0] == "True", ident[1]


def reads_int(s: str) -> tuple[int, str] | None:
    """Haskell ``reads`` for Int: (value, leftover), or None if nothing reads."""
    parsed = _parens(s, _int_lexeme)
    return None if parsed is None else (parsed[0], s[parsed[1]:])


def reads_double(s: str) -> tuple[float, str] | None:
    """Haskell ``reads`` for Double: (value, leftover), or None if nothing reads."""
    parsed = _parens(s, _double_lexeme)
    return None if parsed is None else (parsed[0], s[parsed[1]:])


# ---------------------------------------------------------------------------
# Ganeti's tryRead

# Plain decimal literals, by far the common case, skip the general lexer.
_SIMPLE_INT = re.compile(r"-?[0-9]+")
_SIMPLE_DOUBLE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


def _try_read(owner: str, s: str, lexeme: _Lexeme[_T]) -> _T:
    """Ganeti's ``tryRead``: the whole string must be one value."""
    parsed = _parens(s, lexeme)
    if parsed is None:
        raise ReadError(f"{owner}: cannot parse string '{s}'")
    value, end = parsed
    if end != len(s):
        raise ReadError(f"{owner}: leftover characters when parsing '{s}': '{s[end:]}'")
    return value


def read_int(owner: str, s: str) -> int:
    """Read an Int like ``tryRead owner s`` (decimal, ``0x``, ``0o``, wrapping)."""
    if _SIMPLE_INT.fullmatch(s):
        negative = s.startswith("-")
        magnitude = _decimal_int(s[1:] if negative else s)
        return wrap_int(-magnitude if negative else magnitude)
    return _try_read(owner, s, _int_lexeme)


def read_double(owner: str, s: str) -> float:
    """Read a Double like ``tryRead owner s`` (also ``NaN`` and ``Infinity``)."""
    if _SIMPLE_DOUBLE.fullmatch(s):
        return float(s)
    return _try_read(owner, s, _double_lexeme)


def read_bool(owner: str, s: str) -> bool:
    """Read a Bool like ``tryRead owner s``: ``True`` or ``False``, no sign."""
    return _try_read(owner, s, _bool_lexeme)


# ---------------------------------------------------------------------------
# Sizes and lists

_MEGA_SI = Fraction(1000, 1024) ** 2
# Scale factors from a unit to MiB.  The SI units convert through the ratio
# of a decimal to a binary kilo, squared for the "mega" step, as Ganeti does.
_UNIT_SCALES = {"m": Fraction(1), "g": Fraction(1024), "t": Fraction(1024 ** 2),
                "M": _MEGA_SI, "G": _MEGA_SI * 1000, "T": _MEGA_SI * 1000 ** 2}
# Long unit names are matched case-insensitively.
_LONG_UNITS = {"MIB": "m", "GIB": "g", "TIB": "t", "MB": "M", "GB": "G", "TB": "T"}


def parse_unit(s: str, owner: str = "") -> int:
    """Ganeti's ``parseUnit``: a size in MiB from ``INT [spaces] [UNIT]``.

    The number is read as an Int (parentheses, ``0x`` and a sign are fine,
    fractions are not); only plain spaces may separate it from the unit.
    Single-letter units are case-sensitive (``g`` GiB, ``G`` GB), long names
    (``GiB``, ``gb``) are not.  The result is truncated and wraps to 64 bits.
    An ``owner`` prefixes the error message (``owner: ...``), as Ganeti's
    ``annotateResult`` does where it names the field.
    """
    prefix = f"{owner}: " if owner else ""
    parsed = reads_int(s)
    if parsed is None:
        raise ReadError(f"{prefix}Can't parse string '{s}'")
    value, rest = parsed
    unit = rest.lstrip(" ")
    if not unit:
        scale = Fraction(1)
    elif unit in _UNIT_SCALES:
        scale = _UNIT_SCALES[unit]
    elif unit.upper() in _LONG_UNITS:
        scale = _UNIT_SCALES[_LONG_UNITS[unit.upper()]]
    else:
        raise ReadError(f"{prefix}Unknown unit '{unit}'")
    return wrap_int(math.trunc(value * scale))


def sep_split(s: str, sep: str = ",") -> list[str]:
    """Ganeti's ``sepSplit``: like ``str.split`` except that ``""`` gives ``[]``."""
    return s.split(sep) if s else []


# ---------------------------------------------------------------------------
# Files


def split_lines(content: str) -> list[str]:
    """Haskell ``lines``: split on newlines; a final newline adds no empty line."""
    parts = content.split("\n")
    if parts[-1] == "":
        parts.pop()
    return parts


# How Haskell's IOError names the errno classes it reports on open.
_IO_ERROR_KINDS = {
    errno.ENOENT: "does not exist",
    errno.ENOTDIR: "inappropriate type",
    errno.EISDIR: "inappropriate type",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "permission denied",
    errno.ENAMETOOLONG: "invalid argument",
    errno.ELOOP: "invalid argument",
    errno.EINVAL: "invalid argument",
    errno.EMFILE: "resource exhausted",
    errno.ENFILE: "resource exhausted",
    errno.ENOMEM: "resource exhausted",
    errno.EBUSY: "resource busy",
    errno.EIO: "hardware fault",
}


def io_error_text(err: OSError) -> str:
    """Describe an open failure the way Ganeti's runtime does (same wording)."""
    if err.errno == errno.EISDIR:
        return "inappropriate type (is a directory)"
    kind = _IO_ERROR_KINDS.get(err.errno or 0, "failed")
    return f"{kind} ({err.strerror or err})"


def read_file(path: str, error: Callable[[str], Exception]) -> str:
    """Haskell's ``readFile`` of UTF-8 text, newlines untouched.

    Failures raise ``error(message)`` with the message Ganeti's runtime
    prints (``PATH: openFile: ...`` or ``PATH: hGetContents: ...``); each
    caller picks the exception type its context reports.
    """
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except OSError as err:
        raise error(f"{path}: openFile: {io_error_text(err)}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: hGetContents: invalid argument (invalid byte sequence)") from None
