"""The iallocator request parser (spec §2.3): Ganeti's fixtures and its error messages.

Unit tests check what a parsed request holds.  The differential test feeds
Ganeti's hail a long list of malformed requests, built here by mutating its own
fixtures, and checks that ``parse_request`` rejects exactly those that hail
rejects while parsing, with hail's message (what follows ``Error: ``).
"""

from __future__ import annotations

import copy
import io
import json
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from conftest import GANETI_FIXTURES, GANETI_HAIL, requires_shared, run_tool

from htools.backends.external import UsageError, load_external
from htools.backends.iallocator import (
    RequestFileError,
    _decode,
    _Fail,
    _Obj,
    _parse_instance,
    _pretty,
    _quick_instance,
    _TextJSON,
    _to_float,
    _to_int,
    _to_str,
    load_request,
    parse_request,
)
from htools.errors import DataError
from solver.requests import (
    Allocate,
    AllocateSecondary,
    ChangeGroup,
    MultiAllocate,
    NodeEvacuate,
    Relocate,
)

requires_hail = pytest.mark.skipif(
    not GANETI_HAIL.is_file(),
    reason=f"Ganeti's reference hail missing: {GANETI_HAIL} (apt-get install ganeti-htools-3.0)")

FIXTURES = sorted(p.name for p in GANETI_FIXTURES.glob("hail-*.json")) \
    if GANETI_FIXTURES.is_dir() else []


def fixture_text(name: str) -> str:
    return (GANETI_FIXTURES / name).read_text(encoding="utf-8")


def fixture(name: str) -> Any:
    return json.loads(fixture_text(name))


def parsed(name: str):
    return parse_request(fixture_text(name))


def error_of(text: str) -> str:
    with pytest.raises(DataError) as info:
        parse_request(text)
    return str(info.value)


# ---------------------------------------------------------------------------
# Ganeti's fixtures


@requires_shared
def test_all_fixtures_parse_except_the_invalid_one():
    assert len(FIXTURES) == 19
    for name in FIXTURES:
        if name == "hail-invalid-reloc.json":
            assert error_of(fixture_text(name)) == \
                "invalid request dict: key 'name': Unable to read String"
        else:
            parsed(name)


@requires_shared
def test_allocate_drbd():
    req = parsed("hail-alloc-drbd.json")
    data = req.data
    assert [g.name for g in data.groups] == ["default"]
    assert data.groups[0].uuid == "uuid-group-1"
    assert data.groups[0].ipolicy.minmax[0][0].disk_size == 128
    assert data.groups[0].ipolicy.disk_templates[0] == "sharedfile"
    assert [n.name for n in data.nodes] == ["node1", "node2", "node3", "node4"]
    assert all(n.group == 0 and not n.offline and n.hypervisor == "xen-pvm" for n in data.nodes)
    assert len(data.instances) == 10
    first = data.instances[0]
    assert (first.name, first.template, first.status) == ("instance14", "drbd", "ADMIN_down")
    assert (first.pnode, first.snode) == (2, 3)
    assert first.disks == [(128, 1)] and first.dsk == 256 and first.auto_balance
    assert first.nics[0]["mode"] == "bridged" and first.nics[0]["network"] is None
    assert data.cluster_tags == ["htools:iextags:test", "htools:iextags:service-group"]
    assert data.ipolicy.disk_templates[0] == "diskless"  # the request's own is not read
    assert req.hypervisor == "xen-pvm"
    r = req.request
    assert isinstance(r, Allocate)
    assert (r.required_nodes, r.group_name, r.restrict_to) == (2, None, None)
    assert (r.instance.name, r.instance.template, r.instance.pnode, r.instance.snode) == \
        ("instance1", "drbd", -1, -1)
    assert r.instance.status == "running" and not r.instance.forthcoming


@requires_shared
def test_allocate_restricted_and_multigroup():
    r = parsed("hail-alloc-drbd-restricted.json").request
    assert isinstance(r, Allocate) and r.restrict_to == ["node-01", "node-02", "node-03"]
    req = parsed("hail-alloc-restricted-network.json")
    assert [g.name for g in req.data.groups] == ["Group 1", "Group 2"]
    assert req.data.groups[0].networks == ["uuid-net-1-1", "uuid-net-1-2"]
    assert [n.group for n in req.data.nodes] == [0, 0, 1, 1]
    assert [nic["network"] for nic in req.request.instance.nics] == \
        ["uuid-net-1-1", "uuid-net-1-2"]


@requires_shared
def test_allocate_spindles_and_dedicated():
    data = parsed("hail-alloc-spindles.json").data
    assert [(n.excl_storage, n.t_spindles, n.f_spindles) for n in data.nodes] == \
        [(False, 2, 1), (False, 2, 0), (False, 2, 1), (False, 2, 0)]
    data = parsed("hail-alloc-dedicated-1.json").data
    assert all(n.excl_storage for n in data.nodes)


@requires_shared
def test_multi_allocate():
    r = parsed("hail-multialloc-dedicated.json").request
    assert isinstance(r, MultiAllocate)
    assert [e.instance.name for e in r.entries] == \
        ["instance-new-quarter-1", "instance-new-quarter-2"]
    assert all(e.required_nodes == 1 for e in r.entries)


