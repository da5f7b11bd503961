"""Jobsets and opcodes (executor.jobs): what -X runs is what hbal -C prints.

Opcodes are turned back into the gnt-instance commands they stand for
(migrate/failover, with -n for a target; replace-disks -n NODE), so every move
kind and every fixture solution can be compared with the -C listing: of
Ganeti's hbal when it is installed, else of ours (itself byte-identical).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import GANETI_BIN, GANETI_FIXTURES, requires_shared, run_tool

from executor.jobs import (
    AnswerError,
    Job,
    as_jobsets,
    hail_jobsets,
    jobset_description,
    move_job,
    solution_jobsets,
)
from fixtures.generator import GenParams, generate
from htools.backends.text import dump_text, parse_text
from htools.cli.hbal import select_group
from htools.report import command_lines, move_commands, split_jobsets
from solver import cluster as C
from solver import moves as M
from solver.balance import BalanceOptions, Balancer
from solver.loader import LoadOptions, load_cluster, set_node_status
from solver.moves import Move

KINDS = (M.FAILOVER, M.FAILOVER_TO_ANY, M.REPLACE_SECONDARY, M.REPLACE_PRIMARY,
         M.REPLACE_AND_FAILOVER, M.FAILOVER_AND_REPLACE)


def as_commands(job: Job, alias: dict[str, str], running: bool) -> list[str]:
    """The gnt-instance commands -C prints for a job's opcodes (names as aliases)."""
    out = []
    for op in job.opcodes:
        name = alias.get(op["instance_name"], op["instance_name"])
        if op["OP_ID"] in ("OP_INSTANCE_MIGRATE", "OP_INSTANCE_FAILOVER"):
            verb = "migrate" if running else "failover"
            target = f" -n {alias[op['target_node']]}" if "target_node" in op else ""
            out.append(f"{verb} -f{target} {name}")
        else:
            assert op["OP_ID"] == "OP_INSTANCE_REPLACE_DISKS"
            assert op["mode"] == "replace_new_secondary" and op["disks"] == []
            out.append(f"replace-disks -n {alias[op['remote_node']]} {name}")
    return out


def aliases(state: C.ClusterState) -> dict[str, str]:
    full = [n.name for n in state.data.nodes] + [i.name for i in state.data.instances]
    return dict(zip(full, list(state.node_alias) + list(state.inst_alias), strict=True))


def listing(state: C.ClusterState, jobsets: list[list[Job]]) -> list[str]:
    """Our jobsets written as hbal -C writes its command list."""
    alias = aliases(state)
    names = [i.name for i in state.data.instances]
    lines: list[str] = []
    for js_no, js in enumerate(jobsets, 1):
        lines += ["", f"echo jobset {js_no}, {len(js)} jobs"]
        for j_no, job in enumerate(js, 1):
            running = bool(state.inst.running[names.index(job.instance)])
            lines.append(f"  echo job {js_no}/{j_no}")
            lines += ["  gnt-instance " + c for c in as_commands(job, alias, running)]
    return lines


# --- every move kind ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def drbd_state() -> C.ClusterState:
    return load_cluster(generate(GenParams(nodes=5, instances=12, mix=(("drbd", 1.0),),
                                           forthcoming=0.3, down=0.3), 3), LoadOptions())


def kind_move(state: C.ClusterState, k: int, kind: int) -> Move:
    p, s = int(state.inst.pnode[k]), int(state.inst.snode[k])
    t = next(n for n in range(state.n_nodes) if n not in (p, s))
    new = {M.FAILOVER: (s, p), M.FAILOVER_TO_ANY: (t, -1), M.REPLACE_SECONDARY: (p, t),
           M.REPLACE_PRIMARY: (t, s), M.REPLACE_AND_FAILOVER: (t, p),
           M.FAILOVER_AND_REPLACE: (s, t)}[kind]
    target = -1 if kind == M.FAILOVER else t
    return Move(k, kind, target, p, s, new[0], new[1], 0.0)


