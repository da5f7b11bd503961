"""hbal's greedy search (spec §4.4-4.8), exact and fast.

Each step considers every (instance, move kind, target) candidate in Ganeti's
enumeration order and picks the first one with the minimal score.  Scores are
compared on Ganeti's exact bits, but computing them by full recomputation for
every candidate costs O(nodes) each.  So a step runs in two phases:

1. ``_scan`` evaluates every candidate (in parallel) in O(metrics) from running
   per-metric sums (``solver.estimate``) and returns a score estimate plus
   a rigorous error bound for each;
2. every candidate whose lower bound is not above the smallest upper bound
   is rescored exactly (``exact_score``) in enumeration order, and the first
   exact minimum wins.

Across steps most of that work repeats: a move touches a handful of nodes.
``solver.bounds`` keeps, per instance, a lower bound on its best candidate's
gain that stays valid while the instance's nodes are untouched; a step scans
the candidates on the touched nodes, rescans the instances that sit on them,
and rescans any other instance only while its bound could still beat the
best candidate found (most promising first).  Skipped instances provably
cannot win, so the step still picks Ganeti's exact winner.

``Balancer(exact_only=True)`` is the plain twin (exact score for every
candidate) used by tests and for small clusters.  ``best_target`` runs the
same two phases for one instance's moves of one kind, for evacuation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from solver import cluster as C
from solver.bounds import InstanceBounds
from solver.estimate import fast_estimate, group_sums
from solver.jit import jit_enabled, njit, num_threads, parallel_range, threads_for
from solver.metrics import (
    AGGREGATION,
    N_METRICS,
    exact_score,
    location_exclusion_counts,
    map_value,
    node_values,
    optimal_score,
)
from solver.moves import (
    FAILOVER,
    FAILOVER_AND_REPLACE,
    FAILOVER_TO_ANY,
    REPLACE_AND_FAILOVER,
    REPLACE_PRIMARY,
    REPLACE_SECONDARY,
    Move,
    MoveCtx,
    finish_move,
    hoistable,
    peer_tops,
    prepare_move,
    try_move,
)
from solver.nodeops import InstTuple, inst_tuple
from solver.simulate import commit_move

prange = parallel_range()


@dataclass
class BalanceOptions:
    """Ganeti's AlgorithmOptions as hbal uses them."""

    disk_moves: bool = True
    instance_moves: bool = True
    restricted_migration: bool = False
    ignore_soft_errors: bool = False
    evac_mode: bool = False
    min_gain: float = 0.01
    min_gain_limit: float = 0.1
    min_score: float = 1e-9
    max_length: int = -1


@dataclass
class BalanceResult:
    initial_score: float
    optimal_score: float
    moves: list[Move] = field(default_factory=list)

    @property
    def final_score(self) -> float:
        return self.moves[-1].score if self.moves else self.initial_score


@njit()
def _gen_moves(mirror, use_sec, inst_moves, disk_moves, restricted, p_offline, out) -> int:
    """possibleMoves: the move kinds to try per target, in Ganeti's order."""
    if mirror == C.MIRROR_NONE:
        return 0
    if mirror == C.MIRROR_EXTERNAL:
        if not inst_moves:
            return 0
        out[0] = FAILOVER_TO_ANY
        return 1
    if not disk_moves:
        return 0
    if not inst_moves:
        out[0] = REPLACE_SECONDARY
        return 1
    if restricted and not p_offline:
        out[0] = REPLACE_SECONDARY
        return 1
    if use_sec and not restricted:
        out[0] = REPLACE_SECONDARY
        out[1] = REPLACE_AND_FAILOVER
        out[2] = REPLACE_PRIMARY
        out[3] = FAILOVER_AND_REPLACE
        return 4
    if use_sec:
        out[0] = REPLACE_SECONDARY
        out[1] = REPLACE_AND_FAILOVER
        out[2] = FAILOVER_AND_REPLACE
        return 3
    out[0] = REPLACE_SECONDARY
    out[1] = REPLACE_AND_FAILOVER
    return 2


