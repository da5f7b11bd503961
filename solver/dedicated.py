"""Allocation on dedicated (exclusive-storage) clusters (spec §5.8).

When every node that could take the instance has exclusive storage, Ganeti
does not balance: it places the instance where it destroys the fewest future
allocations of the policy's minimal instances, then where it leaves the
least free disk.  The metric of a candidate is therefore (lost allocations
per test instance, free disk after), compared lexicographically.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from solver import cluster as C
from solver.allocate import AllocSolution, policy_failure, tag_reject
from solver.jit import njit
from solver.nodeops import InstTuple, add_pri, add_sec
from solver.records import IPolicy
from solver.requests import Allocate, MultiAllocate


def is_dedicated(state: C.ClusterState, req) -> bool:
    """isDedicated: every node of the candidate groups has exclusive storage."""
    if not isinstance(req, Allocate | MultiAllocate):
        return False
    groups = state.data.groups
    if req.group_name is not None:
        allowed = {g for g, grp in enumerate(groups) if grp.name == req.group_name}
    else:
        allowed = {g for g, grp in enumerate(groups) if grp.alloc_policy != "unallocable"}
    return all(n.excl_storage or n.group not in allowed for n in state.data.nodes)


def test_instances(pol: IPolicy) -> InstTuple:
    """The policy's minimal instances (plain, largest disk first) as kernel arrays."""
    specs = sorted((lo for lo, _ in pol.minmax), key=lambda s: -s.disk_size)
    n = len(specs)
    return InstTuple(
        mem=np.array([s.mem for s in specs], dtype=np.int64),
        dsk=np.array([s.disk_size for s in specs], dtype=np.int64),
        vcpus=np.array([s.cpu for s in specs], dtype=np.int64),
        uses_mem=np.ones(n, dtype=np.bool_), not_offline=np.ones(n, dtype=np.bool_),
        auto_balance=np.zeros(n, dtype=np.bool_), forthcoming=np.zeros(n, dtype=np.bool_),
        template=np.full(n, C.DT_PLAIN, dtype=np.int8),
        spindle_use=np.array([s.spindle_use for s in specs], dtype=np.int64),
        total_spindles=np.zeros(n, dtype=np.int64), util=np.zeros((n, 4)))


@njit()
def alloc_vector(buf, tests, out) -> None:
    """How many copies of each test instance fit on the node, one after another."""
    for j in range(out.shape[0]):
        b = buf.copy()
        c = 0
        while add_pri(b, tests, j, False, False) == C.OK:
            c += 1
        out[j] = c


def _vector(buf: np.ndarray, tests: InstTuple) -> np.ndarray:
    out = np.zeros(len(tests.mem), dtype=np.int64)
    alloc_vector(buf, tests, out)
    return out


class DedicatedAllocator:
    """tryAlloc with the lost-allocations metric; a tie goes to the later candidate."""

    def __init__(self, hail, k: int) -> None:
        self.hail = hail
        self.sim = hail.sim
        self.k = k
        self.inst = hail.state.data.instances[k]

    def _candidate(self, p: int, s: int):
        st = self.sim.state
        pol = st.node_policy[p]
        r = policy_failure(self.inst, pol, bool(st.node[C.EXCL, p]))
        if r != C.OK:
            return r, None
        tests = test_instances(pol)
        before = _vector(self.sim.rows[p], tests)
        new_p = self.sim.rows[p].copy()
        r = add_pri(new_p, self.sim.it, self.k, self.hail.opts.force, tag_reject(st, self.k, p))
        if r != C.OK:
            return r, None
        lost = before - _vector(new_p, tests)
        disk = int(new_p[C.F_DSK])
        if s >= 0:
            new_s = self.sim.rows[s].copy()
            r = add_sec(new_s, self.sim.it, self.k, st.peers[s, p], False, False)
            if r != C.OK:
                return r, None
            lost = lost + _vector(self.sim.rows[s], tests) - _vector(new_s, tests)
            disk += int(new_s[C.F_DSK])
        return C.OK, (tuple(int(x) for x in lost), disk)

    def run(self, cands: Sequence[tuple[int, int]]) -> AllocSolution:
        sol = AllocSolution()
        best = None
        for p, s in cands:
            r, metric = self._candidate(p, s)
            if r != C.OK:
                sol.failures.append(r)
                continue
            sol.allocs += 1
            if best is None or not best < metric:
                best = metric
                sol.nodes = (p,) if s < 0 else (p, s)
        sol.score = best
        return sol


def show_metric(metric) -> str:
    """Haskell's show of ([Int], Int)."""
    lost, disk = metric
    return "([%s],%d)" % (",".join(str(x) for x in lost), disk)
