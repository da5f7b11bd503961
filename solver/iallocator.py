"""Answering iallocator requests (hail, spec §5): which solver runs, what it says.

The request's new instances are already in the state, unplaced (index
``k`` with pnode -1).  Answers carry Ganeti's info texts and a JSON-ready
result with node, instance and group names; a request the algorithm cannot
satisfy raises ``RequestFailed`` with Ganeti's message.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from solver import cluster as C
from solver.allocate import Allocator, AllocSolution
from solver.dedicated import DedicatedAllocator, is_dedicated, show_metric
from solver.evacuate import (
    ALL,
    PRIMARY_ONLY,
    SECONDARY_ONLY,
    EvacError,
    EvacSolution,
    Evacuator,
    group_nodes,
    node_evacuate,
    record,
)
from solver.globaln1 import AllocRecreate, CapacityCheck
from solver.loader import load_cluster
from solver.moves import unmet
from solver.nodeops import remove_pri
from solver.opcodes import move_opcodes
from solver.pairbounds import PairCache
from solver.records import ALLOC_POLICIES, ClusterData, Instance
from solver.requests import (
    Allocate,
    AllocateSecondary,
    ChangeGroup,
    MultiAllocate,
    NodeEvacuate,
    Relocate,
    Request,
)
from solver.simulate import Simulator


class RequestFailed(Exception):
    """The algorithm found no answer: ``Request failed: <message>``."""


@dataclass
class HailOptions:
    """The AlgorithmOptions hail takes from its command line."""

    force: bool = False             # --ignore-soft-errors
    capacity: bool = True           # global N+1 checks (--no-capacity-checks)
    accept_existing: bool = False   # --accept-existing-errors
    restrict_to: list[str] | None = None  # --restrict-allocation-to
    solver: str = "greedy"          # --solver: greedy (Ganeti's) or ilp (solver.ilp)
    ilp_time_limit: float = 10.0    # --ilp-time-limit, seconds


@dataclass
class Answer:
    info: str
    result: Any


class Hail:
    """One request against one state; ``answer`` runs it."""

    def __init__(self, state: C.ClusterState, opts: HailOptions) -> None:
        self.state = state
        self.opts = opts
        self.sim = Simulator(state, opts.force)
        self.names = [n.name for n in state.data.nodes]
        self.dedicated = False  # set by ``answer`` for exclusive-storage clusters
        self._dedicated_groups: list[int] | None = None  # see dedicated_multi
        # multi-allocate and change-group print a solution's counts only when it
        # failed, so the search may stop at the first candidate that passes
        self._winner_only = False
        # capacity checks by scope, kept across the entries of a multi-allocate
        self._checks: dict[bytes, CapacityCheck] = {}
        # pair scores by (candidates, scope), kept across a multi-allocate's entries
        self._pair_caches: dict[tuple[bytes, bytes], PairCache] | None = None

    # ---- allocation ----------------------------------------------------------
    def _capacity(self, scope: np.ndarray, allocator: Allocator):
        """allocGlobalN1 over ``scope``: the predicate tryAlloc filters with."""
        if not self.opts.capacity:
            return None
        key = scope.tobytes()
        check = self._checks.get(key)
        if check is None:
            check = self._checks[key] = CapacityCheck(
                self.sim, scope, self.opts.accept_existing, AllocRecreate(self.sim, scope))

        def good(k: int, nodes: tuple[int, ...]) -> bool:
            return check.after(lambda: allocator.commit(nodes), nodes, (k, nodes[0]))
        return good

    def _try_alloc(self, k: int, inst: Instance, count: int, cand_nodes: np.ndarray,
                   scope: np.ndarray, force: bool | None = None) -> AllocSolution:
        """genAllocNodes + tryAlloc: candidates from ``cand_nodes``, scored over ``scope``."""
        st = self.state
        restrict = self.opts.restrict_to
        cand_nodes = np.asarray(cand_nodes, dtype=np.int64)
        keep = st.node[C.OFFLINE, cand_nodes] == 0.0
        if restrict is not None:
            wanted = set(restrict)
            keep &= np.array([self.names[n] in wanted for n in cand_nodes], dtype=np.bool_)
        online = cand_nodes[keep]
        if count not in (1, 2):
            raise EvacError("Unsupported number of nodes, only one or two  supported")
        allocator = Allocator(self.sim, k, inst, self.opts.force if force is None else force,
                              None)
        allocator.capacity = self._capacity(scope, allocator)
        # an unallocable group's solution is never taken, only printed when the request
        # fails, counts and all: those need the full tryAlloc
        unallocable = any(st.data.groups[int(g)].alloc_policy == "unallocable"
                          for g in np.unique(st.node[C.GROUP, cand_nodes]))
        allocator.winner_only = self._winner_only and not unallocable
        if self._pair_caches is not None:
            allocator.pair_cache = self._pair_caches.setdefault(
                (online.tobytes(), scope.tobytes()), PairCache())
        if count == 1:
            if not len(online):
                raise EvacError("No online nodes")
            sol = allocator.single(online, scope)
        else:
            grp = st.node[C.GROUP, online]
            if not any((grp == grp[j]).sum() > 1 for j in range(len(online))):
                raise EvacError("Not enough online nodes")
            sol = allocator.pairs_online(online, scope)
        sol.log.insert(0, sol.describe(self.names))
        return sol

    def _group_lines(self, gdx: int, sol: AllocSolution | None, err: str | None) -> list[str]:
        grp = self.state.data.groups[gdx]
        if sol is None:
            return ["Group %s: error %s" % (grp.name, err)]
        return ["Group %s (%s): %s" % (grp.name, grp.alloc_policy, line) for line in sol.log]

    def _networks_ok(self, gdx: int, inst: Instance) -> bool:
        nets = self.state.data.groups[gdx].networks
        return all(nic.get("network") is None or nic.get("network") in nets
                   for nic in inst.nics)

    def best_group(self, k: int, inst: Instance, count: int,
                   allowed: list[int] | None = None) -> tuple[int, AllocSolution, list[str]]:
        """findBestAllocGroup: try every group with nodes, keep the best solution."""
        st = self.state
        groups = [int(g) for g in np.unique(st.node[C.GROUP]).astype(np.int64)]
        if allowed is not None:
            groups = [g for g in groups if g in allowed]
        msgs, valid = [], []
        for g in groups:
            if self._networks_ok(g, inst):
                valid.append(g)
            else:
                msgs.append("group %s is not connected to a network required by instance %s"
                            % (st.data.groups[g].name, inst.name))
        everything = np.arange(st.n_nodes, dtype=np.int64)
        good = self._per_group(valid, msgs, lambda g: self._try_alloc(
            k, inst, count, group_nodes(st, g), everything))
        if not good:
            if not groups:
                every = [int(g) for g in np.unique(st.node[C.GROUP]).astype(np.int64)]
                raise RequestFailed("no groups for evacuation: allowed groups was %s, all "
                                    "groups: %s" % (_show_maybe(allowed),
                                                    self._show_groups(every)))
            raise RequestFailed(", ".join(msgs))
        g, sol = good[0]
        return g, sol, msgs

    def _per_group(self, groups: list[int], msgs: list[str], solve
                   ) -> list[tuple[int, AllocSolution]]:
        """Solve in each group, log its lines, and rank the usable solutions.

        Ganeti folds the groups into a reversed list and sorts it stably by
        (allocation policy, score), so among equals the later group wins.
        """
        st = self.state
        results = []
        for g in groups:
            try:
                sol = solve(g)
                results.append((g, sol))
                msgs += self._group_lines(g, sol, None)
            except EvacError as exc:
                msgs += self._group_lines(g, None, str(exc))
        good = [(g, sol) for g, sol in reversed(results)
                if sol.nodes is not None and st.data.groups[g].alloc_policy != "unallocable"]
        good.sort(key=lambda gs: (ALLOC_POLICIES.index(st.data.groups[gs[0]].alloc_policy),
                                  gs[1].score))
        return good

    def _show_groups(self, groups: list[int]) -> str:
        return "[" + ",".join(show_group(self.state.data.groups[g], g) for g in groups) + "]"

    def mg_alloc(self, k: int, inst: Instance, count: int) -> AllocSolution:
        """tryMGAlloc: the best group's solution, logged with every group's lines."""
        g, sol, msgs = self.best_group(k, inst, count)
        sol.log = ["Selected group: " + self.state.data.groups[g].name] + msgs
        return sol

    def group_alloc(self, k: int, inst: Instance, count: int, name: str) -> AllocSolution:
        """tryGroupAlloc: allocate within the named group, scored over it alone."""
        st = self.state
        gdx = self.find_group(name)
        if not self._networks_ok(gdx, inst):
            raise RequestFailed("The group %s is not connected to a network required by "
                                "instance %s" % (st.data.groups[gdx].name, inst.name))
        nodes = group_nodes(st, gdx)
        try:
            sol = self._try_alloc(k, inst, count, nodes, nodes)
        except EvacError as exc:
            raise RequestFailed(str(exc)) from None
        sol.log = self._group_lines(gdx, sol, None)
        return sol

    def find_group(self, name: str) -> int:
        hits = [g for g, grp in enumerate(self.state.data.groups)
                if name in (grp.name, grp.uuid)]
        if len(hits) != 1:
            raise RequestFailed("Wrong number of elems found with name %s" % name)
        return hits[0]

    def commit(self, k: int, sol: AllocSolution) -> None:
        rec = self.state.data.instances[k]
        Allocator(self.sim, k, rec, self.opts.force, None).commit(
            sol.nodes, with_location=not self.dedicated)
        for check in self._checks.values():
            check.invalidate(sol.nodes)
        for cache in (self._pair_caches or {}).values():
            cache.touched(sol.nodes)

    def allocate(self, req: Allocate, k: int) -> Answer:
        restrict = self.opts.restrict_to
        if restrict is None:
            self.opts.restrict_to = req.restrict_to
        try:
            if self.opts.solver == "ilp" and not self.dedicated:
                got = self._ilp([(k, req.instance, req.required_nodes)], req.group_name)
                if got is not None:
                    nodes = got[0][0]
                    return Answer(got[1], [self.names[n] for n in nodes])
            sol = self._allocate_one(req, k, req.group_name)
        finally:
            self.opts.restrict_to = restrict
        info = ", ".join(sol.log)
        if sol.nodes is None:
            raise RequestFailed(info)
        self.commit(k, sol)
        return Answer(info, [self.names[n] for n in sol.nodes])

    def _allocate_one(self, req: Allocate, k: int, group: str | None) -> AllocSolution:
        inst = self.state.data.instances[k]
        if self.dedicated:
            return self.dedicated_allocate(k, inst, req.required_nodes, group)
        if group is None:
            return self.mg_alloc(k, inst, req.required_nodes)
        return self.group_alloc(k, inst, req.required_nodes, group)

    def _ilp(self, entries: list[tuple[int, Instance, int]], group: str | None):
        """Place entries jointly (solver.ilp), replayed through the exact checks.

        Returns the placements (None for an entry left out) and a note on the
        solver's outcome, or None when the joint placement cannot be used.
        """
        from solver.ilp import solve
        st = self.state
        nodes = group_nodes(st, self.find_group(group)) if group is not None \
            else np.arange(st.n_nodes, dtype=np.int64)
        restrict = self.opts.restrict_to
        if restrict is not None:
            nodes = np.array([n for n in nodes if self.names[n] in restrict], dtype=np.int64)
        res = solve(st, entries, nodes, self.opts.ilp_time_limit)
        if res is None or all(p is None for p in res.placements):
            return None
        scope = nodes if group is not None else np.arange(st.n_nodes, dtype=np.int64)
        with self.sim.trial():
            if not self._replay(entries, res.placements, scope):
                return None
        self._replay(entries, res.placements, scope)
        note = "ilp: %s, gap %.2f%%" % (res.status.lower(), 100.0 * res.gap)
        return res.placements, note

    def _replay(self, entries, placements, scope: np.ndarray) -> bool:
        """Apply placements with Ganeti's strict node checks; then the global N+1 check."""
        self._checks.clear()
        for (k, rec, _), nodes in zip(entries, placements, strict=True):
            if nodes is None:
                continue
            alloc = Allocator(self.sim, k, rec, self.opts.force, None)
            sol = alloc.pairs([(nodes[0], np.array(nodes[1:]))], scope) if len(nodes) == 2 \
                else alloc.single([nodes[0]], scope)
            if sol.nodes is None:
                return False
            alloc.commit(sol.nodes)
        if self.opts.capacity:
            return CapacityCheck(self.sim, scope, self.opts.accept_existing,
                                 AllocRecreate(self.sim, scope)).redundant()
        return True

    def ilp_multi_allocate(self, req: MultiAllocate, first: int) -> Answer | None:
        """multi-allocate with the joint placement; greedy places what it left out."""
        entries = [(first + j, e.instance, e.required_nodes)
                   for j, e in enumerate(req.entries)]
        got = self._ilp(entries, req.group_name)
        if got is None:
            return None
        placements, note = got
        done, failed = [], []
        for (k, rec, count), nodes in zip(entries, placements, strict=True):
            if nodes is None:
                sol = self._allocate_one(Allocate(rec, count), k, req.group_name)
                if sol.nodes is None:
                    failed.append([rec.name, ", ".join(sol.log)])
                    continue
                self.commit(k, sol)
                nodes = sol.nodes
            done.append([rec.name, [self.names[n] for n in nodes]])
        info = "%d instances failed to allocate and %d were allocated successfully (%s)" % (
            len(failed), len(done), note)
        return Answer(info, [done, failed])

    def multi_allocate(self, req: MultiAllocate, first: int) -> Answer:
        if self.dedicated:
            return self.dedicated_multi(req, first)
        if self.opts.solver == "ilp":
            ans = self.ilp_multi_allocate(req, first)
            if ans is not None:
                return ans
        done, failed = [], []
        self._pair_caches = {}
        for j, entry in enumerate(req.entries):
            k = first + j
            sol = self._allocate_one(entry, k, req.group_name)
            if sol.nodes is None:
                failed.append([entry.instance.name, ", ".join(sol.log)])
            else:
                self.commit(k, sol)
                done.append([entry.instance.name, [self.names[n] for n in sol.nodes]])
        info = "%d instances failed to allocate and %d were allocated successfully" % (
            len(failed), len(done))
        return Answer(info, [done, failed])

    # ---- moving existing instances -------------------------------------------
    def evac_answer(self, sol: EvacSolution) -> Answer:
        st = self.state
        inames = [i.name for i in st.data.instances]
        moved = [[inames[k], st.data.groups[g].name, [self.names[n] for n in nodes]]
                 for k, g, nodes in sol.moved]
        failed = [[inames[k], msg] for k, msg in sol.failed]
        jobs = [[op for k, kind, t in job for op in move_opcodes(st, k, kind, t)]
                for job in sol.jobs]
        info = "%d instances failed to move and %d were moved successfully" % (
            len(failed), len(moved))
        return Answer(info, [moved, failed, jobs])

    def node_evacuate(self, req: NodeEvacuate) -> Answer:
        return self.evac_answer(node_evacuate(self.sim, req.instances, req.mode,
                                              self.opts.force))

    def relocate(self, req: Relocate) -> Answer:
        st = self.state
        k = req.instance
        if req.required_nodes != 1:
            raise RequestFailed("Exchange %d nodes mode is not implemented"
                                % req.required_nodes)
        mirror = C.TEMPLATE_MIRROR[st.inst.template[k]]
        if mirror == C.MIRROR_NONE:
            raise RequestFailed("Can't relocate non-mirrored instances")
        internal = mirror == C.MIRROR_INTERNAL
        node = int(st.inst.snode[k] if internal else st.inst.pnode[k])
        if list(req.relocate_from) != [node]:
            raise RequestFailed(
                "Unsupported request: excluded nodes not equal to instance's %s(%d versus "
                "[%s])" % ("secondary" if internal else "primary", node,
                           ",".join(str(n) for n in req.relocate_from)))
        sol = node_evacuate(self.sim, [k], SECONDARY_ONLY if internal else PRIMARY_ONLY,
                            self.opts.force)
        if sol.failed:
            raise RequestFailed(sol.failed[0][1])
        new = st.inst.snode[k] if internal else st.inst.pnode[k]
        return Answer("success", [self.names[int(new)]])

    def change_group(self, req: ChangeGroup, clones: dict[int, int]) -> Answer:
        st = self.state
        evac_groups = []
        for k in req.instances:
            g = int(st.node[C.GROUP, st.inst.pnode[k]])
            if g not in evac_groups:
                evac_groups.append(g)
        targets = list(req.target_groups) or list(range(len(st.data.groups)))
        targets = [g for g in targets if g not in evac_groups]
        offline = set(np.flatnonzero(st.node[C.OFFLINE] != 0.0).tolist())
        sol = EvacSolution()
        # the moves themselves run with default options: soft errors count
        ev = Evacuator(self.sim, False)
        for k in req.instances:
            rec = st.data.instances[k]
            count = 2 if rec.template == "drbd" else 1

            def run(k=k, rec=rec, count=count):
                try:
                    gdx, _, _ = self.best_group(clones[k], rec, count, targets)
                except RequestFailed as exc:
                    raise EvacError(str(exc)) from None
                avail = [n for n in group_nodes(st, gdx).tolist() if n not in offline]
                return ev.instance(k, ALL, gdx, avail)
            record(sol, st, k, run)
        return self.evac_answer(sol)

    def allocate_secondary(self, req: AllocateSecondary) -> Answer:
        """tryAllocateSecondary: k becomes drbd with its primary kept, a secondary found."""
        st = self.state
        k = req.instance
        if st.inst.snode[k] >= 0:
            raise RequestFailed("Instance already has a secondary")
        p = int(st.inst.pnode[k])
        buf = self.sim.rows[p].copy()
        remove_pri(buf, self.sim.it, k)
        ia = st.inst
        for j in range(ia.excl_ptr[k], ia.excl_ptr[k + 1]):
            if st.ptags[p, ia.excl_ids[j]] >= 2:
                buf[C.CONFLICTS] -= 1.0
        if not ia.forthcoming[k]:
            buf[C.LOC_SCORE] -= ia.loc_score[k] + unmet(self.sim.ctx(), k, p)
        self.sim.commit_unplace(k, p, buf)
        rec = replace(st.data.instances[k], template="drbd")
        st.data.instances[k] = rec
        st.inst.template[k] = C.DT_DRBD
        grp = st.node[C.GROUP]
        ss = [int(n) for n in np.flatnonzero(grp == grp[p]) if n != p]
        everything = np.arange(st.n_nodes, dtype=np.int64)
        allocator = Allocator(self.sim, k, rec, self.opts.force, None)
        allocator.capacity = self._capacity(everything, allocator)
        if not ss:
            raise RequestFailed("Not enough online nodes")
        sol = allocator.pairs([(p, ss)], everything)
        info = sol.describe(self.names)
        if sol.nodes is None:
            raise RequestFailed(info)
        allocator.commit(sol.nodes)
        return Answer(info, self.names[sol.nodes[1]])

    # ---- dedicated clusters --------------------------------------------------
    def _dedicated_in_group(self, k: int, inst: Instance, count: int,
                            gdx: int) -> AllocSolution:
        """Dedicated findAllocation in one group; EvacError carries Ganeti's failure."""
        st = self.state
        grp = st.data.groups[gdx]
        if not self._networks_ok(gdx, inst):
            raise EvacError("The group %s is not connected to a network required by "
                            "instance %s" % (grp.name, inst.name))
        restrict = self.opts.restrict_to
        online = [int(n) for n in group_nodes(st, gdx) if st.node[C.OFFLINE, n] == 0.0
                  and (restrict is None or self.names[n] in restrict)]
        if count == 1:
            if not online:
                raise EvacError("No online nodes")
            cands = [(p, -1) for p in online]
        elif count == 2:
            cands = [(p, s) for p in online for s in online if s != p]
            if not cands:
                raise EvacError("Not enough online nodes")
        else:
            raise EvacError("Unsupported number of nodes, only one or two  supported")
        sol = DedicatedAllocator(self, k).run(cands)
        sol.log = [sol.describe(self.names, show_metric)]
        return sol

    def dedicated_allocate(self, k: int, inst: Instance, count: int,
                           group: str | None) -> AllocSolution:
        """runDedicatedAllocation for one instance: group path or every group."""
        st = self.state
        if group is not None:
            gdx = self.find_group(group)
            try:
                sol = self._dedicated_in_group(k, inst, count, gdx)
            except EvacError as exc:
                raise RequestFailed(str(exc)) from None
            sol.log = self._group_lines(gdx, sol, None)
            return sol
        msgs: list[str] = []
        groups = self._dedicated_groups
        if groups is None:
            groups = [int(g) for g in np.unique(st.node[C.GROUP]).astype(np.int64)]
        good = self._per_group(groups, msgs,
                               lambda g: self._dedicated_in_group(k, inst, count, g))
        if not good:
            raise RequestFailed(", ".join(msgs))
        g, sol = good[0]
        sol.log = ["Selected group: " + st.data.groups[g].name] + msgs
        return sol

    def dedicated_multi(self, req: MultiAllocate, first: int) -> Answer:
        """Dedicated multi-allocate, with Ganeti's node-list quirks (spec §5.8).

        A placed entry leaves Ganeti with only its group's nodes, so later
        entries see that group alone; with a group name every entry is placed
        against the original nodes, and only the last placement remains.
        """
        done, failed = [], []
        last = None
        for j, entry in enumerate(req.entries):
            k = first + j
            if req.group_name is not None:
                with self.sim.trial():
                    sol = self._allocate_one(entry, k, req.group_name)
            else:
                sol = self._allocate_one(entry, k, None)
            if sol.nodes is None:
                failed.append([entry.instance.name, ", ".join(sol.log)])
                continue
            done.append([entry.instance.name, [self.names[n] for n in sol.nodes]])
            if req.group_name is None:
                self.commit(k, sol)
                self._dedicated_groups = [int(self.state.node[C.GROUP, sol.nodes[0]])]
            last = (k, sol)
        if req.group_name is not None and last is not None:
            self.commit(*last)
        info = "%d instances failed to allocate and %d were allocated successfully" % (
            len(failed), len(done))
        return Answer(info, [done, failed])

    def answer(self, req: Request, first_new: int, clones: dict[int, int]) -> Answer:
        if is_dedicated(self.state, req):
            self.dedicated = True
        self._winner_only = isinstance(req, MultiAllocate | ChangeGroup)
        if isinstance(req, Allocate):
            return self.allocate(req, first_new)
        if isinstance(req, MultiAllocate):
            return self.multi_allocate(req, first_new)
        if isinstance(req, Relocate):
            return self.relocate(req)
        if isinstance(req, NodeEvacuate):
            return self.node_evacuate(req)
        if isinstance(req, ChangeGroup):
            return self.change_group(req, clones)
        return self.allocate_secondary(req)


