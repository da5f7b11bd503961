"""hail, ours against Ganeti's: same exit code, stdout and stderr, byte for byte.

Requests come from Ganeti's own ``hail-*.json`` fixtures (in ../shared) under the options
that change the answer, and from ``fixtures.requests`` over generated clusters: new
instances of each template, multi-allocations, relocations, evacuations in every mode and
group changes, on clusters with several groups, offline nodes, exclusion and location tags.
The ``-v -v`` request dump (Haskell ``show`` of Ganeti's internal records) is not compared.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import GANETI_FIXTURES, GANETI_HAIL, assert_same_output, requires_shared, run_tool

from fixtures.generator import GenParams, generate
from fixtures.requests import VARIANTS, random_requests, request_json, uniform_multi, vary

pytestmark = [pytest.mark.ganeti, pytest.mark.skipif(
    not GANETI_HAIL.is_file(),
    reason=f"Ganeti's hail missing: {GANETI_HAIL} (apt-get install ganeti-htools-3.0)")]

OPTION_SETS = [[], ["--no-capacity-checks"], ["--ignore-soft-errors"], ["-p"],
               ["--restrict-allocation-to=node1,node2"]]
FIXTURES = sorted(p.name for p in GANETI_FIXTURES.glob("hail-*.json")) \
    if GANETI_FIXTURES.is_dir() else []

SHAPES = [
    GenParams(nodes=6, instances=20),
    GenParams(nodes=8, instances=30, groups=2),
    GenParams(nodes=10, instances=40, exclusion=2, locations=2),
    GenParams(nodes=8, instances=30, offline_nodes=1, skew=0.9),
    GenParams(nodes=12, instances=60, groups=3,
              mix=(("drbd", 0.6), ("plain", 0.2), ("ext", 0.2))),
    GenParams(nodes=9, instances=45, forthcoming=0.1, down=0.3, fill=0.8),
]


def _compare(args: list[str]) -> None:
    theirs = run_tool(["hail", *args], ours=False)
    ours = run_tool(["hail", *args], ours=True)
    assert_same_output(theirs, ours)


@requires_shared
@pytest.mark.parametrize("options", OPTION_SETS, ids=" ".join)
@pytest.mark.parametrize("fixture", FIXTURES)
def test_ganeti_fixtures(fixture: str, options: list[str]) -> None:
    _compare([*options, str(GANETI_FIXTURES / fixture)])


# -t replaces the request's cluster; these pairs once differed: the replacement's
# load warnings, a new instance's desired location read with the request's cluster
# tags, a score that is a decimal tie at the eighth digit (Haskell's printf), a
# relocation whose source node index only Ganeti's check reads, and a crash.
REPLACED_DEFAULT = [("hail-alloc-drbd.json", "partly-used.data"),
                    ("hail-alloc-desired-location.json", "hroller-full.data"),
                    ("hail-alloc-plain-tags.json", "hbal-cpu-speed.data"),
                    ("hail-alloc-nlocation.json", "hspace-bad-group.data"),
                    ("hail-multialloc-dedicated.json", "hbal-location-1.data"),
                    ("hail-reloc-drbd-crowded.json", "hbal-dyn.data"),
                    ("hail-node-evac.json", "partly-used.data")]
DATA_FIXTURES = sorted(p.name for p in GANETI_FIXTURES.glob("*.data")) \
    if GANETI_FIXTURES.is_dir() else []
REPLACED = [pytest.param(r, d, marks=() if (r, d) in REPLACED_DEFAULT else pytest.mark.heavy)
            for r in FIXTURES for d in DATA_FIXTURES]


@requires_shared
@pytest.mark.parametrize(("request_file", "data_file"), REPLACED)
def test_replaced_cluster(request_file: str, data_file: str) -> None:
    """hail -t DATA REQUEST: Ganeti's fixtures crossed with its cluster files.

    The request names instances by their index in its own data; where the
    replacement lacks one, Ganeti's hail crashes (``IntMap.!``) and ours
    says so in one line, with the same exit code and output before it.
    """
    args = ["-t", str(GANETI_FIXTURES / data_file), str(GANETI_FIXTURES / request_file)]
    theirs = run_tool(["hail", *args], ours=False)
    ours = run_tool(["hail", *args], ours=True)
    if "IntMap.!" not in theirs[2]:
        assert_same_output(theirs, ours)
        return
    before = theirs[2][:theirs[2].index("hail: IntMap.!")]
    assert (ours[0], ours[1]) == (theirs[0], theirs[1])
    assert ours[2].startswith(before)
    assert ours[2][len(before):].startswith("Error: the request's ")
    assert ours[2][len(before):].count("\n") == 1


def _generated(shape: int, seed: int, tmp_path: Path, variant: str = "plain") -> list[Path]:
    cluster = vary(generate(SHAPES[shape], seed), variant, np.random.default_rng(seed))
    paths = []
    for j, req in enumerate(random_requests(cluster, seed)):
        path = tmp_path / f"{req['type']}-{j}.json"
        path.write_text(request_json(cluster, req), encoding="utf-8")
        paths.append(path)
    return paths


@pytest.mark.parametrize("seed", range(1))
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_generated_requests(shape: int, seed: int, tmp_path: Path) -> None:
    for path in _generated(shape, seed, tmp_path):
        for options in ([], ["--no-capacity-checks"]):
            _compare([*options, str(path)])


_DRBD = (("drbd", 1.0),)
FILL_SHAPES = [  # N+1-redundant drbd clusters that take a few dozen more instances
    GenParams(nodes=8, instances=30, groups=2, exclusion=2, fill=0.2, mix=_DRBD, skew=0.0),
    GenParams(nodes=30, instances=100, fill=0.25, mix=_DRBD, skew=0.0),
    GenParams(nodes=40, instances=100, groups=2, fill=0.2, mix=_DRBD, skew=0.0),
]
FILL_SPECS = [(1024, 10240, ()), (4096, 51200, ()), (512, 2048, ("service:0",))]


@pytest.mark.parametrize("spec", range(len(FILL_SPECS)))
@pytest.mark.parametrize("shape", range(len(FILL_SHAPES)))
def test_uniform_multi_allocate(shape: int, spec: int, tmp_path: Path) -> None:
    """Many identical instances: the entries after the first reuse the pair scores."""
    mem, disk, tags = FILL_SPECS[spec]
    path = tmp_path / "fill.json"
    path.write_text(request_json(generate(FILL_SHAPES[shape], shape),
                                 uniform_multi(30, mem, disk, tags)), encoding="utf-8")
    for options in ([], ["--no-capacity-checks"]):
        _compare([*options, str(path)])


@pytest.mark.parametrize("variant", VARIANTS[1:])
@pytest.mark.parametrize("shape", [2, 4])
def test_generated_variants(shape: int, variant: str, tmp_path: Path) -> None:
    for path in _generated(shape, 7, tmp_path, variant):
        _compare([str(path)])


@pytest.mark.heavy
@pytest.mark.parametrize("variant", VARIANTS[1:])
@pytest.mark.parametrize("seed", range(8, 20))
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_generated_variants_many(shape: int, seed: int, variant: str, tmp_path: Path) -> None:
    for path in _generated(shape, seed, tmp_path, variant):
        for options in ([], ["--no-capacity-checks"]):
            _compare([*options, str(path)])


@pytest.mark.heavy
@pytest.mark.parametrize("seed", range(1, 30))
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_generated_requests_many(shape: int, seed: int, tmp_path: Path) -> None:
    for path in _generated(shape, seed, tmp_path):
        for options in ([], ["--no-capacity-checks"], ["--ignore-soft-errors"]):
            _compare([*options, str(path)])
