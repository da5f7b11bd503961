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
from solver.allocate import Allocator
from solver.jit import njit
from solver.moves import FAILOVER, FAILOVER_TO_ANY
from solver.nodeops import add_pri, add_sec, remove_pri, remove_sec
from solver.simulate import Simulator

_SHARED = frozenset({"diskless", "sharedfile", "rbd", "ext", "gluster"})
_SHARED_CODES = frozenset(C.TEMPLATE_CODE[t] for t in _SHARED)


class Recreate(Protocol):
    """How the check re-creates a local-storage instance on one of some nodes."""

    def acceptors(self, k: int, nodes: list[int]) -> list[int]:
        """The nodes that would take a copy of k (policy and forced addPri)."""

    def place(self, k: int, nodes: list[int]) -> bool:
        """Put a copy of k on the best of ``nodes`` (Ganeti's choice); False if none."""


class AllocRecreate:
    """Re-creation as Ganeti's capacity check does it: policy, forced addPri, best score.

    ``scope`` are the nodes scored; the copy loads its node but is not
    registered as an instance.
    """

    def __init__(self, sim: Simulator, scope: np.ndarray) -> None:
        self.sim = sim
        self.scope = scope

    def _allocator(self, k: int) -> Allocator:
        return Allocator(self.sim, k, self.sim.state.data.instances[k], True, None)

    def acceptors(self, k: int, nodes: list[int]) -> list[int]:
        return self._allocator(k).acceptors(nodes, self.scope)

    def place(self, k: int, nodes: list[int]) -> bool:
        alloc = self._allocator(k)
        sol = alloc.single(nodes, self.scope)
        if sol.nodes is None:
            return False
        _, buf = alloc.primary_buffer(self.sim.ctx(self.scope), sol.nodes[0], 0)
        self.sim.commit_copy(k, sol.nodes[0], buf)
        return True


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
        self._prims: dict[int, list[int]] = {}
        # the dependency index: built once, then kept up to date node by node
        self._dirty: set[int] | None = None  # None: not built
        self._entry: dict[int, tuple[str, set[int]]] = {}
        self._affects: dict[int, set[int]] = {}
        self._by_group: dict[int, set[int]] = {}
        self._bad: set[int] = set()
        self._fragile: set[int] = set()
        self.recreate = recreate

    def _primaries(self, n: int) -> list[int]:
        """Node n's pList (newest first), cached until a commit changes the node."""
        if n not in self._prims:
            self._prims[n] = self.sim.state.primaries(n)
        return self._prims[n]

    def _classify(self, n: int) -> tuple[str, set[int]]:
        """("drbd" | "single" | "group", the drbd fail-overs' nodes) for node n."""
        if n not in self._class:
            st = self.sim.state
            prims = self._primaries(n)
            tpl = st.inst.template[prims] if prims else np.zeros(0, dtype=np.int8)
            deps = {n} | {int(st.inst.snode[k]) for k, t in zip(prims, tpl, strict=True)
                          if t == C.DT_DRBD}
            others = [int(t) for t in tpl if t != C.DT_DRBD]
            if not others:
                kind = "drbd"
            elif len(others) == 1 and others[0] not in _SHARED_CODES:
                kind = "single"
            else:
                kind = "group"
            self._class[n] = (kind, deps)
        return self._class[n]

    def _verdict(self, n: int) -> Verdict:
        if n not in self._base:
            self._base[n] = can_evacuate(self.sim, n, self.in_scope, self.recreate,
                                         self._primaries(n))
        return self._base[n]

    def redundant(self) -> bool:
        """redundant() on the current (starting) state."""
        return all(self._verdict(int(n)).ok for n in self.nodes)

    def unevacuable(self) -> list[int]:
        """The checked nodes that could not be evacuated (hcheck counts them)."""
        return [int(n) for n in self.nodes if not self._verdict(int(n)).ok]

    def _index(self) -> None:
        """Every node's verdict and who depends on what (only changed nodes redone)."""
        if self._dirty is None:
            self._entry, self._affects, self._by_group = {}, {}, {}
            self._bad, self._fragile = set(), set()
            todo = [int(x) for x in self.nodes]
        else:
            todo = sorted(self._dirty)
        self._dirty = set()
        for n in todo:
            self._enter(n)

    def _enter(self, n: int) -> None:
        kind, deps = self._classify(n)
        self._entry[n] = (kind, deps)
        for d in deps:
            self._affects.setdefault(d, set()).add(n)
        if kind == "group":
            self._by_group.setdefault(int(self.sim.state.node[C.GROUP, n]), set()).add(n)
        base = self._verdict(n)
        if not base.ok:
            self._bad.add(n)
        elif kind == "single" and len(base.acceptors) <= 3:
            self._fragile.add(n)

    def _leave(self, n: int) -> None:
        kind, deps = self._entry.pop(n)
        for d in deps:
            self._affects[d].discard(n)
        if kind == "group":
            self._by_group[int(self.sim.state.node[C.GROUP, n])].discard(n)
        self._bad.discard(n)
        self._fragile.discard(n)

    def invalidate(self, changed: Sequence[int]) -> None:
        """Forget what a committed change of ``changed`` nodes may have altered."""
        if self._dirty is None:
            self._base.clear()
            self._class.clear()
            self._prims.clear()
            return
        st = self.sim.state
        drop: set[int] = set()
        for c in (int(x) for x in changed):
            drop.add(c)
            drop.update(self._affects.get(c, ()))
            drop.update(self._by_group.get(int(st.node[C.GROUP, c]), ()))
        drop.update(n for n, v in self._base.items()
                    if v.acceptors is not None and v.acceptors & set(changed))
        for n in drop:
            self._base.pop(n, None)
            self._class.pop(n, None)
            if n in self._entry:
                self._leave(n)
                self._dirty.add(n)
        for c in changed:
            self._prims.pop(int(c), None)

    def after(self, apply: Callable[[], None], changed: Sequence[int],
              new: tuple[int, int] | None = None) -> bool:
        """redundant() after ``apply`` (rolled back afterwards), which changes ``changed``.

        ``new`` = (instance, node): ``apply`` makes the instance a new primary
        of that node (an allocation); other primaries stay where they are.
        """
        self._index()
        st = self.sim.state
        changed_set = {int(c) for c in changed}
        recheck: set[int] = set()
        for c in changed_set:
            recheck.update(self._affects.get(c, ()))
            recheck.update(self._by_group.get(int(st.node[C.GROUP, c]), ()))
        recheck.update(n for n in self._fragile
                       if not self._base[n].acceptors - changed_set)
        if self._bad - recheck:
            return False
        with self.sim.trial():
            apply()
            prims = {n: ([new[0]] if new is not None and n == new[1] else [])
                     + self._primaries(n) for n in sorted(recheck)}
            st = self.sim.state
            drbd_only = [n for n, ks in prims.items()
                         if not ks or (st.inst.template[ks] == C.DT_DRBD).all()]
            if drbd_only:
                ks = [prims[n] for n in drbd_only]
                ptr = np.cumsum([0] + [len(x) for x in ks]).astype(np.int64)
                flat = np.array([k for x in ks for k in x], dtype=np.int64)
                if not all_drbd_failovers_ok(
                        self.sim.rows, st.peers, self.sim.tops[0], self.sim.tops[1],
                        self.sim.tops[2], st.mig_ok, self.sim.it,
                        np.array(drbd_only, dtype=np.int64), ptr, flat, st.inst.snode[flat]):
                    return False
            rest = set(drbd_only)
            return all(can_evacuate(self.sim, n, self.in_scope, self.recreate, ks).ok
                       for n, ks in prims.items() if n not in rest)


