"""The command driver: node operations as the real LVM, DRBD 8.4 and KVM commands.

The command lines follow what Ganeti 3.0 runs for the same operation:

- LVM as its ``LogicalVolume``: ``lvcreate -Wn -L{size}m -n{name} -i{stripes} {vg}``
  (``-Wn`` so a stale filesystem signature cannot stop an unattended run),
  one stripe, or with exclusive storage one per spindle over as many empty
  PVs, which ``pvs`` lists first (without exclusive storage LVM picks the
  PVs, where Ganeti names all of them); ``lvremove -f vg/name``,
  ``lvrename vg old new``.
- DRBD through ``drbdsetup`` with 8.4 syntax as ``DRBD84CmdGenerator`` builds
  it: one resource per device, named ``resource{minor}``, external ("flexible")
  metadata on its own volume, ``connect`` with protocol C, Ganeti's
  split-brain policies and HMAC peer authentication.  Like Ganeti, no
  ``drbdadm`` and no configuration files: the devices are driven directly,
  so nothing on the nodes can go stale.
- KVM started daemonized with its pid file and monitor, serial and QMP
  sockets under Ganeti's run directory; migration and stopping go through QMP
  on the instance's socket (``migrate-set-parameters``, ``migrate``,
  ``query-migrate`` until it leaves the active states, ``quit`` on the source;
  ``system_powerdown``, then ``quit`` if the guest ignores it).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from executor.nodes.driver import Drbd, Vm, Volume
from executor.nodes.runner import NodeError, Runner, qmp_argv

PVS = ["pvs", "--noheadings", "--nosuffix", "--units=m", "--unbuffered", "--separator=|",
       "-opv_name,vg_name,pv_free,pv_attr,pv_size"]
# A PV's room for LVs with exclusive storage: its size less Ganeti's partition margins
PV_MARGIN = 1 + 0.01 + 0.02

# QEMU's query-migrate statuses while a migration is still going on
MIGRATION_ACTIVE = ("setup", "active", "postcopy-active", "pre-switchover", "device",
                    "wait-unplug")


@dataclass(frozen=True)
class KvmSettings:
    """Hypervisor parameters Ganeti keeps per cluster; the defaults are Ganeti's."""

    kvm_path: str = "/usr/bin/kvm"
    run_dir: str = "/var/run/ganeti/kvm-hypervisor"
    migration_port: int = 8102
    migration_bandwidth: int = 32  # MiB/s
    migration_downtime: int = 30  # ms
    poll_interval: float = 1.0  # seconds between query-migrate polls

    def qmp_socket(self, instance: str) -> str:
        return f"{self.run_dir}/ctrl/{instance}.qmp"


@dataclass(frozen=True)
class DrbdSettings:
    """DRBD disk parameters (Ganeti's defaults: protocol C, static resync rate)."""

    protocol: str = "C"
    resync_rate: int = 61440  # KiB/s


def _address(ip: str, port: int) -> str:
    return f"ipv4:{ip}:{port}"


def _resource(minor: int) -> str:
    return f"resource{minor}"


def kvm_argv(vm: Vm, settings: KvmSettings, incoming: str | None = None) -> list[str]:
    """The KVM command line for ``vm``; ``incoming`` is the address a migration target
    listens on (at the migration port)."""
    ctrl = f"{settings.run_dir}/ctrl/{vm.name}"
    argv = [settings.kvm_path, "-name", vm.name, "-m", str(vm.memory), "-smp", str(vm.vcpus),
            "-pidfile", f"{settings.run_dir}/pid/{vm.name}", "-device", "virtio-balloon",
            "-daemonize", "-machine", "pc", "-enable-kvm", "-display", "none"]
    for disk in vm.disks:
        argv += ["-drive", f"file={disk},format=raw,if=virtio,cache=none"]
    argv += ["-monitor", f"unix:{ctrl}.monitor,server,nowait",
             "-serial", f"unix:{ctrl}.serial,server,nowait"]
    if not vm.nics:
        argv += ["-net", "none"]
    for index, nic in enumerate(vm.nics):
        device = f"virtio-net-pci,netdev=nic{index}"
        if nic.get("mac"):
            device += f",mac={nic['mac']}"
        argv += ["-netdev", f"tap,id=nic{index},script=no,downscript=no", "-device", device]
    if incoming is not None:
        argv += ["-incoming", f"tcp:{incoming}:{settings.migration_port}"]
    argv += ["-qmp", f"unix:{settings.qmp_socket(vm.name)},server,nowait"]
    return argv


