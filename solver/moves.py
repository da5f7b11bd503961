"""hbal's move kinds applied to node buffers (Ganeti's applyMove, spec §4.6).

``try_move`` simulates one move of one instance on copies of the (at most
three) nodes it touches, without changing the cluster state, and reports the
new placement or the failure mode.  ``apply_move`` commits a move.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from solver import cluster as C
from solver.jit import njit
from solver.nodeops import add_pri, add_sec, remove_pri, remove_sec

# Move kinds, in Ganeti's generation order per target.
FAILOVER, FAILOVER_TO_ANY, REPLACE_PRIMARY, REPLACE_SECONDARY, \
    REPLACE_AND_FAILOVER, FAILOVER_AND_REPLACE = range(6)

@dataclass(frozen=True)
class Move:
    """One accepted step: what moved where, and the score after it."""

    instance: int
    kind: int
    target: int
    old_primary: int
    old_secondary: int
    new_primary: int
    new_secondary: int
    score: float


# Everything a move kernel reads about the cluster, as one numba tuple.
# ``rows`` is the node matrix transposed (node-major), so copying one node's
# fields into a buffer reads a few contiguous cache lines instead of one per field.
MoveCtx = namedtuple("MoveCtx", [
    "nd", "rows", "peers", "peer_max1", "peer_arg1", "peer_max2", "ptags", "node_loc",
    "mig_ok", "pnode", "snode", "loc_score", "excl_ptr", "excl_ids", "dsrd_ptr",
    "dsrd_ids", "lex_counts"])


def peer_tops(peers: np.ndarray, rows: np.ndarray | None = None,
              tops: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None):
    """Per node: the largest peer entry, its column, and the largest other entry."""
    n = peers.shape[0]
    if tops is None:
        tops = (np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n))
    m1, a1, m2 = tops
    for r in (range(n) if rows is None else rows):
        row = peers[r]
        if row.shape[0] == 0:
            continue
        j = int(np.argmax(row))
        m1[r] = row[j]
        a1[r] = j
        m2[r] = max(row[:j].max(initial=0), row[j + 1:].max(initial=0))
    return tops


@njit()
def _max_other(ctx, n, p) -> float:
    if ctx.peer_arg1[n] == p:
        return ctx.peer_max2[n]
    return ctx.peer_max1[n]


@njit()
def _tag_reject(ctx, k, n) -> bool:
    for j in range(ctx.excl_ptr[k], ctx.excl_ptr[k + 1]):
        if ctx.ptags[n, ctx.excl_ids[j]] > 0:
            return True
    return False


@njit()
def _tag_conflict_delta(ctx, k, n, add) -> float:
    """Change of node n's conflictingPrimaries when k's tags are added/removed."""
    d = 0.0
    for j in range(ctx.excl_ptr[k], ctx.excl_ptr[k + 1]):
        c = ctx.ptags[n, ctx.excl_ids[j]]
        if add and c >= 1:
            d += 1.0
        elif not add and c >= 2:
            d -= 1.0
    return d


@njit()
def loc_common(ctx, a, b) -> int:
    c = 0
    for loc in range(ctx.node_loc.shape[1]):
        if ctx.node_loc[a, loc] and ctx.node_loc[b, loc]:
            c += 1
    return c


@njit()
def unmet(ctx, k, n) -> int:
    c = 0
    for j in range(ctx.dsrd_ptr[k], ctx.dsrd_ptr[k + 1]):
        t = ctx.dsrd_ids[j]
        if t < 0 or not ctx.node_loc[n, t]:
            c += 1
    return c


@njit()
def lex_delta(ctx, k, a, b) -> float:
    """Change of the location-exclusion value when k's primary goes a -> b.

    ``lex_counts`` are the merged counts over the scored online nodes; a node
    that is offline (or outside the scored set) contributes nothing.
    """
    L = ctx.node_loc.shape[1]
    if L == 0 or ctx.excl_ptr[k] == ctx.excl_ptr[k + 1]:
        return 0.0
    a_on = ctx.nd[C.OFFLINE, a] == 0.0
    b_on = ctx.nd[C.OFFLINE, b] == 0.0
    d = 0.0
    for j in range(ctx.excl_ptr[k], ctx.excl_ptr[k + 1]):
        t = ctx.excl_ids[j]
        for loc in range(L):
            ch = 0
            if b_on and ctx.node_loc[b, loc]:
                ch += 1
            if a_on and ctx.node_loc[a, loc]:
                ch -= 1
            if ch != 0:
                old = ctx.lex_counts[loc, t]
                new = old + ch
                d += max(new - 1, 0) - max(old - 1, 0)
    return d


@njit()
def _load(ctx, n, buf, slot) -> None:
    for f in range(ctx.rows.shape[1]):
        buf[slot, f] = ctx.rows[n, f]


@njit()
def try_move(ctx, it, k, kind, t, force, buf, mod_idx, res) -> int:
    """Simulate move ``kind`` (target t) of instance k on buffers.

    On success returns C.OK and fills: buf/mod_idx with the touched nodes
    (count in res[0]), res[1] new primary, res[2] new secondary, res[3] the
    instance's new location score, res[4] location-exclusion value change,
    res[5]/res[6] the new peer entries described by res[7..10]
    (node, primary column) pairs for the two peer cells that change.
    """
    p = ctx.pnode[k]
    s = ctx.snode[k]
    off_p = ctx.nd[C.OFFLINE, p] != 0.0
    real = not it.forthcoming[k]
    ls_old = ctx.loc_score[k]
    nmod = 0
    if kind == FAILOVER:
        _load(ctx, p, buf, 0)
        _load(ctx, s, buf, 1)
        mod_idx[0] = p
        mod_idx[1] = s
        nmod = 2
        remove_pri(buf[0], it, k)
        npeer_s = remove_sec(buf[1], it, k, ctx.peers[s, p], _max_other(ctx, s, p))
        if not ctx.mig_ok[p, s]:
            return C.FAIL_MIG
        r = add_pri(buf[1], it, k, off_p or force, _tag_reject(ctx, k, s))
        if r != C.OK:
            return r
        r = add_sec(buf[0], it, k, ctx.peers[p, s], off_p or force, off_p)
        if r != C.OK:
            return r
        new_p, new_s, ls_new = s, p, ls_old
        pe_a_n, pe_a_c, pe_a_v = s, p, npeer_s
        pe_b_n, pe_b_c = p, s
    elif kind == FAILOVER_TO_ANY:
        if not ctx.mig_ok[p, t]:
            return C.FAIL_MIG
        _load(ctx, t, buf, 0)
        _load(ctx, p, buf, 1)
        mod_idx[0] = t
        mod_idx[1] = p
        nmod = 2
        r = add_pri(buf[0], it, k, off_p or force, _tag_reject(ctx, k, t))
        if r != C.OK:
            return r
        remove_pri(buf[1], it, k)
        new_p, new_s, ls_new = t, s, ls_old
        pe_a_n = -1
        pe_a_c = -1
        pe_a_v = 0.0
        pe_b_n = -1
        pe_b_c = -1
    else:
        _load(ctx, p, buf, 0)
        _load(ctx, s, buf, 1)
        _load(ctx, t, buf, 2)
        mod_idx[0] = p
        mod_idx[1] = s
        mod_idx[2] = t
        nmod = 3
        remove_pri(buf[0], it, k)
        npeer_s = remove_sec(buf[1], it, k, ctx.peers[s, p], _max_other(ctx, s, p))
        pe_a_n, pe_a_c, pe_a_v = s, p, npeer_s
        if kind == REPLACE_PRIMARY:
            ls_new = loc_common(ctx, t, s)
            if not ctx.mig_ok[p, s] or not ctx.mig_ok[s, t]:
                return C.FAIL_MIG
            r = add_pri(buf[1], it, k, off_p or force, _tag_reject(ctx, k, s))
            if r != C.OK:
                return r
            remove_pri(buf[1], it, k)
            r = add_pri(buf[2], it, k, off_p or force, _tag_reject(ctx, k, t))
            if r != C.OK:
                return r
            r = add_sec(buf[1], it, k, ctx.peers[s, t], off_p or force, False)
            if r != C.OK:
                return r
            new_p, new_s = t, s
            pe_b_n, pe_b_c = s, t
        elif kind == REPLACE_SECONDARY:
            ls_new = loc_common(ctx, p, t)
            off_s = ctx.nd[C.OFFLINE, s] != 0.0
            r = add_sec(buf[2], it, k, ctx.peers[t, p], off_s or force, False)
            if r != C.OK:
                return r
            r = add_pri(buf[0], it, k, True, False)
            if r != C.OK:
                return r
            new_p, new_s = p, t
            pe_b_n, pe_b_c = t, p
        elif kind == REPLACE_AND_FAILOVER:
            ls_new = loc_common(ctx, t, p)
            off_s = ctx.nd[C.OFFLINE, s] != 0.0
            if not ctx.mig_ok[p, t]:
                return C.FAIL_MIG
            r = add_pri(buf[2], it, k, force, _tag_reject(ctx, k, t))
            if r != C.OK:
                return r
            r = add_sec(buf[0], it, k, ctx.peers[p, t], off_s or force, False)
            if r != C.OK:
                return r
            new_p, new_s = t, p
            pe_b_n, pe_b_c = p, t
        else:  # FAILOVER_AND_REPLACE
            ls_new = loc_common(ctx, s, t)
            if not ctx.mig_ok[p, s]:
                return C.FAIL_MIG
            r = add_pri(buf[1], it, k, off_p or force, _tag_reject(ctx, k, s))
            if r != C.OK:
                return r
            r = add_sec(buf[2], it, k, ctx.peers[t, s], off_p or force, False)
            if r != C.OK:
                return r
            new_p, new_s = s, t
            pe_b_n, pe_b_c = t, s
    # integer bookkeeping that depends only on the old and new primary
    lexd = 0.0
    for m in range(nmod):
        n = mod_idx[m]
        if new_p != p:
            if n == p:
                buf[m, C.CONFLICTS] += _tag_conflict_delta(ctx, k, p, False)
            if n == new_p:
                buf[m, C.CONFLICTS] += _tag_conflict_delta(ctx, k, new_p, True)
        if real:
            if n == p:
                buf[m, C.LOC_SCORE] -= ls_old + unmet(ctx, k, p)
            if n == new_p:
                buf[m, C.LOC_SCORE] += ls_new + unmet(ctx, k, new_p)
    if real and new_p != p:
        lexd = lex_delta(ctx, k, p, new_p)
    res[0] = nmod
    res[1] = new_p
    res[2] = new_s
    res[3] = ls_new
    res[4] = lexd
    res[5] = pe_a_v
    if pe_b_n >= 0:
        sec_mem = it.mem[k] if (it.not_offline[k] and it.auto_balance[k]
                                and real) else 0
        res[6] = ctx.peers[pe_b_n, pe_b_c] + sec_mem
    else:
        res[6] = 0.0
    res[7] = pe_a_n
    res[8] = pe_a_c
    res[9] = pe_b_n
    res[10] = pe_b_c
    return C.OK


# ---- target-independent halves (the fast scan's shortcut) ---------------------
#
# For a given instance and move kind, everything the move does to the old
# primary and secondary is the same for every target, except where a peer
# entry of the target enters (handled by keeping the state before that one
# operation).  ``prepare_move`` does that part once; ``finish_move`` adds the
# target and fills the same buffers and results as ``try_move`` would.  Only
# used without location tags, desired locations and migration tags, where the
# move's bookkeeping does not depend on the target either; tests check it
# against ``try_move`` candidate by candidate.

@njit()
def hoistable(ctx, k, mig_free) -> bool:
    return (mig_free and ctx.node_loc.shape[1] == 0
            and ctx.dsrd_ptr[k] == ctx.dsrd_ptr[k + 1])


@njit()
def prepare_move(ctx, it, k, kind, force, pre, pre_res) -> int:
    """T-independent part of a move into ``pre`` (slots 0-1 final, 2-3 staged).

    pre_res[0] is the status of the staged operation done with a zero peer
    entry (slot 3), pre_res[1] the old secondary's new peer entry.
    """
    p = ctx.pnode[k]
    s = ctx.snode[k]
    off_p = ctx.nd[C.OFFLINE, p] != 0.0
    pre_res[0] = C.OK
    if kind == FAILOVER_TO_ANY:
        _load(ctx, p, pre, 1)
        remove_pri(pre[1], it, k)
        pre[1, C.CONFLICTS] += _tag_conflict_delta(ctx, k, p, False)
        return C.OK
    _load(ctx, p, pre, 0)
    _load(ctx, s, pre, 1)
    remove_pri(pre[0], it, k)
    pre_res[1] = remove_sec(pre[1], it, k, ctx.peers[s, p], _max_other(ctx, s, p))
    if kind == REPLACE_SECONDARY:
        return add_pri(pre[0], it, k, True, False)
    pre[0, C.CONFLICTS] += _tag_conflict_delta(ctx, k, p, False)
    if kind == REPLACE_AND_FAILOVER:
        off_s = ctx.nd[C.OFFLINE, s] != 0.0
        pre[2] = pre[0]
        pre[3] = pre[0]
        pre_res[0] = add_sec(pre[3], it, k, 0.0, off_s or force, False)
        return C.OK
    r = add_pri(pre[1], it, k, off_p or force, _tag_reject(ctx, k, s))
    if r != C.OK:
        return r
    if kind == FAILOVER_AND_REPLACE:
        pre[1, C.CONFLICTS] += _tag_conflict_delta(ctx, k, s, True)
        return C.OK
    # REPLACE_PRIMARY
    remove_pri(pre[1], it, k)
    pre[2] = pre[1]
    pre[3] = pre[1]
    pre_res[0] = add_sec(pre[3], it, k, 0.0, off_p or force, False)
    return C.OK


@njit(inline="always")
def finish_move(ctx, it, k, kind, t, force, pre, pre_res, buf, mod_idx, res) -> int:
    """Add target t to a prepared move; same outputs as try_move (or a failure).

    Returns C.OK, a failure mode, and in res[11] a bit mask of the slots that
    hold the prepared (target-independent) buffers unchanged.
    """
    p = ctx.pnode[k]
    s = ctx.snode[k]
    off_p = ctx.nd[C.OFFLINE, p] != 0.0
    real = not it.forthcoming[k]
    sec_mem = it.mem[k] if (it.not_offline[k] and it.auto_balance[k] and real) else 0
    res[3] = ctx.loc_score[k]
    res[4] = 0.0
    if kind == FAILOVER_TO_ANY:
        _load(ctx, t, buf, 0)
        r = add_pri(buf[0], it, k, off_p or force, _tag_reject(ctx, k, t))
        if r != C.OK:
            return r
        buf[0, C.CONFLICTS] += _tag_conflict_delta(ctx, k, t, True)
        buf[1] = pre[1]
        mod_idx[0] = t
        mod_idx[1] = p
        res[0] = 2
        res[1] = t
        res[2] = s
        res[5] = 0.0
        res[6] = 0.0
        res[7] = -1
        res[8] = -1
        res[9] = -1
        res[10] = -1
        res[11] = 2
        return C.OK
    mod_idx[0] = p
    mod_idx[1] = s
    mod_idx[2] = t
    res[0] = 3
    res[5] = pre_res[1]
    res[7] = s
    res[8] = p
    _load(ctx, t, buf, 2)
    if kind == REPLACE_SECONDARY:
        off_s = ctx.nd[C.OFFLINE, s] != 0.0
        r = add_sec(buf[2], it, k, ctx.peers[t, p], off_s or force, False)
        if r != C.OK:
            return r
        buf[0] = pre[0]
        buf[1] = pre[1]
        res[1], res[2], res[9], res[10] = p, t, t, p
        res[6] = ctx.peers[t, p] + sec_mem
        res[11] = 3
        return C.OK
    if kind == REPLACE_AND_FAILOVER:
        r = add_pri(buf[2], it, k, force, _tag_reject(ctx, k, t))
        if r != C.OK:
            return r
        peer = ctx.peers[p, t]
        mask = 2
        if peer == 0:
            if pre_res[0] != C.OK:
                return int(pre_res[0])
            buf[0] = pre[3]
            mask = 3
        else:
            buf[0] = pre[2]
            off_s = ctx.nd[C.OFFLINE, s] != 0.0
            r = add_sec(buf[0], it, k, peer, off_s or force, False)
            if r != C.OK:
                return r
        buf[2, C.CONFLICTS] += _tag_conflict_delta(ctx, k, t, True)
        buf[1] = pre[1]
        res[1], res[2], res[9], res[10] = t, p, p, t
        res[6] = peer + sec_mem
        res[11] = mask
        return C.OK
    if kind == FAILOVER_AND_REPLACE:
        r = add_sec(buf[2], it, k, ctx.peers[t, s], off_p or force, False)
        if r != C.OK:
            return r
        buf[0] = pre[0]
        buf[1] = pre[1]
        res[1], res[2], res[9], res[10] = s, t, t, s
        res[6] = ctx.peers[t, s] + sec_mem
        res[11] = 3
        return C.OK
    # REPLACE_PRIMARY
    r = add_pri(buf[2], it, k, off_p or force, _tag_reject(ctx, k, t))
    if r != C.OK:
        return r
    peer = ctx.peers[s, t]
    mask = 1
    if peer == 0:
        if pre_res[0] != C.OK:
            return int(pre_res[0])
        buf[1] = pre[3]
        mask = 3
    else:
        buf[1] = pre[2]
        r = add_sec(buf[1], it, k, peer, off_p or force, False)
        if r != C.OK:
            return r
    buf[2, C.CONFLICTS] += _tag_conflict_delta(ctx, k, t, True)
    buf[0] = pre[0]
    res[1], res[2], res[9], res[10] = t, s, s, t
    res[6] = peer + sec_mem
    res[11] = mask
    return C.OK
