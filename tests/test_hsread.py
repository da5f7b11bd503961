"""Tests for the shared Haskell-compatible reader (htools.hsread).

Expected values and messages were taken from Ganeti 3.0.2's binaries; the tests
marked ``ganeti`` re-check a set of spellings against them (``hbal`` options
read Ints and Doubles with the same ``tryRead`` as the data files do).
"""

from __future__ import annotations

import math
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from htools.hsread import (
    ReadError,
    io_error_text,
    parse_unit,
    read_bool,
    read_double,
    read_file,
    read_int,
    reads_double,
    reads_int,
    sep_split,
    split_lines,
    wrap_int,
)

HBAL = Path("/usr/lib/ganeti/3.0/usr/bin/hbal")
needs_hbal = pytest.mark.skipif(not HBAL.exists(), reason="Ganeti's hbal is not installed")

# --- Ints ----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("5", 5), (" 5", 5), ("\t5", 5), ("\u00a05", 5), ("\u20035", 5), ("(5)", 5),
    ("( (5) )", 5), ("- 5", -5), ("(-5)", -5), ("0x1F", 31), ("0O7", 7), ("-0x10", -16),
    ("007", 7), ("-0", 0),
    ("99999999999999999999", 7766279631452241919), ("1" * 5000, read_int("n", "1" * 5000)),
])
def test_read_int(text: str, value: int) -> None:
    assert read_int("n", text) == value


@pytest.mark.parametrize(("text", "message"), [
    ("5 ", "n: leftover characters when parsing '5 ': ' '"),
    ("5.", "n: leftover characters when parsing '5.': '.'"),
    ("0b1", "n: leftover characters when parsing '0b1': 'b1'"),
    ("0x", "n: leftover characters when parsing '0x': 'x'"),
    ("5)", "n: leftover characters when parsing '5)': ')'"),
    ("1_0", "n: leftover characters when parsing '1_0': '_0'"),
    ("5.0", "n: cannot parse string '5.0'"), ("+5", "n: cannot parse string '+5'"),
    ("--5", "n: cannot parse string '--5'"), ("-(5)", "n: cannot parse string '-(5)'"),
    ("(5", "n: cannot parse string '(5'"), ("", "n: cannot parse string ''"),
    ("5e3", "n: cannot parse string '5e3'"), ("NaN", "n: cannot parse string 'NaN'"),
    ("\u22125", "n: cannot parse string '\u22125'"),
])
def test_read_int_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        read_int("n", text)
    assert str(info.value) == message
    assert isinstance(info.value, ReadError)


def test_int_wraps_at_64_bits() -> None:
    assert wrap_int(2**63) == -(2**63)
    assert wrap_int(2**64 + 5) == 5
    assert wrap_int(-(2**63) - 1) == 2**63 - 1
    assert read_int("n", "9223372036854775808") == -(2**63)
    assert read_int("n", "-9223372036854775809") == 2**63 - 1
    assert read_int("n", "0x1" + "0" * 16) == 0
    # Literals beyond Python's int() digit limit, through the fast path and the lexer.
    digits, value = "7" * 4321, wrap_int(7 * (10**4321 - 1) // 9)
    assert read_int("n", digits) == read_int("n", f"( {digits} )") == value
    assert read_int("n", "-" + digits) == read_int("n", f"(- {digits})") == wrap_int(-value)


# --- Doubles -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("0.5", 0.5), ("1E+2", 100.0), ("1e-2", 0.01), ("00.5", 0.5), ("0x10", 16.0),
    ("(2.5)", 2.5), ("Infinity", float("inf")), ("-Infinity", float("-inf")),
    ("1e1000", float("inf")), ("0e1000", 0.0), ("1e-400", 0.0), ("0o17", 15.0),
    (" ( - 2.5e1 )", -25.0), ("0x" + "f" * 300, float("inf")),
])
def test_read_double(text: str, value: float) -> None:
    assert read_double("d", text) == value


def test_read_double_nan_and_errors() -> None:
    assert read_double("d", "NaN") != read_double("d", "NaN")
    for text, rest in [("1e", "e"), ("1.0.0", ".0"), ("1,5", ",5"), ("2 .5", " .5"),
                       ("NaN ", " "), ("1e+", "e+")]:
        with pytest.raises(ValueError, match=re.escape(f"': '{rest}'")):
            read_double("d", text)
    for text in ["inf", "nan", "Infinityx", ".5", "NaN'", "-", "()"]:
        with pytest.raises(ValueError, match="cannot parse"):
            read_double("d", text)


def test_negative_zero_keeps_its_sign() -> None:
    assert math.copysign(1, read_double("d", "-0")) == -1
    assert math.copysign(1, read_double("d", "(-0.0)")) == -1
    assert math.copysign(1, read_double("d", "-NaN")) == -1


# --- reads: value and leftover -------------------------------------------------------


def test_reads_returns_the_leftover() -> None:
    assert reads_int("12 GiB") == (12, " GiB")
    assert reads_int(" (0x1f)g") == (31, "g")
    assert reads_int("1.5") is None  # a fraction is part of the number token
    assert reads_int("x") is None
    assert reads_double("2.5e") == (2.5, "e")
    assert reads_double("Infinity)") == (math.inf, ")")
    assert reads_double("(1") is None


# --- Bools ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [
    ("True", True), ("False", False), ("( True )", True), (" False", False),
    ("((False))", False), ("\u2003True", True), ("(\u3000False\u2003)", False),
])
def test_read_bool(text: str, value: bool) -> None:
    assert read_bool("b", text) is value


