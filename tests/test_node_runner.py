"""Runners and QMP: local commands, SSH command lines, the recorder, a fake QEMU monitor.

SSH is exercised through a stand-in ``ssh`` (a Python script given as the
SSH command) that runs the remote command line with a shell, or relays a
``socat STDIO UNIX-CONNECT:...`` to the socket, as a node would: so quoting
and the QMP relay are checked end to end without a network or sshd.  The
daemon test runs hrapid with ``--driver commands --runner record`` and reads
the commands a migration sent.
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import pytest
from conftest import daemon, hrapid
from test_command_driver import CLUSTER_TEXT, IP, commands

from executor.nodes.commands import CommandDriver, KvmSettings
from executor.nodes.driver import Vm
from executor.nodes.plans import Layout
from executor.nodes.runner import LocalRunner, NodeError, RecordingRunner, SshRunner
from executor.rapi_client import RapiClient

# A stand-in for ssh: argv is [user@node, "--", command line].
FAKE_SSH = r"""
import os, select, shlex, socket, sys
words = shlex.split(sys.argv[3])
if words[:2] != ["socat", "STDIO"]:
    os.execvp("sh", ["sh", "-c", sys.argv[3]])
sock = socket.socket(socket.AF_UNIX)
sock.connect(words[2].removeprefix("UNIX-CONNECT:"))
while True:
    ready, _, _ = select.select([0, sock], [], [])
    if 0 in ready:
        data = os.read(0, 65536)
        if not data:
            sock.shutdown(socket.SHUT_WR)
        sock.sendall(data)
    if sock in ready:
        data = sock.recv(65536)
        if not data:
            break
        os.write(1, data)
"""


class FakeQemu:
    """A QMP monitor on a unix socket: greets, answers, and exits on quit or power-off.

    ``query-migrate`` answers the given statuses in turn; an event precedes
    the reply to ``migrate``, as QEMU's do, to check the client skips it.
    """

    def __init__(self, path: str, statuses: Sequence[str] = ()) -> None:
        self.statuses = iter(statuses)
        self.received: list[dict] = []
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(path)
        self.server.listen()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            conn, _ = self.server.accept()
            with conn, conn.makefile("rwb") as stream:
                if self._session(stream):
                    self.server.close()
                    return

    def _session(self, stream: IO[bytes]) -> bool:
        """Answer one client; True when QEMU exits."""
        def send(message: dict) -> None:
            stream.write(json.dumps(message).encode() + b"\r\n")
            stream.flush()

        send({"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}},
                      "capabilities": []}})
        for line in stream:
            request = json.loads(line)
            self.received.append(request)
            command = request["execute"]
            if command == "query-migrate":
                send({"return": {"status": next(self.statuses)}})
            elif command == "migrate":
                send({"event": "MIGRATION", "data": {"status": "setup"}})
                send({"return": {}})
            elif command in ("qmp_capabilities", "migrate-set-parameters", "quit",
                             "system_powerdown"):
                send({"return": {}})
                if command == "system_powerdown":
                    send({"event": "SHUTDOWN", "data": {"guest": True}})
                if command in ("quit", "system_powerdown"):
                    return True
            else:
                send({"error": {"class": "CommandNotFound",
                                "desc": f"The command {command} has not been found"}})
        return False


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """A short directory for sockets (unix socket paths are limited to 108 bytes)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as path:
        (Path(path) / "ctrl").mkdir()
        yield Path(path)


def fake_ssh() -> SshRunner:
    return SshRunner(ssh=[sys.executable, "-c", FAKE_SSH], user="admin")


# --- local and SSH commands --------------------------------------------------------------

def test_local_runner_runs_true_and_false() -> None:
    assert LocalRunner().run("n0", ["true"]).code == 0
    assert LocalRunner().run("n0", ["cat"], input="data").stdout == "data"
    with pytest.raises(NodeError) as err:
        LocalRunner().run("n0", ["sh", "-c", "echo no space left >&2; false"])
    assert (err.value.node, err.value.code, err.value.stderr) == ("n0", 1, "no space left\n")
    assert str(err.value) == ("Command 'sh -c 'echo no space left >&2; false'' failed on "
                              "node n0 (exit code 1): no space left")


def test_local_runner_reports_a_missing_program() -> None:
    with pytest.raises(NodeError, match="failed on node n0.*no-such-program"):
        LocalRunner().run("n0", ["no-such-program"])


def test_ssh_argv_quotes_the_remote_command() -> None:
    runner = SshRunner()
    assert runner.argv("n1", ["lvcreate", "-nweb.disk0", "a b", "it's"]) == [
        "ssh", "-oBatchMode=yes", "root@n1", "--", "lvcreate -nweb.disk0 'a b' 'it'\"'\"'s'"]
    custom = SshRunner(ssh=["ssh", "-i", "/etc/key", "-oBatchMode=yes"], user="ganeti")
    assert custom.argv("n2", ["drbdsetup", "down", "resource0"]) == [
        "ssh", "-i", "/etc/key", "-oBatchMode=yes", "ganeti@n2", "--",
        "drbdsetup down resource0"]


def test_ssh_words_arrive_intact() -> None:
    words = ["a b", "it's", '{"uri": "tcp:1.2.3.4:8102"}', "$HOME", "*"]
    assert fake_ssh().run("n1", ["printf", "%s|", *words]).stdout == "|".join(words) + "|"
    with pytest.raises(NodeError) as err:
        fake_ssh().run("n1", ["sh", "-c", "echo 'Volume group \"xenvg\" not found' >&2; exit 5"])
    assert (err.value.node, err.value.code) == ("n1", 5)
    assert err.value.stderr == 'Volume group "xenvg" not found\n'


