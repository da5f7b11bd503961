"""The RAPI client (executor.rapi_client) against a fake Ganeti RAPI (tests/fake_rapi.py)."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from conftest import make_self_signed, requires_openssl
from fake_rapi import FakeRapi

from executor.rapi_client import RapiClient, RapiError, job_status
from htools.rapi_http import Response

MIGRATE = {"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "inst1",
           "allow_runtime_changes": False, "ignore_ipolicy": False, "cleanup": False,
           "allow_failover": True, "ignore_hvversions": True}
REPLACE = {"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": "inst2",
           "early_release": False, "ignore_ipolicy": False, "mode": "replace_new_secondary",
           "disks": [], "remote_node": "node3"}
FAILOVER = {"OP_ID": "OP_INSTANCE_FAILOVER", "instance_name": "inst3", "shutdown_timeout": 120,
            "ignore_consistency": False, "ignore_ipolicy": False, "cleanup": False}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- reads -------------------------------------------------------------------------------


def test_reads_send_documented_paths() -> None:
    resources = {"/version": 2, "/2/info": {"name": "cluster"}, "/2/features": ["x"],
                 "/2/nodes?bulk=1": [{"name": "n1"}], "/2/nodes": [{"id": "n1"}],
                 "/2/instances?bulk=1": [], "/2/groups?bulk=1": [{"name": "g"}]}
    with FakeRapi(resources=resources) as server, RapiClient(server.url) as client:
        assert client.version() == 2
        assert client.info() == {"name": "cluster"}
        assert client.features() == ["x"]
        assert client.nodes(bulk=True) == [{"name": "n1"}]
        assert client.nodes() == [{"id": "n1"}]
        assert client.instances(bulk=True) == []
        assert client.groups(bulk=True) == [{"name": "g"}]
    assert [(r.method, r.path, r.query) for r in server.requests] == [
        ("GET", "/version", {}), ("GET", "/2/info", {}), ("GET", "/2/features", {}),
        ("GET", "/2/nodes", {"bulk": ["1"]}), ("GET", "/2/nodes", {}),
        ("GET", "/2/instances", {"bulk": ["1"]}), ("GET", "/2/groups", {"bulk": ["1"]})]


def test_single_resources() -> None:
    resources = {"/2/nodes/n1": {"name": "n1"}, "/2/instances/web 1": {"name": "web 1"},
                 "/2/groups/default": {"name": "default"}, "/2/nodes/n2": ["n2"]}
    with FakeRapi(resources=resources) as server, RapiClient(server.url) as client:
        assert client.node("n1") == {"name": "n1"}
        assert client.instance("web 1") == {"name": "web 1"}
        assert client.group("default") == {"name": "default"}
        with pytest.raises(RapiError, match="^/2/nodes/n2 did not answer with an object$"):
            client.node("n2")
        with pytest.raises(RapiError, match="HTTP 404 Not Found"):
            client.instance("nope")
    assert server.requests[1].path == "/2/instances/web 1"


def test_url_without_scheme_is_plain_http() -> None:
    with FakeRapi(resources={"/version": 2}) as server:
        assert RapiClient(f"127.0.0.1:{server.port}").version() == 2
        assert RapiClient(f"127.0.0.1:{server.port}/").version() == 2
    assert [r.path for r in server.requests] == ["/version", "/version"]


# --- submitting opcodes --------------------------------------------------------------------


@pytest.mark.parametrize(("op", "method", "resource"), [
    (MIGRATE, "PUT", "migrate"), (FAILOVER, "PUT", "failover"),
    (REPLACE, "POST", "replace-disks")])
def test_submit_uses_the_instance_resource(op: dict, method: str, resource: str) -> None:
    with FakeRapi() as server, RapiClient(server.url) as client:
        job_id = client.submit(op, reason="rebalance", comment="via test", priority=-10)
    assert job_id == 100 and isinstance(job_id, int)
    (req,) = server.requests
    assert (req.method, req.path) == (method, f"/2/instances/{op['instance_name']}/{resource}")
    assert req.query == {"reason": ["rebalance"]}
    params = {k: v for k, v in op.items() if k not in ("OP_ID", "instance_name")}
    assert req.body == {**params, "comment": "via test", "priority": -10}
    # What the fake queued is the opcode itself plus RAPI's reason trail.
    queued = server.jobs[100].op
    assert {k: v for k, v in queued.items() if k != "reason"} == \
        {**op, "comment": "via test", "priority": -10}
    assert queued["reason"][0][:2] == ["user", "rebalance"]


def test_submit_without_annotation_sends_the_bare_opcode() -> None:
    with FakeRapi() as server, RapiClient(server.url) as client:
        client.submit(REPLACE, dry_run=True)
    (req,) = server.requests
    assert req.query == {}
    assert req.body == {**{k: v for k, v in REPLACE.items()
                           if k not in ("OP_ID", "instance_name")}, "dry_run": True}


@pytest.mark.parametrize(("op", "message"), [
    ({"OP_ID": "OP_NODE_EVACUATE", "node_name": "n"}, "opcode OP_NODE_EVACUATE cannot be"),
    ({"OP_ID": "OP_INSTANCE_MIGRATE"}, "opcode OP_INSTANCE_MIGRATE names no instance")])
def test_unsubmittable_opcodes_send_nothing(op: dict, message: str) -> None:
    with FakeRapi() as server, RapiClient(server.url) as client, \
            pytest.raises(RapiError, match=message):
        client.submit(op)
    assert server.requests == []


@pytest.mark.parametrize("answer", [b'"abc"', b"true", b"[1]", b"{}", b"null"])
def test_answer_that_is_not_a_job_id(answer: bytes) -> None:
    with FakeRapi(job_answer=answer) as server, RapiClient(server.url) as client, \
            pytest.raises(RapiError) as err:
        client.submit(MIGRATE)
    assert str(err.value).startswith(
        "submitting OP_INSTANCE_MIGRATE of inst1: the answer is not a job id: ")


# --- jobs ------------------------------------------------------------------------------------


def test_job_document_and_listing() -> None:
    with FakeRapi(run_time=0.0) as server, RapiClient(server.url) as client:
        job_id = client.submit(MIGRATE)
        job = client.job(job_id)
        assert job_status(job) == "success"
        assert job["ops"][0]["OP_ID"] == "OP_INSTANCE_MIGRATE"
        assert client.jobs() == [{"id": job_id, "uri": f"/2/jobs/{job_id}"}]
        (bulk,) = client.jobs(bulk=True)
        assert bulk["id"] == job_id and "opresult" not in bulk


def test_wait_job_follows_changes_and_logs() -> None:
    logs: list[list] = []
    with FakeRapi(run_time=0.6, wait_timeout=0.1) as server, RapiClient(server.url) as client:
        job_id = client.submit(REPLACE)
        final = client.wait_job(job_id, logs.append)
    assert final["status"] == "success" and final["opresult"] == [True]
    waits = [r for r in server.requests if r.path.endswith("/wait")]
    assert len(waits) >= 3  # status changes and null answers in between
    assert all(r.method == "GET" and r.body["fields"] == ["status"] for r in waits)
    assert waits[0].body["previous_job_info"] is None
    assert any(r.body["previous_log_serial"] == 1 for r in waits)
    assert [entry[3] for entry in logs] == ["started OP_INSTANCE_REPLACE_DISKS"]


def test_wait_job_reports_failure_document() -> None:
    with FakeRapi(fail=lambda op: "disk failure") as server, RapiClient(server.url) as client:
        final = client.wait_job(client.submit(MIGRATE))
    assert final["status"] == "error"
    assert final["opresult"] == [["OpExecError", ["disk failure", "ecode_fault"]]]


def test_read_only_user_polls_instead_of_waiting() -> None:
    users = {"ro": ("pw", False)}
    with FakeRapi(users=users, run_time=0.2) as server:
        job = server.add_job(dict(MIGRATE))
        with RapiClient(f"http://ro:pw@127.0.0.1:{server.port}") as client:
            assert client.wait_job(job.id)["status"] == "success"
            with pytest.raises(RapiError) as err:
                client.submit(MIGRATE)
    assert err.value.status == 403
    assert "HTTP 403 Forbidden: Not authorized" in str(err.value)
    assert [r.user for r in server.requests] == ["ro"] * len(server.requests)


@pytest.mark.parametrize("answer", [b'{"x": 1}', b"[]", b'{"job_info": 1, "log_entries": []}'])
def test_malformed_wait_answer(answer: bytes) -> None:
    with FakeRapi(resources={"/2/jobs/7/wait": answer}) as server, \
            RapiClient(server.url) as client, pytest.raises(RapiError) as err:
        client.wait_job(7)
    assert str(err.value) == "/2/jobs/7/wait answered neither null nor {job_info, log_entries}"


def test_lost_job() -> None:
    with FakeRapi() as server, RapiClient(server.url) as client, \
            pytest.raises(RapiError, match="^job 999 not found"):
        client.wait_job(999)


def test_cancel_job() -> None:
    with FakeRapi(run_time=5.0) as server, RapiClient(server.url) as client:
        queued = client.submit(MIGRATE)
        assert client.cancel_job(queued) == [True, f"Job {queued} canceled"]
        assert client.wait_job(queued)["status"] == "canceled"
    assert server.requests[1].method == "DELETE"
    assert server.requests[1].path == f"/2/jobs/{queued}"


# --- errors ------------------------------------------------------------------------------------


def test_connection_refused() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with RapiClient(url) as client, pytest.raises(RapiError) as err:
        client.info()
    assert str(err.value) == f"Request for '{url}/2/info' failed: connection refused"


def test_wrong_password_is_masked() -> None:
    with FakeRapi(users={"admin": ("s3cret", True)}) as server:
        url = f"http://admin:wrong@127.0.0.1:{server.port}"
        with RapiClient(url) as client, pytest.raises(RapiError) as err:
            client.info()
    message = str(err.value)
    assert message == (f"Request for 'http://admin:***@127.0.0.1:{server.port}/2/info' "
                       "failed: HTTP 401 Unauthorized")
    assert err.value.status == 401


def test_missing_resource_names_status_and_explanation() -> None:
    with FakeRapi() as server, RapiClient(server.url) as client, \
            pytest.raises(RapiError) as err:
        client.job(12345)
    assert str(err.value).endswith("/2/jobs/12345' failed: HTTP 404 Not Found: "
                                   "Job 12345 not found")


@pytest.mark.parametrize(("body", "call", "message"), [
    (b"<html>", "info", "the answer is not JSON"),
    (b"{}", "nodes", "/2/nodes did not answer with a list"),
    (b"[]", "job", "/2/jobs/7 did not answer with an object"),
    (b'{"status": "odd"}', "job", "job document has no valid status: 'odd'"),
])
def test_malformed_answers(body: bytes, call: str, message: str) -> None:
    path = {"info": "/2/info", "nodes": "/2/nodes", "job": "/2/jobs/7"}[call]
    with FakeRapi(resources={path: body}) as server, RapiClient(server.url) as client:
        with pytest.raises(RapiError) as err:
            client.job(7) if call == "job" else getattr(client, call)()
    assert message in str(err.value)
    assert "\n" not in str(err.value)


# --- TLS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    cert, key = make_self_signed(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return cert, context


SYSTEM_PYTHON = Path("/usr/bin/python3")
GANETI_CLIENT_SCRIPT = """
import json, sys
from ganeti.rapi import client
c = client.GanetiRapiClient("127.0.0.1", port=int(sys.argv[1]), username="admin",
                            password="pw")
