"""Tests for htools.fmt: Haskell printf/show compatible formatting.

Unit tests use the examples of spec §0, §4.9.5 and §6.5; a Decimal model of
the spec's recipe checks ``fmt_fixed`` on many random doubles; the tests
marked ``ganeti`` compare against strings printed by Ganeti's own hbal.
"""

from __future__ import annotations

import math
import random
import re
import struct
import subprocess
from decimal import ROUND_HALF_EVEN, Context, Decimal
from pathlib import Path

import pytest

from htools.fmt import (
    _digits,
    _ghc_float_to_digits,
    ensure_quoted,
    fmt_fixed,
    fmt_float_plain,
    fmt_g6,
    print_table,
    show_double,
    show_int_list,
    show_string,
    show_string_list,
)

HBAL = Path("/usr/lib/ganeti/3.0/usr/bin/hbal")
needs_hbal = pytest.mark.skipif(not HBAL.exists(), reason="Ganeti's hbal is not installed")


def reference_fixed(x: float, prec: int) -> str:
    """The spec's recipe on GHC's digits: round them half-even with Decimal."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    digits, exp = _ghc_float_to_digits(abs(x)) if x else ("0", 0)
    sign = "-" if math.copysign(1, x) < 0 else ""
    ctx = Context(prec=1000)
    quantum = Decimal(1).scaleb(-prec)
    value = Decimal(f"{sign}0.{digits}e{exp}")
    return format(value.quantize(quantum, rounding=ROUND_HALF_EVEN, context=ctx), "f")


# --- shortest digits -----------------------------------------------------------


def _random_bit_patterns(rng: random.Random, count: int) -> list[float]:
    values = []
    while len(values) < count:
        x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if math.isfinite(x) and x != 0:
            values.append(x)
    return values


def test_digits_match_the_exact_generator() -> None:
    """The repr-based fast path agrees with the exact GHC-style digit generator."""
    rng = random.Random(5)
    values = _random_bit_patterns(rng, 10000)
    values += [rng.randrange(2**53) * 2.0 ** rng.randint(-3, 30) for _ in range(10000)]
    values += [rng.random() * 10 ** rng.randint(-5, 20) for _ in range(10000)]
    # a binade where half the values are ties between two 17-digit strings
    values += [rng.randrange(2**50, 2**51) + rng.choice([0.25, 0.75, 0.5]) for _ in range(3000)]
    values += [5e-324, 2.0**-1022, 2.0**-1022 - 5e-324, 2.0**52, 2.0**53, 2.0**60, 1e23, 1.7e308]
    disagreements_with_repr = 0
    for x in map(abs, values):
        digits = _ghc_float_to_digits(x)
        assert _digits(x) == digits, x
        assert _digits(-x) == digits, x
        if repr(x).split("e")[0].replace(".", "").strip("0") != digits[0]:
            disagreements_with_repr += 1
    assert disagreements_with_repr > 100  # the special cases were exercised


@pytest.mark.parametrize(
    ("x", "digits"),
    [
        (0.0, ("0", 0)),
        (0.1, ("1", 0)),
        (0.001, ("1", -2)),
        (100.0, ("1", 3)),
        (123.456, ("123456", 3)),
        (1e23, ("9999999999999999", 23)),  # not repr's "1e+23"
        (1234567890123456.25, ("12345678901234563", 16)),  # not repr's ...456.2
        (-3.295933271029512e17, ("32959332710295117", 18)),  # repr's is on the boundary
    ],
)
def test_digits_examples(x: float, digits: tuple[str, int]) -> None:
    assert _digits(x) == digits


# --- %.Nf -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "prec", "width", "expected"),
    [
        (0.00125, 4, 0, "0.0012"),
        (0.02675, 4, 0, "0.0268"),
        (0.125, 2, 0, "0.12"),
        (0.375, 2, 0, "0.38"),
        (2.5, 0, 0, "2"),
        (3.5, 0, 0, "4"),
        (0.5, 0, 0, "0"),
        (4000.5, 0, 0, "4000"),
        (4001.5, 0, 0, "4002"),
        (0.9999, 3, 0, "1.000"),
        (9.9996, 3, 5, "10.000"),
        (99.5, 0, 4, " 100"),
        (0.125, 2, 5, " 0.12"),
        (0.9375, 4, 6, "0.9375"),
        (0.0, 8, 0, "0.00000000"),
        (-0.0, 2, 0, "-0.00"),
        (-0.001, 2, 0, "-0.00"),
        (-1.5, 0, 0, "-2"),
        (1e23, 0, 0, "99999999999999990000000"),
        (-3.295933271029512e17, 0, 0, "-329593327102951170"),
        (1e8 + 0.1, 8, 0, "100000000.10000000"),
        (1e-5, 8, 0, "0.00001000"),
        (5e-324, 2, 0, "0.00"),
        (26.52581735, 8, 12, " 26.52581735"),
        (float("nan"), 4, 6, "   NaN"),
        (float("inf"), 2, 0, "Infinity"),
        (float("-inf"), 2, 10, " -Infinity"),
        (7, 2, 0, "7.00"),
    ],
)
def test_fmt_fixed_examples(x: float, prec: int, width: int, expected: str) -> None:
    assert fmt_fixed(x, prec, width) == expected


def test_fmt_fixed_cache_keeps_sign_of_zero() -> None:
    assert fmt_fixed(0.0, 3) == "0.000"
    assert fmt_fixed(-0.0, 3) == "-0.000"
    assert fmt_fixed(0.0, 3) == "0.000"


def _random_doubles(rng: random.Random, count: int) -> list[float]:
    values: list[float] = []
    for _ in range(count):
        kind = rng.randrange(4)
        if kind == 0:  # arbitrary bit patterns over a wide range
            values.append(rng.uniform(-1, 1) * 10.0 ** rng.randint(-12, 25))
        elif kind == 1:  # decimal strings ending in 5: ties on the digit string
            digits = rng.randint(1, 12)
            mantissa = rng.randrange(10 ** (digits - 1)) * 10 + 5
            values.append(float(f"{mantissa}e-{rng.randint(0, digits + 3)}"))
        elif kind == 2:  # ratios like the ones hbal prints
            values.append(rng.randint(0, 5000) / rng.choice([8, 16, 800, 1024, 20000, 3]))
        else:  # near rounding carries (0.99999..., 9.9995...)
            values.append(float("9" * rng.randint(1, 10) + "5") / 10 ** rng.randint(1, 12))
    return values


def test_fmt_fixed_matches_decimal_recipe() -> None:
    rng = random.Random(20240611)
    for x in _random_doubles(rng, 8000):
        for prec in (0, 1, 2, 3, 4, 6, 8):
            assert fmt_fixed(x, prec) == reference_fixed(x, prec), (x, prec)


# --- %.6g, show, %f -----------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (5.551115123125783e-17, "5.551115e-17"),
        (1e-9, "1.000000e-9"),
        (0.00625, "6.250000e-3"),
        (0.0, "0.000000"),
        (1.84373, "1.843730"),
        (46.945393, "46.945393"),
        (100.0, "100.000000"),
        (12345678.0, "1.234568e7"),
        (99999995.0, "1.000000e8"),
        (1e10, "1.000000e10"),
        (0.05, "5.000000e-2"),
        (0.5, "0.500000"),
        (0.9999995, "1.000000"),
        (0.99999949, "0.999999"),
        (1234567.5, "1234567.500000"),
        (5e-324, "5.000000e-324"),
        (-0.05, "-5.000000e-2"),
        (float("nan"), "NaN"),
    ],
)
def test_fmt_g6(x: float, expected: str) -> None:
    assert fmt_g6(x) == expected


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (2.5, "2.5"),
        (59.0, "59.0"),
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (0.1, "0.1"),
        (0.01, "1.0e-2"),
        (4.0, "4.0"),
        (32.0, "32.0"),
        (9999999.0, "9999999.0"),
        (1e7, "1.0e7"),
        (12345678.0, "1.2345678e7"),
        (-0.5, "-0.5"),
        (1 / 3, "0.3333333333333333"),
        (5e-324, "5.0e-324"),
        (1e23, "9.999999999999999e22"),
        (1234567890123456.25, "1.2345678901234563e15"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (float("nan"), "NaN"),
    ],
)
def test_show_double(x: float, expected: str) -> None:
    assert show_double(x) == expected


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (1.0, "1.0"),
        (3.0, "3.0"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (1e-7, "0.0000001"),
        (1e22, "10000000000000000000000.0"),
        (123.456, "123.456"),
        (1234567890123456.25, "1234567890123456.3"),
        (1e23, "99999999999999990000000.0"),
        (-1.0, "-1.0"),
        (float("nan"), "NaN"),
    ],
)
def test_fmt_float_plain(x: float, expected: str) -> None:
    assert fmt_float_plain(x) == expected


# --- tables, quoting, show ------------------------------------------------------


def test_print_table_spec_example() -> None:
    header = ["F", "Name", "t_mem", "p_fmem", "lNet"]
    rows = [header, [" ", "node-1", "16384", "0.9375", "1.000"],
            [" ", "node-3", "16384", "1.0000", "0.000"]]
    assert print_table(rows, [False, False, True, True, True]) == [
        " F Name   t_mem p_fmem  lNet",
        "   node-1 16384 0.9375 1.000",
        "   node-3 16384 1.0000 0.000",
    ]


def test_print_table_pads_last_column_and_drops_unflagged_columns() -> None:
    rows = [["a", "bbb", "x"], ["cccc", "d", "y"]]
    assert print_table(rows, [False, False]) == [" a    bbb", " cccc d  "]
    assert print_table(rows, [True, True, False]) == ["    a bbb x", " cccc   d y"]
    assert print_table([], [True]) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", ""),
        ("abc.1", "abc.1"),
        ("0.12345678", "0.12345678"),
        ("-1", "'-1'"),
        ("NaN", "NaN"),
        ("a b", "'a b'"),
        ("1,2=3", "'1,2=3'"),
        ("drbd", "drbd"),
        ("é", "é"),
        ("a_b", "'a_b'"),
    ],
)
def test_ensure_quoted(value: str, expected: str) -> None:
    assert ensure_quoted(value) == expected


def test_show_string_escapes() -> None:
    # Expected text taken from hbal's error message for the same field list.
    fields = ['ïnst"\\x\t\x7f\x0eH\x01é1', "1", "2"]
    assert show_string_list(fields) == (
        '["\\239nst\\"\\\\x\\t\\DEL\\SO\\&H\\SOH\\233\\&1","1","2"]')
    assert show_string("bogus\"é") == '"bogus\\"\\233"'
    assert show_string("\x0e\x0e") == '"\\SO\\SO"'
    assert show_string("a'b\x00") == '"a\'b\\NUL"'
    assert show_string_list([]) == "[]"


def test_show_int_list() -> None:
    assert show_int_list([3, 1]) == "[3,1]"
    assert show_int_list([-1, 2]) == "[-1,2]"
    assert show_int_list([]) == "[]"


# --- against Ganeti's hbal --------------------------------------------------------

_BALANCED = """g|u|preferred||