@njit()
def _enumerate(ctx, it, cands, targets, is_target, inst_moves, disk_moves, restricted,
               out_k, out_kind, out_t) -> int:
    """All candidates of a step in Ganeti's enumeration order."""
    kinds = np.empty(4, dtype=np.int64)
    c = 0
    for ci in range(cands.shape[0]):
        k = cands[ci]
        p = ctx.pnode[k]
        s = ctx.snode[k]
        mirror = C.TEMPLATE_MIRROR[it.template[k]]
        use_sec = s >= 0 and is_target[s] and inst_moves
        if mirror == C.MIRROR_INTERNAL and use_sec:
            out_k[c] = k
            out_kind[c] = FAILOVER
            out_t[c] = -1
            c += 1
        nk = _gen_moves(mirror, use_sec, inst_moves, disk_moves, restricted,
                        ctx.nd[C.OFFLINE, p] != 0.0, kinds)
        if nk == 0:
            continue
        for ti in range(targets.shape[0]):
            t = targets[ti]
            if t == p or t == s:
                continue
            for j in range(nk):
                out_k[c] = k
                out_kind[c] = kinds[j]
                out_t[c] = t
                c += 1
    return c


@njit()
def _count_candidates(ctx, it, cands, n_targets, is_target, inst_moves, disk_moves,
                      restricted) -> int:
    kinds = np.empty(4, dtype=np.int64)
    c = 0
    for ci in range(cands.shape[0]):
        k = cands[ci]
        s = ctx.snode[k]
        mirror = C.TEMPLATE_MIRROR[it.template[k]]
        use_sec = s >= 0 and is_target[s] and inst_moves
        if mirror == C.MIRROR_INTERNAL and use_sec:
            c += 1
        nk = _gen_moves(mirror, use_sec, inst_moves, disk_moves, restricted,
                        ctx.nd[C.OFFLINE, ctx.pnode[k]] != 0.0, kinds)
        c += nk * n_targets  # an upper bound (p and s excluded later)
    return c


@njit()
def _exact_candidate(ctx, it, nodes, k, kind, t, force, base_map, buf, mod_idx, res,
                     work, online, detail) -> float:
    r = try_move(ctx, it, k, kind, t, force, buf, mod_idx, res)
    if r != C.OK:
        return np.nan
    return exact_score(ctx.nd, nodes, mod_idx, buf, int(res[0]), base_map + res[4],
                       work, online, detail)


# ---- fast path ---------------------------------------------------------------