jid = c.MigrateInstance("inst1", cleanup=False, reason="check")
rep = c.ReplaceInstanceDisks("inst2", mode="replace_new_secondary", remote_node="node3")
change = c.WaitForJobChange(jid, ["status"], None, None)
print(json.dumps({"jobs": [jid, rep], "change": change, "ok": c.WaitForJobCompletion(rep, 0.1),
                  "status": c.GetJobStatus(jid)["status"], "ids": c.GetJobs()}))
"""


def _has_ganeti_rapi() -> bool:
    return SYSTEM_PYTHON.exists() and subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import ganeti.rapi.client"], capture_output=True,
        check=False).returncode == 0


@requires_openssl
@pytest.mark.skipif(not _has_ganeti_rapi(),
                    reason="Ganeti's RAPI client (python3-ganeti-rapi) is not installed")
def test_ganetis_own_client_agrees_with_the_fake(
        certificate: tuple[Path, ssl.SSLContext]) -> None:
    """The fake speaks Ganeti's wire format: Ganeti's RAPI client (Debian's) drives it."""
    system = SYSTEM_PYTHON
    _, context = certificate
    with FakeRapi(tls=context, users={"admin": ("pw", True)}, run_time=0.2) as server:
        proc = subprocess.run([str(system), "-c", GANETI_CLIENT_SCRIPT, str(server.port)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        with RapiClient(f"https://admin:pw@127.0.0.1:{server.port}") as ours:
            ours.submit(MIGRATE, reason="check")
    answer = json.loads(proc.stdout)
    assert answer["jobs"] == ["100", "101"]
    assert answer["change"]["job_info"][0] in ("queued", "running", "success")
    assert answer["ok"] is True and answer["status"] in ("running", "success")
    assert answer["ids"] == [100, 101]
    theirs, mine = server.requests[0], server.requests[-1]
    assert (theirs.method, theirs.path, theirs.query) == (mine.method, mine.path, mine.query)
    assert server.jobs[100].op["reason"][0][:2] == server.jobs[102].op["reason"][0][:2]
    # Ganeti's client still sends replace-disks as (legacy) query arguments.
    assert server.requests[1].query["remote_node"] == ["node3"]


@requires_openssl
def test_tls_without_and_with_verification(certificate: tuple[Path, ssl.SSLContext]) -> None:
    cert, context = certificate
    with FakeRapi(resources={"/version": 2}, tls=context) as server:
        assert server.url.startswith("https://")
        assert RapiClient(server.url).version() == 2  # Ganeti's default: not checked
        assert RapiClient(server.url, verify=str(cert)).version() == 2
        with pytest.raises(RapiError) as err:
            RapiClient(server.url, verify=True).version()
    assert "failed: TLS error" in str(err.value)


@pytest.mark.parametrize(("body", "shown"), [
    # Ganeti's shape: the specific text in "message" (HTML-escaped), the phrase in "explain"
    ({"code": 400, "message": "Can&#x27;t overwrite static parameters",
      "explain": "Bad request syntax or unsupported method"},
     "HTTP 400 Bad Request: Can't overwrite static parameters"),
    ({"code": 400, "message": "Bad Request", "explain": "Bad request syntax or unsupported method"},
     "HTTP 400 Bad Request: Bad request syntax or unsupported method"),
    ({"code": 400, "message": "Bad Request", "explain": "Unable to parse JSON data"},
     "HTTP 400 Bad Request: Unable to parse JSON data"),
])
def test_error_text_prefers_the_specific_message(body: dict, shown: str) -> None:
    assert Response(400, "Bad Request", json.dumps(body)).error_text() == shown