# --- QMP ---------------------------------------------------------------------------------

def test_migration_through_a_qmp_socket(run_dir: Path) -> None:
    qemu = FakeQemu(str(run_dir / "ctrl" / "web.qmp"), ["setup", "active", "completed"])
    driver = CommandDriver(LocalRunner(), KvmSettings(run_dir=str(run_dir), poll_interval=0))
    driver.migrate_instance("n0", Vm("web", 2048, 2, ("/dev/drbd0",)), target=IP["n1"])
    assert [r["execute"] for r in qemu.received] == [
        "qmp_capabilities", "migrate-set-parameters", "qmp_capabilities", "migrate",
        "qmp_capabilities", "query-migrate", "qmp_capabilities", "query-migrate",
        "qmp_capabilities", "query-migrate", "qmp_capabilities", "quit"]
    assert qemu.received[3]["arguments"] == {"uri": f"tcp:{IP['n1']}:8102"}


def test_a_failed_migration_leaves_the_source_running(run_dir: Path) -> None:
    qemu = FakeQemu(str(run_dir / "ctrl" / "web.qmp"), ["active", "failed"])
    driver = CommandDriver(LocalRunner(), KvmSettings(run_dir=str(run_dir), poll_interval=0))
    with pytest.raises(NodeError, match="migration of web ended with status failed"):
        driver.migrate_instance("n0", Vm("web", 2048, 2, ()), target=IP["n1"])
    assert "quit" not in [r["execute"] for r in qemu.received]


def test_power_off_waits_for_qemu_to_exit(run_dir: Path) -> None:
    qemu = FakeQemu(str(run_dir / "ctrl" / "web.qmp"))
    CommandDriver(LocalRunner(), KvmSettings(run_dir=str(run_dir))).stop_instance(
        "n0", Vm("web", 2048, 2, ()), timeout=10)
    assert [r["execute"] for r in qemu.received] == ["qmp_capabilities", "system_powerdown"]


def test_qmp_errors_and_missing_sockets_name_the_node(run_dir: Path) -> None:
    path = str(run_dir / "ctrl" / "web.qmp")
    with pytest.raises(NodeError, match="cannot connect to .*web.qmp"):
        LocalRunner().qmp("n0", path, "query-status")
    FakeQemu(path)
    with pytest.raises(NodeError, match="CommandNotFound") as err:
        LocalRunner().qmp("n0", path, "no-such-command")
    assert err.value.node == "n0" and err.value.argv == ["qmp", path, "no-such-command"]


def test_a_silent_monitor_times_out(run_dir: Path) -> None:
    path = str(run_dir / "ctrl" / "web.qmp")
    with socket.socket(socket.AF_UNIX) as silent:
        silent.bind(path)
        silent.listen()
        with pytest.raises(NodeError, match="timed out") as err:
            LocalRunner(qmp_timeout=0.2).qmp("n0", path, "query-status")
    assert err.value.node == "n0"


def test_qmp_over_ssh_through_socat(run_dir: Path) -> None:
    qemu = FakeQemu(str(run_dir / "ctrl" / "web.qmp"), ["completed"])
    answer = fake_ssh().qmp("n0", str(run_dir / "ctrl" / "web.qmp"), "query-migrate")
    assert answer == {"status": "completed"}
    assert [r["execute"] for r in qemu.received] == ["qmp_capabilities", "query-migrate"]


# --- the recorder and the daemon ---------------------------------------------------------

def test_recorder_logs_json_lines(tmp_path: Path) -> None:
    log = tmp_path / "commands.jsonl"
    runner = RecordingRunner(log=str(log))
    runner.run("n0", ["lvremove", "-f", "xenvg/a"])
    assert runner.qmp("n0", "/run/a.qmp", "query-migrate") == {"status": "completed"}
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines == [{"node": "n0", "argv": ["lvremove", "-f", "xenvg/a"]},
                     {"node": "n0", "argv": ["qmp", "/run/a.qmp", "query-migrate"]}]


def test_hrapid_with_the_command_driver_records_a_migration(tmp_path: Path) -> None:
    data = tmp_path / "cluster.data"
    data.write_text(CLUSTER_TEXT)
    log = tmp_path / "commands.jsonl"
    addresses = [f"--node-address={name}={ip}" for name, ip in IP.items()]
    with daemon(tmp_path / "state", "--init-from", str(data), "--driver", "commands",
                "--runner", "record", "--record", str(log), *addresses) as d, \
            RapiClient(d.url) as rapi:
        job = rapi.wait_job(rapi.submit({"OP_ID": "OP_INSTANCE_MIGRATE",
                                         "instance_name": "web"}))
        moved = rapi.instance("web")
    assert job["status"] == "success" and moved["pnode"] == "n1"
    recorded = [(c["node"], c["argv"]) for c in map(json.loads, log.read_text().splitlines())]
    layout = Layout.load(str(tmp_path / "state" / "drbd-layout.json"))
    assert [(s.minors, s.port) for s in layout.slots["web"]] == [({"n0": 0, "n1": 0}, 11000)]
    assert recorded == commands({"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "web"},
                                layout=layout)[0]


@pytest.mark.parametrize(("args", "message"), [
    (["--runner", "record"], "--runner record needs --record FILE"),
    (["--node-address", "n0"], "--node-address wants NAME=ADDRESS, not 'n0'"),
])
def test_hrapid_refuses_incomplete_driver_options(tmp_path: Path, args: list[str],
                                                  message: str) -> None:
    done = hrapid("--state", str(tmp_path), "--driver", "commands", *args)
    assert (done.returncode, done.stderr) == (1, f"hrapid: {message}\n")
