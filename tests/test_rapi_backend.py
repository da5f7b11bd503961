"""Tests for the RAPI backend (htools.backends.rapi).

The shared RAPI fixture is loaded from disk (``file://``) and through a small
local HTTP(S) server; error handling is checked against a server that lies.
Tests marked ``ganeti`` mutate the fixture in many ways and compare our
result, or our error message, with what Ganeti's ``hscan`` makes of it.
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
import socket
import ssl
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import make_self_signed, requires_openssl
from fake_rapi import LocalServer

from htools import rapi_http
from htools.backends.rapi import base_url, load_rapi, parse_rapi
from htools.errors import DataError
from solver.records import DEFAULT_GROUP_UUID, ISpec

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURE = SHARED / "fixtures" / "ganeti" / "rapi"
FILES = ("groups.json", "nodes.json", "instances.json", "info.json")
PATHS = ("/2/groups?bulk=1", "/2/nodes?bulk=1", "/2/instances?bulk=1", "/2/info")
HSCAN = Path("/usr/lib/ganeti/3.0/usr/bin/hscan")

needs_fixture = pytest.mark.skipif(not all((FIXTURE / f).exists() for f in FILES),
                                   reason="../shared RAPI fixture is absent")
needs_hscan = pytest.mark.skipif(not HSCAN.exists(), reason="Ganeti's hscan is not installed")


def fixture_bodies() -> list[str]:
    return [(FIXTURE / name).read_text() for name in FILES]


def fixture_json() -> dict[str, Any]:
    return {name: json.loads((FIXTURE / name).read_text()) for name in FILES}


# --- a local RAPI look-alike --------------------------------------------------


class FakeRapi(LocalServer):
    """Serves fixed responses per path and records the requests it got."""

    def __init__(self, responses: dict[str, tuple[int, bytes]], *,
                 auth: tuple[str, str] | None = None, delay: float = 0.0,
                 stall: float = 0.0, tls: ssl.SSLContext | None = None) -> None:
        self.responses = responses
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                if delay:
                    time.sleep(delay)
                if auth is not None:
                    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
                    if self.headers.get("Authorization") != f"Basic {token}":
                        self.send_response(401)
                        self.end_headers()
                        return
                status, body = server.responses.get(self.path, (404, b"<html>no</html>"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if stall:
                    # Half the body, then silence: a server that hangs mid-reply.
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    time.sleep(stall)
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler, tls=tls)


def ok_responses(bodies: list[str]) -> dict[str, tuple[int, bytes]]:
    return {path: (200, body.encode()) for path, body in zip(PATHS, bodies, strict=True)}


@pytest.fixture
def served() -> Iterator[FakeRapi]:
    with FakeRapi(ok_responses(fixture_bodies())) as server:
        yield server


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- cluster string -----------------------------------------------------------


def test_base_url_follows_ganeti() -> None:
    assert base_url("cluster.example.com") == "https://cluster.example.com:5080"
    assert base_url("cluster:1234") == "cluster:1234"
    assert base_url("http://h:1") == "http://h:1"
    assert base_url("https://u:p@h:5080") == "https://u:p@h:5080"


# --- the fixture ----------------------------------------------------------------


@needs_fixture
def test_file_fixture_fields() -> None:
    data = load_rapi(f"file://{FIXTURE}")
    assert [g.name for g in data.groups] == ["default"]
    group = data.groups[0]
    assert (group.uuid, group.alloc_policy, group.networks) == ("uuid-group-1", "preferred", [])
    assert group.ipolicy.minmax[0][1] == ISpec(32768, 8, 1048576, 16, 8, 8)
    assert group.ipolicy.disk_templates == ["sharedfile", "diskless", "plain", "blockdev",
                                            "drbd", "file", "rbd"]
    assert [n.name for n in data.nodes] == ["node1", "node2", "node3", "node4"]
    assert [n.master for n in data.nodes] == [False, False, False, True]
    assert {n.hypervisor for n in data.nodes} == {"xen-pvm"}
    node = data.nodes[0]
    assert (node.t_mem, node.n_mem, node.f_mem, node.t_dsk, node.f_dsk) == (
        32763.0, 1017, 31389, 1377280.0, 1377280)
    assert (node.t_cpu, node.n_cpu, node.t_spindles, node.f_spindles) == (4.0, 1, 1, 0)
    assert not node.offline and not node.excl_storage
    assert len(data.instances) == 11
    inst = data.instances[0]
    assert (inst.name, inst.mem, inst.dsk, inst.vcpus, inst.status) == (
        "instance2", 128, 256, 1, "running")
    assert (inst.pnode, inst.snode, inst.template, inst.disks) == (2, 3, "drbd", [(128, None)])
    assert inst.auto_balance and not inst.forthcoming
    assert data.cluster_tags == ["htools:iextags:test", "htools:iextags:service-group"]
    # The cluster policy is info's, which differs from the group's in min disk size.
    assert data.ipolicy.minmax[0][0].disk_size == 128
    assert data.ipolicy.vcpu_ratio == 4.0


@needs_fixture
def test_parse_rapi_matches_file_load() -> None:
    assert parse_rapi(fixture_bodies()) == load_rapi(f"file://{FIXTURE}")


@needs_fixture
def test_http_gives_same_result_in_ganeti_request_order(served: FakeRapi) -> None:
    data = load_rapi(f"http://127.0.0.1:{served.port}")
    assert data == load_rapi(f"file://{FIXTURE}")
    assert served.requests == list(PATHS)


@needs_fixture
def test_url_without_scheme_uses_http(served: FakeRapi) -> None:
    assert load_rapi(f"127.0.0.1:{served.port}").nodes[3].master


@needs_fixture
def test_credentials_in_url() -> None:
    with FakeRapi(ok_responses(fixture_bodies()), auth=("admin", "s3cret")) as server:
        data = load_rapi(f"http://admin:s3cret@127.0.0.1:{server.port}")
        assert len(data.nodes) == 4
        with pytest.raises(DataError) as err:
            load_rapi(f"http://admin:wrong@127.0.0.1:{server.port}")
    message = str(err.value)
    assert "HTTP 401" in message and "wrong" not in message
    assert f"'http://admin:***@127.0.0.1:{server.port}/2/groups?bulk=1'" in message


@needs_fixture
def test_given_session_is_reused(served: FakeRapi) -> None:
    with requests.Session() as session:
        load_rapi(f"http://127.0.0.1:{served.port}", session=session)
        load_rapi(f"http://127.0.0.1:{served.port}", session=session)
    assert len(served.requests) == 8


# --- transport errors -------------------------------------------------------------


def test_connection_refused() -> None:
    port = closed_port()
    with pytest.raises(DataError) as err:
        load_rapi(f"http://127.0.0.1:{port}")
    assert str(err.value) == (f"Request for 'http://127.0.0.1:{port}/2/groups?bulk=1' "
                              "failed: connection refused")


@needs_fixture
def test_http_404_names_url_and_status() -> None:
    responses = ok_responses(fixture_bodies())
    del responses["/2/instances?bulk=1"]
    with FakeRapi(responses) as server, pytest.raises(DataError) as err:
        load_rapi(f"http://127.0.0.1:{server.port}")
    assert str(err.value) == (f"Request for 'http://127.0.0.1:{server.port}"
                              "/2/instances?bulk=1' failed: HTTP 404 Not Found")
    # Requests stop at the first failure.
    assert server.requests == list(PATHS[:3])


@needs_fixture
def test_earlier_bad_document_wins_over_later_failure() -> None:
    responses = {PATHS[0]: (200, b"<html>oops</html>")}
    with FakeRapi(responses) as server, pytest.raises(DataError) as err:
        load_rapi(f"http://127.0.0.1:{server.port}")
    assert str(err.value) == ("Parsing group data: Invalid JSON: a JSON text a serialized "
                              "object or array at the top level.")
    assert server.requests == [PATHS[0]]


@pytest.mark.parametrize("hang", ["before headers", "mid body"])
def test_total_timeout(monkeypatch: pytest.MonkeyPatch, hang: str) -> None:
    monkeypatch.setattr(rapi_http, "TOTAL_TIMEOUT", 0.3)
    delay, stall = (1.5, 0.0) if hang == "before headers" else (0.0, 1.5)
    responses = {PATHS[0]: (200, b"[" + b" " * 64 + b"]")}
    with FakeRapi(responses, delay=delay, stall=stall) as server, \
            pytest.raises(DataError) as err:
        load_rapi(f"http://127.0.0.1:{server.port}")
    assert str(err.value).endswith("/2/groups?bulk=1' failed: timed out")


@pytest.mark.parametrize(
    ("groups_body", "expected"),
    [
        (b"[{\"name\": ", "Parsing group data: Invalid JSON: Expecting value: "
                          "line 1 column 11 (char 10)"),
        (b"[NaN]", "Parsing group data: Invalid JSON: invalid token NaN"),
        (b"{}", "Parsing group data: Unable to read list"),
        (b"[5]", "Parsing group data: Unable to read JSObject"),
        (b"", "Parsing group data: Invalid JSON: a JSON text a serialized object or "
              "array at the top level."),
        (b"[\xff]", None),
    ],
)
def test_lying_server_gives_one_line_error(groups_body: bytes, expected: str | None) -> None:
    with FakeRapi({PATHS[0]: (200, groups_body)}) as server, pytest.raises(DataError) as err:
        load_rapi(f"http://127.0.0.1:{server.port}")
    message = str(err.value)
    assert "\n" not in message
    if expected is None:
        assert message.endswith("failed: response is not UTF-8 text")
    else:
        assert message == expected


@pytest.mark.parametrize(
    ("cluster", "reason"),
    [("http://[::1:5", "invalid URL"), ("http://nonexistent.invalid:1", "could not resolve host"),
     ("ftp://127.0.0.1:1", "invalid URL")],
)
def test_bad_urls(cluster: str, reason: str) -> None:
    with pytest.raises(DataError) as err:
        load_rapi(cluster)
    assert str(err.value) == f"Request for '{cluster}/2/groups?bulk=1' failed: {reason}"


def test_missing_directory() -> None:
    with pytest.raises(DataError) as err:
        load_rapi("file:///nonexistent/dir")
    assert str(err.value) == ("/nonexistent/dir/groups.json: openFile: does not exist "
                              "(No such file or directory)")


# --- TLS --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    cert, key = make_self_signed(tmp_path_factory.mktemp("tls"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


@needs_fixture
@pytest.mark.skipif(shutil.which("openssl") is None,
                    reason="openssl is needed to make a self-signed certificate")
@requires_openssl
def test_https_self_signed_is_accepted_quietly(self_signed: ssl.SSLContext) -> None:
    with FakeRapi(ok_responses(fixture_bodies()), tls=self_signed) as server:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            data = load_rapi(f"https://127.0.0.1:{server.port}")
        assert len(data.instances) == 11
        with pytest.raises(DataError) as err:
            load_rapi(f"https://127.0.0.1:{server.port}", verify=True)
    assert "failed: TLS error" in str(err.value)


# --- data errors, checked by hand ---------------------------------------------------


def mutated(target: str, change: Callable[[Any], Any]) -> list[str]:
    """Fixture bodies with one document changed in place, or replaced by the
    string ``change`` returns (any other return value is ignored)."""
    docs = fixture_json()
    doc = copy.deepcopy(docs[target])
    result = change(doc)
    docs[target] = result if isinstance(result, str) else doc
    return [docs[name] if isinstance(docs[name], str) else json.dumps(docs[name])
            for name in FILES]


@needs_fixture
def test_missing_key_message() -> None:
    bodies = mutated("nodes.json", lambda d: d[0].pop("mtotal"))
    with pytest.raises(DataError) as err:
        parse_rapi(bodies)
    assert str(err.value).startswith(
        "Node 'node1', error while parsing data: key 'mtotal' not found, object contains "
        'only ["cnodes","cnos",')


@needs_fixture
def test_unknown_master() -> None:
    with pytest.raises(DataError, match="^Master node nodeZ unknown$"):
        parse_rapi(mutated("info.json", lambda d: d.update(master="nodeZ")))


@needs_fixture
def test_node_without_group_uses_default_uuid() -> None:
    def change(doc: Any) -> None:
        doc[0].pop("group.uuid")

    with pytest.raises(DataError, match=f"^Unknown group '{DEFAULT_GROUP_UUID}' for node node1$"):
        parse_rapi(mutated("nodes.json", change))


@needs_fixture
def test_offline_node_needs_no_resources() -> None:
    def change(doc: Any) -> None:
        doc[0].update(offline=True, mfree="garbage")
        for key in ("mtotal", "mnode", "ctotal", "cnos", "dtotal", "dfree"):
            doc[0].pop(key)

    node = parse_rapi(mutated("nodes.json", change)).nodes[0]
    assert node.offline and (node.t_mem, node.f_mem, node.t_cpu, node.n_cpu) == (0.0, 0, 0.0, 0)


@needs_fixture
def test_drained_and_not_vm_capable() -> None:
    def change(doc: Any) -> None:
        doc[0]["drained"] = True
        doc[1]["vm_capable"] = False

    nodes = parse_rapi(mutated("nodes.json", change)).nodes
    assert nodes[0].offline and nodes[0].drained and nodes[0].t_mem == 32763.0
    assert nodes[1].offline and not nodes[1].vm_capable and nodes[1].t_mem == 0.0


@needs_fixture
def test_memory_falls_back_to_beparams() -> None:
    def change(doc: Any) -> None:
        doc[0]["oper_ram"] = None
        doc[0]["beparams"]["memory"] = 77
        doc[1]["oper_ram"] = "n/a"
        doc[2]["oper_ram"] = 2.5

    insts = parse_rapi(mutated("instances.json", change)).instances
    assert [i.mem for i in insts[:3]] == [77, 128, 2]


@needs_fixture
def test_exclusive_storage_spindles_and_disks() -> None:
    def nodes(doc: Any) -> None:
        doc[0]["ndparams"]["exclusive_storage"] = True
        doc[0].update(sptotal=7, spfree=3)

    def insts(doc: Any) -> None:
        doc[0].update({"disk.sizes": [100, 200], "disk.spindles": [2, None],
                       "forthcoming": True, "snodes": []})

    bodies = mutated("nodes.json", nodes)
    bodies[2] = mutated("instances.json", insts)[2]
    data = parse_rapi(bodies)
    assert (data.nodes[0].excl_storage, data.nodes[0].t_spindles, data.nodes[0].f_spindles) == (
        True, 7, 3)
    inst = data.instances[0]
    assert inst.disks == [(100, 2), (200, None)] and inst.forthcoming and inst.snode == -1


# --- differential tests against Ganeti ----------------------------------------------


def _set(index: int, key: str, value: Any) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        doc[index][key] = value
    return change


def _drop(index: int, key: str) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        del doc[index][key]
    return change


def _in_ipolicy(change: Callable[[Any], None]) -> Callable[[Any], None]:
    def apply(doc: Any) -> None:
        change(doc[0]["ipolicy"])
    return apply


def _text(body: str) -> Callable[[Any], str]:
    return lambda doc: body


def _replace(old: str, new: str) -> Callable[[Any], str]:
    return lambda doc: json.dumps(doc).replace(old, new, 1)


def _info(key: str, value: Any = None, *, drop: bool = False) -> Callable[[Any], None]:
    def change(doc: Any) -> None:
        if drop:
            del doc[key]
        else:
            doc[key] = value
    return change


MUTATIONS: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("none", "info.json", lambda d: None),
    # groups
    ("g-name-int", "groups.json", _set(0, "name", 1)),
    ("g-uuid-int", "groups.json", _set(0, "uuid", 1)),
    ("g-apol-bad", "groups.json", _set(0, "alloc_policy", "foo")),
    ("g-apol-int", "groups.json", _set(0, "alloc_policy", 5)),
    ("g-apol-short", "groups.json", _set(0, "alloc_policy", "last_resort")),
    ("g-no-ipolicy", "groups.json", _drop(0, "ipolicy")),
    ("g-ipolicy-str", "groups.json", _set(0, "ipolicy", "x")),
    ("g-ipolicy-null", "groups.json", _set(0, "ipolicy", None)),
    ("g-tags-str", "groups.json", _set(0, "tags", "x")),
    ("g-tags-int", "groups.json", _set(0, "tags", [1])),
    ("g-tags", "groups.json", _set(0, "tags", ["a", "b"])),
    ("ip-no-ratio", "groups.json", _in_ipolicy(lambda p: p.pop("vcpu-ratio"))),
    ("ip-ratio-str", "groups.json", _in_ipolicy(lambda p: p.update({"vcpu-ratio": "x"}))),
    ("ip-ratio-int", "groups.json", _in_ipolicy(lambda p: p.update({"vcpu-ratio": 3}))),
    ("ip-ratio-null", "groups.json", _in_ipolicy(lambda p: p.update({"vcpu-ratio": None}))),
    ("ip-std-list", "groups.json", _in_ipolicy(lambda p: p.update(std=[]))),
    ("ip-std-no-cpu", "groups.json", _in_ipolicy(lambda p: p["std"].pop("cpu-count"))),
    ("ip-std-mem-str", "groups.json",
     _in_ipolicy(lambda p: p["std"].update({"memory-size": "x"}))),
    ("ip-std-mem-half", "groups.json",
     _in_ipolicy(lambda p: p["std"].update({"memory-size": 100.5}))),
    ("ip-std-extra", "groups.json", _in_ipolicy(lambda p: p["std"].update(zz=5))),
    ("ip-minmax-obj", "groups.json", _in_ipolicy(lambda p: p.update(minmax={}))),
    ("ip-minmax-int", "groups.json", _in_ipolicy(lambda p: p.update(minmax=[5]))),
    ("ip-minmax-empty", "groups.json", _in_ipolicy(lambda p: p.update(minmax=[]))),
    ("ip-minmax-no-min", "groups.json", _in_ipolicy(lambda p: p["minmax"][0].pop("min"))),
    ("ip-minmax-extra", "groups.json", _in_ipolicy(lambda p: p["minmax"][0].update(zz=1))),
    ("ip-max-no-mem", "groups.json",
     _in_ipolicy(lambda p: p["minmax"][0]["max"].pop("memory-size"))),
    ("ip-dt-str", "groups.json", _in_ipolicy(lambda p: p.update({"disk-templates": "drbd"}))),
    ("ip-dt-bad", "groups.json",
     _in_ipolicy(lambda p: p.update({"disk-templates": ["drbd", "foo"]}))),
    ("ip-dt-null", "groups.json", _in_ipolicy(lambda p: p.update({"disk-templates": [None]}))),
    ("ip-dt-empty", "groups.json", _in_ipolicy(lambda p: p.update({"disk-templates": []}))),
    ("ip-extra", "groups.json", _in_ipolicy(lambda p: p.update(zz=1, aa=2))),
    ("ip-extra-and-missing", "groups.json",
     _in_ipolicy(lambda p: (p.update(zz=1), p.pop("std")))),
    # nodes
    ("n-no-name", "nodes.json", _drop(0, "name")),
    ("n-no-mtotal", "nodes.json", _drop(0, "mtotal")),
    ("n-mtotal-str", "nodes.json", _set(0, "mtotal", "x")),
    ("n-mnode-null", "nodes.json", _set(0, "mnode", None)),
    ("n-mnode-half", "nodes.json", _set(0, "mnode", 2.5)),
    ("n-mnode-bool", "nodes.json", _set(0, "mnode", True)),
    ("n-mnode-huge", "nodes.json", _replace('"mnode": 1017', '"mnode": 1e400')),
    ("n-mnode-exp", "nodes.json", _replace('"mnode": 1017', '"mnode": 1.017e3')),
    ("n-mnode-big", "nodes.json", _replace('"mnode": 1017', '"mnode": 18446744073709552617')),
    ("n-no-dtotal", "nodes.json", _drop(0, "dtotal")),
    ("n-dtotal-null", "nodes.json", _set(0, "dtotal", None)),
    ("n-dtotal-str", "nodes.json", _set(0, "dtotal", "x")),
    ("n-spfree-str", "nodes.json", _set(0, "spfree", "x")),
    ("n-offline-str", "nodes.json", _set(0, "offline", "x")),
    ("n-offline", "nodes.json", _set(0, "offline", True)),
    ("n-drained", "nodes.json", _set(1, "drained", True)),
    ("n-vmcap-str", "nodes.json", _set(0, "vm_capable", "x")),
    ("n-vmcap-null", "nodes.json", _set(0, "vm_capable", None)),
    ("n-vmcap-false", "nodes.json", _set(2, "vm_capable", False)),
    ("n-group-bad", "nodes.json", _set(0, "group.uuid", "zzz")),
    ("n-group-int", "nodes.json", _set(0, "group.uuid", 5)),
    ("n-no-group", "nodes.json", _drop(0, "group.uuid")),
    ("n-ndparams-list", "nodes.json", _set(0, "ndparams", [])),
    ("n-no-excl", "nodes.json", lambda d: d[0]["ndparams"].pop("exclusive_storage")),
    ("n-no-spindle-count", "nodes.json",
     lambda d: d[0]["ndparams"].pop("spindle_count")),
    ("n-excl-no-sptotal", "nodes.json",
     lambda d: (d[0]["ndparams"].update(exclusive_storage=True), d[0].pop("sptotal"))),
    ("n-excl", "nodes.json",
     lambda d: (d[0]["ndparams"].update(exclusive_storage=True),
                d[0].update(sptotal=5, spfree=2))),
    ("n-offline-garbage", "nodes.json",
     lambda d: (d[0].update(offline=True, mfree="x"), d[0].pop("mtotal"))),
    ("n-no-tags", "nodes.json", _drop(0, "tags")),
    ("n-tags", "nodes.json", _set(0, "tags", ["x", "y"])),
    ("n-not-object", "nodes.json", lambda d: d.__setitem__(0, 5)),
    ("n-not-array", "nodes.json", _text('{"a": 1}')),
    ("n-html", "nodes.json", _text("<html>hi</html>")),
    ("n-empty", "nodes.json", _text("")),
    ("n-none", "nodes.json", _text("[]")),
    # instances
    ("i-name-int", "instances.json", _set(0, "name", 3)),
    ("i-no-pnode", "instances.json", _drop(0, "pnode")),
    ("i-pnode-bad", "instances.json", _set(0, "pnode", "nodeX")),
    ("i-pnode-int", "instances.json", _set(0, "pnode", 3)),
    ("i-snode-bad", "instances.json", _set(0, "snodes", ["nodeX"])),
    ("i-snode-int", "instances.json", _set(0, "snodes", [5])),
    ("i-snodes-str", "instances.json", _set(0, "snodes", "x")),
    ("i-snodes-null", "instances.json", _set(0, "snodes", None)),
    ("i-status-bad", "instances.json", _set(0, "status", "foo")),
    ("i-status-int", "instances.json", _set(0, "status", 5)),
    ("i-status-offline", "instances.json", _set(0, "status", "ADMIN_offline")),
    ("i-template-bad", "instances.json", _set(0, "disk_template", "foo")),
    ("i-oper-ram-null", "instances.json", _set(0, "oper_ram", None)),
    ("i-oper-ram-half", "instances.json", _set(0, "oper_ram", 128.5)),
    ("i-oper-ram-str", "instances.json", _set(0, "oper_ram", "x")),
    ("i-no-oper-ram", "instances.json", _drop(0, "oper_ram")),
    ("i-no-mem", "instances.json",
     lambda d: (d[0]["beparams"].pop("maxmem"), d[0].update(oper_ram=None))),
    ("i-memory-str", "instances.json",
     lambda d: (d[0]["beparams"].update(memory="x"), d[0].update(oper_ram=None))),
    ("i-beparams-list", "instances.json", _set(0, "beparams", [])),
    ("i-ab-str", "instances.json", lambda d: d[0]["beparams"].update(auto_balance="x")),
    ("i-su-missing", "instances.json", lambda d: d[0]["beparams"].pop("spindle_use")),
    ("i-du-str", "instances.json", _set(0, "disk_usage", "5")),
    ("i-sizes-str", "instances.json", _set(0, "disk.sizes", ["x"])),
    ("i-sizes-longer", "instances.json", _set(0, "disk.sizes", [128, 256])),
    ("i-spindles-longer", "instances.json", _set(0, "disk.spindles", [1, 2])),
    ("i-spindles-str", "instances.json", _set(0, "disk.spindles", "x")),
    ("i-spindles-missing", "instances.json", _drop(0, "disk.spindles")),
    ("i-spindle-elem-str", "instances.json", _set(0, "disk.spindles", ["x"])),
    ("i-spindle-elem-obj", "instances.json", _set(0, "disk.spindles", [{"a": [1, 2]}])),
    ("i-forthcoming-str", "instances.json", _set(0, "forthcoming", "x")),
    ("i-forthcoming", "instances.json", _set(1, "forthcoming", True)),
    ("i-tags", "instances.json", _set(1, "tags", ["a:b", "c"])),
    # info
    ("info-master-bad", "info.json", _info("master", "nodeZ")),
    ("info-master-int", "info.json", _info("master", 1)),
    ("info-no-master", "info.json", _info("master", drop=True)),
    ("info-hv-bad", "info.json", _info("default_hypervisor", "foo")),
    ("info-hv-kvm", "info.json", _info("default_hypervisor", "kvm")),
    ("info-tags-str", "info.json", _info("tags", "x")),
    ("info-no-ipolicy", "info.json", _info("ipolicy", drop=True)),
    ("info-ipolicy-no-std", "info.json", lambda d: d["ipolicy"].pop("std")),
    ("info-array", "info.json", _text("[1]")),
    ("info-html", "info.json", _text("<html>")),
    ("groups-obj", "groups.json", _text("{}")),
    ("groups-num", "groups.json", _text("5")),
]


def _hscan(directory: Path, out: Path) -> tuple[str | None, str | None]:
    """Ganeti's view of a RAPI directory: (serialised data, error message)."""
    proc = subprocess.run([str(HSCAN), "-d", str(out), f"file://{directory}"],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode == 0:
        (data_file,) = out.glob("*.data")
        return data_file.read_text(), None
    marker = "failed to load data. Details:\n"
    assert marker in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    return None, (proc.stdout + proc.stderr).split(marker, 1)[1].rstrip("\n")


@needs_fixture
@needs_hscan
@pytest.mark.ganeti
@pytest.mark.parametrize(("name", "target", "change"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_against_hscan(tmp_path: Path, name: str, target: str,
                       change: Callable[[Any], Any]) -> None:
    text_backend = pytest.importorskip("htools.backends.text")
    directory = tmp_path / "rapi"
    directory.mkdir()
    for file_name, body in zip(FILES, mutated(target, change), strict=True):
        (directory / file_name).write_text(body)
    out = tmp_path / "out"
    out.mkdir()
    expected_data, expected_error = _hscan(directory, out)
    try:
        data = load_rapi(f"file://{directory}")
    except DataError as err:
        assert expected_error is not None, f"we failed, Ganeti did not: {err}"
        assert str(err) == expected_error
        return
    assert expected_error is None, f"Ganeti failed, we did not: {expected_error}"
    assert text_backend.dump_text(data) == expected_data