def with_new_instances(data: ClusterData, req: Request, request_tags: list[str] | None = None,
                       ) -> tuple[ClusterData, int, dict[int, int]]:
    """The cluster plus the instances the request needs as unplaced entries.

    New instances (allocate, multi-allocate) come first; change-group adds an
    unplaced copy of each instance it moves, which group selection places
    tentatively (Ganeti scores a new copy while the original stays).
    ``request_tags``: the request's cluster tags when ``data`` replaced its
    cluster (hail -t); Ganeti read the new instances' exclusion and
    desired-location tags with those before it dropped the request's data.
    Returns the data, the index of the first new instance and the copies.
    """
    extra: list[Instance] = []
    clones: dict[int, int] = {}
    first = len(data.instances)
    if isinstance(req, Allocate):
        extra = [replace(req.instance, cluster_tags=request_tags)]
    elif isinstance(req, MultiAllocate):
        extra = [replace(e.instance, cluster_tags=request_tags) for e in req.entries]
    elif isinstance(req, ChangeGroup):
        for k in req.instances:
            if k not in clones:
                clones[k] = first + len(extra)
                extra.append(replace(data.instances[k], pnode=-1, snode=-1))
    unplaced = [replace(i, pnode=-1, snode=-1) for i in extra]
    return replace(data, instances=data.instances + unplaced), first, clones


