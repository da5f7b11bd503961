"""The fast path's score estimates: a candidate's score from running sums, with a bound.

Ganeti compares candidates on the exact bits of a full recomputation
(``solver.metrics.exact_score``), which costs O(nodes) per candidate.  A
candidate changes a few nodes only, so per-metric sums over the scored nodes
(shifted by their mean, which keeps the variance estimate accurate) give its
score in O(metrics), together with a rigorous bound on the estimate's error.
Callers rescore exactly only the candidates whose interval can reach the
best one's: hbal's move scan (``solver.balance``), evacuation's choice of a
target (``solver.evacuate``) and the placement of a single-node instance
(``solver.allocate``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from solver import cluster as C
from solver.jit import njit
from solver.metrics import AGGREGATION, N_METRICS, WEIGHTS, node_values


@njit()
def base_stats(nd, nodes, shift, s1, s2, sabs, nvals):
    """Per-metric sums over the scored nodes, shifted by ``shift``.

    s1/s2: Σ(x−c), Σ(x−c)² over online nodes for std-dev metrics, plain sums
    for sum metrics (online or offline per the metric); sabs: Σ|x| (error
    scale).  Returns the number of online nodes.
    """
    col = np.empty(nd.shape[0])
    v = np.empty(N_METRICS)
    n_on = 0
    for j in range(nodes.shape[0]):
        n = nodes[j]
        if nd[C.OFFLINE, n] == 0.0:
            n_on += 1
    for i in range(N_METRICS):
        s1[i] = 0.0
        s2[i] = 0.0
        sabs[i] = 0.0
    for j in range(nodes.shape[0]):
        n = nodes[j]
        for f in range(nd.shape[0]):
            col[f] = nd[f, n]
        node_values(col, v)
        nvals[j, :] = v
        on = col[C.OFFLINE] == 0.0
        for i in range(N_METRICS):
            agg = AGGREGATION[i]
            if agg == 0 and on:
                d = v[i] - shift[i]
                s1[i] += d
                s2[i] += d * d
                sabs[i] += abs(v[i])
            elif (agg == 1 and on) or (agg == 2 and not on):
                s1[i] += v[i]
                sabs[i] += abs(v[i])
    return n_on


@njit(inline="always")
def fast_estimate(offline, pos, nvals, shift, s1, s2, sabs, n_on, var0, base_map, buf,
                   mod_idx, res, v, out, known, vfix, dvar, dsum):
    """Estimate and error bound of one simulated candidate (buffers filled).

    Slots whose bit is set in ``known`` take their values from ``vfix``.
    ``out[0]`` gets the estimate, ``out[1]`` the bound; a candidate whose
    components are not finite gets (-inf, inf) so that only the exact path
    judges it.  For the std-dev metrics ``dvar`` gets the candidate's change
    of the variance (against ``var0``) and ``dsum`` its change of the sum of
    node values: with the candidate's nodes untouched, these two numbers are
    all a later step needs to bound how its score moves (``solver.bounds``).
    """
    eps = 2.220446049250313e-16
    nmod = int(res[0])
    for m in range(nmod):
        if not (known >> m) & 1:
            node_values(buf[m], v[m])
    total = 0.0
    bound = 0.0
    for i in range(N_METRICS):
        agg = AGGREGATION[i]
        if agg == 3:
            total += WEIGHTS[i] * (base_map + res[4])
            continue
        a = s1[i]
        b2 = s2[i]
        sa = sabs[i]
        c = shift[i]
        ds = 0.0
        for m in range(nmod):
            n = mod_idx[m]
            on = offline[n] == 0.0
            x = nvals[pos[n], i]
            y = vfix[m, i] if (known >> m) & 1 else v[m, i]
            if agg == 0:
                if on:
                    dx = x - c
                    dy = y - c
                    a += dy - dx
                    b2 += dy * dy - dx * dx
                    ds += y - x
                    sa += abs(y) + abs(x)
            elif (agg == 1) == on:
                a += y - x
                sa += abs(y) + abs(x)
        if agg == 0:
            mean_d = a / n_on
            var = b2 / n_on - mean_d * mean_d
            # rounding of the sums (ours and the exact path's): n_on+16 terms
            scale = sa / n_on + abs(c)
            dv = (8.0 * (n_on + 16)) * eps * (scale * scale + abs(b2) / n_on)
            val = math.sqrt(max(var, 0.0))
            dvar[i] = var - var0[i]
            dsum[i] = ds
            # sqrt(var+dv) - sqrt(var-dv) <= 1.2 dv / sqrt(var) once var >= 4 dv;
            # below that, sqrt(5 dv) bounds it (one sqrt either way)
            if var >= 4.0 * dv and val > 0.0:
                spread = 1.2 * dv / val
            else:
                spread = math.sqrt(5.0 * dv)
            bound += WEIGHTS[i] * (spread + 4 * eps * val)
        else:
            val = a
            bound += WEIGHTS[i] * (8.0 * (n_on + 16)) * eps * (sa + 1.0)
        total += WEIGHTS[i] * val
    if not math.isfinite(total) or not math.isfinite(bound):
        out[0] = -np.inf
        out[1] = np.inf
    else:
        out[0] = total
        out[1] = bound + 64 * eps * abs(total) + 1e-12


@dataclass(frozen=True)
class GroupSums:
    """``base_stats`` over some nodes, shifted by the mean of their online values.

    ``var`` and ``total`` are the online values' variance and sum per metric
    (what ``solver.bounds`` tracks across steps).
    """

    shift: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    sabs: np.ndarray
    nvals: np.ndarray
    n_on: int
    var: np.ndarray
    total: np.ndarray

    def estimate_args(self) -> tuple:
        """The sums in ``fast_estimate``'s argument order (nvals to n_on)."""
        return self.nvals, self.shift, self.s1, self.s2, self.sabs, self.n_on


def group_sums(nd: np.ndarray, nodes: np.ndarray) -> GroupSums:
    """Sum the node values of ``nodes`` twice: once for the mean, then shifted by it."""
    shift = np.zeros(N_METRICS)
    s1, s2, sabs = np.zeros(N_METRICS), np.zeros(N_METRICS), np.zeros(N_METRICS)
    nvals = np.empty((len(nodes), N_METRICS))
    n_on = base_stats(nd, nodes, shift, s1, s2, sabs, nvals)
    on = nd[C.OFFLINE, nodes] == 0.0
    if n_on:
        shift = np.where(AGGREGATION == 0, nvals[on].mean(axis=0), 0.0)
        base_stats(nd, nodes, shift, s1, s2, sabs, nvals)
        var, total = nvals[on].var(axis=0), nvals[on].sum(axis=0)
    else:
        var, total = np.zeros(N_METRICS), np.zeros(N_METRICS)
    return GroupSums(shift, s1, s2, sabs, nvals, n_on, var, total)

