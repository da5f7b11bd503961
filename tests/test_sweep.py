"""The capacity planner (solver/sweep.py): each scenario kind against an hspace run
that asks the same question, in-process against Ray, and the shared base untouched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from htools.backends.simu import load_simu
from htools.backends.text import parse_text
from solver.capacity import RSpec
from solver.sweep import COLUMNS, NodeModel, Planner, Scenario, ScenarioError, sweep
from tests.conftest import GANETI_FIXTURES, requires_ganeti, requires_shared, run_tool

SMALL = RSpec(8192, 102400, 4, 1)
LARGE = RSpec(16384, 409600, 8, 1)


def simu(nodes: int = 6) -> Planner:
    return Planner(load_simu([f"p,{nodes},1t,64g,16"]), template="drbd")


HTS_REASON = {"memory": "FAILMEM", "disk": "FAILDISK", "vcpu": "FAILCPU", "N+1": "FAILN1",
              "tags": "FAILTAGS", "migration": "FAILMIG", "disk count": "FAILDISKCOUNT",
              "spindles": "FAILSPINDLES", "internal": "FAILINTERNAL"}


def hspace_answer(args: list[str], ours: bool = True) -> dict[str, str]:
    rc, out, err = run_tool(["hspace", "--machine-readable", *args], ours=ours)
    assert rc == 0, err
    return dict(line.split("=", 1) for line in out.splitlines())


def spec_arg(spec: RSpec) -> str:
    return f"{spec.dsk},{spec.mem},{spec.cpu},{spec.spn}"


@pytest.mark.parametrize("spec, offline", [
    (SMALL, ()), (LARGE, ("node-01-002",)), (SMALL, ("node-01-001", "node-01-004")),
    pytest.param(LARGE, (), marks=pytest.mark.heavy),
    pytest.param(SMALL, ("node-01-002",), marks=pytest.mark.heavy),
    pytest.param(LARGE, ("node-01-001", "node-01-004"), marks=pytest.mark.heavy)])
def test_standard_is_hspace_with_offline_nodes(spec: RSpec, offline: tuple[str, ...]) -> None:
    row = simu().evaluate(Scenario("s", spec=spec, offline=offline))
    hts = hspace_answer(["--simulate", "p,6,1t,64g,16", "--disk-template", "drbd",
                         "--standard-alloc", spec_arg(spec), *[f"-O{o}" for o in offline]])
    assert row["instances"] == int(hts["HTS_ALLOC_INSTANCES"])
    assert hts["HTS_ALLOC_FAIL_REASON"] == HTS_REASON[row["limiting"]]
    assert row["nodes"] == 6 - len(offline)


def test_tiered_is_hspace_tiered() -> None:
    row = simu().evaluate(Scenario("t", mode="tiered", spec=LARGE))
    hts = hspace_answer(["--simulate", "p,6,1t,64g,16", "--disk-template", "drbd",
                         "--tiered-alloc", spec_arg(LARGE)])
    assert row["specs"] == hts["HTS_TSPEC"].strip("'")
    assert row["instances"] == sum(int(p.split("=")[1]) for p in row["specs"].split())


@pytest.mark.ganeti
@requires_ganeti
@requires_shared
@pytest.mark.parametrize("fixture", ["hspace-tiered.data", "hspace-groups-one.data",
                                     "hspace-existing.data"])
def test_fixture_standard_matches_ganeti(fixture: str) -> None:
    """The planner's row for the std spec is Ganeti's hspace answer on the same file."""
    path = GANETI_FIXTURES / fixture
    planner = Planner(parse_text(path.read_text()))
    row = planner.evaluate(Scenario("std"))
    hts = hspace_answer(["-t", str(path)], ours=False)
    assert row["instances"] == int(hts["HTS_ALLOC_INSTANCES"])
    assert hts["HTS_ALLOC_FAIL_REASON"] == HTS_REASON[row["limiting"]]


def test_added_nodes_are_a_bigger_cluster() -> None:
    grown = simu(6).evaluate(Scenario("a", spec=SMALL, add=(NodeModel(2, 65536, 1 << 20, 16),)))
    bigger = simu(8).evaluate(Scenario("b", spec=SMALL))
    for key in ("nodes", "instances", "limiting", "mem_avail", "dsk_avail", "score"):
        assert grown[key] == bigger[key], key


def test_removed_nodes_are_evacuated() -> None:
    """Decommissioning moves the node's instances away first (hail's node-evacuate)."""
    planner = simu()
    row = planner.evaluate(Scenario("rm", spec=SMALL, remove=("node-01-001",)))
    assert (row["evacuated"], row["evac_failed"]) == (0, 0)  # empty cluster: nothing to move
    assert row["nodes"] == 5
    assert row["instances"] == planner.evaluate(
        Scenario("off", spec=SMALL, offline=("node-01-001",)))["instances"]


@requires_shared
def test_removal_on_a_cluster_with_instances() -> None:
    data = parse_text((GANETI_FIXTURES / "hspace-existing.data").read_text())
    planner = Planner(data, template="drbd")
    node = data.nodes[0].name
    touching = sum(1 for i in data.instances if data.nodes[i.pnode].name == node
                   or (i.snode >= 0 and data.nodes[i.snode].name == node))
    assert touching > 0
    row = planner.evaluate(Scenario("rm", remove=(node,)))
    assert row["evacuated"] + row["evac_failed"] == touching
    assert row["nodes"] == sum(not n.offline for n in data.nodes) - 1


def test_preload_then_measure_is_one_fill() -> None:
    """Without big steps (no capacity checks) growth first changes nothing in the total."""
    planner = Planner(load_simu(["p,6,1t,64g,16"]), template="drbd", capacity=False)
    whole = planner.evaluate(Scenario("w", spec=SMALL))
    split = planner.evaluate(Scenario("s", spec=SMALL, preload=((SMALL, 7),)))
    assert split["preloaded"] == 7
    assert split["instances"] + 7 == whole["instances"]
    assert split["limiting"] == whole["limiting"]


def test_mix_of_one_spec_is_standard() -> None:
    planner = Planner(load_simu(["p,6,1t,64g,16"]), template="drbd", capacity=False)
    std = planner.evaluate(Scenario("s", spec=SMALL))
    mix = planner.evaluate(Scenario("m", mode="mix", mix=((SMALL, 1),)))
    assert mix["instances"] == std["instances"]
    assert mix["specs"] == "%d,%d,%d,%d=%d" % (SMALL.mem, SMALL.dsk, SMALL.cpu, SMALL.spn,
                                               std["instances"])


def test_mix_keeps_the_ratio_and_the_limit() -> None:
    planner = simu()
    row = planner.evaluate(Scenario("m", mode="mix", mix=((SMALL, 3), (LARGE, 1))))
    counts = [int(p.split("=")[1]) for p in row["specs"].split()]
    assert sum(counts) == row["instances"]
    assert counts[0] in (3 * counts[1], 3 * counts[1] + 1, 3 * counts[1] + 2, 3 * counts[1] + 3)
    capped = planner.evaluate(Scenario("c", mode="mix", mix=((SMALL, 3), (LARGE, 1)), limit=5))
    assert (capped["instances"], capped["limiting"]) == (5, "limit")


def test_scenarios_leave_the_base_alone() -> None:
    planner = simu()
    node, peers = planner.base.node.copy(), planner.base.peers.copy()
    first = planner.evaluate(Scenario("a", spec=SMALL, remove=("node-01-003",)))
    planner.evaluate(Scenario("b", mode="tiered", spec=LARGE, offline=("node-01-001",)))
    assert np.array_equal(planner.base.node, node) and np.array_equal(planner.base.peers, peers)
    assert planner.evaluate(Scenario("a", spec=SMALL, remove=("node-01-003",))) == first


@pytest.mark.parametrize("bad, message", [
    (Scenario("x", offline=("nope",)), "unknown node 'nope'"),
    (Scenario("x", remove=("nope",)), "unknown node 'nope'"),
    (Scenario("x", add=(NodeModel(1, 1024, 1024, 1, group="nope"),)), "unknown group"),
    (Scenario("x", add=(NodeModel(2, 1024, 1024, 1, prefix="node-01"),)), "already in use"),
    (Scenario("x", template="floppy"), "unknown disk template"),
])
def test_bad_scenarios_fail_before_the_sweep(bad: Scenario, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        sweep(simu(), [Scenario("fine"), bad])


SCENARIOS = [Scenario("now", spec=SMALL), Scenario("off", spec=LARGE, offline=("node-01-002",)),
             Scenario("mix", mode="mix", mix=((SMALL, 2), (LARGE, 1))),
             Scenario("rack", spec=SMALL, add=(NodeModel(1, 65536, 1 << 20, 16),)),
             Scenario("rm", spec=SMALL, remove=("node-01-006",))]


def quick() -> Planner:
    """A planner whose runs are short (no capacity checks): the sweep machinery is tested."""
    return Planner(load_simu(["p,6,1t,64g,16"]), template="drbd", capacity=False)


def test_sweep_table_is_the_rows_in_order() -> None:
    planner = quick()
    table = sweep(planner, SCENARIOS)
    assert list(table["scenario"]) == [sc.name for sc in SCENARIOS]
    rows = pd.DataFrame([planner.evaluate(sc) for sc in SCENARIOS], columns=list(COLUMNS))
    assert table.equals(rows)


@pytest.fixture(scope="module")
def local_ray():
    """A Ray instance on this machine (Ray dropped its in-process local mode)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def test_ray_gives_the_same_table(local_ray) -> None:
    """Worker processes read the planner from the object store and agree with in-process."""
    planner = quick()
    assert sweep(planner, SCENARIOS, ray="local").equals(sweep(planner, SCENARIOS))
    assert local_ray.is_initialized()  # a Ray the caller started is left running
