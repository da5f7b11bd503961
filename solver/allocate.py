"""Placing a new instance: Ganeti's tryAlloc and its multi-group wrapper (spec §5.2).

A candidate is one node (single-node templates) or a (primary, secondary)
pair.  Single candidates are scored by full recomputation, pairs by Ganeti's
incremental statistics (§3.4) - the two paths round differently and the
printed scores and tie-breaks follow each one's bits.  Candidates of one
primary (or all single nodes) are sorted by score, last tried first among
equals, and the first that keeps the cluster globally N+1 redundant wins
(``solver.globaln1``); across primaries the lower score wins, a tie going to
the later primary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from htools.fmt import fmt_fixed
from solver import cluster as C
from solver.estimate import fast_estimate, group_sums
from solver.jit import njit, parallel_range, threads_for
from solver.metrics import (
    AGG_MAP,
    AGG_OFF,
    AGG_STD,
    AGGREGATION,
    N_METRICS,
    WEIGHTS,
    exact_score,
    map_value,
    metric_table,
    node_values,
)
from solver.moves import loc_common, unmet
from solver.nodeops import add_pri, add_sec
from solver.records import Instance, IPolicy
from solver.simulate import Simulator

prange = parallel_range()

NO_SOLUTION = "No valid allocation solutions, failure reasons: "


# ---- policy --------------------------------------------------------------------

def policy_failure(inst: Instance, pol: IPolicy, excl: bool) -> int:
    """instMatchesPolicy: OK, or the failure mode of the first min/max pair."""
    first = C.OK
    for i, (lo, hi) in enumerate(pol.minmax):
        r = _spec_failure(inst, lo, excl, below=True)
        if r == C.OK:
            r = _spec_failure(inst, hi, excl, below=False)
        if r == C.OK:
            break
        if i == 0:
            first = r
    else:
        if pol.minmax:
            return first
    if inst.template not in pol.disk_templates:
        return C.FAIL_DISK
    return C.OK


def _spec_failure(inst: Instance, spec, excl: bool, below: bool) -> int:
    def bad(value: int, bound: int) -> bool:
        return value < bound if below else value > bound

    if bad(inst.mem, spec.mem):
        return C.FAIL_MEM
    if any(bad(size, spec.disk_size) for size, _ in inst.disks):
        return C.FAIL_DISK
    if bad(inst.vcpus, spec.cpu):
        return C.FAIL_CPU
    if excl:
        spn = [s for _, s in inst.disks]
        if any(s is None for s in spn) or bad(sum(spn), spec.spindle_use):
            return C.FAIL_SPINDLES
    elif bad(inst.spindle_use, spec.spindle_use):
        return C.FAIL_SPINDLES
    if inst.template != "diskless" and bad(len(inst.disks), spec.disk_count):
        return C.FAIL_DISKCOUNT
    return C.OK


def tag_reject(state: C.ClusterState, k: int, n: int) -> bool:
    """Whether node n already has a primary with one of k's exclusion tags."""
    ia = state.inst
    return any(state.ptags[n, ia.excl_ids[j]] > 0
               for j in range(ia.excl_ptr[k], ia.excl_ptr[k + 1]))


# ---- solutions -----------------------------------------------------------------

@dataclass
class AllocSolution:
    """Ganeti's AllocSolution: failure counts, successes, the chosen placement."""

    failures: list[int] = field(default_factory=list)
    allocs: int = 0
    score: float = math.inf
    nodes: tuple[int, ...] | None = None
    log: list[str] = field(default_factory=list)

    def add(self, other: AllocSolution) -> None:
        """sumAllocs: the other (later) solution wins ties."""
        self.failures += other.failures
        self.allocs += other.allocs
        if other.nodes is not None and (self.nodes is None or not self.score < other.score):
            self.score, self.nodes = other.score, other.nodes

    def failure_counts(self) -> tuple[int, ...]:
        """collapseFailures: how often each mode failed, in enum order."""
        out = [0] * len(C.FAIL_MODES)
        for m in self.failures:
            out[m] += 1
        return tuple(out)

    def reasons(self) -> str:
        return ", ".join("%s: %d" % (C.FAIL_MODES[m], c)
                         for m, c in enumerate(self.failure_counts()) if c)

    def describe(self, names: Sequence[str], fmt: Callable[[object], str] | None = None) -> str:
        """solutionDescription's line for this solution."""
        if self.nodes is None:
            return NO_SOLUTION + (self.reasons() if self.failures else "unknown reasons")
        metric = fmt(self.score) if fmt else fmt_fixed(self.score, 8)
        return "score: %s, successes %d, failures %d (%s) for node(s) %s" % (
            metric, self.allocs, len(self.failures), self.reasons(),
            "/".join(names[n] for n in self.nodes))