@njit()
def drbd_failovers_ok(rows, peers, peer_max1, peer_arg1, peer_max2, mig_ok, it, n, prims,
                      snodes) -> bool:
    """Fail over every drbd primary of n in turn (forced), on copies: does each succeed?

    The same node operations as the Failover move, with the two peer entries
    each step changes (peers[s, n] and peers[n, s]) tracked per secondary.
    """
    nf = rows.shape[1]
    m = prims.shape[0]
    bn = rows[n].copy()
    off_p = bn[C.OFFLINE] != 0.0
    sbuf = np.empty((m, nf))
    sidx = np.full(m, -1, dtype=np.int64)
    cur_sn = np.zeros(m)
    cur_ns = np.zeros(m)
    used = 0
    for j in range(m):
        k = prims[j]
        s = snodes[j]
        slot = -1
        for q in range(used):
            if sidx[q] == s:
                slot = q
        if slot < 0:
            slot = used
            used += 1
            sidx[slot] = s
            for f in range(nf):
                sbuf[slot, f] = rows[s, f]
            cur_sn[slot] = peers[s, n]
            cur_ns[slot] = peers[n, s]
        other = peer_max2[s] if peer_arg1[s] == n else peer_max1[s]
        remove_pri(bn, it, k)
        new_peer = remove_sec(sbuf[slot], it, k, cur_sn[slot], other)
        if not mig_ok[n, s]:
            return False
        if add_pri(sbuf[slot], it, k, True, False) != C.OK:
            return False
        if add_sec(bn, it, k, cur_ns[slot], True, off_p) != C.OK:
            return False
        cur_sn[slot] = new_peer
        if it.not_offline[k] and it.auto_balance[k] and not it.forthcoming[k]:
            cur_ns[slot] += it.mem[k]
    return True


@njit()
def all_drbd_failovers_ok(rows, peers, peer_max1, peer_arg1, peer_max2, mig_ok, it, nodes,
                          ptr, prims, snodes) -> bool:
    """drbd_failovers_ok for several nodes (primaries of nodes[i] in prims[ptr[i]:ptr[i+1]])."""
    for i in range(nodes.shape[0]):
        a = ptr[i]
        b = ptr[i + 1]
        if not drbd_failovers_ok(rows, peers, peer_max1, peer_arg1, peer_max2, mig_ok, it,
                                 nodes[i], prims[a:b], snodes[a:b]):
            return False
    return True


def can_evacuate(sim: Simulator, n: int, in_scope: np.ndarray,
                 recreate: Recreate | None, prims: list[int]) -> Verdict:
    """canEvacuateNode: fail over, move and re-create every primary (``prims``) of n."""
    st = sim.state
    templates = [st.data.instances[k].template for k in prims]
    if all(t == "drbd" for t in templates):
        ks = np.array(prims, dtype=np.int64)
        ok = drbd_failovers_ok(sim.rows, st.peers, sim.tops[0], sim.tops[1], sim.tops[2],
                               st.mig_ok, sim.it, n, ks, st.inst.snode[ks])
        return Verdict(bool(ok))
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
