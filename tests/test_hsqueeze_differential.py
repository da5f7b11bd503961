"""hsqueeze, ours against Ganeti's: same exit code, stdout and stderr, byte for byte.

Ganeti's text fixtures under the option sets that change the plan or its printing,
simulated and generated clusters (some built to have standby nodes or nodes that only
host externally mirrored instances), bad input, and the -S and -C files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import (
    GANETI_FIXTURES,
    compare_tool,
    fixture_cases,
    requires_ganeti,
    requires_shared,
)
from test_hroller_differential import SIMULATIONS, files_written, simulated, written

from fixtures.generator import GenParams, generate

pytestmark = [pytest.mark.ganeti, requires_ganeti]

SETS = {
    "plain": [],
    "v2-C": ["-v", "-v", "-C"],
    "target0": ["--target-resources=0", "-C", "--no-headers"],
    "target1": ["--target-resources=1.0", "-v", "-v"],
    "min0": ["--minimal-resources=0", "-C"],
    "expand": ["--minimal-resources=4.0", "--target-resources=5.0", "-C", "-v", "-v"],
    "exec": ["-X", "--target-resources=0"],
    "no-headers": ["--no-headers", "--target-resources=3"],
}
GENERAL = {"common-suffix", "hbal-dyn", "hbal-evac", "hspace-groups-two", "invalid-node",
           "unique-reboot-order", "empty-cluster"}


def _default(stem: str, name: str) -> bool:
    return stem.startswith("hsqueeze-") or (stem in GENERAL and name == "v2-C")


def _compare(args: list[str], cwd: Path) -> None:
    compare_tool(["hsqueeze", *args], cwd)


@requires_shared
@pytest.mark.parametrize(("path", "args"), fixture_cases(lambda stem: SETS, _default))
def test_ganeti_fixture(path: Path, args: list[str], tmp_path: Path) -> None:
    _compare(["-t", str(path), *args], tmp_path)


@requires_shared
@pytest.mark.parametrize("args", [["extra-argument"], ["--minimal-resources=x"],
                                  ["-X", "--minimal-resources=4", "--target-resources=5"]],
                         ids=" ".join)
def test_options(args: list[str], tmp_path: Path) -> None:
    _compare(["-t", str(GANETI_FIXTURES / "hsqueeze-overutilized.data"), *args], tmp_path)


@pytest.mark.parametrize("extra", [
    ["-v", "-v", "-C"],
    pytest.param(["--target-resources=0.5", "-C"], marks=pytest.mark.heavy)], ids=" ".join)
@pytest.mark.parametrize("args", [SIMULATIONS[0], *(pytest.param(a, marks=pytest.mark.heavy)
                                                    for a in SIMULATIONS[1:])], ids=" ".join)
def test_simulated_cluster(args: list[str], extra: list[str], tmp_path: Path) -> None:
    _compare(["-t", str(simulated(args, tmp_path)), *extra], tmp_path)


SHAPES = [
    GenParams(nodes=8, instances=24, mix=(("ext", 0.8), ("drbd", 0.2)), fill=0.3),
    GenParams(nodes=10, instances=40, groups=2, mix=(("ext", 0.6), ("plain", 0.2),
                                                     ("diskless", 0.2)), fill=0.5),
    GenParams(nodes=8, instances=40, offline_nodes=2, mix=(("ext", 0.9), ("drbd", 0.1)),
              fill=0.8),
    GenParams(nodes=8, instances=30),
]
GEN_SETS = [["-v", "-v", "-C"], ["--target-resources=0.5", "-C"],
            ["--minimal-resources=6", "--target-resources=8", "-C", "-v", "-v"]]


def _generated(shape: int, seed: int, args: list[str], tmp_path: Path) -> None:
    """A generated cluster whose offline nodes are tagged as standby."""
    cluster = generate(SHAPES[shape], seed)
    for node in cluster.nodes:
        if node.offline:
            node.tags.append("htools:standby:manual")
    _compare(["-t", str(written(cluster, tmp_path)), *args], tmp_path)


@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_generated_cluster_quick(shape: int, tmp_path: Path) -> None:
    _generated(shape, 0, GEN_SETS[shape % len(GEN_SETS)], tmp_path)


@pytest.mark.heavy
@pytest.mark.parametrize("args", GEN_SETS, ids=" ".join)
@pytest.mark.parametrize("seed", range(1, 4))
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_generated_cluster(shape: int, seed: int, args: list[str], tmp_path: Path) -> None:
    _generated(shape, seed, args, tmp_path)


@requires_shared
@pytest.mark.parametrize(("fixture", "args"), [
    ("hsqueeze-underutilized.data", ["--target-resources=0"]),
    ("hsqueeze-overutilized.data", ["--minimal-resources=4.0", "--target-resources=5.0"]),
    ("hsqueeze-overutilized.data", []),
    ("hsqueeze-mixed-instances.data", []),
], ids=lambda x: x if isinstance(x, str) else " ".join(x))
def test_save_files(fixture: str, args: list[str], tmp_path: Path) -> None:
    """-S and -CFILE write the same files as Ganeti's hsqueeze."""
    files_written(["hsqueeze", "-t", str(GANETI_FIXTURES / fixture), *args, "-S", "state",
                   "-Ccmds"], tmp_path)
    assert {p.name for p in (tmp_path / "ours").iterdir()} == {
        "state.original", "state.squeezed", "cmds"}
