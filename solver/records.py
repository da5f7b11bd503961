"""Plain records that backends produce and the load pipeline consumes.

Backends speak these small dataclasses so that parsing stays independent of
the array layout the solver uses; ``solver.loader`` turns them into a
``ClusterState``.  Indices are positions in the lists (the order of the input),
which is also Ganeti's tie-breaking order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Disk templates in Ganeti's "all templates" order (default ipolicy order).
DISK_TEMPLATES = ("diskless", "file", "sharedfile", "plain", "blockdev", "drbd",
                  "rbd", "ext", "gluster")
# Instance run states accepted in the text format and RAPI.
INSTANCE_STATUSES = ("running", "ERROR_up", "ADMIN_down", "ADMIN_offline",
                     "ERROR_down", "USER_down", "ERROR_nodedown",
                     "ERROR_nodeoffline", "ERROR_wrongnode")
ALLOC_POLICIES = ("preferred", "last_resort", "unallocable")
DEFAULT_GROUP_UUID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class ISpec:
    """One instance spec of an ipolicy (min, max or std)."""

    mem: int
    cpu: int
    disk_size: int
    disk_count: int
    nic_count: int
    spindle_use: int


@dataclass
class IPolicy:
    """A group's or the cluster's instance policy."""

    minmax: list[tuple[ISpec, ISpec]]
    std: ISpec
    disk_templates: list[str]
    vcpu_ratio: float
    spindle_ratio: float


def default_ipolicy() -> IPolicy:
    """Ganeti's built-in policy, used wherever a file or request gives none."""
    return IPolicy(
        minmax=[(ISpec(128, 1, 1024, 1, 1, 1), ISpec(32768, 8, 1048576, 16, 8, 12))],
        std=ISpec(128, 1, 1024, 1, 1, 1),
        disk_templates=list(DISK_TEMPLATES),
        vcpu_ratio=4.0,
        spindle_ratio=32.0,
    )


@dataclass
class Group:
    name: str
    uuid: str
    alloc_policy: str = "preferred"
    tags: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    ipolicy: IPolicy = field(default_factory=default_ipolicy)


@dataclass
class Node:
    """A node as a backend reports it (inputs only; derived fields come later)."""

    name: str
    t_mem: float
    n_mem: int
    f_mem: int
    t_dsk: float
    f_dsk: int
    t_cpu: float
    offline: bool
    group: int  # index into ClusterData.groups
    n_cpu: int = 1
    t_spindles: int = 1
    f_spindles: int = 0
    excl_storage: bool = False
    master: bool = False
    tags: list[str] = field(default_factory=list)
    cpu_speed: float = 1.0
    hypervisor: str | None = None
    drained: bool = False
    vm_capable: bool = True
    # Ganeti's node flags as hrapid sets them through a node's role: its own
    # "offline" (distinct from htools' ``offline``, which also covers drained
    # and non-VM-capable nodes) and master candidacy.  No backend reads them.
    role_offline: bool = False
    master_candidate: bool = False


@dataclass
class Instance:
    """An instance as a backend reports it."""

    name: str
    mem: int
    dsk: int
    vcpus: int
    status: str
    auto_balance: bool
    pnode: int
    snode: int  # -1 when there is none
    template: str
    tags: list[str] = field(default_factory=list)
    spindle_use: int = 1
    # (size, spindles or None) per disk; text format: one disk (dsk, spindles)
    disks: list[tuple[int, int | None]] = field(default_factory=list)
    forthcoming: bool = False
    nics: list[dict] = field(default_factory=list)
    util: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)
    # The cluster tags that say which of its tags are exclusion and
    # desired-location tags; None means the loaded cluster's.  hail -t keeps a
    # new instance's reading of the request's own cluster tags, as Ganeti does.
    cluster_tags: list[str] | None = None


@dataclass
class ClusterData:
    """Everything a backend loads: the input of the load pipeline."""

    groups: list[Group]
    nodes: list[Node]
    instances: list[Instance]
    cluster_tags: list[str] = field(default_factory=list)
    ipolicy: IPolicy = field(default_factory=default_ipolicy)
