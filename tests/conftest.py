"""Shared paths, skip markers and a subprocess runner for the test suite.

The differential tests compare our console tools with Ganeti's reference binaries byte for
byte, so both must run the same way: as subprocesses, in the same locale, with the same
arguments. `run_tool` is that single place.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GANETI_FIXTURES = SHARED / "fixtures" / "ganeti"
GANETI_BIN = Path("/usr/lib/ganeti/3.0/usr/bin")
GANETI_HAIL = Path("/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail")
TOOLS = ("hbal", "hail", "hspace", "hcheck", "hinfo", "hroller", "hsqueeze")
# Harness self-check: HTOOLS_OURS=ganeti runs Ganeti's binaries in place of ours, so every
# differential test must pass; a failure then is a bug of the harness, not of our tools.
OURS_ARE_GANETI = os.environ.get("HTOOLS_OURS") == "ganeti"

requires_shared = pytest.mark.skipif(
    not GANETI_FIXTURES.is_dir(), reason=f"shared fixtures missing: {GANETI_FIXTURES}")
requires_ganeti = pytest.mark.skipif(
    not (GANETI_BIN / "hbal").is_file(),
    reason=f"Ganeti's reference htools missing: {GANETI_BIN / 'hbal'}"
           " (apt-get install ganeti-htools-3.0)")

# The text serialiser is written alongside the generator; tests that need it wait for it.
requires_dump_text = pytest.mark.skipif(
    importlib.util.find_spec("htools.backends.text") is None,
    reason="htools.backends.text (dump_text) not written yet")


def ganeti_command(tool: str) -> list[str]:
    """How to start Ganeti's binary for a tool (hail lives among the iallocators)."""
    return [str(GANETI_HAIL if tool == "hail" else GANETI_BIN / tool)]


def our_command(tool: str) -> list[str]:
    """How to start our implementation of a tool: its CLI module under this interpreter."""
    if OURS_ARE_GANETI:
        return ganeti_command(tool)
    return [sys.executable, "-m", f"htools.cli.{tool}"]


def run_tool(argv: Sequence[str], *, ours: bool, cwd: Path | None = None,
             timeout: float = 300) -> tuple[int, str, str]:
    """Run `argv` (argv[0] is the tool name, e.g. "hbal") and return (rc, stdout, stderr).

    Output is decoded as UTF-8 with undecodable bytes escaped, so that a comparison never
    hides a byte difference behind a decoding error.
    """
    tool, *args = argv
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}")
    command = (our_command(tool) if ours else ganeti_command(tool)) + list(args)
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    if ours:
        # Our modules must import from this checkout even without an installed package.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    proc = subprocess.run(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=timeout, check=False)
    return (proc.returncode, proc.stdout.decode("utf-8", "backslashreplace"),
            proc.stderr.decode("utf-8", "backslashreplace"))


def assert_same_output(theirs: tuple[int, str, str], ours: tuple[int, str, str]) -> None:
    """Fail with a unified diff of whichever of exit code, stdout and stderr differ."""
    diffs = []
    if theirs[0] != ours[0]:
        diffs.append(f"exit code: Ganeti {theirs[0]}, ours {ours[0]}")
    for what, a, b in zip(("stdout", "stderr"), theirs[1:], ours[1:], strict=True):
        if a != b:
            # split("\n") keeps a missing or extra final newline visible as a line of its own
            diffs.append("\n".join(difflib.unified_diff(
                a.split("\n"), b.split("\n"), f"{what} (Ganeti)", f"{what} (ours)",
                lineterm="", n=2)))
    if diffs:
        pytest.fail("\n".join(diffs), pytrace=False)


def fixture_cases(sets: Callable[[str], dict[str, list[str]]],
                  default: Callable[[str, str], bool],
                  skip: Collection[tuple[str, str]] = ()) -> list:
    """Every Ganeti text fixture under a tool's option sets, as pytest params.

    ``sets(stem)`` gives a fixture's option sets; those ``default(stem, set)``
    rejects are heavy.
    """
    cases = []
    for path in sorted(GANETI_FIXTURES.glob("*.data")) if GANETI_FIXTURES.is_dir() else []:
        for name, args in sets(path.stem).items():
            if (path.stem, name) in skip:
                continue
            marks = () if default(path.stem, name) else (pytest.mark.heavy,)
            cases.append(pytest.param(path, args, id=f"{path.stem}-{name}", marks=marks))
    return cases


def instance_free_requests() -> list[Path]:
    """Ganeti's hail-*.json requests without instances: read alike by every tool's -I.

    (With instances, Ganeti's non-hail tools merge them into the nodes twice; ours don't.)
    """
    import json
    paths = sorted(GANETI_FIXTURES.glob("hail-*.json")) if GANETI_FIXTURES.is_dir() else []
    return [p for p in paths if not json.loads(p.read_text()).get("instances")]


def compare_tool(argv: Sequence[str], cwd: Path) -> None:
    """Run a tool as Ganeti and as ours and fail on any difference."""
    theirs, ours = (run_tool(argv, ours=o, cwd=cwd) for o in (False, True))
    assert_same_output(theirs, ours)


requires_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="openssl is needed to make a self-signed certificate")


def make_self_signed(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate and key for 127.0.0.1/localhost (PEM files), made with openssl.

    Tests that call it carry ``requires_openssl``.
    """
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


# --- hrapid as an operator runs it -------------------------------------------------------

GANETI_RAPI = Path("/usr/lib/python3/dist-packages/ganeti/rapi/client.py")
SYSTEM_PYTHON = "/usr/bin/python3"
requires_ganeti_rapi = pytest.mark.skipif(
    not (GANETI_RAPI.exists() and Path(SYSTEM_PYTHON).exists()),
    reason="Debian's python3-ganeti-rapi is not installed (apt-get install python3-ganeti-rapi)")


class Daemon:
    """A running hrapid: its process and URL."""

    def __init__(self, proc: subprocess.Popen, url: str) -> None:
        self.proc = proc
        self.url = url


def hrapid_env() -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C.UTF-8",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                        os.environ.get("PYTHONPATH")]))}


def hrapid(*args: str) -> subprocess.CompletedProcess:
    """Run hrapid to completion (start-up failures)."""
    return subprocess.run([sys.executable, "-m", "executor.daemon.server", *args],
                          env=hrapid_env(), capture_output=True, text=True, timeout=60,
                          check=False)


@contextmanager
def daemon(state: Path, *args: str) -> Iterator[Daemon]:
    """Start hrapid on a free port; stop it (SIGTERM) on exit unless a test killed it."""
    proc = subprocess.Popen([sys.executable, "-m", "executor.daemon.server", "--state",
                             str(state), "--port", "0", *args], env=hrapid_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"serving (\S+)", line)
        assert match, f"hrapid did not start: {line}{proc.stderr.read()}"
        yield Daemon(proc, match.group(1))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


def users_file(tmp_path: Path) -> Path:
    """A RAPI users file: ``reader`` (read only), ``ops``/secret ({HA1}) and ``admin`` write."""
    ha1 = hashlib.md5(b"ops:Ganeti Remote API:secret").hexdigest()
    path = tmp_path / "users"
    path.write_text("# RAPI users\nreader plainpw\nops {HA1}" + ha1 + " write\n"
                    "admin {cleartext}pw read,write\n")
    return path