@requires_shared
def test_relocate_evacuate_change_group_secondary():
    req = parsed("hail-reloc-drbd.json")
    r = req.request
    names = [n.name for n in req.data.nodes]
    assert isinstance(r, Relocate) and r.required_nodes == 1
    assert req.data.instances[r.instance].name == "instance14"
    assert [names[n] for n in r.relocate_from] == ["node4"]

    req = parsed("hail-node-evac.json")
    r = req.request
    assert isinstance(r, NodeEvacuate) and r.mode == "all"
    assert [req.data.instances[i].name for i in r.instances] == ["instance2"]

    req = parsed("hail-change-group.json")
    r = req.request
    assert isinstance(r, ChangeGroup)
    assert r.target_groups == []
    assert [req.data.instances[i].name for i in r.instances] == ["instance14"]

    req = parsed("hail-alloc-secondary.json")
    r = req.request
    assert isinstance(r, AllocateSecondary)
    assert req.data.instances[r.instance].snode == -1


@requires_shared
def test_offline_and_drained_nodes():
    doc = fixture("hail-alloc-drbd.json")
    node = doc["nodes"]["node1"]
    node["offline"] = True
    for key in ("total_memory", "free_memory", "reserved_memory", "total_disk", "free_disk",
                "total_cpus", "reserved_cpus", "free_spindles"):
        del node[key]
    doc["nodes"]["node2"]["drained"] = True
    doc["nodes"]["node3"]["vm_capable"] = False
    nodes = parse_request(json.dumps(doc)).data.nodes
    assert (nodes[0].offline, nodes[0].t_mem, nodes[0].f_dsk, nodes[0].t_spindles) == \
        (True, 0.0, 0, 1)
    assert nodes[1].offline and nodes[1].drained and nodes[1].t_mem > 0
    assert nodes[2].offline and not nodes[2].vm_capable and nodes[2].t_cpu == 0.0
    assert not nodes[3].offline


# ---------------------------------------------------------------------------
# Text.JSON's quirks, without Ganeti


def test_numbers_round_half_even_and_wrap():
    doc = {"a": [1.5, 2.5, -0.5, 1e2, 18446744073709551617, 1.0]}
    values = _decode(json.dumps(doc))["a"]
    assert [_to_int(v) for v in values] == [2, 2, 0, 100, 1, 1]
    assert _to_float(Decimal("-0.0")) == 0.0 and str(_to_float(Decimal("-0.0"))) == "0.0"
    assert _to_float(10 ** 400) == float("inf")


def _instance_cases() -> list[tuple[str, Any, dict[str, int]]]:
    """Every instance of Ganeti's requests and generated ones, plus odd but valid ones."""
    from fixtures.generator import GenParams, generate
    from fixtures.requests import VARIANTS, random_requests, request_json, vary

    texts = [fixture_text(name) for name in FIXTURES]
    for variant in VARIANTS:
        cluster = vary(generate(GenParams(nodes=6, instances=30, locations=2), 3), variant,
                       np.random.default_rng(3))
        texts.append(request_json(cluster, random_requests(cluster, 3)[0]))
    cases = []
    for text in texts:
        doc = _decode(text)
        nodes = {name: i for i, (name, _) in enumerate(doc["nodes"].pairs)}
        cases += [(name, value, nodes) for name, value in doc["instances"].pairs]
    name, value, nodes = cases[0]
    odd = [("admin_state", "offline"), ("admin_state", None), ("forthcoming", True),
           ("forthcoming", "yes"), ("memory", Decimal("1024.0")), ("tags", [["a", "b"]]),
           ("nodes", []), ("nodes", ["nowhere"]), ("disks", []), ("vcpus", True),
           ("memory", 1 << 64), ("nics", [_decode('{"mode": "routed", "ip": "10.0.0.1"}')])]
    for key, new in odd:
        pairs = [(k, new if k == key else v) for k, v in value.pairs]
        cases.append((name, _Obj(pairs if key in value else [*pairs, (key, new)]), nodes))
    return cases


def test_quick_instance_reader_agrees_with_the_exact_one():
    """The shortcut for well-formed instances gives the exact reader's record, or passes."""
    taken = 0
    for name, value, nodes in _instance_cases():
        quick = _quick_instance(name, value, nodes)
        if quick is None:
            continue
        taken += 1
        assert quick == _parse_instance(name, value, nodes)
    assert taken > 100


def test_strings_may_be_arrays_of_characters():
    assert _to_str(["a", "b"]) == "ab" and _to_str([]) == ""
    with pytest.raises(_Fail, match="Unable to read Char"):
        _to_str(["ab"])


def test_duplicate_keys_first_wins_for_lookups():
    obj = _decode('{"a": 1, "b": 2, "a": 3}')
    assert isinstance(obj, _Obj) and obj["a"] == 1 and obj.keys == ["a", "b", "a"]


