"""Runners: how a command reaches a node (this host, SSH, or a recorder in tests).

Every runner answers the same two calls with the node name first:
``run(node, argv, input)`` for a command and ``qmp(node, socket, command,
arguments)`` for one exchange with a QEMU monitor socket on that node.  QMP is
separate because it is a conversation (greeting, capabilities, reply, maybe
waiting for QEMU to exit) rather than a process with an exit code.

Failures are :class:`NodeError` carrying the node, the command and its
standard error, so the opcode that ran it can say exactly what broke where.
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any, Protocol

from executor.nodes.qmp import QmpClient, QmpError

HIDDEN = "<hidden>"


@dataclass(frozen=True)
class Result:
    """What a finished command left: exit code and both outputs (text)."""

    code: int
    stdout: str = ""
    stderr: str = ""


def _redacted(argv: list[str]) -> list[str]:
    """``argv`` without DRBD's shared secret: error messages end up in job results."""
    return [HIDDEN if i and argv[i - 1] == "--shared-secret" else word
            for i, word in enumerate(argv)]


class NodeError(Exception):
    """A node operation failed: where, what, and what the node said."""

    def __init__(self, node: str, argv: Sequence[str], stderr: str,
                 code: int | None = None) -> None:
        self.node = node
        self.argv = list(argv)
        self.stderr = stderr
        self.code = code
        status = "" if code is None else f" (exit code {code})"
        super().__init__(f"Command '{shlex.join(_redacted(self.argv))}' failed on node "
                         f"{node}{status}: {stderr.strip()}")


def qmp_argv(socket_path: str, command: str, arguments: dict | None) -> list[str]:
    """How a QMP exchange appears in errors and recordings: a pseudo-command line."""
    argv = ["qmp", socket_path, command]
    if arguments:
        argv.append(json.dumps(arguments, sort_keys=True))
    return argv


class Runner(Protocol):
    """Carries commands and QMP exchanges to nodes."""

    def run(self, node: str, argv: Sequence[str], input: str | None = None) -> Result:
        """Run ``argv`` on ``node``; NodeError unless it exits 0."""
        ...

    def qmp(self, node: str, socket_path: str, command: str, arguments: dict | None = None,
            *, wait_exit: float | None = None) -> Any:
        """Execute one QMP command on ``node``'s monitor socket and return its result.

        With ``wait_exit`` the call also waits that many seconds for QEMU to
        exit (the monitor closes) and raises NodeError if it does not.
        """
        ...


def _check(node: str, argv: Sequence[str], result: Result) -> Result:
    if result.code != 0:
        raise NodeError(node, argv, result.stderr, result.code)
    return result


def _session(node: str, argv: list[str], reader: IO[bytes], writer: IO[bytes], command: str,
             arguments: dict | None, wait_exit: float | None) -> Any:
    """One QMP session over a stream; every failure becomes the node's error."""
    client = QmpClient(reader, writer)
    try:
        client.connect()
        answer = client.execute(command, arguments)
        if wait_exit is not None and not client.wait_closed(wait_exit):
            raise NodeError(node, argv, f"QEMU still running {wait_exit:g} s after {command}")
        return answer
    except (QmpError, OSError, ValueError) as err:
        raise NodeError(node, argv, str(err)) from None


