"""Pair scores carried from one multi-allocate entry to the next.

A multi-allocate of many identical instances asks tryAlloc the same question
again and again on a cluster that changed on two nodes: every entry scores all
(primary, secondary) pairs, a million on a 1000-node group, to keep one.  For
a pair on untouched nodes only the cluster-wide sums under the std-dev metrics
moved, which moves its gain (score minus the cluster's score) by the
second-order amount ``solver.bounds.gain_drift`` bounds; the same bound hbal
carries from step to step.

So each primary's row keeps a lower bound of its best gain and the ranges
the drift bound needs.  A new entry with the same instance spec lowers every
bound by the drift, re-scores the two columns of the nodes the last entry
used, and then re-scores whole rows only while a row's bound could still beat
(or tie) the best exact candidate found; rows of changed primaries are always
re-scored.  The winner, and Ganeti's tie order among equal scores (the later
primary, then the later secondary), come from exact scores only.  When no
candidate is left, or the global N+1 filter rejects too many, the caller
falls back to the full scan, which also counts the failures Ganeti reports.
"""

from __future__ import annotations

import numpy as np

from solver import cluster as C
from solver.allocate import Allocator, AllocSolution, MatrixInputs, _stats_score
from solver.bounds import gain_drift
from solver.metrics import AGGREGATION

_STD = AGGREGATION == 0
_BATCH = 8  # rows re-scored at a time when no exact candidate is known yet
_MAX_FILTERED = 16  # N+1 rejections before the full scan takes over


class PairCache:
    """Row bounds of one (candidate nodes, scoring nodes) matrix across entries."""

    def __init__(self) -> None:
        self.sig: tuple | None = None
        self.changed: set[int] = set()

    def touched(self, nodes: tuple[int, ...]) -> None:
        """An allocation was committed on ``nodes``."""
        self.changed.update(nodes)

    def winner(self, alloc: Allocator, inp: MatrixInputs) -> AllocSolution | None:
        """The pair tryAlloc would choose (as ``Allocator._best_of_matrix``), or None.

        None asks the caller for the full scan: no candidate passes, or the
        N+1 filter dropped too many of them.  The returned solution carries
        no success count (multi-allocate prints counts only for failures).
        """
        sig = _signature(alloc, inp)
        base = _stats_score(inp.stat_s, inp.stat_v, inp.map_val)
        n_rows = len(inp.prims)
        fresh = np.zeros(n_rows, dtype=np.bool_)
        if sig != self.sig:
            self.sig = sig
            self.scores = np.zeros((n_rows, len(inp.cand)))
            self.valid = np.zeros((n_rows, len(inp.cand)), dtype=np.bool_)
            self.bound = np.full(n_rows, -np.inf)
            self.dmin = np.full((n_rows, len(_STD)), np.inf)
            self.dmax = np.full((n_rows, len(_STD)), -np.inf)
            self.bmax = np.zeros((n_rows, len(_STD)))
            self._rescan(alloc, inp, np.arange(n_rows), base)
            fresh[:] = True
        else:
            self._advance(alloc, inp, base)
        self.changed.clear()
        self.stat_s, self.stat_v = inp.stat_s.copy(), inp.stat_v.copy()
        self.row_inputs = (inp.rejected.copy(), inp.conflicts.copy(), inp.locs.copy())
        filtered: list[tuple[int, int]] = []
        for _ in range(_MAX_FILTERED):
            while True:
                # only fresh rows hold exact scores; usually a handful
                rows = np.flatnonzero(fresh)
                masked = np.where(self.valid[rows], self.scores[rows], np.inf)
                for i, j in filtered:
                    masked[np.searchsorted(rows, i), j] = np.inf
                best = masked.min(initial=np.inf)
                lower = np.where(fresh, np.inf, base + self.bound)
                if best < np.inf:
                    need = lower <= best + 1e-9 * max(1.0, abs(best))
                else:
                    need = lower < np.inf
                    if need.sum() > _BATCH:
                        need[:] = False
                        need[np.argsort(lower, kind="stable")[:_BATCH]] = True
                if not need.any():
                    break
                rows = np.flatnonzero(need)
                self._rescan(alloc, inp, rows, base)
                fresh[rows] = True
            if not best < np.inf:
                break
            pos = int(np.flatnonzero(masked.ravel() == best)[-1])
            r, j = divmod(pos, masked.shape[1])
            i = int(rows[r])
            nodes = (int(inp.prims[i]), int(inp.cand[j]))
            if alloc._good(nodes):
                return AllocSolution(score=float(best), nodes=nodes)
            filtered.append((i, j))
        self.sig = None
        return None

    def _rescan(self, alloc: Allocator, inp: MatrixInputs, rows: np.ndarray,
                base: float) -> None:
        """Exact scores of whole rows; their bounds become their best gains."""
        out_pr, out_r, out_sc, (dmin, dmax, bmax) = inp.scan(alloc, rows)
        out_r[out_pr != C.OK] = -2
        valid = out_r == C.OK
        self.scores[rows] = out_sc
        self.valid[rows] = valid
        self.bound[rows] = np.where(valid, out_sc - base, np.inf).min(axis=1, initial=np.inf)
        self.dmin[rows], self.dmax[rows], self.bmax[rows] = dmin, dmax, bmax

    def _advance(self, alloc: Allocator, inp: MatrixInputs, base: float) -> None:
        """Carry the row bounds over the last commit (see the module docstring)."""
        n = np.where(_STD, inp.stat_n, 1.0)
        shift = np.where(_STD, 2.0 * np.abs(inp.stat_s - self.stat_s) / n ** 2, 0.0) * self.bmax
        self.bound -= gain_drift(self.dmin, self.dmax, shift, self.stat_v, inp.stat_v)
        self.dmin -= shift
        self.dmax += shift
        changed = np.array(sorted(self.changed), dtype=np.int64)
        rejected, conflicts, locs = self.row_inputs
        redo = (np.isin(inp.prims, changed) | (rejected != inp.rejected)
                | (conflicts != inp.conflicts) | (locs != inp.locs))
        self.bound[redo] = -np.inf
        cols = np.flatnonzero(np.isin(inp.cand, changed))
        rows = np.flatnonzero(~redo)
        if not len(cols) or not len(rows):
            return
        out_pr, out_r, out_sc, (dmin, dmax, bmax) = inp.scan(alloc, rows, cols)
        out_r[out_pr != C.OK] = -2
        gain = np.where(out_r == C.OK, out_sc - base, np.inf).min(axis=1, initial=np.inf)
        self.bound[rows] = np.minimum(self.bound[rows], gain)
        self.dmin[rows] = np.minimum(self.dmin[rows], dmin)
        self.dmax[rows] = np.maximum(self.dmax[rows], dmax)
        self.bmax[rows] = np.maximum(self.bmax[rows], bmax)


def _signature(alloc: Allocator, inp: MatrixInputs) -> tuple:
    """What makes two entries' matrices comparable: the instance as the node
    operations see it, the rows, columns and group layout, the force flag."""
    st, k = alloc.sim.state, alloc.k
    ia = st.inst
    spec = tuple(np.asarray(a[k]).tobytes() for a in alloc.sim.it)
    excl = ia.excl_ids[ia.excl_ptr[k]:ia.excl_ptr[k + 1]].tobytes()
    return (spec, excl, alloc.force, inp.prims.tobytes(), inp.cand.tobytes(),
            inp.grp.tobytes(), inp.stat_n.tobytes())
