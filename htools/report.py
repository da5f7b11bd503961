"""Ganeti-compatible text output: step lines, commands, jobsets, tables.

Everything here formats results the way Ganeti's htools print them (spec §4.9),
byte for byte; no algorithm lives here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from htools.fmt import ensure_quoted, fmt_fixed, print_table, show_double, show_int_list
from solver import cluster as C
from solver.metrics import METRIC_NAMES, WEIGHTS, score_detail
from solver.moves import (
    FAILOVER,
    FAILOVER_AND_REPLACE,
    FAILOVER_TO_ANY,
    REPLACE_AND_FAILOVER,
    REPLACE_PRIMARY,
    REPLACE_SECONDARY,
    Move,
)


def shell_keys(prefix: str, pairs: Sequence[tuple[str, str]]) -> list[str]:
    """printKeys: ``PREFIX_KEY=value`` lines, values quoted unless alphanumeric or '.'."""
    return [f"{prefix}_{k.upper()}={ensure_quoted(v)}" for k, v in pairs]


def move_description(state: C.ClusterState, mv: Move) -> str:
    """The ``a=`` text of a step line (node aliases)."""
    al = state.node_alias
    if mv.kind == FAILOVER:
        return "f"
    if mv.kind == FAILOVER_TO_ANY:
        return "fa:" + al[mv.new_primary]
    if mv.kind == FAILOVER_AND_REPLACE:
        return "f r:" + al[mv.new_secondary]
    if mv.kind == REPLACE_SECONDARY:
        return "r:" + al[mv.new_secondary]
    if mv.kind == REPLACE_AND_FAILOVER:
        return "r:" + al[mv.new_primary] + " f"
    return "f r:" + al[mv.new_primary] + " f"


def move_commands(state: C.ClusterState, mv: Move, name: str) -> list[str]:
    """gnt-instance sub-commands of a move (``name`` = alias or full name)."""
    al = state.node_alias
    mig = "migrate" if state.inst.running[mv.instance] else "failover"
    f = f"{mig} -f {name}"
    if mv.kind == FAILOVER:
        return [f]
    if mv.kind == FAILOVER_TO_ANY:
        return [f"{mig} -f -n {al[mv.new_primary]} {name}"]
    if mv.kind == FAILOVER_AND_REPLACE:
        return [f, f"replace-disks -n {al[mv.new_secondary]} {name}"]
    if mv.kind == REPLACE_SECONDARY:
        return [f"replace-disks -n {al[mv.new_secondary]} {name}"]
    if mv.kind == REPLACE_AND_FAILOVER:
        return [f"replace-disks -n {al[mv.new_primary]} {name}", f]
    assert mv.kind == REPLACE_PRIMARY
    return [f, f"replace-disks -n {al[mv.new_primary]} {name}", f]


def _placement(state: C.ClusterState, p: int, s: int) -> str:
    al = state.node_alias
    return al[p] if s < 0 else f"{al[p]}:{al[s]}"


def step_line(state: C.ClusterState, mv: Move, pos: int, imlen: int, nmlen: int) -> str:
    pm = 2 * nmlen + 1
    old = _placement(state, mv.old_primary, mv.old_secondary)
    new = _placement(state, mv.new_primary, mv.new_secondary)
    return "  %3d. %-*s %-*s => %-*s %s a=%s" % (
        pos, imlen, state.inst_alias[mv.instance], pm, old, pm, new,
        fmt_fixed(mv.score, 8, 12), move_description(state, mv))


def affected_nodes(state: C.ClusterState, mv: Move) -> list[int]:
    """Nodes a move touches (jobset grouping): new pri/sec, old pri/sec."""
    nodes = [mv.new_primary, mv.new_secondary, mv.old_primary]
    if state.inst.template[mv.instance] == C.DT_DRBD:
        nodes.append(mv.old_secondary)
    out: list[int] = []
    for n in nodes:
        if n >= 0 and n not in out:
            out.append(n)
    return out


def split_jobsets(state: C.ClusterState, moves: Sequence[Move]) -> list[list[Move]]:
    """Ganeti's jobset grouping: consecutive moves on disjoint nodes run together."""
    jobsets: list[list[Move]] = []
    buf: set[int] = set()
    for mv in reversed(moves):
        aff = set(affected_nodes(state, mv))
        if not jobsets:
            jobsets = [[mv]]
            buf = aff
        elif not aff & buf:
            jobsets[0].insert(0, mv)
            buf = aff | buf
        else:
            jobsets.insert(0, [mv])
            buf = aff
    return jobsets


def command_lines(state: C.ClusterState, jobsets: list[list[Move]],
                  with_check: bool, full_names: bool = False) -> list[str]:
    """formatCmds; instances by alias (hbal) or, with ``full_names``, by name (hsqueeze)."""
    names = [i.name for i in state.data.instances] if full_names else state.inst_alias
    lines: list[str] = []
    for js_no, js in enumerate(jobsets, 1):
        lines.append("")
        lines.append(f"echo jobset {js_no}, {len(js)} jobs")
        for j_no, mv in enumerate(js, 1):
            lines.append(f"  echo job {js_no}/{j_no}")
            if with_check:
                lines.append("  check")
            lines.extend("  gnt-instance " + c
                         for c in move_commands(state, mv, names[mv.instance]))
    return lines


