"""hrapid's write resources: instances, node roles, evacuation, multi-allocation, tags.

Most checks run the daemon's resources and queue in process (a request in,
the job it queues run to its end); the last ones start the daemon as a
subprocess and drive it with ``hbal -m`` and Ganeti's own RAPI client.  The
strong checks: a creation through an iallocator lands where our ``hail``
command puts the same request, the figures the daemon then serves are the
ones ``hbal -m`` reads, and every change survives a restart.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from conftest import (
    REPO,
    SYSTEM_PYTHON,
    daemon,
    make_self_signed,
    requires_ganeti_rapi,
    requires_openssl,
    users_file,
)
from test_hrapid import hbal

from executor.daemon.queue import JobQueue
from executor.daemon.resources import HttpError, Request, Resources, Settings
from executor.daemon.store import Job, Store
from executor.nodes.sim import OPCODES, lock_names
from fixtures.requests import request_json
from htools.backends.text import dump_text, parse_text
from solver import cluster as C
from solver.loader import load_cluster
from solver.records import ClusterData

UUID = "ad7a239e-6642-43ce-bf81-37e6a6616bc9"
# Six roomy nodes; node-001 is the master; instances of every state the tests need.
CLUSTER = "\n".join([
    f"group-01|{UUID}|preferred||", "",
    *(f"node-00{i}.example.com|32768|1024|{free}|500000|{dfree}|16|{role}|{UUID}|1||N|0|1|1.0"
      for i, (free, dfree, role) in enumerate([
          (20480, 400000, "M"), (24576, 420000, "N"), (22528, 410000, "N"),
          (28672, 450000, "N"), (30720, 480000, "N"), (31744, 490000, "N")], 1)), "",
    "inst-01|4096|51328|2|running|Y|node-001.example.com|node-002.example.com|drbd||1|-|N",
    "inst-02|4096|40960|2|running|Y|node-001.example.com||plain||1|-|N",
    "inst-03|2048|20608|1|running|Y|node-002.example.com|node-003.example.com|drbd||1|-|N",
    "inst-04|2048|20608|1|ADMIN_down|Y|node-003.example.com|node-001.example.com|drbd||1|-|N",
    "inst-05|4096|30848|2|running|Y|node-003.example.com|node-004.example.com|drbd||1|-|N",
    "", ""])
N1, N2, N3, N4, N5, N6 = (f"node-00{i}.example.com" for i in range(1, 7))


class Ops:
    """The daemon's resources over a queue on a state directory, driven in process."""

    def __init__(self, state: Path, cluster: ClusterData | None = None) -> None:
        self.store = Store(str(state))
        if cluster is not None:
            self.store.init_cluster(cluster)
        loaded = self.store.load_cluster()
        assert loaded is not None
        self.queue = JobQueue(self.store, loaded, workers=2)
        self.resources = Resources(self.queue, Settings())
        self.queue.start()

    def close(self) -> None:
        self.queue.stop()
        self.store.close()

    def call(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        """One request; the path may carry a query, ``query`` values may be lists."""
        where, _, raw = path.partition("?")
        args = parse_qs(raw)
        args.update({key.replace("_", "-"): value if isinstance(value, list) else [str(value)]
                     for key, value in query.items()})
        answer = self.resources.handle(Request(method, [p for p in where.split("/") if p],
                                               args, body))
        # collections come encoded (served as they are), the rest as JSON values
        return json.loads(answer) if isinstance(answer, bytes) else answer

    def run(self, method: str, path: str, body: Any = None, **query: Any) -> Job:
        """A request that queues a job, and that job once it has ended."""
        job_id = self.call(method, path, body, **query)
        return wait(self.queue, int(job_id))

    def node(self, name: str) -> dict:
        return self.call("GET", f"/2/nodes/{name}")

    def instance(self, name: str) -> dict:
        return self.call("GET", f"/2/instances/{name}")


def wait(queue: JobQueue, job_id: int) -> Job:
    deadline = time.monotonic() + 60
    while True:
        job = queue.job(job_id)
        assert job is not None
        if job.status in ("success", "error", "canceled"):
            return job
        assert time.monotonic() < deadline, job.status
        time.sleep(0.01)


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[Ops]:
    daemon_ops = Ops(tmp_path, parse_text(CLUSTER))
    yield daemon_ops
    daemon_ops.close()


def creation(name: str, template: str = "drbd", **extra: Any) -> dict:
    """A version 1 creation body as Ganeti's client sends it."""
    return {"__version__": 1, "mode": "create", "name": name, "disk_template": template,
            "disks": [{"size": 10240}], "nics": [], "os": "debootstrap",
            "beparams": {"maxmem": 2048, "vcpus": 2}, **extra}


def error_of(job: Job) -> str:
    assert job.status == "error", job.opresult
    return job.opresult[0][1][0]


# --- instances -------------------------------------------------------------------------


def hail_answer(tmp_path: Path, cluster: ClusterData, body: dict) -> dict:
    """Our hail command's answer to the allocate request Ganeti builds for ``body``."""
    size = sum(d["size"] for d in body["disks"])
    drbd = body["disk_template"] == "drbd"
    request = {"type": "allocate", "name": body["name"], "memory": body["beparams"]["maxmem"],
               "vcpus": body["beparams"]["vcpus"], "disks": body["disks"],
               "disk_space_total": size + 128 * len(body["disks"]) * drbd,
               "disk_template": body["disk_template"], "spindle_use": 1, "tags": [],
               "nics": [], "required_nodes": 2 if drbd else 1}
    path = tmp_path / "request.json"
    path.write_text(request_json(cluster, request), encoding="utf-8")
    env = {**os.environ, "HTOOLS_JIT": "0", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "htools.cli.hail", str(path)], env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(proc.stdout)


@pytest.mark.parametrize("template", ["drbd", "plain"])
def test_create_with_iallocator_is_hails_answer(ops: Ops, tmp_path: Path,
                                                template: str) -> None:
    body = creation("web-01", template, iallocator="hail")
    expected = hail_answer(tmp_path, parse_text(CLUSTER), body)
    assert expected["success"], expected["info"]
    before = {name: ops.node(name) for name in expected["result"]}
    job = ops.run("POST", "/2/instances", body)
    assert (job.status, job.opresult) == ("success", [expected["result"]])
    inst = ops.instance("web-01")
    assert [inst["pnode"], *inst["snodes"]] == expected["result"]
    assert (inst["status"], inst["disk_template"], inst["disk.sizes"]) == (
        "running", template, [10240])
    usage = 10240 + 128 * (template == "drbd")
    assert inst["disk_usage"] == usage
    pnode = expected["result"][0]
    assert ops.node(pnode)["mfree"] == before[pnode]["mfree"] - 2048
    for name in expected["result"]:
        assert ops.node(name)["dfree"] == before[name]["dfree"] - usage


def test_create_on_given_nodes_then_remove_frees_everything(ops: Ops) -> None:
    before = {name: ops.node(name) for name in (N5, N6)}
    job = ops.run("POST", "/2/instances", creation("db-01", pnode=N5, snode=N6,
                                                   start=False))
    assert (job.status, job.opresult) == ("success", [[N5, N6]])
    inst = ops.instance("db-01")
    assert (inst["status"], inst["admin_state"]) == ("ADMIN_down", "down")
    assert ops.node(N5)["mfree"] == before[N5]["mfree"]  # not started: no memory taken
    assert ops.node(N6)["dfree"] == before[N6]["dfree"] - 10368
    removed = ops.run("DELETE", "/2/instances/db-01")
    assert removed.status == "success"
    assert "db-01" not in [i["id"] for i in ops.call("GET", "/2/instances")]
    for name in (N5, N6):
        assert {k: ops.node(name)[k] for k in ("mfree", "dfree")} == {
            k: before[name][k] for k in ("mfree", "dfree")}


def test_dry_run_answers_and_changes_nothing(ops: Ops) -> None:
    before = ops.call("GET", "/2/nodes", bulk=1)
    job = ops.run("POST", "/2/instances", creation("dry", pnode=N5, snode=N6), dry_run=1)
    assert (job.status, job.opresult) == ("success", [[N5, N6]])
    assert ops.run("PUT", f"/2/nodes/{N2}/role", "offline", dry_run=1).status == "success"
    assert ops.call("GET", "/2/nodes", bulk=1) == before
    assert "dry" not in [i["id"] for i in ops.call("GET", "/2/instances")]


def test_remove_running_frees_memory(ops: Ops) -> None:
    before = ops.node(N3)
    assert ops.run("DELETE", "/2/instances/inst-05").status == "success"
    after = ops.node(N3)
    assert after["mfree"] == before["mfree"] + 4096
    assert after["dfree"] == before["dfree"] + 30848
    assert ops.node(N4)["dfree"] == 450000 + 30848


@pytest.mark.parametrize(("body", "message"), [
    (creation("inst-01", pnode=N5, snode=N6), "Instance 'inst-01' is already in the cluster"),
    (creation("x", pnode="nowhere", snode=N6), "Node 'nowhere' not known"),
    (creation("x", pnode=N5), "The networked disk templates need a mirror node"),
    (creation("x", pnode=N5, snode=N5), "The secondary node cannot be the primary node"),
    (creation("x", pnode=N5, iallocator="hail"), "Do not specify both, iallocator and node"),
    (creation("x"), "No iallocator or node given and no cluster-wide default iallocator "
                    "found; please specify either an iallocator or a node, or set a "
                    "cluster-wide default iallocator"),
    (creation("x", "plain", pnode=N5, beparams={"maxmem": 40000}),
     "Not enough memory on node node-005.example.com for creating instance x: needed "
     "40000 MiB, available 30720 MiB"),
    (creation("x", "plain", pnode=N5, disks=[{"size": 500000}]),
     "Not enough disk space on target node node-005.example.com vg xenvg: required 500000 "
     "MiB, available 480000 MiB"),
    (creation("bad|name", pnode=N5, snode=N6), "Invalid hostname 'bad|name'"),
    (creation("x", pnode=N5, snode=N6, mode="import"),
     "Instance creation mode 'import' is not supported by the simulated nodes"),
    (creation("x", pnode=N5, snode=N6, tags=["a,b"]), "Tag contains invalid characters"),
    (creation("x", iallocator="hail", group_name="group-02"),
     "Can't compute nodes using iallocator 'hail': Request failed: Wrong number of elems "
     "found with name group-02"),
    (creation("x", "plain", beparams={"maxmem": 40000}, iallocator="hail"),
     "Can't compute nodes using iallocator 'hail': Request failed: Group group-01 "
     "(preferred): No valid allocation solutions, failure reasons: FailMem: 6"),
])
def test_create_refusals_are_job_errors(ops: Ops, body: dict, message: str) -> None:
    job = ops.run("POST", "/2/instances", body)
    assert error_of(job) == message
    assert "x" not in [i["id"] for i in ops.call("GET", "/2/instances")]


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("POST", "/2/instances", [1], 400, "Body contents: Type is 'list', but 'dict' is expected"),
    ("POST", "/2/instances", {"name": "x"}, 400,
     "Instance creation request version 0 is no longer supported"),
    ("POST", "/2/instances", {"__version__": 2}, 400, "Unsupported request data version 2"),
    ("POST", "/2/instances", creation("x", "floppy"), 400,
     "Invalid body parameters: Parameter 'OP_INSTANCE_CREATE.disk_template' fails "
     "validation"),
    ("POST", "/2/instances", {k: v for k, v in creation("x").items() if k != "disks"}, 400,
     "Invalid body parameters: Parameter 'OP_INSTANCE_CREATE.disks' is missing"),
    ("POST", "/2/instances", creation("x", disks=[{"size": "big"}]), 400,
     "Invalid body parameters: Parameter 'OP_INSTANCE_CREATE.disks' fails validation"),
    ("POST", "/2/instances", creation("x", beparams={"maxmem": "1G"}), 400,
     "Invalid body parameters: Parameter 'OP_INSTANCE_CREATE.beparams' fails validation"),
    ("POST", "/2/instances", creation("x", colour="red"), 400,
     "Invalid body parameters: OP_INSTANCE_CREATE doesn't support the parameter 'colour'"),
    ("DELETE", "/2/instances/inst-01", {"ignore_failures": True}, 400,
     "Can't overwrite static parameters ['ignore_failures']"),
    ("POST", "/2/instances/inst-01/reboot?type=gentle", None, 400,
     "Invalid body parameters: Parameter 'OP_INSTANCE_REBOOT.reboot_type' fails validation"),
    ("PUT", "/2/instances/inst-01/modify", {"beparams": {"minmem": 512}}, 400,
     "Invalid body parameters: Parameter 'OP_INSTANCE_SET_PARAMS.beparams' fails "
     "validation"),
    ("PUT", "/2/instances/inst-01/modify", {"disk_template": "drbd", "nics": []}, 400,
     "Invalid body parameters: OP_INSTANCE_SET_PARAMS doesn't support the parameter "
     "'nics'"),
    ("POST", "/2/instances-multi-alloc", {}, 400,
     "Request is missing required 'instances' field in body"),
    ("POST", "/2/instances-multi-alloc", {"instances": [{"name": "x"}]}, 400,
     "Invalid body parameters: Parameter 'OP_INSTANCE_CREATE.disks' is missing"),
    ("PUT", "/2/nodes/node-002.example.com/role", {"role": "drained"}, 400,
     "Body contents: Type is 'dict', but 'str' is expected"),
    ("PUT", "/2/nodes/node-002.example.com/role", "boss", 400, "Can't set 'boss' role"),
    ("GET", "/2/nodes/ghost/role", None, 404, "Node 'ghost' not known"),
    ("POST", "/2/nodes/node-002.example.com/evacuate", {}, 400,
     "Invalid body parameters: Parameter 'OP_NODE_EVACUATE.mode' is missing"),
    ("POST", "/2/nodes/node-002.example.com/evacuate", {"mode": "most"}, 400,
     "Invalid body parameters: Parameter 'OP_NODE_EVACUATE.mode' fails validation"),
    ("POST", "/2/nodes/node-002.example.com/migrate?live=1&mode=live", None, 400,
     "Only one of 'live' and 'mode' should be passed"),
    ("GET", "/2/groups/ghost/tags", None, 404, "Node group 'ghost' not found"),
    ("GET", "/2/instances/ghost/tags", None, 404, "Instance 'ghost' not known"),
])
def test_bad_requests(ops: Ops, method: str, path: str, body: Any, status: int,
                      message: str) -> None:
    with pytest.raises(HttpError) as err:
        ops.call(method, path, body)
    assert (err.value.status, err.value.message) == (status, message)
    assert ops.queue.all_jobs() == []


