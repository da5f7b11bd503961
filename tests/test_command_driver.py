"""The command driver: every opcode's exact commands, node by node, and failures.

Expected command lines are written out here rather than built by the code
under test, so a change in what reaches the nodes shows up as a diff of
argv lists.  The cluster: n0..n3 (n3 offline), ``web`` (DRBD, running,
n0 -> n1), ``db`` (DRBD, stopped, n1 -> n0), ``local`` (plain, running, n2),
``cold`` (plain, stopped, n2) and ``shared`` (rbd, running, n0).  Layout
numbering from cluster order: web has minor 0 on n0 and n1 and port 11000,
db minor 1 on both and port 11001.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from executor.daemon.queue import JobQueue
from executor.daemon.store import Store
from executor.nodes import plans
from executor.nodes.apply import NodeExecutor
from executor.nodes.commands import CommandDriver, KvmSettings
from executor.nodes.plans import Context, Layout, plan_opcode
from executor.nodes.runner import NodeError, RecordingRunner, Result, Script
from executor.nodes.sim import OpError
from htools.backends.text import parse_text

GROUP = "g|00000000-0000-0000-0000-000000000001|preferred||"
NODES = [f"n{i}|16384|1024|8192|100000|60000|8|{role}|"
         "00000000-0000-0000-0000-000000000001|1||N|0|1|1.0"
         for i, role in enumerate("MNNY")]
INSTANCES = ["web|2048|10000|2|running|Y|n0|n1|drbd||1|-|N",
             "db|1024|5000|1|ADMIN_down|Y|n1|n0|drbd||1|-|N",
             "local|512|2000|1|running|Y|n2||plain||1|-|N",
             "cold|512|2000|1|ADMIN_down|Y|n2||plain||1|-|N",
             "shared|1024|3000|1|running|Y|n0||rbd||1|-|N"]
CLUSTER_TEXT = "\n".join([GROUP, "", *NODES, "", *INSTANCES, "", ""]) + "\n"
IP = {f"n{i}": f"192.0.2.{10 + i}" for i in range(4)}
CTX = Context(address=IP.__getitem__)
RUN = "/var/run/ganeti/kvm-hypervisor"
DRBD_NET = ["--protocol", "C", "--after-sb-0pri", "discard-zero-changes",
            "--after-sb-1pri", "consensus"]


@pytest.fixture(autouse=True)
def known_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every new DRBD disk gets the secret ``s3cret``, so command lines are predictable."""
    monkeypatch.setattr(plans, "new_secret", lambda: "s3cret")


def cluster():
    return parse_text(CLUSTER_TEXT)


def commands(op: dict, data=None, script: Script | None = None,
             layout: Layout | None = None) -> tuple[list, Layout]:
    """What ``op`` runs on the test cluster, and the DRBD layout afterwards."""
    runner = RecordingRunner(script)
    steps, layout = plan_opcode(data or cluster(), layout or Layout(), op, CTX)
    driver = CommandDriver(runner, KvmSettings(poll_interval=0))
    for step in steps:
        step.run(driver)
    return runner.calls, layout


# --- expected command lines --------------------------------------------------------------

def lvcreate(name: str, size: int, stripes: int = 1) -> list[str]:
    return ["lvcreate", "-Wn", f"-L{size}m", f"-n{name}", f"-i{stripes}", "xenvg"]


def lvremove(name: str) -> list[str]:
    return ["lvremove", "-f", f"xenvg/{name}"]


def ends(local: str, peer: str, port: int) -> list[str]:
    return [f"ipv4:{IP[local]}:{port}", f"ipv4:{IP[peer]}:{port}"]


def connect(minor: int, local: str, peer: str, port: int, dual: bool = False) -> list[str]:
    return (["drbdsetup", "connect", f"resource{minor}", *ends(local, peer, port), *DRBD_NET]
            + (["--allow-two-primaries"] if dual else [])
            + ["--cram-hmac-alg", "md5", "--shared-secret", "s3cret"])


