"""Node operations of the simulation: add/remove a primary or secondary.

These follow Ganeti's Node.addPriEx/addSecExEx/removePri/removeSec check by
check and float operation by float operation (spec §1.9), because printed
scores and tie-breaks depend on the exact bits.  Each operation works on a
*node buffer*: one node's column of ``ClusterState.node`` copied into a small
float64 vector, so a kernel can try a move on copies and throw them away.

What is not in the buffer is passed in or handled by the caller:
* peers: the caller passes the one peer entry involved and, for removeSec,
  the largest other entry of the node's peer row (rMem after the removal);
* exclusion-tag conflicts, location score and the location-exclusion map are
  integer counts whose net change depends only on the old and new primary,
  so the move code accounts for them once per move (``tag_reject`` tells
  addPri whether the node already holds one of the instance's tags).
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from solver import cluster as C
from solver.jit import njit

# Instance fields the kernels read, as one numba-friendly tuple.
InstTuple = namedtuple("InstTuple", [
    "mem", "dsk", "vcpus", "uses_mem", "not_offline", "auto_balance", "forthcoming",
    "template", "spindle_use", "total_spindles", "util"])


def inst_tuple(ia: C.InstanceArrays) -> InstTuple:
    return InstTuple(ia.mem, ia.dsk, ia.vcpus, ia.uses_mem, ia.not_offline,
                     ia.auto_balance, ia.forthcoming, ia.template, ia.spindle_use,
                     ia.total_spindles, ia.util)


@njit()
def _uses_local(t: int) -> bool:
    return t == 3 or t == 5  # plain, drbd


@njit()
def unallocated(b: np.ndarray, i_mem: float) -> float:
    """Ganeti's unallocatedMem with a prospective iMem."""
    return math.trunc(b[C.T_MEM]) - b[C.N_MEM] - i_mem - max(0.0, b[C.X_MEM])


@njit()
def _new_free_spn(excl: bool, free: float, total_spn: int, add: bool) -> float:
    if not excl:
        return 0.0
    if total_spn < 0:
        return -1.0 if add else free
    return free - total_spn if add else free + total_spn


@njit()
def _new_inst_spn(excl: bool, cur: float, local: bool, su: int, add: bool) -> float:
    if excl:
        return 0.0
    if not local:
        return cur
    return cur + su if add else cur - su


@njit()
def _forth_add_pri_check(b, it, k) -> int:
    local = _uses_local(it.template[k])
    excl = b[C.EXCL] != 0.0
    mem_f = b[C.FMEM_F] - it.mem[k]
    dsk_f = b[C.FDSK_F] - it.dsk[k] if local else b[C.FDSK_F]
    spn_f = _new_free_spn(excl, b[C.FSPN_F], it.total_spindles[k], True)
    isp_f = _new_inst_spn(excl, b[C.INSTSPN_F], local, it.spindle_use[k], True)
    ucpu_f = b[C.UCPU_F] + it.vcpus[k] if it.not_offline[k] else b[C.UCPU_F]
    lcpu = b[C.VCPU_RATIO]
    if mem_f <= 0:
        return C.FAIL_MEM
    if local and dsk_f <= 0:
        return C.FAIL_DISK
    if local and dsk_f < b[C.LO_DSK]:
        return C.FAIL_DISK
    if local and excl and spn_f < 0:
        return C.FAIL_SPINDLES
    if local and isp_f > b[C.HI_SPN]:
        return C.FAIL_DISK
    if lcpu >= 0 and lcpu < ucpu_f / b[C.T_CPU]:
        return C.FAIL_CPU
    return C.OK


@njit()
def _forth_add_pri(b, it, k) -> None:
    """The fields every addPri changes (Ganeti's updateForthcomingFields)."""
    local = _uses_local(it.template[k])
    excl = b[C.EXCL] != 0.0
    b[C.FMEM_F] = b[C.FMEM_F] - it.mem[k]
    if local:
        b[C.FDSK_F] = b[C.FDSK_F] - it.dsk[k]
    spn_f = _new_free_spn(excl, b[C.FSPN_F], it.total_spindles[k], True)
    b[C.INSTSPN_F] = _new_inst_spn(excl, b[C.INSTSPN_F], local, it.spindle_use[k], True)
    b[C.FSPN_F] = spn_f
    if it.not_offline[k]:
        b[C.UCPU_F] = b[C.UCPU_F] + it.vcpus[k]
    for j in range(4):
        b[C.LOADF_CPU + j] = b[C.LOADF_CPU + j] + it.util[k, j]


