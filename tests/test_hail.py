"""hail on its own (no Ganeti needed): every request type, options, bad input, JIT twin.

The answers are checked for what they must mean (the instance lands on live nodes of one
group with room for it, evacuated nodes are emptied, the state file changes), and the
compiled kernels must give byte-identical answers to the plain-Python ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GANETI_FIXTURES, REPO, requires_shared

from fixtures.generator import GenParams, generate
from fixtures.requests import random_requests, request_json
from htools.backends.text import load_text
from solver.records import ClusterData, Group, Node


def hail(args: list[str], jit: str = "0", stdin: str | None = None) -> tuple[int, str, str]:
    env = {**os.environ, "HTOOLS_JIT": jit, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "htools.cli.hail", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def answer(args: list[str], **kw) -> dict:
    rc, out, err = hail(args, **kw)
    assert rc == 0, err
    assert "Traceback" not in err
    return json.loads(out)


@pytest.fixture(scope="module")
def cluster():
    return generate(GenParams(nodes=10, instances=40, groups=2, fill=0.2), 3)


def _request(tmp_path: Path, cluster, req: dict) -> str:
    path = tmp_path / "req.json"
    path.write_text(request_json(cluster, req), encoding="utf-8")
    return str(path)


def _new(name: str, template: str, mem: int = 1024) -> dict:
    return {"name": name, "memory": mem, "vcpus": 1, "disk_space_total": 10240,
            "disks": [{"size": 10240, "mode": "rw"}], "disk_template": template,
            "spindle_use": 1, "tags": [], "nics": [],
            "required_nodes": 2 if template == "drbd" else 1}


def test_allocate_drbd_places_on_two_live_nodes_of_one_group(tmp_path, cluster) -> None:
    ans = answer([_request(tmp_path, cluster, {"type": "allocate", **_new("x", "drbd")})])
    assert ans["success"], ans["info"]
    p, s = ans["result"]
    nodes = {n.name: n for n in cluster.nodes}
    assert p != s and nodes[p].group == nodes[s].group
    assert not nodes[p].offline and not nodes[s].offline
    assert ans["info"].startswith("Request successful: Selected group: ")


def test_allocate_too_big_fails_with_reasons(tmp_path, cluster) -> None:
    req = {"type": "allocate", **_new("x", "plain", mem=10 ** 7)}
    ans = answer([_request(tmp_path, cluster, req)])
    assert not ans["success"] and ans["result"] == []
    assert "No valid allocation solutions, failure reasons: FailMem" in ans["info"]


def test_multi_allocate_accounts_for_earlier_entries(tmp_path, cluster) -> None:
    entries = [_new(f"m{j}", "plain", mem=2048) for j in range(4)]
    ans = answer([_request(tmp_path, cluster, {"type": "multi-allocate", "instances": entries})])
    done, failed = ans["result"]
    assert len(done) + len(failed) == 4
    assert ans["info"] == "Request successful: %d instances failed to allocate and %d were " \
        "allocated successfully" % (len(failed), len(done))


def test_node_evacuate_moves_off_the_nodes(tmp_path, cluster) -> None:
    drbd = [i for i in cluster.instances if i.template == "drbd"][:2]
    req = {"type": "node-evacuate", "instances": [i.name for i in drbd], "evac_mode": "all"}
    moved, failed, jobs = answer([_request(tmp_path, cluster, req)])["result"]
    assert len(moved) + len(failed) == 2 and len(jobs) == len(moved)
    old = {i.name: {cluster.nodes[i.pnode].name, cluster.nodes[i.snode].name} for i in drbd}
    for name, _group, nodes in moved:
        assert not set(nodes) & old[name]
    for job in jobs:
        assert {op["OP_ID"] for op in job} <= {"OP_INSTANCE_MIGRATE",
                                               "OP_INSTANCE_REPLACE_DISKS"}


def test_relocate_returns_a_new_secondary(tmp_path, cluster) -> None:
    inst = next(i for i in cluster.instances if i.template == "drbd")
    req = {"type": "relocate", "name": inst.name, "required_nodes": 1,
           "relocate_from": [cluster.nodes[inst.snode].name]}
    ans = answer([_request(tmp_path, cluster, req)])
    assert ans["success"], ans["info"]
    assert ans["result"] != [cluster.nodes[inst.snode].name]
    assert ans["result"] != [cluster.nodes[inst.pnode].name]


def test_relocate_wrong_node_is_refused(tmp_path, cluster) -> None:
    inst = next(i for i in cluster.instances if i.template == "drbd")
    req = {"type": "relocate", "name": inst.name, "required_nodes": 1,
           "relocate_from": [cluster.nodes[inst.pnode].name]}
    ans = answer([_request(tmp_path, cluster, req)])
    assert not ans["success"]
    assert "excluded nodes not equal to instance's secondary" in ans["info"]


def test_change_group_moves_to_the_other_group(tmp_path, cluster) -> None:
    inst = next(i for i in cluster.instances if i.template == "drbd")
    req = {"type": "change-group", "instances": [inst.name], "target_groups": []}
    moved, failed, _ = answer([_request(tmp_path, cluster, req)])["result"]
    if moved:
        assert moved[0][1] != cluster.groups[cluster.nodes[inst.pnode].group].name
    else:
        assert failed and failed[0][0] == inst.name


JIT_SHAPES = [GenParams(nodes=12, instances=60, groups=2, exclusion=2, locations=2),
              # an offline node reports no memory: x/0 must give inf, not an exception
              GenParams(nodes=8, instances=30, offline_nodes=1, skew=0.9)]


@pytest.mark.parametrize("req_kind", range(8))
@pytest.mark.parametrize("shape", range(len(JIT_SHAPES)))
def test_compiled_kernels_answer_like_plain_python(tmp_path, shape: int, req_kind: int) -> None:
    cluster = generate(JIT_SHAPES[shape], 5)
    req = random_requests(cluster, 5)[req_kind]
    path = _request(tmp_path, cluster, req)
    assert hail([path], jit="1") == hail([path], jit="0")


def test_save_writes_state_before_and_after(tmp_path, cluster) -> None:
    path = _request(tmp_path, cluster, {"type": "allocate", **_new("x", "drbd")})
    base = tmp_path / "state"
    rc, out, err = hail(["-S", str(base), path])
    assert rc == 0 and json.loads(out)["success"]
    pre = load_text(str(base) + ".pre-ialloc")
    post = load_text(str(base) + ".post-ialloc")
    assert len(post.instances) == len(pre.instances) + 1
    assert "The cluster state after iallocator run has been written" in err


@pytest.mark.parametrize("text, message", [
    ("", "Error: Parsing input IAllocator message: Invalid JSON"),
    ("[]", "Error: Parsing input IAllocator message: Unable to read JSObject"),
    ("{}", "Error: invalid iallocator message: key 'request' not found"),
])
def test_bad_requests_exit_1_without_traceback(text: str, message: str) -> None:
    rc, out, err = hail(["-"], stdin=text)
    assert rc == 1 and out == ""
    assert err.startswith(message) and "Traceback" not in err


def test_arguments_are_checked() -> None:
    assert hail([])[0] == 1
    assert hail(["a", "b"])[2] == "Error: Only one argument is accepted (the input file)\n"


@requires_shared
def test_allocate_secondary_fixture() -> None:
    ans = answer([str(GANETI_FIXTURES / "hail-alloc-secondary.json")])
    assert ans["result"] == "node-2-2"


@requires_shared
def test_dedicated_fixture_uses_lost_allocations() -> None:
    ans = answer([str(GANETI_FIXTURES / "hail-alloc-dedicated-1.json")])
    assert ans["result"] == ["node2-quarter"]
    assert "score: ([0,0,1],20490)" in ans["info"]


# ---- --solver ilp (our addition) -------------------------------------------------------

def _two_node_cluster(tags: list[str] | None = None) -> ClusterData:
    nodes = [Node("nodeA", t_mem=12288, n_mem=0, f_mem=12288, t_dsk=204800, f_dsk=204800,
                  t_cpu=8, offline=False, group=0),
             Node("nodeB", t_mem=7168, n_mem=0, f_mem=7168, t_dsk=204800, f_dsk=204800,
                  t_cpu=8, offline=False, group=0)]
    return ClusterData([Group("default", "uuid-g1")], nodes, [], cluster_tags=tags or [])


def _plain(name: str, mem: int, tags: list[str] | None = None) -> dict:
    return {**_new(name, "plain", mem), "tags": tags or []}


def test_ilp_places_what_greedy_cannot(tmp_path) -> None:
    """Greedy puts the small instance on the roomier node; then the big one fits nowhere."""
    req = {"type": "multi-allocate",
           "instances": [_plain("small", 5000), _plain("big", 10000)]}
    path = _request(tmp_path, _two_node_cluster(), req)
    greedy = answer(["--no-capacity-checks", path])
    assert not greedy["success"] and "FailMem: 2" in greedy["info"]
    ilp = answer(["--no-capacity-checks", "--solver", "ilp", path])
    assert ilp["success"]
    assert ilp["result"] == [[["small", ["nodeB"]], ["big", ["nodeA"]]], []]
    assert "(ilp: optimal, gap 0.00%)" in ilp["info"]


def test_ilp_keeps_exclusion_tags_apart(tmp_path) -> None:
    cluster = _two_node_cluster(["htools:iextags:service"])
    req = {"type": "multi-allocate",
           "instances": [_plain("a", 1024, ["service:db"]), _plain("b", 1024, ["service:db"])]}
    ans = answer(["--no-capacity-checks", "--solver", "ilp", _request(tmp_path, cluster, req)])
    placed = {name: nodes[0] for name, nodes in ans["result"][0]}
    assert placed["a"] != placed["b"]


def test_ilp_answers_are_valid_on_generated_clusters(tmp_path, cluster) -> None:
    entries = [_new(f"m{j}", "drbd" if j % 2 else "plain", 2048) for j in range(6)]
    req = {"type": "multi-allocate", "instances": entries}
    ans = answer(["--solver", "ilp", "--ilp-time-limit", "5", _request(tmp_path, cluster, req)])
    group_of = {n.name: n.group for n in cluster.nodes}
    for _name, nodes in ans["result"][0]:
        assert len(set(nodes)) == len(nodes)
        assert len({group_of[n] for n in nodes}) == 1


def test_bad_solver_option() -> None:
    rc, out, err = hail(["--solver", "magic", "x.json"])
    assert rc == 1 and "Invalid solver 'magic'" in err


@requires_shared
def test_replacement_data_without_the_instance_is_an_error() -> None:
    """-t gives other cluster data; a request naming an instance it lacks must not crash."""
    rc, out, err = hail(["-t", str(GANETI_FIXTURES / "hbal-location-1.data"),
                         str(GANETI_FIXTURES / "hail-node-evac.json")])
    assert rc == 1 and out == "" and "Traceback" not in err
    assert err.endswith("Error: the request's instance #4 is not in the cluster data given\n")