def disconnect(local: str, peer: str, port: int) -> list[str]:
    return ["drbdsetup", "disconnect", *ends(local, peer, port)]


def drbd_up(node: str, minor: int, disk: str, size: int, *, wipe: bool,
            peer: str | None, port: int = 0) -> list[tuple[str, list[str]]]:
    """The commands bringing a DRBD end up on ``node``; ``peer`` None: standalone."""
    meta = f"/dev/xenvg/{disk}_meta"
    argvs = [["drbdmeta", "--force", f"/dev/drbd{minor}", "v08", meta, "flex-external",
              "create-md"]] if wipe else []
    argvs += [["drbdsetup", "new-resource", f"resource{minor}"],
              ["drbdsetup", "new-minor", f"resource{minor}", str(minor), "0"],
              ["drbdmeta", f"/dev/drbd{minor}", "v08", meta, "flex-external", "apply-al"],
              ["drbdsetup", "attach", str(minor), f"/dev/xenvg/{disk}_data", meta, "flexible",
               "--on-io-error=detach", "--size", f"{size}m"],
              ["drbdsetup", "disk-options", str(minor), "--resync-rate", "61440"]]
    if peer is not None:
        argvs.append(connect(minor, node, peer, port))
    return [(node, argv) for argv in argvs]


def drbd(action: str, minor: int, *extra: str) -> list[str]:
    return ["drbdsetup", action, f"resource{minor}" if action == "down" else str(minor), *extra]


def kvm(name: str, memory: int, vcpus: int, disks: list[str], incoming: str | None = None,
        nics: list[str] | None = None) -> list[str]:
    argv = ["/usr/bin/kvm", "-name", name, "-m", str(memory), "-smp", str(vcpus),
            "-pidfile", f"{RUN}/pid/{name}", "-device", "virtio-balloon", "-daemonize",
            "-machine", "pc", "-enable-kvm", "-display", "none"]
    for disk in disks:
        argv += ["-drive", f"file={disk},format=raw,if=virtio,cache=none"]
    argv += ["-monitor", f"unix:{RUN}/ctrl/{name}.monitor,server,nowait",
             "-serial", f"unix:{RUN}/ctrl/{name}.serial,server,nowait"]
    argv += nics or ["-net", "none"]
    if incoming:
        argv += ["-incoming", f"tcp:{incoming}:8102"]
    return argv + ["-qmp", f"unix:{RUN}/ctrl/{name}.qmp,server,nowait"]


def qmp(name: str, command: str, arguments: str | None = None) -> list[str]:
    return ["qmp", f"{RUN}/ctrl/{name}.qmp", command, *([arguments] if arguments else [])]


WEB_KVM = kvm("web", 2048, 2, ["/dev/drbd0"])
POWERDOWN = qmp("web", "system_powerdown")


def reconnect(dual: bool) -> list[tuple[str, list[str]]]:
    return [("n0", disconnect("n0", "n1", 11000)), ("n1", disconnect("n1", "n0", 11000)),
            ("n0", connect(0, "n0", "n1", 11000, dual)),
            ("n1", connect(0, "n1", "n0", 11000, dual)),
            ("n0", drbd("wait-sync", 0))]


# --- migrate and failover ----------------------------------------------------------------