n1|1024|0|1024|10240|10240|4|N|u|1
n2|1024|0|1024|10240|10240|4|N|u|1

i1|128|1024|1|running|Y|n1||plain|
i2|128|1024|1|running|Y|n2||plain|

"""


@pytest.mark.ganeti
@needs_hbal
def test_fmt_g6_against_hbal(tmp_path: Path) -> None:
    """hbal prints the ``-e`` value with %.6g in its "well balanced" message."""
    data = tmp_path / "balanced.data"
    data.write_text(_BALANCED)
    rng = random.Random(7)
    values = [12345678.0, 0.9999995, 0.99999949, 5e-324, 1e-300, 99999995.0, 1234567.5,
              1e23, 1234567890123456.25, 3.295933271029512e17]
    values += [rng.uniform(0.5, 10) * 10.0 ** rng.randint(-12, 12) for _ in range(40)]
    values += [float(f"{rng.randrange(10**6)}5e-{rng.randint(0, 9)}") for _ in range(20)]
    for x in values:
        out = subprocess.run([str(HBAL), "-t", str(data), "-e", repr(x)],
                             capture_output=True, text=True, check=True).stdout
        match = re.search(r"minimum score (.*)\)\.", out)
        assert match is not None, out
        assert match.group(1) == fmt_g6(x), x


def _ieee_div(a: float, b: float) -> float:
    """Division with IEEE results for a zero divisor, as Haskell computes it."""
    if b == 0:
        return math.nan if a == 0 else math.copysign(math.inf, a) * math.copysign(1, b)
    return a / b


@pytest.mark.ganeti
@needs_hbal
def test_fixed_and_table_against_hbal_node_list(tmp_path: Path) -> None:
    """``hbal -p`` prints %.Nf ratios of our choosing in a printTable table."""
    rng = random.Random(11)
    fields = "name,tmem,pfmem,pfdsk,rcpu,tdsk,tcpu,fqdn"
    node_lines = ["n0|4096|0|3968|102400|101376|8|N|u|1"]
    # n0 holds the only instance (hbal needs one): mem 128, dsk 1024, 1 vcpu
    expected_rows = [["n0", "4096", fmt_fixed(3968 / 4096, 4, 6),
                      fmt_fixed(101376 / 102400, 4, 6), fmt_fixed(2 / 8, 2, 5),
                      fmt_fixed(100.0, 0, 5), fmt_fixed(8.0, 0, 4), "n0"]]
    for k in range(80):
        name = f"node{k}" + "x" * rng.randrange(12)
        choice = rng.randrange(4)
        if choice == 0:  # exact decimal ties for %6.4f
            scale = rng.randint(1, 4)
            t_mem, f_mem = 20000.0 * scale, (2 * rng.randrange(50) + 1) * scale
            t_dsk, f_dsk = 20000.0 * scale, (2 * rng.randrange(50) + 1) * scale
        elif choice == 1:  # .5 values for %5.0f and %4.0f
            t_mem, f_mem = rng.randrange(99999) + 0.5, rng.randrange(-100, 99999)
            t_dsk, f_dsk = 1024 * (rng.randrange(2000) + 0.5), rng.randrange(10**6)
        elif choice == 2:  # arbitrary doubles
            t_mem, f_mem = rng.uniform(0, 99999), rng.randrange(99999)
            t_dsk, f_dsk = rng.uniform(0, 10**7), rng.randrange(10**7)
        else:  # zero totals: NaN and Infinity
            t_mem, f_mem = 0.0, rng.choice([0, 5])
            t_dsk, f_dsk = 0.0, rng.randrange(10)
        t_cpu = rng.choice([8.0, 40.0, 0.8, 0.5 + rng.randrange(64), rng.uniform(0.1, 64), 0.0])
        n_cpu = rng.randrange(0, 20)
        n_mem = -5 if t_mem == 0.0 and f_mem == 5 else 0
        node_lines.append(f"{name}|{t_mem!r}|{n_mem}|{f_mem}|{t_dsk!r}|{f_dsk}|{t_cpu!r}|N|u"
                          f"|1||N|0|{n_cpu}")
        unallocated = min(math.trunc(t_mem) - n_mem, f_mem)
        p_dsk = 1.0 if t_dsk == 0 else f_dsk / t_dsk
        expected_rows.append([
            name, fmt_fixed(t_mem, 0, 5), fmt_fixed(_ieee_div(unallocated, t_mem), 4, 6),
            fmt_fixed(p_dsk, 4, 6), fmt_fixed(_ieee_div(n_cpu, t_cpu), 2, 5),
            fmt_fixed(t_dsk / 1024, 0, 5), fmt_fixed(t_cpu, 0, 4), name,
        ])
    data = tmp_path / "nodes.data"
    data.write_text("g|u|preferred||\n\n" + "\n".join(node_lines)
                    + "\n\ni1|128|1024|1|running|Y|n0||plain|\n\n")
    err = subprocess.run([str(HBAL), "-t", str(data), f"-p{fields}"],
                         capture_output=True, text=True, check=True).stderr
    lines = err.split("\n")
    start = lines.index("Initial cluster status:") + 1
    header = ["Name", "t_mem", "p_fmem", "p_fdsk", "r_cpu", "t_dsk", "pcpu", "Name"]
    ours = print_table([header, *expected_rows], [False] + [True] * 6 + [False])
    assert lines[start:start + len(ours)] == ours
