"""Ganeti's cluster score (spec §3): per-node metric values and their aggregation.

The exact path here reproduces Ganeti's float operations: per metric a
sequential sum in node-index order, a two-pass population std-dev, and the
weighted total summed left to right.  Printed scores and tie-breaks depend on
those bits, so every score that is compared or printed comes from
``exact_score``; faster estimates (see ``solver.balance``) only prune.
"""

from __future__ import annotations

import math

import numpy as np

from solver import cluster as C
from solver.jit import njit

METRIC_NAMES = (
    "free_mem_cv", "free_disk_cv", "n1_cnt", "reserved_mem_cv", "offline_all_cnt",
    "offline_pri_cnt", "vcpu_ratio_cv", "cpu_load_cv", "mem_load_cv", "disk_load_cv",
    "net_load_cv", "pri_tags_score", "spindles_cv", "free_mem_cv_forth",
    "free_disk_cv_forth", "vcpu_ratio_cv_forth", "spindles_cv_forth", "location_score",
    "location_exclusion_score", "reserved_mem_rtotal")
WEIGHTS = np.array([0.5, 0.5, 1, 1, 4, 16, 0.5, 1, 1, 1, 1, 2, 0.5, 0.5, 0.5, 0.5, 0.5,
                    1, 1, 0.25], dtype=np.float64)
# aggregation: 0 = std-dev over online nodes, 1 = sum over online nodes,
# 2 = sum over offline nodes, 3 = the location-exclusion map (computed apart)
AGG_STD, AGG_SUM, AGG_OFF, AGG_MAP = 0, 1, 2, 3
AGGREGATION = np.array([0, 0, 1, 0, 2, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 3, 1],
                       dtype=np.int64)
N_METRICS = 20
MAP_METRIC = 18


@njit()
def _pdsk(free: float, total: float) -> float:
    return 1.0 if total == 0 else free / total


@njit()
def node_values(b: np.ndarray, out: np.ndarray) -> None:
    """The 20 per-node metric values of one node buffer (map slot left 0)."""
    t_mem = b[C.T_MEM]
    unalloc = math.trunc(t_mem) - b[C.N_MEM] - b[C.I_MEM] - max(0.0, b[C.X_MEM])
    excl = b[C.EXCL] != 0.0
    out[0] = unalloc / t_mem
    out[1] = _pdsk(b[C.F_SPN], b[C.T_SPN]) if excl else _pdsk(b[C.F_DSK], b[C.T_DSK])
    cnt = b[C.P_CNT] + b[C.S_CNT]
    out[2] = cnt if b[C.N1_FAIL] != 0.0 else 0.0
    out[3] = b[C.R_MEM] / t_mem
    out[4] = cnt
    out[5] = b[C.P_CNT]
    out[6] = (b[C.U_CPU] / b[C.T_CPU]) / b[C.CPU_SPEED]
    out[7] = b[C.LOAD_CPU]
    out[8] = b[C.LOAD_MEM]
    out[9] = b[C.LOAD_DSK]
    out[10] = b[C.LOAD_NET]
    out[11] = b[C.CONFLICTS]
    out[12] = b[C.INST_SPN] / b[C.HI_SPN]
    out[13] = b[C.FMEM_F] / t_mem
    out[14] = _pdsk(b[C.FSPN_F], b[C.T_SPN]) if excl else _pdsk(b[C.FDSK_F], b[C.T_DSK])
    out[15] = (b[C.UCPU_F] / b[C.T_CPU]) / b[C.CPU_SPEED]
    out[16] = b[C.INSTSPN_F] / b[C.HI_SPN]
    out[17] = b[C.LOC_SCORE]
    out[18] = 0.0
    out[19] = out[3]


@njit()
def metric_table(nd, nodes, mod_idx, mod_buf, nmod, work, online) -> int:
    """Fill ``work[:, j]`` with node ``nodes[j]``'s values (buffers override).

    Returns the number of online nodes; ``online[j]`` says which.
    """
    col = np.empty(nd.shape[0])
    vals = np.empty(N_METRICS)
    n_on = 0
    for j in range(nodes.shape[0]):
        n = nodes[j]
        src = -1
        for m in range(nmod):
            if mod_idx[m] == n:
                src = m
        if src >= 0:
            for f in range(nd.shape[0]):
                col[f] = mod_buf[src, f]
        else:
            for f in range(nd.shape[0]):
                col[f] = nd[f, n]
        node_values(col, vals)
        for i in range(N_METRICS):
            work[i, j] = vals[i]
        online[j] = col[C.OFFLINE] == 0.0
        if online[j]:
            n_on += 1
    return n_on


