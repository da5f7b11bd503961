"""Number, string and table formatting that reproduces Ganeti's Haskell output.

Ganeti prints through Haskell's ``printf`` and ``show``, which differ from C
and Python: they first take the *shortest* decimal digits that identify a
double and only then round those digits (half-even on the digit string).
Byte-exact output therefore needs its own formatter (spec §0).  Everything
here is a pure function of its arguments.

The core is ``_digits``: the shortest decimal digits of a finite double and
its decimal exponent, i.e. x = 0.d1d2... * 10**e, exactly as Haskell's
``floatToDigits`` yields them.  That is what Python's ``repr`` computes too,
apart from rare boundary and tie cases which ``_digits`` detects and hands
to an exact integer digit generator.  All renderers work on that digit
string, so no ``Decimal`` arithmetic is needed.
"""

from __future__ import annotations

import math
import unicodedata
from functools import lru_cache

__all__ = [
    "ensure_quoted",
    "fmt_fixed",
    "fmt_float_plain",
    "fmt_g6",
    "print_table",
    "show_double",
    "show_int_list",
    "show_string",
    "show_string_list",
]


def _digits(x: float) -> tuple[str, int]:
    """Haskell ``floatToDigits 10 |x|``: digits ``ds`` and exponent ``e``, x = 0.ds * 10**e.

    Python's ``repr`` computes the same shortest digits except in two rare
    situations: the shortest string lies exactly on the boundary of the
    double's rounding interval (``repr`` may use it when the mantissa is even,
    GHC never does; possible only from 2**53 up), or two candidates of that
    length are equally close to x (GHC takes the upper one, ``repr`` the even
    one; needs 16 or more digits).  The first case is left to the exact digit
    generator; the second is detected exactly with integers.
    Zero is ``("0", 0)``; ``x`` must be finite.
    """
    x = abs(x)
    if x == 0.0:
        return "0", 0
    if x >= _TWO_53:
        return _ghc_float_to_digits(x)
    mantissa, _, exp_text = repr(x).partition("e")
    int_part, _, frac = mantissa.partition(".")
    # repr's value is int(digits) * 10**last, with last the weight of the final digit
    all_digits = (int_part + frac).lstrip("0")
    digits = all_digits.rstrip("0")
    last = (int(exp_text) if exp_text else 0) - len(frac) + len(all_digits) - len(digits)
    if len(digits) >= 16 and _is_halfway(x, int(digits), last):
        return _ghc_float_to_digits(x)
    return digits, last + len(digits)


_TWO_53 = float(1 << 53)


def _is_halfway(x: float, digits: int, last: int) -> bool:
    """Is x exactly half a final-digit unit away from ``digits * 10**last``?"""
    num, den = x.as_integer_ratio()
    shift = max(0, 1 - last)  # scale by 10**shift so that all terms are integers
    half_unit = 5 * 10 ** (last - 1 + shift) * den
    return abs(num * 10**shift - digits * 10 ** (last + shift) * den) == half_unit


def _decode(x: float) -> tuple[int, int]:
    """(m, e2) with x == m * 2**e2: a 53-bit m for normal numbers, e2 = -1074 below."""
    frac, exp = math.frexp(x)
    e2 = max(exp - 53, -1074)
    return int(math.ldexp(frac, exp - e2)), e2


def _ghc_float_to_digits(x: float) -> tuple[str, int]:
    """Shortest digits strictly inside the rounding interval, closest last digit.

    Free-format digit generation with exact integers (Steele & White, Burger
    & Dybvig) as GHC runs it: the interval's ends are excluded and a final
    digit exactly halfway rounds up.  Slow; used only when ``repr`` disagrees.
    """
    m, e2 = _decode(x)
    narrow = m == 1 << 52
    if e2 >= 0:
        r, s, m_up, m_dn = (m << (e2 + 2), 4, 2 << e2, 1 << e2) if narrow else (
            m << (e2 + 1), 2, 1 << e2, 1 << e2)
    elif narrow and e2 > -1074:
        r, s, m_up, m_dn = m << 2, 1 << (2 - e2), 2, 1
    else:
        r, s, m_up, m_dn = m << 1, 1 << (1 - e2), 1, 1
    # k: the smallest n with (r + m_up) / s <= 10**n
    k = math.floor(math.log10(x)) - 1
    while not _at_most_power(r + m_up, s, k):
        k += 1
    while _at_most_power(r + m_up, s, k - 1):
        k -= 1
    if k >= 0:
        s *= 10**k
    else:
        scale = 10**-k
        r, m_up, m_dn = r * scale, m_up * scale, m_dn * scale
    out = []
    while True:
        digit, r = divmod(r * 10, s)
        m_up *= 10
        m_dn *= 10
        low = r < m_dn
        high = r + m_up > s
        if low or high:
            if low and high:
                high = 2 * r >= s
            out.append(str(digit + 1 if high else digit))
            return "".join(out), k
        out.append(str(digit))


