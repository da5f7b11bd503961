"""Cluster health as hcheck and hinfo judge it, group by group.

Both tools look at each node group on its own (Ganeti's ``splitCluster``): the
group's nodes and the instances whose primary is among them.  hinfo counts the
nodes that fail N+1 and the instances they carry; hcheck adds tag conflicts,
instances on offline nodes and the global N+1 verdict, and then asks whether
hbal's own search would change any of that.  The rebalancing is hbal's greedy
search itself (``solver.balance.Balancer``), run group by group on one copy of
the state: moves never leave their group, so the groups do not interfere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver import cluster as C
from solver.balance import BalanceOptions, Balancer
from solver.globaln1 import AllocRecreate, CapacityCheck
from solver.metrics import compute_score
from solver.simulate import Simulator


@dataclass(frozen=True)
class GroupPart:
    """One node group's share of the cluster: its index, nodes and primary instances."""

    group: int
    nodes: np.ndarray
    instances: np.ndarray


def split_cluster(state: C.ClusterState) -> list[GroupPart]:
    """splitCluster: the groups that have nodes, in ascending index order."""
    gidx = state.node[C.GROUP].astype(np.int64)
    pnode = state.inst.pnode
    parts = []
    for g in np.unique(gidx):
        nodes = np.flatnonzero(gidx == g).astype(np.int64)
        insts = np.flatnonzero(np.isin(pnode, nodes)).astype(np.int64)
        parts.append(GroupPart(int(g), nodes, insts))
    return parts


def bad_items(state: C.ClusterState, nodes: np.ndarray) -> tuple[list[int], list[int]]:
    """computeBadItems: online nodes failing N+1, and every instance on them (by index)."""
    nd = state.node
    bad = [int(n) for n in nodes if nd[C.OFFLINE, n] == 0 and nd[C.N1_FAIL, n] != 0]
    insts: set[int] = set()
    for n in bad:
        insts.update(state.primaries(n))
        insts.update(state.secondaries(n))
    return bad, sorted(insts)


def split_instances(state: C.ClusterState) -> list[int]:
    """Instances whose primary and secondary sit in different groups (index order)."""
    ia = state.inst
    grp = state.node[C.GROUP]
    has_sec = ia.snode >= 0
    split = has_sec & (grp[ia.pnode] != grp[np.where(has_sec, ia.snode, ia.pnode)])
    return np.flatnonzero(split).tolist()


@dataclass(frozen=True)
class GroupHealth:
    """hcheck's per-group figures.

    ``offline_sec`` counts the group's offline nodes, not the secondaries on
    them: Ganeti 3.0.2 takes the length of the list of their secondary lists.
    ``gn1_fail`` is None when capacity checks are off.
    """

    n1_fail: int
    conflict_tags: int
    offline_pri: int
    offline_sec: int
    gn1_fail: int | None
    score: float

    def counts(self) -> list[int]:
        """The figures in Ganeti's order (the ones that decide "needs rebalancing")."""
        out = [self.n1_fail, self.conflict_tags, self.offline_pri, self.offline_sec]
        return out if self.gn1_fail is None else [*out, self.gn1_fail]


def group_health(state: C.ClusterState, parts: list[GroupPart],
                 capacity: bool) -> list[GroupHealth]:
    """perGroupChecks for every part, on the current state.

    The global N+1 check evacuates each node of a group (offline ones too)
    into the rest of that group, as Ganeti's canEvacuateNode does.
    """
    nd = state.node
    sim = Simulator(state) if capacity else None
    out = []
    for part in parts:
        nodes = part.nodes
        offline = nodes[nd[C.OFFLINE, nodes] != 0]
        gn1 = None
        if sim is not None:
            check = CapacityCheck(sim, nodes, recreate=AllocRecreate(sim, nodes))
            gn1 = len(check.unevacuable())
        out.append(GroupHealth(
            n1_fail=len(bad_items(state, nodes)[0]),
            conflict_tags=int(np.count_nonzero(nd[C.CONFLICTS, nodes] > 0)),
            offline_pri=sum(len(state.primaries(int(n))) for n in offline),
            offline_sec=len(offline), gn1_fail=gn1, score=compute_score(state, nodes)))
    return out


def cluster_counts(health: list[GroupHealth]) -> list[int]:
    """The cluster-wide figures: each count summed over the groups."""
    return [sum(col) for col in zip(*(h.counts() for h in health), strict=True)]


def rebalance(state: C.ClusterState, parts: list[GroupPart],
              opts: BalanceOptions) -> list[bool]:
    """Run hbal's search on each group of ``state`` (in place); which groups moved.

    Ganeti skips a group whose score is already below the optimum plus
    ``min_score``; the search's own loop condition stops there as well.
    """
    moved = []
    for part in parts:
        result = Balancer(state, part.nodes, part.instances, opts).run()
        moved.append(bool(result.moves))
    return moved
