"""Plans: the node operations each opcode needs, computed from the cluster before it.

A plan is a pure function of the cluster before the opcode, the DRBD layout,
the opcode and a :class:`Context`; it returns the steps in order and the
layout after them.  The order follows Ganeti 3.0's logical units (see each
function), so a real cluster goes through the same states as under Ganeti.

Naming scheme (deterministic, so an operator can find an instance's devices):

- a plain disk ``i`` of instance ``name`` is the volume ``{vg}/{name}.disk{i}``;
- a DRBD disk is backed by ``{vg}/{name}.disk{i}_data`` (the disk's size) and
  ``{vg}/{name}.disk{i}_meta`` (128 MiB of metadata, Ganeti's size) on both
  of its nodes;
- a DRBD disk has a minor on each of its nodes and one TCP port.  Minors are
  per node (the lowest one free on that node) and ports come from one pool
  for the cluster starting at 11000 (Ganeti's); each disk also has a random
  shared secret for the peers' authentication.  Unlike names they cannot be
  derived from the instance alone without clashes, so they are recorded in a
  :class:`Layout` that the daemon keeps next to its database; devices that
  exist before the layout knows them (a cluster loaded from a file) get
  numbers in cluster order the first time they are seen.

A stopped instance's DRBD devices are down, as Ganeti leaves them: starting
it brings them up (secondary end first, then the primary), stopping takes
them down.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from executor.nodes.driver import Drbd, DrbdEnd, Step, Vm, Volume, step
from executor.nodes.sim import OpError
from solver.cluster import MEM_USING_STATES
from solver.records import ClusterData, Instance

META_SIZE = 128  # MiB of DRBD metadata per disk
FIRST_PORT = 11000
SHUTDOWN_TIMEOUT = 120  # seconds, Ganeti's default for shutdown and failover


@dataclass(frozen=True)
class Context:
    """What plans need beyond the cluster: the volume group and node addresses."""

    vg: str = "xenvg"
    address: Callable[[str], str] = str
    disk_links: str = "/var/run/ganeti/instance-disks"  # shared storage: {links}/{name}:{i}


@dataclass
class Slot:
    """Where one DRBD disk lives: its minor on each of its nodes, its port, its secret."""

    minors: dict[str, int]
    port: int
    secret: str


def new_secret() -> str:
    """A DRBD shared secret, as long as Ganeti's (20 random bytes in hex)."""
    return secrets.token_hex(20)


@dataclass
class Layout:
    """DRBD minors and ports per instance disk (see the module docstring)."""

    slots: dict[str, list[Slot]] = field(default_factory=dict)

    def minor(self, node: str) -> int:
        """The lowest minor not in use on ``node``."""
        used = {slot.minors[node] for disks in self.slots.values() for slot in disks
                if node in slot.minors}
        return next(m for m in range(len(used) + 1) if m not in used)

    def port(self) -> int:
        used = {slot.port for disks in self.slots.values() for slot in disks}
        return next(p for p in range(FIRST_PORT, FIRST_PORT + len(used) + 1) if p not in used)

    def add(self, instance: str, count: int, nodes: list[str]) -> list[Slot]:
        """New slots for ``count`` disks between the two ``nodes``."""
        self.slots[instance] = []
        for _ in range(count):
            self.slots[instance].append(Slot({node: self.minor(node) for node in nodes},
                                             self.port(), new_secret()))
        return self.slots[instance]

    def complete(self, data: ClusterData) -> None:
        """Number the DRBD disks of ``data`` that the layout does not know yet."""
        for inst in data.instances:
            if inst.template == "drbd" and inst.snode >= 0 and inst.name not in self.slots:
                self.add(inst.name, len(_disks(inst)),
                         [data.nodes[inst.pnode].name, data.nodes[inst.snode].name])

    def dump(self) -> dict:
        return {name: [{"minors": s.minors, "port": s.port, "secret": s.secret}
                       for s in disks]
                for name, disks in self.slots.items()}

    @classmethod
    def load(cls, path: str) -> Layout:
        """The layout stored at ``path``; an empty one if there is no file yet."""
        try:
            with open(path, encoding="utf-8") as src:
                raw = json.load(src)
        except FileNotFoundError:
            return cls()
        return cls({name: [Slot(dict(s["minors"]), int(s["port"]), str(s["secret"]))
                           for s in disks]
                    for name, disks in raw.items()})

    def save(self, path: str) -> None:
        """Write atomically, so a crash leaves the old layout or the new one."""
        with open(path + ".tmp", "w", encoding="utf-8") as out:
            json.dump(self.dump(), out, indent=1, sort_keys=True)
        os.replace(path + ".tmp", path)


