"""Tests for the simulation backend (htools.backends.simu).

Unit and number parsing are tested with the shared reader in test_hsread.py.

Tests marked ``ganeti`` run Ganeti's hspace on the same ``--simulate`` values:
with ``-l 0`` it allocates nothing and writes the untouched simulated cluster
to ``<prefix>.tiered``, which we compare field by field (and byte for byte
when the text serialiser is available); bad values must give the same error.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from htools.backends.simu import load_simu
from htools.errors import DataError
from solver.records import default_ipolicy

HSPACE = Path("/usr/lib/ganeti/3.0/usr/bin/hspace")
needs_hspace = pytest.mark.skipif(not HSPACE.exists(), reason="Ganeti's hspace is not installed")
LOAD_ERROR = "Error: failed to load data, aborting: "

# --- load_simu ------------------------------------------------------------------


def test_groups_are_numbered_from_the_last_option() -> None:
    data = load_simu(["p,2,1T,64g,16", "a,3,8T,32g,4,3,True"])
    assert [(g.name, g.uuid, g.alloc_policy) for g in data.groups] == [
        ("group-01", "fake-uuid-01", "last_resort"),
        ("group-02", "fake-uuid-02", "preferred"),
    ]
    assert [n.name for n in data.nodes] == [
        "node-01-001", "node-01-002", "node-01-003", "node-02-001", "node-02-002"]
    assert [n.group for n in data.nodes] == [0, 0, 0, 1, 1]
    assert [n.master for n in data.nodes] == [True, False, False, False, False]
    assert data.instances == [] and data.cluster_tags == []
    assert data.ipolicy == default_ipolicy()
    assert all(g.ipolicy == default_ipolicy() and g.networks == [] for g in data.groups)


def test_node_fields() -> None:
    first, second = load_simu(["u,1,1T,64g,16", "preferred,1,8T,32G,4,3,True"]).nodes
    assert (first.t_mem, first.n_mem, first.f_mem) == (30517.0, 0, 30517)
    assert (first.t_dsk, first.f_dsk, first.t_cpu, first.n_cpu) == (7629394.0, 7629394, 4.0, 1)
    assert (first.t_spindles, first.f_spindles, first.excl_storage) == (3, 0, True)
    assert not first.offline and first.tags == [] and first.cpu_speed == 1.0
    assert (second.t_mem, second.t_dsk, second.t_cpu, second.t_spindles) == (
        65536.0, 953674.0, 16.0, 1)
    assert not second.excl_storage


def test_negative_count_gives_an_empty_group() -> None:
    data = load_simu(["p,-1,1T,1g,1"])
    assert len(data.groups) == 1 and data.nodes == []


SPEC_ERRORS = [
    ("p,4,8T,64g", "Invalid cluster specification, expected 6 comma-separated sections "
                   "(allocation policy, node count, disk size, memory size, number of CPUs, "
                   "spindles) but got 4: 'p,4,8T,64g'"),
    ("", "Invalid cluster specification, expected 6 comma-separated sections (allocation "
         "policy, node count, disk size, memory size, number of CPUs, spindles) but got 0: ''"),
    ("p,4,8T,64g,16,2,True,x",
     "Invalid cluster specification, expected 6 comma-separated sections (allocation policy, "
     "node count, disk size, memory size, number of CPUs, spindles) but got 8: "
     "'p,4,8T,64g,16,2,True,x'"),
    ("x,4,8T,64g,16", 'Invalid string value for type AllocPolicy: "x"; '
                      "Cannot parse AllocPolicy abbreviation 'x'"),
    ("p,x,8T,64g,16", "node count: cannot parse string 'x'"),
    ("p,4,8Q,64g,16", "disk size: Unknown unit 'Q'"),
    ("p,4,x,64g,16", "disk size: Can't parse string 'x'"),
    ("p,4,8T,1.5g,16", "memory size: Can't parse string '1.5g'"),
    ("p,4,8T,64g,16x", "cpu count: leftover characters when parsing '16x': 'x'"),
    ("p,4,8T,64g,16,", "spindles: cannot parse string ''"),
    ("p,4,8T,64g,16,x", "spindles: cannot parse string 'x'"),
    ("p,4,8T,64g,16,2,true", "exclusive storage: cannot parse string 'true'"),
    ("p,4,8T,64g,16,2, True ", "exclusive storage: leftover characters when parsing "
                               "' True ': ' '"),
    ("p,4,8T,64g,16,2,(True", "exclusive storage: cannot parse string '(True'"),
    ("p,4,8T,64g,16,2,True)", "exclusive storage: leftover characters when parsing "
                              "'True)': ')'"),
    ("p,4,8T,64g,16,2,Truex", "exclusive storage: cannot parse string 'Truex'"),
    ("p,4,8T,64g,16,2,\u2003True)", "exclusive storage: leftover characters when parsing "
                                    "'\u2003True)': ')'"),
]


@pytest.mark.parametrize(("spec", "message"), SPEC_ERRORS)
def test_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(DataError) as err:
        load_simu([spec])
    assert str(err.value) == message


def test_boolean_forms() -> None:
    for text, value in (("True", True), ("False", False), ("( True )", True), (" False", False),
                        ("\u2003True", True), ("(\u3000False )", False)):
        assert load_simu([f"p,1,1g,1g,1,1,{text}"]).nodes[0].excl_storage is value


def test_errors_are_found_from_the_last_option() -> None:
    with pytest.raises(DataError, match="^cpu count"):
        load_simu(["p,x,1g,1g,1", "p,1,1g,1g,x"])


# --- differential tests against Ganeti --------------------------------------------


def _hspace(tmp_path: Path, specs: list[str]) -> subprocess.CompletedProcess[str]:
    args = [str(HSPACE)]
    for spec in specs:
        args += ["--simulate", spec]
    # A UTF-8 locale, or Ganeti cannot decode non-ASCII arguments.
    return subprocess.run([*args, "-S", str(tmp_path / "sim"), "-l", "0"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "LC_ALL": "C.UTF-8"})


SIMULATIONS = [
    ["p,4,8T,64g,16"],
    ["p,2,8T,64g,16", "a,3,1T,32G,4,3,True"],
    ["u,1,100,200,1,0,False", "last_resort,2,2 GiB,1 TB,32,12", "preferred,3,(7)g,0x40g,2"],
    ["p,1,-5,10,3"],
    ["p,1,1000MB,3M,1", "a,2,1gb,7 mib,2,4", "u,1,1 tb,1TiB,1"],
    ["p,1,\u20031g,1g,1,1,\u2003True", "a,2,1g,(\u30002 )g,1,1,( \u3000False)"],
]


@needs_hspace
@pytest.mark.ganeti
@pytest.mark.parametrize("specs", SIMULATIONS, ids=["+".join(s) for s in SIMULATIONS])
def test_against_hspace(tmp_path: Path, specs: list[str]) -> None:
    _hspace(tmp_path, specs)
    written = (tmp_path / "sim.tiered").read_text()
    sections = written.split("\n\n")
    group_lines = sections[0].splitlines()
    node_lines = sections[1].splitlines()
    data = load_simu(specs)

    assert [line.split("|") for line in group_lines] == [
        [g.name, g.uuid, g.alloc_policy, "", ""] for g in data.groups]
    expected_nodes = []
    for node in data.nodes:
        role = "M" if node.master else "N"
        expected_nodes.append([
            node.name, f"{node.t_mem:.0f}", str(node.n_mem), str(node.f_mem),
            f"{node.t_dsk:.0f}", str(node.f_dsk), f"{node.t_cpu:.0f}", role,
            data.groups[node.group].uuid, str(node.t_spindles), "",
            "Y" if node.excl_storage else "N", str(node.f_spindles), str(node.n_cpu), "1.0"])
    assert [line.split("|") for line in node_lines] == expected_nodes

    try:
        from htools.backends.text import dump_text
    except ImportError:
        return
    assert dump_text(data) == written


@needs_hspace
@pytest.mark.ganeti
@pytest.mark.parametrize(
    "specs",
    [[spec] for spec, _ in SPEC_ERRORS] + [["p,x,1g,1g,1", "p,1,1g,1g,x"]],
    ids=[spec for spec, _ in SPEC_ERRORS] + ["two-bad-options"],
)
def test_errors_against_hspace(tmp_path: Path, specs: list[str]) -> None:
    proc = _hspace(tmp_path, specs)
    assert proc.returncode == 1
    with pytest.raises(DataError) as err:
        load_simu(specs)
    assert proc.stderr == f"{LOAD_ERROR}{err.value}\n"
