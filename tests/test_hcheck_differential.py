"""hcheck, ours against Ganeti's: same exit code, stdout and stderr, byte for byte.

Ganeti's text fixtures under the option sets that change the run (human and
machine-readable output, verbosity, no simulation, no capacity checks, move
restrictions, node limits), clusters from our generator, and clusters that
Ganeti's hspace filled from --simulate and saved with -S (hcheck itself has no
--simulate option, so such a cluster reaches it as a text file, as in Ganeti's
own shell tests).

Ganeti 3.0.2's global N+1 check crashes (an IntMap lookup) on a group with
instances whose secondary node is in another group, as in hbal-split-insts.data;
those runs are left out unless --no-capacity-checks turns the check off.
-I requests are compared where the request holds no instances: Ganeti merges a
request's instances into its nodes a second time when another tool than hail
reads it (every figure of such a cluster counts them twice); we do not
reproduce that.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import (
    GANETI_FIXTURES,
    compare_tool,
    fixture_cases,
    instance_free_requests,
    requires_ganeti,
    requires_shared,
    run_tool,
)

from fixtures.generator import GenParams, generate

pytestmark = [pytest.mark.ganeti, requires_ganeti]

OPTION_SETS = {
    "plain": [], "mr": ["--machine-readable"], "vv": ["-v", "-v"], "q": ["-q"],
    "nosim": ["--no-simulation"], "nosim-mr": ["--no-simulation", "--machine-readable"],
    "nocap": ["--no-capacity-checks"], "nocap-mr": ["--no-capacity-checks", "--machine-readable"],
    "no-disk-moves": ["--no-disk-moves", "--machine-readable"],
    "no-inst-moves": ["--no-instance-moves", "--machine-readable"],
    "evac": ["-E", "--machine-readable"], "soft": ["--ignore-soft-errors", "-v", "-v"],
    "l1": ["-l", "1", "--machine-readable"], "ignore-dynu": ["--ignore-dynu"],
    "limits": ["--max-cpu=2", "--min-disk=0.2", "--machine-readable"],
    "gain": ["-g", "0.5", "--min-gain-limit=10", "-e", "0.5", "--machine-readable"],
    "excl": ["--exclusion-tags=service", "--machine-readable"],
    "offline": ["-O", "node-01-001", "--machine-readable"],
}
# The default run: the fixtures where hcheck finds something, and a clean one, in the
# main option sets; the whole matrix is heavy.
DEFAULT_FIXTURES = {"n1-failure", "shared-n1-failure", "hbal-evac", "hbal-excl-tags",
                    "hspace-groups-two", "empty-cluster", "clean-nonzero-score"}
DEFAULT_SETS = {"plain", "mr", "nosim", "nocap-mr"}
GANETI_CRASHES = {"hbal-split-insts"}


def _fixture_cases() -> list:
    crashes = {(stem, name) for stem in GANETI_CRASHES for name, args in OPTION_SETS.items()
               if "--no-capacity-checks" not in args}
    return fixture_cases(lambda stem: OPTION_SETS,
                         lambda stem, name: stem in DEFAULT_FIXTURES and name in DEFAULT_SETS,
                         crashes)


def _compare(args: list[str], cwd: Path) -> None:
    compare_tool(["hcheck", *args], cwd)


@requires_shared
@pytest.mark.parametrize(("path", "args"), _fixture_cases())
def test_ganeti_fixture(path: Path, args: list[str], tmp_path: Path) -> None:
    _compare(["-t", str(path), *args], tmp_path)


@requires_shared
@pytest.mark.parametrize("args", [[], ["--machine-readable"]], ids=["plain", "mr"])
@pytest.mark.parametrize("request_file", instance_free_requests(), ids=lambda p: p.stem)
def test_iallocator_request(request_file: Path, args: list[str], tmp_path: Path) -> None:
    _compare(["-I", str(request_file), *args], tmp_path)


SHAPES = [
    GenParams(nodes=8, instances=30),
    GenParams(nodes=10, instances=36, groups=2),
    GenParams(nodes=8, instances=30, offline_nodes=1, exclusion=2),
    GenParams(nodes=12, instances=60, locations=2, exclusion=3, size_variation=0.5),
    GenParams(nodes=8, instances=40, forthcoming=0.1, manual=0.1, offline_instances=0.05,
              missing_mem=600),
    GenParams(nodes=20, instances=120, skew=1.0, fill=0.8),
    GenParams(nodes=16, instances=90, groups=2, split=0.05),
]
GEN_SETS = [["--machine-readable"], ["-v", "-v"], ["--no-disk-moves", "--machine-readable"]]
SPLIT_SHAPE = len(SHAPES) - 1  # split instances: Ganeti crashes with capacity checks


def _generated(shape: int, seed: int, tmp_path: Path) -> Path:
    from htools.backends.text import dump_text
    data = tmp_path / "cluster.data"
    data.write_text(dump_text(generate(SHAPES[shape], seed)))
    return data


@pytest.mark.parametrize("shape", [2])
def test_generated_cluster_quick(shape: int, tmp_path: Path) -> None:
    _compare(["-t", str(_generated(shape, 0, tmp_path)), "--machine-readable"], tmp_path)


@pytest.mark.heavy
@pytest.mark.parametrize("args", GEN_SETS, ids=" ".join)
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_generated_cluster(shape: int, seed: int, args: list[str], tmp_path: Path) -> None:
    extra = ["--no-capacity-checks"] if shape == SPLIT_SHAPE else []
    _compare(["-t", str(_generated(shape, seed, tmp_path)), *args, *extra], tmp_path)


SIMULATIONS = [
    ["--simulate=p,3,100G,16G,4", "--disk-template=drbd"],
    ["--simulate=p,6,500G,64G,16", "--disk-template=drbd"],
    ["--simulate=p,4,300G,32G,8", "--simulate=a,3,200G,16G,8", "--disk-template=drbd",
     "--tiered-alloc=100G,8G,2"],
    ["--simulate=p,5,200G,32G,8", "--disk-template=plain"],
]


def simulated_cluster(args: list[str], tmp_path: Path) -> list[Path]:
    """The .standard and .tiered files Ganeti's hspace saves for a simulated cluster."""
    prefix = tmp_path / "simu"
    rc, _, err = run_tool(["hspace", *args, "-S", str(prefix)], ours=False, cwd=tmp_path)
    assert rc == 0, err
    return [prefix.with_suffix(".standard"), prefix.with_suffix(".tiered")]