def _prereq(message: str) -> OpError:
    return OpError("OpPrereqError", message, "wrong_input")


def _disks(inst: Instance) -> list[tuple[int, int | None]]:
    """(size, spindles) per disk; a backend that gives none means one disk of ``dsk``."""
    return inst.disks or [(inst.dsk, None)]


def _running(inst: Instance) -> bool:
    return inst.status in MEM_USING_STATES


class _Plan:
    """The facts about one instance every plan needs, and builders for its steps."""

    def __init__(self, data: ClusterData, layout: Layout, ctx: Context, inst: Instance) -> None:
        self.data = data
        self.layout = layout
        self.ctx = ctx
        self.inst = inst
        self.name = inst.name
        self.disks = _disks(inst) if inst.template != "diskless" else []
        self.primary = data.nodes[inst.pnode].name
        self.secondary = data.nodes[inst.snode].name if inst.snode >= 0 else None
        self.steps: list[Step] = []
        slots = layout.slots.get(inst.name) if inst.template == "drbd" else None
        if slots is not None and (len(slots) != len(self.disks) or any(
                set(slot.minors) != {self.primary, self.secondary} for slot in slots)):
            raise OpError("OpExecError", f"The DRBD layout of {inst.name} "
                          f"({[slot.minors for slot in slots]}) does not match its nodes "
                          f"{self.primary} and {self.secondary}; correct drbd-layout.json")

    def add(self, action: str, node: str, *args: object, **kwargs: object) -> None:
        self.steps.append(step(action, node, *args, **kwargs))

    def exclusive(self, node: str) -> bool:
        """Whether ``node`` has exclusive storage (volumes then take whole spindles)."""
        for known in self.data.nodes:
            if known.name == node:
                return known.excl_storage
        raise OpError("OpPrereqError", f"Node '{node}' not known", "noent")

    def plain(self, index: int) -> Volume:
        size, spindles = self.disks[index]
        return Volume(self.ctx.vg, f"{self.name}.disk{index}", size, spindles)

    def data_volume(self, index: int) -> Volume:
        size, spindles = self.disks[index]
        return Volume(self.ctx.vg, f"{self.name}.disk{index}_data", size, spindles)

    def meta_volume(self, index: int) -> Volume:
        return Volume(self.ctx.vg, f"{self.name}.disk{index}_meta", META_SIZE, 1)

    def drbd(self, index: int, node: str) -> Drbd:
        """Disk ``index`` as seen from ``node``, whose peer is the slot's other node."""
        slot = self.layout.slots[self.name][index]
        peer = next(n for n in slot.minors if n != node)
        return Drbd(DrbdEnd(node, slot.minors[node], self.ctx.address(node)),
                    DrbdEnd(peer, slot.minors[peer], self.ctx.address(peer)),
                    slot.port, self.data_volume(index), self.meta_volume(index),
                    self.disks[index][0], slot.secret)

    def vm(self, node: str) -> Vm:
        """The VM as it starts on ``node``: its block devices are that node's."""
        if self.inst.template == "drbd":
            paths = [f"/dev/drbd{self.drbd(i, node).minor}" for i in range(len(self.disks))]
        elif self.inst.template == "plain":
            paths = [self.plain(i).path for i in range(len(self.disks))]
        else:
            paths = [f"{self.ctx.disk_links}/{self.name}:{i}" for i in range(len(self.disks))]
        return Vm(self.name, self.inst.mem, self.inst.vcpus, tuple(paths),
                  tuple(self.inst.nics))

    def each_disk(self, action: str, nodes: list[str], **kwargs: object) -> None:
        """``action`` on every DRBD disk, for each disk on each of ``nodes`` in turn."""
        for index in range(len(self.disks)):
            for node in nodes:
                self.add(action, node, self.drbd(index, node), **kwargs)

    def drbd_nodes(self) -> list[str]:
        assert self.secondary is not None
        return [self.primary, self.secondary]

    def assemble(self, primary: str) -> None:
        """Bring the DRBD disks up on both nodes, then make ``primary``'s ends primary.

        Ganeti's two passes: every end as a secondary first, so no node is
        primary before its peer can follow.
        """
        if self.inst.template == "drbd":
            self.each_disk("drbd_create", self.drbd_nodes(), wipe_meta=False)
            self.each_disk("drbd_primary", [primary])

    def shutdown_disks(self) -> None:
        if self.inst.template == "drbd":
            self.each_disk("drbd_remove", self.drbd_nodes())

    def reconnect(self, dual_primary: bool) -> None:
        """Ganeti's standalone-then-reconnect: change the network mode of both ends."""
        nodes = self.drbd_nodes()
        self.each_disk("drbd_disconnect", nodes)
        self.each_disk("drbd_connect", nodes, dual_primary=dual_primary)
        self.each_disk("drbd_wait_sync", nodes[:1])