def collapse(scores: np.ndarray, nodes: Callable[[int], tuple[int, ...]],
             failures: Sequence[int], is_good: Callable[[tuple[int, ...]], bool],
             presorted: bool = False) -> AllocSolution:
    """collectionToSolution: best first (last tried first among equals), then filter.

    ``scores[i]`` is the i-th successful candidate in trial order (or, with
    ``presorted``, in the order to try) and ``nodes(i)`` its placement;
    candidates the filter drops count as FailN1.
    """
    n = len(scores)
    order = np.arange(n) if presorted else n - 1 - np.argsort(scores[::-1], kind="stable")
    sol = AllocSolution(failures=list(failures), allocs=n)
    for i in order:
        cand = nodes(int(i))
        if is_good(cand):
            sol.score, sol.nodes = float(scores[i]), cand
            break
        sol.failures.append(C.FAIL_N1)
        sol.allocs -= 1
    return sol


# ---- scoring -------------------------------------------------------------------

@njit()
def _stats(nd, nodes, stat_n, stat_s, stat_v) -> int:
    """compClusterStatistics over ``nodes``: (n, s, var) or sums per metric."""
    work = np.empty((N_METRICS, nodes.shape[0]))
    online = np.empty(nodes.shape[0], dtype=np.bool_)
    n_on = metric_table(nd, nodes, np.zeros(1, np.int64), np.zeros((1, nd.shape[0])), 0,
                        work, online)
    for i in range(N_METRICS):
        agg = AGGREGATION[i]
        if agg == AGG_STD:
            n = 0.0
            s = 0.0
            for j in range(nodes.shape[0]):
                if online[j]:
                    n = n + 1.0
                    s = s + work[i, j]
            mean = s / n
            nv = 0.0
            for j in range(nodes.shape[0]):
                if online[j]:
                    d = work[i, j] - mean
                    nv = nv + d * d
            stat_n[i] = n
            stat_s[i] = s
            stat_v[i] = nv / n
        else:
            want = agg != AGG_OFF
            s = 0.0
            for j in range(nodes.shape[0]):
                if online[j] == want:
                    s = s + work[i, j]
            stat_s[i] = s
    return n_on


@njit()
def _update(stat_n, stat_s, stat_v, old, new, online) -> None:
    """updateStatistics for one node going from ``old`` to ``new`` values."""
    for i in range(N_METRICS):
        agg = AGGREGATION[i]
        if agg == AGG_MAP or (agg == AGG_OFF) == online:
            continue
        x = old[i]
        y = new[i]
        if agg == AGG_STD:
            n = stat_n[i]
            s = stat_s[i]
            ds = y - x
            dss = y * y - x * x
            dnnvar = (n * dss - 2.0 * s * ds) - ds * ds
            stat_s[i] = s + ds
            stat_v[i] = max(0.0, stat_v[i] + dnnvar / (n * n))
        else:
            stat_s[i] = stat_s[i] + (y - x)


@njit()
def _stats_score(stat_s, stat_v, map_val) -> float:
    total = 0.0
    for i in range(N_METRICS):
        agg = AGGREGATION[i]
        if agg == AGG_STD:
            v = math.sqrt(stat_v[i])
        elif agg == AGG_MAP:
            v = map_val
        else:
            v = stat_s[i]
        total = total + WEIGHTS[i] * v
    return total


@njit()
def _primary_stats(rows, p, new_p, stat_n, stat_s, stat_v, sn, s1, sv, old, new) -> None:
    """The statistics with p replaced by its buffer after addPri (into sn/s1/sv)."""
    sn[:] = stat_n
    s1[:] = stat_s
    sv[:] = stat_v
    node_values(rows[p], old)
    node_values(new_p, new)
    _update(sn, s1, sv, old, new, rows[p, C.OFFLINE] == 0.0)


@njit()
def _pair_score(rows, peers, it, k, p, s, sn, s1, sv, map_val, buf, old, new, n2, t1, v2):
    """Strict addSec of k on s, then the incremental score of the pair: (result, score)."""
    for f in range(rows.shape[1]):
        buf[f] = rows[s, f]
    r = add_sec(buf, it, k, peers[s, p], False, False)
    if r != C.OK:
        return r, 0.0
    n2[:] = sn
    t1[:] = s1
    v2[:] = sv
    node_values(rows[s], old)
    node_values(buf, new)
    _update(n2, t1, v2, old, new, rows[s, C.OFFLINE] == 0.0)
    return r, _stats_score(t1, v2, map_val)