@pytest.mark.parametrize("mr", [pytest.param(False, marks=pytest.mark.heavy), True],
                         ids=["human", "mr"])
@pytest.mark.parametrize("args", [
    pytest.param(a, marks=() if i == 0 else (pytest.mark.heavy,))
    for i, a in enumerate(SIMULATIONS)], ids=lambda a: " ".join(a))
def test_simulated_cluster(args: list[str], mr: bool, tmp_path: Path) -> None:
    for path in simulated_cluster(args, tmp_path):
        _compare(["-t", str(path), *(["--machine-readable"] if mr else [])], tmp_path)


@requires_shared
@pytest.mark.parametrize("argv", [
    ["-t", "/nonexistent/cluster.data"], ["-t", str(GANETI_FIXTURES / "invalid-node.data")],
    ["-t", str(GANETI_FIXTURES / "n1-failure.data"), "-O", "no-such-node"],
    ["-t", str(GANETI_FIXTURES / "n1-failure.data"), "--select-instances=nope"],
    ["-t", str(GANETI_FIXTURES / "n1-failure.data"), "extra-argument"],
    ["-t", str(GANETI_FIXTURES / "n1-failure.data"), "--max-cpu=0"],
    ["-t", str(GANETI_FIXTURES / "n1-failure.data"), "-m", "localhost"],
    ["-I", "/nonexistent/request.json"], ["-U", "/nonexistent/util"],
    [],
], ids=["missing-file", "invalid-node", "bad-offline", "bad-select", "extra-arg", "max-cpu",
        "two-backends", "missing-request", "missing-util", "no-backend"])
def test_bad_input(argv: list[str], tmp_path: Path) -> None:
    _compare(argv, tmp_path)
