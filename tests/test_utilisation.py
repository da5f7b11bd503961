"""Tests for hbal's ``-U`` utilisation file reader (htools.backends.utilisation).

Tests marked ``ganeti`` feed the same files to Ganeti's hbal and compare the
error messages (ours lack the ``Error: can't parse utilisation data:`` prefix
the CLI adds) or the fact that the file was accepted.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from htools.backends.utilisation import UtilFileError, load_util, parse_util
from htools.errors import DataError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA = SHARED / "fixtures" / "ganeti" / "hbal-dyn.data"
HBAL = Path("/usr/lib/ganeti/3.0/usr/bin/hbal")
needs_hbal = pytest.mark.skipif(not HBAL.exists() or not DATA.exists(),
                                reason="Ganeti's hbal or the shared fixtures are absent")
PARSE_PREFIX = "Error: can't parse utilisation data: "


def test_parses_lines() -> None:
    assert parse_util("a 1 2 3 4\nb 0.5 1e3 -2 (4)\nc 1 2 3 0x10") == {
        "a": (1.0, 2.0, 3.0, 4.0),
        "b": (0.5, 1000.0, -2.0, 4.0),
        "c": (1.0, 2.0, 3.0, 16.0),
    }


def test_empty_file_and_last_duplicate_wins() -> None:
    assert parse_util("") == {}
    assert parse_util("a 1 1 1 1\na 5 5 5 5\n") == {"a": (5.0, 5.0, 5.0, 5.0)}


CASES = [
    ("a 1 2 3 4\n", None),
    ("a 1 2 3 4", None),
    ("a 1 2 3 NaN\n", None),
    ("a 1e3 2 3 -4\n", None),
    ("a 1 2 3 (4)\n", None),
    ("a 1 2 3 0x10\n", None),
    ("a 1 2 3\n", "Cannot parse line a 1 2 3"),
    ("a  1 2 3 4\n", "Cannot parse line a  1 2 3 4"),
    ("a 1 2 3 4 \n", "Cannot parse line a 1 2 3 4 "),
    ("a\t1 2 3 4\n", "Cannot parse line a\t1 2 3 4"),
    ("\n", "Cannot parse line "),
    ("a 1 2 3 4\n\n", "Cannot parse line "),
    ("a x 2 3 4\n", "a: cannot parse string 'x'"),
    ("a 1 2 3 .5\n", "a: cannot parse string '.5'"),
    ("a 1 2 3 5.\n", "a: leftover characters when parsing '5.': '.'"),
    ("a 1 2 3 4\r\n", "a: leftover characters when parsing '4\r': '\r'"),
    ("a 1 2 3 4\n\u00e9 x 2 3 4\n", "\u00e9: cannot parse string 'x'"),
]


@pytest.mark.parametrize(("content", "message"), CASES)
def test_messages(content: str, message: str | None) -> None:
    if message is None:
        assert "a" in parse_util(content)
        return
    with pytest.raises(DataError) as err:
        parse_util(content)
    assert str(err.value) == message
    assert not isinstance(err.value, UtilFileError)


def test_load_util_reads_files(tmp_path: Path) -> None:
    path = tmp_path / "util"
    path.write_text("inst 1 2 3 4\n")
    assert load_util(str(path)) == {"inst": (1.0, 2.0, 3.0, 4.0)}


def test_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    with pytest.raises(UtilFileError) as err:
        load_util(str(missing))
    assert str(err.value) == f"{missing}: openFile: does not exist (No such file or directory)"
    with pytest.raises(UtilFileError) as err:
        load_util(str(tmp_path))
    assert str(err.value) == f"{tmp_path}: openFile: inappropriate type (is a directory)"
    binary = tmp_path / "binary"
    binary.write_bytes(b"a 1 2 3 \xff\n")
    with pytest.raises(UtilFileError) as err:
        load_util(str(binary))
    assert str(err.value) == f"{binary}: hGetContents: invalid argument (invalid byte sequence)"


@needs_hbal
@pytest.mark.ganeti
@pytest.mark.parametrize(("content", "message"), CASES)
def test_against_hbal(tmp_path: Path, content: str, message: str | None) -> None:
    path = tmp_path / "util"
    path.write_text(content, newline="")
    proc = subprocess.run([str(HBAL), "-t", str(DATA), "-U", str(path)],
                          capture_output=True, timeout=60)
    # Bytes, not text mode: a carriage return in the message must survive.
    stderr = proc.stderr.decode()
    if message is None:
        assert proc.returncode == 0, stderr
        return
    assert proc.returncode == 1
    assert stderr == f"{PARSE_PREFIX}{message}\n"


@needs_hbal
@pytest.mark.ganeti
def test_unreadable_against_hbal(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    proc = subprocess.run([str(HBAL), "-t", str(DATA), "-U", str(missing)],
                          capture_output=True, text=True, timeout=60)
    with pytest.raises(UtilFileError) as err:
        load_util(str(missing))
    assert proc.returncode == 1
    assert proc.stderr == f"hbal: {err.value}\n"
