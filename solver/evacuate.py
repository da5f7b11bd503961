"""Moving existing instances off nodes: node-evacuate, relocate, change-group (§5.4-5.6).

Each instance is handled in request order on the state the previous ones
left.  Choices are compared on full recomputations of the target group's
score and a tie goes to the later candidate, as in Ganeti's folds; a
single-target choice estimates every target first and recomputes only the
near-ties (``solver.balance.best_target``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from solver import cluster as C
from solver.balance import best_target
from solver.metrics import N_METRICS, exact_score, location_exclusion_counts, map_value
from solver.moves import FAILOVER, FAILOVER_TO_ANY, REPLACE_SECONDARY
from solver.simulate import Simulator

PRIMARY_ONLY, SECONDARY_ONLY, ALL = "primary-only", "secondary-only", "all"
_NO_RELOCATE = ("file", "plain")


class EvacError(Exception):
    """An instance that cannot be moved; the message is Ganeti's."""


@dataclass
class EvacSolution:
    """Moved instances (index, group, nodes), failed ones (index, message), jobs."""

    moved: list[tuple[int, int, list[int]]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    jobs: list[list[tuple[int, int, int]]] = field(default_factory=list)


def group_nodes(state: C.ClusterState, gdx: int) -> np.ndarray:
    return np.flatnonzero(state.node[C.GROUP] == gdx).astype(np.int64)


class Evacuator:
    """nodeEvacInstance and its helpers on a Simulator."""

    def __init__(self, sim: Simulator, force: bool) -> None:
        self.sim = sim
        self.force = force

    def group_score(self, gdx: int) -> float:
        """compCVNodes over group gdx's nodes in the current state."""
        st = self.sim.state
        nodes = group_nodes(st, gdx)
        work = np.empty((N_METRICS, len(nodes)))
        online = np.empty(len(nodes), dtype=np.bool_)
        detail = np.empty(N_METRICS)
        mv = map_value(location_exclusion_counts(st, nodes))
        return exact_score(st.node, nodes, np.zeros(1, dtype=np.int64),
                           np.zeros((1, st.node.shape[0])), 0, mv, work, online, detail)

    def one_node(self, k: int, kind: int, gdx: int, avail: Sequence[int]):
        """evacOneNodeOnly: best single target for ReplaceSecondary / FailoverToAny.

        ``best_target`` estimates every target at once and rescores only the
        near-ties; when it cannot decide (no target takes the move, so the
        failures make the message, or a score is not finite) each target is
        tried and scored in turn, as Ganeti does.
        """
        st = self.sim.state
        targets = np.asarray(avail, dtype=np.int64)
        own = (st.inst.pnode[k], st.inst.snode[k])
        if not np.isin(targets, own).any():
            nodes = group_nodes(st, gdx)
            found = best_target(self.sim.ctx(nodes), self.sim.it, nodes, k, kind, targets,
                                self.force, bool(st.mig_ok.all()))
            if found is not None:
                return [self._move(k, kind, found[0], None)]
        return [self._move(k, kind, self.each_target(k, kind, gdx, targets), None)]

    def each_target(self, k: int, kind: int, gdx: int, avail: Sequence[int]) -> int:
        """evacOneNodeOnly's fold: apply the move to each target and score the group."""
        best = None
        msg = ""
        for t in avail:
            r, buf, mod_idx, res = self.sim.try_move(k, kind, int(t), self.force)
            if r != C.OK:
                if best is None:
                    msg += " Node %s failed: %s;" % (self.sim.state.data.nodes[t].name,
                                                     C.FAIL_MODES[r])
                continue
            with self.sim.trial():
                self.sim.commit_move(k, kind, int(t), buf, mod_idx, res)
                score = self.group_score(gdx)
            if best is None or not best[0] < score:
                best = (score, int(t))
        if best is None:
            raise EvacError("Can't find any good node: " + msg)
        return best[1]

    def _move(self, k: int, kind: int, t: int, what: str | None):
        r, buf, mod_idx, res = self.sim.try_move(k, kind, t, self.force)
        if r != C.OK:
            raise EvacError(C.FAIL_MODES[r] if what is None else
                            "%s: %s" % (what, C.FAIL_MODES[r]))
        self.sim.commit_move(k, kind, t, buf, mod_idx, res)
        return (k, kind, t)

    def drbd_all(self, k: int, gdx: int, avail: Sequence[int]):
        """ChangeAll for drbd: try every (primary, secondary) pair of available nodes."""
        best = None
        msg = "no nodes available"
        for p in avail:
            for s in avail:
                if p == s:
                    continue
                with self.sim.trial():
                    try:
                        ops = self._pair_moves(k, int(p), int(s))
                    except EvacError as exc:
                        if best is None:
                            msg = "Allocation failed: %s" % exc
                        continue
                    score = self.group_score(gdx)
                if best is None or not best[0] < score:
                    best = (score, ops, int(p), int(s))
        if best is None:
            raise EvacError("Can't find any good nodes for relocation: " + msg)
        return self._pair_moves(k, best[2], best[3])

    def _pair_moves(self, k: int, p: int, s: int):
        st = self.sim.state
        ops = []
        if st.node[C.OFFLINE, st.inst.pnode[k]] != 0.0:
            ops.append(self._move(k, FAILOVER, -1, "Failing over to the secondary"))
        ops.append(self._move(k, REPLACE_SECONDARY, p, "Changing secondary to new primary"))
        ops.append(self._move(k, FAILOVER, -1, "Failing over to new primary"))
        ops.append(self._move(k, REPLACE_SECONDARY, s, "Changing secondary to final secondary"))
        return ops

    def instance(self, k: int, mode: str, gdx: int, avail: Sequence[int]):
        """nodeEvacInstance: move k per ``mode``; returns its jobs (k, kind, target)."""
        st = self.sim.state
        template = st.data.instances[k].template
        if template in _NO_RELOCATE:
            raise EvacError("Instances of type %s cannot be relocated" % template)
        if template != "drbd":
            if mode == SECONDARY_ONLY:
                raise EvacError("Instances with disk template '%s' can't execute change "
                                "secondary" % template)
            return self.one_node(k, FAILOVER_TO_ANY, gdx, avail)
        if mode == PRIMARY_ONLY:
            return [self._move(k, FAILOVER, -1, None)]
        if mode == SECONDARY_ONLY:
            return self.one_node(k, REPLACE_SECONDARY, gdx, avail)
        return self.drbd_all(k, gdx, avail)


def evac_nodes(state: C.ClusterState, insts: Sequence[int], mode: str) -> set[int]:
    """nodesToEvacuate: the nodes the request empties."""
    out: set[int] = set()
    for k in insts:
        p, s = int(state.inst.pnode[k]), int(state.inst.snode[k])
        if mode != SECONDARY_ONLY:
            out.add(p)
        if mode != PRIMARY_ONLY and state.data.instances[k].template == "drbd":
            out.add(s)
    out.discard(-1)
    return out


def node_evacuate(sim: Simulator, insts: Sequence[int], mode: str,
                  force: bool) -> EvacSolution:
    """tryNodeEvac: evacuate the instances one by one, state carried over."""
    st = sim.state
    excluded = evac_nodes(st, insts, mode) | set(
        np.flatnonzero(st.node[C.OFFLINE] != 0.0).tolist())
    members = {g: group_nodes(st, g).tolist() for g in np.unique(st.node[C.GROUP])}
    ev = Evacuator(sim, force)
    sol = EvacSolution()
    for k in insts:
        p = int(st.inst.pnode[k])
        gdx = int(st.node[C.GROUP, p])
        avail = [n for n in members[gdx] if n not in excluded and n != p]
        record(sol, st, k, lambda k=k, gdx=gdx, avail=avail: ev.instance(k, mode, gdx, avail))
    return sol


def record(sol: EvacSolution, state: C.ClusterState, k: int, run) -> None:
    """updateEvacSolution: run one instance's evacuation and note the outcome."""
    try:
        jobs = run()
    except EvacError as exc:
        sol.failed.append((k, str(exc)))
        return
    p, s = int(state.inst.pnode[k]), int(state.inst.snode[k])
    nodes = [p, s] if state.data.instances[k].template == "drbd" else [p]
    sol.moved.append((k, int(state.node[C.GROUP, p]), nodes))
    sol.jobs.append(jobs)