def test_exact_decoder_agrees_with_the_fast_one():
    """Random documents: the exact decoder reads what Python's reads."""
    rng = random.Random(7)

    def value(depth: int) -> Any:
        kind = rng.randrange(8 if depth < 4 else 5)
        if kind == 0:
            return rng.choice([None, True, False])
        if kind == 1:
            return rng.randrange(-10 ** 20, 10 ** 20)
        if kind == 2:
            return rng.uniform(-1e6, 1e6)
        if kind in (3, 4):
            return "".join(rng.choice('ab"\\/\n\x01é€\U0001f600 ') for _ in range(5))
        if kind == 5:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {f"k{rng.randrange(9)}": value(depth + 1) for _ in range(rng.randrange(4))}

    def plain(v: Any) -> Any:
        if isinstance(v, _Obj):
            return [(k, plain(x)) for k, x in v.pairs]
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v

    for _ in range(300):
        doc = {"x": value(0)}
        text = json.dumps(doc, ensure_ascii=rng.random() < 0.5,
                          indent=rng.choice([None, 1, "\t"]))
        assert plain(_TextJSON(text).document()) == plain(_decode(text))


def test_exact_decoder_accepts_what_python_refuses():
    assert _decode('{"a":1., "b":\u2003[ ]}\xa0')["a"] == 1
    # Text.JSON keeps the two halves of an escaped surrogate pair apart
    assert _decode('{"a":"\\ud83d\\ude00"}')["a"] == "\ud83d\ude00"


def test_pretty_printing_of_values():
    value = _decode('{"size": 1, "spindles": 2, "mode": "rw", "aaaaaaaaaaaaaaaaaaaa": '
                    '"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "ccc": [1, 2, 3, {"a": "é"}]}')
    assert _pretty(value) == ('{"size": 1, "spindles": 2, "mode": "rw",\n'
                              ' "aaaaaaaaaaaaaaaaaaaa": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",\n'
                              ' "ccc": [1, 2, 3, {"a": "é"}]}')
    assert _pretty(_decode('[1.5, 1e-3, 2.0, "\\u0001\\"", null, true]')) == \
        '[1.5, 1.0e-3, 2, "\\u0001\\"", null, true]'


# ---------------------------------------------------------------------------
# Reading files and the -I backend


@requires_shared
def test_load_request_from_file_and_stdin(monkeypatch, tmp_path):
    path = GANETI_FIXTURES / "hail-node-evac.json"
    assert isinstance(load_request(str(path)).request, NodeEvacuate)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))
    assert isinstance(load_request("-").request, NodeEvacuate)
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"a":"\xff"}')
    with pytest.raises(RequestFileError) as info:
        load_request(str(bad))
    assert str(info.value) == f"{bad}: hGetContents: invalid argument (invalid byte sequence)"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\xff")))
    with pytest.raises(RequestFileError, match=r"^<stdin>: hGetContents: invalid argument"):
        load_request("-")
    with pytest.raises(RequestFileError) as info:
        load_request(str(tmp_path / "missing.json"))
    assert str(info.value) == \
        f"{tmp_path}/missing.json: openFile: does not exist (No such file or directory)"


class _Opts:
    """The options load_external looks at, with only -I given."""

    rapi = luxi = data_file = None
    simulate = ()

    def __init__(self, path: str) -> None:
        self.iallocator_src = path


@requires_shared
def test_external_backend_reads_requests(tmp_path):
    data = load_external(_Opts(str(GANETI_FIXTURES / "hail-alloc-drbd.json")))
    assert len(data.nodes) == 4 and len(data.instances) == 10
    # Ganeti reports a bad request without the "failed to load data" prefix...
    bad = tmp_path / "empty.json"
    bad.write_text("{}")
    with pytest.raises(UsageError) as info:
        load_external(_Opts(str(bad)))
    assert str(info.value) == \
        "invalid iallocator message: key 'request' not found, object contains only []"
    # ... but an unreadable file with it
    with pytest.raises(RequestFileError):
        load_external(_Opts(str(tmp_path / "missing.json")))


# ---------------------------------------------------------------------------
# Differential: Ganeti's hail decides what is malformed and how it says so

DELETE = object()


def mutate(name: str, *changes: tuple[tuple[Any, ...], Any]) -> Callable[[], str]:
    """A request: the fixture with each (path, value) set, or deleted for DELETE."""
    def build() -> str:
        doc = copy.deepcopy(fixture(name))
        for path, value in changes:
            target = doc
            for key in path[:-1]:
                target = target[key]
            if value is DELETE:
                del target[path[-1]]
            else:
                target[path[-1]] = value
        return json.dumps(doc)
    return build


def edit(name: str, transform: Callable[[Any], Any]) -> Callable[[], str]:
    def build() -> str:
        doc = fixture(name)
        return json.dumps(transform(doc))
    return build


def raw(text: str) -> Callable[[], str]:
    return lambda: text


def renamed(doc: Any, suffix: str) -> Any:
    """Every node and instance name given a domain suffix (for alias lookups)."""
    doc["nodes"] = {n + suffix: v for n, v in doc["nodes"].items()}
    for inst in doc["instances"].values():
        inst["nodes"] = [n + suffix for n in inst["nodes"]]
    doc["instances"] = {n + suffix: v for n, v in doc["instances"].items()}
    return doc