class CommandDriver:
    """Carries node operations out as commands sent through ``runner``."""

    def __init__(self, runner: Runner, kvm: KvmSettings | None = None,
                 drbd: DrbdSettings | None = None) -> None:
        self.runner = runner
        self.kvm = kvm or KvmSettings()
        self.drbd = drbd or DrbdSettings()

    # --- logical volumes ----------------------------------------------------------------

    def create_volume(self, node: str, volume: Volume, exclusive: bool) -> None:
        argv = ["lvcreate", "-Wn", f"-L{volume.size}m", f"-n{volume.name}"]
        if not exclusive:
            self.runner.run(node, [*argv, "-i1", volume.vg])
            return
        pvs = self._empty_pvs(node, volume, argv)
        self.runner.run(node, [*argv, f"-i{len(pvs)}", volume.vg, *pvs])

    def _empty_pvs(self, node: str, volume: Volume, argv: list[str]) -> list[str]:
        """The empty PVs an LV takes with exclusive storage: one per spindle, as Ganeti checks.

        Exclusive storage exists so that an instance's disk never shares a
        physical disk with another instance's; hence whole, empty PVs.
        """
        sizes: list[float] = []
        empty: list[tuple[float, str]] = []
        for line in self.runner.run(node, PVS).stdout.splitlines():
            try:
                name, vg, free_text, attr, size_text = line.strip().split("|")
                free, size = float(free_text), float(size_text)
            except ValueError:
                raise NodeError(node, PVS, f"Can't parse pvs output: line {line!r}") from None
            if vg == volume.vg and attr.startswith("a"):
                sizes.append(size)
                if free >= size:
                    empty.append((-free, name))
        if volume.spindles is None:
            raise NodeError(node, argv, "Unspecified number of spindles: this is required "
                            "when exclusive storage is enabled")
        if not sizes:
            raise NodeError(node, PVS, f"No (empty) PVs found in volume group {volume.vg}")
        needed = math.ceil(volume.size / max(1.0, min(sizes) // PV_MARGIN))
        if volume.spindles < needed:
            raise NodeError(node, argv, f"Requested number of spindles ({volume.spindles}) is "
                            f"not enough for a disk of {volume.size} MB (at least {needed} "
                            "spindles needed)")
        if len(empty) < volume.spindles:
            raise NodeError(node, argv, f"Not enough empty PVs (spindles) to create a disk of "
                            f"{volume.size} MB: {len(empty)} available, {volume.spindles} needed")
        return [name for _, name in sorted(empty)[:volume.spindles]]

    def remove_volume(self, node: str, volume: Volume) -> None:
        self.runner.run(node, ["lvremove", "-f", f"{volume.vg}/{volume.name}"])

    def rename_volume(self, node: str, volume: Volume, new_name: str) -> None:
        self.runner.run(node, ["lvrename", volume.vg, volume.name, new_name])

    # --- DRBD ---------------------------------------------------------------------------

    def drbd_create(self, node: str, device: Drbd, *, wipe_meta: bool,
                    network: bool = True) -> None:
        minor = str(device.minor)
        dev = f"/dev/drbd{minor}"
        if wipe_meta:
            self.runner.run(node, ["drbdmeta", "--force", dev, "v08", device.meta.path,
                                   "flex-external", "create-md"])
        self.runner.run(node, ["drbdsetup", "new-resource", _resource(device.minor)])
        self.runner.run(node, ["drbdsetup", "new-minor", _resource(device.minor), minor, "0"])
        self.runner.run(node, ["drbdmeta", dev, "v08", device.meta.path, "flex-external",
                               "apply-al"])
        self.runner.run(node, ["drbdsetup", "attach", minor, device.data.path,
                               device.meta.path, "flexible", "--on-io-error=detach",
                               "--size", f"{device.size}m"])
        self.runner.run(node, ["drbdsetup", "disk-options", minor, "--resync-rate",
                               str(self.drbd.resync_rate)])
        if network:
            self.drbd_connect(node, device)

    def drbd_primary(self, node: str, device: Drbd, *, force: bool = False) -> None:
        self.runner.run(node, ["drbdsetup", "primary", str(device.minor),
                               *(["--force"] if force else [])])

    def drbd_secondary(self, node: str, device: Drbd) -> None:
        self.runner.run(node, ["drbdsetup", "secondary", str(device.minor)])

    def drbd_connect(self, node: str, device: Drbd, *, dual_primary: bool = False) -> None:
        self.runner.run(node, [
            "drbdsetup", "connect", _resource(device.minor),
            _address(device.local.ip, device.port), _address(device.peer.ip, device.port),
            "--protocol", self.drbd.protocol, "--after-sb-0pri", "discard-zero-changes",
            "--after-sb-1pri", "consensus", *(["--allow-two-primaries"] if dual_primary else []),
            "--cram-hmac-alg", "md5", "--shared-secret", device.secret])

    def drbd_disconnect(self, node: str, device: Drbd) -> None:
        self.runner.run(node, ["drbdsetup", "disconnect", _address(device.local.ip, device.port),
                               _address(device.peer.ip, device.port)])

    def drbd_wait_sync(self, node: str, device: Drbd) -> None:
        self.runner.run(node, ["drbdsetup", "wait-sync", str(device.minor)])

    def drbd_remove(self, node: str, device: Drbd) -> None:
        self.runner.run(node, ["drbdsetup", "down", _resource(device.minor)])

    # --- instances ----------------------------------------------------------------------

    def start_instance(self, node: str, vm: Vm, *, incoming: str | None = None) -> None:
        self.runner.run(node, kvm_argv(vm, self.kvm, incoming))

    def stop_instance(self, node: str, vm: Vm, *, timeout: float) -> None:
        socket_path = self.kvm.qmp_socket(vm.name)
        if timeout > 0:
            try:
                self.runner.qmp(node, socket_path, "system_powerdown", wait_exit=timeout)
                return
            except NodeError:
                pass  # the guest ignored the request or took too long: kill it, as Ganeti does
        self.runner.qmp(node, socket_path, "quit")

    def migrate_instance(self, node: str, vm: Vm, *, target: str, live: bool = True) -> None:
        socket_path = self.kvm.qmp_socket(vm.name)
        if not live:
            self.runner.qmp(node, socket_path, "stop")
        self.runner.qmp(node, socket_path, "migrate-set-parameters", {
            "max-bandwidth": self.kvm.migration_bandwidth * 1024 * 1024,
            "downtime-limit": self.kvm.migration_downtime})
        self.runner.qmp(node, socket_path, "migrate",
                        {"uri": f"tcp:{target}:{self.kvm.migration_port}"})
        while True:
            status = self.runner.qmp(node, socket_path, "query-migrate").get("status")
            if status not in MIGRATION_ACTIVE:
                break
            time.sleep(self.kvm.poll_interval)
        if status != "completed":
            raise NodeError(node, qmp_argv(socket_path, "query-migrate", None),
                            f"migration of {vm.name} ended with status {status}")
        self.runner.qmp(node, socket_path, "quit")