@njit()
def pair_scores(rows, peers, it, k, p, new_p, ss, stat_n, stat_s, stat_v, map_val,
                out_r, out_score) -> None:
    """Score every (p, s) for s in ``ss`` with the incremental statistics.

    ``new_p`` is p's buffer after addPri; each s gets a strict addSec.
    """
    buf = np.empty(rows.shape[1])
    old, new = np.empty(N_METRICS), np.empty(N_METRICS)
    sn, s1, sv = np.empty(N_METRICS), np.empty(N_METRICS), np.empty(N_METRICS)
    n2, t1, v2 = np.empty(N_METRICS), np.empty(N_METRICS), np.empty(N_METRICS)
    _primary_stats(rows, p, new_p, stat_n, stat_s, stat_v, sn, s1, sv, old, new)
    for j in range(ss.shape[0]):
        r, sc = _pair_score(rows, peers, it, k, p, ss[j], sn, s1, sv, map_val, buf, old, new,
                            n2, t1, v2)
        out_r[j] = r
        out_score[j] = sc


@njit(parallel=True)
def pair_matrix(rows, peers, it, k, prims, cand, group, force, rejected, conflicts, locs,
                stat_n, stat_s, stat_v, map_vals, out_pr, out_r, out_score, out_dmin,
                out_dmax, out_bmax) -> None:
    """Every (primary, secondary) of a request at once (no location tags involved).

    Row i is primary ``prims[i]`` (its addPri result in ``out_pr[i]``); column
    j is candidate ``cand[j]``, skipped (-2) when it is the primary itself or
    in another group.  Rows are independent and run in parallel.  Each row
    also records, over its placeable pairs, the range of every metric's
    variance change and the largest change of its sum (``out_d*``/``out_bmax``,
    initialised by the caller): what ``solver.pairbounds`` needs to bound how
    the row's scores drift when other nodes change.
    """
    nf = rows.shape[1]
    for i in prange(prims.shape[0]):
        new_p = np.empty(nf)
        buf = np.empty(nf)
        old, new = np.empty(N_METRICS), np.empty(N_METRICS)
        sn, s1, sv = np.empty(N_METRICS), np.empty(N_METRICS), np.empty(N_METRICS)
        n2, t1, v2 = np.empty(N_METRICS), np.empty(N_METRICS), np.empty(N_METRICS)
        p = prims[i]
        for f in range(nf):
            new_p[f] = rows[p, f]
        r = add_pri(new_p, it, k, force, rejected[i])
        out_pr[i] = r
        if r != C.OK:
            continue
        new_p[C.CONFLICTS] += conflicts[i]
        new_p[C.LOC_SCORE] += locs[i]
        _primary_stats(rows, p, new_p, stat_n, stat_s, stat_v, sn, s1, sv, old, new)
        for j in range(cand.shape[0]):
            s = cand[j]
            if s == p or group[s] != group[p]:
                out_r[i, j] = -2
                continue
            rr, sc = _pair_score(rows, peers, it, k, p, s, sn, s1, sv, map_vals[i], buf,
                                 old, new, n2, t1, v2)
            out_r[i, j] = rr
            out_score[i, j] = sc
            if rr == C.OK:
                for m in range(N_METRICS):
                    d = v2[m] - stat_v[m]
                    out_dmin[i, m] = min(out_dmin[i, m], d)
                    out_dmax[i, m] = max(out_dmax[i, m], d)
                    out_bmax[i, m] = max(out_bmax[i, m], abs(t1[m] - stat_s[m]))


@njit()
def feasibility(rows, peers, it, prims, cand, group, pairs, pol, out_ok, out_modes) -> None:
    """tryAlloc's node checks without scores, for every instance e of ``it`` at once.

    ``prims`` are the candidate primaries (``pol[e, i]`` their policy result),
    ``cand`` the secondaries when ``pairs``.  ``out_ok[e]``: some candidate
    passes every node check; ``out_modes[e, m]``: failure mode m occurs.  The
    instances carry no tags (hspace's shrinking chains of one spec).
    """
    nf = rows.shape[1]
    buf = np.empty(nf)
    sbuf = np.empty(nf)
    for e in range(it.mem.shape[0]):
        for i in range(prims.shape[0]):
            p = prims[i]
            if pol[e, i] != C.OK:
                out_modes[e, pol[e, i]] = True
                continue
            for f in range(nf):
                buf[f] = rows[p, f]
            r = add_pri(buf, it, e, False, False)
            if r != C.OK:
                out_modes[e, r] = True
                continue
            if not pairs:
                out_ok[e] = True
                continue
            for j in range(cand.shape[0]):
                s = cand[j]
                if s == p or group[s] != group[p]:
                    continue
                for f in range(nf):
                    sbuf[f] = rows[s, f]
                r = add_sec(sbuf, it, e, peers[s, p], False, False)
                if r == C.OK:
                    out_ok[e] = True
                else:
                    out_modes[e, r] = True


