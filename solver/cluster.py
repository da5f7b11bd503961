"""Struct-of-arrays cluster state shared by every solver.

Node fields live in one float64 matrix ``node[FIELD, node_index]``: every row is
one field over all nodes, so each field is a contiguous array (struct of
arrays) and a numba kernel can copy the few fields of one node into a small
buffer while it simulates a move.  Integer quantities (MiB, counts) are stored
as float64; they stay far below 2**53, so their arithmetic stays exact.

Quantities that Ganeti keeps as maps are kept as small dense matrices:
``peers[n, p]`` is the memory node ``n`` reserves for instances whose primary is
``p``; ``ptags[n, t]`` counts primaries with exclusion tag ``t``;
``imap[n, t]`` the same for real (not forthcoming) primaries, which together
with ``node_loc`` gives the location-exclusion map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from solver.records import DISK_TEMPLATES, ClusterData, IPolicy

# ---- node fields (rows of ClusterState.node) --------------------------------
(
    T_MEM, N_MEM, F_MEM, X_MEM, I_MEM, T_DSK, F_DSK, T_CPU, N_CPU, U_CPU,
    OFFLINE, T_SPN, F_SPN, EXCL, CPU_SPEED, INST_SPN, R_MEM, N1_FAIL,
    P_CNT, S_CNT, LO_DSK, M_DSK, HI_CPU, HI_SPN, VCPU_RATIO,
    LOAD_CPU, LOAD_MEM, LOAD_DSK, LOAD_NET,
    FMEM_F, FDSK_F, UCPU_F, FSPN_F, INSTSPN_F,
    LOADF_CPU, LOADF_MEM, LOADF_DSK, LOADF_NET,
    LOC_SCORE, CONFLICTS, GROUP, MASTER,
) = range(42)
NODE_FIELDS = 42

# ---- disk templates and instance states --------------------------------------
TEMPLATE_CODE = {name: code for code, name in enumerate(DISK_TEMPLATES)}
DT_DISKLESS, DT_FILE, DT_SHAREDFILE, DT_PLAIN, DT_BLOCKDEV, DT_DRBD = range(6)
# mirror types
MIRROR_NONE, MIRROR_EXTERNAL, MIRROR_INTERNAL = 0, 1, 2
TEMPLATE_MIRROR = np.array([MIRROR_EXTERNAL, MIRROR_NONE, MIRROR_EXTERNAL, MIRROR_NONE,
                            MIRROR_EXTERNAL, MIRROR_INTERNAL, MIRROR_EXTERNAL,
                            MIRROR_EXTERNAL, MIRROR_EXTERNAL], dtype=np.int8)
TEMPLATE_LOCAL = np.array([t in ("plain", "drbd") for t in DISK_TEMPLATES])
TEMPLATE_MOVABLE = np.array([t not in ("diskless", "file", "plain") for t in DISK_TEMPLATES])

RUNNING_STATES = frozenset({"running", "ERROR_up"})
MEM_USING_STATES = frozenset({"running", "ERROR_up", "ERROR_nodedown",
                              "ERROR_nodeoffline", "ERROR_wrongnode"})

# Failure modes in Ganeti's enum order (counts and messages use this order).
FAIL_MODES = ("FailMem", "FailDisk", "FailCPU", "FailN1", "FailTags", "FailMig",
              "FailDiskCount", "FailSpindles", "FailInternal")
OK = -1
FAIL_MEM, FAIL_DISK, FAIL_CPU, FAIL_N1, FAIL_TAGS, FAIL_MIG, FAIL_DISKCOUNT, \
    FAIL_SPINDLES, FAIL_INTERNAL = range(9)


@dataclass
class InstanceArrays:
    """Per-instance fields, one array each (index = instance index)."""

    mem: np.ndarray          # int64
    dsk: np.ndarray          # int64
    vcpus: np.ndarray        # int64
    pnode: np.ndarray        # int64
    snode: np.ndarray        # int64, -1 when none
    template: np.ndarray     # int8, TEMPLATE_CODE
    spindle_use: np.ndarray  # int64
    total_spindles: np.ndarray  # int64, -1 when any disk lacks spindles
    running: np.ndarray      # bool: runs (migrate rather than failover)
    uses_mem: np.ndarray     # bool: status uses memory and not forthcoming
    not_offline: np.ndarray  # bool
    auto_balance: np.ndarray  # bool
    forthcoming: np.ndarray  # bool
    movable: np.ndarray      # bool
    util: np.ndarray         # float64 (I, 4): cpu, mem, dsk, net
    loc_score: np.ndarray    # int64: shared location tags of primary/secondary
    excl_ptr: np.ndarray     # int64 (I+1): CSR into excl_ids
    excl_ids: np.ndarray     # int64: exclusion tag ids
    dsrd_ptr: np.ndarray     # int64 (I+1): CSR into dsrd_ids
    dsrd_ids: np.ndarray     # int64: desired-location tag ids (-1 = no node has it)
    # When the instance was last added as primary / secondary.  Ganeti prepends
    # to a node's pList/sList on every add, so sorting by these stamps
    # (largest first) gives the same newest-first lists.
    pstamp: np.ndarray       # int64
    sstamp: np.ndarray       # int64


@dataclass
class ClusterState:
    """The whole simulated cluster: arrays plus the records they came from."""

    data: ClusterData
    node: np.ndarray        # float64 (NODE_FIELDS, N)
    peers: np.ndarray       # int64 (N, N)
    ptags: np.ndarray       # int32 (N, T)
    imap: np.ndarray        # int32 (N, T)
    node_loc: np.ndarray    # bool (N, L)
    mig_ok: np.ndarray      # bool (N, N): checkMigration(src, dst) succeeds
    inst: InstanceArrays
    node_alias: list[str]
    inst_alias: list[str]
    suffix: str
    excl_tag_names: list[str]
    loc_tag_names: list[str]
    node_policy: list[IPolicy]
    warnings: list[str]
    stamp: int = 0

    @property
    def n_nodes(self) -> int:
        return self.node.shape[1]

    @property
    def n_instances(self) -> int:
        return len(self.inst.mem)

    def copy(self) -> ClusterState:
        """A deep copy of the mutable arrays (records and names are shared)."""
        ia = self.inst
        inst = InstanceArrays(**{k: getattr(ia, k).copy() for k in ia.__dataclass_fields__})
        return ClusterState(
            data=self.data, node=self.node.copy(), peers=self.peers.copy(),
            ptags=self.ptags.copy(), imap=self.imap.copy(), node_loc=self.node_loc,
            mig_ok=self.mig_ok, inst=inst, node_alias=self.node_alias,
            inst_alias=self.inst_alias, suffix=self.suffix,
            excl_tag_names=self.excl_tag_names, loc_tag_names=self.loc_tag_names,
            node_policy=list(self.node_policy), warnings=self.warnings, stamp=self.stamp)

    # ---- derived per-node values (Ganeti's Node accessors) ------------------
    def unallocated_mem(self) -> np.ndarray:
        nd = self.node
        return np.trunc(nd[T_MEM]) - nd[N_MEM] - nd[I_MEM] - np.maximum(0.0, nd[X_MEM])

    def avail_mem(self) -> np.ndarray:
        """Memory a new instance may still take: unallocated minus the N+1 reserve."""
        return np.maximum(0.0, self.unallocated_mem() - self.node[R_MEM])

    def p_dsk(self) -> np.ndarray:
        nd = self.node
        with np.errstate(divide="ignore", invalid="ignore"):
            spn = np.where(nd[T_SPN] == 0, 1.0, nd[F_SPN] / nd[T_SPN])
            dsk = np.where(nd[T_DSK] == 0, 1.0, nd[F_DSK] / nd[T_DSK])
        return np.where(nd[EXCL] != 0, spn, dsk)

    def primaries(self, n: int, forth: bool = False) -> list[int]:
        """Primary instances of node n, newest first (Ganeti's pList).

        With ``forth`` the forthcoming ones are included (pListForth).
        """
        return self._newest_first(self.inst.pnode, self.inst.pstamp, n, forth)

    def secondaries(self, n: int, forth: bool = False) -> list[int]:
        """Secondary instances of node n, newest first (Ganeti's sList)."""
        return self._newest_first(self.inst.snode, self.inst.sstamp, n, forth)

    def _newest_first(self, where: np.ndarray, stamp: np.ndarray, n: int,
                      forth: bool) -> list[int]:
        mask = where == n
        if not forth:
            mask &= ~self.inst.forthcoming
        idx = np.nonzero(mask)[0]
        return idx[np.argsort(-stamp[idx], kind="stable")].tolist()

    def next_stamp(self) -> int:
        """A stamp newer than every add so far."""
        self.stamp += 1
        return self.stamp