def _instance(data: ClusterData, name: object) -> Instance:
    for inst in data.instances:
        if inst.name == name:
            return inst
    raise OpError("OpPrereqError", f"Instance '{name}' not known", "noent")


def _target(plan: _Plan, op: dict) -> str:
    """A migration's or failover's target: the DRBD secondary or the given node."""
    if plan.inst.template == "drbd":
        assert plan.secondary is not None
        return plan.secondary
    target = op.get("target_node")
    if not isinstance(target, str):
        raise _prereq("The command driver needs a target node for shared storage")
    return target


def _timeout(op: dict, key: str) -> float:
    value = op.get(key)
    return SHUTDOWN_TIMEOUT if value is None else float(value)


def _live(op: dict) -> bool:
    """Ganeti's choice: ``live`` if given, else ``mode`` (its hypervisor default: live)."""
    if op.get("live") is not None:
        return bool(op["live"])
    return op.get("mode") != "non-live"


def _migrate(plan: _Plan, op: dict) -> None:
    """Ganeti's ``_ExecMigration``; a stopped instance is failed over instead, as there.

    DRBD goes dual-primary for the copy: the target's ends become secondary,
    both ends reconnect allowing two primaries and sync, the target's become
    primary, the target's QEMU waits for the stream, the source's sends it;
    then the source's ends step down and both reconnect single-primary.
    """
    if not _running(plan.inst):
        _failover(plan, op)
        return
    source, target = plan.primary, _target(plan, op)
    drbd = plan.inst.template == "drbd"
    if drbd:
        plan.each_disk("drbd_secondary", [target])
        plan.reconnect(dual_primary=True)
        plan.each_disk("drbd_primary", [target])
    address = plan.ctx.address(target)
    plan.add("start_instance", target, plan.vm(target), incoming=address)
    plan.add("migrate_instance", source, plan.vm(source), target=address, live=_live(op))
    if drbd:
        plan.each_disk("drbd_secondary", [source])
        plan.reconnect(dual_primary=False)


def _failover(plan: _Plan, op: dict) -> None:
    """Ganeti's ``_ExecFailover``: stop, disks down everywhere, up on the target, start."""
    if not _running(plan.inst):
        return  # its disks are down and nothing runs: only the configuration changes
    source, target = plan.primary, _target(plan, op)
    plan.add("stop_instance", source, plan.vm(source),
             timeout=_timeout(op, "shutdown_timeout"))
    plan.shutdown_disks()
    plan.assemble(target)
    plan.add("start_instance", target, plan.vm(target))