@njit(inline="always")
def _primary_copy(rows, it, k, n, force, tag_reject, conflicts, loc, buf) -> int:
    """addPriEx of k on a copy of node n's row in ``buf``, plus its tag and location changes."""
    for f in range(rows.shape[1]):
        buf[f] = rows[n, f]
    r = add_pri(buf, it, k, force, tag_reject)
    buf[C.CONFLICTS] += conflicts
    buf[C.LOC_SCORE] += loc
    return r


@njit()
def single_scores(nd, rows, it, k, nodes, scoring, force, tag_reject, conflicts, loc,
                  base_map, map_add, exact, out_r, out_score) -> None:
    """addPriEx of k on each node, and the full score where ``exact`` asks for it.

    ``conflicts``/``loc``/``map_add`` are the per-node changes of conflicting
    primaries, location score and location-exclusion value the add brings.
    """
    buf = np.empty((1, rows.shape[1]))
    idx = np.empty(1, dtype=np.int64)
    work = np.empty((N_METRICS, scoring.shape[0]))
    online = np.empty(scoring.shape[0], dtype=np.bool_)
    detail = np.empty(N_METRICS)
    for j in range(nodes.shape[0]):
        n = nodes[j]
        r = _primary_copy(rows, it, k, n, force, tag_reject[j], conflicts[j], loc[j], buf[0])
        out_r[j] = r
        if r != C.OK or not exact[j]:
            continue
        idx[0] = n
        out_score[j] = exact_score(nd, scoring, idx, buf, 1, base_map + map_add[j], work,
                                   online, detail)


@njit()
def single_estimates(rows, it, k, nodes, offline, pos, force, tag_reject, conflicts, loc,
                     base_map, map_add, nvals, shift, s1, s2, sabs, n_on, out_r, out_lo,
                     out_hi) -> None:
    """``single_scores`` with bounds from the fast path's estimate instead of the score.

    ``pos`` maps a node to its row of ``nvals`` (-1: not scored, so the add
    leaves the score as it is); the sums are ``solver.estimate.group_sums``'.
    A score that is not finite gets the bounds (-inf, inf).
    """
    buf = np.empty((1, rows.shape[1]))
    mod_idx = np.empty(1, dtype=np.int64)
    res = np.zeros(5)
    v, vfix = np.empty((1, N_METRICS)), np.empty((1, N_METRICS))
    var0, dvar, dsum = np.zeros(N_METRICS), np.empty(N_METRICS), np.empty(N_METRICS)
    out = np.empty(2)
    for j in range(nodes.shape[0]):
        n = nodes[j]
        r = _primary_copy(rows, it, k, n, force, tag_reject[j], conflicts[j], loc[j], buf[0])
        out_r[j] = r
        if r != C.OK:
            continue
        mod_idx[0] = n
        res[0] = 1.0 if pos[n] >= 0 else 0.0
        res[4] = map_add[j]
        fast_estimate(offline, pos, nvals, shift, s1, s2, sabs, n_on, var0, base_map, buf,
                      mod_idx, res, v, out, 0, vfix, dvar, dsum)
        out_lo[j] = out[0] - out[1]
        out_hi[j] = out[0] + out[1] if out[1] < np.inf else np.inf


@dataclass
class MatrixInputs:
    """What ``pair_matrix`` needs beyond the simulator: one request's rows and columns.

    ``prims`` are the primaries that pass the policy, ``cand`` the online
    nodes; the per-primary arrays say what exclusion tags and desired
    locations add there.
    """

    prims: np.ndarray
    cand: np.ndarray
    grp: np.ndarray
    rejected: np.ndarray
    conflicts: np.ndarray
    locs: np.ndarray
    map_val: float
    stat_n: np.ndarray
    stat_s: np.ndarray
    stat_v: np.ndarray

    def scan(self, alloc: Allocator, rows: np.ndarray, cols: np.ndarray | None = None):
        """pair_matrix over the primaries ``rows`` (indices into ``prims``) and columns.

        Returns (addPri results, addSec results, scores, (dmin, dmax, bmax)).
        """
        cand = self.cand if cols is None else self.cand[cols]
        n = len(rows)
        out_pr = np.empty(n, dtype=np.int64)
        out_r = np.full((n, len(cand)), -2, dtype=np.int64)
        out_sc = np.zeros((n, len(cand)))
        track = (np.full((n, N_METRICS), np.inf), np.full((n, N_METRICS), -np.inf),
                 np.zeros((n, N_METRICS)))
        with threads_for(n * len(cand)):
            pair_matrix(alloc.sim.rows, alloc.sim.state.peers, alloc.sim.it, alloc.k,
                        self.prims[rows], cand, self.grp, alloc.force, self.rejected[rows],
                        self.conflicts[rows], self.locs[rows], self.stat_n, self.stat_s,
                        self.stat_v, np.full(n, self.map_val), out_pr, out_r, out_sc, *track)
        return out_pr, out_r, out_sc, track


