"""hspace's capacity simulation: standard and tiered allocation (spec §6.2-6.4).

The cluster is filled with copies of one instance spec until tryAlloc finds no
place (standard), or, tiered, the spec is shrunk on the resource that ran out
and filling goes on.  Every step is hail's tryAlloc over the same candidates,
so the multi-allocate machinery does the work: identical entries carry their
pair scores over (``solver.pairbounds``), the N+1 checks are incremental
(``solver.globaln1``), and Ganeti's big-step heuristic, which places many
instances and then checks redundancy once, is replayed with the simulator's
tentative blocks instead of state copies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from solver import cluster as C
from solver.allocate import Allocator, AllocSolution, feasibility, policy_failure
from solver.evacuate import group_nodes
from solver.globaln1 import AllocRecreate, CapacityCheck
from solver.loader import add_unplaced
from solver.nodeops import InstTuple
from solver.pairbounds import PairCache
from solver.records import Instance
from solver.simulate import Simulator

UNIT_MEM, UNIT_DSK, UNIT_CPU, UNIT_SPN = 64, 256, 1, 1
N_MODES = len(C.FAIL_MODES)


@dataclass(frozen=True)
class RSpec:
    """A resource spec (Ganeti's RSpec): what hspace allocates and reports."""

    mem: int
    dsk: int
    cpu: int
    spn: int


_SHRINK = {C.FAIL_MEM: ("mem", UNIT_MEM), C.FAIL_DISK: ("dsk", UNIT_DSK),
           C.FAIL_CPU: ("cpu", UNIT_CPU), C.FAIL_SPINDLES: ("spn", UNIT_SPN)}


def shrink(spec: RSpec, mode: int) -> RSpec | None:
    """shrinkByType: one unit less of the failing resource, None when it cannot."""
    if mode not in _SHRINK:
        return None
    name, unit = _SHRINK[mode]
    value = getattr(spec, name) - unit
    return replace(spec, **{name: value}) if value >= unit else None


@dataclass(frozen=True)
class Attempt:
    """What hspace keeps of a tryAlloc: the placement (None: none) and failure counts."""

    nodes: tuple[int, ...] | None
    failures: tuple[int, ...]


class NoCandidates(Exception):
    """tryAlloc has no node to try (Ganeti's message)."""


class Filler:
    """The cluster hspace fills: a simulator, its candidates and the placed instances.

    ``template``/``su`` describe every new instance; ``cand`` are the online
    nodes of allocable groups, ``ignored`` the groups the capacity checks skip.
    """

    def __init__(self, state: C.ClusterState, template: str, su: int, cand: np.ndarray,
                 ignored: list[int], capacity: bool, accept_existing: bool) -> None:
        self.state = state
        self.sim = Simulator(state)
        self.template = template
        self.su = su
        self.required = 2 if template == "drbd" else 1
        self.cand = cand
        self.capacity = capacity
        self.accept_existing = accept_existing
        self.everything = np.arange(state.n_nodes, dtype=np.int64)
        groups = state.node[C.GROUP].astype(np.int64)
        self.checked = self.everything[~np.isin(groups, ignored)]
        self.placed: list[int] = []  # instance indices, in allocation order
        self._free: list[int] = []   # unplaced instance slots
        self._check: CapacityCheck | None = None
        self._pairs = PairCache()
        # tryAlloc answers and the redundancy verdict for the current state:
        # tiered allocation asks the same questions many times over (Ganeti's
        # shrink recursion re-walks every shorter chain of specs)
        self._version = 0
        self._memo: dict[tuple, Attempt] = {}
        self._memo_version = 0
        self._redundant: tuple[int, bool] | None = None
        self._suff: dict[tuple[RSpec, int], RSpec | None] = {}
        self._suff_version = 0

    # ---- instances -----------------------------------------------------------
    def _slot(self, spec: RSpec) -> int:
        """An unplaced instance of ``spec`` named new-<placed so far>."""
        self.reserve(1)
        k = self._free[-1]
        st = self.state
        ia = st.inst
        rec = self._record("new-%d" % len(self.placed), spec)
        st.data.instances[k] = rec
        st.inst_alias[k] = rec.name
        ia.mem[k], ia.dsk[k], ia.vcpus[k] = spec.mem, spec.dsk, spec.cpu
        ia.total_spindles[k] = spec.spn
        return k

    def _record(self, name: str, spec: RSpec) -> Instance:
        """instFromSpec: a running instance with one disk of the spec's size and spindles."""
        return Instance(name=name, mem=spec.mem, dsk=spec.dsk, vcpus=spec.cpu,
                        status="running", auto_balance=True, pnode=-1, snode=-1,
                        template=self.template, spindle_use=self.su,
                        disks=[(spec.dsk, spec.spn)])

    def reserve(self, n: int) -> None:
        """At least ``n`` free slots (growing swaps the simulator: never inside a block)."""
        if len(self._free) < n:
            self._grow(max(n, 64, len(self.placed)))

    def _grow(self, n: int) -> None:
        """More unplaced slots; the simulator and checks are rebuilt on the new arrays."""
        first = self.state.n_instances
        proto = Instance(name="", mem=0, dsk=0, vcpus=0, status="running", auto_balance=True,
                         pnode=-1, snode=-1, template=self.template,
                         spindle_use=self.su, disks=[(0, 0)])
        self.state = add_unplaced(self.state, [proto] * n)
        self.sim = Simulator(self.state)
        self._check = None
        self._pairs = PairCache()
        self._free = list(range(first + n - 1, first - 1, -1))

    def spec_of(self, k: int) -> RSpec:
        ia = self.state.inst
        return RSpec(int(ia.mem[k]), int(ia.dsk[k]), int(ia.vcpus[k]),
                     int(ia.total_spindles[k]))

    # ---- tryAlloc --------------------------------------------------------------
    def _capacity_check(self) -> CapacityCheck:
        if self._check is None:
            self._check = CapacityCheck(self.sim, self.checked, self.accept_existing,
                                        AllocRecreate(self.sim, self.everything))
        return self._check

    def try_alloc(self, k: int, capacity: bool, winner_only: bool) -> Attempt:
        """tryAlloc of slot k over the candidates, scored over every node (memoised)."""
        if self._memo_version != self._version:
            self._memo.clear()
            self._memo_version = self._version
        key = (self.spec_of(k), capacity, winner_only)
        if key not in self._memo:
            sol = self._try_alloc(k, capacity, winner_only)
            self._memo[key] = Attempt(sol.nodes, sol.failure_counts())
        return self._memo[key]

    def _try_alloc(self, k: int, capacity: bool, winner_only: bool) -> AllocSolution:
        alloc = Allocator(self.sim, k, self.state.data.instances[k], False, None)
        if capacity:
            check = self._capacity_check()
            alloc.capacity = lambda kk, nodes: check.after(
                lambda: alloc.commit(nodes), nodes, (kk, nodes[0]))
        alloc.winner_only = winner_only
        if winner_only:
            alloc.pair_cache = self._pairs
        if self.required == 1:
            if not len(self.cand):
                raise NoCandidates("No online nodes")
            return alloc.single(self.cand, self.everything)
        grp = self.state.node[C.GROUP, self.cand]
        if not any((grp == g).sum() > 1 for g in np.unique(grp)):
            raise NoCandidates("Not enough online nodes")
        return alloc.pairs_online(self.cand, self.everything)

    def _commit(self, k: int, nodes: tuple[int, ...]) -> None:
        Allocator(self.sim, k, self.state.data.instances[k], False, None).commit(nodes)
        self._free.pop()
        self.placed.append(k)
        self._version += 1
        if self._check is not None:
            self._check.invalidate(nodes)
        self._pairs.touched(nodes)

    def redundant(self) -> bool:
        """The whole-cluster N+1 check on the current state."""
        if self._redundant is None or self._redundant[0] != self._version:
            self._check = None
            self._redundant = (self._version, self._capacity_check().redundant())
        return self._redundant[1]

    # ---- allocation loops ----------------------------------------------------
    def small_step(self, spec: RSpec, limit: int | None, capacity: bool) -> tuple[int, ...]:
        """iterateAllocSmallStep: place copies until none fits (or the limit)."""
        capacity = capacity and self.template != "drbd"
        while True:
            k = self._slot(spec)
            sol = self.try_alloc(k, capacity, winner_only=limit != 0)
            if sol.nodes is None or limit == 0:
                return sol.failures
            self._commit(k, sol.nodes)
            if limit is not None:
                limit -= 1

    def iterate(self, spec: RSpec, limit: int | None, huge: bool = True) -> tuple[int, ...]:
        """iterateAlloc: big steps without capacity checks, kept if still redundant."""
        if not self.capacity:
            return self.small_step(spec, limit, False)
        if huge:
            avail = int(self.state.avail_mem().sum())
            big = max(20, avail // spec.mem - self.state.n_nodes) if spec.mem else 20
        else:
            big = 10
        step, rest = (big, None) if limit is None else (min(big, limit), max(0, limit - big))
        self.reserve(step + 1)
        before = len(self.placed)
        free = list(self._free)
        with self.sim.tentative() as block:
            errs = self.small_step(spec, step, False)
            block.keep = self.redundant()
        if not block.keep:
            del self.placed[before:]
            self._free = free
            self._check = None
            self._pairs = PairCache()
            self._version += 1
        if block.keep:
            if rest == 0 or len(self.placed) == before:
                return errs
            return self.iterate(spec, rest, huge)
        if huge:
            return self.iterate(spec, limit, False)
        return self.small_step(spec, limit, True)

    def _answer(self, spec: RSpec) -> Attempt:
        """tryAlloc of ``spec`` with the capacity checks as configured (tryAlloc errors
        count as no solution and no failures)."""
        key = (spec, self.capacity, False)
        if self._memo_version == self._version and key in self._memo:
            return self._memo[key]
        try:
            return self.try_alloc(self._slot(spec), self.capacity, False)
        except NoCandidates:
            return Attempt(None, (0,) * N_MODES)

    def _node_checks(self, specs: list[RSpec]) -> tuple[np.ndarray, np.ndarray]:
        """``feasibility`` of each spec over the candidates (no scores, no N+1)."""
        n = len(specs)
        ok = np.zeros(n, dtype=np.bool_)
        modes = np.zeros((n, N_MODES), dtype=np.bool_)
        if not n or not len(self.cand):
            return ok, modes
        st = self.state
        grp = st.node[C.GROUP].astype(np.int64)
        prims = self.cand
        if self.required == 2:
            sizes = np.bincount(grp[self.cand], minlength=int(grp.max()) + 1)[grp[self.cand]]
            prims = self.cand[sizes > 1]
        recs = [self._record("", x) for x in specs]
        pol = np.empty((n, len(prims)), dtype=np.int64)
        for key in {(id(st.node_policy[p]), bool(st.node[C.EXCL, p])) for p in prims}:
            cols = [i for i, p in enumerate(prims)
                    if (id(st.node_policy[p]), bool(st.node[C.EXCL, p])) == key]
            pol_obj = st.node_policy[prims[cols[0]]]
            res = [policy_failure(r, pol_obj, key[1]) for r in recs]
            pol[:, cols] = np.array(res, dtype=np.int64)[:, None]
        it = InstTuple(
            np.array([x.mem for x in specs], dtype=np.int64),
            np.array([x.dsk for x in specs], dtype=np.int64),
            np.array([x.cpu for x in specs], dtype=np.int64),
            np.ones(n, dtype=np.bool_), np.ones(n, dtype=np.bool_),
            np.ones(n, dtype=np.bool_), np.zeros(n, dtype=np.bool_),
            np.full(n, C.TEMPLATE_CODE[self.template], dtype=np.int8),
            np.full(n, self.su, dtype=np.int64),
            np.array([x.spn for x in specs], dtype=np.int64), np.ones((n, 4)))
        feasibility(self.sim.rows, st.peers, it, prims, self.cand, grp, self.required == 2,
                    pol, ok, modes)
        return ok, modes

    def _walk(self, chain: list[RSpec], mode: int) -> int | None:
        """Where the walk down ``chain`` ends: e (>= 0) if chain[e] fits, -(e + 1) if
        chain[e] neither fits nor fails on ``mode``, None if it runs off the end.

        The node checks run in blocks of growing size (most walks end early);
        only a spec that passes them can fit, and the full tryAlloc (with
        its N+1 filter) decides for those alone.
        """
        pos, block = 0, 8
        while pos < len(chain):
            ok, modes = self._node_checks(chain[pos:pos + block])
            for e in range(len(ok)):
                if ok[e] and self._answer(chain[pos + e]).nodes is not None:
                    return pos + e
                if not modes[e, mode]:
                    return -(pos + e + 1)
            pos += block
            block *= 4
        return None

    def suffices(self, spec: RSpec, mode: int) -> RSpec | None:
        """sufficesShrinking: the first shrunk spec that fits, while shrinking helps.

        The chain is spec, shrink(spec), ... up to (not including) the first
        element that cannot shrink further; the walk gives up at the first
        element that neither fits nor fails on ``mode``.  Answers are kept per
        (spec, mode) for the current state: the tiered descent asks again
        for every suffix of the same chain.
        """
        if self._suff_version != self._version:
            self._suff.clear()
            self._suff_version = self._version
        walked: list[RSpec] = []
        cur: RSpec | None = spec
        found: RSpec | None = None
        while cur is not None and (cur, mode) not in self._suff:
            nxt = shrink(cur, mode)
            if nxt is None:
                break  # iterateOk drops the element that cannot shrink further
            walked.append(cur)
            cur = nxt
        if cur is not None and (cur, mode) in self._suff:
            found = self._suff[(cur, mode)]
        end = self._walk(walked, mode)
        if end is not None:
            found = walked[end] if end >= 0 else None
            del walked[abs(end) if end < 0 else end + 1:]
        for x in walked:
            self._suff[(x, mode)] = found
        return found

    def tiered(self, spec: RSpec, limit: int | None) -> tuple[int, ...]:
        """tieredAlloc: fill, then shrink on the most frequent failure and go on.

        Ganeti recurses once per shrink (thousands deep when disk shrinks by
        256 MiB a time); the descent here is a loop with the frames kept on
        a list, unwound as Ganeti's recursion returns.  A frame whose deeper
        levels placed nothing tries ``suffices`` on each failure mode, most
        frequent first, and continues from the first spec that fits.
        """
        frames = []
        result: tuple[int, ...] | None = None
        while True:
            errs = self.iterate(spec, limit)
            done = len(self.placed)
            if limit is not None and limit <= done:
                result = errs
                break
            newlimit = None if limit is None else limit - done
            order = sorted(range(N_MODES), key=lambda m, e=errs: e[m])
            frames.append((spec, errs, done, newlimit, order))
            spec = shrink(spec, order[-1])
            if spec is None:
                break
            limit = newlimit
        while frames:
            spec, errs, done, newlimit, order = frames.pop()
            if result is not None and len(self.placed) > done:
                continue  # the deeper levels made progress: their result stands
            result = errs
            for mode in reversed(order):
                found = self.suffices(spec, mode)
                if found is not None:
                    result = self.tiered(found, newlimit)
                    break
        assert result is not None
        return result


def allocable_nodes(state: C.ClusterState, unallocable: set[int]) -> np.ndarray:
    """genAllocNodes' node list: online nodes of groups that take instances."""
    nd = state.node
    groups = nd[C.GROUP].astype(np.int64)
    keep = (nd[C.OFFLINE] == 0.0) & ~np.isin(groups, sorted(unallocable))
    return np.flatnonzero(keep).astype(np.int64)


def bad_groups(state: C.ClusterState, accept_existing: bool) -> list[int]:
    """Groups (by index, every group) that are not globally N+1 redundant."""
    sim = Simulator(state)
    out = []
    for g in range(len(state.data.groups)):
        nodes = group_nodes(state, g)
        check = CapacityCheck(sim, nodes, accept_existing, AllocRecreate(sim, nodes))
        if not check.redundant():
            out.append(g)
    return out


@dataclass
class Setup:
    """Where hspace may place new instances, and whether it allocates at all.

    ``stop`` is hspace's refusal to allocate on a cluster whose nodes already
    fail N+1 (unless told to accept that or to skip the bad groups).
    """

    cand: np.ndarray
    ignored: list[int]
    stop: bool
    bad_nodes: list[int]
    bad_groups: list[int]


def allocation_setup(state: C.ClusterState, accept_existing: bool,
                     independent_groups: bool) -> Setup:
    """hspace's choice of candidate nodes and ignored groups before any allocation."""
    nd = state.node
    groups = state.data.groups
    bad_nodes = [n for n in range(state.n_nodes) if nd[C.OFFLINE, n] == 0 and nd[C.N1_FAIL, n]]
    bad = bad_groups(state, accept_existing)
    unalloc = {g for g, grp in enumerate(groups) if grp.alloc_policy == "unallocable"}
    if not accept_existing:
        unalloc |= {int(nd[C.GROUP, n]) for n in bad_nodes}
    ignored: list[int] = []
    if independent_groups:
        unalloc |= set(bad)
        ignored = bad
    remaining = any(g not in unalloc for g in range(len(groups)))
    stop = not (accept_existing or (independent_groups and remaining) or not bad_nodes)
    return Setup(allocable_nodes(state, unalloc), ignored, stop, bad_nodes, bad)


def spec_runs(state: C.ClusterState, placed: list[int]) -> list[tuple[RSpec, int]]:
    """tieredSpecMap: consecutive placements of one spec, counted."""
    ia = state.inst
    runs: list[tuple[RSpec, int]] = []
    for k in placed:
        sp = RSpec(int(ia.mem[k]), int(ia.dsk[k]), int(ia.vcpus[k]),
                   max(int(ia.total_spindles[k]), 0))
        if runs and runs[-1][0] == sp:
            runs[-1] = (sp, runs[-1][1] + 1)
        else:
            runs.append((sp, 1))
    return runs