def test_migrate_drbd_goes_dual_primary_and_back() -> None:
    calls, _ = commands({"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "web"})
    assert calls == [
        ("n1", drbd("secondary", 0)),
        *reconnect(dual=True),
        ("n1", drbd("primary", 0)),
        ("n1", kvm("web", 2048, 2, ["/dev/drbd0"], incoming=IP["n1"])),
        ("n0", qmp("web", "migrate-set-parameters",
                   '{"downtime-limit": 30, "max-bandwidth": 33554432}')),
        ("n0", qmp("web", "migrate", f'{{"uri": "tcp:{IP["n1"]}:8102"}}')),
        ("n0", qmp("web", "query-migrate")),
        ("n0", qmp("web", "quit")),
        ("n0", drbd("secondary", 0)),
        *reconnect(dual=False)]


def test_migrate_polls_until_the_migration_leaves_the_active_states() -> None:
    statuses = iter([{"status": "setup"}, {"status": "active"}, {"status": "completed"}])

    def script(node: str, argv: list[str]) -> object:
        return next(statuses) if argv[2:] == ["query-migrate"] else None

    calls, _ = commands({"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "web"},
                        script=script)
    assert [argv[2] for _, argv in calls if argv[0] == "qmp"] == [
        "migrate-set-parameters", "migrate", "query-migrate", "query-migrate",
        "query-migrate", "quit"]


def test_a_failed_migration_stops_before_the_source_quits() -> None:
    def script(node: str, argv: list[str]) -> object:
        return {"status": "failed"} if argv[2:] == ["query-migrate"] else None

    with pytest.raises(NodeError, match="ended with status failed") as err:
        commands({"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "web"}, script=script)
    assert err.value.node == "n0"


@pytest.mark.parametrize("how", [{"mode": "non-live"}, {"live": False}])
def test_non_live_migration_pauses_the_guest_first(how: dict) -> None:
    calls, _ = commands({"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "web", **how})
    assert [argv[2] for _, argv in calls if argv[0] == "qmp"] == [
        "stop", "migrate-set-parameters", "migrate", "query-migrate", "quit"]


def test_migrate_shared_storage_has_no_drbd_steps() -> None:
    calls, _ = commands({"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "shared",
                         "target_node": "n2"})
    disk = "/var/run/ganeti/instance-disks/shared:0"
    assert calls == [
        ("n2", kvm("shared", 1024, 1, [disk], incoming=IP["n2"])),
        ("n0", qmp("shared", "migrate-set-parameters",
                   '{"downtime-limit": 30, "max-bandwidth": 33554432}')),
        ("n0", qmp("shared", "migrate", f'{{"uri": "tcp:{IP["n2"]}:8102"}}')),
        ("n0", qmp("shared", "query-migrate")),
        ("n0", qmp("shared", "quit"))]


def test_migrating_a_stopped_instance_is_a_failover_with_nothing_to_run() -> None:
    assert commands({"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "db"})[0] == []


def test_failover_stops_swaps_drbd_roles_and_starts_on_the_target() -> None:
    calls, _ = commands({"OP_ID": "OP_INSTANCE_FAILOVER", "instance_name": "web"})
    assert calls == [
        ("n0", POWERDOWN),
        ("n0", drbd("down", 0)), ("n1", drbd("down", 0)),
        *drbd_up("n0", 0, "web.disk0", 10000, wipe=False, peer="n1", port=11000),
        *drbd_up("n1", 0, "web.disk0", 10000, wipe=False, peer="n0", port=11000),
        ("n1", drbd("primary", 0)),
        ("n1", WEB_KVM)]


def test_failover_kills_a_guest_that_ignores_the_power_button() -> None:
    def script(node: str, argv: list[str]) -> object:
        if argv[2:] == ["system_powerdown"]:
            return NodeError(node, argv, "QEMU still running 120 s after system_powerdown")
        return None

    calls, _ = commands({"OP_ID": "OP_INSTANCE_FAILOVER", "instance_name": "web"},
                        script=script)
    assert calls[:3] == [("n0", POWERDOWN), ("n0", qmp("web", "quit")),
                         ("n0", drbd("down", 0))]


# --- replace disks -----------------------------------------------------------------------

def test_replace_new_secondary() -> None:
    calls, layout = commands({"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": "web",
                              "mode": "replace_new_secondary", "remote_node": "n2"})
    assert calls == [
        ("n2", lvcreate("web.disk0_data", 10000)), ("n2", lvcreate("web.disk0_meta", 128)),
        *drbd_up("n2", 0, "web.disk0", 10000, wipe=True, peer=None),
        ("n1", drbd("down", 0)),
        ("n0", disconnect("n0", "n1", 11000)),
        ("n0", connect(0, "n0", "n2", 11000)),
        ("n2", connect(0, "n2", "n0", 11000)),
        ("n0", drbd("wait-sync", 0)),
        ("n1", lvremove("web.disk0_data")), ("n1", lvremove("web.disk0_meta"))]
    assert layout.dump()["web"] == [{"minors": {"n0": 0, "n2": 0}, "port": 11000,
                                     "secret": "s3cret"}]


def test_replace_secondary_of_a_stopped_instance_brings_its_disks_up_and_down() -> None:
    calls, layout = commands({"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": "db",
                              "mode": "replace_new_secondary", "remote_node": "n2"})
    assert calls == [
        *drbd_up("n1", 1, "db.disk0", 5000, wipe=False, peer="n0", port=11001),
        *drbd_up("n0", 1, "db.disk0", 5000, wipe=False, peer="n1", port=11001),
        ("n1", drbd("primary", 1)),
        ("n2", lvcreate("db.disk0_data", 5000)), ("n2", lvcreate("db.disk0_meta", 128)),
        *drbd_up("n2", 0, "db.disk0", 5000, wipe=True, peer=None),
        ("n0", drbd("down", 1)),
        ("n1", disconnect("n1", "n0", 11001)),
        ("n1", connect(1, "n1", "n2", 11001)),
        ("n2", connect(0, "n2", "n1", 11001)),
        ("n1", drbd("wait-sync", 1)),
        ("n0", lvremove("db.disk0_data")), ("n0", lvremove("db.disk0_meta")),
        ("n1", drbd("down", 1)), ("n2", drbd("down", 0))]
    assert layout.dump()["db"] == [{"minors": {"n1": 1, "n2": 0}, "port": 11001,
                                    "secret": "s3cret"}]


@pytest.mark.parametrize("mode", ["replace_on_primary", "replace_auto"])
def test_other_replace_modes_are_refused_rather_than_faked(mode: str) -> None:
    with pytest.raises(OpError, match="only replaces a secondary"):
        commands({"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": "web", "mode": mode})


# --- create and remove -------------------------------------------------------------------

def test_create_drbd_with_two_disks() -> None:
    calls, layout = commands({
        "OP_ID": "OP_INSTANCE_CREATE", "instance_name": "new", "disk_template": "drbd",
        "pnode": "n2", "snode": "n1", "disks": [{"size": 1024}, {"size": 2048}],
        "beparams": {"maxmem": 512, "vcpus": 2}, "nics": [{"mac": "aa:00:00:00:00:01"}]})
    # n2 has no minors yet; n1 holds web's 0 and db's 1; ports after db's 11001.
    assert layout.dump()["new"] == [
        {"minors": {"n2": 0, "n1": 2}, "port": 11002, "secret": "s3cret"},
        {"minors": {"n2": 1, "n1": 3}, "port": 11003, "secret": "s3cret"}]
    assert calls == [
        ("n2", lvcreate("new.disk0_data", 1024)), ("n2", lvcreate("new.disk0_meta", 128)),
        *drbd_up("n2", 0, "new.disk0", 1024, wipe=True, peer="n1", port=11002),
        ("n2", lvcreate("new.disk1_data", 2048)), ("n2", lvcreate("new.disk1_meta", 128)),
        *drbd_up("n2", 1, "new.disk1", 2048, wipe=True, peer="n1", port=11003),
        ("n1", lvcreate("new.disk0_data", 1024)), ("n1", lvcreate("new.disk0_meta", 128)),
        *drbd_up("n1", 2, "new.disk0", 1024, wipe=True, peer="n2", port=11002),
        ("n1", lvcreate("new.disk1_data", 2048)), ("n1", lvcreate("new.disk1_meta", 128)),
        *drbd_up("n1", 3, "new.disk1", 2048, wipe=True, peer="n2", port=11003),
        ("n2", drbd("primary", 0, "--force")), ("n2", drbd("primary", 1, "--force")),
        ("n2", drbd("wait-sync", 0)), ("n2", drbd("wait-sync", 1)),
        ("n2", kvm("new", 512, 2, ["/dev/drbd0", "/dev/drbd1"], nics=[
            "-netdev", "tap,id=nic0,script=no,downscript=no",
            "-device", "virtio-net-pci,netdev=nic0,mac=aa:00:00:00:00:01"]))]


def test_create_stopped_drbd_takes_its_disks_down_again() -> None:
    calls, _ = commands({"OP_ID": "OP_INSTANCE_CREATE", "instance_name": "new",
                         "disk_template": "drbd", "pnode": "n2", "snode": "n1",
                         "disks": [{"size": 1024}], "start": False})
    assert calls[-4:] == [("n2", drbd("primary", 0, "--force")), ("n2", drbd("wait-sync", 0)),
                          ("n2", drbd("down", 0)), ("n1", drbd("down", 2))]


PVS = ["pvs", "--noheadings", "--nosuffix", "--units=m", "--unbuffered", "--separator=|",
       "-opv_name,vg_name,pv_free,pv_attr,pv_size"]
PVS_OUTPUT = ("  /dev/sdb|xenvg|1000.00|a--|1000.00\n  /dev/sdc|xenvg|0|a--|1000.00\n"
              "  /dev/sdd|xenvg|1000.00|a--|1000.00\n  /dev/sde|othervg|1000.00|a--|1000.00\n"
              "  /dev/sdf|xenvg|1000.00|---|1000.00\n")


def exclusive_create(spindles: int, pvs_output: str = PVS_OUTPUT) -> list:
    data = cluster()
    data.nodes[2].excl_storage = True
    return commands({"OP_ID": "OP_INSTANCE_CREATE", "instance_name": "new",
                     "disk_template": "plain", "pnode": "n2", "start": False,
                     "disks": [{"size": 1024, "spindles": spindles}]}, data,
                    lambda node, argv: Result(0, pvs_output) if argv[0] == "pvs" else None)[0]


def test_create_with_exclusive_storage_takes_one_empty_pv_per_spindle() -> None:
    assert exclusive_create(2) == [
        ("n2", PVS), ("n2", ["lvcreate", "-Wn", "-L1024m", "-nnew.disk0", "-i2", "xenvg",
                             "/dev/sdb", "/dev/sdd"])]


@pytest.mark.parametrize(("spindles", "message"), [
    (1, r"Requested number of spindles \(1\) is not enough for a disk of 1024 MB "
        r"\(at least 2 spindles needed\)"),
    (3, r"Not enough empty PVs \(spindles\) to create a disk of 1024 MB: "
        r"2 available, 3 needed")])
def test_exclusive_storage_checks_spindles_as_ganeti(spindles: int, message: str) -> None:
    with pytest.raises(NodeError, match=message):
        exclusive_create(spindles)


def test_unreadable_pvs_output_is_the_nodes_error() -> None:
    with pytest.raises(NodeError, match="Can't parse pvs output: line 'garbage'"):
        exclusive_create(1, "garbage\n")


def test_create_with_an_iallocator_uses_the_nodes_it_chose(tmp_path: Path) -> None:
    """Our hail picks the nodes in the simulation; the commands go to exactly those."""
    create = {"OP_ID": "OP_INSTANCE_CREATE", "instance_name": "new", "mode": "create",
              "disk_template": "drbd",
              "iallocator": "hail", "disks": [{"size": 1024}], "beparams": {"maxmem": 512},
              "nics": []}
    queue, runner, job = run_job(tmp_path, create)
    assert job.status == "success", job.opresult  # type: ignore[attr-defined]
    new = next(i for i in queue.cluster.instances if i.name == "new")
    names = [n.name for n in queue.cluster.nodes]
    given = {k: v for k, v in create.items() if k != "iallocator"}
    expected, _ = commands({**given, "pnode": names[new.pnode], "snode": names[new.snode]})
    assert runner.calls == expected and expected


def test_remove_running_drbd() -> None:
    calls, layout = commands({"OP_ID": "OP_INSTANCE_REMOVE", "instance_name": "web"})
    assert calls == [
        ("n0", POWERDOWN), ("n0", drbd("down", 0)), ("n1", drbd("down", 0)),
        ("n0", lvremove("web.disk0_data")), ("n0", lvremove("web.disk0_meta")),
        ("n1", lvremove("web.disk0_data")), ("n1", lvremove("web.disk0_meta"))]
    assert "web" not in layout.slots


def test_remove_stopped_plain() -> None:
    calls, _ = commands({"OP_ID": "OP_INSTANCE_REMOVE", "instance_name": "cold"})
    assert calls == [("n2", lvremove("cold.disk0"))]


# --- startup, shutdown, reboot -----------------------------------------------------------

def test_startup_assembles_drbd_then_starts() -> None:
    calls, _ = commands({"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": "db"})
    assert calls == [
        *drbd_up("n1", 1, "db.disk0", 5000, wipe=False, peer="n0", port=11001),
        *drbd_up("n0", 1, "db.disk0", 5000, wipe=False, peer="n1", port=11001),
        ("n1", drbd("primary", 1)),
        ("n1", kvm("db", 1024, 1, ["/dev/drbd1"]))]


def test_startup_plain_and_of_a_running_instance() -> None:
    assert commands({"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": "cold"})[0] == [
        ("n2", kvm("cold", 512, 1, ["/dev/xenvg/cold.disk0"]))]
    assert commands({"OP_ID": "OP_INSTANCE_STARTUP", "instance_name": "web"})[0] == []


def test_shutdown_then_disks_down() -> None:
    calls, _ = commands({"OP_ID": "OP_INSTANCE_SHUTDOWN", "instance_name": "web"})
    assert calls == [("n0", POWERDOWN), ("n0", drbd("down", 0)), ("n1", drbd("down", 0))]


def test_shutdown_without_timeout_kills_at_once() -> None:
    calls, _ = commands({"OP_ID": "OP_INSTANCE_SHUTDOWN", "instance_name": "local",
                         "timeout": 0})
    assert calls == [("n2", qmp("local", "quit"))]


def test_reboot_hard_and_full() -> None:
    assert commands({"OP_ID": "OP_INSTANCE_REBOOT", "instance_name": "web",
                     "reboot_type": "hard"})[0] == [("n0", POWERDOWN), ("n0", WEB_KVM)]
    assert commands({"OP_ID": "OP_INSTANCE_REBOOT", "instance_name": "web",
                     "reboot_type": "full"})[0] == [
        ("n0", POWERDOWN), ("n0", drbd("down", 0)), ("n1", drbd("down", 0)),
        *drbd_up("n0", 0, "web.disk0", 10000, wipe=False, peer="n1", port=11000),
        *drbd_up("n1", 0, "web.disk0", 10000, wipe=False, peer="n0", port=11000),
        ("n0", drbd("primary", 0)), ("n0", WEB_KVM)]


def test_reboot_of_a_stopped_instance_starts_it() -> None:
    assert commands({"OP_ID": "OP_INSTANCE_REBOOT", "instance_name": "cold"})[0] == [
        ("n2", kvm("cold", 512, 1, ["/dev/xenvg/cold.disk0"]))]


# --- disk template conversion ------------------------------------------------------------

def test_plain_to_drbd_keeps_the_data_volume() -> None:
    calls, layout = commands({"OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": "cold",
                              "disk_template": "drbd", "remote_node": "n1"})
    assert calls == [
        ("n2", lvcreate("cold.disk0_meta", 128)),
        ("n1", lvcreate("cold.disk0_data", 2000)), ("n1", lvcreate("cold.disk0_meta", 128)),
        ("n2", ["lvrename", "xenvg", "cold.disk0", "cold.disk0_data"]),
        *drbd_up("n2", 0, "cold.disk0", 2000, wipe=True, peer="n1", port=11002),
        *drbd_up("n1", 2, "cold.disk0", 2000, wipe=True, peer="n2", port=11002),
        ("n2", drbd("primary", 0, "--force")), ("n2", drbd("wait-sync", 0)),
        ("n2", drbd("down", 0)), ("n1", drbd("down", 2))]
    assert layout.dump()["cold"] == [{"minors": {"n2": 0, "n1": 2}, "port": 11002,
                                      "secret": "s3cret"}]


def test_drbd_to_plain_keeps_the_data_volume() -> None:
    calls, layout = commands({"OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": "db",
                              "disk_template": "plain"})
    assert calls == [
        ("n1", ["lvrename", "xenvg", "db.disk0_data", "db.disk0"]),
        ("n0", lvremove("db.disk0_data")), ("n0", lvremove("db.disk0_meta")),
        ("n1", lvremove("db.disk0_meta"))]
    assert "db" not in layout.slots


def test_converting_a_running_instance_or_to_an_unknown_node_is_refused() -> None:
    with pytest.raises(OpError, match="must be down"):
        commands({"OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": "local",
                  "disk_template": "drbd", "remote_node": "n1"})
    with pytest.raises(OpError, match="Node 'n9' not known"):
        commands({"OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": "cold",
                  "disk_template": "drbd", "remote_node": "n9"})


def test_other_parameter_changes_need_no_commands() -> None:
    assert commands({"OP_ID": "OP_INSTANCE_SET_PARAMS", "instance_name": "web",
                     "beparams": {"vcpus": 4}})[0] == []


# --- node opcodes and the rest -----------------------------------------------------------

def test_node_opcodes_leave_the_node_work_to_their_jobs(tmp_path: Path) -> None:
    """Evacuating a node submits replace-disks jobs; only those touch the nodes."""
    assert commands({"OP_ID": "OP_NODE_EVACUATE", "node_name": "n0",
                     "mode": "secondary-only", "remote_node": "n2"})[0] == []
    assert commands({"OP_ID": "OP_NODE_MIGRATE", "node_name": "n0"})[0] == []
    queue, runner, job = run_job(tmp_path, {"OP_ID": "OP_NODE_EVACUATE", "node_name": "n0",
                                            "mode": "secondary-only", "remote_node": "n2"})
    assert job.status == "success"  # type: ignore[attr-defined]
    (_, follow_up), = job.opresult[0]["jobs"]  # type: ignore[attr-defined]
    assert queue.job(follow_up).status == "success"  # type: ignore[union-attr]
    assert runner.calls == commands({"OP_ID": "OP_INSTANCE_REPLACE_DISKS",
                                     "instance_name": "db", "mode": "replace_new_secondary",
                                     "remote_node": "n2"})[0]


def test_configuration_only_opcodes_run_nothing_and_unknown_ones_are_refused() -> None:
    assert commands({"OP_ID": "OP_TAGS_SET", "kind": "instance", "name": "web",
                     "tags": ["a"]})[0] == []
    with pytest.raises(OpError, match="not supported by the command driver"):
        commands({"OP_ID": "OP_GROUP_EVACUATE", "group_name": "g"})


def test_layout_survives_a_restart(tmp_path: Path) -> None:
    layout = Layout()
    layout.complete(cluster())
    layout.save(str(tmp_path / "layout.json"))
    assert Layout.load(str(tmp_path / "layout.json")) == layout
    assert Layout.load(str(tmp_path / "missing.json")) == Layout()


def test_a_layout_that_disagrees_with_the_cluster_is_an_error() -> None:
    layout = Layout()
    layout.complete(cluster())
    layout.slots["web"][0].minors = {"n0": 0, "n2": 0}
    with pytest.raises(OpError, match="layout of web .* does not match its nodes n0 and n1"):
        commands({"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "web"}, layout=layout)


def test_executor_keeps_numbers_only_of_opcodes_that_succeeded(tmp_path: Path) -> None:
    path = str(tmp_path / "layout.json")
    outcome: dict[str, object] = {}

    def script(node: str, argv: list[str]) -> object:
        return outcome.get(argv[0])

    nodes = NodeExecutor(CommandDriver(RecordingRunner(script)), CTX, path)
    replace = {"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": "web",
               "mode": "replace_new_secondary", "remote_node": "n2"}
    outcome["lvremove"] = Result(5, "", "Logical volume in use")
    with pytest.raises(OpError, match="Logical volume in use"):
        nodes(cluster(), replace, lambda _text: None)
    assert nodes.layout.slots == nodes.committed.slots == {}
    del outcome["lvremove"]
    nodes(cluster(), replace, lambda _text: None)
    assert nodes.layout == nodes.committed == Layout.load(path)
    assert nodes.committed.slots["web"][0].minors == {"n0": 0, "n2": 0}


# --- through the daemon's queue ----------------------------------------------------------

def run_job(tmp_path: Path, op: dict, script: Script | None = None
            ) -> tuple[JobQueue, RecordingRunner, object]:
    store = Store(str(tmp_path))
    store.init_cluster(cluster())
    runner = RecordingRunner(script)
    nodes = NodeExecutor(CommandDriver(runner, KvmSettings(poll_interval=0)), CTX,
                         str(tmp_path / "layout.json"))
    queue = JobQueue(store, store.load_cluster(), workers=1, nodes=nodes)  # type: ignore[arg-type]
    queue.start()
    try:
        job_id = queue.submit([op])
        deadline = time.monotonic() + 20
        # the job and any it submitted
        while any(j.status not in ("success", "error") for j in list(queue.jobs.values())):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        job = queue.job(job_id)
    finally:
        queue.stop()
    return queue, runner, job


def test_queue_runs_the_commands_then_stores_the_move(tmp_path: Path) -> None:
    queue, runner, job = run_job(tmp_path, {"OP_ID": "OP_INSTANCE_MIGRATE",
                                            "instance_name": "web"})
    assert job.status == "success"  # type: ignore[attr-defined]
    assert runner.calls == commands({"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "web"})[0]
    web = next(i for i in queue.cluster.instances if i.name == "web")
    assert (web.pnode, web.snode) == (1, 0)
    messages = [entry[3] for entry in job.oplog[0]]  # type: ignore[attr-defined]
    assert "n0: migrate_instance" in messages


def test_a_failing_command_fails_the_opcode_and_changes_nothing(tmp_path: Path) -> None:
    def script(node: str, argv: list[str]) -> object:
        if node == "n1" and argv[:2] == ["drbdsetup", "primary"]:
            return Result(11, "", "0: State change failed: (-1) Multiple primaries not allowed")
        return None

    queue, runner, job = run_job(tmp_path, {"OP_ID": "OP_INSTANCE_MIGRATE",
                                            "instance_name": "web"}, script)
    assert job.status == "error"  # type: ignore[attr-defined]
    kind, (message,) = job.opresult[0]  # type: ignore[attr-defined]
    assert kind == "OpExecError"
    assert message == ("Command 'drbdsetup primary 0' failed on node n1 (exit code 11): "
                       "0: State change failed: (-1) Multiple primaries not allowed")
    assert runner.calls[-1] == ("n1", drbd("primary", 0))  # nothing ran after it
    web = next(i for i in queue.cluster.instances if i.name == "web")
    assert (web.pnode, web.snode) == (0, 1)
    stored = queue.store.load_cluster()
    assert stored is not None and next(i for i in stored.instances if i.name == "web").pnode == 0


def test_errors_hide_the_drbd_secret() -> None:
    def script(node: str, argv: list[str]) -> object:
        return Result(10, "", "Failure: (102) Local address(port) already in use.") \
            if argv[1] == "connect" else None

    with pytest.raises(NodeError) as err:
        commands({"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": "web"}, script=script)
    assert "s3cret" not in str(err.value) and "--shared-secret '<hidden>'" in str(err.value)


def test_a_refused_opcode_runs_no_command(tmp_path: Path) -> None:
    _, runner, job = run_job(tmp_path, {"OP_ID": "OP_INSTANCE_MIGRATE",
                                        "instance_name": "local"})
    assert job.status == "error" and runner.calls == []  # type: ignore[attr-defined]