@njit()
def add_pri(b, it, k, force, tag_reject) -> int:
    """addPriEx: returns OK (and updates b) or the failure mode."""
    strict = not force
    if it.forthcoming[k]:
        if strict:
            r = _forth_add_pri_check(b, it, k)
            if r != C.OK:
                return r
        _forth_add_pri(b, it, k)
        return C.OK
    local = _uses_local(it.template[k])
    excl = b[C.EXCL] != 0.0
    new_imem = b[C.I_MEM] + it.mem[k] if it.uses_mem[k] else b[C.I_MEM]
    new_free = unallocated(b, new_imem)
    new_failn1 = new_free <= b[C.R_MEM]
    new_dsk = b[C.F_DSK] - it.dsk[k] if local else b[C.F_DSK]
    new_spn = _new_free_spn(excl, b[C.F_SPN], it.total_spindles[k], True)
    new_isp = _new_inst_spn(excl, b[C.INST_SPN], local, it.spindle_use[k], True)
    new_ucpu = b[C.U_CPU] + it.vcpus[k] if it.not_offline[k] else b[C.U_CPU]
    lcpu = b[C.VCPU_RATIO]
    if new_free <= 0:
        return C.FAIL_MEM
    if local and new_dsk <= 0:
        return C.FAIL_DISK
    if strict and local and new_dsk < b[C.LO_DSK]:
        return C.FAIL_DISK
    if local and excl and new_spn < 0:
        return C.FAIL_SPINDLES
    if strict and local and new_isp > b[C.HI_SPN]:
        return C.FAIL_DISK
    if strict and new_failn1 and b[C.N1_FAIL] == 0.0:
        return C.FAIL_MEM
    if strict and lcpu >= 0 and lcpu < new_ucpu / b[C.T_CPU]:
        return C.FAIL_CPU
    if strict and tag_reject:
        return C.FAIL_TAGS
    if strict:
        r = _forth_add_pri_check(b, it, k)
        if r != C.OK:
            return r
    b[C.P_CNT] += 1
    b[C.I_MEM] = new_imem
    b[C.F_DSK] = new_dsk
    b[C.N1_FAIL] = 1.0 if new_failn1 else 0.0
    b[C.U_CPU] = new_ucpu
    for j in range(4):
        b[C.LOAD_CPU + j] = b[C.LOAD_CPU + j] + it.util[k, j]
    b[C.INST_SPN] = new_isp
    b[C.F_SPN] = new_spn
    _forth_add_pri(b, it, k)
    return C.OK


@njit()
def add_sec(b, it, k, peer, force, ignore_disks) -> int:
    """addSecExEx; ``peer`` is the node's current peer entry for the primary.

    On success b's R_MEM holds the new rMem; the new peer entry is
    ``peer + sec_mem(it, k)``.
    """
    strict = not force
    excl = b[C.EXCL] != 0.0
    sec_mem = it.mem[k] if (it.not_offline[k] and it.auto_balance[k]) else 0
    is_drbd = it.template[k] == C.DT_DRBD
    local = _uses_local(it.template[k])
    dsk_f = b[C.FDSK_F] - it.dsk[k]
    spn_f = _new_free_spn(excl, b[C.FSPN_F], it.total_spindles[k], True)
    isp_f = _new_inst_spn(excl, b[C.INSTSPN_F], local, it.spindle_use[k], True)
    # forthcoming-limit check (evaluated lazily, like Ganeti's guard order)
    if it.forthcoming[k]:
        if strict:
            r = _forth_sec_check(b, is_drbd, dsk_f, excl, spn_f, isp_f, sec_mem)
            if r != C.OK:
                return r
        _forth_add_sec(b, it, k, dsk_f, spn_f, isp_f)
        return C.OK
    old_mem = unallocated(b, b[C.I_MEM])
    new_dsk = b[C.F_DSK] - it.dsk[k]
    new_spn = _new_free_spn(excl, b[C.F_SPN], it.total_spindles[k], True)
    new_isp = _new_inst_spn(excl, b[C.INST_SPN], local, it.spindle_use[k], True)
    new_rmem = max(b[C.R_MEM], peer + sec_mem)
    new_failn1 = old_mem <= new_rmem
    if not is_drbd:
        return C.FAIL_DISK
    if not ignore_disks and new_dsk <= 0:
        return C.FAIL_DISK
    if strict and new_dsk < b[C.LO_DSK]:
        return C.FAIL_DISK
    if excl and new_spn < 0:
        return C.FAIL_SPINDLES
    if strict and new_isp > b[C.HI_SPN]:
        return C.FAIL_DISK
    if strict and sec_mem >= old_mem:
        return C.FAIL_MEM
    if strict and new_failn1 and b[C.N1_FAIL] == 0.0:
        return C.FAIL_MEM
    if strict:
        r = _forth_sec_check(b, is_drbd, dsk_f, excl, spn_f, isp_f, sec_mem)
        if r != C.OK:
            return r
    b[C.S_CNT] += 1
    b[C.F_DSK] = new_dsk
    b[C.N1_FAIL] = 1.0 if new_failn1 else 0.0
    b[C.R_MEM] = new_rmem
    b[C.LOAD_DSK] = b[C.LOAD_DSK] + it.util[k, 2]
    b[C.INST_SPN] = new_isp
    b[C.F_SPN] = new_spn
    _forth_add_sec(b, it, k, dsk_f, spn_f, isp_f)
    return C.OK


