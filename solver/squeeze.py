"""hsqueeze's simulation: which nodes to power off (or on) and the moves it needs.

A node may go to standby when it is online, not the master, secondary of nothing and
primary only of externally mirrored instances.  A set of nodes may go together when,
after marking them offline and balancing the cluster as far as any step improves
it, every instance runs on an online node and every node could still take one more
"target" instance (the policy's standard instance times ``--target-resources``).
Candidates with the most primaries are tried first, the set being built from the
last candidate backwards, as Ganeti's right fold does.  When the cluster cannot even
fit the "minimal" instance everywhere, the standby nodes come back online, as few
(in order) as make it fit.

Each question is answered by a full balancing run (solver.balance) on a copy of the
cluster; the answers are cached, since the last successful question is also the
final plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from solver import cluster as C
from solver.balance import BalanceOptions, Balancer
from solver.moves import Move
from solver.nodeops import InstTuple, add_pri
from solver.records import ISpec

STANDBY_PREFIX = "htools:standby:"
STANDBY_AUTO = "htools:standby:auto"

# Ganeti's tryBalance with zero minimal gains, iterated while any step improves.
_BALANCE = BalanceOptions(min_gain=0.0, min_gain_limit=0.0, min_score=-math.inf)


def spec_instance(std: ISpec, factor: float) -> InstTuple:
    """The policy's standard instance scaled by ``factor`` (rounded down), no disks.

    It is externally mirrored, so only memory and CPUs count when it is added.
    """
    def one(x: int, dtype=np.int64) -> np.ndarray:
        return np.array([x], dtype=dtype)
    return InstTuple(
        mem=one(math.floor(factor * std.mem)), dsk=one(0),
        vcpus=one(math.floor(factor * std.cpu)), uses_mem=one(True, np.bool_),
        not_offline=one(True, np.bool_), auto_balance=one(False, np.bool_),
        forthcoming=one(False, np.bool_), template=one(C.TEMPLATE_CODE["ext"], np.int8),
        spindle_use=one(math.floor(factor * std.spindle_use)), total_spindles=one(0),
        util=np.zeros((1, 4)))


def fits_everywhere(state: C.ClusterState, inst: InstTuple) -> bool:
    """Whether every node, offline ones too, could take the instance (strict checks)."""
    rows = np.ascontiguousarray(state.node.T)
    return all(add_pri(rows[n].copy(), inst, 0, False, False) == C.OK
               for n in range(state.n_nodes))


def offline_candidates(state: C.ClusterState) -> list[int]:
    """Nodes that could go to standby, most primaries first."""
    nd, ia = state.node, state.inst
    out = []
    for n in range(state.n_nodes):
        if nd[C.OFFLINE, n] != 0 or nd[C.MASTER, n] != 0 or state.secondaries(n):
            continue
        prims = state.primaries(n)
        if any(C.TEMPLATE_LOCAL[ia.template[k]] for k in prims):
            continue
        out.append((n, len(prims)))
    return [n for n, _ in sorted(out, key=lambda x: -x[1])]


def online_candidates(state: C.ClusterState) -> list[int]:
    """Offline nodes tagged as standby."""
    return [n for n, node in enumerate(state.data.nodes)
            if state.node[C.OFFLINE, n] != 0
            and any(t.startswith(STANDBY_PREFIX) for t in node.tags)]


@dataclass
class Outcome:
    """A cluster after switching some nodes and balancing, with the moves taken."""

    state: C.ClusterState
    moves: list[Move]


@dataclass
class Squeezer:
    """Answers "can these nodes go offline (come online)?" for one loaded cluster."""

    state: C.ClusterState
    _cache: dict[tuple[bool, tuple[int, ...]], Outcome] = field(default_factory=dict)

    def switch(self, offline: bool, nodes: list[int]) -> Outcome:
        """Mark the nodes offline (or online), then balance while a step improves."""
        key = (offline, tuple(nodes))
        if key not in self._cache:
            st = self.state.copy()
            st.node[C.OFFLINE, nodes] = 1.0 if offline else 0.0
            everything = np.arange(st.n_nodes)
            result = Balancer(st, everything, np.arange(st.n_instances), _BALANCE).run()
            self._cache[key] = Outcome(st, result.moves)
        return self._cache[key]

    def acceptable(self, offline: bool, nodes: list[int], inst: InstTuple) -> bool:
        st = self.switch(offline, nodes).state
        on_online = bool((st.node[C.OFFLINE, st.inst.pnode] == 0).all())
        return on_online and fits_everywhere(st, inst)

    def to_offline(self, candidates: list[int], inst: InstTuple) -> list[int]:
        """greedyOfflineNodes: from the last candidate back, keep what still fits."""
        chosen: list[int] = []
        for n in reversed(candidates):
            if self.acceptable(True, [n, *chosen], inst):
                chosen = [n, *chosen]
        return chosen

    def to_online(self, candidates: list[int], inst: InstTuple) -> list[int] | None:
        """The shortest prefix of the candidates whose onlining suffices (None: none)."""
        for i in range(len(candidates) + 1):
            if self.acceptable(False, candidates[:i], inst):
                return candidates[:i]
        return None
