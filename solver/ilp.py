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
  node able to take over the instances whose primary it backs
  (conservatively: all new secondaries of a node counted against the largest
  existing peer reserve);
* objective: first place as many instances as possible, then minimise the
  spread of free memory (the sum over nodes of the distance of each node's
  free-memory fraction to the cluster mean, a linear proxy for the std-dev
  terms of the score).

The chosen placement is then replayed through the exact node operations
(and, with capacity checks, the global N+1 check); if that fails or no
solution is found in time, the caller falls back to greedy.
"""

from __future__ import annotations

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
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.num_workers = 2
    status = solver.Solve(m)
    name = solver.StatusName(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return IlpResult([None] * len(insts), name, float("inf"), float("-inf"))
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
    return IlpResult(out, name, solver.ObjectiveValue(), solver.BestObjectiveBound())



def _node_limits(m, state: C.ClusterState, n: int, insts, pri, sec, free: int) -> None:
    """Strict addPri/addSec limits of node n for the new primaries and secondaries."""
    nd, ia = state.node, state.inst
    local = [j for j, _ in pri if C.TEMPLATE_LOCAL[ia.template[insts[j][0]]]]
    mem_p = sum(int(ia.mem[insts[j][0]]) * v for j, v in pri)
    # a new secondary reserves its memory for one primary; the worst case is
    # that all of them back the same one, on top of today's largest reserve
    mem_s = sum(int(ia.mem[insts[j][0]]) * v for j, v in sec)
    rmem = int(nd[C.R_MEM, n])
    if nd[C.N1_FAIL, n] == 0.0:
        m.Add(mem_p + mem_s + rmem <= free - 1)
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
