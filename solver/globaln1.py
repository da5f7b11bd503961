"""Global N+1 redundancy: could every node be evacuated? (spec §3.7)

hail accepts an allocation only if afterwards each node could lose all its
primaries: drbd ones fail over to their secondaries, shared-storage ones move
to another node of the group, and local-storage ones (which cannot move) can
be re-created elsewhere in the group.  Checking every node for every
candidate would cost O(nodes²) per candidate; but a node whose primaries are
all drbd can only be affected by a change on itself or on its primaries'
secondaries, so ``CapacityCheck`` keeps each node's verdict on the starting
state and re-checks only the nodes the candidate can affect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from solver import cluster as C
from solver.moves import FAILOVER, FAILOVER_TO_ANY
from solver.simulate import Simulator

_SHARED = frozenset({"diskless", "sharedfile", "rbd", "ext", "gluster"})


class Recreate(Protocol):
    """How the check re-creates a local-storage instance on one of some nodes."""

    def acceptors(self, k: int, nodes: list[int]) -> list[int]:
        """The nodes that would take a copy of k (policy and forced addPri)."""

    def place(self, k: int, nodes: list[int]) -> bool:
        """Put a copy of k on the best of ``nodes`` (Ganeti's choice); False if none."""


@dataclass(frozen=True)
class Verdict:
    """canEvacuateNode's answer; ``acceptors`` where only one instance is re-created."""

    ok: bool
    acceptors: frozenset[int] | None = None


class CapacityCheck:
    """The ``redundant`` predicate over the ``scope`` nodes of a Simulator's state.

    ``accept_existing`` checks online nodes only (--accept-existing-errors);
    escape nodes are the scope's nodes of the same group either way.
    Verdicts for the starting state are cached, so the state must not change
    outside ``after`` while the object is in use.

    What a change of some nodes can do to a node's verdict depends on its
    primaries.  Fail-overs of drbd primaries involve only the node and their
    secondaries.  A single re-created instance only needs some node to take
    it, and adding load elsewhere cannot make a node take it; so its verdict
    stands while one of the nodes that took it is untouched.  Moving shared
    storage instances or re-creating several (where Ganeti's choice of node
    matters) depends on the whole group.
    """

    def __init__(self, sim: Simulator, scope: Sequence[int], accept_existing: bool = False,
                 recreate: Recreate | None = None) -> None:
        self.sim = sim
        st = sim.state
        scope = np.asarray(scope, dtype=np.int64)
        self.in_scope = np.zeros(st.n_nodes, dtype=np.bool_)
        self.in_scope[scope] = True
        self.nodes = scope[st.node[C.OFFLINE, scope] == 0.0] if accept_existing else scope
        self._base: dict[int, Verdict] = {}
        self._class: dict[int, tuple[str, set[int]]] = {}
        self.recreate = recreate

    def _classify(self, n: int) -> tuple[str, set[int]]:
        """("drbd" | "single" | "group", the drbd fail-overs' nodes) for node n."""
        if n not in self._class:
            st = self.sim.state
            prims = st.primaries(n)
            tpl = [st.data.instances[k].template for k in prims]
            deps = {n} | {int(st.inst.snode[k]) for k, t in zip(prims, tpl, strict=True)
                          if t == "drbd"}
            others = [t for t in tpl if t != "drbd"]
            if not others:
                kind = "drbd"
            elif len(others) == 1 and others[0] not in _SHARED:
                kind = "single"
            else:
                kind = "group"
            self._class[n] = (kind, deps)
        return self._class[n]

    def _verdict(self, n: int) -> Verdict:
        if n not in self._base:
            self._base[n] = can_evacuate(self.sim, n, self.in_scope, self.recreate)
        return self._base[n]

    def redundant(self) -> bool:
        """redundant() on the current (starting) state."""
        return all(self._verdict(int(n)).ok for n in self.nodes)

    def after(self, apply: Callable[[], None], changed: Sequence[int]) -> bool:
        """redundant() after ``apply`` (rolled back afterwards), which changes ``changed``."""
        st = self.sim.state
        changed_set = {int(c) for c in changed}
        groups = {int(st.node[C.GROUP, c]) for c in changed_set}
        recheck = []
        for n in self.nodes:
            n = int(n)
            kind, deps = self._classify(n)
            if deps & changed_set:
                recheck.append(n)
                continue
            if kind == "group":
                if int(st.node[C.GROUP, n]) in groups:
                    recheck.append(n)
                elif not self._verdict(n).ok:
                    return False
                continue
            base = self._verdict(n)
            if not base.ok:
                return False
            if kind == "single" and not base.acceptors - changed_set:
                recheck.append(n)
        with self.sim.trial():
            apply()
            return all(can_evacuate(self.sim, n, self.in_scope, self.recreate).ok
                       for n in recheck)


def can_evacuate(sim: Simulator, n: int, in_scope: np.ndarray,
                 recreate: Recreate | None) -> Verdict:
    """canEvacuateNode: fail over, move and re-create every primary of n (forced)."""
    st = sim.state
    prims = st.primaries(n)
    templates = [st.data.instances[k].template for k in prims]
    with sim.trial():
        for k, t in zip(prims, templates, strict=True):
            if t != "drbd":
                continue
            r, buf, mod_idx, res = sim.try_move(k, FAILOVER, -1, True)
            if r != C.OK:
                return Verdict(False)
            sim.commit_move(k, FAILOVER, -1, buf, mod_idx, res)
        gdx = st.node[C.GROUP, n]
        escape = [int(x) for x in np.flatnonzero((st.node[C.GROUP] == gdx) & in_scope)
                  if x != n]
        from solver.evacuate import EvacError, Evacuator
        ev = Evacuator(sim, True)
        shared = [k for k, t in zip(prims, templates, strict=True) if t in _SHARED]
        for k in shared:
            try:
                ev.one_node(k, FAILOVER_TO_ANY, int(gdx), escape)
            except EvacError:
                return Verdict(False)
        local = [k for k, t in zip(prims, templates, strict=True)
                 if t != "drbd" and t not in _SHARED]
        local.sort(key=lambda k: -int(st.inst.mem[k]))
        if local and recreate is None:
            return Verdict(False)
        for k in local[:-1]:
            if not recreate.place(k, escape):
                return Verdict(False)
        if local:
            # the last one only has to fit somewhere: which node Ganeti picks
            # changes nothing that is looked at afterwards
            taken = recreate.acceptors(local[-1], escape)
            single = len(local) == 1 and not shared
            return Verdict(bool(taken), frozenset(taken) if single else None)
    return Verdict(True)
