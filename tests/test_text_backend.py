"""Tests for htools.backends.text: Ganeti's text cluster format.

Error messages below were checked against Ganeti 3.0.2's hbal; the tests
marked ``ganeti`` re-check them, and compare our ``-S`` serialisation with
the ``.original`` file hbal writes, whenever the binary is installed.
"""

from __future__ import annotations

import math
import random
import subprocess
from pathlib import Path

import pytest

from htools.backends.text import dump_text, load_text, parse_text
from htools.errors import DataError
from solver.records import ISpec, default_ipolicy

HBAL = Path("/usr/lib/ganeti/3.0/usr/bin/hbal")
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures" / "ganeti"
FIXTURE_FILES = sorted(FIXTURES.glob("*.data")) if FIXTURES.is_dir() else []
LOAD_ERROR = "Error: failed to load data, aborting: "

needs_hbal = pytest.mark.skipif(not HBAL.exists(), reason="Ganeti's hbal is not installed")
needs_fixtures = pytest.mark.skipif(not FIXTURE_FILES, reason="../shared fixtures are absent")


def ganeti_load(content: str, tmp_path: Path) -> tuple[str, str | None]:
    """Run hbal on ``content``: ("error", msg), ("ok", .original text) or ("empty", None)."""
    data = tmp_path / "input.data"
    data.write_bytes(content.encode())
    prefix = tmp_path / "out"
    result = subprocess.run([str(HBAL), "-t", str(data), "-S", str(prefix)],
                            capture_output=True)
    stderr = result.stderr.decode()
    if LOAD_ERROR in stderr:
        return "error", stderr.split(LOAD_ERROR, 1)[1].removesuffix("\n")
    original = prefix.with_suffix(".original")
    if original.exists():
        return "ok", original.read_bytes().decode()
    return "empty", None


def ours(content: str) -> tuple[str, str]:
    try:
        return "ok", dump_text(parse_text(content))
    except DataError as err:
        return "error", str(err)


def with_probe_instance(content: str) -> str:
    """Add one instance (and a node if there is none) so that hbal writes its file.

    hbal stops at "Cluster is empty" before ``-S`` when there are no instances.
    """
    lines = content.split("\n")
    blanks = [i for i, line in enumerate(lines) if line == ""]
    if blanks[1] == blanks[0] + 1:  # no nodes: add one to the first group
        group_uuid = lines[0].split("|")[1]
        lines.insert(blanks[0] + 1, f"probe-node|1024|0|1024|10240|10240|4|N|{group_uuid}|1")
        blanks = [i for i, line in enumerate(lines) if line == ""]
    first_node = lines[blanks[0] + 1].split("|")[0]
    lines.insert(blanks[1] + 1, f"probe-instance|128|1024|1|running|Y|{first_node}||plain|")
    return "\n".join(lines)


# --- a small valid cluster and its variations ---------------------------------------

GROUPS = "group-01|fake-uuid-01|preferred||\n"
NODE1 = "node-01|1024|0|1024|10240|10240|4|N|fake-uuid-01|1\n"
NODE2 = "node-02|1024|0|1024|10240|10240|4|N|fake-uuid-01|1\n"
NODES = NODE1 + NODE2
INSTANCES = "inst1|128|1024|1|running|Y|node-01|node-02|drbd|\n"
POLICY = "|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|diskless,file|4.0|32.0\n"


def cluster(groups: str = GROUPS, nodes: str = NODES, instances: str = INSTANCES,
            tags: str = "", policies: str | None = None) -> str:
    text = f"{groups}\n{nodes}\n{instances}\n{tags}"
    return text if policies is None else f"{text}\n{policies}"


def node1(**columns: str) -> str:
    """NODES with some of node-01's 15 columns replaced (by 1-based number)."""
    fields = "node-01|1024|0|1024|10240|10240|4|N|fake-uuid-01|1||N|0|1|1.0".split("|")
    for key, value in columns.items():
        fields[int(key[1:]) - 1] = value
    return cluster(nodes="|".join(fields) + "\n" + NODE2)


_INSTANCE_COLUMNS = ("name", "mem", "dsk", "vcpus", "status", "auto_bal", "pnode", "snode",
                     "template", "tags", "su", "spindles", "forthcoming")


