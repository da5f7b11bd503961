"""Joint placement of new instances with OR-Tools CP-SAT (hail ``--solver ilp``).

Ganeti's hail places a multi-allocate request one instance at a time, each
where the cluster score is lowest at that moment; an early choice can leave
no room for a later, larger instance although a placement of all of them
exists.  Here every instance gets a primary (and, for drbd, a secondary in
the same group) in one model:

* hard limits per node, as Ganeti's strict addPri/addSec check them: free
  memory above the N+1 reserve, free disk above the disk floor, the vCPU
  ratio, spindles, exclusion tags (one instance per tag per node), the
  instance policy of the node's group; a new drbd secondary must keep its
  node able to take over the instances of any one primary it backs (Ganeti's
  peer reserve: for each primary p, what the node already holds for p plus
  the new instances on the pair (p, node));
* objective: first place as many instances as possible, then minimise the
  spread of free memory (the sum over nodes of the distance of each node's
  free-memory fraction to the cluster mean, a linear proxy for the std-dev
  terms of the score).

The per-pair reserves are added lazily: a model needs one of them only where
a solution breaks it, and a pair's reserve needs a variable per instance that
could land on that pair, so the model starts with the largest existing
reserve alone and gains the broken pairs' constraints round by round.

The chosen placement is then replayed through the exact node operations
(and, with capacity checks, the global N+1 check); if that fails or no
solution is found in time, the caller falls back to greedy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from solver import cluster as C
from solver.allocate import policy_failure, tag_reject
from solver.records import Instance

SCALE = 10_000  # fixed-point scale of the fractions in the objective


@dataclass
class IlpResult:
    """Placements per instance (None = not placed), solver status and gap."""

    placements: list[tuple[int, ...] | None]
    status: str
    objective: float
    bound: float

    @property
    def gap(self) -> float:
        """Relative optimality gap of the objective (0 when proven optimal)."""
        if self.objective == self.bound:
            return 0.0
        return abs(self.objective - self.bound) / max(abs(self.objective), 1e-9)


def solve(state: C.ClusterState, insts: list[tuple[int, Instance, int]],
          nodes: np.ndarray, time_limit: float = 10.0) -> IlpResult | None:
    """Place ``insts`` = [(index, record, nodes needed)] on ``nodes``; None if no model."""
    from ortools.sat.python import cp_model

    nd = state.node
    nodes = np.asarray([n for n in nodes if nd[C.OFFLINE, n] == 0.0], dtype=np.int64)
    if not len(nodes):
        return None
    ia = state.inst
    m = cp_model.CpModel()
    xp: dict[tuple[int, int], object] = {}
    xs: dict[tuple[int, int], object] = {}
    placed = []
    group = nd[C.GROUP].astype(np.int64)
    free = (np.trunc(nd[C.T_MEM]) - nd[C.N_MEM] - nd[C.I_MEM]
            - np.maximum(0.0, nd[C.X_MEM])).astype(np.int64)
    for j, (k, rec, count) in enumerate(insts):
        y = m.NewBoolVar(f"placed{j}")
        placed.append(y)
        ok_p = [int(n) for n in nodes
                if policy_failure(rec, state.node_policy[n], bool(nd[C.EXCL, n])) == C.OK
                and not tag_reject(state, k, n)]
        for n in ok_p:
            xp[j, n] = m.NewBoolVar(f"p{j}_{n}")
        m.Add(sum(xp[j, n] for n in ok_p) == y)
        if count == 2:
            for n in nodes:
                xs[j, int(n)] = m.NewBoolVar(f"s{j}_{n}")
            m.Add(sum(xs[j, int(n)] for n in nodes) == y)
            for n in nodes:
                n = int(n)
                if (j, n) in xp:
                    m.Add(xp[j, n] + xs[j, n] <= 1)
            for g in np.unique(group[nodes]):
                members = [int(n) for n in nodes if group[n] == g]
                m.Add(sum(xp[j, n] for n in members if (j, n) in xp)
                      == sum(xs[j, n] for n in members))
    spread = []
    for n in (int(x) for x in nodes):
        pri = [(j, xp[j, n]) for j in range(len(insts)) if (j, n) in xp]
        sec = [(j, xs[j, n]) for j in range(len(insts)) if (j, n) in xs]
        if not pri and not sec:
            continue
        _node_limits(m, state, n, insts, pri, sec, free[n])
        # free-memory fraction after placement, distance to the current mean
        mem_used = sum(int(ia.mem[insts[j][0]]) * v for j, v in pri)
        frac = m.NewIntVar(-SCALE, SCALE, f"frac{n}")
        tmem = max(int(nd[C.T_MEM, n]), 1)
        left = int(free[n]) * SCALE - mem_used * SCALE
        m.Add(frac * tmem <= left)  # frac = floor(left / tmem)
        m.Add(frac * tmem >= left - tmem + 1)
        dev = m.NewIntVar(0, 2 * SCALE, f"dev{n}")
        mean = int(np.mean(free[nodes] / np.maximum(nd[C.T_MEM, nodes], 1)) * SCALE)
        m.Add(dev >= frac - mean)
        m.Add(dev >= mean - frac)
        spread.append(dev)
    big = (len(spread) + 1) * 2 * SCALE
    m.Minimize(big * sum(1 - y for y in placed) + sum(spread))
    deadline = time.monotonic() + time_limit
    reserved: set[tuple[int, int]] = set()
    while True:
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.01, deadline - time.monotonic())
        solver.parameters.num_workers = 2
        status = solver.Solve(m)
        name = solver.StatusName(status)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return IlpResult([None] * len(insts), name, float("inf"), float("-inf"))
        out = _placements(solver, insts, placed, xp, xs)
        broken = [pair for pair in _broken_reserves(state, insts, out, free)
                  if pair not in reserved]
        if not broken:
            return IlpResult(out, name, solver.ObjectiveValue(), solver.BestObjectiveBound())
        if time.monotonic() >= deadline:
            return IlpResult([None] * len(insts), "UNKNOWN", float("inf"), float("-inf"))
        for n, p in broken:
            reserved.add((n, p))
            _pair_reserve(m, state, n, p, insts, xp, xs, int(free[n]))


def _placements(solver, insts, placed, xp, xs) -> list[tuple[int, ...] | None]:
    """The nodes of each entry in the solver's current solution (None: not placed)."""
    out: list[tuple[int, ...] | None] = []
    for j, (_, _, count) in enumerate(insts):
        if not solver.Value(placed[j]):
            out.append(None)
            continue
        p = next(n for (jj, n), v in xp.items() if jj == j and solver.Value(v))
        if count == 2:
            s = next(n for (jj, n), v in xs.items() if jj == j and solver.Value(v))
            out.append((p, s))
        else:
            out.append((p,))
    return out


