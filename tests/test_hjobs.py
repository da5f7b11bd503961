"""hjobs list|info|watch against the fake Ganeti RAPI (tests/fake_rapi.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from conftest import REPO
from fake_rapi import FakeRapi

from htools.cli import hjobs

MIGRATE = {"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "web1", "cleanup": False}
REPLACE = {"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": "db2",
           "mode": "replace_new_secondary", "remote_node": "node3"}


def call(*argv: str) -> tuple[int, str, str]:
    """Run hjobs in process; (exit code, stdout, stderr)."""
    import contextlib
    import io
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
            pytest.raises(SystemExit) as stop:
        hjobs.main(list(argv))
    return int(stop.value.code or 0), out.getvalue(), err.getvalue()


@pytest.fixture
def server() -> Iterator[FakeRapi]:
    def fail(op: dict) -> str | None:
        return "no free memory" if op["instance_name"] == "db2" else None

    with FakeRapi(fail=fail, run_time=0.0) as fake:
        fake.add_job(dict(MIGRATE))
        fake.add_job(dict(REPLACE))
        yield fake


def test_list_default_fields(server: FakeRapi) -> None:
    rc, out, err = call("list", "-m", server.url)
    assert (rc, err) == (0, "")
    assert out == (" ID Status  Summary\n"
                   "100 success INSTANCE_MIGRATE(web1)\n"
                   "101 error   INSTANCE_REPLACE_DISKS(db2)\n")
    assert server.requests[-1].path == "/2/jobs" and server.requests[-1].query == {
        "bulk": ["1"]}


def test_list_fields_filters_and_separator(server: FakeRapi) -> None:
    rc, out, _ = call("list", "-m", server.url, "--error", "--no-headers", "-o", "id,ops")
    assert (rc, out) == (0, "101 OP_INSTANCE_REPLACE_DISKS\n")
    rc, out, _ = call("list", "-m", server.url, "--separator=|", "-o", "+opstatus", "100")
    assert out == "ID|Status|Summary|OpCode_status\n100|success|INSTANCE_MIGRATE(web1)|success\n"
    rc, out, _ = call("list", "-m", server.url, "--pending")
    assert out == "ID Status Summary\n"
    _, out, _ = call("list", "-m", server.url, "-o", "id,received_ts", "--no-headers")
    stamp = out.splitlines()[0].split(maxsplit=1)[1]
    assert time.strptime(stamp.split(".")[0], "%Y-%m-%d %H:%M:%S")


def test_connection_options_before_or_after_the_command(server: FakeRapi) -> None:
    assert call("-m", server.url, "list", "--no-headers")[1] == \
        call("list", "--no-headers", "-m", server.url)[1] != ""
    with pytest.raises(SystemExit) as stop:
        hjobs.main(["--ca-cert", "x", "list", "--verify-tls", "-m", server.url])
    assert stop.value.code == 2  # mutually exclusive, wherever they are given


def test_unknown_field(server: FakeRapi) -> None:
    rc, _, err = call("list", "-m", server.url, "-o", "id,bogus")
    assert rc == 1 and err.startswith("Error: Unknown field(s): bogus; known: id, status")


def test_info_like_gnt_job_info(server: FakeRapi) -> None:
    rc, out, _ = call("info", "-m", server.url, "101", "7")
    assert rc == 0
    lines = out.splitlines()
    assert lines[:3] == ["- Job ID: 101", "  Status: error", lines[2]]
    assert lines[2].startswith("  Received:         20")
    assert lines[3].startswith("  Processing start: 20") and lines[3].endswith("s)")
    assert lines[5].startswith("  Total processing time: ")
    assert lines[6:11] == ["  Opcodes: ", "    - Opcode: OP_INSTANCE_REPLACE_DISKS",
                           "      Status: error", "      Processing start: N/A",
                           "      Execution start:  N/A"]
    assert "        OP_ID: OP_INSTANCE_REPLACE_DISKS" in lines
    assert "        remote_node: node3" in lines
    assert "      Result: " in lines and "        - OpExecError" in lines
    assert "        - - no free memory" in lines and "          - ecode_fault" in lines
    assert "          Content: [1, message, started OP_INSTANCE_REPLACE_DISKS]" in lines
    assert lines[-1] == "- Job ID 7 not found"


def test_watch_success_and_failure(server: FakeRapi) -> None:
    rc, out, err = call("watch", "-m", server.url, "100")
    lines = out.splitlines()
    assert (rc, err) == (0, "")
    assert lines[:2] == ["Output from job 100 follows", "---------------------------"]
    assert lines[2].endswith(" started OP_INSTANCE_MIGRATE")
    rc, out, err = call("watch", "-m", server.url, "101")
    assert rc == 1
    assert err == "Job 101 failed: Failure: command execution error:\nno free memory\n"


def test_watch_follows_a_running_job() -> None:
    with FakeRapi(run_time=0.8, wait_timeout=0.1) as fake:
        fake.add_job(dict(MIGRATE))
        rc, out, err = call("watch", "-m", fake.url, "100")
    assert rc == 0 and len(out.splitlines()) == 3
    assert err == "Job 100 is waiting in queue\n"
    assert sum(r.path.endswith("/wait") for r in fake.requests) >= 2


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["info", "-m", "http://127.0.0.1:9", "1"], 1, "failed: connection refused"),
    (["watch", "-m", "URL", "555"], 1, "Error: job 555 not found (lost or archived)"),
    (["info", "-m", "URL", "x"], 2, "Invalid job ID passed: 'x'"),
    (["list"], 2, "the following arguments are required: -m/--master"),
])
def test_errors_are_one_line(server: FakeRapi, argv: list[str], code: int,
                             message: str) -> None:
    argv = [server.url if a == "URL" else a for a in argv]
    if code == 2:
        with pytest.raises(SystemExit) as stop:
            hjobs.main(argv)
        assert stop.value.code == 2
        return
    rc, _, err = call(*argv)
    assert rc == code and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_auth_errors(server: FakeRapi) -> None:
    with FakeRapi(users={"ops": ("pw", False)}) as fake:
        rc, _, err = call("list", "-m", f"http://ops:bad@127.0.0.1:{fake.port}")
        assert rc == 1 and "http://ops:***@" in err and "HTTP 401 Unauthorized" in err
        # A read-only user may list and watch (polling instead of /wait).
        fake.add_job(dict(MIGRATE))
        rc, out, err = call("watch", "-m", f"http://ops:pw@127.0.0.1:{fake.port}", "100")
        assert (rc, err) == (0, "")


def test_console_module_runs() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "htools.cli.hjobs", "list", "-m",
                           "http://127.0.0.1:9"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1
    assert proc.stderr == ("Error: Request for 'http://127.0.0.1:9/2/jobs?bulk=1' failed: "
                           "connection refused\n")