def inst(**columns: str) -> str:
    """INSTANCES as a full 13-column line with some columns replaced by name."""
    fields = "inst1|128|1024|1|running|Y|node-01|node-02|drbd|t1,t2|2|3|N".split("|")
    for key, value in columns.items():
        fields[_INSTANCE_COLUMNS.index(key)] = value
    return cluster(instances="|".join(fields) + "\n")


def policy(line: str) -> str:
    return cluster(policies=line + "\n")


ERROR_CASES: dict[str, tuple[str, str]] = {
    "no newline at the end": (cluster().rstrip("\n"),
                              "Invalid format of the input file: 3 sections instead of 4 or more"),
    "one section": ("a\n", "Invalid format of the input file: 1 sections instead of 4 or more"),
    "empty file": ("", "Invalid format of the input file: 0 sections instead of 4 or more"),
    "CRLF line ends": (cluster().replace("\n", "\r\n"),
                       "Invalid format of the input file: 1 sections instead of 4 or more"),
    "sections shifted": (f"{GROUPS}\n\n{NODES}\n{INSTANCES}\n",
                         "Unknown node '4' for instance node-01"),
    "group with 3 columns": (cluster(groups="g|u|preferred\n"),
                             "Invalid/incomplete group data: '[\"g\",\"u\",\"preferred\"]'"),
    "bad alloc policy": (cluster(groups='group-01|fake-uuid-01|bogus"é|\n'),
                         'Invalid string value for type AllocPolicy: "bogus\\"\\233"'),
    "node with 8 columns": (
        cluster(nodes="node-01|1024|0|1024|10240|10240|4|N\n"),
        "Invalid/incomplete node data: "
        "'[\"node-01\",\"1024\",\"0\",\"1024\",\"10240\",\"10240\",\"4\",\"N\"]'"),
    "unknown group": (node1(c9="nope"), "Unknown group 'nope' for node node-01"),
    "unknown group before ?": (node1(c2="?", c9="nope"), "Unknown group 'nope' for node node-01"),
    "bad exclusive storage": (node1(c12="X"),
                              "Invalid exclusive_storage value for node 'node-01': X"),
    "trailing blank": (node1(c3=" 1000 "),
                       "node-01: leftover characters when parsing ' 1000 ': ' '"),
    "garbage int": (node1(c3="x"), "node-01: cannot parse string 'x'"),
    "fraction for int": (node1(c3="1.5"), "node-01: cannot parse string '1.5'"),
    "exponent for int": (node1(c3="1e3"), "node-01: cannot parse string '1e3'"),
    "binary literal": (node1(c3="0b101"),
                       "node-01: leftover characters when parsing '0b101': 'b101'"),
    "unbalanced parens": (node1(c3="(5"), "node-01: cannot parse string '(5'"),
    "closing paren": (node1(c3="5)"), "node-01: leftover characters when parsing '5)': ')'"),
    "blank after parens": (node1(c3="( ( 5 ) ) "),
                           "node-01: leftover characters when parsing '( ( 5 ) ) ': ' '"),
    "sign before parens": (node1(c3="-(5)"), "node-01: cannot parse string '-(5)'"),
    "plus sign": (node1(c3="+5"), "node-01: cannot parse string '+5'"),
    "double minus": (node1(c3="--5"), "node-01: cannot parse string '--5'"),
    "letters after int": (node1(c3="5abc"),
                          "node-01: leftover characters when parsing '5abc': 'abc'"),
    "dangling dot": (node1(c3="5."), "node-01: leftover characters when parsing '5.': '.'"),
    "dangling exponent": (node1(c2="1.5e"),
                          "node-01: leftover characters when parsing '1.5e': 'e'"),
    "two dots": (node1(c2="1.5.3"), "node-01: leftover characters when parsing '1.5.3': '.3'"),
    "empty number": (node1(c3=""), "node-01: cannot parse string ''"),
    "carriage return": (node1(c3="5\r"), "node-01: leftover characters when parsing '5\r': '\r'"),
    "arabic digit": (node1(c3="\u0663"), "node-01: cannot parse string '\u0663'"),
    "bare 0x": (node1(c3="0x"), "node-01: leftover characters when parsing '0x': 'x'"),
    "NaN for int": (node1(c3="NaN"), "node-01: cannot parse string 'NaN'"),
    "leading dot": (node1(c2=".5"), "node-01: cannot parse string '.5'"),
    "Inf": (node1(c2="Inf"), "node-01: cannot parse string 'Inf'"),
    "NaNx": (node1(c2="NaNx"), "node-01: cannot parse string 'NaNx'"),
    "octal fraction": (node1(c2="0o7.5"),
                       "node-01: leftover characters when parsing '0o7.5': '.5'"),
    "underscore": (node1(c2="1_000"),
                   "node-01: leftover characters when parsing '1_000': '_000'"),
    "bad cpu speed": (node1(c15="fast"), "node-01: cannot parse string 'fast'"),
    "field order: tmem before nmem": (node1(c2="a", c3="b"), "node-01: cannot parse string 'a'"),
    "field order: ncpu before spindles": (node1(c14="a", c10="b"),
                                          "node-01: cannot parse string 'a'"),
    "field order: cpu speed before free spindles": (node1(c15="a", c13="b"),
                                                    "node-01: cannot parse string 'a'"),
    "field order: numbers before exclusive storage": (node1(c13="b", c12="X"),
                                                      "node-01: cannot parse string 'b'"),
    "instance with 9 columns": (
        cluster(instances="inst1|128|1024|1|running|Y|node-01|node-02|drbd\n"),
        "Invalid/incomplete instance data: '[\"inst1\",\"128\",\"1024\",\"1\",\"running\","
        "\"Y\",\"node-01\",\"node-02\",\"drbd\"]'"),
    "unknown primary": (inst(pnode="nope"), "Unknown node 'nope' for instance inst1"),
    "unknown secondary": (inst(snode="nope"), "Unknown node 'nope' for instance inst1"),
    "bad memory": (inst(mem="x"), "inst1: cannot parse string 'x'"),
    "bad disk": (inst(dsk="1.5"), "inst1: cannot parse string '1.5'"),
    "blank vcpus": (inst(vcpus=" 1 "), "inst1: leftover characters when parsing ' 1 ': ' '"),
    "bad status": (inst(status="Running"),
                   'Invalid string value for type InstanceStatus: "Running"'),
    "bad auto_balance": (inst(auto_bal="y"), "Invalid auto_balance value 'y' for instance inst1"),
    "bad template": (inst(template="DRBD"),
                     'Instance inst1: Invalid string value for type DiskTemplate: "DRBD"'),
    "bad spindle use": (inst(su="a"), "inst1: cannot parse string 'a'"),
    "bad spindles": (inst(spindles="?"), "inst1: cannot parse string '?'"),
    "bad forthcoming": (inst(forthcoming="n"), "Invalid forthcoming value 'n' for instance inst1"),
    "drbd on one node": (inst(snode="node-01"),
                         "Instance inst1 has same primary and secondary node - node-01"),
    "field order: nodes before numbers": (inst(snode="nope", mem="x"),
                                          "Unknown node 'nope' for instance inst1"),
    "field order: status before auto_balance": (
        inst(status="bad", auto_bal="x"), 'Invalid string value for type InstanceStatus: "bad"'),
    "field order: forthcoming before same node": (
        inst(forthcoming="q", snode="node-01"),
        "Invalid forthcoming value 'q' for instance inst1"),
    "show escapes in field list": (
        cluster(instances='ïnst"\\x\t\x7f\x0eH\x01é1|1|2\n'),
        "Invalid/incomplete instance data: "
        "'[\"\\239nst\\\"\\\\x\\t\\DEL\\SO\\&H\\SOH\\233\\&1\",\"1\",\"2\"]'"),
    "duplicate group name as owner": (
        cluster(groups=GROUPS + "group-01|fake-uuid-02|preferred||\n",
                policies="group-01|1,1,1,1,1,1|||1|1\n"),
        "Wrong number of elems found with name group-01"),
    "policy with 5 columns": (policy("|1,2,3,4,5,6|||7"),
                              "Invalid ipolicy data: '[\"\",\"1,2,3,4,5,6\",\"\",\"\",\"7\"]'"),
    "policy line of one bar": (policy("|"), "Invalid ipolicy data: '[\"\",\"\"]'"),
    "short std spec": (policy("|1,2,3,4,5|||7|8"),
                       'Invalid ispec data for /stdspec: ["1","2","3","4","5"]'),
    "bad std spec": (policy("|1,x,3,4,5,6|||7|8"), "/stdspec/cpucount: cannot parse string 'x'"),
    "odd min/max": (policy("|1,2,3,4,5,6|1,1,1,1,1,1|drbd|7|8"),
                    "Odd number of min/max specs for "),
    "std spec checked before min/max": (policy("|1,2,3,4,5|1,1,1,1,1,1|drbd|7|8"),
                                        'Invalid ispec data for /stdspec: ["1","2","3","4","5"]'),
    "odd count before spec contents": (policy("grp|1,2,3,4,5,6|1,1|drbd|7|8"),
                                       "Odd number of min/max specs for grp"),
    "bad min spec": (policy("g|1,2,3,4,5,6|1,1,1,1,1,y;2,2,2,2,2,2|drbd|7|8"),
                     "g/minspec/spindleuse: cannot parse string 'y'"),
    "bad max spec": (policy("g|1,2,3,4,5,6|1,1,1,1,1,1;2,2,2,2,q,2|drbd|7|8"),
                     "g/maxspec/niccount: cannot parse string 'q'"),
    "short max spec": (policy("g|1,2,3,4,5,6|1,1,1,1,1,1;2,2|drbd|7|8"),
                       'Invalid ispec data for g/maxspec: ["2","2"]'),
    "bad policy template": (policy("|1,2,3,4,5,6||drbd,bogus|7|8"),
                            'Invalid string value for type DiskTemplate: "bogus"'),
    "bad vcpu ratio": (policy("g|1,2,3,4,5,6||drbd|x|8"), "g/vcpu_ratio: cannot parse string 'x'"),
    "bad spindle ratio": (policy("g|1,2,3,4,5,6||drbd|1|8 "),
                          "g/spindle_ratio: leftover characters when parsing '8 ': ' '"),
    "unknown policy owner": (policy("nogroup|1,2,3,4,5,6||drbd|1|8"),
                             "Wrong number of elems found with name nogroup"),
}