@njit(parallel=True)
def _scan(ctx, it, cands, cpos, targets, tslot, n_slots, is_target, inst_moves, disk_moves,
          restricted, force, with_failover, mig_free, pos, nvals, shift, s1, s2, sabs, n_on,
          base_map, ini_score, n_chunks, keep_k, keep_kind, keep_t, keep_key, keep_lo, keep_cnt,
          chunk_hi, st_lo, st_err, st_dmin, st_dmax, st_bmax):
    """Estimate candidates of a step; keep the ones that may be the winner.

    ``cands[ci]`` is tried on ``targets`` (slot ``tslot`` in the step's full
    list of ``n_slots`` targets, for the enumeration key) and, with ``with_failover``, by
    plain failover; ``cpos[ci]`` is its position in the step's instance
    order.  Work is split by instance into ``n_chunks`` chunks (run in
    parallel).  Chunk ch keeps, in slots [ch*cap, (ch+1)*cap), the candidates
    whose lower bound is not above its running best upper bound (and the
    step's start); ``keep_cnt[ch]`` counts them (it may exceed cap: then the
    caller retries with more room) and ``chunk_hi[ch]`` is the chunk's best
    upper bound.  Per instance, ``st_*[ci]`` summarise the candidates tried
    (best lower bound as a gain over ``ini_score``, largest error bound,
    range of variance changes, largest sum change) for ``solver.bounds``.
    """
    cap = keep_k.shape[0] // n_chunks
    n_c = cands.shape[0]
    n_t = targets.shape[0]
    offline = ctx.nd[C.OFFLINE]
    var0 = np.zeros(N_METRICS)
    for i in range(N_METRICS):
        if AGGREGATION[i] == 0 and n_on > 0:
            mean_d = s1[i] / n_on
            var0[i] = s2[i] / n_on - mean_d * mean_d
    for ch in prange(n_chunks):
        buf = np.empty((4, ctx.nd.shape[0]))
        pre = np.empty((4, ctx.nd.shape[0]))
        pre_res = np.empty(2)
        mod_idx = np.empty(4, dtype=np.int64)
        res = np.empty(12)
        v = np.empty((4, N_METRICS))
        vfix = np.empty((4, N_METRICS))
        dvar = np.zeros(N_METRICS)
        dsum = np.zeros(N_METRICS)
        out = np.empty(2)
        kinds = np.empty(4, dtype=np.int64)
        best_hi = ini_score
        cnt = 0
        base = ch * cap
        for ci in range(ch * n_c // n_chunks, (ch + 1) * n_c // n_chunks):
            k = cands[ci]
            p = ctx.pnode[k]
            s = ctx.snode[k]
            lo_min = np.inf
            err_max = 0.0
            for i in range(N_METRICS):
                st_dmin[ci, i] = np.inf
                st_dmax[ci, i] = -np.inf
                st_bmax[ci, i] = 0.0
            mirror = C.TEMPLATE_MIRROR[it.template[k]]
            use_sec = s >= 0 and is_target[s] and inst_moves
            nk = _gen_moves(mirror, use_sec, inst_moves, disk_moves, restricted,
                            ctx.nd[C.OFFLINE, p] != 0.0, kinds)
            hoist = hoistable(ctx, k, mig_free)
            for j in range(-1, nk):
                if j < 0 and not (with_failover and mirror == C.MIRROR_INTERNAL and use_sec):
                    continue
                kind = FAILOVER if j < 0 else kinds[j]
                fast = hoist and j >= 0
                if fast and prepare_move(ctx, it, k, kind, force, pre, pre_res) != C.OK:
                    continue
                valid = 0
                for ti in range(n_t if j >= 0 else 1):
                    t = -1
                    if j >= 0:
                        t = targets[ti]
                        if t == p or t == s:
                            continue
                    known = 0
                    if fast:
                        r = finish_move(ctx, it, k, kind, t, force, pre, pre_res, buf,
                                        mod_idx, res)
                        if r == C.OK:
                            known = int(res[11])
                            for m in range(3):
                                if (known >> m) & 1 and not (valid >> m) & 1:
                                    node_values(buf[m], vfix[m])
                                    valid |= 1 << m
                    else:
                        r = try_move(ctx, it, k, kind, t, force, buf, mod_idx, res)
                    if r != C.OK:
                        continue
                    fast_estimate(offline, pos, nvals, shift, s1, s2, sabs, n_on, var0,
                                  base_map, buf, mod_idx, res, v, out, known, vfix, dvar,
                                  dsum)
                    hi = out[0] + out[1]
                    lo = out[0] - out[1]
                    lo_min = min(lo_min, lo)
                    err_max = max(err_max, out[1])
                    for i in range(N_METRICS):
                        if AGGREGATION[i] == 0:
                            st_dmin[ci, i] = min(st_dmin[ci, i], dvar[i])
                            st_dmax[ci, i] = max(st_dmax[ci, i], dvar[i])
                            st_bmax[ci, i] = max(st_bmax[ci, i], abs(dsum[i]))
                    if hi < best_hi:
                        best_hi = hi
                    if lo <= best_hi:
                        if cnt < cap:
                            keep_k[base + cnt] = k
                            keep_kind[base + cnt] = kind
                            keep_t[base + cnt] = t
                            slot = 0 if j < 0 else tslot[ti] + 1
                            keep_key[base + cnt] = (cpos[ci] * (n_slots + 1) + slot) * 4 \
                                + max(j, 0)
                            keep_lo[base + cnt] = lo
                        cnt += 1
            st_lo[ci] = lo_min - ini_score
            st_err[ci] = err_max
        keep_cnt[ch] = cnt
        chunk_hi[ch] = best_hi


@njit()
def _select_exact(ctx, it, nodes, cand_k, cand_kind, cand_t, cand_lo, n_cand, limit, force,
                  ini_score, base_map, last):
    """Rescore exactly the candidates that could be the minimum below ``ini_score``.

    The first minimum wins (hbal), or with ``last`` the last one (evacuation,
    whose folds keep the later of equals).  The candidates must be in
    enumeration order.  With every lower bound at -inf this is the plain
    twin: exact score for every candidate.
    """
    buf = np.empty((4, ctx.nd.shape[0]))
    mod_idx = np.empty(4, dtype=np.int64)
    res = np.empty(11)
    work = np.empty((N_METRICS, nodes.shape[0]))
    online = np.empty(nodes.shape[0], dtype=np.bool_)
    detail = np.empty(N_METRICS)
    best = ini_score
    best_c = -1
    n_exact = 0
    for c in range(n_cand):
        if not (cand_lo[c] <= limit):
            continue
        n_exact += 1
        sc = _exact_candidate(ctx, it, nodes, cand_k[c], cand_kind[c], cand_t[c], force,
                              base_map, buf, mod_idx, res, work, online, detail)
        if sc < best or (last and sc == best):
            best = sc
            best_c = c
    return best_c, best, n_exact


def best_target(ctx: MoveCtx, it: InstTuple, nodes: np.ndarray, k: int, kind: int,
                targets: np.ndarray, force: bool, mig_free: bool) -> tuple[int, float] | None:
    """The target of k's ``kind`` move (ReplaceSecondary or FailoverToAny) scoring best.

    Scores are over ``nodes`` (``ctx`` counts their location exclusions) and
    a tie goes to the later target, as in evacuation's evacOneNodeOnly.  One
    ``_scan`` estimates every target; only the near-ties are rescored
    exactly.  None when no target takes the move, no node is online or an
    estimate is not finite (a NaN breaks the fold's order): the caller then
    tries each target in turn.  ``targets`` must not hold k's own nodes (``_scan`` skips
    them).
    """
    sums = group_sums(ctx.nd, nodes)
    if sums.n_on == 0:
        return None
    mirror = C.TEMPLATE_MIRROR[it.template[k]]
    if kind == REPLACE_SECONDARY and mirror == C.MIRROR_INTERNAL:
        inst_moves, disk_moves = False, True
    elif kind == FAILOVER_TO_ANY and mirror == C.MIRROR_EXTERNAL:
        inst_moves, disk_moves = True, False
    else:
        raise ValueError("no single-target scan for move kind %d of this template" % kind)
    pos = np.full(ctx.nd.shape[1], -1, dtype=np.int64)
    pos[nodes] = np.arange(len(nodes))
    n_t = len(targets)
    keep = (np.empty(n_t, dtype=np.int64), np.empty(n_t, dtype=np.int64),
            np.empty(n_t, dtype=np.int64), np.empty(n_t, dtype=np.int64), np.empty(n_t))
    keep_cnt, chunk_hi = np.zeros(1, dtype=np.int64), np.empty(1)
    stats = (np.empty(1), np.empty(1), *(np.empty((1, N_METRICS)) for _ in range(3)))
    base_map = map_value(ctx.lex_counts)
    with threads_for(n_t):
        _scan(ctx, it, np.array([k], dtype=np.int64), np.zeros(1, dtype=np.int64), targets,
              np.arange(n_t, dtype=np.int64), n_t, np.zeros(ctx.nd.shape[1], dtype=np.bool_),
              inst_moves, disk_moves, False, force, False, mig_free, pos, sums.nvals,
              sums.shift, sums.s1, sums.s2, sums.sabs, sums.n_on, base_map, np.inf, 1, *keep,
              keep_cnt, chunk_hi, *stats)
    n = int(keep_cnt[0])
    cand_k, cand_kind, cand_t, _, cand_lo = (a[:n] for a in keep)
    if n == 0 or cand_lo.min() == -np.inf:
        return None
    best_c, best, _ = _select_exact(ctx, it, nodes, cand_k, cand_kind, cand_t, cand_lo, n,
                                    float(chunk_hi[0]), force, np.inf, base_map, True)
    return None if best_c < 0 else (int(cand_t[best_c]), float(best))


# ---- orchestration -----------------------------------------------------------

class Balancer:
    """Runs hbal's greedy loop over one node group of a ClusterState."""

    def __init__(self, state: C.ClusterState, group_nodes: np.ndarray,
                 group_instances: np.ndarray, opts: BalanceOptions,
                 exact_only: bool = False) -> None:
        self.state = state
        self.nodes = np.asarray(group_nodes, dtype=np.int64)
        self.instances = np.asarray(group_instances, dtype=np.int64)
        self.opts = opts
        # without JIT the plain exact twin is the faster choice (small clusters)
        self.exact_only = exact_only or not jit_enabled()
        self.it: InstTuple = inst_tuple(state.inst)
        self.tops = peer_tops(state.peers)
        self.pos = np.full(state.n_nodes, -1, dtype=np.int64)
        self.pos[self.nodes] = np.arange(len(self.nodes))
        self.exact_evals = 0
        self.keep_per_chunk = 64
        self.mig_free = bool(state.mig_ok.all())
        self.bounds = InstanceBounds(state.n_instances)
        self.rescanned = 0
        self._touched: np.ndarray | None = None
        self._lex_changed = False
        self._last_var = self._last_total = np.zeros(N_METRICS)

    def ctx(self) -> MoveCtx:
        st, ia = self.state, self.state.inst
        self.lex = location_exclusion_counts(st, self.nodes)
        return MoveCtx(st.node, np.ascontiguousarray(st.node.T), st.peers, self.tops[0],
                       self.tops[1], self.tops[2], st.ptags, st.node_loc, st.mig_ok,
                       ia.pnode, ia.snode, ia.loc_score,
                       ia.excl_ptr, ia.excl_ids, ia.dsrd_ptr, ia.dsrd_ids, self.lex)

    def score(self) -> float:
        from solver.metrics import compute_score
        return compute_score(self.state, self.nodes)

    def candidates(self) -> np.ndarray:
        st, ia = self.state, self.state.inst
        insts = self.instances
        if self.opts.evac_mode:
            off = st.node[C.OFFLINE] != 0.0
            on_off = off[ia.pnode[insts]] | ((ia.snode[insts] >= 0) &
                                             off[np.maximum(ia.snode[insts], 0)])
            insts = insts[on_off]
        return insts[ia.movable[insts] & ia.auto_balance[insts]]

    def step(self, cur_score: float) -> Move | None:
        """One greedy step from the current state; None when nothing improves."""
        st, o = self.state, self.opts
        targets = self.nodes[st.node[C.OFFLINE, self.nodes] == 0.0]
        is_target = np.zeros(st.n_nodes, dtype=np.bool_)
        is_target[targets] = True
        cands = self.candidates()
        ctx = self.ctx()
        base_map = map_value(self.lex)
        force = o.ignore_soft_errors
        if self.exact_only:
            n_max = _count_candidates(ctx, self.it, cands, len(targets), is_target,
                                      o.instance_moves, o.disk_moves, o.restricted_migration)
            ck = np.empty(n_max, dtype=np.int64)
            ckind = np.empty(n_max, dtype=np.int64)
            ct = np.empty(n_max, dtype=np.int64)
            n = _enumerate(ctx, self.it, cands, targets, is_target, o.instance_moves,
                           o.disk_moves, o.restricted_migration, ck, ckind, ct)
            best_c, best, _ = _select_exact(ctx, self.it, self.nodes, ck, ckind, ct,
                                            np.full(n, -np.inf), n, np.inf, force,
                                            cur_score, base_map, False)
            self.exact_evals += n
        else:
            found = self._fast_step(ctx, cands, targets, is_target, cur_score, base_map)
            if found is None:
                return None
            ck, ckind, ct, best_c, best = found
        if best_c < 0:
            return None
        fin = best
        ini = cur_score
        if not (fin < ini and (ini > o.min_gain_limit or ini - fin >= o.min_gain)):
            return None
        return self.apply(int(ck[best_c]), int(ckind[best_c]), int(ct[best_c]), fin)

    def _fast_step(self, ctx, cands, targets, is_target, cur_score, base_map):
        st = self.state
        g = group_sums(st.node, self.nodes)
        if g.n_on == 0:
            return None
        sums = (g.shift, g.s1, g.s2, g.sabs, g.nvals, g.n_on, base_map, cur_score)
        var, total = g.var, g.total

        bounds = self.bounds
        ia = st.inst
        clean = bounds.known[cands]
        if self._touched is not None:
            touched = np.zeros(st.n_nodes, dtype=np.bool_)
            touched[self._touched] = True
            snode = ia.snode[cands]
            clean &= ~touched[ia.pnode[cands]] & ~((snode >= 0) & touched[snode])
            if self._lex_changed:
                clean &= ia.excl_ptr[cands + 1] == ia.excl_ptr[cands]
            bounds.advance(cands[clean], self._last_var, var, total - self._last_total, g.n_on)
            t_sel = np.flatnonzero(touched[targets])
        else:
            t_sel = np.zeros(0, dtype=np.int64)
        self._touched, self._lex_changed = None, False
        self._last_var, self._last_total = var, total
        cpos = np.arange(len(cands), dtype=np.int64)
        all_slots = np.arange(len(targets), dtype=np.int64)
        kept = []
        limit = cur_score
        t_stats = None
        if clean.any() and len(t_sel):
            keep, hi, t_stats = self._scan_some(ctx, cands[clean], cpos[clean],
                                                targets[t_sel], t_sel, len(targets),
                                                is_target, False, sums)
            kept.append(keep)
            limit = min(limit, hi)
        # lazily rescan whole instances, most promising first, while their
        # bound could still beat the best candidate found
        bound = np.where(clean, bounds.gain[cands] - 2.0 * bounds.err[cands], -np.inf)
        order = np.argsort(bound, kind="stable")
        bound = bound[order]
        rescanned = np.zeros(len(cands), dtype=np.bool_)
        i, batch = 0, 8 * num_threads()
        while i < len(order):
            n_need = int(np.searchsorted(bound, limit - cur_score + 1e-12 * (1 + abs(limit)),
                                         side="right"))
            if n_need <= i:
                break
            sel = order[i:min(n_need, i + batch)]
            keep, hi, stats = self._scan_some(ctx, cands[sel], cpos[sel], targets, all_slots,
                                              len(targets), is_target, True, sums)
            bounds.store(cands[sel], *stats)
            rescanned[sel] = True
            kept.append(keep)
            limit = min(limit, hi)
            i += len(sel)
            batch *= 2
        self.rescanned += int(rescanned.sum())
        if t_stats is not None:
            later = ~rescanned[clean]
            bounds.merge(cands[clean][later], *(a[later] for a in t_stats))
        if not kept:
            return None
        k_k, k_kind, k_t, k_key, k_lo = (np.concatenate(col) for col in zip(*kept, strict=True))
        _, first = np.unique(k_key, return_index=True)  # sorted by key, duplicates dropped
        best_c, best, n_exact = _select_exact(
            ctx, self.it, self.nodes, k_k[first], k_kind[first], k_t[first], k_lo[first],
            len(first), limit, self.opts.ignore_soft_errors, cur_score, base_map, False)
        self.exact_evals += n_exact
        return k_k[first], k_kind[first], k_t[first], best_c, best

    def _scan_some(self, ctx, cands, cpos, targets, tslot, n_slots, is_target,
                   with_failover, sums):
        """Run ``_scan`` on some instances and targets; retry when kept lists overflow.

        Returns the kept candidates (k, kind, target, key, lower bound), the
        best upper bound met and the per-instance summaries.
        """
        o = self.opts
        shift, s1, s2, sabs, nvals, n_on, base_map, cur_score = sums
        n_chunks = max(1, min(len(cands), 8 * num_threads()))
        n = len(cands)
        stats = (np.empty(n), np.empty(n), np.empty((n, N_METRICS)),
                 np.empty((n, N_METRICS)), np.empty((n, N_METRICS)))
        while True:
            cap = self.keep_per_chunk
            keep = (np.empty(n_chunks * cap, dtype=np.int64),
                    np.empty(n_chunks * cap, dtype=np.int64),
                    np.empty(n_chunks * cap, dtype=np.int64),
                    np.empty(n_chunks * cap, dtype=np.int64), np.empty(n_chunks * cap))
            keep_cnt = np.zeros(n_chunks, dtype=np.int64)
            chunk_hi = np.empty(n_chunks)
            with threads_for(len(cands) * len(targets)):
                _scan(ctx, self.it, cands, cpos, targets, tslot, n_slots, is_target,
                      o.instance_moves, o.disk_moves, o.restricted_migration,
                      o.ignore_soft_errors, with_failover, self.mig_free, self.pos, nvals,
                      shift, s1, s2, sabs, n_on, base_map, cur_score, n_chunks, *keep,
                      keep_cnt, chunk_hi, *stats)
            if keep_cnt.max(initial=0) <= cap:
                break
            self.keep_per_chunk = int(keep_cnt.max()) + 1  # rare: many near-ties
        sel = np.concatenate([np.arange(c * cap, c * cap + keep_cnt[c])
                              for c in range(n_chunks)]).astype(np.int64)
        return tuple(a[sel] for a in keep), float(chunk_hi.min(initial=np.inf)), stats

    def apply(self, k: int, kind: int, t: int, score: float) -> Move:
        """Commit a move to the state (node columns, peers, tags, placement).

        Records which nodes the move touched, for the next step's bounds.
        """
        st = self.state
        ctx = self.ctx()
        buf = np.empty((4, st.node.shape[0]))
        mod_idx = np.empty(4, dtype=np.int64)
        res = np.empty(11)
        r = try_move(ctx, self.it, k, kind, t, self.opts.ignore_soft_errors, buf, mod_idx,
                     res)
        assert r == C.OK, "an accepted move must apply"
        before = st.node.copy()
        lex_before = self.lex
        mv = commit_move(st, self.tops, k, kind, t, buf, mod_idx, res, score)
        changed = np.flatnonzero((st.node != before).any(axis=0))
        cells = [int(x) for x in res[7:11] if x >= 0]
        nodes = [mv.old_primary, mv.old_secondary, mv.new_primary, mv.new_secondary]
        extra = np.array([n for n in nodes + cells if n >= 0], dtype=np.int64)
        touched = np.concatenate([changed, mod_idx[:int(res[0])], extra])
        if self._touched is not None:
            touched = np.concatenate([self._touched, touched])
        self._touched = np.unique(touched)
        lex_after = location_exclusion_counts(st, self.nodes)
        self._lex_changed = self._lex_changed or not np.array_equal(lex_before, lex_after)
        return mv

    def run(self, on_step=None) -> BalanceResult:
        """The greedy loop of §4.8; ``on_step(move, number)`` sees each accepted step."""
        ini = self.score()
        opt = optimal_score(self.state, self.nodes)
        result = BalanceResult(ini, opt)
        cur = ini
        o = self.opts
        while (o.max_length < 0 or len(result.moves) < o.max_length) and \
                cur > opt + o.min_score:
            mv = self.step(cur)
            if mv is None:
                break
            result.moves.append(mv)
            cur = mv.score
            if on_step is not None:
                on_step(mv, len(result.moves))
        return result