@pytest.mark.parametrize(("text", "message"), [
    ("true", "b: cannot parse string 'true'"),
    ("Truex", "b: cannot parse string 'Truex'"),
    ("True'", "b: cannot parse string 'True''"),
    ("(True", "b: cannot parse string '(True'"),
    ("-True", "b: cannot parse string '-True'"),
    ("1", "b: cannot parse string '1'"),
    ("True ", "b: leftover characters when parsing 'True ': ' '"),
    ("True)", "b: leftover characters when parsing 'True)': ')'"),
    ("\u2003True)", "b: leftover characters when parsing '\u2003True)': ')'"),
])
def test_read_bool_errors(text: str, message: str) -> None:
    with pytest.raises(ReadError) as info:
        read_bool("b", text)
    assert str(info.value) == message


# --- parse_unit ----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "mib"), [
    ("1T", 953674), ("64G", 61035), ("8T", 7629394), ("64g", 65536), ("1 GiB", 1024),
    ("2 tb", 1907348), ("(7)g", 7168), ("1M", 0), ("-3", -3), ("5 ", 5),
    ("100", 100), ("100m", 100), ("100 MiB", 100), ("100 mib", 100),
    ("2 GiB", 2048), ("1t", 1048576), ("1TiB", 1048576), ("3M", 2), ("1000MB", 953),
    ("1gb", 953), ("1 tb", 953674), ("(5)g", 5120), (" 5   g", 5120), ("-5", -5),
    ("0x10", 16), ("99999999999999999999", 7766279631452241919),
    ("-1g", -1024), ("9223372036854775807t", -1048576),
])
def test_parse_unit(text: str, mib: int) -> None:
    assert parse_unit(text) == mib


@pytest.mark.parametrize(("text", "message"), [
    ("x", "Can't parse string 'x'"),
    ("5.5", "Can't parse string '5.5'"),
    ("5e3", "Can't parse string '5e3'"),
    ("", "Can't parse string ''"),
    ("5x", "Unknown unit 'x'"),
    ("5g ", "Unknown unit 'g '"),
    ("5\tg", "Unknown unit '\tg'"),
    ("5 Gi", "Unknown unit 'Gi'"),
])
def test_parse_unit_errors(text: str, message: str) -> None:
    with pytest.raises(ReadError) as err:
        parse_unit(text)
    assert str(err.value) == message
    with pytest.raises(ReadError) as err:
        parse_unit(text, "disk size")
    assert str(err.value) == f"disk size: {message}"


# --- splitting -----------------------------------------------------------------------


def test_sep_split() -> None:
    assert sep_split("") == []
    assert sep_split("a") == ["a"]
    assert sep_split("a,,b,") == ["a", "", "b", ""]
    assert sep_split(",") == ["", ""]
    assert sep_split("a|b", "|") == ["a", "b"]
    assert sep_split("a  b", " ") == ["a", "", "b"]


def test_split_lines() -> None:
    assert split_lines("") == []
    assert split_lines("\n") == [""]
    assert split_lines("a") == ["a"]
    assert split_lines("a\n") == ["a"]
    assert split_lines("a\n\nb\n\n") == ["a", "", "b", ""]
    assert split_lines("a\r\nb") == ["a\r", "b"]


# --- files ---------------------------------------------------------------------------


class _Custom(Exception):
    pass


def test_read_file(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a\r\nb\n\xc3\xa9")
    assert read_file(str(path), _Custom) == "a\r\nb\n\u00e9"
    missing = tmp_path / "missing"
    with pytest.raises(_Custom) as err:
        read_file(str(missing), _Custom)
    assert str(err.value) == f"{missing}: openFile: does not exist (No such file or directory)"
    with pytest.raises(_Custom) as err:
        read_file(str(tmp_path), _Custom)
    assert str(err.value) == f"{tmp_path}: openFile: inappropriate type (is a directory)"
    path.write_bytes(b"a\xff\n")
    with pytest.raises(_Custom) as err:
        read_file(str(path), _Custom)
    assert str(err.value) == f"{path}: hGetContents: invalid argument (invalid byte sequence)"


def test_io_error_text() -> None:
    assert io_error_text(PermissionError(13, "Permission denied")) == \
        "permission denied (Permission denied)"
    assert io_error_text(OSError(9999, "Strange")) == "failed (Strange)"


# --- differential tests against Ganeti -----------------------------------------------

SPELLINGS = [
    "5", " 5", "\u20035", "\u00a05", "(5)", "( - 5 )", "-0x1F", "0o17", "0X1f", "5 ", "5.",
    "5.0", "5e3", "+5", "--5", "-(5)", "(5", "", "0x", "0b1", "1_0", "99999999999999999999",
    "NaN", "-Infinity", "Infinityx", "1e", "1e+", "1.0.0", "2 .5", ".5", "(2.5)", "1E+2",
    "1e1000", "\u22125", "5)", "\u30005\u3000",
]


def _hbal_option_error(option: str, value: str) -> str | None:
    """Ganeti's message for ``--option=value``, or None if the value was accepted."""
    proc = subprocess.run([str(HBAL), f"--{option}={value}"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "LC_ALL": "C.UTF-8"},
                          stdin=subprocess.DEVNULL, check=False)
    prefix = "Error while parsing command line arguments:\n"
    if not proc.stderr.startswith(prefix):
        return None
    return proc.stderr[len(prefix):-1]


def _our_error(read: Callable[[str, str], object], owner: str, value: str) -> str | None:
    try:
        read(owner, value)
    except ReadError as err:
        return str(err)
    return None


@needs_hbal
@pytest.mark.ganeti
@pytest.mark.parametrize("value", SPELLINGS)
def test_spellings_against_hbal(value: str) -> None:
    assert _hbal_option_error("max-length", value) == \
        _our_error(read_int, "max solution length", value)
    assert _hbal_option_error("min-gain", value) == _our_error(read_double, "min gain", value)