@njit()
def _forth_sec_check(b, is_drbd, dsk_f, excl, spn_f, isp_f, sec_mem) -> int:
    if not is_drbd:
        return C.FAIL_DISK
    if dsk_f <= 0:
        return C.FAIL_DISK
    if dsk_f < b[C.LO_DSK]:
        return C.FAIL_DISK
    if excl and spn_f < 0:
        return C.FAIL_SPINDLES
    if isp_f > b[C.HI_SPN]:
        return C.FAIL_DISK
    if sec_mem >= b[C.FMEM_F]:
        return C.FAIL_MEM
    return C.OK


@njit()
def _forth_add_sec(b, it, k, dsk_f, spn_f, isp_f) -> None:
    b[C.FDSK_F] = dsk_f
    b[C.FSPN_F] = spn_f
    b[C.INSTSPN_F] = isp_f
    b[C.LOADF_DSK] = b[C.LOADF_DSK] + it.util[k, 2]


@njit()
def _forth_remove(b, it, k, primary) -> None:
    local = _uses_local(it.template[k])
    excl = b[C.EXCL] != 0.0
    if primary:
        b[C.FMEM_F] = b[C.FMEM_F] + it.mem[k]
    if local:
        b[C.FDSK_F] = b[C.FDSK_F] + it.dsk[k]
    b[C.FSPN_F] = _new_free_spn(excl, b[C.FSPN_F], it.total_spindles[k], False)
    b[C.INSTSPN_F] = _new_inst_spn(excl, b[C.INSTSPN_F], local, it.spindle_use[k], False)
    if primary:
        if it.not_offline[k]:
            b[C.UCPU_F] = b[C.UCPU_F] - it.vcpus[k]
        for j in range(4):
            b[C.LOADF_CPU + j] = b[C.LOADF_CPU + j] - it.util[k, j]
    else:
        b[C.LOADF_DSK] = b[C.LOADF_DSK] - it.util[k, 2]


@njit()
def remove_pri(b, it, k) -> None:
    """removePri (never fails)."""
    if not it.forthcoming[k]:
        local = _uses_local(it.template[k])
        excl = b[C.EXCL] != 0.0
        new_imem = b[C.I_MEM] - it.mem[k] if it.uses_mem[k] else b[C.I_MEM]
        new_free = unallocated(b, new_imem)
        b[C.P_CNT] -= 1
        b[C.I_MEM] = new_imem
        b[C.N1_FAIL] = 1.0 if new_free <= b[C.R_MEM] else 0.0
        if local:
            b[C.F_DSK] = b[C.F_DSK] + it.dsk[k]
        b[C.F_SPN] = _new_free_spn(excl, b[C.F_SPN], it.total_spindles[k], False)
        b[C.INST_SPN] = _new_inst_spn(excl, b[C.INST_SPN], local, it.spindle_use[k], False)
        if it.not_offline[k]:
            b[C.U_CPU] = b[C.U_CPU] - it.vcpus[k]
        for j in range(4):
            b[C.LOAD_CPU + j] = b[C.LOAD_CPU + j] - it.util[k, j]
    _forth_remove(b, it, k, True)