def _replace_disks(plan: _Plan, op: dict) -> None:
    """Ganeti's ``_ExecDrbd8Secondary``: a new secondary, the primary never stops.

    The new node gets volumes and standalone devices (fresh minors, the same
    port), the old secondary's devices go down, the primary drops its network
    and reconnects to the new node, the disks sync, the old volumes go.
    """
    if plan.inst.template != "drbd" or plan.secondary is None:
        raise _prereq(f"Can only run replace disks for DRBD8-based instances, not "
                      f"{plan.inst.template}")
    if op.get("mode") != "replace_new_secondary":
        raise _prereq(f"The command driver only replaces a secondary node "
                      f"(mode replace_new_secondary), not {op.get('mode')!r}")
    new, old, primary = op.get("remote_node"), plan.secondary, plan.primary
    if not isinstance(new, str) or new in (old, primary):
        raise _prereq(f"Invalid new secondary node {new!r}")
    running = _running(plan.inst)
    if not running:
        plan.assemble(primary)
    old_ends = [plan.drbd(i, primary) for i in range(len(plan.disks))]
    old_secondary = [plan.drbd(i, old) for i in range(len(plan.disks))]
    for slot in plan.layout.slots[plan.name]:
        slot.minors = {primary: slot.minors[primary], new: plan.layout.minor(new)}
    for index in range(len(plan.disks)):
        for volume in (plan.data_volume(index), plan.meta_volume(index)):
            plan.add("create_volume", new, volume, plan.exclusive(new))
    plan.each_disk("drbd_create", [new], wipe_meta=True, network=False)
    for device in old_secondary:
        plan.add("drbd_remove", old, device)
    for device in old_ends:
        plan.add("drbd_disconnect", primary, device)
    plan.each_disk("drbd_connect", [primary, new])
    plan.each_disk("drbd_wait_sync", [primary])
    for index in range(len(plan.disks)):
        for volume in (plan.data_volume(index), plan.meta_volume(index)):
            plan.add("remove_volume", old, volume)
    if not running:
        plan.each_disk("drbd_remove", [primary, new])


def _startup(plan: _Plan, op: dict) -> None:
    """Disks up (Ganeti's ``AssembleInstanceDisks``), then the VM; nothing if it runs."""
    if _running(plan.inst):
        return
    plan.assemble(plan.primary)
    plan.add("start_instance", plan.primary, plan.vm(plan.primary))


def _shutdown(plan: _Plan, op: dict) -> None:
    """The VM stops (killed after ``timeout``), then its disks go down."""
    if not _running(plan.inst):
        return
    plan.add("stop_instance", plan.primary, plan.vm(plan.primary), timeout=_timeout(op, "timeout"))
    plan.shutdown_disks()


def _reboot(plan: _Plan, op: dict) -> None:
    """KVM reboots by stop and start (Ganeti's too); ``full`` also cycles the disks.

    A stopped instance is simply started, as Ganeti's reboot does.
    """
    if not _running(plan.inst):
        _startup(plan, op)
        return
    node, vm = plan.primary, plan.vm(plan.primary)
    plan.add("stop_instance", node, vm, timeout=_timeout(op, "shutdown_timeout"))
    if op.get("reboot_type") == "full":
        plan.shutdown_disks()
        plan.assemble(node)
    plan.add("start_instance", node, vm)


def _remove(plan: _Plan, op: dict) -> None:
    """Stop the VM, take DRBD down, remove every volume on every node."""
    if _running(plan.inst):
        plan.add("stop_instance", plan.primary, plan.vm(plan.primary),
                 timeout=_timeout(op, "shutdown_timeout"))
        plan.shutdown_disks()
    for index in range(len(plan.disks)):
        if plan.inst.template == "plain":
            plan.add("remove_volume", plan.primary, plan.plain(index))
        elif plan.inst.template == "drbd":
            for node in plan.drbd_nodes():
                plan.add("remove_volume", node, plan.data_volume(index))
                plan.add("remove_volume", node, plan.meta_volume(index))
    plan.layout.slots.pop(plan.name, None)