class LocalRunner:
    """Runs everything on this host, whatever the node name (a single-node lab).

    Commands get ``timeout`` seconds (None: no limit, as resyncs can take
    hours); a monitor gets ``qmp_timeout`` seconds to answer each message, so
    a hung QEMU fails the opcode instead of holding its job forever.
    """

    def __init__(self, timeout: float | None = None, qmp_timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.qmp_timeout = qmp_timeout

    def run(self, node: str, argv: Sequence[str], input: str | None = None) -> Result:
        try:
            done = subprocess.run(list(argv), input=input, capture_output=True, text=True,
                                  timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise NodeError(node, argv, str(err)) from None
        return _check(node, argv, Result(done.returncode, done.stdout, done.stderr))

    def qmp(self, node: str, socket_path: str, command: str, arguments: dict | None = None,
            *, wait_exit: float | None = None) -> Any:
        argv = qmp_argv(socket_path, command, arguments)
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.qmp_timeout)
            sock.connect(socket_path)
        except OSError as err:
            raise NodeError(node, argv, f"cannot connect to {socket_path}: {err}") from None
        with sock, sock.makefile("rb") as reader, sock.makefile("wb") as writer:
            return _session(node, argv, reader, writer, command, arguments, wait_exit)


class SshRunner:
    """Runs commands as ``user`` on each node over SSH, never asking for a password.

    The remote side gets one shell-quoted command line, because ssh joins its
    arguments with spaces and hands them to the remote shell; quoting each
    word keeps file names and JSON intact.  QMP goes through ``socat`` on the
    node, which relays the monitor socket over the SSH session's pipes.
    """

    def __init__(self, ssh: Sequence[str] = ("ssh", "-oBatchMode=yes"), user: str = "root",
                 timeout: float | None = None) -> None:
        self.ssh = list(ssh)
        self.user = user
        self.timeout = timeout

    def argv(self, node: str, argv: Sequence[str]) -> list[str]:
        """The local command line that runs ``argv`` on ``node``."""
        return [*self.ssh, f"{self.user}@{node}", "--", shlex.join(argv)]

    def run(self, node: str, argv: Sequence[str], input: str | None = None) -> Result:
        try:
            done = subprocess.run(self.argv(node, argv), input=input, capture_output=True,
                                  text=True, timeout=self.timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise NodeError(node, argv, str(err)) from None
        return _check(node, argv, Result(done.returncode, done.stdout, done.stderr))

    def qmp(self, node: str, socket_path: str, command: str, arguments: dict | None = None,
            *, wait_exit: float | None = None) -> Any:
        argv = qmp_argv(socket_path, command, arguments)
        remote = ["socat", "STDIO", f"UNIX-CONNECT:{socket_path}"]
        try:
            proc = subprocess.Popen(self.argv(node, remote), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as err:
            raise NodeError(node, argv, str(err)) from None
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            return _session(node, argv, proc.stdout, proc.stdin, command, arguments, wait_exit)
        except NodeError as err:
            proc.kill()
            raise NodeError(node, argv, f"{err.stderr} {proc.stderr.read().decode()}") from None
        finally:
            proc.stdin.close()
            proc.wait(timeout=self.timeout)


Script = Callable[[str, list[str]], Any]


class RecordingRunner:
    """Runs nothing: records ``(node, argv)`` and answers from a script (tests, dry runs).

    ``script(node, argv)`` gives the answer to a call: a :class:`Result` for a
    command, the return value for a QMP exchange (whose argv is
    :func:`qmp_argv`'s), or None for the default — success, and for QMP the
    answer of :data:`QMP_DEFAULTS` (a migration that is already complete).
    A QMP answer may also be a NodeError instance, which is raised.  With
    ``log`` every call is appended to that file as one JSON line
    ``{"node": ..., "argv": [...]}``, so a daemon's commands can be inspected.
    """

    QMP_DEFAULTS: dict[str, Any] = {"query-migrate": {"status": "completed"}}

    def __init__(self, script: Script | None = None, log: str | None = None) -> None:
        self.script = script
        self.log = log
        self.calls: list[tuple[str, list[str]]] = []
        self.lock = threading.Lock()

    def _record(self, node: str, argv: list[str]) -> Any:
        with self.lock:
            self.calls.append((node, argv))
            if self.log is not None:
                with open(self.log, "a", encoding="utf-8") as out:
                    out.write(json.dumps({"node": node, "argv": argv}) + "\n")
        return None if self.script is None else self.script(node, argv)

    def run(self, node: str, argv: Sequence[str], input: str | None = None) -> Result:
        argv = list(argv)
        answer = self._record(node, argv)
        return _check(node, argv, Result(0) if answer is None else answer)

    def qmp(self, node: str, socket_path: str, command: str, arguments: dict | None = None,
            *, wait_exit: float | None = None) -> Any:
        answer = self._record(node, qmp_argv(socket_path, command, arguments))
        if isinstance(answer, NodeError):
            raise answer
        return self.QMP_DEFAULTS.get(command, {}) if answer is None else answer
