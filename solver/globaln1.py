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

import numpy as np

from solver import cluster as C
from solver.moves import FAILOVER, FAILOVER_TO_ANY
from solver.simulate import Simulator

_SHARED = frozenset({"diskless", "sharedfile", "rbd", "ext", "gluster"})


class CapacityCheck:
    """The ``redundant`` predicate over the ``scope`` nodes of a Simulator's state.

    ``accept_existing`` checks online nodes only (--accept-existing-errors);
    escape nodes are the scope's nodes of the same group either way.
    Verdicts for the starting state are cached, so the state must not change
    outside ``after`` while the object is in use.
    """

    def __init__(self, sim: Simulator, scope: Sequence[int], accept_existing: bool = False,
                 alloc_single: Callable[[int, list[int]], bool] | None = None) -> None:
        self.sim = sim
        st = sim.state
        scope = np.asarray(scope, dtype=np.int64)
        self.in_scope = np.zeros(st.n_nodes, dtype=np.bool_)
        self.in_scope[scope] = True
        self.nodes = scope[st.node[C.OFFLINE, scope] == 0.0] if accept_existing else scope
        self._base: dict[int, bool] = {}
        self._deps: dict[int, set[int] | None] = {}
        # re-creates a local-storage instance on one of the given nodes (or fails)
        self.alloc_single = alloc_single

    def _dependencies(self, n: int) -> set[int] | None:
        """Nodes whose state decides node n's verdict; None = its whole group."""
        if n not in self._deps:
            st = self.sim.state
            prims = st.primaries(n)
            if all(st.data.instances[k].template == "drbd" for k in prims):
                self._deps[n] = {n} | {int(st.inst.snode[k]) for k in prims}
            else:
                self._deps[n] = None
        return self._deps[n]

    def _verdict(self, n: int) -> bool:
        if n not in self._base:
            self._base[n] = can_evacuate(self.sim, n, self.in_scope, self.alloc_single)
        return self._base[n]

    def redundant(self) -> bool:
        """redundant() on the current (starting) state."""
        return all(self._verdict(int(n)) for n in self.nodes)

    def after(self, apply: Callable[[], None], changed: Sequence[int]) -> bool:
        """redundant() after ``apply`` (rolled back afterwards), which changes ``changed``."""
        st = self.sim.state
        changed_set = {int(c) for c in changed}
        groups = {int(st.node[C.GROUP, c]) for c in changed_set}
        recheck = []
        for n in self.nodes:
            n = int(n)
            deps = self._dependencies(n)
            if (deps is None and int(st.node[C.GROUP, n]) in groups) or n in changed_set \
                    or (deps is not None and deps & changed_set):
                recheck.append(n)
            elif not self._verdict(n):
                return False
        with self.sim.trial():
            apply()
            return all(can_evacuate(self.sim, n, self.in_scope, self.alloc_single)
                       for n in recheck)


def can_evacuate(sim: Simulator, n: int, in_scope: np.ndarray,
                 alloc_single: Callable | None) -> bool:
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
                return False
            sim.commit_move(k, FAILOVER, -1, buf, mod_idx, res)
        gdx = st.node[C.GROUP, n]
        escape = [int(x) for x in np.flatnonzero((st.node[C.GROUP] == gdx) & in_scope)
                  if x != n]
        from solver.evacuate import EvacError, Evacuator
        ev = Evacuator(sim, True)
        for k, t in zip(prims, templates, strict=True):
            if t in _SHARED:
                try:
                    ev.one_node(k, FAILOVER_TO_ANY, int(gdx), escape)
                except EvacError:
                    return False
        local = [k for k, t in zip(prims, templates, strict=True)
                 if t != "drbd" and t not in _SHARED]
        local.sort(key=lambda k: -int(st.inst.mem[k]))
        for k in local:
            if alloc_single is None or not alloc_single(k, escape):
                return False
    return True