def _to_drbd(plan: _Plan, secondary: str) -> None:
    """Ganeti's ``_ConvertPlainToDrbd`` for a stopped instance.

    The plain volumes become the data volumes (renamed, their data kept);
    metadata is created beside them, the new secondary gets empty volumes,
    both ends come up with fresh metadata, the primary is forced primary so
    it is the sync source, and once synced the devices go down again.
    """
    plan.inst.template = "drbd"
    plan.secondary = secondary
    plan.layout.add(plan.name, len(plan.disks), plan.drbd_nodes())
    for index in range(len(plan.disks)):
        plan.add("create_volume", plan.primary, plan.meta_volume(index),
                 plan.exclusive(plan.primary))
        for volume in (plan.data_volume(index), plan.meta_volume(index)):
            plan.add("create_volume", secondary, volume, plan.exclusive(secondary))
        plan.add("rename_volume", plan.primary, plan.plain(index), plan.data_volume(index).name)
    plan.each_disk("drbd_create", plan.drbd_nodes(), wipe_meta=True)
    plan.each_disk("drbd_primary", [plan.primary], force=True)
    plan.each_disk("drbd_wait_sync", [plan.primary])
    plan.shutdown_disks()


def _to_plain(plan: _Plan) -> None:
    """Ganeti's ``_ConvertDrbdToPlain``: the data volume stays, the rest goes."""
    assert plan.secondary is not None
    for index in range(len(plan.disks)):
        plan.add("rename_volume", plan.primary, plan.data_volume(index), plan.plain(index).name)
        plan.add("remove_volume", plan.secondary, plan.data_volume(index))
        plan.add("remove_volume", plan.secondary, plan.meta_volume(index))
        plan.add("remove_volume", plan.primary, plan.meta_volume(index))
    plan.layout.slots.pop(plan.name, None)


def _set_params(plan: _Plan, op: dict) -> None:
    """Only a disk template change touches the nodes (plain <-> drbd, instance stopped)."""
    wanted = op.get("disk_template")
    if wanted is None or wanted == plan.inst.template:
        return
    if _running(plan.inst):
        raise OpError("OpPrereqError", f"Instance {plan.name} must be down to change its "
                      "disk template", "wrong_state")
    if (plan.inst.template, wanted) == ("plain", "drbd"):
        remote = op.get("remote_node")
        if not isinstance(remote, str) or remote == plan.primary:
            raise _prereq("Changing the disk template to drbd needs a secondary node "
                          "('remote_node') other than the primary")
        _to_drbd(plan, remote)
    elif (plan.inst.template, wanted) == ("drbd", "plain"):
        _to_plain(plan)
    else:
        raise _prereq(f"The command driver cannot convert {plan.inst.template} to {wanted}")


def _new_instance(data: ClusterData, op: dict) -> Instance:
    """The instance an OP_INSTANCE_CREATE describes (its nodes named: see with_chosen_nodes)."""
    names = [node.name for node in data.nodes]
    pnode, snode = op.get("pnode"), op.get("snode")
    template = op.get("disk_template")
    if pnode not in names:
        raise _prereq(f"The command driver needs a known primary node ('pnode'), not {pnode!r}")
    if template == "drbd" and (snode not in names or snode == pnode):
        raise _prereq(f"A drbd instance needs a secondary node ('snode'), not {snode!r}")
    if template not in ("plain", "drbd", "diskless"):
        raise _prereq(f"The command driver cannot create {template} disks")
    beparams = op.get("beparams") or {}
    disks = [(int(d["size"]), d.get("spindles")) for d in op.get("disks") or []]
    return Instance(str(op.get("instance_name")), int(beparams.get("maxmem",
                    beparams.get("memory", 128))), sum(s for s, _ in disks),
                    int(beparams.get("vcpus", 1)), "ADMIN_down", True, names.index(pnode),
                    names.index(snode) if template == "drbd" else -1, template,
                    disks=disks, nics=list(op.get("nics") or []))