VALID_CASES: dict[str, str] = {
    "base": cluster(),
    "four sections": f"{GROUPS}\n{NODES}\n{INSTANCES}\n",
    "group with 4 columns": cluster(groups="group-01|fake-uuid-01|preferred|t1,t2\n"),
    "group with 6 columns": cluster(
        groups="group-01|fake-uuid-01|last_resort|t1,|n1,n2|extra\n"),
    "unicode group": cluster(groups="grü|fake-uuid-01|preferred|t\x01ag|\n"),
    "? node": node1(c2="?", c8="M", c10="x", c11="t", c12="X", c13="y", c14="z", c15="w"),
    "? in free disk": node1(c3="x", c6="?"),
    "hex and octal ints": node1(c3="0x10", c4="0X1f", c6="0o17"),
    "parens and signs": node1(c3="(5)", c4="- 5", c6="(-5)", c13=" 5", c14="\t5"),
    "unicode blanks": node1(c3="\xa05", c4="\u20035"),
    "int wraps around": node1(c3="99999999999999999999", c4="-9223372036854775809"),
    "huge ints wrap": node1(c3="7" * 5000, c4="-" + "9" * 4500, c6="(" + "123456789" * 600 + ")"),
    "huge literals": node1(c2="0x" + "f" * 300, c3="0x" + "f" * 40, c5="1" * 5000,
                           c7="0." + "0" * 400 + "1"),
    "float spellings": node1(c2="1e3", c5="4000.5", c7="(1.5)"),
    "more float spellings": node1(c2="4001.5", c5="1e+2", c7="1E-2"),
    "NaN and infinities": node1(c2="NaN", c5="Infinity", c7="-Infinity", c15="-NaN"),
    "negative zero": node1(c2="-0", c5="-0.4", c7="0.5"),
    "huge floats": node1(c2="1e400", c5="123456789012345678901234567890", c15="1e22"),
    "cpu speeds": node1(c15="1e-7") + "node-03|1|0|1|1|1|1|M|fake-uuid-01|1|a,b|Y|3|2|1.5|x\n",
    "instance defaults": cluster(
        instances="i1|1|2|3|running|Y|node-01|node-02|drbd|t\n"
        "i2|1|2|3|running|Y|node-01||plain|t|4\n"
        "i3|1|2|3|running|Y|node-01||plain|t|4|5\n"
        "i4|1|2|3|running|Y|node-01||plain|t|4|-|Y|extra\n"),
    "all statuses and templates": cluster(instances="".join(
        f"i{k}|1|2|3|{status}|N|node-02|node-01|{template}|\n"
        for k, (status, template) in enumerate(zip(
            ["running", "ERROR_up", "ADMIN_down", "ADMIN_offline", "ERROR_down", "USER_down",
             "ERROR_nodedown", "ERROR_nodeoffline", "ERROR_wrongnode"],
            ["diskless", "file", "sharedfile", "plain", "blockdev", "drbd", "rbd", "ext",
             "gluster"], strict=True)))),
    "same node for plain": inst(snode="node-01", template="plain"),
    "drbd without secondary": inst(snode="", template="drbd"),
    "empty tags": inst(tags=",a,,b,"),
    "odd characters in names": inst(name='ïnst"\\x\t\x7f\x0e\x0eH\x01é1'),
    "duplicate node names": cluster(nodes=NODES + NODE1.replace("|1024|0|", "|2048|0|")),
    "duplicate group uuids": cluster(groups=GROUPS + "group-02|fake-uuid-01|preferred||\n"),
    "cluster policy": policy(POLICY.rstrip("\n")),
    "group policy": policy(
        "group-01|1,2,3,4,5,6|1,1,1,1,1,1;9,9,9,9,9,9;2,2,2,2,2,2;8,8,8,8,8,8|drbd|2.5|0.1"),
    "group policy by uuid": policy("fake-uuid-01|1,2,3,4,5,6||plain|1e1|16"),
    "two cluster policies": cluster(policies=POLICY + "|1,2,3,4,5,6|||7|8\n"),
    "extra policy fields": policy("|1,2,3,4,5,6,7|1,1,1,1,1,1,9;2,2,2,2,2,2|drbd|7|8|junk"),
    "ratios in show form": policy("|1,2,3,4,5,6||drbd|0.01|12345678"),
    "more ratios": policy("|1,2,3,4,5,6||drbd|-0.5|1e7"),
    "policy number spellings": policy("|0x10,(2),-3,4,5,6||drbd|9999999|0.1"),
    "policy in tags section": cluster(tags=POLICY),
    "tags": cluster(tags="htools:iextags:x\n  \nfoo|bar\n"),
    "extra sections": cluster(tags="tag\n", policies=POLICY + "\nmore\n\nstuff\n"),
    "empty policy section": cluster(tags="tag\n", policies="\n"),
}