@pytest.mark.parametrize(("method", "path", "body", "message"), [
    ("DELETE", "/2/instances/ghost", None, "Instance 'ghost' not known"),
    ("PUT", "/2/instances/ghost/startup", None, "Instance 'ghost' not known"),
    ("PUT", "/2/instances/ghost/migrate", None, "Instance 'ghost' not known"),
    ("POST", "/2/instances/inst-01/replace-disks",
     {"mode": "replace_new_secondary", "remote_node": "nowhere"}, "Node 'nowhere' not known"),
    ("POST", "/2/nodes/ghost/migrate", {}, "Node 'ghost' not known"),
    ("PUT", "/2/nodes/ghost/role", "drained", "Node 'ghost' not known"),
    ("PUT", "/2/instances/ghost/tags?tag=a", None, "Instance 'ghost' not known"),
    ("DELETE", "/2/groups/ghost/tags?tag=a", None, "Node group 'ghost' not found"),
])
def test_unknown_names_fail_inside_jobs(ops: Ops, method: str, path: str, body: Any,
                                        message: str) -> None:
    """As in Ganeti: the request queues a job, whose opcode fails with ``noent``."""
    job = ops.run(method, path, body)
    assert job.opresult == [["OpPrereqError", [message, "noent"]]]


def test_shutdown_startup_reboot_move_memory(ops: Ops) -> None:
    free = ops.node(N1)["mfree"]
    assert ops.run("PUT", "/2/instances/inst-01/shutdown").status == "success"
    assert (ops.instance("inst-01")["status"], ops.node(N1)["mfree"]) == (
        "ADMIN_down", free + 4096)
    assert ops.run("PUT", "/2/instances/inst-01/startup").status == "success"
    assert (ops.instance("inst-01")["status"], ops.node(N1)["mfree"]) == ("running", free)
    assert ops.run("POST", "/2/instances/inst-01/reboot", type="soft").status == "success"
    assert ops.node(N1)["mfree"] == free
    ops.run("PUT", "/2/instances/inst-01/shutdown")
    assert ops.run("POST", "/2/instances/inst-01/reboot").status == "success"  # starts it
    assert (ops.instance("inst-01")["status"], ops.node(N1)["mfree"]) == ("running", free)


