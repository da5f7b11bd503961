"""hrapid end to end: the daemon serves a cluster that hbal reads, balances and re-reads.

The daemon runs as a subprocess on a free loopback port, as an operator
starts it.  The strong checks: ``hbal -m URL`` prints exactly what
``hbal -t FILE`` prints for the file the daemon was started from (ours and,
when installed, Ganeti's hbal); after ``hbal -m URL -X`` the cluster the
daemon serves scores what the plan predicted and hbal finds nothing to do,
also after a restart; a ``kill -9`` in the middle of a job loses and repeats
nothing.
"""

from __future__ import annotations

import base64
import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import (
    GANETI_FIXTURES,
    REPO,
    SYSTEM_PYTHON,
    Daemon,
    daemon,
    hrapid,
    hrapid_env,
    make_self_signed,
    requires_ganeti,
    requires_ganeti_rapi,
    requires_openssl,
    requires_shared,
    run_tool,
    users_file,
)

from executor.daemon.queue import RESTART_REASON
from executor.rapi_client import RapiClient, RapiError

FIXTURE = REPO / "fixtures" / "data" / "small.data"
GANETI_HBAL = Path("/usr/lib/ganeti/3.0/usr/bin/hbal")
SCORE = re.compile(r"Cluster score improved from ([0-9.]+) to ([0-9.]+)")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One daemon for the tests that change nothing."""
    with daemon(tmp_path_factory.mktemp("served"), "--init-from", str(FIXTURE)) as d:
        yield d


def hbal(*args: str) -> tuple[int, str, str]:
    return run_tool(["hbal", *args], ours=True)


# --- reading ---------------------------------------------------------------------------


def test_hbal_m_prints_what_hbal_t_prints(tmp_path: Path) -> None:
    with daemon(tmp_path, "--init-from", str(FIXTURE)) as d:
        served = hbal("-m", d.url, "-C")
    assert served == hbal("-t", str(FIXTURE), "-C")
    assert served[0] == 0 and "Solution length=" in served[1]


@requires_ganeti
def test_ganeti_hbal_reads_the_daemon(tmp_path: Path) -> None:
    with daemon(tmp_path, "--init-from", str(FIXTURE)) as d:
        theirs = subprocess.run([str(GANETI_HBAL), "-m", d.url, "-C"], capture_output=True,
                                text=True, timeout=300, env=hrapid_env(), check=False)
    assert (theirs.returncode, theirs.stdout, theirs.stderr) == hbal("-t", str(FIXTURE), "-C")


# Ganeti fixtures the daemon cannot serve as hbal -t reads them: no nodes (RAPI must name
# a master), node CPU speeds (RAPI readers do not read them), an invalid file.
NOT_SERVABLE = ("empty-cluster.data", "hbal-cpu-speed.data", "invalid-node.data")
QUICK = ("hbal-evac.data", "hbal-desiredlocation-2.data")  # offline node; no master marked
GANETI_DATA = sorted(p.name for p in GANETI_FIXTURES.glob("*.data")
                     if p.name not in NOT_SERVABLE)


@requires_shared
@requires_ganeti
@pytest.mark.parametrize("name", [
    pytest.param(n, marks=() if n in QUICK else pytest.mark.heavy) for n in GANETI_DATA])
def test_ganeti_fixtures_read_alike(tmp_path: Path, name: str) -> None:
    """Ganeti's hbal prints the same for the file and for the daemon serving it."""
    fixture = GANETI_FIXTURES / name
    with daemon(tmp_path, "--init-from", str(fixture)) as d:
        served = run_tool(["hbal", "-m", d.url, "-C"], ours=False)
    assert served == run_tool(["hbal", "-t", str(fixture), "-C"], ours=False)


@requires_openssl
def test_https_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = make_self_signed(tmp_path)
    with daemon(tmp_path / "state", "--init-from", str(FIXTURE), "--tls-cert", str(cert),
                "--tls-key", str(key)) as d:
        assert d.url.startswith("https://")
        served = hbal("-m", d.url)
        ganeti = (subprocess.run([str(GANETI_HBAL), "-m", d.url], capture_output=True,
                                 text=True, timeout=300, env=hrapid_env(), check=False)
                  if GANETI_HBAL.exists() else None)
    assert served == hbal("-t", str(FIXTURE))
    if ganeti is not None:
        assert ganeti.stdout == served[1]


