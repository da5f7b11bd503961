"""The cluster generator: deterministic, self-consistent, and accepted by Ganeti's hbal.

Differential tests and benchmarks trust generated clusters to be valid inputs; a cluster
Ganeti warns about or rejects would test the loader's error paths instead of the balancer.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import REPO, requires_dump_text, requires_ganeti, run_tool

from fixtures.generator import LOCAL_STORAGE, USES_MEMORY, GenParams, generate, label, main
from solver.records import ClusterData, default_ipolicy

SHAPES = {
    "default": GenParams(),
    "bigger": GenParams(nodes=40, instances=320, skew=0.8),
    "uniform": GenParams(nodes=10, instances=60, skew=0.0, fill=0.75),
    "tagged-offline": GenParams(nodes=12, instances=70, exclusion=4, locations=3,
                                offline_nodes=2, size_variation=0.7),
    "states": GenParams(nodes=8, instances=40, down=0.3, offline_instances=0.1, manual=0.2,
                        forthcoming=0.1, util=True, missing_mem=512),
    "templates": GenParams(nodes=8, instances=40, mix=tuple(
        (t, 1.0) for t in ("drbd", "plain", "ext", "diskless", "file", "sharedfile",
                           "blockdev", "rbd", "gluster"))),
    "two-groups": GenParams(nodes=16, instances=90, groups=2),
    "three-groups-split": GenParams(nodes=15, instances=80, groups=3, split=0.2),
}
CASES = [pytest.param(p, s, id=f"{name}-seed{s}") for name, p in SHAPES.items()
         for s in range(5)]


def test_same_seed_same_cluster() -> None:
    params = SHAPES["tagged-offline"]
    assert generate(params, 7) == generate(params, 7)
    assert generate(params, 7) != generate(params, 8)


def test_labels_are_distinct() -> None:
    labels = [label(i) for i in range(26 * 27)]
    assert len(set(labels)) == len(labels)
    assert labels[:3] == ["a", "b", "c"] and labels[26] == "ba"


@pytest.mark.parametrize("kwargs", [
    {"nodes": 3, "groups": 2}, {"offline_nodes": 8}, {"fill": 1.0},
    {"mix": (("raid5", 1.0),)}, {"mix": (("drbd", 0.0),)},
], ids=["too-few-nodes", "all-offline", "full", "bad-template", "zero-weights"])
def test_bad_parameters_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        GenParams(**kwargs)


@pytest.mark.parametrize(("params", "seed"), CASES)
def test_cluster_is_consistent(params: GenParams, seed: int) -> None:
    c = generate(params, seed)
    assert (len(c.groups), len(c.nodes), len(c.instances)) == (
        params.groups, params.nodes, params.instances)
    assert sum(n.offline for n in c.nodes) == params.offline_nodes
    assert [n.master for n in c.nodes].count(True) == 1
    names = [n.name for n in c.nodes] + [i.name for i in c.instances]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"(node-\d{3}|inst-\d{4})\.example\.com", n) for n in names)

    policy = default_ipolicy()
    lo, hi = policy.minmax[0]
    for inst in c.instances:
        assert lo.mem <= inst.mem <= hi.mem and lo.cpu <= inst.vcpus <= hi.cpu
        assert inst.dsk <= hi.disk_size and inst.template in policy.disk_templates
        if inst.template == "drbd":
            assert inst.snode >= 0 and inst.snode != inst.pnode
            if not params.split:
                assert c.nodes[inst.snode].group == c.nodes[inst.pnode].group
        else:
            assert inst.snode == -1
    _check_free_resources(c, params.missing_mem)
    _check_tags(c, params)


def _check_free_resources(c: ClusterData, missing_mem: int) -> None:
    """Reported free memory and disk agree with the instances, as Ganeti's loader expects."""
    real = [i for i in c.instances if not i.forthcoming]
    for k, node in enumerate(c.nodes):
        running = sum(i.mem for i in real if i.pnode == k and i.status in USES_MEMORY)
        disks = sum(i.dsk for i in real if i.template in LOCAL_STORAGE and k in (i.pnode,
                                                                                  i.snode))
        unaccounted = node.t_mem - node.n_mem - running - node.f_mem
        assert 0 <= unaccounted <= missing_mem
        assert node.f_mem > 0 and node.f_dsk > 0
        assert node.f_dsk == node.t_dsk - disks


def _check_tags(c: ClusterData, params: GenParams) -> None:
    assert ("htools:iextags:service" in c.cluster_tags) == bool(params.exclusion)
    assert ("htools:nlocation:power" in c.cluster_tags) == bool(params.locations)
    inst_tags = {t for i in c.instances for t in i.tags}
    node_tags = {t for n in c.nodes for t in n.tags}
    assert all(t.startswith("service:") for t in inst_tags)
    assert all(t.startswith("power:") for t in node_tags)
    assert len(inst_tags) <= params.exclusion and len(node_tags) <= params.locations
    if params.locations:
        assert all(len(n.tags) == 1 for n in c.nodes)


@requires_ganeti
@requires_dump_text
@pytest.mark.parametrize(("params", "seed"), CASES)
def test_ganeti_loads_cluster(params: GenParams, seed: int, tmp_path: Path) -> None:
    from htools.backends.text import dump_text

    data = tmp_path / "cluster.data"
    data.write_text(dump_text(generate(params, seed)))
    rc, out, err = run_tool(["hbal", "-t", str(data), "-v", "-l", "0"], ours=False)
    assert "inconsistent data" not in err
    assert f"Loaded {params.nodes} nodes, {params.instances} instances" in out.splitlines()
    if params.groups > 1:
        assert (rc, "Found multiple node groups:") == (1, err.splitlines()[-params.groups - 2])
    else:
        assert rc == 0, err


def _shipped_commands() -> list:
    """The generator command lines that fixtures/data/README.md says made the shipped files."""
    readme = (REPO / "fixtures" / "data" / "README.md").read_text()
    commands = [shlex.split(line)[3:] for line in readme.splitlines()
                if line.startswith("python -m fixtures.generator ")]
    return [pytest.param(args, id=Path(args[args.index("-o") + 1]).name) for args in commands]


@requires_dump_text
@pytest.mark.parametrize("args", _shipped_commands())
def test_shipped_examples_regenerate(args: list[str], tmp_path: Path) -> None:
    out = args.index("-o") + 1
    shipped = REPO / args[out]
    regenerated = tmp_path / "cluster.data"
    assert main([*args[:out], str(regenerated), *args[out + 1:]]) == 0
    assert regenerated.read_text() == shipped.read_text()


@requires_dump_text
def test_command_line_writes_cluster_and_util(tmp_path: Path) -> None:
    from htools.backends.text import parse_text

    data, util = tmp_path / "c.data", tmp_path / "c.util"
    assert main(["--nodes", "6", "--instances", "20", "--seed", "3", "--mix",
                 "drbd=1,ext=1", "-o", str(data), "--util-file", str(util)]) == 0
    loaded = parse_text(data.read_text())
    assert (len(loaded.nodes), len(loaded.instances)) == (6, 20)
    assert {i.template for i in loaded.instances} <= {"drbd", "ext"}
    lines = util.read_text().splitlines()
    assert len(lines) == 20
    assert all(len(line.split(" ")) == 5 for line in lines)