def test_startup_needs_memory(ops: Ops) -> None:
    ops.run("PUT", "/2/instances/inst-02/modify", {"beparams": {"maxmem": 4096}})
    job = ops.run("PUT", "/2/instances/inst-04/modify", {"beparams": {"maxmem": 30000}})
    assert (job.status, job.opresult) == ("success", [[["be/maxmem", 30000]]])
    grow = ops.run("PUT", "/2/instances/inst-05/modify", {"beparams": {"maxmem": 26625}})
    assert error_of(grow) == ("This change will prevent the instance from starting, due to "
                              "1 MB of memory missing on its primary node")
    assert error_of(ops.run("PUT", "/2/instances/inst-04/startup")) == (
        "Not enough memory on node node-003.example.com for starting instance inst-04: "
        "needed 30000 MiB, available 22528 MiB")


def test_convert_plain_to_drbd_and_back(ops: Ops) -> None:
    running = ops.run("PUT", "/2/instances/inst-02/modify",
                      {"disk_template": "drbd", "remote_node": N6})
    assert error_of(running) == ("Instance 'inst-02' is marked to be up, cannot change disk "
                                 "template")
    ops.run("PUT", "/2/instances/inst-02/shutdown")
    before = {name: ops.node(name)["dfree"] for name in (N1, N6)}
    job = ops.run("PUT", "/2/instances/inst-02/modify",
                  {"disk_template": "drbd", "remote_node": N6})
    assert (job.status, job.opresult) == ("success", [[["disk_template", "drbd"]]])
    inst = ops.instance("inst-02")
    assert (inst["disk_template"], inst["snodes"], inst["disk_usage"]) == (
        "drbd", [N6], 40960 + 128)
    assert ops.node(N6)["dfree"] == before[N6] - 40960 - 128
    assert ops.node(N1)["dfree"] == before[N1] - 128
    back = ops.run("PUT", "/2/instances/inst-02/modify", {"disk_template": "plain"})
    assert back.status == "success"
    assert {name: ops.node(name)["dfree"] for name in (N1, N6)} == before
    assert ops.instance("inst-02")["snodes"] == []