def test_read_resources_in_ganeti_shape(served: Daemon) -> None:
    with RapiClient(served.url) as rapi:
        assert rapi.version() == 2
        assert rapi.features() == ["instance-create-reqv1", "node-evac-res1",
                                   "node-migrate-reqv1"]
        nodes = rapi.nodes()
        assert nodes[0] == {"id": "node-001.example.com",
                            "uri": "/2/nodes/node-001.example.com"}
        assert [g["name"] for g in rapi.groups()] == ["group-01"]
        bulk = rapi.nodes(bulk=True)
        assert len(bulk) == len(nodes) == 8
        master = rapi.node("node-001.example.com")
        assert master == bulk[0] and master["role"] == "M"
        assert (master["mtotal"], master["mnode"], master["mfree"]) == (17408, 1024, 512)
        inst = rapi.instances(bulk=True)[0]
        assert rapi.instance(inst["name"]) == inst
        assert rapi.get(f"/2/instances/{inst['name']}", fields="name,pnode") == {
            "name": inst["name"], "pnode": inst["pnode"]}
        assert rapi.info()["master"] == "node-001.example.com"
        assert rapi.jobs() == []


# --- executing -------------------------------------------------------------------------


def execute(url: str) -> tuple[int, str, str]:
    """``hbal -m URL -X``; check every job ran and the cluster now scores as predicted.

    Returns what ``hbal -m URL`` prints afterwards (nothing left to do);
    Ganeti's hbal, when installed, must print the same.
    """
    rc, out, err = hbal("-m", url, "-X")
    assert rc == 0, err
    predicted = SCORE.search(out)
    assert predicted, out
    after = hbal("-m", url)
    jobs = RapiClient(url).jobs(bulk=True)
    assert jobs and all(job["status"] == "success" for job in jobs)
    assert len(jobs) == out.count("Submitted job") + sum(
        len(line.split(",")) for line in re.findall(r"Got job IDs (.*)", out))
    assert f"Initial score: {predicted.group(2)}\n" in after[1]
    assert "Solution length=0" in after[1] or "Nothing to do, exiting" in after[1]
    if GANETI_HBAL.exists():
        ganeti = subprocess.run([str(GANETI_HBAL), "-m", url], capture_output=True,
                                text=True, timeout=300, env=hrapid_env(), check=False)
        assert ganeti.stdout == after[1]
    return after


def test_execute_balances_and_survives_a_restart(tmp_path: Path) -> None:
    with daemon(tmp_path, "--init-from", str(FIXTURE)) as d:
        after = execute(d.url)
        jobs = RapiClient(d.url).jobs()
    # A restart without --init-from serves the moved cluster from the state directory.
    with daemon(tmp_path) as d:
        assert hbal("-m", d.url) == after
        assert len(RapiClient(d.url).jobs()) == len(jobs)


@requires_shared
@pytest.mark.heavy
@pytest.mark.parametrize("name", [
    "hbal-desiredlocation-1.data", "hbal-desiredlocation-2.data",
    "hbal-desiredlocation-3.data", "hbal-desiredlocation-4.data", "hbal-dyn.data",
    "hbal-evac.data", "hbal-forth.data", "hbal-location-1.data", "hbal-location-2.data",
    "hbal-location-exclusion.data", "hbal-migration-1.data", "hbal-migration-2.data",
    "hbal-migration-3.data", "partly-used.data"])
def test_ganeti_fixtures_execute_to_the_predicted_score(tmp_path: Path, name: str) -> None:
    with daemon(tmp_path, "--init-from", str(GANETI_FIXTURES / name)) as d:
        execute(d.url)


def _submit(rapi: RapiClient, instance: str) -> int:
    return rapi.submit({"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": instance})


def _drbd_instances(rapi: RapiClient) -> list[dict]:
    return [i for i in rapi.instances(bulk=True) if i["disk_template"] == "drbd"]


def _movable(rapi: RapiClient) -> list[dict]:
    """DRBD instances whose secondaries have room for them, on pairwise disjoint nodes."""
    free = {n["name"]: n["mfree"] for n in rapi.nodes(bulk=True)}
    chosen: list[dict] = []
    used: set[str] = set()
    for inst in _drbd_instances(rapi):
        nodes = {inst["pnode"], *inst["snodes"]}
        if free[inst["snodes"][0]] >= inst["beparams"]["maxmem"] and not nodes & used:
            chosen.append(inst)
            used |= nodes
    return chosen