# --- parsing ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ERROR_CASES)
def test_error_messages(name: str) -> None:
    content, message = ERROR_CASES[name]
    with pytest.raises(DataError) as excinfo:
        parse_text(content)
    assert str(excinfo.value) == message


@pytest.mark.parametrize("name", VALID_CASES)
def test_valid_inputs_parse(name: str) -> None:
    parse_text(VALID_CASES[name])


def test_parsed_fields() -> None:
    data = parse_text(cluster(
        nodes="node-01|1024.5|10|1000|10240|9000|4|M|fake-uuid-01\n"
              "node-02|2048|0|2048|20480|20480|8|Y|fake-uuid-01|3|a,b|Y|2|5|2.5\n",
        instances="inst1|128|1024|2|ADMIN_down|N|node-01|node-02|drbd|x,y|3|7|Y\n"
                  "inst2|256|512|1|running|Y|node-02||plain|\n",
        tags="htools:iextags:service\n",
        policies="fake-uuid-01|1,2,3,4,5,6||plain,drbd|2.5|16\n"))
    n1, n2 = data.nodes
    assert (n1.t_mem, n1.n_mem, n1.f_mem, n1.t_dsk, n1.f_dsk, n1.t_cpu) == (
        1024.5, 10, 1000, 10240.0, 9000, 4.0)
    assert (n1.master, n1.offline, n1.t_spindles, n1.tags, n1.excl_storage) == (
        True, False, 1, [], False)
    assert (n1.f_spindles, n1.n_cpu, n1.cpu_speed, n1.group) == (0, 1, 1.0, 0)
    assert (n2.master, n2.offline, n2.t_spindles, n2.tags, n2.excl_storage) == (
        False, True, 3, ["a", "b"], True)
    assert (n2.f_spindles, n2.n_cpu, n2.cpu_speed) == (2, 5, 2.5)
    i1, i2 = data.instances
    assert (i1.mem, i1.dsk, i1.vcpus, i1.status, i1.auto_balance) == (
        128, 1024, 2, "ADMIN_down", False)
    assert (i1.pnode, i1.snode, i1.template, i1.tags, i1.spindle_use) == (
        0, 1, "drbd", ["x", "y"], 3)
    assert (i1.disks, i1.forthcoming) == ([(1024, 7)], True)
    assert (i2.snode, i2.spindle_use, i2.disks, i2.forthcoming) == (-1, 1, [(512, None)], False)
    assert data.cluster_tags == ["htools:iextags:service"]
    assert data.ipolicy == default_ipolicy()
    group_policy = data.groups[0].ipolicy
    assert group_policy.std == ISpec(1, 2, 3, 4, 5, 6)
    assert group_policy.minmax == []
    assert group_policy.disk_templates == ["plain", "drbd"]
    assert (group_policy.vcpu_ratio, group_policy.spindle_ratio) == (2.5, 16.0)