def duplicated(name: str, section: str, key: str, entry_of: str | None = None) -> Callable[[], str]:
    """The fixture with an extra ``key`` entry (a copy of ``entry_of``) first in ``section``.

    JSON texts may repeat keys; Python dicts cannot, so this edits the text.
    """
    def build() -> str:
        doc = fixture(name)
        extra = json.dumps(key) + ": " + json.dumps(doc[section][entry_of or key]) + ", "
        text = json.dumps(doc)
        opening = f'"{section}": {{'
        return text.replace(opening, opening + extra, 1)
    return build


def node_named_like_an_alias(doc: Any) -> Any:
    """Nodes ``node2.x.x`` and ``node2.x``: the first one's alias is the second's name."""
    doc = renamed(doc, ".x")
    doc["nodes"] = {("node2.x.x" if n == "node1.x" else n): v for n, v in doc["nodes"].items()}
    for inst in doc["instances"].values():
        inst["nodes"] = [("node2.x.x" if n == "node1.x" else n) for n in inst["nodes"]]
    doc["request"]["name"] += ".x"
    doc["request"]["relocate_from"] = ["node2.x"]
    return doc


def group_named_like_a_uuid(doc: Any) -> Any:
    uuids = list(doc["nodegroups"])
    doc["nodegroups"][uuids[1]]["name"] = uuids[0]
    doc["request"]["target_groups"] = [uuids[0]]
    return doc


DRBD = "hail-alloc-drbd.json"
RELOC = "hail-reloc-drbd.json"
EVAC = "hail-node-evac.json"
CHG = "hail-change-group.json"
MULTI = "hail-multialloc-dedicated.json"
SEC = "hail-alloc-secondary.json"
SPN = "hail-alloc-spindles.json"
G1 = ("nodegroups", "uuid-group-1")
IPOL = (*G1, "ipolicy")
N1 = ("nodes", "node1")
I14 = ("instances", "instance14")
REQ = ("request",)