def run_request(data: ClusterData, req: Request) -> Answer:
    """Answer ``req`` against ``data`` as hail does, for callers that hold the cluster.

    hrapid's opcodes place and move instances with it in-process; the answer
    is the one the hail command gives, with its default options, for the same
    cluster and request.  ``data`` is left as it was.
    """
    full, first, clones = with_new_instances(data, req)
    return Hail(load_cluster(full), HailOptions()).answer(req, first, clones)


def _show_maybe(allowed: list[int] | None) -> str:
    return "Nothing" if allowed is None else "Just [" + ",".join(map(str, allowed)) + "]"


_POLICY_SHOW = {"preferred": "AllocPreferred", "last_resort": "AllocLastResort",
                "unallocable": "AllocUnallocable"}

def show_group(grp, idx: int) -> str:
    """Haskell's show of Ganeti's Group record (it appears in one error message)."""
    from htools.fmt import TEMPLATE_SHOW, show_double, show_string, show_string_list

    def spec(s) -> str:
        return ("ISpec {iSpecMemorySize = %d, iSpecCpuCount = %d, iSpecDiskSize = %d, "
                "iSpecDiskCount = %d, iSpecNicCount = %d, iSpecSpindleUse = %d}"
                % (s.mem, s.cpu, s.disk_size, s.disk_count, s.nic_count, s.spindle_use))
    pol = grp.ipolicy
    minmax = ",".join("MinMaxISpecs {minMaxISpecsMinSpec = %s, minMaxISpecsMaxSpec = %s}"
                      % (spec(lo), spec(hi)) for lo, hi in pol.minmax)
    ipol = ("IPolicy {iPolicyMinMaxISpecs = [%s], iPolicyStdSpec = %s, "
            "iPolicyDiskTemplates = [%s], iPolicyVcpuRatio = %s, iPolicySpindleRatio = %s}"
            % (minmax, spec(pol.std),
               ",".join(TEMPLATE_SHOW[t] for t in pol.disk_templates),
               show_double(pol.vcpu_ratio), show_double(pol.spindle_ratio)))
    return ("Group {name = %s, uuid = %s, idx = %d, allocPolicy = %s, networks = %s, "
            "iPolicy = %s, allTags = %s}"
            % (show_string(grp.name), show_string(grp.uuid), idx,
               _POLICY_SHOW[grp.alloc_policy], show_string_list(grp.networks), ipol,
               show_string_list(grp.tags)))