def test_question_mark_node_is_offline_and_empty() -> None:
    node = parse_text(VALID_CASES["? node"]).nodes[0]
    assert node.offline and not node.master
    assert (node.t_mem, node.f_mem, node.t_dsk, node.t_cpu, node.n_cpu) == (0, 0, 0, 0, 0)
    assert (node.t_spindles, node.f_spindles, node.tags, node.cpu_speed) == (0, 0, [], 1.0)


def test_haskell_number_spellings() -> None:
    nodes = parse_text(VALID_CASES["hex and octal ints"]).nodes
    assert (nodes[0].n_mem, nodes[0].f_mem, nodes[0].f_dsk) == (16, 31, 15)
    nodes = parse_text(VALID_CASES["parens and signs"]).nodes
    assert (nodes[0].n_mem, nodes[0].f_mem, nodes[0].f_dsk) == (5, -5, -5)
    nodes = parse_text(VALID_CASES["int wraps around"]).nodes
    assert (nodes[0].n_mem, nodes[0].f_mem) == (7766279631452241919, 9223372036854775807)
    node = parse_text(VALID_CASES["NaN and infinities"]).nodes[0]
    assert math.isnan(node.t_mem) and node.t_dsk == math.inf and node.t_cpu == -math.inf
    node = parse_text(VALID_CASES["negative zero"]).nodes[0]
    assert math.copysign(1, node.t_mem) == -1