CASES: dict[str, Callable[[], str]] = {
    # the document
    "empty-object": raw("{}"),
    "empty-text": raw(""),
    "array": raw("[]"),
    "leading-space": raw(' {"request": {}}'),
    "trailing-junk": raw('{} junk "é"\n'),
    "truncated": raw(fixture_text(DRBD)[:500]) if FIXTURES else raw(""),
    "bad-escape": raw('{"request": "\\q"}'),
    "bad-hex": raw('{"request": "\\u12x4"}'),
    "control-char": raw('{"request": "a\tb"}'),
    "nan": raw('{"request": NaN}'),
    "leading-zero": raw('{"request": 012}'),
    "bare-word": raw('{"request": yes}'),
    "unquoted-key": raw("{request: 1}"),
    "missing-colon": raw('{"request" 1}'),
    "unterminated-array": raw('{"request": [1, 2 3]}'),
    "bad-exponent": raw('{"request": 1e+}'),
    "minus-alone": raw('{"request": -x}'),
    "trailing-dot": raw('{"request": 1.}'),
    # top-level keys
    **{f"no-{key}": mutate(DRBD, ((key,), DELETE))
       for key in ("request", "nodegroups", "nodes", "instances", "cluster_tags",
                   "enabled_hypervisors", "ipolicy", "cluster_name", "version")},
    "request-array": mutate(DRBD, (REQ, [])),
    "request-null": mutate(DRBD, (REQ, None)),
    "nodegroups-array": mutate(DRBD, (("nodegroups",), [])),
    "nodes-string": mutate(DRBD, (("nodes",), "x")),
    "instances-null": mutate(DRBD, (("instances",), None)),
    "cluster-tags-string": mutate(DRBD, (("cluster_tags",), "x")),
    "cluster-tags-number": mutate(DRBD, (("cluster_tags",), [1])),
    "cluster-tags-chars": mutate(DRBD, (("cluster_tags",), [["a", "b"], "c"])),
    "cluster-tags-long-chars": mutate(DRBD, (("cluster_tags",), [["ab"]])),
    "hypervisors-string": mutate(DRBD, (("enabled_hypervisors",), "kvm")),
    "hypervisors-unknown": mutate(DRBD, (("enabled_hypervisors",), ["kvm", "vmware"])),
    "hypervisors-number": mutate(DRBD, (("enabled_hypervisors",), [1])),
    "hypervisors-empty": mutate(DRBD, (("enabled_hypervisors",), [])),
    "hypervisors-chars": mutate(DRBD, (("enabled_hypervisors",), [["k", "v", "m"]])),
    # node groups
    "group-not-object": mutate(DRBD, (G1, 1)),
    **{f"group-no-{key}": mutate(DRBD, ((*G1, key), DELETE))
       for key in ("name", "alloc_policy", "networks", "ipolicy", "tags")},
    "group-name-number": mutate(DRBD, ((*G1, "name"), 1)),
    "group-policy-unknown": mutate(DRBD, ((*G1, "alloc_policy"), "sometimes")),
    "group-policy-number": mutate(DRBD, ((*G1, "alloc_policy"), 1)),
    "group-networks-string": mutate(DRBD, ((*G1, "networks"), "net")),
    "group-networks-number": mutate(DRBD, ((*G1, "networks"), [1])),
    "group-tags-null": mutate(DRBD, ((*G1, "tags"), None)),
    "ipolicy-array": mutate(DRBD, (IPOL, [])),
    **{f"ipolicy-no-{key}": mutate(DRBD, ((*IPOL, key), DELETE))
       for key in ("minmax", "std", "disk-templates", "vcpu-ratio", "spindle-ratio")},
    "ipolicy-extra-key": mutate(DRBD, ((*IPOL, "zzz"), 1), ((*IPOL, "aaa"), 2)),
    "ipolicy-minmax-object": mutate(DRBD, ((*IPOL, "minmax"), {})),
    "ipolicy-minmax-empty": mutate(DRBD, ((*IPOL, "minmax"), [])),
    "ipolicy-minmax-no-max": mutate(DRBD, ((*IPOL, "minmax", 0, "max"), DELETE)),
    "ipolicy-minmax-extra": mutate(DRBD, ((*IPOL, "minmax", 0, "mid"), {})),
    "ipolicy-min-bad-cpu": mutate(DRBD, ((*IPOL, "minmax", 0, "min", "cpu-count"), "x")),
    "ipolicy-std-no-disk": mutate(DRBD, ((*IPOL, "std", "disk-size"), DELETE)),
    "ipolicy-std-extra": mutate(DRBD, ((*IPOL, "std", "foo"), 1)),
    "ipolicy-std-float": mutate(DRBD, ((*IPOL, "std", "memory-size"), 128.5)),
    "ipolicy-templates-unknown": mutate(DRBD, ((*IPOL, "disk-templates"), ["drbd", "zfs"])),
    "ipolicy-templates-string": mutate(DRBD, ((*IPOL, "disk-templates"), "drbd")),
    "ipolicy-vcpu-string": mutate(DRBD, ((*IPOL, "vcpu-ratio"), "4")),
    "ipolicy-vcpu-int": mutate(DRBD, ((*IPOL, "vcpu-ratio"), 4)),
    "ipolicy-spindle-null": mutate(DRBD, ((*IPOL, "spindle-ratio"), None)),
    # nodes
    "node-not-object": mutate(DRBD, (N1, [])),
    **{f"node-no-{key}": mutate(DRBD, ((*N1, key), DELETE))
       for key in ("offline", "drained", "group", "ndparams", "total_memory",
                   "reserved_memory", "free_memory", "total_disk", "free_disk",
                   "total_cpus", "reserved_cpus", "free_spindles", "tags", "vm_capable",
                   "master_candidate", "i_pri_memory")},
    "node-no-exclusive-storage": mutate(DRBD, ((*N1, "ndparams", "exclusive_storage"), DELETE)),
    "node-no-spindle-count": mutate(DRBD, ((*N1, "ndparams", "spindle_count"), DELETE)),
    "node-excl-no-total-spindles": mutate(
        DRBD, ((*N1, "ndparams", "exclusive_storage"), True), ((*N1, "ndparams",
                                                                  "spindle_count"), DELETE)),
    "node-excl-total-spindles": mutate(
        DRBD, ((*N1, "ndparams", "exclusive_storage"), True), ((*N1, "total_spindles"), 7)),
    "node-offline-no-live-data": mutate(
        DRBD, ((*N1, "offline"), True), ((*N1, "total_memory"), DELETE),
        ((*N1, "free_disk"), "x"), ((*N1, "reserved_cpus"), DELETE)),
    "node-not-vm-capable": mutate(
        DRBD, ((*N1, "vm_capable"), False), ((*N1, "total_cpus"), DELETE)),
    "node-drained-no-live-data": mutate(
        DRBD, ((*N1, "drained"), True), ((*N1, "total_memory"), DELETE)),
    "node-offline-no-spindle-count": mutate(
        DRBD, ((*N1, "offline"), True), ((*N1, "ndparams", "spindle_count"), DELETE)),
    "node-offline-string": mutate(DRBD, ((*N1, "offline"), "false")),
    "node-drained-number": mutate(DRBD, ((*N1, "drained"), 0)),
    "node-vm-capable-string": mutate(DRBD, ((*N1, "vm_capable"), "yes")),
    "node-vm-capable-null": mutate(DRBD, ((*N1, "vm_capable"), None)),
    "node-group-unknown": mutate(DRBD, ((*N1, "group"), "uuid-group-9")),
    "node-group-number": mutate(DRBD, ((*N1, "group"), 1)),
    "node-ndparams-array": mutate(DRBD, ((*N1, "ndparams"), [])),
    "node-ndparams-excl-string": mutate(DRBD, ((*N1, "ndparams", "exclusive_storage"), "no")),
    "node-spindle-count-float": mutate(DRBD, ((*N1, "ndparams", "spindle_count"), 2.5)),
    "node-total-memory-string": mutate(DRBD, ((*N1, "total_memory"), "4096")),
    "node-free-memory-float": mutate(DRBD, ((*N1, "free_memory"), 1024.5)),
    "node-total-disk-int": mutate(DRBD, ((*N1, "total_disk"), 100)),
    "node-reserved-cpus-bool": mutate(DRBD, ((*N1, "reserved_cpus"), True)),
    "node-tags-string": mutate(DRBD, ((*N1, "tags"), "a,b")),
    "node-tags-null": mutate(DRBD, ((*N1, "tags"), None)),
    # cluster instances
    "instance-not-object": mutate(DRBD, (I14, "x")),
    **{f"instance-no-{key}": mutate(DRBD, ((*I14, key), DELETE))
       for key in ("disk_space_total", "disks", "memory", "vcpus", "tags", "disk_template",
                   "spindle_use", "nics", "nodes", "admin_state", "hypervisor")},
    "instance-dsk-string": mutate(DRBD, ((*I14, "disk_space_total"), "256")),
    "instance-disks-object": mutate(DRBD, ((*I14, "disks"), {"size": 128})),
    "instance-disks-long-object": mutate(DRBD, ((*I14, "disks"), {
        "size": 128, "spindles": 1, "mode": "rw", "name": "disk0-of-instance14",
        "uuid": "6d5d2a4e-0a32-4bd6-9f7f-3e7c5a8e6b1d", "params": {"a": [1, 2, 3]}})),
    "instance-disks-string": mutate(DRBD, ((*I14, "disks"), "x")),
    "instance-disks-null": mutate(DRBD, ((*I14, "disks"), None)),
    "instance-disk-not-object": mutate(DRBD, ((*I14, "disks"), [{"size": 1}, 5])),
    "instance-disk-no-size": mutate(DRBD, ((*I14, "disks", 0, "size"), DELETE)),
    "instance-disk-size-string": mutate(DRBD, ((*I14, "disks", 0, "size"), "1")),
    "instance-disk-spindles-string": mutate(DRBD, ((*I14, "disks", 0, "spindles"), "1")),
    "instance-disk-spindles-null": mutate(DRBD, ((*I14, "disks", 0, "spindles"), None)),
    "instance-disks-empty": mutate(DRBD, ((*I14, "disks"), [])),
    "instance-memory-float": mutate(DRBD, ((*I14, "memory"), 127.5)),
    "instance-vcpus-null": mutate(DRBD, ((*I14, "vcpus"), None)),
    "instance-tags-string": mutate(DRBD, ((*I14, "tags"), "x")),
    "instance-template-unknown": mutate(DRBD, ((*I14, "disk_template"), "zfs")),
    "instance-template-number": mutate(DRBD, ((*I14, "disk_template"), 5)),
    "instance-template-chars": mutate(DRBD, ((*I14, "disk_template"), ["d", "r", "b", "d"])),
    "instance-spindle-use-string": mutate(DRBD, ((*I14, "spindle_use"), "1")),
    "instance-nics-object": mutate(DRBD, ((*I14, "nics"), {})),
    "instance-nic-not-object": mutate(DRBD, ((*I14, "nics"), ["eth0"])),
    "instance-nic-mode-unknown": mutate(DRBD, ((*I14, "nics", 0, "mode"), "nat")),
    "instance-nic-mode-number": mutate(DRBD, ((*I14, "nics", 0, "mode"), 1)),
    "instance-nic-mac-number": mutate(DRBD, ((*I14, "nics", 0, "mac"), 1)),
    "instance-nic-network-list": mutate(DRBD, ((*I14, "nics", 0, "network"), [1])),
    "instance-nic-link-null": mutate(DRBD, ((*I14, "nics", 0, "link"), None)),
    "instance-admin-state-unknown": mutate(DRBD, ((*I14, "admin_state"), "sleeping")),
    "instance-admin-state-number": mutate(DRBD, ((*I14, "admin_state"), 1)),
    "instance-forthcoming-string": mutate(DRBD, ((*I14, "forthcoming"), "yes")),
    "instance-forthcoming-true": mutate(DRBD, ((*I14, "forthcoming"), True)),
    "instance-nodes-empty": mutate(DRBD, ((*I14, "nodes"), [])),
    "instance-nodes-string": mutate(DRBD, ((*I14, "nodes"), "node3")),
    "instance-nodes-number": mutate(DRBD, ((*I14, "nodes"), [3])),
    "instance-nodes-chars": mutate(DRBD, ((*I14, "nodes"), [["n", "o", "d", "e", "3"]])),
    "instance-pnode-unknown": mutate(DRBD, ((*I14, "nodes"), ["node9"])),
    "instance-snode-unknown": mutate(DRBD, ((*I14, "nodes"), ["node3", "node9"])),
    "instance-snode-number": mutate(DRBD, ((*I14, "nodes"), ["node3", 4])),
    "instance-pnode-unknown-snode-number": mutate(DRBD, ((*I14, "nodes"), ["node9", 4])),
    "instance-third-node-ignored": mutate(DRBD, ((*I14, "nodes"), ["node3", "node4", 5])),
    # the request
    "request-no-type": mutate(DRBD, ((*REQ, "type"), DELETE)),
    "request-type-unknown": mutate(DRBD, ((*REQ, "type"), "allocate-all")),
    "request-type-number": mutate(DRBD, ((*REQ, "type"), 1)),
    "request-type-quoted": mutate(DRBD, ((*REQ, "type"), 'it\'s "é"')),
    "allocate-no-name": mutate(DRBD, ((*REQ, "name"), DELETE)),
    "allocate-name-chars": mutate(DRBD, ((*REQ, "name"), ["n", "e", "w"])),
    "allocate-no-required-nodes": mutate(DRBD, ((*REQ, "required_nodes"), DELETE)),
    "allocate-required-nodes-string": mutate(DRBD, ((*REQ, "required_nodes"), "2")),
    "allocate-required-nodes-half": mutate(DRBD, ((*REQ, "required_nodes"), 1.5)),
    "allocate-required-nodes-three": mutate(DRBD, ((*REQ, "required_nodes"), 3)),
    **{f"allocate-no-{key}": mutate(DRBD, ((*REQ, key), DELETE))
       for key in ("disk_space_total", "disks", "memory", "vcpus", "tags", "disk_template",
                   "spindle_use", "nics", "os", "hypervisor")},
    "allocate-memory-string": mutate(DRBD, ((*REQ, "memory"), "1024")),
    "allocate-template-unknown": mutate(DRBD, ((*REQ, "disk_template"), "lvm")),
    "allocate-disks-number": mutate(DRBD, ((*REQ, "disks"), 1024)),
    "allocate-nic-mode-bad": mutate(DRBD, ((*REQ, "nics"), [{"mode": "bridge"}])),
    "allocate-group-name-number": mutate(DRBD, ((*REQ, "group_name"), 1)),
    "allocate-group-name-unknown": mutate(DRBD, ((*REQ, "group_name"), "nowhere")),
    "allocate-restrict-string": mutate(DRBD, ((*REQ, "restrict-to-nodes"), "node1")),
    "allocate-restrict-numbers": mutate(DRBD, ((*REQ, "restrict-to-nodes"), [1])),
    "allocate-restrict-null": mutate(DRBD, ((*REQ, "restrict-to-nodes"), None)),
    "relocate-no-name": mutate(RELOC, ((*REQ, "name"), DELETE)),
    "relocate-name-unknown": mutate(RELOC, ((*REQ, "name"), "instance99")),
    "relocate-required-nodes-string": mutate(RELOC, ((*REQ, "required_nodes"), "1")),
    "relocate-required-nodes-two": mutate(RELOC, ((*REQ, "required_nodes"), 2)),
    "relocate-no-relocate-from": mutate(RELOC, ((*REQ, "relocate_from"), DELETE)),
    "relocate-from-string": mutate(RELOC, ((*REQ, "relocate_from"), "node4")),
    "relocate-from-unknown": mutate(RELOC, ((*REQ, "relocate_from"), ["node9"])),
    "relocate-from-alias": edit(RELOC, lambda d: {
        **renamed(d, ".example.com"), "request": {**d["request"], "name": "instance14"}}),
    "relocate-from-alias-name": edit(RELOC, lambda d: {
        **renamed(d, ".example.com"),
        "request": {**d["request"], "name": "instance14.example.com"}}),
    "change-group-no-instances": mutate(CHG, ((*REQ, "instances"), DELETE)),
    "change-group-instance-unknown": mutate(CHG, ((*REQ, "instances"), ["instance99"])),
    "change-group-instances-string": mutate(CHG, ((*REQ, "instances"), "instance14")),
    "change-group-no-targets": mutate(CHG, ((*REQ, "target_groups"), DELETE)),
    "change-group-target-unknown": mutate(CHG, ((*REQ, "target_groups"), ["nowhere"])),
    "change-group-target-name": mutate(CHG, ((*REQ, "target_groups"), ["default"])),
    "change-group-targets-empty": mutate(CHG, ((*REQ, "target_groups"), [])),
    "change-group-unknown-first": mutate(
        CHG, ((*REQ, "instances"), ["instance99"]), ((*REQ, "target_groups"), 5)),
    "evacuate-no-instances": mutate(EVAC, ((*REQ, "instances"), DELETE)),
    "evacuate-instance-unknown": mutate(EVAC, ((*REQ, "instances"), ["instance2", "x"])),
    "evacuate-no-mode": mutate(EVAC, ((*REQ, "evac_mode"), DELETE)),
    "evacuate-mode-unknown": mutate(EVAC, ((*REQ, "evac_mode"), "everything")),
    "evacuate-mode-number": mutate(EVAC, ((*REQ, "evac_mode"), 2)),
    "evacuate-mode-secondary": mutate(EVAC, ((*REQ, "evac_mode"), "secondary-only")),
    "multi-no-instances": mutate(MULTI, ((*REQ, "instances"), DELETE)),
    "multi-instances-object": mutate(MULTI, ((*REQ, "instances"), {})),
    "multi-instance-number": mutate(MULTI, ((*REQ, "instances"), [1])),
    "multi-instances-empty": mutate(MULTI, ((*REQ, "instances"), [])),
    "multi-entry-no-name": mutate(MULTI, ((*REQ, "instances", 1, "name"), DELETE)),
    "multi-entry-no-required": mutate(MULTI, ((*REQ, "instances", 0, "required_nodes"),
                                              DELETE)),
    "multi-entry-no-memory": mutate(MULTI, ((*REQ, "instances", 1, "memory"), DELETE)),
    "multi-group-name-number": mutate(MULTI, ((*REQ, "group_name"), 7)),
    "multi-group-name-number-no-entries": mutate(
        MULTI, ((*REQ, "group_name"), 7), ((*REQ, "instances"), [])),
    "secondary-no-name": mutate(SEC, ((*REQ, "name"), DELETE)),
    "secondary-name-unknown": mutate(SEC, ((*REQ, "name"), "nobody")),
    # errors in several places: the first one in Ganeti's order wins
    "node-and-request": mutate(DRBD, ((*N1, "offline"), 1), ((*REQ, "type"), "x")),
    "group-and-node": mutate(DRBD, ((*G1, "tags"), 1), ((*N1, "offline"), 1)),
    "node-order": mutate(DRBD, ((*N1, "total_cpus"), DELETE), ((*N1, "drained"), DELETE)),
    "spindles-total-unused": mutate(SPN, (("nodes", "node1", "total_spindles"), DELETE)),
    "node-excl-missing-total-spindles": mutate(
        SPN, (("nodes", "node1", "ndparams", "exclusive_storage"), True),
        (("nodes", "node1", "total_spindles"), DELETE)),
    "cluster-ipolicy-garbage": mutate(DRBD, (("ipolicy",), "garbage")),
    "ipolicy-minmax-number": mutate(DRBD, ((*IPOL, "minmax"), [1])),
    "allocate-group-by-uuid": mutate(DRBD, ((*REQ, "group_name"), "uuid-group-1")),
    "change-group-target-uuid": edit(CHG, lambda d: {
        **d, "request": {**d["request"], "target_groups": [list(d["nodegroups"])[1]]}}),
    "change-group-name-is-other-uuid": edit(CHG, group_named_like_a_uuid),
    "evacuate-empty": mutate(EVAC, ((*REQ, "instances"), [])),
    "evacuate-by-alias": edit(EVAC, lambda d: renamed(d, ".example.com")),
    "evacuate-by-partial-name": edit(EVAC, lambda d: {
        **renamed(d, ".example.com"),
        "request": {**d["request"], "instances": ["instance2.example"]}}),
    "relocate-alias-is-other-name": edit(RELOC, node_named_like_an_alias),
    "unicode-node-name": mutate(EVAC, (("instances", "instance2", "nodes"), ["n\u00f6d\u00e9"])),
    "unicode-request-type": mutate(EVAC, ((*REQ, "type"), "\u00e9vac\\")),
    # repeated keys: lookups take the first, name maps the last, findByName sees all
    "duplicate-instance": duplicated(EVAC, "instances", "instance2"),
    "duplicate-node": duplicated(EVAC, "nodes", "node1"),
    "duplicate-group": duplicated(CHG, "nodegroups", "uuid-group-1", "uuid-group-2"),
    "duplicate-request": duplicated(EVAC, "request", "type", "evac_mode"),
}


