"""hroller, ours against Ganeti's: same exit code, stdout and stderr, byte for byte.

Ganeti's text fixtures under the option sets that change the plan or its printing,
simulated and generated clusters, bad input, and the -S file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import (
    GANETI_FIXTURES,
    assert_same_output,
    compare_tool,
    fixture_cases,
    requires_ganeti,
    requires_shared,
    run_tool,
)

from fixtures.generator import GenParams, generate
from solver.records import ClusterData

pytestmark = [pytest.mark.ganeti, requires_ganeti]

SETS = {
    "plain": [],
    "v3-moves": ["-v", "-v", "-v", "--print-moves"],
    "full": ["--full-evacuation", "--print-moves", "-v", "-v"],
    "one-step": ["--one-step-only", "--print-moves", "--full-evacuation"],
    "skip": ["--skip-non-redundant", "--no-headers"],
    "ignore": ["--ignore-non-redundant", "--print-moves", "--full-evacuation"],
    "offline-maint": ["--offline-maintenance", "-v", "-v", "-v"],
    "force-q": ["--force", "-q", "--one-step-only"],
    "group": ["-G", "group-01", "--print-moves"],
    "tags": ["--node-tags=red,blue", "--print-moves"],
}
# hroller's own fixtures and the clusters of its shell tests run these sets by default;
# the general fixtures below run one set (moves, statistics, evacuation); the rest is heavy.
OWN = {"unique-reboot-order", "multiple-tags", "multiple-master"}
DEFAULT_SETS = {"plain", "v3-moves", "full", "one-step", "ignore"}
GENERAL = {"common-suffix", "empty-cluster", "hbal-evac", "hbal-split-insts", "n1-failure",
           "hspace-groups-two", "invalid-node", "missing-resources"}


def _own(stem: str) -> bool:
    return stem.startswith("hroller-") or stem in OWN


def _default(stem: str, name: str) -> bool:
    return (_own(stem) and name in DEFAULT_SETS) or (stem in GENERAL and name == "full")


def _compare(args: list[str], cwd: Path) -> None:
    compare_tool(["hroller", *args], cwd)


@requires_shared
@pytest.mark.parametrize(("path", "args"), fixture_cases(lambda stem: SETS, _default))
def test_ganeti_fixture(path: Path, args: list[str], tmp_path: Path) -> None:
    _compare(["-t", str(path), *args], tmp_path)


@requires_shared
@pytest.mark.parametrize("args", [
    ["-O", "node-01-002", "--ignore-non-redundant"],
    ["-O", "node-01-003,node-01-002"],
    ["-O", "no-such-node"],
    ["-G", "no-such-group"],
    ["-G", "fake-uuid-01"],
    ["--node-tags=none"],
    ["--full-evacuation", "--ignore-non-redundant", "--skip-non-redundant"],
    ["extra-argument"],
], ids=" ".join)
def test_options(args: list[str], tmp_path: Path) -> None:
    _compare(["-t", str(GANETI_FIXTURES / "unique-reboot-order.data"), *args], tmp_path)


SIMULATIONS = [
    ["--simulate=p,3,100G,8G,4"],
    ["--simulate=p,4,100G,16G,8", "--simulate=a,2,100G,8G,4"],
    ["--simulate=p,6,200G,32G,8", "--disk-template=plain"],
]


def simulated(args: list[str], tmp_path: Path) -> Path:
    """A --simulate cluster filled by hspace's standard allocation, saved with -S.

    Ganeti's hroller and hsqueeze take no --simulate, so, as in Ganeti's shell
    tests, hspace plays the simulation out and writes it as a text file.
    """
    rc, _, err = run_tool(["hspace", *args, "-S", str(tmp_path / "sim")], ours=True,
                          cwd=tmp_path)
    assert rc == 0, err
    return tmp_path / "sim.standard"


@pytest.mark.parametrize("extra", [
    [], ["--force", "--print-moves", "-v", "-v", "-v"],
    pytest.param(["--force", "--full-evacuation", "--print-moves"], marks=pytest.mark.heavy)],
    ids=" ".join)
@pytest.mark.parametrize("args", [SIMULATIONS[0], *(pytest.param(a, marks=pytest.mark.heavy)
                                                    for a in SIMULATIONS[1:])], ids=" ".join)
def test_simulated_cluster(args: list[str], extra: list[str], tmp_path: Path) -> None:
    """Simulated clusters have no master: an error, or a warning with --force."""
    _compare(["-t", str(simulated(args, tmp_path)), *extra], tmp_path)


SHAPES = [
    GenParams(nodes=8, instances=30),
    GenParams(nodes=12, instances=50, groups=2, split=0.1),
    GenParams(nodes=10, instances=40, offline_nodes=1, forthcoming=0.1,
              mix=(("drbd", 0.5), ("plain", 0.3), ("diskless", 0.2))),
    GenParams(nodes=40, instances=200, fill=0.8, size_variation=1.0),
]
GEN_SETS = [["--print-moves", "-v", "-v", "-v"],
            ["--full-evacuation", "--print-moves", "-v", "-v"],
            ["--offline-maintenance", "--print-moves", "--one-step-only"],
            ["--skip-non-redundant", "--full-evacuation", "--print-moves"]]


def written(cluster: ClusterData, tmp_path: Path) -> Path:
    """The cluster as a text data file."""
    from htools.backends.text import dump_text
    data = tmp_path / "cluster.data"
    data.write_text(dump_text(cluster))
    return data


def _generated(shape: int, seed: int, args: list[str], tmp_path: Path) -> None:
    _compare(["-t", str(written(generate(SHAPES[shape], seed), tmp_path)), *args], tmp_path)


@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_generated_cluster_quick(shape: int, tmp_path: Path) -> None:
    _generated(shape, 0, GEN_SETS[shape % 2], tmp_path)


@pytest.mark.heavy
@pytest.mark.parametrize("args", GEN_SETS, ids=" ".join)
@pytest.mark.parametrize("seed", range(1, 4))
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_generated_cluster(shape: int, seed: int, args: list[str], tmp_path: Path) -> None:
    _generated(shape, seed, args, tmp_path)


def files_written(argv: list[str], tmp_path: Path) -> None:
    """Run Ganeti's tool and ours each in a directory of its own; same output, same files."""
    results = []
    for ours in (False, True):
        out = tmp_path / ("ours" if ours else "theirs")
        out.mkdir()
        res = run_tool(argv, ours=ours, cwd=out)
        results.append((res, {p.name: p.read_text() for p in sorted(out.iterdir())}))
    assert_same_output(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]
    assert results[0][1], "the tool wrote no file"


@requires_shared
def test_save_file(tmp_path: Path) -> None:
    """-S writes the same .original file as Ganeti's hroller."""
    files_written(["hroller", "-t", str(GANETI_FIXTURES / "hroller-full.data"), "-S", "state"],
                  tmp_path)
    assert (tmp_path / "ours" / "state.original").is_file()