def test_duplicate_names_resolve_to_the_last_one() -> None:
    data = parse_text(VALID_CASES["duplicate node names"])
    assert data.instances[0].pnode == 2
    data = parse_text(VALID_CASES["duplicate group uuids"])
    assert {node.group for node in data.nodes} == {1}


def test_load_text_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.data"
    with pytest.raises(DataError, match=r": openFile: does not exist \(No such file"):
        load_text(str(missing))
    with pytest.raises(DataError) as excinfo:
        load_text(str(tmp_path))
    assert str(excinfo.value) == f"{tmp_path}: openFile: inappropriate type (is a directory)"
    bad = tmp_path / "bad.data"
    bad.write_bytes(b"a\xff\n")
    with pytest.raises(DataError, match="invalid byte sequence"):
        load_text(str(bad))


# --- serialisation and round trips ---------------------------------------------------


def test_dump_layout() -> None:
    text = dump_text(parse_text(cluster(tags="t1\n")))
    assert text == (
        "group-01|fake-uuid-01|preferred||\n\n"
        "node-01|1024|0|1024|10240|10240|4|N|fake-uuid-01|1||N|0|1|1.0\n"
        "node-02|1024|0|1024|10240|10240|4|N|fake-uuid-01|1||N|0|1|1.0\n\n"
        "inst1|128|1024|1|running|Y|node-01|node-02|drbd||1|-|N\n\n"
        "t1\n\n"
        "|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|"
        "diskless,file,sharedfile,plain,blockdev,drbd,rbd,ext,gluster|4.0|32.0\n"
        "group-01|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|"
        "diskless,file,sharedfile,plain,blockdev,drbd,rbd,ext,gluster|4.0|32.0\n")