def test_migrate_moves_memory_and_logs(tmp_path: Path) -> None:
    with daemon(tmp_path, "--init-from", str(FIXTURE)) as d, RapiClient(d.url) as rapi:
        inst = next(i for i in _movable(rapi) if i["status"] == "running")
        old, new = inst["pnode"], inst["snodes"][0]
        before = {n["name"]: n for n in rapi.nodes(bulk=True)}
        lines: list[list] = []
        job = rapi.wait_job(_submit(rapi, inst["name"]), on_log=lines.append)
        after = {n["name"]: n for n in rapi.nodes(bulk=True)}
        moved = rapi.instance(inst["name"])
    assert job["status"] == "success" and job["opstatus"] == ["success"]
    assert job["summary"] == [f"INSTANCE_MIGRATE({inst['name']})"]
    assert [entry[0] for entry in lines] == [1, 2, 3]
    assert (moved["pnode"], moved["snodes"]) == (new, [old])
    mem = inst["beparams"]["maxmem"]
    assert after[old]["mfree"] == before[old]["mfree"] + mem
    assert after[new]["mfree"] == before[new]["mfree"] - mem
    assert after[new]["dfree"] == before[new]["dfree"]


def test_failed_opcode_is_an_error_job(tmp_path: Path) -> None:
    with daemon(tmp_path, "--init-from", str(FIXTURE)) as d, RapiClient(d.url) as rapi:
        inst = _drbd_instances(rapi)[0]
        job_id = rapi.submit({"OP_ID": "OP_INSTANCE_REPLACE_DISKS",
                              "instance_name": inst["name"], "mode": "replace_new_secondary",
                              "remote_node": inst["pnode"]})
        job = rapi.wait_job(job_id)
        unchanged = rapi.instance(inst["name"])
    assert job["status"] == "error" and job["opstatus"] == ["error"]
    assert job["opresult"] == [["OpPrereqError", [
        "The specified node is the primary node of the instance", "wrong_input"]]]
    assert (unchanged["pnode"], unchanged["snodes"]) == (inst["pnode"], inst["snodes"])


def test_kill_9_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    """Job 1 is running and jobs 2, 3 are queued (one worker) when the daemon dies."""
    with daemon(tmp_path, "--init-from", str(FIXTURE), "--workers", "1",
                "--op-delay", "30") as d, RapiClient(d.url) as rapi:
        names = [i["name"] for i in _movable(rapi)[:3]]
        assert len(names) == 3
        placed = {name: rapi.instance(name)["pnode"] for name in names}
        ids = [_submit(rapi, name) for name in names]
        deadline = time.monotonic() + 10
        while rapi.job(ids[0])["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        d.proc.kill()
        d.proc.wait()
    with daemon(tmp_path) as d, RapiClient(d.url) as rapi:
        first = rapi.job(ids[0])
        rest = [rapi.wait_job(job_id) for job_id in ids[1:]]
        now_on = {name: rapi.instance(name)["pnode"] for name in names}
        assert [j["id"] for j in rapi.jobs()] == ids
    assert first["status"] == "error"
    assert first["opresult"] == [["OpExecError", [RESTART_REASON]]]
    assert now_on[names[0]] == placed[names[0]]  # the interrupted move did not happen
    for job, name in zip(rest, names[1:], strict=True):
        assert job["status"] == "success", job["opresult"]
        starts = [e for e in job["oplog"][0] if e[3].startswith("Starting")]
        assert len(starts) == 1  # ran once
        assert now_on[name] != placed[name]


def test_sigterm_lets_the_running_job_finish(tmp_path: Path) -> None:
    with daemon(tmp_path, "--init-from", str(FIXTURE), "--workers", "1",
                "--op-delay", "1") as d, RapiClient(d.url) as rapi:
        names = [i["name"] for i in _movable(rapi)[:2]]
        ids = [_submit(rapi, name) for name in names]
        deadline = time.monotonic() + 10
        while rapi.job(ids[0])["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(timeout=10) == 0
    with daemon(tmp_path) as d, RapiClient(d.url) as rapi:
        first = rapi.job(ids[0])
        second = rapi.wait_job(ids[1])
    assert (first["status"], second["status"]) == ("success", "success")


# --- bad input and authentication ------------------------------------------------------


def _raw(url: str, method: str, path: str, body: bytes | None = None,
         content_type: str = "application/json",
         auth: tuple[str, str] | None = None) -> requests.Response:
    headers = {"Content-Type": content_type} if body is not None else {}
    return requests.request(method, url + path, data=body, headers=headers, auth=auth,
                            timeout=30)


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("PUT", "/2/instances/inst-0001.example.com/migrate", b"{", 400,
     "Unable to parse JSON data"),
    ("PUT", "/2/instances/inst-0001.example.com/migrate", b"[1]", 400,
     "Body contents: Type is &#x27;list&#x27;, but &#x27;dict&#x27; is expected"),
    ("PUT", "/2/instances/inst-0001.example.com/migrate", b'{"cleanup": "yes"}', 400,
     "Invalid body parameters: Parameter &#x27;OP_INSTANCE_MIGRATE.cleanup&#x27; fails "
     "validation"),
    ("PUT", "/2/instances/inst-0001.example.com/failover", b'{"bogus": 1}', 400,
     "Invalid body parameters: OP_INSTANCE_FAILOVER doesn&#x27;t support the parameter "
     "&#x27;bogus&#x27;"),
    ("PUT", "/2/instances/inst-0001.example.com/failover", b'{"reason": "x"}', 400,
     "Can&#x27;t overwrite static parameters [&#x27;reason&#x27;]"),
    ("POST", "/2/instances/inst-0001.example.com/replace-disks", b"{}", 400,
     "Invalid body parameters: Parameter &#x27;OP_INSTANCE_REPLACE_DISKS.mode&#x27; is "
     "missing"),
    ("GET", "/2/nowhere", None, 404, "Not Found"),
    ("GET", "/2/jobs/12345", None, 404, "Not Found"),
    ("GET", "/2/jobs/1/wait", b'{"fields": "status"}', 404, "Not Found"),
    ("POST", "/2/instances/inst-0001.example.com/migrate", b"{}", 501,
     "Method POST is unsupported for path /2/instances/inst-0001.example.com/migrate"),
    ("GET", "/2/nodes?bulk=yes", None, 400, "Invalid value for the &#x27;bulk&#x27; parameter"),
    ("GET", "/2/nodes?bulk=1&fields=name,nope", None, 400, "Unknown field &#x27;nope&#x27;"),
])
def test_bad_requests_get_ganeti_error_bodies(served: Daemon, method: str, path: str,
                                              body: bytes | None, status: int,
                                              message: str) -> None:
    answer = _raw(served.url, method, path, body)
    assert _raw(served.url, "GET", "/version").json() == 2  # still serving
    assert answer.status_code == status
    doc = answer.json()
    assert set(doc) == {"code", "message", "explain"}
    assert (doc["code"], doc["message"]) == (status, message)


