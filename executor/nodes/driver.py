"""The node driver interface: the node-level operations opcodes are made of.

An opcode such as a live migration is a sequence of small operations, each on
one node: create or remove a logical volume, bring a DRBD device up, change
its role or its network, start or stop a virtual machine, migrate it.  Plans
(:mod:`executor.nodes.plans`) compute that sequence as data, and a driver
(:mod:`executor.nodes.commands`) carries each step out.  Keeping the two apart
lets tests read a plan's commands without any node, and lets one plan run
against real nodes, over SSH or through a recorder.

Every operation names its node explicitly: a DRBD device has an end on two
nodes and a migration touches two machines, so nothing is implied.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Volume:
    """A logical volume: ``/dev/{vg}/{name}``, ``size`` MiB, on ``spindles`` PVs if known."""

    vg: str
    name: str
    size: int
    spindles: int | None = None

    @property
    def path(self) -> str:
        return f"/dev/{self.vg}/{self.name}"


@dataclass(frozen=True)
class DrbdEnd:
    """One end of a DRBD device: the node, its minor there, the address it listens on."""

    node: str
    minor: int
    ip: str


@dataclass(frozen=True)
class Drbd:
    """One DRBD device as seen from ``local``: its backing volumes and the peer's end.

    ``port`` is the device's TCP port on both ends (Ganeti's cluster-wide port
    pool); ``size`` is the device size in MiB; ``secret`` is the peers' shared
    secret, with which they authenticate each other (as Ganeti's devices do).
    """

    local: DrbdEnd
    peer: DrbdEnd
    port: int
    data: Volume
    meta: Volume
    size: int
    secret: str

    @property
    def minor(self) -> int:
        return self.local.minor


@dataclass(frozen=True)
class Vm:
    """What starting an instance's virtual machine needs to know."""

    name: str
    memory: int
    vcpus: int
    disks: tuple[str, ...]  # block device paths on the node it starts on
    nics: tuple[dict, ...] = field(default=())


class NodeDriver(Protocol):
    """Node-level operations; each raises ``runner.NodeError`` when the node fails it."""

    def create_volume(self, node: str, volume: Volume, exclusive: bool) -> None:
        """Create ``volume``; ``exclusive`` is the node's exclusive storage (one PV per spindle)."""
        ...

    def remove_volume(self, node: str, volume: Volume) -> None: ...

    def rename_volume(self, node: str, volume: Volume, new_name: str) -> None:
        """Rename ``volume`` in its group (a template conversion keeps the data volume)."""
        ...

    def drbd_create(self, node: str, device: Drbd, *, wipe_meta: bool,
                    network: bool = True) -> None:
        """Bring the device up on ``node`` over its volumes, and connect it to the peer.

        ``wipe_meta`` initialises fresh metadata (a new device); without
        ``network`` the device stays standalone (a new secondary before the
        primary switches over to it).
        """
        ...

    def drbd_primary(self, node: str, device: Drbd, *, force: bool = False) -> None:
        """Make ``node``'s end primary; ``force`` overrides an inconsistent peer (creation)."""
        ...

    def drbd_secondary(self, node: str, device: Drbd) -> None: ...

    def drbd_connect(self, node: str, device: Drbd, *, dual_primary: bool = False) -> None:
        """Connect the device to its peer; ``dual_primary`` allows both ends primary."""
        ...

    def drbd_disconnect(self, node: str, device: Drbd) -> None:
        """Cut the device's network: it goes standalone and keeps its data."""
        ...

    def drbd_wait_sync(self, node: str, device: Drbd) -> None:
        """Return once the device is connected and in sync with its peer."""
        ...

    def drbd_remove(self, node: str, device: Drbd) -> None:
        """Take the device down on ``node`` (its volumes stay)."""
        ...

    def start_instance(self, node: str, vm: Vm, *, incoming: str | None = None) -> None:
        """Start the VM; with ``incoming`` (this node's address) await a migration instead."""
        ...

    def stop_instance(self, node: str, vm: Vm, *, timeout: float) -> None:
        """Ask the guest to power off, kill it after ``timeout`` seconds (0: at once)."""
        ...

    def migrate_instance(self, node: str, vm: Vm, *, target: str, live: bool = True) -> None:
        """Migrate the VM on ``node`` to address ``target``; return once it runs there.

        The VM on the target must already be waiting (``start_instance`` with
        ``incoming``); the source's QEMU is ended once the migration completes.
        Without ``live`` the guest is paused for the copy.
        """
        ...


@dataclass(frozen=True)
class Step:
    """One node operation of a plan: ``driver.<action>(node, *args, **kwargs)``."""

    action: str
    node: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def run(self, driver: NodeDriver) -> None:
        getattr(driver, self.action)(self.node, *self.args, **dict(self.kwargs))


def step(action: str, node: str, *args: Any, **kwargs: Any) -> Step:
    """A :class:`Step`, written like the call it stands for."""
    return Step(action, node, args, tuple(sorted(kwargs.items())))