ROUND_TRIP_CASES = [name for name in VALID_CASES
                    if name not in ("NaN and infinities", "float spellings",
                                    "more float spellings", "negative zero", "huge floats",
                                    "cpu speeds", "duplicate node names",
                                    "duplicate group uuids", "extra sections",
                                    "group with 6 columns", "instance defaults")]


@pytest.mark.parametrize("name", ROUND_TRIP_CASES)
def test_round_trip(name: str) -> None:
    """parse -> dump -> parse gives equal records (inputs whose values dump exactly)."""
    data = parse_text(VALID_CASES[name])
    assert parse_text(dump_text(data)) == data


@pytest.mark.parametrize("name", VALID_CASES)
def test_dump_is_a_fixed_point(name: str) -> None:
    once = dump_text(parse_text(VALID_CASES[name]))
    assert dump_text(parse_text(once)) == once


@needs_fixtures
@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixture_round_trip(path: Path) -> None:
    if path.name == "invalid-node.data":  # the one fixture meant not to load
        with pytest.raises(DataError, match="^Unknown node 'no-such-node' for instance new-0$"):
            load_text(str(path))
        return
    data = load_text(str(path))
    assert parse_text(dump_text(data)) == data


# --- against Ganeti's hbal --------------------------------------------------------------


@pytest.mark.ganeti
@needs_hbal
@needs_fixtures
@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixture_matches_hbal(path: Path, tmp_path: Path) -> None:
    """Our dump equals hbal's ``.original``; load errors carry hbal's message.

    Fixtures without instances make hbal stop before writing, so those are
    checked with one extra instance added to both inputs.
    """
    content = path.read_text()
    expected = ganeti_load(content, tmp_path)
    if expected[0] == "empty":
        content = with_probe_instance(content)
        expected = ganeti_load(content, tmp_path)
        assert expected[0] == "ok"
        assert ours(content) == expected
    elif expected[0] == "ok":
        assert dump_text(load_text(str(path))) == expected[1]
    else:
        with pytest.raises(DataError) as excinfo:
            load_text(str(path))
        assert str(excinfo.value) == expected[1]


@pytest.mark.ganeti
@needs_hbal
@pytest.mark.parametrize("name", ERROR_CASES)
def test_error_messages_match_hbal(name: str, tmp_path: Path) -> None:
    content, message = ERROR_CASES[name]
    assert ganeti_load(content, tmp_path) == ("error", message)


@pytest.mark.ganeti
@needs_hbal
@pytest.mark.parametrize("name", VALID_CASES)
def test_valid_inputs_match_hbal(name: str, tmp_path: Path) -> None:
    assert ours(VALID_CASES[name]) == ganeti_load(VALID_CASES[name], tmp_path)


def _random_double(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return repr(rng.uniform(-1, 1) * 10.0 ** rng.randint(-9, 25))
    if kind == 1:
        return f"{rng.randrange(10**6)}.5"
    if kind == 2:
        return f"{rng.randrange(10**7)}5e-{rng.randint(1, 9)}"
    if kind == 3:  # ties between two 17-digit strings
        return repr(rng.randrange(2**50, 2**51) + rng.choice([0.25, 0.75]))
    if kind == 4:  # large doubles, where the shortest string can sit on a boundary
        return repr(float(rng.randrange(2**53) << rng.randint(1, 30)))
    return repr(float(rng.randrange(10**9)))


@pytest.mark.ganeti
@needs_hbal
def test_random_floats_serialise_like_hbal(tmp_path: Path) -> None:
    """%.0f, %f and show of many doubles, as written into hbal's ``-S`` file."""
    rng = random.Random(3)
    groups, nodes, policies = [], [], []
    for g in range(60):
        groups.append(f"g{g}|uuid-{g}|preferred||")
        policies.append(f"g{g}|1,1,1,1,1,1||drbd|{_random_double(rng)}|{_random_double(rng)}")
        for n in range(4):
            nodes.append(f"n{g}-{n}|{_random_double(rng)}|0|0|{_random_double(rng)}|0|"
                         f"{_random_double(rng)}|N|uuid-{g}|1||N|0|1|{_random_double(rng)}")
    content = cluster(groups="\n".join(groups) + "\n", nodes="\n".join(nodes) + "\n",
                      instances="i|1|1|1|running|Y|n0-0||plain|\n",
                      policies="\n".join(policies) + "\n")
    assert ours(content) == ganeti_load(content, tmp_path)