@njit()
def remove_sec(b, it, k, old_peer, max_other) -> float:
    """removeSec (never fails); returns the node's new peer entry (0 = deleted).

    ``max_other`` is the largest peer entry of this node for other primaries.
    """
    new_peer = float(old_peer)
    if not it.forthcoming[k]:
        local = _uses_local(it.template[k])
        excl = b[C.EXCL] != 0.0
        if it.not_offline[k] and it.auto_balance[k]:
            new_peer = old_peer - it.mem[k]
        kept = new_peer if new_peer > 0 else 0.0
        old_rmem = b[C.R_MEM]
        new_rmem = old_rmem if old_peer < old_rmem else max(kept, max_other)
        b[C.S_CNT] -= 1
        if local:
            b[C.F_DSK] = b[C.F_DSK] + it.dsk[k]
        b[C.F_SPN] = _new_free_spn(excl, b[C.F_SPN], it.total_spindles[k], False)
        b[C.INST_SPN] = _new_inst_spn(excl, b[C.INST_SPN], local, it.spindle_use[k], False)
        b[C.R_MEM] = new_rmem
        b[C.N1_FAIL] = 1.0 if unallocated(b, b[C.I_MEM]) <= new_rmem else 0.0
        b[C.LOAD_DSK] = b[C.LOAD_DSK] - it.util[k, 2]
        new_peer = kept
    _forth_remove(b, it, k, False)
    return new_peer


def load_place(state: C.ClusterState, k: int) -> None:
    """Ganeti's setPri/setSec: the load-time placement of instance k (no checks)."""
    ia, nd = state.inst, state.node
    p, s = int(ia.pnode[k]), int(ia.snode[k])
    if p < 0:
        return  # an instance still to be placed (hail, hspace)
    local = bool(C.TEMPLATE_LOCAL[ia.template[k]])
    forth = bool(ia.forthcoming[k])
    util = ia.util[k]
    vcpus = ia.vcpus[k] if ia.not_offline[k] else 0
    excl = ia.excl_ids[ia.excl_ptr[k]:ia.excl_ptr[k + 1]]
    su = float(ia.spindle_use[k]) if local else 0.0
    # primary
    if not forth:
        nd[C.P_CNT, p] += 1
        nd[C.U_CPU, p] += vcpus
        nd[C.LOAD_CPU:C.LOAD_NET + 1, p] = [nd[C.LOAD_CPU + j, p] + util[j] for j in range(4)]
        if not nd[C.EXCL, p]:
            nd[C.INST_SPN, p] += su
        nd[C.LOC_SCORE, p] += ia.loc_score[k] + unmet_desired(state, k, p)
        for t in excl:
            state.imap[p, t] += 1
    else:
        _load_forth_only(state, k, p, local)
    for t in excl:
        state.ptags[p, t] += 1
    nd[C.UCPU_F, p] += vcpus
    nd[C.LOADF_CPU:C.LOADF_NET + 1, p] = [nd[C.LOADF_CPU + j, p] + util[j] for j in range(4)]
    if not ia.uses_mem[k]:
        nd[C.FMEM_F, p] -= ia.mem[k]
    nd[C.INSTSPN_F, p] = 0.0 if nd[C.EXCL, p] else nd[C.INSTSPN_F, p] + su
    if s < 0:
        return
    if not forth:
        nd[C.S_CNT, s] += 1
        nd[C.LOAD_DSK, s] = nd[C.LOAD_DSK, s] + util[2]
        if not nd[C.EXCL, s]:
            nd[C.INST_SPN, s] += su
    else:
        _load_forth_only(state, k, s, local)
    nd[C.LOADF_DSK, s] = nd[C.LOADF_DSK, s] + util[2]
    nd[C.INSTSPN_F, s] = 0.0 if nd[C.EXCL, s] else nd[C.INSTSPN_F, s] + su


def _load_forth_only(state: C.ClusterState, k: int, n: int, local: bool) -> None:
    nd, ia = state.node, state.inst
    if local:
        nd[C.FDSK_F, n] -= ia.dsk[k]
    if not nd[C.EXCL, n]:
        nd[C.FSPN_F, n] = 0.0
    elif ia.total_spindles[k] < 0:
        nd[C.FSPN_F, n] = -1.0
    else:
        nd[C.FSPN_F, n] -= ia.total_spindles[k]


def unmet_desired(state: C.ClusterState, k: int, n: int) -> int:
    """Desired-location tags of instance k that node n lacks."""
    ia = state.inst
    ids = ia.dsrd_ids[ia.dsrd_ptr[k]:ia.dsrd_ptr[k + 1]]
    return int(sum(1 for t in ids if t < 0 or not state.node_loc[n, t]))