def _at_most_power(num: int, den: int, n: int) -> bool:
    """num / den <= 10**n, exactly."""
    return num <= den * 10**n if n >= 0 else num * 10**-n <= den


def _round_digits(ds: str, n: int) -> tuple[int, str]:
    """Keep ``n`` digits of ``ds``, rounding half-even on the digit string.

    Returns (carry, digits): ``digits`` has ``n`` digits, or ``n + 1`` with a
    leading ``1`` when rounding overflowed (carry 1), mirroring Haskell's
    ``roundTo``.  Short inputs are padded with zeros.
    """
    if len(ds) <= n:
        return 0, ds + "0" * (n - len(ds))
    kept, rest = ds[:n], ds[n:]
    first = rest[0]
    if first > "5":
        up = True
    elif first < "5":
        up = False
    elif rest[1:].strip("0"):
        up = True
    else:
        # exact tie: round to the even kept digit (an empty prefix counts as even)
        up = bool(kept) and int(kept[-1]) % 2 == 1
    if not up:
        return 0, kept
    bumped = str(int(kept or "0") + 1)
    if len(bumped) > n:
        return 1, bumped
    return 0, bumped.rjust(n, "0")


def _special(x: float) -> str | None:
    """Haskell's rendering of NaN and infinities, None for finite numbers."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return None


def _sign(x: float) -> str:
    """Haskell prints a minus for negative numbers and for negative zero."""
    return "-" if math.copysign(1.0, x) < 0 else ""


def _fixed(x: float, prec: int) -> str:
    """``%.Nf`` of any double (the sign is handled here, outside the cache)."""
    special = _special(x)
    if special is not None:
        return special
    return _sign(x) + _fixed_magnitude(abs(x), prec)


@lru_cache(maxsize=65536)
def _fixed_magnitude(x: float, prec: int) -> str:
    """``%.Nf`` of a finite |x|; cached without the sign since 0.0 == -0.0."""
    ds, e = _digits(x)
    if e >= 0:
        carry, rounded = _round_digits(ds, prec + e)
        split = e + carry
        int_part, frac = rounded[:split] or "0", rounded[split:]
    else:
        carry, rounded = _round_digits("0" * -e + ds, prec)
        if not carry:
            rounded = "0" + rounded
        int_part, frac = rounded[0], rounded[1:]
    return int_part + "." + frac if frac else int_part


def fmt_fixed(x: float, prec: int, width: int = 0) -> str:
    """Haskell ``printf "%W.Pf"``: round the shortest digits half-even.

    Differs from Python's ``format`` exactly where the shortest digits end in
    a 5 at position ``prec + 1`` (0.00125 -> ``0.0012``) or where the double's
    exact binary expansion has digits beyond the shortest ones (large values).
    Results are cached because step lines and tables repeat many values.
    """
    text = _fixed(float(x), prec)
    return text.rjust(width) if width else text


def fmt_g6(x: float) -> str:
    """Haskell ``printf "%.6g"`` (only used for the "well balanced" message).

    With x = 0.d1d2... * 10**e, Haskell switches to exponent form when
    e < 0 or e > 7, always keeping 6 decimals and an unpadded exponent.
    """
    x = float(x)
    special = _special(x)
    if special is not None:
        return special
    ds, e = _digits(x)
    if e < 0 or e > 7:
        carry, rounded = _round_digits(ds, 7)
        if carry:
            rounded = rounded[:-1]
        return f"{_sign(x)}{rounded[0]}.{rounded[1:]}e{e - 1 + carry}"
    return _fixed(x, 6)


def show_double(x: float) -> str:
    """Haskell ``show`` of a Double (``2.5``, ``59.0``, ``1.0e-2``, ``1.2345678e7``).

    Fixed notation for 0.1 <= |x| < 10**7 (and zero), otherwise the shortest
    mantissa with at least one decimal and an unpadded exponent.
    """
    x = float(x)
    special = _special(x)
    if special is not None:
        return special
    ds, e = _digits(x)
    if e < 0 or e > 7:
        body = f"{ds[0]}.{ds[1:] or '0'}e{e - 1}"
    else:
        body = _plain(ds, e)
    return _sign(x) + body


def _plain(ds: str, e: int) -> str:
    """All shortest digits in fixed notation with at least one decimal."""
    if e <= 0:
        return "0." + "0" * -e + ds
    int_part = ds[:e].ljust(e, "0")
    return int_part + "." + (ds[e:] or "0")


def fmt_float_plain(x: float) -> str:
    """Haskell ``printf "%f"`` without precision: shortest digits, never an exponent.

    Used for the CPU speed column of ``-S`` output (``1.0``, ``3.0``, ``1.5``).
    """
    x = float(x)
    special = _special(x)
    if special is not None:
        return special
    ds, e = _digits(x)
    return _sign(x) + _plain(ds, e)


def print_table(rows: list[list[str]], numeric: list[bool]) -> list[str]:
    """Ganeti's ``printTable`` (spec §4.9.5); ``rows`` includes any header row.

    Every column is padded to its widest cell, numeric columns on the left,
    the others on the right (so lines may end in spaces); each line is the
    padded cells joined by one space, prefixed by one space.  As in Ganeti,
    columns beyond the length of ``numeric`` are dropped.
    """
    if not rows:
        return []
    ncols = min(len(numeric), min(len(row) for row in rows))
    widths = [max(len(row[col]) for row in rows) for col in range(ncols)]
    lines = []
    for row in rows:
        cells = [
            row[col].rjust(widths[col]) if numeric[col] else row[col].ljust(widths[col])
            for col in range(ncols)
        ]
        lines.append(" " + " ".join(cells))
    return lines


def ensure_quoted(value: str) -> str:
    """Quote a machine-readable value unless it is only letters, digits and dots.

    Haskell's ``isAlphaNum`` is Unicode-aware (letter or number categories);
    the empty string stays unquoted.
    """
    if all(c == "." or unicodedata.category(c)[0] in "LN" for c in value):
        return value
    return f"'{value}'"


# Names Haskell uses for the ASCII control characters in string literals.
_ASCII_NAMES = (
    "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "a", "b", "t", "n", "v",
    "f", "r", "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB",
    "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US",
)


def show_string(s: str) -> str:
    """Haskell ``show`` of a String, with its escapes.

    Non-ASCII characters become decimal escapes; ``\\&`` separates an escape
    from a following character that would otherwise extend it (a digit after
    a numeric escape, ``H`` after ``\\SO``).
    """
    out = ['"']
    pending: str | None = None  # "digit" or "H": what must not follow directly
    for c in s:
        if (pending == "digit" and "0" <= c <= "9") or (pending == "H" and c == "H"):
            out.append("\\&")
        pending = None
        code = ord(c)
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif code > 127:
            out.append(f"\\{code}")
            pending = "digit"
        elif code == 127:
            out.append("\\DEL")
        elif code >= 32:
            out.append(c)
        else:
            out.append("\\" + _ASCII_NAMES[code])
            if code == 14:
                pending = "H"
    out.append('"')
    return "".join(out)


def show_string_list(names: list[str]) -> str:
    """Haskell ``show`` of a list of strings: ``["a","b"]``."""
    return "[" + ",".join(show_string(name) for name in names) + "]"


def show_int_list(values: list[int]) -> str:
    """Haskell ``show`` of a list of ints: ``[3,1]``, ``[-1,2]``."""
    return "[" + ",".join(str(v) for v in values) + "]"


# Haskell ``show`` of Ganeti's DiskTemplate constructors, by template name.
TEMPLATE_SHOW = {"diskless": "DTDiskless", "file": "DTFile", "sharedfile": "DTSharedFile",
                 "plain": "DTPlain", "blockdev": "DTBlock", "drbd": "DTDrbd8", "rbd": "DTRbd",
                 "ext": "DTExt", "gluster": "DTGluster"}