# --- nodes -----------------------------------------------------------------------------


def test_roles(ops: Ops) -> None:
    assert ops.call("GET", f"/2/nodes/{N1}/role") == "master"
    assert ops.call("GET", f"/2/nodes/{N2}/role") == "regular"
    for role, flags, changes in [
            ("master-candidate", (False, False, True, "C"), [["master_candidate", "True"]]),
            ("drained", (False, True, False, "D"),
             [["master_candidate", "False"], ["drained", "True"]]),
            ("offline", (True, False, False, "O"), [["drained", "False"], ["offline", "True"]]),
            ("regular", (False, False, False, "R"), [["offline", "False"]])]:
        job = ops.run("PUT", f"/2/nodes/{N2}/role", role)
        assert (job.status, job.opresult) == ("success", [changes])
        node = ops.node(N2)
        assert ops.call("GET", f"/2/nodes/{N2}/role") == role
        assert (node["offline"], node["drained"], node["master_candidate"],
                node["role"]) == flags
    for role in ("drained", "master-candidate"):
        master = ops.run("PUT", f"/2/nodes/{N1}/role", role)
        assert error_of(master) == "The master role can be changed only via master-failover"


def test_drained_node_takes_no_new_instance(ops: Ops) -> None:
    ops.run("PUT", f"/2/nodes/{N5}/role", "drained")
    job = ops.run("POST", "/2/instances", creation("x", "plain", pnode=N5))
    assert error_of(job) == "Cannot use drained primary node 'node-005.example.com'"
    ops.run("PUT", f"/2/nodes/{N6}/role", "offline")
    job = ops.run("POST", "/2/instances", creation("x", pnode=N4, snode=N6))
    assert error_of(job) == "Can't use offline node: node-006.example.com"


