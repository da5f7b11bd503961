"""hbal -X: the solution hbal prints is what it submits over RAPI, with Ganeti's semantics.

hbal runs as a subprocess against the fake RAPI (tests/fake_rapi.py) serving the
shared RAPI fixture; what the fake received is compared with hbal's own -C
listing.  Without -m, -X fails exactly as Ganeti's hbal does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import (
    GANETI_FIXTURES,
    REPO,
    assert_same_output,
    our_command,
    requires_ganeti,
    requires_shared,
    run_tool,
)
from fake_rapi import FakeJob, FakeRapi

from htools.cli.options import project_version

FIXTURE = GANETI_FIXTURES / "rapi"
DOCUMENTS = {"/2/groups?bulk=1": "groups.json", "/2/nodes?bulk=1": "nodes.json",
             "/2/instances?bulk=1": "instances.json", "/2/info": "info.json"}

pytestmark = requires_shared


def cluster() -> dict[str, bytes]:
    return {path: (FIXTURE / name).read_bytes() for path, name in DOCUMENTS.items()}


def start_hbal(*args: str) -> subprocess.Popen:
    env = {**os.environ, "LC_ALL": "C.UTF-8",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.Popen(our_command("hbal") + list(args), env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def printed_commands(url: str, *extra: str) -> tuple[list[tuple[str, str]], int]:
    """(gnt-instance verb, instance) of each command hbal -C lists, and the jobset count."""
    rc, out, err = run_tool(["hbal", "-m", url, "-C", *extra], ours=True)
    assert rc == 0, err
    listing = out.partition("Commands to run to reach the above solution:\n")[2] or \
        out.partition("First set of jobs:\n")[2]
    cmds = [line.split() for line in listing.splitlines() if "gnt-instance" in line]
    return ([("migrate" if c[1] == "failover" else c[1], c[-1]) for c in cmds],
            listing.count("echo jobset "))


# -C says failover for stopped instances; the opcode is a migrate that may fail over
# (allow_failover), as in Ganeti.  Forthcoming instances get a real failover opcode.
VERB = {"OP_INSTANCE_MIGRATE": "migrate", "OP_INSTANCE_FAILOVER": "migrate",
        "OP_INSTANCE_REPLACE_DISKS": "replace-disks"}


def submitted(server: FakeRapi) -> list[tuple[str, str]]:
    return [(VERB[op["OP_ID"]], op["instance_name"]) for op in server.submitted_ops()]


def test_execute_submits_the_printed_solution() -> None:
    with FakeRapi(resources=cluster()) as server:
        expected, jobsets = printed_commands(server.url)
        rc, out, err = run_tool(["hbal", "-m", server.url, "-X"], ours=True)
        rc2, plain, _ = run_tool(["hbal", "-m", server.url], ours=True)
    assert rc == 0, err
    assert err == ""
    assert len(expected) > 8 and submitted(server) == expected
    ops = server.submitted_ops()
    version = project_version()
    assert {op["comment"] for op in ops} == {f"rebalancing via hbal {version}"}
    assert {op["reason"][0][1] for op in ops} == {f"hbal {version} called"}
    assert all("priority" not in op for op in ops)
    assert jobsets == 8 and out.count("Got job IDs ") == jobsets
    assert f"Jobset {jobsets}/{jobsets}: instance14\n" in out
    assert out.startswith(plain)


def test_first_job_group_reason_and_priority() -> None:
    with FakeRapi(resources=cluster()) as server:
        expected, _ = printed_commands(server.url, "--first-job-group")
        rc, _, err = run_tool(["hbal", "-m", server.url, "-X", "--first-job-group",
                               "--reason=maintenance window", "--priority=low"], ours=True)
    assert rc == 0, err
    assert submitted(server) == expected and len(expected) == 3  # one f r:N f job
    ops = server.submitted_ops()
    assert {op["reason"][0][1] for op in ops} == {"maintenance window"}
    assert {op["priority"] for op in ops} == {10}


def test_failed_job_aborts_with_ganetis_error() -> None:
    def fail(op: dict) -> str | None:
        return "disk failure" if op["instance_name"] == "instance19" else None

    with FakeRapi(resources=cluster(), fail=fail) as server:
        rc, out, err = run_tool(["hbal", "-m", server.url, "-X"], ours=True)
    assert rc == 1
    names = [name for _, name in submitted(server)]
    assert names[-1] == "instance19" and names.count("instance19") == 1
    assert err.startswith("Error: hbal: Not all jobs completed successfully: instance19 (job ")
    assert err.endswith("): error: OpExecError: disk failure\nAborting.\n")
    assert "jobset(s) not submitted:" in out and "Traceback" not in err


def test_refused_write_is_reported_without_traceback() -> None:
    users = {"viewer": ("pw", False)}
    with FakeRapi(resources=cluster(), users=users) as server:
        rc, out, err = run_tool(["hbal", "-m", f"http://viewer:pw@127.0.0.1:{server.port}",
                                 "-X"], ours=True)
    assert rc == 1 and server.jobs == {}
    assert err == (f"Error: hbal: Job submission error: Request for 'http://viewer:***@"
                   f"127.0.0.1:{server.port}/2/instances/instance4/migrate?reason=hbal+"
                   f"{project_version()}+called' failed: HTTP 403 Forbidden: Not authorized\n")
    assert "instance4: error: submission failed: Request for" in out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals(sig: int) -> None:
    proc: list[subprocess.Popen] = []

    def on_submit(job: FakeJob) -> None:
        if job.id == 100:
            proc[0].send_signal(sig)

    with FakeRapi(resources=cluster(), on_submit=on_submit, run_time=0.3) as server:
        proc.append(start_hbal("-m", server.url, "-X"))
        out, err = proc[0].communicate(timeout=120)
        time.sleep(0.1)
    assert "Traceback" not in err
    if sig == signal.SIGINT:
        # The running job (f r:N f, three steps) finished; nothing else was submitted.
        assert proc[0].returncode == 0
        assert "Cancel request registered, will exit at the end of the current job set..." \
            in out
        assert "Exiting early due to user request, \n1 jobset(s) submitted:" in out
        assert len(server.jobs) == 3
    else:
        assert proc[0].returncode == 2
        assert "Double cancel request, exiting now..." in out
        assert len(server.jobs) == 1


@pytest.mark.parametrize("backend", ["-t", "file"])
def test_execute_needs_a_rapi_endpoint(backend: str, tmp_path: Path) -> None:
    data = GANETI_FIXTURES / "hbal-migration-1.data"
    args = ["-t", str(data)] if backend == "-t" else ["-m", f"file://{FIXTURE}"]
    rc, out, err = run_tool(["hbal", *args, "-X"], ours=True)
    assert rc == 1
    assert err == "Error: hbal: Execution of commands possible only on LUXI\n"


@requires_ganeti
def test_execute_without_master_matches_ganeti() -> None:
    args = ["hbal", "-t", str(GANETI_FIXTURES / "hbal-migration-1.data"), "-X"]
    assert_same_output(run_tool(args, ours=False), run_tool(args, ours=True))
