"""The simulated node driver: opcodes change the stored cluster, nothing else.

After a real migrate, failover or secondary replacement Ganeti reports the
nodes' free memory and disk as the hypervisor and LVM then see them.  The
simulation changes the same figures by the same amounts htools' own move model
uses (``solver.nodeops``: memory follows the primary of an instance that uses
memory, local disks follow the nodes that hold them), so the score ``hbal``
predicts for a plan is the score ``hbal -m`` reads once the plan has run.

Instances are created, removed, started and stopped with the same
accounting: an instance takes its memory on its primary while its state is
one of ``MEM_USING_STATES``, and its disks (Ganeti's ``ComputeDiskSize``) on
every node that holds them.  Placement by an iallocator runs our ``hail``
in-process on the cluster as it is when the opcode runs.

Checks and their errors follow Ganeti's: an opcode that cannot run raises
:class:`OpError` with Ganeti's exception class and error code, and leaves the
cluster unchanged.  An opcode's result is Ganeti's; node evacuation and
migration, like Ganeti's, answer :class:`WithJobs` and the queue submits them.
What a simulation has nothing to check against is not checked: operating
systems, hypervisor and NIC parameters, and the instance policy of a creation
on given nodes (our hail applies it when it places).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from solver.cluster import MEM_USING_STATES
from solver.records import DISK_TEMPLATES, ClusterData, Instance, Node
from solver.requests import (
    Allocate,
    AllocateSecondary,
    MultiAllocate,
    NodeEvacuate,
    Relocate,
    Request,
)

# Templates whose disks live on the nodes (moved with them), and those whose
# storage every node reaches (so the primary can go anywhere).
LOCAL_TEMPLATES = ("plain", "drbd")
SHARED_TEMPLATES = ("sharedfile", "blockdev", "rbd", "ext", "gluster")

# Ganeti's DRBD metadata volume per disk, in MiB (constants.DRBD_META_SIZE).
DRBD_META_SIZE = 128
# Ganeti's evacuation modes (constants.NODE_EVAC_*), also the iallocator's.
EVAC_MODES = ("primary-only", "secondary-only", "all")
# A node's roles as RAPI names them (rlib2's _NR_MAP), by Ganeti's role letter.
ROLES = {"M": "master", "C": "master-candidate", "R": "regular", "D": "drained",
         "O": "offline"}
# Ganeti's tag rules (objects.TaggableObject.ValidateTag, constants.MAX_TAG_LEN).
MAX_TAG_LEN = 128
MAX_TAGS_PER_OBJ = 4096
_TAG_CHARS = re.compile(r"^[\w.+*/:@-]+$")
# Ganeti's valid host names (netutils.Hostname), which instance names must be; it
# also keeps the stored text format (fields split on "|", lists on ",") intact.
_HOSTNAME = re.compile(r"^[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*\.?$", re.IGNORECASE)

Log = Callable[[str], None]


@dataclass
class WithJobs:
    """Ganeti's ``ResultWithJobs``: jobs the queue submits, then the rest of the result.

    The opcode's result becomes ``other`` plus ``"jobs"``: ``[True, id]`` per
    submitted job, as Ganeti's job processor builds it.
    """

    jobs: list[list[dict]]
    other: dict[str, Any] = field(default_factory=dict)


class OpError(Exception):
    """An opcode failed; ``kind`` and ``ecode`` are Ganeti's exception class and code."""

    def __init__(self, kind: str, message: str, ecode: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.ecode = ecode

    def encoded(self) -> list:
        """The opcode result Ganeti stores for a failure: ``[class, args]``."""
        args = [str(self), self.ecode] if self.ecode else [str(self)]
        return [self.kind, args]


def _prereq(message: str, ecode: str = "wrong_input") -> OpError:
    return OpError("OpPrereqError", message, ecode)


def _instance(data: ClusterData, name: Any) -> Instance:
    for inst in data.instances:
        if inst.name == name:
            return inst
    raise _prereq(f"Instance '{name}' not known", "noent")


def _node_index(data: ClusterData, name: Any) -> int:
    for idx, node in enumerate(data.nodes):
        if node.name == name:
            return idx
    raise _prereq(f"Node '{name}' not known", "noent")


def master_index(data: ClusterData) -> int | None:
    """The master node: the one the file marks, else the first (a cluster always has one).

    Ganeti's text files need not mark a master, but RAPI's ``/2/info`` must
    name one for readers to accept the cluster.
    """
    marked = [i for i, node in enumerate(data.nodes) if node.master]
    return marked[0] if marked else 0 if data.nodes else None


def node_role(data: ClusterData, idx: int) -> str:
    """Ganeti's role letter of a node.

    A text file's offline node ("Y") is drained here: RAPI readers ignore an
    offline node's figures while ``hbal -t`` reads them, and a drained node
    is unusable to both.
    """
    node = data.nodes[idx]
    if node.role_offline:
        return "O"
    if node.drained or node.offline:
        return "D"
    if idx == master_index(data):
        return "M"
    return "C" if node.master_candidate else "R"


def _check_online(node: Node, message: str = "Can't use offline node") -> None:
    """Ganeti's CheckNodeOnline, CheckNodeNotDrained and CheckNodeVmCapable in one."""
    if node.role_offline:
        raise _prereq(f"{message}: {node.name}", "wrong_state")
    if node.drained or node.offline:
        raise _prereq(f"Can't use drained node {node.name}", "wrong_state")
    if not node.vm_capable:
        raise _prereq(f"Can't use non-vm_capable node {node.name}", "wrong_state")


def _uses_memory(inst: Instance) -> bool:
    return inst.status in MEM_USING_STATES and not inst.forthcoming


def _total_spindles(inst: Instance) -> int:
    return sum(spindles or 0 for _size, spindles in inst.disks)


def _move_disks(inst: Instance, source: Node, target: Node) -> None:
    """Local disks leave ``source`` and take room on ``target``."""
    if inst.template not in LOCAL_TEMPLATES or inst.forthcoming:
        return
    _take_disk(inst, target, inst.dsk)
    _free_disk(inst, source, inst.dsk)


def _move_primary(data: ClusterData, inst: Instance, target: int, log: Log) -> None:
    """The instance runs on ``target`` from now on; with DRBD the old primary is secondary."""
    source = data.nodes[inst.pnode]
    dest = data.nodes[target]
    _check_online(dest)
    if _uses_memory(inst):
        if dest.f_mem < inst.mem:
            raise _prereq(f"Not enough memory on node {dest.name} for starting instance "
                          f"{inst.name}: needed {inst.mem} MiB, available {dest.f_mem} MiB",
                          "nores")
        source.f_mem += inst.mem
        dest.f_mem -= inst.mem
    if inst.template == "drbd":
        inst.pnode, inst.snode = inst.snode, inst.pnode
    else:
        _move_disks(inst, source, dest)
        inst.pnode = target
    log(f"* instance {inst.name} is now on {dest.name} (was {source.name})")


def _target(data: ClusterData, inst: Instance, op: dict) -> int:
    """Where a migrate or failover goes: DRBD to its secondary, shared storage to a node.

    A shared-storage instance goes to the node given, or to the one our hail
    relocates it to.
    """
    given = op.get("target_node")
    if given is not None and not isinstance(given, str):
        raise _prereq("Parameter 'target_node' must be a string")
    if inst.template == "drbd":
        if inst.snode < 0:
            raise _prereq(f"Instance {inst.name} has no secondary node", "wrong_state")
        if given is not None and _node_index(data, given) != inst.snode:
            raise _prereq(f"Instances with disk template drbd cannot be migrated to "
                          f"arbitrary nodes (target {given})")
        return inst.snode
    if inst.template not in SHARED_TEMPLATES:
        raise _prereq(f"Instance's disk layout '{inst.template}' does not allow "
                      "migrations", "state")
    ialloc = _iallocator_or_node(op, "target_node")
    if ialloc is not None:
        relocate = Relocate(data.instances.index(inst), 1, [inst.pnode])
        given = _ask(ialloc, "nodes", data, relocate)[0]
    target = _node_index(data, given)
    if target == inst.pnode:
        raise _prereq(f"Instance {inst.name} is already on node {given}", "wrong_input")
    return target


def _migrate(data: ClusterData, op: dict, log: Log) -> None:
    inst = _instance(data, op.get("instance_name"))
    target = _target(data, inst, op)
    log(f"Migrating instance {inst.name}")
    _move_primary(data, inst, target, log)


def _failover(data: ClusterData, op: dict, log: Log) -> None:
    inst = _instance(data, op.get("instance_name"))
    target = _target(data, inst, op)
    log(f"Failing over instance {inst.name}")
    _move_primary(data, inst, target, log)


def _replace_disks(data: ClusterData, op: dict, log: Log) -> None:
    """Only a new secondary changes placement; other modes rebuild disks in place."""
    inst = _instance(data, op.get("instance_name"))
    if inst.template != "drbd":
        raise _prereq(f"Can only run replace disks for DRBD8-based instances, not "
                      f"{inst.template}", "wrong_input")
    mode = op.get("mode")
    if mode not in ("replace_on_primary", "replace_on_secondary", "replace_new_secondary",
                    "replace_auto"):
        raise _prereq(f"Invalid replace-disks mode {mode!r}")
    if mode != "replace_new_secondary":
        log(f"Replacing disks of {inst.name} ({mode}): nothing moves")
        return
    remote = op.get("remote_node")
    if not isinstance(remote, str):
        raise _prereq("The new secondary node must be given ('remote_node')")
    new = _node_index(data, remote)
    if new == inst.pnode:
        raise _prereq("The specified node is the primary node of the instance")
    if new == inst.snode:
        raise _prereq("The specified node is already the secondary node of the instance")
    _check_online(data.nodes[new])
    old = data.nodes[inst.snode]
    log(f"Replacing the secondary of {inst.name}: {old.name} -> {remote}")
    _move_disks(inst, old, data.nodes[new])
    inst.snode = new


def admin_state(inst: Instance) -> str:
    """Ganeti's ``admin_state`` of an instance from its run state."""
    if inst.status == "ADMIN_offline":
        return "offline"
    return "down" if inst.status in ("ADMIN_down", "ERROR_up") else "up"


def _check_state(inst: Instance, wanted: tuple[str, ...], why: str) -> None:
    """Ganeti's CheckInstanceState: the admin state, then (when it must be down) the run state."""
    state = admin_state(inst)
    if state not in wanted:
        raise _prereq(f"Instance '{inst.name}' is marked to be {state}, {why}", "wrong_state")
    if "up" not in wanted and _uses_memory(inst):
        raise _prereq(f"Instance {inst.name} is running, {why}", "wrong_state")


def disk_usage(template: str, sizes: list[int]) -> int:
    """Ganeti's ComputeDiskSize: what the disks take on each node that holds them."""
    if template in ("diskless", "blockdev"):
        return 0
    if template == "drbd":
        return sum(size + DRBD_META_SIZE for size in sizes)
    return sum(sizes)


def _take_disk(inst: Instance, node: Node, amount: int) -> None:
    """Room for ``amount`` MiB of ``inst``'s local disks on ``node`` (Ganeti's VG check)."""
    if node.f_dsk < amount:
        raise _prereq(f"Not enough disk space on target node {node.name} vg xenvg: required "
                      f"{amount} MiB, available {node.f_dsk} MiB", "nores")
    node.f_dsk -= amount
    if node.excl_storage:
        node.f_spindles -= _total_spindles(inst)


def _free_disk(inst: Instance, node: Node, amount: int) -> None:
    node.f_dsk += amount
    if node.excl_storage:
        node.f_spindles += _total_spindles(inst)


def _take_memory(node: Node, inst: Instance, reason: str) -> None:
    """Ganeti's CheckNodeFreeMemory, then the memory is the instance's."""
    if node.f_mem < inst.mem:
        raise _prereq(f"Not enough memory on node {node.name} for {reason}: needed "
                      f"{inst.mem} MiB, available {node.f_mem} MiB", "nores")
    node.f_mem -= inst.mem


def _iallocator_or_node(op: dict, node_key: str) -> str | None:
    """Ganeti's CheckIAllocatorOrNode; this cluster has no default iallocator."""
    node, ialloc = op.get(node_key), op.get("iallocator")
    if node is not None and ialloc is not None:
        raise _prereq("Do not specify both, iallocator and node")
    if node is None and ialloc is None:
        raise _prereq("No iallocator or node given and no cluster-wide default iallocator "
                      "found; please specify either an iallocator or a node, or set a "
                      "cluster-wide default iallocator")
    return ialloc


def _ask(ialloc: str, what: str, data: ClusterData, req: Request) -> Any:
    """Our hail's answer to ``req``, or Ganeti's error when it has none.

    The solver's kernels are imported on first use, so that the daemon's
    ``use_jit`` choice (made once it knows its cluster) applies to them.
    """
    from solver.iallocator import RequestFailed, run_request
    try:
        return run_request(data, req).result
    except RequestFailed as err:
        raise _prereq(f"Can't compute {what} using iallocator '{ialloc}': Request failed: "
                      f"{err}", "nores") from None


# --- creating and removing instances ---------------------------------------------------


def new_instance(data: ClusterData, op: dict) -> Instance:
    """The unplaced instance an OP_INSTANCE_CREATE describes, checked as Ganeti does.

    Sizes and beparams not given take Ganeti's defaults (128 MiB, one VCPU).
    Names are not lower-cased as Ganeti's are: the caller's name is kept.
    """
    name = op.get("instance_name")
    if not isinstance(name, str) or not _HOSTNAME.match(name):
        raise _prereq(f"Invalid hostname '{name}'")
    if any(i.name == name for i in data.instances):
        raise _prereq(f"Instance '{name}' is already in the cluster", "exists")
    if op.get("mode") != "create":
        raise _prereq(f"Instance creation mode {op.get('mode')!r} is not supported by the "
                      "simulated nodes")
    template = op.get("disk_template", "drbd")
    if template not in DISK_TEMPLATES:
        raise _prereq(f"'{template}' is not a valid disk template. Valid disk templates "
                      f"are: {','.join(DISK_TEMPLATES)}")
    disks = op.get("disks") or []
    if template != "diskless" and not disks:
        raise _prereq("Disk template requires at least one disk")
    sizes = [(int(d["size"]), d.get("spindles")) for d in disks]
    be = op.get("beparams") or {}
    mem = int(be.get("maxmem", be.get("memory", 128)))
    start = op.get("start", True)
    return Instance(
        name=name, mem=mem, dsk=disk_usage(template, [size for size, _ in sizes]),
        vcpus=int(be.get("vcpus", 1)), status="running" if start else "ADMIN_down",
        auto_balance=bool(be.get("auto_balance", True)), pnode=-1, snode=-1,
        template=template, tags=_valid_tags(op),
        spindle_use=int(be.get("spindle_use", 1)), disks=sizes,
        nics=[dict(nic) for nic in op.get("nics") or []])


def _required_nodes(inst: Instance) -> int:
    return 2 if inst.template == "drbd" else 1


def _create(data: ClusterData, op: dict, log: Log) -> list[str]:
    """OP_INSTANCE_CREATE: place (given nodes or our hail), check, take the resources.

    The result is Ganeti's: the names of the instance's nodes, primary first.
    """
    inst = new_instance(data, op)
    ialloc = _iallocator_or_node(op, "pnode")
    if ialloc is not None:
        request = Allocate(inst, _required_nodes(inst), group_name=op.get("group_name"))
        names = _ask(ialloc, "nodes", data, request)
        log(f"Selected nodes for instance {inst.name} via iallocator {ialloc}: "
            f"{', '.join(names)}")
        pnode, snode = names[0], names[1] if len(names) > 1 else None
    else:
        pnode, snode = op.get("pnode"), op.get("snode")
        if inst.template == "drbd" and snode is None:
            raise _prereq("The networked disk templates need a mirror node")
        if inst.template != "drbd" and snode is not None:
            log("Secondary node will be ignored on non-mirrored disk template")
            snode = None
    p = _node_index(data, pnode)
    s = _node_index(data, snode) if snode is not None else -1
    primary = data.nodes[p]
    if primary.role_offline or primary.drained or primary.offline:
        state = "offline" if primary.role_offline else "drained"
        raise _prereq(f"Cannot use {state} primary node '{primary.name}'", "wrong_state")
    if not primary.vm_capable:
        raise _prereq(f"Cannot use non-vm_capable primary node '{primary.name}'",
                      "wrong_state")
    if s == p:
        raise _prereq("The secondary node cannot be the primary node")
    if s >= 0:
        _check_online(data.nodes[s])
    if inst.template in LOCAL_TEMPLATES:
        for idx in (p, s) if s >= 0 else (p,):
            _take_disk(inst, data.nodes[idx], inst.dsk)
    if _uses_memory(inst):
        _take_memory(primary, inst, f"creating instance {inst.name}")
    inst.pnode, inst.snode = p, s
    data.instances.append(inst)
    nodes = [data.nodes[i].name for i in (p, s) if i >= 0]
    log(f"* instance {inst.name} created on {', '.join(nodes)}")
    return nodes


def _remove(data: ClusterData, op: dict, log: Log) -> None:
    """OP_INSTANCE_REMOVE: its memory and its disks go back to its nodes."""
    inst = _instance(data, op.get("instance_name"))
    if _uses_memory(inst):
        data.nodes[inst.pnode].f_mem += inst.mem
    if inst.template in LOCAL_TEMPLATES and not inst.forthcoming:
        for idx in (inst.pnode, inst.snode):
            if idx >= 0:
                _free_disk(inst, data.nodes[idx], inst.dsk)
    data.instances.remove(inst)
    log(f"* instance {inst.name} removed")


def _multi_alloc(data: ClusterData, op: dict, log: Log) -> WithJobs:
    """OP_INSTANCE_MULTI_ALLOC: our hail places them all; one creation job per placed one.

    Without an iallocator every creation must name its nodes and is
    submitted as it is (all of them count as allocatable).  The result is
    Ganeti's: the jobs, the names placed (``allocatable``) and those that
    could not be (``failed``).
    """
    creations = [dict(c) for c in op.get("instances") or []]
    ialloc = op.get("iallocator")
    if ialloc is None:
        if any(c.get("pnode") is None for c in creations):
            _iallocator_or_node({}, "pnode")
        return WithJobs([[c] for c in creations], {
            "allocatable": [c.get("instance_name") for c in creations], "failed": []})
    if any(c.get("pnode") is not None for c in creations):
        raise _prereq("There are instance objects providing pnode/snode while others do "
                      "not")
    entries = []
    for creation in creations:
        inst = new_instance(data, creation)
        entries.append(Allocate(inst, _required_nodes(inst)))
    done, failed = _ask(ialloc, "nodes", data, MultiAllocate(entries))
    by_name = {c["instance_name"]: c for c in creations}
    jobs = []
    for name, nodes in done:
        creation = {k: v for k, v in by_name[name].items() if k != "iallocator"}
        creation["pnode"] = nodes[0]
        if len(nodes) > 1:
            creation["snode"] = nodes[1]
        jobs.append([creation])
    if failed:
        log(f"Unable to allocate instances {', '.join(entry[0] for entry in failed)}")
    return WithJobs(jobs, {"allocatable": [name for name, _ in done],
                           "failed": [entry[0] for entry in failed]})


# --- running state -------------------------------------------------------------------


# Ganeti's INSTANCE_ONLINE: the admin states start, shutdown and reboot accept.
_ONLINE = ("up", "down")
_ONLINE_WHY = "can't use instance from outside up, down states"


def _online_primary(data: ClusterData, inst: Instance) -> Node:
    """The instance's primary, which must not be offline (Ganeti's CheckNodeOnline)."""
    _check_state(inst, _ONLINE, _ONLINE_WHY)
    primary = data.nodes[inst.pnode]
    if primary.role_offline:
        raise _prereq(f"Can't use offline node: {primary.name}", "wrong_state")
    return primary


def _startup(data: ClusterData, op: dict, log: Log) -> None:
    """OP_INSTANCE_STARTUP: the instance runs and takes its memory on its primary."""
    inst = _instance(data, op.get("instance_name"))
    primary = _online_primary(data, inst)
    if not _uses_memory(inst) and not inst.forthcoming:
        _take_memory(primary, inst, f"starting instance {inst.name}")
    inst.status = "running"
    log(f"* instance {inst.name} is running on {primary.name}")


def _shutdown(data: ClusterData, op: dict, log: Log) -> None:
    """OP_INSTANCE_SHUTDOWN: the instance stops (ADMIN_down) and frees its memory."""
    inst = _instance(data, op.get("instance_name"))
    _check_state(inst, _ONLINE, _ONLINE_WHY)
    if _uses_memory(inst):
        data.nodes[inst.pnode].f_mem += inst.mem
    inst.status = "ADMIN_down"
    log(f"* instance {inst.name} is stopped")


def _reboot(data: ClusterData, op: dict, log: Log) -> None:
    """OP_INSTANCE_REBOOT: a running instance stays running; a stopped one is started.

    Ganeti checks no memory here; the start fails on the node instead, which
    the simulation reports as Ganeti reports that failure.
    """
    inst = _instance(data, op.get("instance_name"))
    primary = _online_primary(data, inst)
    if _uses_memory(inst):
        log(f"* instance {inst.name} rebooted ({op.get('reboot_type', 'hard')})")
        return
    log(f"Instance {inst.name} was already stopped, starting now")
    try:
        _take_memory(primary, inst, f"starting instance {inst.name}")
    except OpError as err:
        raise OpError("OpExecError", f"Could not start instance for full reboot: {err}"
                      ) from None
    inst.status = "running"


# --- changing instances ----------------------------------------------------------------


def _to_drbd(data: ClusterData, inst: Instance, op: dict) -> None:
    """plain -> drbd: the secondary (given or our hail's) takes the whole mirrored disks."""
    ialloc = _iallocator_or_node(op, "remote_node")
    if ialloc is not None:
        k = data.instances.index(inst)
        remote = _ask(ialloc, "secondary node", data, AllocateSecondary(k))
    else:
        remote = op["remote_node"]
    s = _node_index(data, remote)
    if s == inst.pnode:
        raise _prereq(f"Given new secondary node {remote} is the same as the primary node "
                      "of the instance", "wrong_state")
    _check_online(data.nodes[s])
    usage = disk_usage("drbd", [size for size, _ in inst.disks])
    _take_disk(inst, data.nodes[s], usage)
    data.nodes[inst.pnode].f_dsk -= usage - inst.dsk
    inst.template, inst.snode, inst.dsk = "drbd", s, usage


def _to_plain(data: ClusterData, inst: Instance) -> None:
    """drbd -> plain: the secondary's copy and the metadata volumes are freed."""
    usage = disk_usage("plain", [size for size, _ in inst.disks])
    if inst.snode >= 0:
        _free_disk(inst, data.nodes[inst.snode], inst.dsk)
    data.nodes[inst.pnode].f_dsk += inst.dsk - usage
    inst.template, inst.snode, inst.dsk = "plain", -1, usage


# The beparams a modification changes in the simulation (minmem has no figure here).
MODIFIABLE_BEPARAMS = ("maxmem", "memory", "vcpus", "spindle_use", "auto_balance")


def _set_params(data: ClusterData, op: dict, log: Log) -> list[list]:
    """OP_INSTANCE_SET_PARAMS: disk template plain <-> drbd, and beparams.

    A running instance's new memory size is taken on its primary at once
    (Ganeti applies it at the next start): the figures stay those hbal's model
    derives from the instances.  The result is Ganeti's list of
    ``[parameter, new value]``.
    """
    inst = _instance(data, op.get("instance_name"))
    template, be = op.get("disk_template"), op.get("beparams") or {}
    if not template and not be:
        raise _prereq("No changes submitted")
    changes: list[list] = []
    if template:
        if template == inst.template:
            raise _prereq(f"Instance already has disk template {template}")
        if (inst.template, template) not in (("plain", "drbd"), ("drbd", "plain")):
            raise _prereq(f"Conversion from the '{inst.template}' disk template to "
                          f"'{template}' is not supported by the simulated nodes")
        _check_state(inst, ("down",), "cannot change disk template")
        if template == "drbd":
            _to_drbd(data, inst, op)
        else:
            _to_plain(data, inst)
        changes.append(["disk_template", template])
        log(f"* instance {inst.name} converted to {template}")
    mem = be.get("maxmem", be.get("memory"))
    if mem is not None and mem != inst.mem:
        if _uses_memory(inst) and mem > inst.mem:
            missing = mem - inst.mem - data.nodes[inst.pnode].f_mem
            if missing > 0:
                raise _prereq(f"This change will prevent the instance from starting, due to "
                              f"{missing} MB of memory missing on its primary node", "nores")
        if _uses_memory(inst):
            data.nodes[inst.pnode].f_mem -= mem - inst.mem
        inst.mem = mem
    for key in ("vcpus", "spindle_use", "auto_balance"):
        if key in be:
            setattr(inst, key, be[key])
    changes += [[f"be/{key}", value] for key, value in be.items()]
    return changes


# --- nodes ---------------------------------------------------------------------------


def _node_instances(data: ClusterData, idx: int, mode: str) -> list[int]:
    """Ganeti's _GetNodeEvacInstances: the primary or the secondary instances of a node."""
    return [k for k, inst in enumerate(data.instances)
            if idx == (inst.pnode if mode == "primary-only" else inst.snode)]


def _evacuate(data: ClusterData, op: dict, log: Log) -> WithJobs:
    """OP_NODE_EVACUATE: our hail's node-evacuate jobs, or new secondaries on one node.

    Ganeti 3.0 refuses mode ``all`` (its iallocator interface takes one mode
    for every instance), and so does this.
    """
    idx = _node_index(data, op.get("node_name"))
    node = data.nodes[idx].name
    mode = op.get("mode")
    if mode not in EVAC_MODES:
        raise _prereq(f"Invalid evacuation mode {mode!r}")
    ialloc = _iallocator_or_node(op, "remote_node")
    remote = op.get("remote_node")
    if remote is not None:
        if _node_index(data, remote) == idx:
            raise _prereq("Can not use evacuated node as a new secondary node")
        if mode != "secondary-only":
            raise _prereq("Without the use of an iallocator only secondary instances can "
                          "be evacuated")
    if mode == "all":
        raise _prereq("Due to an issue with the iallocator interface it is not possible "
                      "to evacuate all instances at once; specify explicitly whether to "
                      "evacuate primary or secondary instances")
    moving = _node_instances(data, idx, mode)
    names = sorted(data.instances[k].name for k in moving)
    if not moving:
        log(f"No instances to evacuate from node '{node}'")
        return WithJobs([])
    log(f"Evacuating instances from node '{node}': {', '.join(names)}")
    early = bool(op.get("early_release", False))
    if ialloc is not None:
        moved, failed, jobs = _ask(ialloc, "node evacuation",
                                   data, NodeEvacuate(moving, mode))
        if failed:
            log("Unable to evacuate instances " + ", ".join(
                f"{name} ({reason})" for name, reason in failed))
        for job in jobs:
            for job_op in job:
                if job_op.get("OP_ID") == "OP_INSTANCE_REPLACE_DISKS":
                    job_op["early_release"] = early
        return WithJobs(jobs)
    for k in moving:
        if data.nodes[data.instances[k].pnode].name == remote:
            raise _prereq(f"Node {remote} is the primary node of instance "
                          f"{data.instances[k].name}, cannot use it as secondary")
    return WithJobs([[{"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": name,
                       "remote_node": remote, "disks": [], "mode": "replace_new_secondary",
                       "early_release": early}] for name in names])


_MIGRATE_KEYS = ("mode", "live", "iallocator", "target_node", "allow_runtime_changes",
                 "ignore_ipolicy")


def _node_migrate(data: ClusterData, op: dict, log: Log) -> WithJobs:
    """OP_NODE_MIGRATE: one migration job per primary instance of the node."""
    idx = _node_index(data, op.get("node_name"))
    params = {key: op[key] for key in _MIGRATE_KEYS if op.get(key) is not None}
    names = [inst.name for inst in data.instances if inst.pnode == idx]
    log(f"Migrating {len(names)} primary instances away from {data.nodes[idx].name}")
    return WithJobs([[{"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": name, **params}]
                     for name in names])


def _set_node_params(data: ClusterData, op: dict, log: Log) -> list[list[str]]:
    """OP_NODE_SET_PARAMS for the role flags; the result lists what changed.

    One flag set true clears the other two, as in Ganeti; a text file's
    offline node counts as drained.  Ganeti's automatic promotion to master
    candidate (when the pool of candidates is short) is not simulated.
    """
    idx = _node_index(data, op.get("node_name"))
    node = data.nodes[idx]
    wanted = {flag: op.get(flag) for flag in ("master_candidate", "drained", "offline")}
    if all(value is None for value in wanted.values()):
        raise _prereq("Please pass at least one modification")
    if sum(bool(value) for value in wanted.values()) > 1:
        raise _prereq("Can't set the node into more than one state at the same time")
    if idx == master_index(data):
        raise _prereq("The master role can be changed only via master-failover")
    before = {"master_candidate": node.master_candidate,
              "drained": node.drained or (node.offline and not node.role_offline),
              "offline": node.role_offline}
    after = dict(before)
    for flag, value in wanted.items():
        if value is not None:
            after[flag] = value
            if value:
                after.update({other: False for other in wanted if other != flag})
    node.master_candidate, node.role_offline, node.drained = (
        after["master_candidate"], after["offline"], after["drained"])
    node.offline = node.role_offline or node.drained
    changes = [[flag, str(after[flag])] for flag in wanted if after[flag] != before[flag]]
    log(f"* node {node.name} is now {ROLES[node_role(data, idx)]}")
    return changes


# --- tags ----------------------------------------------------------------------------


def _tag_owner(data: ClusterData, op: dict) -> list[str]:
    """The tag list an OP_TAGS_* acts on (Ganeti's kinds: cluster, node, instance, nodegroup)."""
    kind, name = op.get("kind"), op.get("name")
    if kind == "cluster":
        return data.cluster_tags
    if kind == "node":
        return data.nodes[_node_index(data, name)].tags
    if kind == "instance":
        return _instance(data, name).tags
    if kind == "nodegroup":
        for group in data.groups:
            if group.name == name:
                return group.tags
        raise _prereq(f"Node group '{name}' not found", "noent")
    raise _prereq(f"Invalid tag kind {kind!r}")


def _valid_tags(op: dict) -> list[str]:
    """Ganeti's ValidateTag on each tag; a bad one fails the opcode with TagError."""
    tags = op.get("tags") or []
    for tag in tags:
        if not isinstance(tag, str):
            raise OpError("TagError", "Invalid tag type (not a string)")
        if len(tag) > MAX_TAG_LEN:
            raise OpError("TagError", f"Tag too long (>{MAX_TAG_LEN} characters)")
        if not tag:
            raise OpError("TagError", "Tags cannot be empty")
        if not _TAG_CHARS.match(tag):
            raise OpError("TagError", "Tag contains invalid characters")
    return tags


def _tags_set(data: ClusterData, op: dict, log: Log) -> None:
    tags = _valid_tags(op)
    owner = _tag_owner(data, op)
    new = [tag for tag in dict.fromkeys(tags) if tag not in owner]
    if len(owner) + len(new) > MAX_TAGS_PER_OBJ:
        raise OpError("TagError", "Too many tags")
    owner.extend(new)
    log(f"* tags added: {', '.join(tags)}")


def _tags_del(data: ClusterData, op: dict, log: Log) -> None:
    tags = _valid_tags(op)
    owner = _tag_owner(data, op)
    missing = sorted(set(tags) - set(owner))
    if missing:
        raise _prereq(f"Tag(s) {', '.join(repr(t) for t in missing)} not found", "noent")
    owner[:] = [tag for tag in owner if tag not in tags]
    log(f"* tags removed: {', '.join(tags)}")


# OP_ID -> what carries it out; the value it returns is the opcode's result
OPCODES: dict[str, Callable[[ClusterData, dict, Log], Any]] = {
    "OP_INSTANCE_MIGRATE": _migrate,
    "OP_INSTANCE_FAILOVER": _failover,
    "OP_INSTANCE_REPLACE_DISKS": _replace_disks,
    "OP_INSTANCE_CREATE": _create,
    "OP_INSTANCE_REMOVE": _remove,
    "OP_INSTANCE_MULTI_ALLOC": _multi_alloc,
    "OP_INSTANCE_STARTUP": _startup,
    "OP_INSTANCE_SHUTDOWN": _shutdown,
    "OP_INSTANCE_REBOOT": _reboot,
    "OP_INSTANCE_SET_PARAMS": _set_params,
    "OP_NODE_EVACUATE": _evacuate,
    "OP_NODE_MIGRATE": _node_migrate,
    "OP_NODE_SET_PARAMS": _set_node_params,
    "OP_TAGS_SET": _tags_set,
    "OP_TAGS_DEL": _tags_del,
}


def lock_names(data: ClusterData, op: dict) -> set[str]:
    """What a job on ``op`` must hold, so that jobs touching one object never overlap.

    An instance opcode holds the instance, its nodes and any node it names;
    a node opcode its node and that node's instances; an opcode that asks an
    iallocator may land anywhere and holds every node (as Ganeti's do without
    opportunistic locking); tags hold their object.  Unknown names are locked
    too (the opcode will fail on them anyway).
    """
    op_id = op.get("OP_ID")
    names: set[str] = set()
    if op_id in ("OP_TAGS_SET", "OP_TAGS_DEL"):
        kind = op.get("kind")
        return {"cluster" if kind == "cluster" else f"{kind}/{op.get('name')}"}
    if op.get("iallocator") is not None:
        names.update(f"node/{node.name}" for node in data.nodes)
    if op_id == "OP_INSTANCE_MULTI_ALLOC":
        names.update(f"instance/{c.get('instance_name')}" for c in op.get("instances") or [])
    if "node_name" in op:
        names.add(f"node/{op['node_name']}")
        for inst in data.instances:
            if op["node_name"] in (data.nodes[i].name for i in (inst.pnode, inst.snode)
                                   if i >= 0):
                names.add(f"instance/{inst.name}")
    if "instance_name" in op:
        names.add(f"instance/{op['instance_name']}")
        for inst in data.instances:
            if inst.name == op["instance_name"]:
                names.update(f"node/{data.nodes[i].name}" for i in (inst.pnode, inst.snode)
                             if i >= 0)
    for key in ("target_node", "remote_node", "pnode", "snode"):
        if isinstance(op.get(key), str):
            names.add(f"node/{op[key]}")
    return names


def run_opcode(data: ClusterData, op: dict, log: Log) -> Any:
    """Carry out one opcode on ``data`` in place and return its result.

    An opcode that fails raises OpError.  The failure may come after part of
    a change was applied in memory, so the caller runs opcodes on a copy and
    keeps it only on success.
    """
    runner = OPCODES.get(op.get("OP_ID", ""))
    if runner is None:
        raise _prereq(f"Opcode {op.get('OP_ID')} is not supported by the simulated nodes")
    return runner(data, op, log)