def _follow_ups(ops: Ops, job: Job) -> list[Job]:
    assert job.status == "success", job.opresult
    return [wait(ops.queue, job_id) for ok, job_id in job.opresult[0]["jobs"] if ok]


@pytest.mark.parametrize("mode", ["secondary-only", "primary-only"])
def test_evacuate_with_iallocator_empties_the_node(ops: Ops, mode: str) -> None:
    ops.run("PUT", f"/2/nodes/{N3}/role", "drained")
    job = ops.run("POST", f"/2/nodes/{N3}/evacuate", {"mode": mode, "iallocator": "hail"})
    jobs = _follow_ups(ops, job)
    assert jobs and all(j.status == "success" for j in jobs), [j.opresult for j in jobs]
    node = ops.node(N3)
    assert node[{"secondary-only": "sinst_list", "primary-only": "pinst_list"}[mode]] == []


def test_evacuating_both_kinds_is_two_jobs(ops: Ops) -> None:
    """Ganeti refuses mode "all"; primaries (failed over) then secondaries empty the node."""
    everything = ops.run("POST", f"/2/nodes/{N3}/evacuate", {"mode": "all",
                                                             "iallocator": "hail"})
    assert error_of(everything) == (
        "Due to an issue with the iallocator interface it is not possible to evacuate all "
        "instances at once; specify explicitly whether to evacuate primary or secondary "
        "instances")
    ops.run("PUT", f"/2/nodes/{N3}/role", "drained")
    for mode in ("primary-only", "secondary-only"):
        jobs = _follow_ups(ops, ops.run("POST", f"/2/nodes/{N3}/evacuate",
                                        {"mode": mode, "iallocator": "hail"}))
        assert all(j.status == "success" for j in jobs), [j.opresult for j in jobs]
    node = ops.node(N3)
    assert (node["pinst_list"], node["sinst_list"]) == ([], [])