SCRIPT_HEADER = """#!/bin/sh

# Auto-generated script for executing cluster rebalancing

# To stop, touch the file /tmp/stop-htools

set -e

check() {
  if [ -f /tmp/stop-htools ]; then
    echo 'Stop requested, exiting'
    exit 0
  fi
}

"""


def instance_table(state: C.ClusterState, insts: Sequence[int]) -> list[str]:
    """--print-instances table (full names)."""
    ia = state.inst
    names = [n.name for n in state.data.nodes]
    rows = [["F", "Name", "Pri_node", "Sec_node", "Auto_bal", "vcpu", "mem", "dsk",
             "lCpu", "lMem", "lDsk", "lNet"]]
    for k in sorted(insts):
        s = int(ia.snode[k])
        u = ia.util[k]
        rows.append(["R" if ia.running[k] else " ", state.data.instances[k].name,
                     names[ia.pnode[k]], "" if s < 0 else names[s],
                     "Y" if ia.auto_balance[k] else "N", "%3d" % ia.vcpus[k],
                     "%5d" % ia.mem[k], "%5d" % (ia.dsk[k] // 1024),
                     fmt_fixed(u[0], 3, 5), fmt_fixed(u[1], 3, 5),
                     fmt_fixed(u[2], 3, 5), fmt_fixed(u[3], 3, 5)])
    return print_table(rows, [False] * 5 + [True] * 7)


DEFAULT_FIELDS = ["status", "name", "tmem", "nmem", "imem", "xmem", "fmem", "umem", "rmem",
                  "tdsk", "fdsk", "tcpu", "ucpu", "pcnt", "scnt", "pfmem", "pfdsk", "rcpu",
                  "cload", "mload", "dload", "nload"]
_HEADERS = {
    "idx": ("Index", True), "name": ("Name", False), "fqdn": ("Name", False),
    "status": ("F", False), "tmem": ("t_mem", True), "nmem": ("n_mem", True),
    "imem": ("i_mem", True), "xmem": ("x_mem", True), "fmem": ("f_mem", True),
    "umem": ("u_mem", True), "rmem": ("r_mem", True), "amem": ("a_mem", True),
    "tdsk": ("t_dsk", True), "fdsk": ("f_dsk", True), "tcpu": ("pcpu", True),
    "ucpu": ("vcpu", True), "pcnt": ("pcnt", True), "scnt": ("scnt", True),
    "plist": ("primaries", True), "slist": ("secondaries", True),
    "pfmem": ("p_fmem", True), "pfdsk": ("p_fdsk", True), "rcpu": ("r_cpu", True),
    "cload": ("lCpu", True), "mload": ("lMem", True), "dload": ("lDsk", True),
    "nload": ("lNet", True), "ptags": ("PrimaryTags", False),
    "peermap": ("PeerMap", False), "spindle_count": ("NodeSpindles", True),
    "hi_spindles": ("MaxSpindles", True), "inst_spindles": ("InstSpindles", True),
}


def node_fields(spec: str | None) -> list[str]:
    """-p FIELDS: default list, '+a,b' extends it, else exactly the list."""
    if not spec:
        return list(DEFAULT_FIELDS)
    if spec.startswith("+"):
        return DEFAULT_FIELDS + spec[1:].split(",")
    return spec.split(",")


def _node_cell(state: C.ClusterState, n: int, f: str) -> str:
    nd = state.node
    col = nd[:, n]
    unalloc = int(np.trunc(col[C.T_MEM]) - col[C.N_MEM] - col[C.I_MEM]
                  - max(0.0, col[C.X_MEM]))
    if f == "idx":
        return "%4d" % n
    if f == "name":
        return state.node_alias[n]
    if f == "fqdn":
        return state.data.nodes[n].name
    if f == "status":
        return "-" if col[C.OFFLINE] else ("*" if col[C.N1_FAIL] else " ")
    if f == "tmem":
        return fmt_fixed(col[C.T_MEM], 0, 5)
    ints = {"nmem": C.N_MEM, "imem": C.I_MEM, "xmem": C.X_MEM, "fmem": C.F_MEM,
            "rmem": C.R_MEM, "ucpu": C.U_CPU, "pcnt": C.P_CNT, "scnt": C.S_CNT}
    if f in ints:
        w = 4 if f == "ucpu" else 3 if f in ("pcnt", "scnt") else 5
        return "%*d" % (w, int(col[ints[f]]))
    if f == "umem":
        return "%5d" % unalloc
    if f == "amem":
        return "%5d" % max(0, unalloc - int(col[C.R_MEM]))
    if f == "tdsk":
        return fmt_fixed(col[C.T_DSK] / 1024, 0, 5)
    if f == "fdsk":
        return "%5d" % (int(col[C.F_DSK]) // 1024)
    if f == "tcpu":
        return fmt_fixed(col[C.T_CPU], 0, 4)
    if f == "plist":
        return show_int_list(state.primaries(n))
    if f == "slist":
        return show_int_list(state.secondaries(n))
    if f == "pfmem":
        return fmt_fixed(unalloc / col[C.T_MEM], 4, 6)
    if f == "pfdsk":
        return fmt_fixed(float(state.p_dsk()[n]), 4, 6)
    if f == "rcpu":
        return fmt_fixed(col[C.U_CPU] / col[C.T_CPU], 2, 5)
    loads = {"cload": C.LOAD_CPU, "mload": C.LOAD_MEM, "dload": C.LOAD_DSK,
             "nload": C.LOAD_NET}
    if f in loads:
        return fmt_fixed(col[loads[f]], 3, 5)
    if f == "ptags":
        counts = {state.excl_tag_names[t]: int(c) for t, c in enumerate(state.ptags[n]) if c}
        return ",".join(f"{k}={v}" for k, v in sorted(counts.items()))
    if f == "peermap":
        return "[" + ",".join(f"({p},{v})" for p, v in peer_list(state, n)) + "]"
    if f == "spindle_count":
        return str(int(col[C.T_SPN]))
    if f == "hi_spindles":
        return show_double(col[C.HI_SPN])
    if f == "inst_spindles":
        return show_double(col[C.INST_SPN])
    return "<unknown field>"


def peer_list(state: C.ClusterState, n: int) -> list[tuple[int, int]]:
    """Node n's PeerMap as Ganeti lists it after loading: (primary, memory) pairs.

    Ganeti builds it from the secondaries, oldest first, keeping the list
    sorted by memory, largest first; an entry goes before the first one that
    is not larger, and an updated entry is taken out and put back.  Instances
    that reserve no memory still get their (zero) entry.
    """
    ia = state.inst
    out: list[tuple[int, int]] = []
    for k in reversed(state.secondaries(n)):
        mem = int(ia.mem[k]) if ia.not_offline[k] and ia.auto_balance[k] else 0
        p = int(ia.pnode[k])
        old = next((v for q, v in out if q == p), None)
        if old is not None:
            out = [(q, v) for q, v in out if q != p]
            mem += old
        at = next((i for i, (_, v) in enumerate(out) if v <= mem), len(out))
        out.insert(at, (p, mem))
    return out


def node_table(state: C.ClusterState, nodes: Sequence[int], fields: list[str]) -> list[str]:
    heads = [_HEADERS.get(f, ("<unknown field>", False)) for f in fields]
    rows = [[h for h, _ in heads]]
    for n in nodes:
        rows.append([_node_cell(state, n, f) for f in fields])
    return print_table(rows, [num for _, num in heads])


def coefficient_table(state: C.ClusterState, nodes: np.ndarray) -> tuple[float, list[str]]:
    """The -vvv 'coefficients' table: each metric, its value and weight."""
    total, detail = score_detail(state, nodes)
    online = bool((state.node[C.OFFLINE, nodes] == 0).any()) if len(nodes) else False
    rows = [["Field", "Value", "Weight"]]
    if online:
        for name, val, w in zip(METRIC_NAMES, detail, WEIGHTS, strict=True):
            rows.append([name, fmt_fixed(val, 8), "x" + fmt_fixed(w, 2)])
    return total, ["  " + line for line in print_table(rows, [False, True, True])]


_DT_CONSTRUCTORS = {"diskless": "DTDiskless", "file": "DTFile", "sharedfile": "DTSharedFile",
                    "plain": "DTPlain", "blockdev": "DTBlock", "drbd": "DTDrbd8",
                    "rbd": "DTRbd", "ext": "DTExt", "gluster": "DTGluster"}


def _show_ispec(s) -> str:
    return (f"ISpec {{iSpecMemorySize = {s.mem}, iSpecCpuCount = {s.cpu}, "
            f"iSpecDiskSize = {s.disk_size}, iSpecDiskCount = {s.disk_count}, "
            f"iSpecNicCount = {s.nic_count}, iSpecSpindleUse = {s.spindle_use}}}")


def show_ipolicy(pol) -> str:
    """Haskell ``show`` of an IPolicy record (hbal -v -v prints it)."""
    mm = ",".join(f"MinMaxISpecs {{minMaxISpecsMinSpec = {_show_ispec(lo)}, "
                  f"minMaxISpecsMaxSpec = {_show_ispec(hi)}}}" for lo, hi in pol.minmax)
    dts = ",".join(_DT_CONSTRUCTORS[t] for t in pol.disk_templates)
    return (f"IPolicy {{iPolicyMinMaxISpecs = [{mm}], iPolicyStdSpec = {_show_ispec(pol.std)}, "
            f"iPolicyDiskTemplates = [{dts}], iPolicyVcpuRatio = {show_double(pol.vcpu_ratio)}, "
            f"iPolicySpindleRatio = {show_double(pol.spindle_ratio)}}}")