def _create(plan: _Plan, op: dict) -> None:
    """Ganeti's ``CreateDisks`` then start: volumes and devices node by node, primary first.

    A new DRBD device gets fresh metadata on both ends and its primary end is
    forced primary, which makes it the source of the initial sync.  An
    instance created stopped has its disks taken down again.
    """
    if plan.inst.template == "plain":
        for index in range(len(plan.disks)):
            plan.add("create_volume", plan.primary, plan.plain(index),
                     plan.exclusive(plan.primary))
    elif plan.inst.template == "drbd":
        plan.layout.add(plan.name, len(plan.disks), plan.drbd_nodes())
        for node in plan.drbd_nodes():
            for index in range(len(plan.disks)):
                plan.add("create_volume", node, plan.data_volume(index), plan.exclusive(node))
                plan.add("create_volume", node, plan.meta_volume(index), plan.exclusive(node))
                plan.add("drbd_create", node, plan.drbd(index, node), wipe_meta=True)
        plan.each_disk("drbd_primary", [plan.primary], force=True)
        plan.each_disk("drbd_wait_sync", [plan.primary])
    if op.get("start", True):
        plan.add("start_instance", plan.primary, plan.vm(plan.primary))
    else:
        plan.shutdown_disks()


# Opcodes that change only the cluster's configuration, never a node, and those that
# only submit jobs (Ganeti's ResultWithJobs): the follow-up jobs do the node work
CONFIG_ONLY = ("OP_TAGS_SET", "OP_TAGS_DEL", "OP_NODE_SET_PARAMS")
SUBMITS_JOBS = ("OP_NODE_MIGRATE", "OP_NODE_EVACUATE", "OP_INSTANCE_MULTI_ALLOC")

PLANS: dict[str, Callable[[_Plan, dict], None]] = {
    "OP_INSTANCE_MIGRATE": _migrate,
    "OP_INSTANCE_FAILOVER": _failover,
    "OP_INSTANCE_REPLACE_DISKS": _replace_disks,
    "OP_INSTANCE_CREATE": _create,
    "OP_INSTANCE_REMOVE": _remove,
    "OP_INSTANCE_STARTUP": _startup,
    "OP_INSTANCE_SHUTDOWN": _shutdown,
    "OP_INSTANCE_REBOOT": _reboot,
    "OP_INSTANCE_SET_PARAMS": _set_params,
}


def plan_opcode(data: ClusterData, layout: Layout, op: dict,
                ctx: Context) -> tuple[list[Step], Layout]:
    """The steps ``op`` needs on the nodes of ``data`` and the DRBD layout after them.

    Configuration-only opcodes need no steps; an opcode this module has no
    plan for is refused, since letting it change the stored cluster without
    touching the nodes would make the two disagree.  Neither ``data`` nor
    ``layout`` is changed.
    """
    op_id = op.get("OP_ID", "")
    if op_id in CONFIG_ONLY or op_id in SUBMITS_JOBS:
        return [], layout
    if op_id not in PLANS:
        raise _prereq(f"Opcode {op_id} is not supported by the command driver")
    layout = copy.deepcopy(layout)
    layout.complete(data)
    inst = (_new_instance(data, op) if op_id == "OP_INSTANCE_CREATE"
            else copy.deepcopy(_instance(data, op.get("instance_name"))))
    plan = _Plan(data, layout, ctx, inst)
    PLANS[op_id](plan, op)
    return plan.steps, layout


def with_chosen_nodes(op: dict, after: ClusterData) -> dict:
    """``op`` with the nodes its iallocator chose written in, from the cluster ``after`` it.

    The simulation runs the iallocator (our hail) before any node is touched;
    the plan then needs those nodes by name, as if the caller had given them.
    """
    if not op.get("iallocator"):
        return op
    inst = next((i for i in after.instances if i.name == op.get("instance_name")), None)
    if inst is None:
        return op
    names = [node.name for node in after.nodes]
    chosen = {k: v for k, v in op.items() if k != "iallocator"}
    op_id = op.get("OP_ID")
    if op_id == "OP_INSTANCE_CREATE":
        chosen["pnode"] = names[inst.pnode]
        if inst.snode >= 0:
            chosen["snode"] = names[inst.snode]
    elif op_id in ("OP_INSTANCE_MIGRATE", "OP_INSTANCE_FAILOVER") and inst.template != "drbd":
        chosen["target_node"] = names[inst.pnode]
    elif op_id in ("OP_INSTANCE_REPLACE_DISKS", "OP_INSTANCE_SET_PARAMS") and inst.snode >= 0:
        chosen["remote_node"] = names[inst.snode]
    return chosen