def test_body_limits_and_type(served: Daemon) -> None:
    path = "/2/instances/inst-0001.example.com/migrate"
    huge = _raw(served.url, "PUT", path, b" " * (2 << 20))
    text = _raw(served.url, "PUT", path, b"{}", content_type="text/plain")
    alive = _raw(served.url, "GET", "/version").json()
    assert (huge.status_code, text.status_code, alive) == (413, 415, 2)
    assert RapiClient(served.url).jobs() == []


def test_users_read_and_write(tmp_path: Path) -> None:
    migrate = "/2/instances/inst-0001.example.com/migrate"
    with daemon(tmp_path, "--init-from", str(FIXTURE), "--users",
                str(users_file(tmp_path))) as d:
        anonymous_get = _raw(d.url, "GET", "/2/nodes")
        wrong = _raw(d.url, "GET", "/2/nodes", auth=("reader", "bad"))
        anonymous_put = _raw(d.url, "PUT", migrate, b"{}")
        reader_put = _raw(d.url, "PUT", migrate, b"{}", auth=("reader", "plainpw"))
        reader_wait = _raw(d.url, "GET", "/2/jobs/1/wait", b'{"fields": ["status"]}',
                           auth=("reader", "plainpw"))
        ops_put = _raw(d.url, "PUT", migrate, b"{}", auth=("ops", "secret"))
        admin_wait = _raw(d.url, "GET", "/2/jobs/1/wait", b'{"fields": ["status"]}',
                          auth=("admin", "pw"))
    assert anonymous_get.status_code == 200
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == 'Basic realm="Ganeti Remote API"'
    assert anonymous_put.status_code == 401
    assert (reader_put.status_code, reader_wait.status_code) == (403, 403)
    assert ops_put.status_code == 200 and ops_put.json() == "1"
    assert admin_wait.status_code == 200 and admin_wait.json()["job_info"][0] in (
        "queued", "waiting", "running", "success")


