"""hspace, ours against Ganeti's: same exit code, stdout and stderr, byte for byte.

Every Ganeti text fixture under the option sets that change the run (human and
machine-readable output, the -v maps and bad-item lists, group handling, limits, other
templates and specs), simulated clusters, generated clusters, and the -S files.
Ganeti 3.0.2 crashes on hbal-split-insts.data with --independent-groups or -v -v -v -v
(an IntMap lookup of a group index); those two cases are left out.
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
    run_tool,
)

from fixtures.generator import GenParams, generate

pytestmark = [pytest.mark.ganeti, requires_ganeti]

HSPACE_SETS = {
    "plain": [], "mr": ["--machine-readable"],
    "nocap": ["--no-capacity-checks", "--machine-readable"],
    "v4": ["-v", "-v", "-v", "-v"], "indep": ["--independent-groups"],
    "accept-l5": ["--accept-existing-errors", "-l", "5"],
    "p": ["-pname,pcnt,fmem,fdsk"], "l0": ["-l", "0", "--machine-readable"],
    "tiered": ["--tiered-alloc=100G,8G,2"],
    "std": ["--standard-alloc=10G,1G,1", "--machine-readable"],
    "plain-tpl": ["--disk-template=plain"], "diskless": ["--disk-template=diskless"],
    "su2": ["--spindle-use=2", "--machine-readable"], "q": ["-q"],
    "max-cpu": ["--max-cpu=2"], "min-disk": ["--min-disk=0.5"],
}
OTHER_SETS = {"plain": [], "mr": ["--machine-readable"], "v4": ["-v", "-v", "-v", "-v"]}
GANETI_CRASHES = {("hbal-split-insts", "v4"), ("hbal-split-insts", "indep")}


# The default run: hspace's own fixtures under the main option sets; the rest (other
# fixtures, where tiered shrinking walks take Ganeti and us up to minutes) is heavy.
DEFAULT_SETS = {"plain", "mr", "v4", "indep"}


def _fixture_cases() -> list:
    def own(stem: str) -> bool:
        return stem.startswith("hspace-")
    return fixture_cases(lambda stem: HSPACE_SETS if own(stem) else OTHER_SETS,
                         lambda stem, name: own(stem) and name in DEFAULT_SETS,
                         GANETI_CRASHES)


def _compare(args: list[str], cwd: Path) -> None:
    compare_tool(["hspace", *args], cwd)


@requires_shared
@pytest.mark.parametrize(("path", "args"), _fixture_cases())
def test_ganeti_fixture(path: Path, args: list[str], tmp_path: Path) -> None:
    _compare(["-t", str(path), *args], tmp_path)


SIMULATIONS = [
    ["--simulate=p,3,100G,8G,4"],
    ["--simulate=p,5,200G,32G,8", "--disk-template=plain"],
    ["--simulate=p,4,500G,64G,16", "--disk-template=drbd", "--tiered-alloc=100G,16G,4"],
    ["--simulate=p,6,300G,32G,8", "--disk-template=diskless"],
    ["--simulate=p,4,100G,16G,8", "--simulate=a,2,100G,8G,4", "--disk-template=drbd"],
    ["--simulate=p,4,100G,16G,8,2", "--disk-template=plain", "-l", "7", "-v", "-v"],
]


@pytest.mark.parametrize("mr", [pytest.param(False, marks=pytest.mark.heavy), True],
                         ids=["human", "mr"])
@pytest.mark.parametrize("args", SIMULATIONS, ids=lambda a: " ".join(a))
def test_simulated_cluster(args: list[str], mr: bool, tmp_path: Path) -> None:
    _compare([*args, *(["--machine-readable"] if mr else [])], tmp_path)


SHAPES = [
    GenParams(nodes=8, instances=30),
    GenParams(nodes=10, instances=36, groups=2),
    GenParams(nodes=8, instances=30, offline_nodes=1, exclusion=2),
]
GEN_SETS = [["--machine-readable"], ["--independent-groups", "--disk-template=drbd"],
            ["--accept-existing-errors", "-l", "20", "--machine-readable"]]


@pytest.mark.parametrize("args", GEN_SETS[:2], ids=" ".join)
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_generated_cluster_quick(shape: int, args: list[str], tmp_path: Path) -> None:
    test_generated_cluster(shape, 0, args, tmp_path)


@pytest.mark.heavy
@pytest.mark.parametrize("args", GEN_SETS, ids=" ".join)
@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_generated_cluster(shape: int, seed: int, args: list[str], tmp_path: Path) -> None:
    from htools.backends.text import dump_text
    data = tmp_path / "cluster.data"
    data.write_text(dump_text(generate(SHAPES[shape], seed)))
    _compare(["-t", str(data), *args], tmp_path)


@requires_shared
@pytest.mark.parametrize("fixture", ["hspace-tiered.data", "hspace-tiered-exclusive.data",
                                     "hspace-groups-two.data"])
def test_save_files(fixture: str, tmp_path: Path) -> None:
    """-S writes the same .tiered and .standard files as Ganeti's hspace."""
    files = []
    for ours in (False, True):
        out = tmp_path / ("ours" if ours else "theirs")
        out.mkdir()
        run_tool(["hspace", "-t", str(GANETI_FIXTURES / fixture), "-S", str(out / "state"),
                  "--accept-existing-errors"], ours=ours, cwd=out)
        files.append({p.name: p.read_text() for p in sorted(out.iterdir())})
    assert files[0] == files[1]
    assert set(files[0]) == {"state.tiered", "state.standard"}