@njit()
def aggregate(work, online, n_nodes, n_on, map_value, detail) -> float:
    """Ganeti's compCVNodes over a filled metric table; ``detail`` gets values."""
    if n_on == 0:
        for i in range(N_METRICS):
            detail[i] = 0.0
        return 0.0
    total = 0.0
    for i in range(N_METRICS):
        agg = AGGREGATION[i]
        if agg == AGG_MAP:
            v = map_value
        elif agg == AGG_STD:
            n = 0.0
            s = 0.0
            for j in range(n_nodes):
                if online[j]:
                    n = n + 1.0
                    s = s + work[i, j]
            mean = s / n
            nv = 0.0
            for j in range(n_nodes):
                if online[j]:
                    d = work[i, j] - mean
                    nv = nv + d * d
            v = math.sqrt(nv / n)
        else:
            want = agg == AGG_SUM
            v = 0.0
            for j in range(n_nodes):
                if online[j] == want:
                    v = v + work[i, j]
        detail[i] = v
        total = total + WEIGHTS[i] * v
    return total


@njit()
def exact_score(nd, nodes, mod_idx, mod_buf, nmod, map_value, work, online, detail) -> float:
    """Full recomputation of the score over ``nodes`` with a few nodes replaced."""
    n_on = metric_table(nd, nodes, mod_idx, mod_buf, nmod, work, online)
    return aggregate(work, online, nodes.shape[0], n_on, map_value, detail)


def location_exclusion_counts(state: C.ClusterState, nodes: np.ndarray) -> np.ndarray:
    """Merged (location tag x exclusion tag) counts over the online nodes."""
    on = nodes[state.node[C.OFFLINE, nodes] == 0.0]
    if state.node_loc.shape[1] == 0 or state.imap.shape[1] == 0 or len(on) == 0:
        return np.zeros((state.node_loc.shape[1], state.imap.shape[1]), dtype=np.int64)
    return state.node_loc[on].T.astype(np.int64) @ state.imap[on].astype(np.int64)


def map_value(counts: np.ndarray) -> float:
    """Σ(count − 1) over the keys present: extra instances sharing a key."""
    return float(np.maximum(counts - 1, 0).sum())


def score_detail(state: C.ClusterState, nodes: np.ndarray) -> tuple[float, np.ndarray]:
    """The score of ``nodes`` and its 20 component values (for -vvv tables)."""
    nodes = np.asarray(nodes, dtype=np.int64)
    work = np.empty((N_METRICS, len(nodes)))
    online = np.empty(len(nodes), dtype=np.bool_)
    detail = np.zeros(N_METRICS)
    mv = map_value(location_exclusion_counts(state, nodes))
    dummy = np.zeros((1, C.NODE_FIELDS))
    total = exact_score(state.node, nodes, np.zeros(1, np.int64), dummy, 0, mv, work,
                        online, detail)
    return total, detail


def compute_score(state: C.ClusterState, nodes: np.ndarray | None = None) -> float:
    """Ganeti's compCV over ``nodes`` (default: every node)."""
    if nodes is None:
        nodes = np.arange(state.n_nodes, dtype=np.int64)
    return score_detail(state, nodes)[0]


def optimal_score(state: C.ClusterState, nodes: np.ndarray) -> float:
    """optimalCVScore: the reserved-memory floor that no rebalancing removes."""
    if len(nodes) <= 1:
        return 0.0
    mems = [float(state.node[C.T_MEM, n]) for n in nodes]
    total = 0.0
    for m in mems:
        total += m
    one_less = total - max(mems)
    if one_less <= 0:
        return 0.0
    drbd = float(sum(int(state.peers[n].sum()) for n in nodes))
    return 0.25 * (drbd / one_less - drbd / total)