def test_evacuate_to_a_remote_node_and_migrate_a_node(ops: Ops) -> None:
    job = ops.run("POST", f"/2/nodes/{N4}/evacuate",
                  {"mode": "secondary-only", "remote_node": N6, "early_release": True})
    (replaced,) = _follow_ups(ops, job)
    assert replaced.ops[0]["OP_ID"] == "OP_INSTANCE_REPLACE_DISKS"
    assert replaced.ops[0]["early_release"] is True
    assert ops.call("GET", f"/2/jobs/{job.id}")["summary"] == [f"NODE_EVACUATE({N4})"]
    assert ops.instance("inst-05")["snodes"] == [N6]
    wrong = ops.run("POST", f"/2/nodes/{N4}/evacuate", {"mode": "all", "remote_node": N6})
    assert error_of(wrong) == ("Without the use of an iallocator only secondary instances "
                               "can be evacuated")
    migrated = _follow_ups(ops, ops.run("POST", f"/2/nodes/{N2}/migrate", {"mode": "live"}))
    assert [j.status for j in migrated] == ["success"]
    assert ops.node(N2)["pinst_list"] == []
    assert ops.instance("inst-03")["pnode"] == N3


def test_multi_alloc(ops: Ops) -> None:
    entries = [{k: v for k, v in creation(f"m{i}").items() if k != "__version__"}
               for i in range(3)]
    job = ops.run("POST", "/2/instances-multi-alloc", {"iallocator": "hail",
                                                       "instances": entries})
    assert job.status == "success", job.opresult
    result = job.opresult[0]
    assert (result["allocatable"], result["failed"]) == (["m0", "m1", "m2"], [])
    created = _follow_ups(ops, job)
    assert [j.status for j in created] == ["success"] * 3
    assert [j.opresult[0] for j in created] == [
        [ops.instance(f"m{i}")["pnode"], *ops.instance(f"m{i}")["snodes"]] for i in range(3)]
    huge = {**entries[0], "name": "huge", "beparams": {"maxmem": 99999}}
    refused = ops.run("POST", "/2/instances-multi-alloc", {"iallocator": "hail",
                                                           "instances": [huge]})
    given = [{**entries[0], "name": "given", "pnode": N5, "snode": N6}]
    dry = ops.run("POST", "/2/instances-multi-alloc", {"instances": given}, dry_run=1)
    assert dry.opresult == [{"allocatable": ["given"], "failed": [], "jobs": []}]
    assert "given" not in [i["id"] for i in ops.call("GET", "/2/instances")]
    assert error_of(refused).startswith("Can't compute nodes using iallocator 'hail': "
                                        "Request failed: Group group-01 (preferred): No "
                                        "valid allocation solutions")


def test_a_bug_in_an_opcode_fails_its_job_only(ops: Ops,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: ClusterData, op: dict, log: Any) -> None:
        data.instances.clear()
        raise KeyError("oops")
    monkeypatch.setitem(OPCODES, "OP_INSTANCE_STARTUP", broken)
    job = ops.run("PUT", "/2/instances/inst-04/startup")
    assert job.opresult == [["OpExecError", ["Internal error: 'oops'"]]]
    assert len(ops.call("GET", "/2/instances")) == 5  # the half-done change was dropped
    assert ops.run("PUT", "/2/instances/inst-04/shutdown").status == "success"