@pytest.mark.parametrize("kind", KINDS)
def test_every_move_kind_matches_its_commands(drbd_state: C.ClusterState, kind: int) -> None:
    st = drbd_state
    alias = aliases(st)
    for k in range(st.n_instances):
        mv = kind_move(st, k, kind)
        job = move_job(st, mv)
        assert job.instance == st.data.instances[k].name
        assert as_commands(job, alias, bool(st.inst.running[k])) == \
            move_commands(st, mv, st.inst_alias[k])
        failover = "OP_INSTANCE_FAILOVER" if st.inst.forthcoming[k] else "OP_INSTANCE_MIGRATE"
        assert {op["OP_ID"] for op in job.opcodes} <= {failover, "OP_INSTANCE_REPLACE_DISKS"}


def test_opcodes_have_ganetis_shape(drbd_state: C.ClusterState) -> None:
    st = drbd_state
    k = next(k for k in range(st.n_instances) if not st.inst.forthcoming[k])
    mv = kind_move(st, k, M.REPLACE_PRIMARY)
    name, target = st.data.instances[k].name, st.data.nodes[mv.target].name
    mig = {"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": name,
           "allow_runtime_changes": False, "ignore_ipolicy": False, "cleanup": False,
           "allow_failover": True, "ignore_hvversions": True}
    rep = {"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": name,
           "early_release": False, "ignore_ipolicy": False, "mode": "replace_new_secondary",
           "disks": [], "remote_node": target}
    assert move_job(st, mv).opcodes == (mig, rep, mig)
    fa = move_job(st, kind_move(st, k, M.FAILOVER_TO_ANY)).opcodes
    assert fa == ({**mig, "target_node": target} | {},)
    assert list(fa[0]) == ["OP_ID", "instance_name", "target_node", "allow_runtime_changes",
                           "ignore_ipolicy", "cleanup", "allow_failover", "ignore_hvversions"]


def test_jobsets_follow_split_jobsets(drbd_state: C.ClusterState) -> None:
    st = drbd_state
    moves = [kind_move(st, k, kind) for k, kind in zip(range(st.n_instances), KINDS * 2,
                                                         strict=False)]
    jobsets = solution_jobsets(st, moves)
    grouped = split_jobsets(st, moves)
    assert [len(js) for js in jobsets] == [len(g) for g in grouped]
    assert jobsets == as_jobsets(st, grouped)
    assert listing(st, jobsets) == command_lines(st, grouped, False)
    assert jobset_description(jobsets[0]).startswith("Executing jobset for instances ")


# --- fixture solutions against hbal -C ------------------------------------------------------

FIXTURES = ("hbal-migration-1.data", "hbal-migration-3.data", "hbal-excl-tags.data",
            "hbal-forth.data", "hbal-evac.data", "hbal-location-1.data",
            "hbal-desiredlocation-2.data", "partly-used.data", "shared-n1-restriction.data",
            "common-suffix.data")
# Generated clusters give long solutions with several jobs per jobset.
SHAPES = {"drbd": GenParams(nodes=12, instances=70, mix=(("drbd", 1.0),), skew=0.9),
          "mixed": GenParams(nodes=10, instances=50, mix=(("drbd", 0.6), ("plain", 0.4)),
                             forthcoming=0.1, down=0.2, skew=0.8)}


def our_jobsets(path: Path) -> tuple[C.ClusterState, list[list[Job]]]:
    """Balance a cluster file in process with hbal's default options."""
    data = parse_text(path.read_text())
    state = load_cluster(data, LoadOptions())
    set_node_status(state, max_cpu=None, min_disk=0.0, offline=[])
    _, nodes, insts = select_group(state, None)
    initial = state.copy()
    moves = Balancer(state, nodes, insts, BalanceOptions(
        disk_moves=True, instance_moves=True, restricted_migration=False,
        ignore_soft_errors=False, evac_mode=False, min_gain=0.01, min_gain_limit=0.1,
        min_score=1e-9, max_length=-1)).run().moves
    return initial, solution_jobsets(initial, moves)


def check_against_print_commands(path: Path) -> list[list[Job]]:
    ganeti = (GANETI_BIN / "hbal").is_file()
    rc, out, err = run_tool(["hbal", "-t", str(path), "-C"], ours=not ganeti)
    assert rc == 0, err
    head, _, printed = out.partition("Commands to run to reach the above solution:\n")
    state, jobsets = our_jobsets(path)
    expected = [line[2:] for line in printed.rstrip("\n").split("\n")] if printed else []
    assert listing(state, jobsets) == expected
    assert bool(jobsets) == ("No solution found" not in head)
    return jobsets