@requires_hail
@requires_shared
@pytest.mark.parametrize("case", sorted(CASES))
def test_same_verdict_and_message_as_ganeti(case, tmp_path):
    text = CASES[case]()
    request = tmp_path / "request.json"
    request.write_text(text, encoding="utf-8")
    rc, _, stderr = run_tool(["hail", str(request)], ours=False)
    if rc == 0:
        parse_request(text)  # Ganeti accepts it (whatever its algorithm answers): so do we
        return
    assert rc == 1 and stderr.startswith("Error: "), f"Ganeti failed oddly: {stderr!r}"
    assert error_of(text) == stderr[len("Error: "):].removesuffix("\n")


@requires_hail
@requires_shared
def test_pretty_layout_matches_ganeti_on_random_values(tmp_path):
    """The pretty printer (used in one error message) lays out as HughesPJ does."""
    rng = random.Random(11)

    def value(depth: int) -> Any:
        kind = rng.randrange(6 if depth < 3 else 3)
        if kind == 0:
            return rng.choice([1, 22, 333333, 1.5, None, True])
        if kind in (1, 2):
            return "s" * rng.randrange(1, 30)
        if kind == 3:
            return [value(depth + 1) for _ in range(rng.randrange(1, 7))]
        return {f"k{'e' * rng.randrange(12)}{i}": value(depth + 1)
                for i in range(rng.randrange(1, 6))}

    doc = fixture(DRBD)
    for _ in range(40):
        doc["request"]["disks"] = {f"key{i}": value(0) for i in range(rng.randrange(1, 6))}
        text = json.dumps(doc)
        request = tmp_path / "request.json"
        request.write_text(text, encoding="utf-8")
        rc, _, stderr = run_tool(["hail", str(request)], ours=False)
        assert error_of(text) == stderr[len("Error: "):].removesuffix("\n")
