"""The RAPI backend (``-m CLUSTER``, spec §2.4).

Cluster data comes from a Ganeti RAPI server (``/2/groups``, ``/2/nodes``,
``/2/instances`` with ``bulk=1``, then ``/2/info``) or, with ``file://DIR``,
from the four JSON files a test or an offline dump provides.

Ganeti reads these documents with very specific rules: which keys are
required, which are optional (missing or ``null``), which are only read for
"live" nodes, how a JSON number becomes an ``Int`` (rounded half to even and
wrapped to 64 bits) and which errors name their owner.  Operators see those
error messages, so they are reproduced.  Anything a server sends (wrong types,
HTML, truncated bodies) ends in a one-line ``DataError``, never a traceback.

Transport errors are worded differently from Ganeti's ``Curl error for
'<url>', error CurlCouldntConnect``: we do not use curl, so the message names
the URL (password masked) and the reason in plain words; the transport lives in
``htools.rapi_http``, shared with the executor's RAPI client.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import requests

from htools.errors import DataError
from htools.fmt import show_string_list
from htools.hsread import read_file
from htools.jsonread import Fail as _Fail
from htools.jsonread import Obj as _Obj
from htools.jsonread import any_value as _any
from htools.jsonread import enum as _enum
from htools.jsonread import list_of as _list_of
from htools.jsonread import to_alloc_policy as _to_alloc_policy
from htools.jsonread import to_bool as _to_bool
from htools.jsonread import to_float as _to_float
from htools.jsonread import to_int as _to_int
from htools.jsonread import to_ipolicy as _to_ipolicy
from htools.jsonread import to_obj as _to_obj
from htools.jsonread import to_str as _to_str
from htools.jsonread import to_template as _to_template
from htools.rapi_http import HttpFailure, base_url, endpoint, send
from solver.records import (
    DEFAULT_GROUP_UUID,
    INSTANCE_STATUSES,
    ClusterData,
    Group,
    Instance,
    IPolicy,
    Node,
)

__all__ = ["base_url", "load_rapi", "parse_rapi"]

T = TypeVar("T")

FILE_PREFIX = "file://"
HYPERVISORS = ("kvm", "xen-pvm", "chroot", "xen-hvm", "lxc", "fake")

# (resource path, file name in a file:// directory), in Ganeti's request order.
_RESOURCES = (
    ("/2/groups?bulk=1", "groups.json"),
    ("/2/nodes?bulk=1", "nodes.json"),
    ("/2/instances?bulk=1", "instances.json"),
    ("/2/info", "info.json"),
)

# ---------------------------------------------------------------------------
# JSON values with Ganeti's reading rules


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid token {name}")


def _decode(what: str, body: str) -> Any:
    """Decode a document like Text.JSON's ``decodeStrict``.

    Only an array or an object is accepted at the top level; numbers are kept
    exact (``Decimal``) so integer conversion can round as Ganeti does.
    """
    if body.lstrip(" \t\n\r\f\v")[:1] not in ("[", "{"):
        raise _Fail(f"{what}: Invalid JSON: a JSON text a serialized object or array "
                    "at the top level.")
    try:
        return json.loads(body, object_pairs_hook=_Obj, parse_float=Decimal,
                          parse_int=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:  # JSONDecodeError is a ValueError
        raise _Fail(f"{what}: Invalid JSON: {err}") from None


def _render(value: Any) -> str:
    """A JSON value written back the way Ganeti quotes it in some errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral_value() else repr(float(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_render(item) for item in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {_render(v)}"
                           for k, v in value.pairs) + "}"


_to_status = _enum("InstanceStatus", INSTANCE_STATUSES)
_to_hypervisor = _enum("Hypervisor", HYPERVISORS)


def _missing(obj: _Obj, key: str) -> _Fail:
    return _Fail(f"key '{key}' not found, object contains only "
                 f"{show_string_list(obj.keys)}")


def _owned(owner: str | None, message: str) -> _Fail:
    return _Fail(f"{owner}: {message}" if owner else message)


def _field(obj: _Obj, key: str, convert: Callable[[Any], T],
           owner: str | None = None) -> T:
    """A required key (Ganeti's ``fromObj``, annotated with ``owner`` if given)."""
    if key not in obj:
        raise _owned(owner, str(_missing(obj, key)))
    try:
        return convert(obj[key])
    except _Fail as err:
        raise _owned(owner, f"key '{key}': {err}") from None


def _optional(obj: _Obj, key: str, convert: Callable[[Any], T], default: T,
              owner: str | None = None) -> T:
    """An optional key: missing and ``null`` both give the default."""
    if obj.get(key) is None:
        return default
    return _field(obj, key, convert, owner)


def _object_array(what: str, body: str) -> list[_Obj]:
    """A top-level array of objects; every element is checked before any is used."""
    data = _decode(what, body)
    try:
        return _list_of(_to_obj)(data)
    except _Fail as err:
        raise _Fail(f"{what}: {err}") from None


def _parse_group(obj: _Obj) -> Group:
    name = _field(obj, "name", _to_str, "Parsing new group")
    owner = f"Group '{name}'"
    uuid = _field(obj, "uuid", _to_str, owner)
    policy = _field(obj, "alloc_policy", _to_alloc_policy, owner)
    ipolicy = _field(obj, "ipolicy", _to_ipolicy, owner)
    tags = _field(obj, "tags", _list_of(_to_str), owner)
    # Ganeti does not read the group's networks from RAPI.
    return Group(name=name, uuid=uuid, alloc_policy=policy, tags=tags, ipolicy=ipolicy)


def _parse_node(obj: _Obj, group_index: dict[str, int]) -> Node:
    """One node; resource figures are only read (and required) for live nodes."""
    name = _field(obj, "name", _to_str, "Parsing new node")
    owner = f"Node '{name}', error while parsing data"
    offline = _field(obj, "offline", _to_bool, owner)
    drained = _field(obj, "drained", _to_bool, owner)
    vm_capable = _optional(obj, "vm_capable", _to_bool, True, owner)
    ndparams = _field(obj, "ndparams", _any, owner)
    if not isinstance(ndparams, _Obj):
        raise _Fail("not an object")
    excl = _field(ndparams, "exclusive_storage", _to_bool, owner)
    guuid = _optional(obj, "group.uuid", _to_str, DEFAULT_GROUP_UUID, owner)
    if guuid not in group_index:
        raise _Fail(f"Unknown group '{guuid}' for node {name}")
    live = not offline and vm_capable

    def required(key: str, convert: Callable[[Any], T], default: T) -> T:
        return _field(obj, key, convert, owner) if live else default

    def optional(key: str, convert: Callable[[Any], T], default: T) -> T:
        # Ganeti does not name the node in these errors.
        return _optional(obj, key, convert, default) if live else default

    if excl:
        t_spindles = required("sptotal", _to_int, 0)
    else:
        t_spindles = _field(ndparams, "spindle_count", _to_int, owner)
    f_spindles = optional("spfree", _to_int, 0)
    t_mem = required("mtotal", _to_float, 0.0)
    n_mem = required("mnode", _to_int, 0)
    f_mem = required("mfree", _to_int, 0)
    t_dsk = optional("dtotal", _to_float, 0.0)
    f_dsk = optional("dfree", _to_int, 0)
    t_cpu = required("ctotal", _to_float, 0.0)
    n_cpu = required("cnos", _to_int, 0)
    tags = _field(obj, "tags", _list_of(_to_str), owner)
    return Node(name=name, t_mem=t_mem, n_mem=n_mem, f_mem=f_mem, t_dsk=t_dsk,
                f_dsk=f_dsk, t_cpu=t_cpu, n_cpu=n_cpu, offline=not live or drained,
                group=group_index[guuid], t_spindles=t_spindles, f_spindles=f_spindles,
                excl_storage=excl, tags=tags, drained=drained, vm_capable=vm_capable)


def _disk_spindles(obj: _Obj, owner: str) -> list[int | None]:
    """``disk.spindles``: a list whose ``null`` entries mean "unknown"."""
    if "disk.spindles" not in obj:
        raise _owned(owner, str(_missing(obj, "disk.spindles")))
    value = obj["disk.spindles"]
    if not isinstance(value, list):
        raise _owned(owner, f"Expecting array, got '{_render(value)}'")
    result: list[int | None] = []
    for item in value:
        if item is None:
            result.append(None)
            continue
        try:
            result.append(_to_int(item))
        except _Fail as err:
            raise _owned(owner, f"Cannot convert value '{_render(item)}', error: {err}") \
                from None
    return result


def _instance_memory(obj: _Obj, beparams: _Obj, owner: str) -> int:
    """The running size (``oper_ram``) if known, else the configured size."""
    oper_ram = _field(obj, "oper_ram", _any, owner)
    if isinstance(oper_ram, Decimal):
        return _to_int(oper_ram)
    errors = []
    for key in ("memory", "maxmem"):
        try:
            return _field(beparams, key, _to_int, owner)
        except _Fail as err:
            errors.append(str(err))
    raise _Fail("; ".join(errors))


def _parse_instance(obj: _Obj, node_index: dict[str, int]) -> Instance:
    name = _field(obj, "name", _to_str, "Parsing new instance")
    owner = f"Instance '{name}', error while parsing data"
    dsk = _field(obj, "disk_usage", _to_int, owner)
    sizes = _field(obj, "disk.sizes", _list_of(_to_int), owner)
    spindles = _disk_spindles(obj, owner)
    beparams = _field(obj, "beparams", _to_obj, owner)
    mem = _instance_memory(obj, beparams, owner)
    vcpus = _field(beparams, "vcpus", _to_int, owner)
    pnode = _node_ref(node_index, _field(obj, "pnode", _to_str, owner), name)
    snodes = _field(obj, "snodes", _list_of(_any), owner)
    snode = -1
    if snodes:
        if not isinstance(snodes[0], str):
            raise _Fail("Wrong JSON type")
        snode = _node_ref(node_index, snodes[0], name)
    status = _field(obj, "status", _to_status, owner)
    tags = _field(obj, "tags", _list_of(_to_str), owner)
    auto_balance = _field(beparams, "auto_balance", _to_bool, owner)
    template = _field(obj, "disk_template", _to_template, owner)
    spindle_use = _field(beparams, "spindle_use", _to_int, owner)
    # Any unreadable value counts as "not forthcoming", as in Ganeti.
    forthcoming = obj.get("forthcoming") is True
    return Instance(name=name, mem=mem, dsk=dsk, vcpus=vcpus, status=status,
                    auto_balance=auto_balance, pnode=pnode, snode=snode,
                    template=template, tags=tags, spindle_use=spindle_use,
                    disks=list(zip(sizes, spindles, strict=False)),
                    forthcoming=forthcoming)


def _node_ref(node_index: dict[str, int], node: str, instance: str) -> int:
    if node not in node_index:
        raise _Fail(f"Unknown node '{node}' for instance {instance}")
    return node_index[node]


def _parse_info(body: str) -> tuple[str, list[str], IPolicy, str]:
    data = _decode("Parsing cluster info", body)
    if not isinstance(data, _Obj):
        raise _Fail("Parsing cluster info: Unable to read JSObject")
    owner = "Parsing cluster data"
    master = _field(data, "master", _to_str, owner)
    tags = _field(data, "tags", _list_of(_to_str), owner)
    ipolicy = _field(data, "ipolicy", _to_ipolicy, owner)
    hypervisor = _field(data, "default_hypervisor", _to_hypervisor, owner)
    return master, tags, ipolicy, hypervisor


def _parse_all(fetch: Callable[[int], str]) -> ClusterData:
    """Parse the four documents; ``fetch(i)`` returns the i-th body on demand.

    Fetching lazily keeps Ganeti's error precedence (a bad groups document is
    reported before an unreachable nodes URL) without waiting on later
    requests once an earlier document is known to be bad.
    """
    groups = [_parse_group(obj)
              for obj in _object_array("Parsing group data", fetch(0))]
    # Later duplicates win, as in Ganeti's name maps.
    group_index = {group.uuid: idx for idx, group in enumerate(groups)}
    nodes = [_parse_node(obj, group_index)
             for obj in _object_array("Parsing node data", fetch(1))]
    node_index = {node.name: idx for idx, node in enumerate(nodes)}
    instances = [_parse_instance(obj, node_index)
                 for obj in _object_array("Parsing instance data", fetch(2))]
    master, tags, ipolicy, hypervisor = _parse_info(fetch(3))
    if master not in node_index:
        raise _Fail(f"Master node {master} unknown")
    nodes[node_index[master]].master = True
    for node in nodes:
        node.hypervisor = hypervisor
    return ClusterData(groups=groups, nodes=nodes, instances=instances,
                       cluster_tags=tags, ipolicy=ipolicy)


def _load(fetch: Callable[[int], str]) -> ClusterData:
    try:
        return _parse_all(fetch)
    except _Fail as err:
        raise DataError(str(err)) from None


def parse_rapi(bodies: list[str]) -> ClusterData:
    """Build cluster data from the groups, nodes, instances and info documents.

    For callers that already hold the documents (tests, a RAPI daemon reusing
    this parser); errors are the same as ``load_rapi``'s.
    """
    return _load(bodies.__getitem__)


# ---------------------------------------------------------------------------
# Transport


def _http_get(session: requests.Session, url: str, verify: bool) -> str:
    try:
        return send(session, "GET", url, verify=verify).text
    except HttpFailure as err:
        raise _Fail(str(err)) from None


def load_rapi(cluster: str, *, verify: bool = False,
              session: requests.Session | None = None) -> ClusterData:
    """Load a cluster from RAPI (``-m``): a host name, a URL or ``file://DIR``.

    ``https://user:password@host:5080`` sends the credentials as HTTP Basic
    authentication.  TLS certificates are not checked unless ``verify`` is
    true, as Ganeti does not check them either.  A URL without a scheme
    (``host:5080``) is fetched over plain HTTP, as curl would.  ``session``
    lets callers reuse a connection pool or inject a test double.
    """
    if cluster.startswith(FILE_PREFIX):
        directory = cluster[len(FILE_PREFIX):]
        return _load(lambda index: read_file(os.path.join(directory, _RESOURCES[index][1]),
                                             _Fail))
    url = endpoint(cluster)
    http = requests.Session() if session is None else session
    try:
        return _load(lambda index: _http_get(http, url + _RESOURCES[index][0], verify))
    finally:
        if session is None:
            http.close()
