"""Cluster-wide resource statistics (Ganeti's CStats), as hspace reports them.

hspace prints these before and after each allocation run, and the capacity
planner tabulates them per scenario, so both read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver import cluster as C


def ieee_div(a: float, b: float) -> float:
    """IEEE division, as Haskell's Double (0/0 is NaN, x/0 infinite)."""
    return float(np.float64(a) / np.float64(b))


@dataclass
class CStats:
    """Cluster-wide sums (and maxima) over every node."""

    fmem: int
    fdsk: int
    fspn: int
    amem: int
    adsk: int
    acpu: int
    mmem: int
    mdsk: int
    mcpu: int
    imem: int
    idsk: int
    ispn: int
    icpu: int
    tmem: float
    tdsk: float
    tspn: float
    tcpu: float
    vcpu: int
    ncpu: float
    xmem: int
    nmem: int
    ninst: int
    score: float

    def eff(self) -> dict[str, float]:
        """Share of each resource the instances use (hspace's usage efficiency)."""
        return {"memory": ieee_div(self.imem, self.tmem), "disk": ieee_div(self.idsk, self.tdsk),
                "vcpu": ieee_div(self.icpu, self.vcpu),
                "spindles": ieee_div(self.ispn, self.tspn)}


def total_resources(state: C.ClusterState) -> CStats:
    """totalResources: folded over the nodes in index order, so the float sums match."""
    from solver.metrics import compute_score
    nd = state.node
    unalloc = state.unallocated_mem()
    amem = state.avail_mem()
    adsk = np.where(nd[C.F_DSK] < nd[C.LO_DSK], 0.0, nd[C.F_DSK] - nd[C.LO_DSK])
    acpu = np.where(nd[C.HI_CPU] < nd[C.U_CPU], 0.0, nd[C.HI_CPU] - nd[C.U_CPU])
    ncpu = 0.0
    tmem = tdsk = tcpu = 0.0
    for n in range(state.n_nodes):
        ncpu += float(nd[C.U_CPU, n]) / float(nd[C.VCPU_RATIO, n]) \
            if nd[C.VCPU_RATIO, n] else ieee_div(nd[C.U_CPU, n], 0.0)
        tmem += float(nd[C.T_MEM, n])
        tdsk += float(nd[C.T_DSK, n])
        tcpu += float(nd[C.T_CPU, n])

    def total(x) -> int:
        return int(np.asarray(x).sum())

    def top(x) -> int:
        return int(np.max(x, initial=0))

    return CStats(
        fmem=total(unalloc), fdsk=total(nd[C.F_DSK]), fspn=total(nd[C.F_SPN]),
        amem=total(amem), adsk=total(adsk), acpu=total(acpu),
        mmem=top(amem), mdsk=top(adsk), mcpu=top(acpu),
        imem=total(nd[C.I_MEM]), idsk=total(np.trunc(nd[C.T_DSK]) - nd[C.F_DSK]),
        ispn=total(nd[C.T_SPN] - nd[C.F_SPN]), icpu=total(nd[C.U_CPU]),
        tmem=tmem, tdsk=tdsk, tspn=float(total(nd[C.T_SPN])), tcpu=tcpu,
        vcpu=total(nd[C.HI_CPU]), ncpu=ncpu, xmem=total(nd[C.X_MEM]),
        nmem=total(nd[C.N_MEM]), ninst=total(nd[C.P_CNT]),
        score=compute_score(state))