class Allocator:
    """tryAlloc for one new instance on a Simulator's state."""

    def __init__(self, sim: Simulator, k: int, inst: Instance, force: bool,
                 capacity: Callable[[int, tuple[int, ...]], bool] | None) -> None:
        self.sim = sim
        self.k = k
        self.inst = inst
        self.force = force
        self.capacity = capacity  # global N+1 predicate, None = no checks
        self._class_policy: np.ndarray | None = None
        # only the chosen placement matters, not the success/failure counts
        self.winner_only = False
        # pair scores carried over from the previous multi-allocate entry
        self.pair_cache = None

    def _lex_gain(self, ctx, n: int, scoring_on: np.ndarray) -> float:
        """Location-exclusion value gained when k becomes a primary of n."""
        st, k = self.sim.state, self.k
        ia = st.inst
        if ia.forthcoming[k] or not scoring_on[n]:
            return 0.0
        d = 0.0
        for j in range(ia.excl_ptr[k], ia.excl_ptr[k + 1]):
            t = ia.excl_ids[j]
            for loc in np.flatnonzero(st.node_loc[n]):
                if ctx.lex_counts[loc, t] >= 1:
                    d += 1.0
        return d

    def primary_buffer(self, ctx, n: int, loc_score: int):
        """addPriEx on a copy of node n plus the tag and location bookkeeping."""
        st, k = self.sim.state, self.k
        buf = self.sim.rows[n].copy()
        r = add_pri(buf, self.sim.it, k, self.force, tag_reject(st, k, n))
        if r != C.OK:
            return r, None
        for j in range(st.inst.excl_ptr[k], st.inst.excl_ptr[k + 1]):
            if st.ptags[n, st.inst.excl_ids[j]] >= 1:
                buf[C.CONFLICTS] += 1.0
        if not st.inst.forthcoming[k]:
            buf[C.LOC_SCORE] += loc_score + unmet(ctx, k, n)
        return C.OK, buf

    def _policies(self, nodes: np.ndarray) -> np.ndarray:
        """Policy compliance on each of ``nodes``, checked once per class of nodes."""
        cls, classes = self.sim.policy_classes()
        if self._class_policy is None:
            self._class_policy = np.array([policy_failure(self.inst, pol, excl)
                                           for pol, excl in classes], dtype=np.int64)
        return self._class_policy[cls[np.asarray(nodes, dtype=np.int64)]]

    def _policy(self, n: int) -> int:
        return int(self._policies(np.array([n]))[0])

    def _singles(self, nodes: Sequence[int], scoring: np.ndarray):
        """Policy check on each of ``nodes``, and what adding k brings to those that pass.

        Returns the nodes, their policy results, the mask of those that pass,
        and the per-candidate inputs of ``single_scores``/``single_estimates``
        (candidates, tag rejection, conflicts, location score, base and added
        location-exclusion value).
        """
        st, k = self.sim.state, self.k
        ia = st.inst
        nodes = np.asarray(nodes, dtype=np.int64)
        out_r = self._policies(nodes)
        todo = out_r == C.OK
        cand = nodes[todo]
        excl = ia.excl_ids[ia.excl_ptr[k]:ia.excl_ptr[k + 1]]
        held = st.ptags[cand][:, excl] if len(excl) else np.zeros((len(cand), 0), np.int32)
        rejected = (held > 0).any(axis=1)
        extra = (held >= 1).sum(axis=1).astype(np.float64)  # conflicts added
        ctx = self.sim.ctx(scoring)
        loc = np.zeros(len(cand))
        map_add = np.zeros(len(cand))
        if ia.dsrd_ptr[k + 1] > ia.dsrd_ptr[k] and not ia.forthcoming[k]:
            loc = np.array([unmet(ctx, k, int(n)) for n in cand], dtype=np.float64)
        if len(excl) and st.node_loc.shape[1]:
            on = self._scoring_online(scoring)
            map_add = np.array([self._lex_gain(ctx, int(n), on) for n in cand])
        inputs = (cand, rejected, extra, loc, map_value(ctx.lex_counts), map_add)
        return nodes, out_r, todo, inputs

    def _exact_singles(self, scoring: np.ndarray, inputs: tuple, exact: np.ndarray):
        """``single_scores`` on the candidates: addPri results, and scores where ``exact``."""
        cand = inputs[0]
        r = np.empty(len(cand), dtype=np.int64)
        sc = np.full(len(cand), np.nan)
        single_scores(self.sim.state.node, self.sim.rows, self.sim.it, self.k, cand, scoring,
                      self.force, *inputs[1:], exact, r, sc)
        return r, sc

    def acceptors(self, nodes: Sequence[int], scoring: np.ndarray) -> list[int]:
        """The nodes where the instance would be accepted as a new primary."""
        _, _, _, inputs = self._singles(nodes, scoring)
        r, _ = self._exact_singles(scoring, inputs, np.zeros(len(inputs[0]), dtype=np.bool_))
        return [int(n) for n in inputs[0][r == C.OK]]

    def single(self, nodes: Sequence[int], scoring: np.ndarray) -> AllocSolution:
        """tryAlloc over single nodes, scored by full recomputation over ``scoring``.

        A full score costs O(nodes), so every candidate is estimated first
        (``single_estimates``) and only those that can tie the best are
        scored exactly: the last minimum among them is tryAlloc's choice.
        Only when the filter rejects it (or a score is not finite) does the
        whole order matter, and then every candidate is scored.
        """
        st = self.sim.state
        _, out_r, todo, inputs = self._singles(nodes, scoring)
        cand = inputs[0]
        sums = group_sums(st.node, scoring)
        pos = np.full(st.n_nodes, -1, dtype=np.int64)
        pos[scoring] = np.arange(len(scoring))
        lo, hi = np.full(len(cand), -np.inf), np.full(len(cand), np.inf)
        if sums.n_on:
            r = np.empty(len(cand), dtype=np.int64)
            single_estimates(self.sim.rows, self.sim.it, self.k, cand, st.node[C.OFFLINE],
                             pos, self.force, *inputs[1:], *sums.estimate_args(), r, lo, hi)
        else:  # no online node is scored: no estimates, the whole order decides
            r, _ = self._exact_singles(scoring, inputs, np.zeros(len(cand), dtype=np.bool_))
        out_r[todo] = r
        failures = out_r[out_r != C.OK].tolist()
        ok = r == C.OK
        near = ok & (lo <= hi[ok].min(initial=np.inf))
        if near.any() and (lo[near] > -np.inf).all():
            sel = np.flatnonzero(near)
            _, sc = self._exact_singles(scoring, inputs, near)
            best = sc[sel].min()
            w = int(cand[sel[np.flatnonzero(sc[sel] == best)[-1]]]) if np.isfinite(best) else -1
            if w >= 0 and self._good((w,)):
                return AllocSolution(failures=failures, allocs=int(ok.sum()), score=float(best),
                                     nodes=(w,))
        _, sc = self._exact_singles(scoring, inputs, ok)
        good = cand[ok]
        return collapse(sc[ok], lambda i: (int(good[i]),), failures, self._good)

    def pairs(self, pairs: Sequence[tuple[int, Sequence[int]]],
              scoring: np.ndarray) -> AllocSolution:
        """tryAlloc over (primary, [secondaries]) with the incremental statistics."""
        st = self.sim.state
        ctx = self.sim.ctx(scoring)
        on = self._scoring_online(scoring)
        base_map = map_value(ctx.lex_counts)
        stat_n, stat_s, stat_v = np.zeros(N_METRICS), np.zeros(N_METRICS), np.zeros(N_METRICS)
        n_on = _stats(st.node, scoring, stat_n, stat_s, stat_v)
        total = AllocSolution()
        found: list[tuple[int, np.ndarray, np.ndarray]] = []
        for p, ss in pairs:
            ss = np.asarray(ss, dtype=np.int64)
            r = self._policy(p)
            if r != C.OK:
                total.add(AllocSolution(failures=[r] * len(ss)))
                continue
            # the location score depends on s; without location tags it is 0
            r_all = np.empty(len(ss), dtype=np.int64)
            sc_all = np.zeros(len(ss))
            for ls, sel in self._by_location(p, ss):
                members = ss[sel]
                r, new_p = self.primary_buffer(ctx, p, ls)
                if r != C.OK:
                    r_all[sel] = r
                    continue
                out_r = np.empty(len(members), dtype=np.int64)
                out_s = np.empty(len(members))
                if n_on:
                    pair_scores(self.sim.rows, st.peers, self.sim.it, self.k, p, new_p,
                                members, stat_n, stat_s, stat_v,
                                base_map + self._lex_gain(ctx, p, on), out_r, out_s)
                else:
                    self._no_stats(p, new_p, members, out_r, out_s)
                r_all[sel] = out_r
                sc_all[sel] = out_s
            ok = r_all == C.OK
            good = ss[ok]
            if self.winner_only:
                found.append((p, sc_all[ok], good))
                total.failures += r_all[~ok].tolist()
                continue
            total.add(collapse(sc_all[ok], lambda i, p=p, good=good: (p, int(good[i])),
                               r_all[~ok].tolist(), self._good))
        if self.winner_only:
            return self._winner(found, total.failures)
        return total

    def pairs_online(self, online: np.ndarray, scoring: np.ndarray) -> AllocSolution:
        """tryAlloc over genAllocNodes' pairs of ``online`` (same group, in node order).

        Without location tags every pair is scored by one kernel call; with
        them the location score varies per pair and ``pairs`` does the work.
        """
        st, k = self.sim.state, self.k
        ia = st.inst
        grp = st.node[C.GROUP].astype(np.int64)
        g = grp[online]
        sizes = np.bincount(g, minlength=int(g.max(initial=0)) + 1)[g] - 1
        prims = online[sizes > 0]
        sizes = sizes[sizes > 0]
        stat_n, stat_s, stat_v = np.zeros(N_METRICS), np.zeros(N_METRICS), np.zeros(N_METRICS)
        n_on = _stats(st.node, scoring, stat_n, stat_s, stat_v)
        if st.node_loc.shape[1] or not n_on:
            return self.pairs([(int(p), online[(online != p) & (g == grp[p])])
                               for p in prims], scoring)
        pol = self._policies(prims)
        failures: list[int] = np.repeat(pol[pol != C.OK], sizes[pol != C.OK]).tolist()
        prims, sizes = prims[pol == C.OK], sizes[pol == C.OK]
        excl = ia.excl_ids[ia.excl_ptr[k]:ia.excl_ptr[k + 1]]
        held = st.ptags[prims][:, excl] if len(excl) else np.zeros((len(prims), 0), np.int32)
        ctx = self.sim.ctx(scoring)
        locs = np.zeros(len(prims))
        if ia.dsrd_ptr[k + 1] > ia.dsrd_ptr[k] and not ia.forthcoming[k]:
            locs = np.array([unmet(ctx, k, int(p)) for p in prims], dtype=np.float64)
        inputs = MatrixInputs(prims, online, grp, (held > 0).any(axis=1),
                              (held >= 1).sum(axis=1).astype(np.float64), locs,
                              float(map_value(ctx.lex_counts)), stat_n, stat_s, stat_v)
        if self.winner_only and self.pair_cache is not None:
            sol = self.pair_cache.winner(self, inputs)
            if sol is not None:
                return sol
        out_pr, out_r, out_sc, _ = inputs.scan(self, np.arange(len(prims)))
        bad_p = out_pr != C.OK
        failures += np.repeat(out_pr[bad_p], sizes[bad_p]).tolist()
        out_r[bad_p] = -2
        failures += out_r[(out_r >= 0) & (out_r != C.OK)].tolist()
        valid = out_r == C.OK
        if self.winner_only:
            return self._best_of_matrix(prims, online, out_sc, valid, failures)
        total = AllocSolution(failures=failures)
        # each row's best candidate first (the last cell holding the row's minimum);
        # only a row whose best is filtered out needs its full order
        masked = np.where(valid, out_sc, np.inf)
        mins = masked.min(axis=1, initial=np.inf)
        last = masked.shape[1] - 1 - np.argmax((masked == mins[:, None])[:, ::-1], axis=1)
        counts = valid.sum(axis=1)
        for i, p in enumerate(prims):
            if not counts[i]:
                continue
            if mins[i] < np.inf and self._good((int(p), int(online[last[i]]))):
                total.add(AllocSolution(allocs=int(counts[i]), score=float(mins[i]),
                                        nodes=(int(p), int(online[last[i]]))))
                continue
            row = valid[i]
            good = online[row]
            total.add(collapse(out_sc[i, row], lambda j, p=int(p), good=good: (p, int(good[j])),
                               [], self._good))
        return total

    def _best_of_matrix(self, prims: np.ndarray, cand: np.ndarray, scores: np.ndarray,
                        valid: np.ndarray, failures: list[int]) -> AllocSolution:
        """``_winner`` on a (primary x candidate) score matrix, without sorting it all.

        The order is (score, later primary first, later secondary first): the
        last cell holding the smallest score.  A few filtered cells are taken
        out one by one; past that (or for NaN scores) the full order is used.
        """
        masked = np.where(valid, scores, np.inf)
        sol = AllocSolution(failures=failures, allocs=int(valid.sum()))
        for _ in range(16):
            m = masked.min(initial=np.inf)
            if not m < np.inf:
                break
            pos = int(np.flatnonzero(masked.ravel() == m)[-1])
            i, j = divmod(pos, masked.shape[1])
            nodes = (int(prims[i]), int(cand[j]))
            if self._good(nodes):
                sol.score, sol.nodes = float(m), nodes
                return sol
            masked[i, j] = np.inf
            valid[i, j] = False
            sol.failures.append(C.FAIL_N1)
            sol.allocs -= 1
        found = [(int(p), scores[i, valid[i]], cand[valid[i]]) for i, p in enumerate(prims)]
        return self._winner([f for f in found if len(f[1])], sol.failures)

    def _winner(self, found: list[tuple[int, np.ndarray, np.ndarray]],
                failures: list[int]) -> AllocSolution:
        """The pair tryAlloc would choose, filtering as few candidates as possible.

        tryAlloc keeps each primary's best candidate that passes the filter and
        then the best of those, a tie going to the later primary.  That is the
        first candidate to pass in the order (score, later primary first, later
        secondary first).  The success and failure counts are only exact when
        no candidate passes (then all were filtered), so this is for callers
        that print the counts only then (multi-allocate, change-group).
        """
        if not found:
            return AllocSolution(failures=failures)
        scores = np.concatenate([sc for _, sc, _ in found])
        prim = np.concatenate([np.full(len(sc), p) for p, sc, _ in found])
        sec = np.concatenate([g for _, _, g in found])
        rank = np.concatenate([np.full(len(sc), i) for i, (_, sc, _) in enumerate(found)])
        trial = np.concatenate([np.arange(len(sc)) for _, sc, _ in found])
        order = np.lexsort((-trial, -rank, scores))
        return collapse(scores[order], lambda i: (int(prim[order[i]]),
                                                               int(sec[order[i]])),
                        failures, self._good, presorted=True)

    def _no_stats(self, p, new_p, members, out_r, out_s) -> None:
        """No online node is scored: every metric is absent and the score is 0."""
        for j, s in enumerate(members):
            buf = self.sim.rows[s].copy()
            out_r[j] = add_sec(buf, self.sim.it, self.k, self.sim.state.peers[s, p], False,
                               False)
            out_s[j] = 0.0

    def _by_location(self, p: int, ss: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Secondaries (as a mask over ``ss``) grouped by the pair's location score."""
        st = self.sim.state
        if st.node_loc.shape[1] == 0:
            return [(0, np.ones(len(ss), dtype=np.bool_))]
        scores = (st.node_loc[ss] & st.node_loc[p]).sum(axis=1)
        return [(int(v), scores == v) for v in np.unique(scores)]

    def _scoring_online(self, scoring: np.ndarray) -> np.ndarray:
        st = self.sim.state
        on = np.zeros(st.n_nodes, dtype=np.bool_)
        on[scoring] = st.node[C.OFFLINE, scoring] == 0.0
        return on

    def _good(self, nodes: tuple[int, ...]) -> bool:
        return self.capacity is None or self.capacity(self.k, nodes)

    def commit(self, nodes: tuple[int, ...], with_location: bool = True) -> None:
        """Apply the chosen placement to the simulator's state.

        Dedicated allocation places the instance without its location score
        (``with_location`` False), as Ganeti does there.
        """
        st = self.sim.state
        ctx = self.sim.ctx()
        p = nodes[0]
        s = nodes[1] if len(nodes) > 1 else -1
        ls = loc_common(ctx, p, s) if s >= 0 and with_location else 0
        r, new_p = self.primary_buffer(ctx, p, ls)
        assert r == C.OK, "a chosen allocation must apply"
        bufs = [new_p]
        idx = [p]
        if s >= 0:
            new_s = self.sim.rows[s].copy()
            r = add_sec(new_s, self.sim.it, self.k, st.peers[s, p], False, False)
            assert r == C.OK, "a chosen allocation must apply"
            bufs.append(new_s)
            idx.append(s)
        self.sim.commit_alloc(self.k, p, s, np.array(bufs), np.array(idx, dtype=np.int64),
                              len(idx), ls)