def test_lock_names() -> None:
    data = parse_text(CLUSTER)
    every_node = {f"node/{n.name}" for n in data.nodes}
    create = {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": "x", "iallocator": "hail"}
    assert lock_names(data, create) == every_node | {"instance/x"}
    evacuate = {"OP_ID": "OP_NODE_EVACUATE", "node_name": N4, "remote_node": N6}
    assert lock_names(data, evacuate) == {f"node/{N4}", f"node/{N6}", "instance/inst-05"}
    tags = {"OP_ID": "OP_TAGS_SET", "kind": "instance", "name": "inst-01", "tags": ["a"]}
    assert lock_names(data, tags) == {"instance/inst-01"}


# --- tags ------------------------------------------------------------------------------


def test_tags_round_trip_and_survive_a_restart(tmp_path: Path) -> None:
    ops = Ops(tmp_path, parse_text(CLUSTER))
    for path in ("/2/tags", f"/2/nodes/{N2}/tags", "/2/instances/inst-01/tags",
                 "/2/groups/group-01/tags"):
        assert ops.run("PUT", path, tag=["a", "b:c"]).status == "success"
        assert ops.call("GET", path) == ["a", "b:c"]
        assert ops.run("DELETE", path, tag=["a"]).status == "success"
        assert ops.call("GET", path) == ["b:c"]
    missing = ops.run("DELETE", "/2/tags", tag=["zz", "b:c"])
    assert error_of(missing) == "Tag(s) 'zz' not found"
    bad = ops.run("PUT", "/2/tags", tag=["no spaces"])
    assert bad.opresult == [["TagError", ["Tag contains invalid characters"]]]
    ops.run("PUT", f"/2/nodes/{N2}/role", "drained")
    ops.run("PUT", f"/2/nodes/{N3}/role", "offline")
    ops.run("PUT", f"/2/nodes/{N4}/role", "master-candidate")
    ops.run("POST", "/2/instances", creation("two-disks", "plain", pnode=N5, nics=[
        {"link": "br0"}], disks=[{"size": 1024}, {"size": 2048}]))
    ops.close()
    again = Ops(tmp_path)
    try:
        assert again.call("GET", "/2/instances/inst-01/tags") == ["b:c"]
        assert again.call("GET", "/2/tags") == ["b:c"]
        assert [again.call("GET", f"/2/nodes/{n}/role") for n in (N2, N3, N4)] == [
            "drained", "offline", "master-candidate"]
        two = again.instance("two-disks")
        assert (two["disk.sizes"], two["nic.links"], two["nic.macs"]) == (
            [1024, 2048], ["br0"], [None])
    finally:
        again.close()


def test_instance_tags_are_exclusion_tags(ops: Ops) -> None:
    """Tags set through RAPI feed the solver as the text backend's do (htools:iextags)."""
    ops.run("PUT", "/2/tags", tag=["htools:iextags:svc"])
    for name in ("inst-01", "inst-02"):  # both have node-001 as primary
        ops.run("PUT", f"/2/instances/{name}/tags", tag=["svc:web"])
    state = ops.queue.read(lambda data: load_cluster(copy.deepcopy(data)))
    assert state.node[C.CONFLICTS, 0] == 1.0
    assert state.node[C.CONFLICTS, 1:].sum() == 0.0


# --- the daemon as a process -----------------------------------------------------------


def test_hbal_m_sees_what_the_writes_did(tmp_path: Path) -> None:
    """After a creation, a removal and a drained node, hbal -m reads the stored cluster."""
    (tmp_path / "cluster.data").write_text(CLUSTER)
    with daemon(tmp_path / "state", "--init-from", str(tmp_path / "cluster.data")) as d:
        session = requests.Session()

        def run(method: str, path: str, body: Any = None) -> None:
            job_id = session.request(method, d.url + path, json=body, timeout=30).json()
            while (job := session.get(f"{d.url}/2/jobs/{job_id}", timeout=30).json())[
                    "status"] not in ("success", "error"):
                time.sleep(0.02)
            assert job["status"] == "success", job["opresult"]
        run("POST", "/2/instances", creation("web-01", iallocator="hail"))
        run("DELETE", "/2/instances/inst-02")
        run("PUT", f"/2/nodes/{N6}/role", "drained")
        served = hbal("-m", d.url, "--print-instances", "-p")
    store = Store(str(tmp_path / "state"))
    stored = store.load_cluster()
    store.close()
    assert stored is not None
    (tmp_path / "after.data").write_text(dump_text(stored))
    assert served == hbal("-t", str(tmp_path / "after.data"), "--print-instances", "-p")
    assert "web-01" in served[1] and "inst-02" not in served[1]


def test_writes_need_the_write_option(tmp_path: Path) -> None:
    """Readers read roles and tags; every write is refused to them, and nothing is queued."""
    (tmp_path / "cluster.data").write_text(CLUSTER)
    writes = [("POST", "/2/instances", creation("x", iallocator="hail")),
              ("DELETE", "/2/instances/inst-01", None),
              ("PUT", "/2/instances/inst-01/shutdown", None),
              ("PUT", "/2/instances/inst-01/startup", None),
              ("POST", "/2/instances/inst-01/reboot", None),
              ("PUT", "/2/instances/inst-04/modify", {"disk_template": "plain"}),
              ("POST", "/2/instances-multi-alloc", {"instances": []}),
              ("PUT", f"/2/nodes/{N2}/role", "drained"),
              ("POST", f"/2/nodes/{N2}/evacuate", {"mode": "secondary-only"}),
              ("POST", f"/2/nodes/{N2}/migrate", {}),
              ("PUT", "/2/tags?tag=a", None), ("DELETE", "/2/groups/group-01/tags?tag=a", None)]
    with daemon(tmp_path / "state", "--init-from", str(tmp_path / "cluster.data"),
                "--users", str(users_file(tmp_path))) as d:
        refused = [requests.request(method, d.url + path, json=body, timeout=30,
                                    auth=("reader", "plainpw")).status_code
                   for method, path, body in writes]
        anonymous = requests.put(d.url + "/2/tags?tag=a", timeout=30).status_code
        reads = [requests.get(d.url + path, timeout=30).json()
                 for path in (f"/2/nodes/{N2}/role", "/2/instances/inst-01/tags")]
        jobs = requests.get(d.url + "/2/jobs", timeout=30).json()
    assert refused == [403] * len(writes)
    assert (anonymous, reads, jobs) == (401, ["regular", []], [])


@requires_ganeti_rapi
@requires_openssl
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_ganeti_rapi_client_writes(tmp_path: Path) -> None:
    """Ganeti's client drives every write resource; every job succeeds."""
    script = """
import json, sys
from ganeti.rapi import client
host, port, user, password = sys.argv[1:5]
c = client.GanetiRapiClient(host, port=int(port), username=user, password=password)
def done(job):
    return c.WaitForJobCompletion(job, period=0.1) or c.GetJobStatus(job)
out = {}
job = c.CreateInstance("create", "web-01", "drbd", [{"size": 10240}], [],
                       iallocator="hail", os="debootstrap",
                       beparams={"maxmem": 2048, "vcpus": 2})
out["create"] = done(job)
inst = c.GetInstance("web-01")
out["migrate"] = done(c.MigrateInstance("web-01"))
out["failover"] = done(c.FailoverInstance("web-01"))
spare = [n["name"] for n in c.GetNodes(bulk=True)
         if n["name"] not in [inst["pnode"]] + inst["snodes"]][0]
out["replace"] = done(c.ReplaceInstanceDisks("web-01", mode="replace_new_secondary",
                                             remote_node=spare))
node = c.GetInstance("web-01")["snodes"][0]
job = c.EvacuateNode(node, iallocator="hail", mode="secondary-only")
change = c.WaitForJobChange(job, ["status"], None, None)
out["evacuate"] = done(job)
follow = c.GetJobStatus(job)["opresult"][0]["jobs"]
out["follow"] = all(done(j) for ok, j in follow)
out["moved"] = node not in c.GetInstance("web-01")["snodes"]
out["change"] = change["job_info"][0] in ("queued", "waiting", "running", "success")
out["tags"] = done(c.AddInstanceTags("web-01", ["a", "b"]))
out["tag_list"] = c.GetInstanceTags("web-01")
out["shutdown"] = done(c.ShutdownInstance("web-01"))
out["modify"] = done(c.ModifyInstance("web-01", disk_template="plain"))
out["startup"] = done(c.StartupInstance("web-01"))
out["reboot"] = done(c.RebootInstance("web-01", reboot_type="soft"))
regular = [n["name"] for n in c.GetNodes(bulk=True) if n["role"] == "R"][-1]
out["role"] = done(c.SetNodeRole(regular, "drained"))
out["role_now"] = c.GetNodeRole(regular)
out["delete"] = done(c.DeleteInstance("web-01"))
new = [{"name": "m%d" % i, "disk_template": "plain", "disks": [{"size": 1024}],
        "nics": [], "mode": "create", "beparams": {"maxmem": 512}} for i in range(2)]
job = c.InstancesMultiAlloc(new, iallocator="hail")
out["multi"] = done(job)
result = c.GetJobStatus(job)["opresult"][0]
out["multi_jobs"] = all(done(j) for ok, j in result["jobs"])
out["allocatable"] = result["allocatable"]
out["node_migrate"] = done(c.MigrateNode(c.GetInstance("inst-03")["pnode"], mode="live"))
print(json.dumps(out))
"""
    (tmp_path / "cluster.data").write_text(CLUSTER)
    cert, key = make_self_signed(tmp_path)
    with daemon(tmp_path / "state", "--init-from", str(tmp_path / "cluster.data"),
                "--users", str(users_file(tmp_path)), "--tls-cert", str(cert),
                "--tls-key", str(key)) as d:
        host, port = d.url.removeprefix("https://").split(":")
        proc = subprocess.run([SYSTEM_PYTHON, "-c", script, host, port, "ops", "secret"],
                              capture_output=True, text=True, timeout=300, check=False)
        refused = requests.post(d.url + "/2/instances", json=creation("x"),
                                auth=("reader", "plainpw"), verify=False, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "create": True, "migrate": True, "failover": True, "replace": True,
        "evacuate": True, "follow": True, "moved": True, "change": True, "tags": True,
        "tag_list": ["a", "b"], "shutdown": True, "modify": True, "startup": True,
        "reboot": True, "role": True, "role_now": "drained", "delete": True, "multi": True,
        "multi_jobs": True, "allocatable": ["m0", "m1"], "node_migrate": True}
    assert refused.status_code == 403