def _broken_reserves(state: C.ClusterState, insts, out, free: np.ndarray,
                     ) -> list[tuple[int, int]]:
    """(secondary, primary) pairs whose peer reserve the placement ``out`` overruns."""
    nd, ia = state.node, state.inst
    new_peer: dict[tuple[int, int], int] = {}
    new_pri: dict[int, int] = {}
    for (k, _, _), nodes in zip(insts, out, strict=True):
        if nodes is None:
            continue
        new_pri[nodes[0]] = new_pri.get(nodes[0], 0) + int(ia.mem[k])
        if len(nodes) == 2:
            pair = (nodes[1], nodes[0])
            new_peer[pair] = new_peer.get(pair, 0) + int(ia.mem[k])
    return [(n, p) for (n, p), mem in new_peer.items()
            if nd[C.N1_FAIL, n] == 0.0
            and new_pri.get(n, 0) + int(state.peers[n, p]) + mem > int(free[n]) - 1]


def _pair_reserve(m, state: C.ClusterState, n: int, p: int, insts, xp, xs, free: int) -> None:
    """Ganeti's addSec limit of node n for primary p.

    n's new primaries, what n holds for p today and every new instance on the
    pair (p, n) must fit in n's free memory; ``z`` is 1 when an instance is on
    that pair (the solver keeps it at its lower bound, xp + xs - 1).
    """
    ia = state.inst
    mem_p = sum(int(ia.mem[insts[j][0]]) * v for (j, node), v in xp.items() if node == n)
    on_pair = []
    for j in range(len(insts)):
        if (j, p) in xp and (j, n) in xs:
            z = m.NewBoolVar(f"z{j}_{p}_{n}")
            m.Add(z >= xp[j, p] + xs[j, n] - 1)
            on_pair.append(int(ia.mem[insts[j][0]]) * z)
    m.Add(mem_p + int(state.peers[n, p]) + sum(on_pair) <= free - 1)



def _node_limits(m, state: C.ClusterState, n: int, insts, pri, sec, free: int) -> None:
    """Strict addPri/addSec limits of node n for the new primaries and secondaries."""
    nd, ia = state.node, state.inst
    local = [j for j, _ in pri if C.TEMPLATE_LOCAL[ia.template[insts[j][0]]]]
    mem_p = sum(int(ia.mem[insts[j][0]]) * v for j, v in pri)
    # today's largest peer reserve stays; the new pairs' reserves come lazily
    if nd[C.N1_FAIL, n] == 0.0:
        m.Add(mem_p + int(nd[C.R_MEM, n]) <= free - 1)
    else:
        m.Add(mem_p <= free - 1)
    dsk = sum(int(ia.dsk[insts[j][0]]) * v for j, v in pri if j in local) + \
        sum(int(ia.dsk[insts[j][0]]) * v for j, v in sec)
    m.Add(dsk <= int(nd[C.F_DSK, n]) - max(int(nd[C.LO_DSK, n]), 1))
    ratio = nd[C.VCPU_RATIO, n]
    if ratio >= 0:
        cpu_room = int(np.floor(ratio * nd[C.T_CPU, n] - nd[C.U_CPU, n]))
        m.Add(sum(int(ia.vcpus[insts[j][0]]) * v for j, v in pri) <= cpu_room)
    if nd[C.EXCL, n] == 0.0:
        room = int(np.floor(nd[C.HI_SPN, n] - nd[C.INST_SPN, n]))
        m.Add(sum(int(ia.spindle_use[insts[j][0]]) * v for j, v in pri if j in local)
              + sum(int(ia.spindle_use[insts[j][0]]) * v for j, v in sec) <= room)
    tags: dict[int, list] = {}
    for j, v in pri:
        k = insts[j][0]
        for t in ia.excl_ids[ia.excl_ptr[k]:ia.excl_ptr[k + 1]]:
            tags.setdefault(int(t), []).append(v)
    for vs in tags.values():
        if len(vs) > 1:
            m.Add(sum(vs) <= 1)