def test_executor_with_credentials_in_the_url(tmp_path: Path) -> None:
    with daemon(tmp_path, "--init-from", str(FIXTURE), "--users",
                str(users_file(tmp_path))) as d:
        name = _movable(RapiClient(d.url))[0]["name"]
        reader = RapiClient(d.url.replace("http://", "http://reader:plainpw@"))
        with pytest.raises(RapiError) as refused:
            _submit(reader, name)
        writer = RapiClient(d.url.replace("http://", "http://ops:secret@"))
        job = writer.wait_job(_submit(writer, name))
    assert refused.value.status == 403
    assert job["status"] == "success"


@pytest.mark.parametrize(("content", "message"), [
    ("lonely\n", "users:1: expected 'user password [options]'"),
    ("a pw\nb {md5}x write\n", "users:2: unknown password scheme (use {cleartext} or {ha1})"),
    ("a pw admin\n", "users:1: unknown option 'admin' (known: read, write)"),
])
def test_bad_users_file_stops_start_up(tmp_path: Path, content: str, message: str) -> None:
    users = tmp_path / "users"
    users.write_text(content)
    proc = hrapid("--state", str(tmp_path / "s"), "--init-from", str(FIXTURE), "--users",
                  str(users))
    assert proc.returncode == 1
    assert proc.stderr == f"hrapid: {users.parent}/{message}\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--users", "/nonexistent/users"],
     "hrapid: cannot read users file /nonexistent/users: No such file or directory\n"),
    (["--bind", "0.0.0.0"], "hrapid: --users is required to listen on 0.0.0.0 (without it "
     "only loopback addresses are allowed)\n"),
    (["--tls-cert", "x.pem"], "hrapid: --tls-cert and --tls-key go together\n"),
])
def test_start_up_errors(tmp_path: Path, args: list[str], message: str) -> None:
    proc = hrapid("--state", str(tmp_path), "--init-from", str(FIXTURE), *args)
    assert (proc.returncode, proc.stderr) == (1, message)


def test_no_cluster_stored(tmp_path: Path) -> None:
    proc = hrapid("--state", str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr == (f"hrapid: no cluster stored in {tmp_path}; start once with "
                           "--init-from FILE\n")


# --- Ganeti's own RAPI client ----------------------------------------------------------


@requires_ganeti_rapi
@requires_openssl
def test_ganeti_rapi_client(tmp_path: Path) -> None:
    """Ganeti's client (HTTPS only) reads, migrates, replaces a secondary, waits for jobs."""
    script = """
import json, sys
from ganeti.rapi import client
host, port, user, password = sys.argv[1:5]
c = client.GanetiRapiClient(host, port=int(port), username=user, password=password)
out = {"version": c.GetVersion(), "features": c.GetFeatures(),
       "nodes": len(c.GetNodes()), "info": c.GetInfo()["master"]}
free = dict((n["name"], n["mfree"]) for n in c.GetNodes(bulk=True))
inst = [i for i in c.GetInstances(bulk=True) if i["disk_template"] == "drbd"
        and free[i["snodes"][0]] >= i["beparams"]["maxmem"]][0]
job = c.MigrateInstance(inst["name"])
out["migrate"] = c.WaitForJobCompletion(job, period=0.1)
spare = max((n for n in c.GetNodes(bulk=True)
             if n["name"] not in [inst["pnode"]] + inst["snodes"]),
            key=lambda n: n["dfree"])["name"]
job = c.ReplaceInstanceDisks(inst["name"], mode="replace_new_secondary", remote_node=spare)
out["replace"] = c.WaitForJobCompletion(job, period=0.1) or c.GetJobStatus(job)
out["after"] = c.GetInstance(inst["name"])["snodes"] == [spare]
print(json.dumps(out))
"""
    cert, key = make_self_signed(tmp_path)
    with daemon(tmp_path / "state", "--init-from", str(FIXTURE), "--users",
                str(users_file(tmp_path)), "--tls-cert", str(cert), "--tls-key",
                str(key)) as d:
        host, port = d.url.removeprefix("https://").split(":")
        proc = subprocess.run([SYSTEM_PYTHON, "-c", script, host, port, "ops", "secret"],
                              capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"version": 2, "features": [
        "instance-create-reqv1", "node-evac-res1", "node-migrate-reqv1"], "nodes": 8,
                                       "info": "node-001.example.com", "migrate": True,
                                       "replace": True, "after": True}


def test_basic_header_without_password_separator(tmp_path: Path) -> None:
    header = "Basic " + base64.b64encode(b"nocolon").decode()
    with daemon(tmp_path, "--init-from", str(FIXTURE), "--users",
                str(users_file(tmp_path))) as d:
        answer = requests.get(d.url + "/2/nodes", headers={"Authorization": header},
                              timeout=30)
    assert answer.status_code == 401
