"""The simulated node driver: moves change placement and free resources as hbal models them.

The strongest check is against the solver itself: after the driver carries
out every opcode of an hbal solution, loading the changed cluster gives the
score hbal predicted for that solution.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import REPO

from executor.jobs import solution_jobsets
from executor.nodes.sim import OpError, lock_names, run_opcode
from htools.backends.text import load_text, parse_text
from solver.balance import BalanceOptions, Balancer
from solver.loader import load_cluster
from solver.metrics import compute_score

GROUP = "g|00000000-0000-0000-0000-000000000001|preferred||"
NODES = [f"n{i}|16384|1024|{free}|100000|{dfree}|8|{role}|"
         "00000000-0000-0000-0000-000000000001|1||N|0|1|1.0"
         for i, (free, dfree, role) in enumerate(
             [(4096, 50000, "M"), (8192, 60000, "N"), (8192, 70000, "N"), (0, 0, "Y")])]
INSTANCES = ["web|2048|10000|2|running|Y|n0|n1|drbd||1|-|N",
             "db|1024|5000|1|ADMIN_down|Y|n1|n0|drbd||1|-|N",
             "local|512|2000|1|running|Y|n2||plain||1|-|N",
             "shared|1024|3000|1|running|Y|n0||rbd||1|-|N"]


def cluster():
    return parse_text("\n".join([GROUP, "", *NODES, "", *INSTANCES, "", ""]) + "\n")


def run(data, **op):
    lines: list[str] = []
    run_opcode(data, op, lines.append)
    return lines


def by_name(data, name):
    return next(i for i in data.instances if i.name == name)


def test_migrate_drbd_swaps_nodes_and_moves_memory() -> None:
    data = cluster()
    lines = run(data, OP_ID="OP_INSTANCE_MIGRATE", instance_name="web")
    web = by_name(data, "web")
    assert (web.pnode, web.snode) == (1, 0)
    assert [n.f_mem for n in data.nodes[:2]] == [4096 + 2048, 8192 - 2048]
    assert [n.f_dsk for n in data.nodes[:2]] == [50000, 60000]
    assert lines == ["Migrating instance web", "* instance web is now on n1 (was n0)"]


def test_stopped_instance_moves_no_memory() -> None:
    data = cluster()
    run(data, OP_ID="OP_INSTANCE_FAILOVER", instance_name="db")
    assert (by_name(data, "db").pnode, [n.f_mem for n in data.nodes[:2]]) == (0, [4096, 8192])


def test_shared_storage_goes_to_the_target_node() -> None:
    data = cluster()
    run(data, OP_ID="OP_INSTANCE_FAILOVER", instance_name="shared", target_node="n2")
    assert by_name(data, "shared").pnode == 2
    assert data.nodes[2].f_mem == 8192 - 1024 and data.nodes[2].f_dsk == 70000


def test_shared_storage_goes_where_our_hail_relocates_it() -> None:
    data = cluster()
    lines = run(data, OP_ID="OP_INSTANCE_MIGRATE", instance_name="shared", iallocator="hail")
    assert by_name(data, "shared").pnode in (1, 2)  # n3 is offline
    assert lines[-1].startswith("* instance shared is now on n")


def test_replace_secondary_moves_disks() -> None:
    data = cluster()
    run(data, OP_ID="OP_INSTANCE_REPLACE_DISKS", instance_name="web",
        mode="replace_new_secondary", remote_node="n2")
    assert by_name(data, "web").snode == 2
    assert [n.f_dsk for n in data.nodes[:3]] == [50000, 70000, 60000]


@pytest.mark.parametrize(("op", "message"), [
    ({"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "local"},
     "Instance's disk layout 'plain' does not allow migrations"),
    ({"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "ghost"}, "Instance 'ghost' not known"),
    ({"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "web", "target_node": "n2"},
     "Instances with disk template drbd cannot be migrated to arbitrary nodes (target n2)"),
    ({"OP_ID": "OP_INSTANCE_FAILOVER", "instance_name": "shared"},
     "No iallocator or node given and no cluster-wide default iallocator found; please "
     "specify either an iallocator or a node, or set a cluster-wide default iallocator"),
    ({"OP_ID": "OP_INSTANCE_FAILOVER", "instance_name": "shared", "target_node": "n3"},
     "Can't use drained node n3"),
    ({"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": "web",
      "mode": "replace_new_secondary", "remote_node": "n1"},
     "The specified node is already the secondary node of the instance"),
    ({"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": "local",
      "mode": "replace_new_secondary", "remote_node": "n1"},
     "Can only run replace disks for DRBD8-based instances, not plain"),
    ({"OP_ID": "OP_NODE_POWERCYCLE", "node_name": "n1"},
     "Opcode OP_NODE_POWERCYCLE is not supported by the simulated nodes"),
])
def test_refusals(op: dict, message: str) -> None:
    data = cluster()
    with pytest.raises(OpError) as err:
        run(data, **op)
    assert str(err.value) == message and err.value.kind == "OpPrereqError"


def test_not_enough_memory() -> None:
    data = cluster()
    data.nodes[1].f_mem = 1000
    with pytest.raises(OpError, match="Not enough memory on node n1 for starting instance "
                                      "web: needed 2048 MiB, available 1000 MiB"):
        run(data, OP_ID="OP_INSTANCE_MIGRATE", instance_name="web")


def test_lock_names_cover_instance_its_nodes_and_the_target() -> None:
    op = {"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": "web", "remote_node": "n2"}
    assert lock_names(cluster(), op) == {"instance/web", "node/n0", "node/n1", "node/n2"}


def test_the_score_hbal_predicts_is_the_score_after_the_moves() -> None:
    data = load_text(str(REPO / "fixtures" / "data" / "small.data"))  # one group, all online
    state = load_cluster(copy.deepcopy(data))
    initial = state.copy()
    nodes, insts = np.arange(len(data.nodes)), np.arange(len(data.instances))
    result = Balancer(state, nodes, insts, BalanceOptions()).run(lambda mv, pos: None)
    assert result.moves
    for jobset in solution_jobsets(initial, result.moves):
        for job in jobset:
            for op in job.opcodes:
                run_opcode(data, op, lambda line: None)
    moved = load_cluster(data)
    assert compute_score(moved, nodes) == pytest.approx(result.final_score, abs=1e-8)
