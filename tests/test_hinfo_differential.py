"""hinfo, ours against Ganeti's: same exit code, stdout and stderr, byte for byte.

Ganeti's text fixtures under the verbosity levels, node and instance tables and
-O, clusters from our generator, clusters that Ganeti's hspace filled from
--simulate and saved with -S (hinfo has no --simulate option), instance-free
iallocator requests (-I; see test_hcheck_differential for why requests with
instances differ), and bad input.  Ganeti's hinfo has no machine-readable output.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import (
    GANETI_FIXTURES,
    assert_same_output,
    compare_tool,
    fixture_cases,
    instance_free_requests,
    requires_ganeti,
    requires_shared,
    run_tool,
)
from test_hcheck_differential import SHAPES, SIMULATIONS, simulated_cluster

from fixtures.generator import generate

pytestmark = [pytest.mark.ganeti, requires_ganeti]

OPTION_SETS = {
    "plain": [], "vv": ["-v", "-v"], "vvv": ["-v", "-v", "-v"], "q": ["-q"],
    "tables": ["-v", "-v", "-p", "--print-instances"],
    "all": ["-v", "-v", "-v", "-p", "--print-instances"],
    "fields": ["-pname,pcnt,scnt,plist,slist,ptags,peermap,fqdn,idx"],
    "offline": ["-O", "node-01-001", "-v", "-v"], "ignore-dynu": ["--ignore-dynu"],
    "kvm-mem": ["--static-kvm-node-memory=0", "-v", "-v"],
}
DEFAULT_SETS = {"all"}


def _fixture_cases() -> list:
    return fixture_cases(lambda stem: OPTION_SETS, lambda stem, name: name in DEFAULT_SETS)


def _compare(args: list[str], cwd: Path) -> None:
    compare_tool(["hinfo", *args], cwd)


@requires_shared
@pytest.mark.parametrize(("path", "args"), _fixture_cases())
def test_ganeti_fixture(path: Path, args: list[str], tmp_path: Path) -> None:
    _compare(["-t", str(path), *args], tmp_path)


@requires_shared
@pytest.mark.parametrize("request_file", instance_free_requests(), ids=lambda p: p.stem)
def test_iallocator_request(request_file: Path, tmp_path: Path) -> None:
    _compare(["-I", str(request_file), "-v", "-v", "-v", "-p"], tmp_path)


@pytest.mark.parametrize("shape", [
    pytest.param(s, marks=() if s in (1, 6) else (pytest.mark.heavy,))
    for s in range(len(SHAPES))])
@pytest.mark.parametrize("seed", [0, pytest.param(1, marks=pytest.mark.heavy)])
def test_generated_cluster(shape: int, seed: int, tmp_path: Path) -> None:
    from htools.backends.text import dump_text
    data = tmp_path / "cluster.data"
    data.write_text(dump_text(generate(SHAPES[shape], seed)))
    _compare(["-t", str(data), "-v", "-v", "-v", "-p", "--print-instances"], tmp_path)


@pytest.mark.parametrize("args", [
    pytest.param(a, marks=() if i == 0 else (pytest.mark.heavy,))
    for i, a in enumerate(SIMULATIONS)], ids=lambda a: " ".join(a))
def test_simulated_cluster(args: list[str], tmp_path: Path) -> None:
    for path in simulated_cluster(args, tmp_path):
        _compare(["-t", str(path), "-v", "-v", "-p", "--print-instances"], tmp_path)


@requires_shared
@pytest.mark.parametrize("argv", [
    ["-t", "/nonexistent/cluster.data"], ["-t", str(GANETI_FIXTURES / "invalid-node.data")],
    ["-t", str(GANETI_FIXTURES / "n1-failure.data"), "-O", "no-such-node"],
    ["-t", str(GANETI_FIXTURES / "n1-failure.data"), "extra-argument"],
    ["-t", str(GANETI_FIXTURES / "n1-failure.data"), "-m", "localhost"],
    ["-I", "/nonexistent/request.json"], ["--machine-readable"], [],
], ids=["missing-file", "invalid-node", "bad-offline", "extra-arg", "two-backends",
        "missing-request", "no-machine-readable", "no-backend"])
def test_bad_input(argv: list[str], tmp_path: Path) -> None:
    theirs, ours = (run_tool(["hinfo", *argv], ours=o, cwd=tmp_path) for o in (False, True))
    if theirs[0] == 2:  # a command-line error: the usage text that follows is each tool's own
        assert (ours[0], ours[1], ours[2].splitlines()[:1]) == \
            (theirs[0], theirs[1], theirs[2].splitlines()[:1])
    else:
        assert_same_output(theirs, ours)