@requires_shared
@pytest.mark.parametrize("fixture", [
    pytest.param(f, marks=pytest.mark.skipif(not (GANETI_FIXTURES / f).exists(),
                                             reason=f"{GANETI_FIXTURES / f} missing"))
    for f in FIXTURES])
def test_fixture_jobsets_match_print_commands(fixture: str) -> None:
    check_against_print_commands(GANETI_FIXTURES / fixture)


@pytest.mark.parametrize("shape", SHAPES)
def test_generated_jobsets_match_print_commands(shape: str, tmp_path: Path) -> None:
    path = tmp_path / "cluster.data"
    path.write_text(dump_text(generate(SHAPES[shape], 7)))
    jobsets = check_against_print_commands(path)
    assert max(len(js) for js in jobsets) > 1


# --- hail answers ----------------------------------------------------------------------


def test_relocate_answer_is_a_replace_disks() -> None:
    request = {"request": {"type": "relocate", "name": "inst1", "relocate_from": ["n2"],
                           "required_nodes": 1}}
    answer = {"success": True, "info": "ok", "result": ["n3"]}
    (jobset,) = hail_jobsets(request, answer)
    assert jobset == [Job("inst1", ({"OP_ID": "OP_INSTANCE_REPLACE_DISKS",
                                     "instance_name": "inst1", "early_release": False,
                                     "ignore_ipolicy": False, "mode": "replace_new_secondary",
                                     "disks": [], "remote_node": "n3"},))]


@requires_shared
@pytest.mark.parametrize("fixture", ["hail-node-evac.json", "hail-change-group.json"])
def test_evacuation_answers_become_one_jobset(fixture: str) -> None:
    rc, out, _ = run_tool(["hail", str(GANETI_FIXTURES / fixture)], ours=True)
    assert rc == 0
    answer = json.loads(out)
    request = json.loads((GANETI_FIXTURES / fixture).read_text())
    (jobset,) = hail_jobsets(request, answer)
    assert [list(job.opcodes) for job in jobset] == answer["result"][2]
    assert {job.instance for job in jobset} == {m[0] for m in answer["result"][0]}


@pytest.mark.parametrize(("request_", "answer", "message"), [
    ({"request": {"type": "relocate", "name": "i"}}, {"success": False, "info": "no nodes"},
     "the iallocator answer is a failure: no nodes"),
    ({"request": {"type": "allocate"}}, {"success": True, "result": ["a", "b"]},
     "a allocate answer has no jobs to run"),
    ({"request": {"type": "relocate", "name": "i"}}, {"success": True, "result": [1]},
     "relocate answer: expected one node name"),
    ({"request": {"type": "node-evacuate"}}, {"success": True, "result": [[], [], [[{}]]]},
     "iallocator answer: a job's opcodes must all name one instance and have an OP_ID"),
    ({"request": {"type": "node-evacuate"}}, {"success": True, "result": [[], []]},
     "node-evacuate answer: expected [moved, failed, jobs]"),
    ({}, {"success": True, "result": []}, "iallocator request: missing 'request'"),
])
def test_bad_answers_are_refused(request_: dict, answer: dict, message: str) -> None:
    with pytest.raises(AnswerError) as err:
        hail_jobsets(request_, answer)
    assert str(err.value) == message


def test_empty_evacuation_has_no_jobsets() -> None:
    assert hail_jobsets({"request": {"type": "change-group"}},
                        {"success": True, "result": [[], [], []]}) == []


def test_move_job_uses_full_names() -> None:
    st = load_cluster(generate(GenParams(nodes=4, instances=6, mix=(("drbd", 1.0),)), 1),
                      LoadOptions())
    assert st.suffix and np.all(st.inst.snode >= 0)
    mv = kind_move(st, 0, M.REPLACE_SECONDARY)
    (op,) = move_job(st, mv).opcodes
    assert op["instance_name"] == st.data.instances[0].name != st.inst_alias[0]
    assert op["remote_node"] == st.data.nodes[mv.target].name != st.node_alias[mv.target]
