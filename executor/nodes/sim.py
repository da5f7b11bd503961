"""The simulated node driver: opcodes change the stored cluster, nothing else.

After a real migrate, failover or secondary replacement Ganeti reports the
nodes' free memory and disk as the hypervisor and LVM then see them.  The
simulation changes the same figures by the same amounts htools' own move model
uses (``solver.nodeops``: memory follows the primary of an instance that uses
memory, local disks follow the nodes that hold them), so the score ``hbal``
predicts for a plan is the score ``hbal -m`` reads once the plan has run.

Checks and their errors follow Ganeti's: an opcode that cannot run raises
:class:`OpError` with Ganeti's exception class and error code, and leaves the
cluster unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from solver.cluster import MEM_USING_STATES
from solver.records import ClusterData, Instance, Node

# Templates whose disks live on the nodes (moved with them), and those whose
# storage every node reaches (so the primary can go anywhere).
LOCAL_TEMPLATES = ("plain", "drbd")
SHARED_TEMPLATES = ("sharedfile", "blockdev", "rbd", "ext", "gluster")

Log = Callable[[str], None]


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


def _usable(node: Node) -> None:
    if node.offline or node.drained:
        raise _prereq(f"Can't use offline or drained node {node.name}", "wrong_state")


def _uses_memory(inst: Instance) -> bool:
    return inst.status in MEM_USING_STATES and not inst.forthcoming


def _total_spindles(inst: Instance) -> int:
    return sum(spindles or 0 for _size, spindles in inst.disks)


def _move_disks(inst: Instance, source: Node, target: Node) -> None:
    """Local disks leave ``source`` and take room on ``target``."""
    if inst.template not in LOCAL_TEMPLATES or inst.forthcoming:
        return
    if target.f_dsk < inst.dsk:
        raise _prereq(f"Not enough disk space on target node {target.name}: required "
                      f"{inst.dsk} MiB, available {target.f_dsk} MiB", "nores")
    source.f_dsk += inst.dsk
    target.f_dsk -= inst.dsk
    if source.excl_storage:
        source.f_spindles += _total_spindles(inst)
    if target.excl_storage:
        target.f_spindles -= _total_spindles(inst)


def _move_primary(data: ClusterData, inst: Instance, target: int, log: Log) -> None:
    """The instance runs on ``target`` from now on; with DRBD the old primary is secondary."""
    source = data.nodes[inst.pnode]
    dest = data.nodes[target]
    _usable(dest)
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
    """Where a migrate or failover goes: DRBD to its secondary, shared storage to a node."""
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
    if given is None:
        raise _prereq("No target node given and no iallocator in the simulation")
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
    _usable(data.nodes[new])
    old = data.nodes[inst.snode]
    log(f"Replacing the secondary of {inst.name}: {old.name} -> {remote}")
    _move_disks(inst, old, data.nodes[new])
    inst.snode = new


# OP_ID -> what carries it out
OPCODES: dict[str, Callable[[ClusterData, dict, Log], None]] = {
    "OP_INSTANCE_MIGRATE": _migrate,
    "OP_INSTANCE_FAILOVER": _failover,
    "OP_INSTANCE_REPLACE_DISKS": _replace_disks,
}


def lock_names(data: ClusterData, op: dict) -> set[str]:
    """What a job on ``op`` must hold: its instance, that instance's nodes, a new node.

    Unknown names are locked too (the opcode will fail on them anyway); the
    point is that two jobs touching one node or instance never overlap.
    """
    names = {f"instance/{op.get('instance_name')}"}
    for inst in data.instances:
        if inst.name == op.get("instance_name"):
            names.update(f"node/{data.nodes[i].name}" for i in (inst.pnode, inst.snode) if i >= 0)
    for key in ("target_node", "remote_node"):
        if isinstance(op.get(key), str):
            names.add(f"node/{op[key]}")
    return names


def run_opcode(data: ClusterData, op: dict, log: Log) -> None:
    """Carry out one opcode on ``data`` in place; raise OpError and change nothing if it fails.

    A failure may come after part of a move was applied in memory, so the
    caller runs opcodes on a copy and keeps it only on success.
    """
    runner = OPCODES.get(op.get("OP_ID", ""))
    if runner is None:
        raise _prereq(f"Opcode {op.get('OP_ID')} is not supported by the simulated nodes")
    runner(data, op, log)
