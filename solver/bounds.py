"""Per-instance bounds carried from one hbal step to the next.

A greedy step must find the best of millions of candidates, but one move
changes the node values of at most a handful of nodes.  For a candidate whose
nodes were all left alone, only the cluster-wide sums under its std-dev
metrics moved, and that moves its gain (its score minus the step's score) by
a second-order amount.  Let V be a metric's variance over the online nodes,
Δ the candidate's change of it and b its change of the sum of node values.
The metric adds w·(√(V+Δ) − √V) to the gain, and when the last step moved
the variance from V0 to V1 and the sum by δ, Δ moves by −2δb/n².  By the
mean value theorem the term moves by at most
w·(|V1−V0|·max|∂/∂V| + |ΔΔ|·max|∂/∂Δ|), with both partial derivatives
bounded on the segment by the smallest V and V+Δ on it.  Sum metrics add
Σ(new−old) over the candidate's own nodes, which does not move at all.

So each instance keeps a lower bound of its best gain plus the range of Δ
and the largest |b| over its candidates; ``advance`` lowers the bound by the
worst drift of the last step.  A step rescans an instance only when its
bound could still beat the best candidate found; the candidates on the
nodes the last move touched are rescanned every step, and instances whose
own nodes were touched are rescanned whole.  The bounds are rigorous, so the
step still finds Ganeti's exact winner.
"""

from __future__ import annotations

import numpy as np

from solver.metrics import AGGREGATION, N_METRICS, WEIGHTS

_STD = AGGREGATION == 0


class InstanceBounds:
    """Bookkeeping indexed by instance: what the last scan of it showed.

    ``gain`` bounds from below, for every candidate of the instance, the
    score minus the score of the step it was last seen in (after ``advance``:
    of the current step); ``err`` is the largest estimate error bound met.
    """

    def __init__(self, n_instances: int) -> None:
        self.known = np.zeros(n_instances, dtype=np.bool_)
        self.gain = np.full(n_instances, -np.inf)
        self.err = np.zeros(n_instances)
        self.dmin = np.full((n_instances, N_METRICS), np.inf)
        self.dmax = np.full((n_instances, N_METRICS), -np.inf)
        self.bmax = np.zeros((n_instances, N_METRICS))

    def store(self, idx: np.ndarray, gain, err, dmin, dmax, bmax) -> None:
        """Replace what is known of ``idx`` by a scan of all their candidates."""
        self.known[idx] = True
        self.gain[idx] = gain
        self.err[idx] = err
        self.dmin[idx] = dmin
        self.dmax[idx] = dmax
        self.bmax[idx] = bmax

    def merge(self, idx: np.ndarray, gain, err, dmin, dmax, bmax) -> None:
        """Add a scan of some candidates of ``idx`` (the touched targets)."""
        self.gain[idx] = np.minimum(self.gain[idx], gain)
        self.err[idx] = np.maximum(self.err[idx], err)
        self.dmin[idx] = np.minimum(self.dmin[idx], dmin)
        self.dmax[idx] = np.maximum(self.dmax[idx], dmax)
        self.bmax[idx] = np.maximum(self.bmax[idx], bmax)

    def advance(self, idx: np.ndarray, v0: np.ndarray, v1: np.ndarray, dsum: np.ndarray,
                n_on: int) -> None:
        """Carry the bounds of ``idx`` over one step that left their nodes alone.

        ``v0``/``v1`` are each metric's variance before and after the step,
        ``dsum`` the change of its sum of node values.
        """
        if len(idx) == 0:
            return
        shift = 2.0 * np.abs(dsum) / float(n_on) ** 2 * self.bmax[idx]
        drift = gain_drift(self.dmin[idx], self.dmax[idx], shift, v0, v1)
        self.gain[idx] -= drift
        self.dmin[idx] -= shift
        self.dmax[idx] += shift


def gain_drift(dmin: np.ndarray, dmax: np.ndarray, shift: np.ndarray, v0: np.ndarray,
               v1: np.ndarray) -> np.ndarray:
    """Largest move of a candidate's gain over one step, per instance (rows).

    ``dmin``/``dmax``: range of the candidates' variance changes before the
    step; ``shift``: how far the step may move each of them.  Metrics no
    candidate changes contribute nothing; a variance that may come near zero
    makes the bound infinite (the instance is simply rescanned).
    """
    dmin, dmax, shift = dmin[:, _STD], dmax[:, _STD], shift[:, _STD]
    v0, v1 = v0[_STD], v1[_STD]
    vlow = np.minimum(v0, v1)
    wlow = np.minimum(v0 + dmin, v1 + dmin - shift)
    amax = np.maximum(np.abs(dmin), np.abs(dmax)) + shift
    # rounding in the variances (relative 1e-12 is far above it) must not
    # turn a near-zero spread into a tiny derivative bound
    scale = np.maximum(v0, v1)
    amax = amax + 1e-12 * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = (vlow > 1e-9 * scale) & (wlow > 1e-9 * scale)
        sv, sw = np.sqrt(vlow), np.sqrt(np.where(ok, wlow, 1.0))
        d_v = amax / (2.0 * sv * sw * (sv + sw))
        d_d = 1.0 / (2.0 * sw)
        term = WEIGHTS[_STD] * (d_v * np.abs(v1 - v0) + d_d * shift)
        term = np.where(ok, term, np.inf)
    # no candidate changes the metric (or the instance has no candidates)
    still = (dmax < dmin) | ((dmin == 0.0) & (dmax == 0.0) & (shift == 0.0))
    term = np.where(still, 0.0, term)
    return term.sum(axis=1) * (1.0 + 1e-9) + 1e-15
