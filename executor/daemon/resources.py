"""RAPI v2 resources over the daemon's cluster and queue, shaped as Ganeti's ``rlib2``.

Readers of these documents are strict (our RAPI backend and Ganeti's hbal
check every key they use), so field names, types and list orders follow
Ganeti 3.0.2 (``doc/rapi.rst``): bulk listings carry every documented field,
plain listings ``{"id"/"name", "uri"}`` sorted by name, single resources the
same fields as bulk ones.  Figures come from the stored cluster: a node's
``mfree``/``dfree`` are what the node driver left there, an instance's
``disk_usage`` and memory are the sizes hbal reads back.

Writes are rlib2's: each request becomes a one-opcode job whose body and
query arguments are checked as Ganeti's ``FillOpcode`` checks them (400 with
Ganeti's message), and the job's result is the opcode's (see
``executor.nodes.sim``).  Instance creation takes version 1 bodies only, as
Ganeti 3.0 does; an ``iallocator`` of any name is our hail, run in-process.

Two additions: ``fields=a,b`` on a listing or single resource keeps only
those keys (Ganeti offers that only through ``/2/query``), and instances
carry ``forthcoming``, which Ganeti's readers accept but its RAPI omits.
As in Ganeti, a write on an unknown instance, node or group becomes a job
that fails (``OpPrereqError``, ``noent``); reading the role or tags of one is
a 404.  Differences: ``modify`` serves
only ``disk_template`` (plain <-> drbd) and ``beparams``, creation takes no
forthcoming instances (``forthcoming``, ``commit``); a node the text
file marks "Y" is served as drained (see ``node_role``); a file without a
master gets its first node as master.  Node CPU speeds are served in ``ndparams`` but
RAPI readers ignore them, so ``hbal -m`` scores such clusters as if every
CPU had speed 1.

Errors are raised as :class:`HttpError` and rendered by the server with
Ganeti's body ``{"code", "message", "explain"}``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from executor.daemon.queue import JobQueue, summary
from executor.daemon.store import Job
from executor.nodes.sim import (
    EVAC_MODES,
    MODIFIABLE_BEPARAMS,
    ROLES,
    admin_state,
    master_index,
    node_role,
)
from htools.jsonread import ipolicy_json
from solver.records import DISK_TEMPLATES, ClusterData, Group, Instance, Node

RAPI_VERSION = 2
# Ganeti's optional features (rlib2.ALL_FEATURES) whose request and result formats
# this daemon serves: version 1 instance creation, node migration with a body and
# node evacuation answering follow-up jobs.  Reinstallation is not served.
FEATURES = ["instance-create-reqv1", "node-evac-res1", "node-migrate-reqv1"]
# How long /2/jobs/ID/wait blocks before answering "no change" (Ganeti: 10 s).
WAIT_TIMEOUT = 10.0

_RUNNING = ("running", "ERROR_up", "ERROR_wrongnode")


class HttpError(Exception):
    """An error answer: status and Ganeti's ``message`` (the standard phrase if empty)."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _bad(message: str) -> HttpError:
    return HttpError(400, message)


@dataclass(frozen=True)
class Settings:
    """What the cluster description does not say and RAPI must."""

    cluster_name: str = "hrapid"
    hypervisor: str = "xen-pvm"
    wait_timeout: float = WAIT_TIMEOUT


def _stable_uuid(kind: str, name: str) -> str:
    """Text files name nodes and instances but give them no uuid; derive a stable one."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"hrapid:{kind}:{name}"))


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


# --- documents -----------------------------------------------------------------------


def _node_docs(data: ClusterData, only: str | None = None) -> list[dict[str, Any]]:
    """Every node's document, or with ``only`` just that node's."""
    primaries: list[list[str]] = [[] for _ in data.nodes]
    secondaries: list[list[str]] = [[] for _ in data.nodes]
    for inst in data.instances:
        primaries[inst.pnode].append(inst.name)
        if inst.snode >= 0:
            secondaries[inst.snode].append(inst.name)
    return [_node_doc(data, node, node_role(data, i), sorted(primaries[i]),
                      sorted(secondaries[i]))
            for i, node in enumerate(data.nodes) if only in (None, node.name)]


def _node_doc(data: ClusterData, node: Node, role: str, primaries: list[str],
              secondaries: list[str]) -> dict[str, Any]:
    return {
        "name": node.name, "offline": role == "O", "master_candidate": role in ("M", "C"),
        "drained": role == "D", "dtotal": _number(node.t_dsk), "dfree": node.f_dsk,
        "sptotal": node.t_spindles, "spfree": node.f_spindles,
        "mtotal": _number(node.t_mem), "mnode": node.n_mem, "mfree": node.f_mem,
        "pinst_cnt": len(primaries), "sinst_cnt": len(secondaries),
        "ctotal": _number(node.t_cpu), "cnos": node.n_cpu, "cnodes": None, "csockets": None,
        "pip": None, "sip": None, "role": role,
        "pinst_list": primaries, "sinst_list": secondaries,
        "master_capable": True, "vm_capable": node.vm_capable,
        "ndparams": {"exclusive_storage": node.excl_storage,
                     "spindle_count": node.t_spindles, "cpu_speed": node.cpu_speed},
        "group.uuid": data.groups[node.group].uuid,
        "ctime": None, "mtime": None, "uuid": _stable_uuid("node", node.name),
        "serial_no": None, "tags": list(node.tags),
    }


def _instance_doc(data: ClusterData, inst: Instance) -> dict[str, Any]:
    disks = inst.disks or [(inst.dsk, None)]
    running = inst.status in _RUNNING
    admin = admin_state(inst)
    beparams = {"vcpus": inst.vcpus, "maxmem": inst.mem, "minmem": inst.mem,
                "memory": inst.mem, "auto_balance": inst.auto_balance,
                "spindle_use": inst.spindle_use}
    return {
        "name": inst.name, "admin_state": admin, "os": None,
        "pnode": data.nodes[inst.pnode].name,
        "snodes": [data.nodes[inst.snode].name] if inst.snode >= 0 else [],
        "disk_template": inst.template,
        **{f"nic.{field}": [nic.get(key) for nic in inst.nics] for field, key in _NIC_FIELDS},
        "nic.uuids": [_stable_uuid("nic", f"{inst.name}/{i}") for i in range(len(inst.nics))],
        "network_port": None,
        "disk.sizes": [size for size, _ in disks],
        "disk.spindles": [spindles for _, spindles in disks],
        "disk_usage": inst.dsk,
        "disk.uuids": [_stable_uuid("disk", f"{inst.name}/{i}") for i in range(len(disks))],
        "disk.names": [None] * len(disks),
        "beparams": beparams, "hvparams": {},
        "oper_state": running, "oper_ram": inst.mem if running else None,
        "oper_vcpus": inst.vcpus if running else None, "status": inst.status,
        "custom_hvparams": {}, "custom_beparams": {}, "custom_nicparams": [],
        "forthcoming": inst.forthcoming,
        "ctime": None, "mtime": None, "uuid": _stable_uuid("instance", inst.name),
        "serial_no": None, "tags": list(inst.tags),
    }


# RAPI's per-NIC lists and the key of a NIC (as a creation gives it) each lists
_NIC_FIELDS = (("ips", "ip"), ("macs", "mac"), ("modes", "mode"), ("names", "name"),
               ("links", "link"), ("networks", "network"), ("networks.names", "network"),
               ("bridges", "bridge"))


def _group_doc(data: ClusterData, idx: int) -> dict[str, Any]:
    group: Group = data.groups[idx]
    members = sorted(n.name for n in data.nodes if n.group == idx)
    return {
        "alloc_policy": group.alloc_policy, "name": group.name,
        "node_cnt": len(members), "node_list": members,
        "ipolicy": ipolicy_json(group.ipolicy), "custom_ipolicy": {},
        "diskparams": {}, "custom_diskparams": {}, "ndparams": {}, "custom_ndparams": {},
        "ctime": None, "mtime": None, "uuid": group.uuid, "serial_no": None,
        "tags": list(group.tags),
    }


def _info_doc(data: ClusterData, settings: Settings) -> dict[str, Any]:
    master = master_index(data)
    return {
        "name": settings.cluster_name,
        "master": None if master is None else data.nodes[master].name,
        "tags": list(data.cluster_tags),
        "ipolicy": ipolicy_json(data.ipolicy),
        "default_hypervisor": settings.hypervisor,
        "enabled_hypervisors": [settings.hypervisor],
        "uuid": _stable_uuid("cluster", settings.cluster_name),
    }


def job_doc(job: Job, bulk: bool = False) -> dict[str, Any]:
    """A job in Ganeti's shape; bulk listings leave out the log and results."""
    doc: dict[str, Any] = {
        "id": job.id, "ops": job.ops, "status": job.status,
        "summary": [summary(op) for op in job.ops], "opstatus": job.opstatus,
        "received_ts": job.received_ts, "start_ts": job.start_ts, "end_ts": job.end_ts,
    }
    if not bulk:
        doc["oplog"] = job.oplog
        doc["opresult"] = job.opresult
    return doc


# --- requests ------------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: list[str]  # the path's segments, decoded
    query: dict[str, list[str]]
    body: Any  # the decoded JSON body, None without one


def _flag(query: dict[str, list[str]], name: str) -> bool:
    """An integer query argument read as Ganeti's ``_checkIntVariable`` does."""
    values = query.get(name) or ["0"]
    try:
        return bool(int(values[0]))
    except ValueError:
        raise _bad(f"Invalid value for the '{name}' parameter") from None


def _select(doc: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    if "fields" not in query:
        return doc
    names = [f for f in query["fields"][0].split(",") if f]
    unknown = [f for f in names if f not in doc]
    if unknown:
        raise _bad(f"Unknown field '{unknown[0]}'")
    return {f: doc[f] for f in names}


class Resources:
    """Routes requests; ``needs_write`` tells the server which ones need write access."""

    def __init__(self, queue: JobQueue, settings: Settings) -> None:
        self.queue = queue
        self.settings = settings
        # (kind, bulk, fields) -> (the cluster it was built from, its JSON); the queue
        # replaces the cluster object on every change and never edits it in place
        self._listings: dict[tuple, tuple[ClusterData, bytes]] = {}

    @staticmethod
    def needs_write(method: str, path: list[str]) -> bool:
        return method != "GET" or path[:2] == ["2", "jobs"] and path[3:] == ["wait"]

    def handle(self, req: Request) -> Any:
        path = req.path
        handler = self._route(path)
        if handler is None:
            raise HttpError(404)
        method = handler.get(req.method)
        if method is None:
            raise HttpError(501, f"Method {req.method} is unsupported for path "
                                 f"/{'/'.join(path)}")
        return method(req)

    def _route(self, path: list[str]) -> dict[str, Callable[[Request], Any]] | None:
        if path in ([], ["2"]):
            return {"GET": lambda req: None}
        if path == ["version"]:
            return {"GET": lambda req: RAPI_VERSION}
        if path == ["2", "info"]:
            return {"GET": lambda req: self.queue.read(
                lambda data: _info_doc(data, self.settings))}
        if path == ["2", "features"]:
            return {"GET": lambda req: list(FEATURES)}
        if len(path) in (2, 3) and path[0] == "2" and path[1] in _COLLECTIONS:
            kind = path[1]
            read: Callable[[Request], Any] = (
                (lambda req: self._listing(kind, req)) if len(path) == 2
                else (lambda req: self._item(kind, path[2], req)))
            return {"GET": read, **(self._write_route(path) or {})}
        if path[:2] == ["2", "jobs"]:
            return self._job_route(path[2:])
        return self._write_route(path)

    def _write_route(self, path: list[str]) -> dict[str, Callable[[Request], Any]] | None:
        """The resources that change the cluster, all as jobs; their paths as rlib2's."""
        if path == ["2", "instances"]:
            return {"POST": self._create}
        if path == ["2", "instances-multi-alloc"]:
            return {"POST": self._multi_alloc}
        if path == ["2", "tags"]:
            return self._tag_route("cluster", None)
        if len(path) == 3 and path[:2] == ["2", "instances"]:
            name = path[2]
            return {"DELETE": lambda req: self._instance_op(
                        "OP_INSTANCE_REMOVE", name, req, _json_body(req),
                        {"ignore_failures": False})}
        if len(path) != 4 or path[0] != "2":
            return None
        kind, name, what = path[1:]
        if what == "tags" and kind in _TAG_KINDS:
            return self._tag_route(_TAG_KINDS[kind], name)
        if kind == "instances" and what in _INSTANCE_OPS:
            method, op_id = _INSTANCE_OPS[what]
            return {method: lambda req: self._instance_op(op_id, name, req, *_instance_input(
                op_id, req))}
        if kind == "nodes" and what == "role":
            return {"GET": lambda req: self._node_role(name),
                    "PUT": lambda req: self._node_op("OP_NODE_SET_PARAMS", name, req,
                                                     *_role_input(req))}
        if kind == "nodes" and what == "evacuate":
            return {"POST": lambda req: self._node_op(
                "OP_NODE_EVACUATE", name, req, _json_body(req), {})}
        if kind == "nodes" and what == "migrate":
            return {"POST": lambda req: self._node_op(
                "OP_NODE_MIGRATE", name, req, _node_migrate_input(req), {})}
        return None

    # --- opcodes ---------------------------------------------------------------------

    def _queue(self, op_id: str, body: dict, static: dict[str, Any], req: Request) -> str:
        """Ganeti's ``FillOpcode``: check the body against the opcode and queue a job."""
        op = _fill(op_id, body, static, req)
        return str(self.queue.submit([op]))

    def _known(self, kind: str, name: str) -> None:
        """404 with Ganeti's message for an unknown instance, node or group."""
        def find(data: ClusterData) -> bool:
            return name in _COLLECTIONS[kind][1](data)
        if not self.queue.read(find):
            raise HttpError(404, _UNKNOWN[kind].format(name))

    def _instance_op(self, op_id: str, instance: str, req: Request, body: dict,
                     static: dict[str, Any]) -> str:
        return self._queue(op_id, body, {"instance_name": instance, **static}, req)

    def _node_op(self, op_id: str, node: str, req: Request, body: dict,
                 static: dict[str, Any]) -> str:
        return self._queue(op_id, body, {"node_name": node, **static}, req)

    def _create(self, req: Request) -> str:
        """rlib2's instance creation: body version 1 only, ``name`` and ``os`` renamed."""
        body = _json_body(req)
        version = body.get("__version__", 0)
        if version == 0:
            raise _bad("Instance creation request version 0 is no longer supported")
        if version != 1:
            raise _bad(f"Unsupported request data version {version}")
        data = {k: v for k, v in body.items() if k != "__version__"}
        return self._queue("OP_INSTANCE_CREATE", _renamed(data, _CREATE_RENAME), {}, req)

    def _multi_alloc(self, req: Request) -> str:
        """rlib2's multi-allocation: each entry is checked as an instance creation."""
        body = _json_body(req)
        if "instances" not in body:
            raise _bad("Request is missing required 'instances' field in body")
        entries = body["instances"]
        if not isinstance(entries, list):
            raise _bad("Invalid body parameters: Parameter 'OP_INSTANCE_MULTI_ALLOC."
                       "instances' fails validation")
        creations = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise _bad(f"Body contents: Type is '{_json_type(entry)}', but 'dict' is "
                           "expected")
            creation = _fill("OP_INSTANCE_CREATE", _renamed(entry, _CREATE_RENAME), {}, req)
            creations.append({k: v for k, v in creation.items() if k != "reason"})
        return self._queue("OP_INSTANCE_MULTI_ALLOC", {**body, "instances": creations}, {},
                           req)

    def _node_role(self, name: str) -> str:
        self._known("nodes", name)

        def role(data: ClusterData) -> str:
            return ROLES[node_role(data, [n.name for n in data.nodes].index(name))]
        return self.queue.read(role)  # type: ignore[return-value]

    # --- tags ------------------------------------------------------------------------

    def _tag_route(self, kind: str, name: str | None) -> dict[str, Callable[[Request], Any]]:
        def change(op_id: str, req: Request) -> str:
            static = {"kind": kind, "name": name, "tags": req.query.get("tag", [])}
            return self._queue(op_id, {}, static, req)
        return {"GET": lambda req: self._tags(kind, name),
                "PUT": lambda req: change("OP_TAGS_SET", req),
                "DELETE": lambda req: change("OP_TAGS_DEL", req)}

    def _tags(self, kind: str, name: str | None) -> list[str]:
        if kind != "cluster":
            self._known(_TAG_COLLECTIONS[kind], name or "")

        def tags(data: ClusterData) -> list[str]:
            if kind == "cluster":
                return list(data.cluster_tags)
            owners = {"node": data.nodes, "instance": data.instances,
                      "nodegroup": data.groups}[kind]
            return next(list(o.tags) for o in owners if o.name == name)
        return self.queue.read(tags)  # type: ignore[return-value]

    # --- cluster reads ---------------------------------------------------------------

    def _listing(self, kind: str, req: Request) -> bytes:
        """A collection as JSON, built once per cluster state and query.

        Monitoring polls ``?bulk=1`` of a big cluster from many clients; each
        answer is the same until a job changes the cluster, so it is encoded
        once and served as bytes.
        """
        bulk = _flag(req.query, "bulk")
        id_key, names, docs = _COLLECTIONS[kind]
        key = (kind, bulk, tuple(req.query.get("fields", ())))

        def build(data: ClusterData) -> bytes:
            cached = self._listings.get(key)
            if cached is not None and cached[0] is data:
                return cached[1]
            if bulk:
                listing = [_select(doc, req.query) for doc in docs(data, None)]
            else:
                listing = [{id_key: name, "uri": f"/2/{kind}/{name}"}
                           for name in sorted(names(data))]
            body = json.dumps(listing).encode()
            self._listings[key] = (data, body)
            return body
        return self.queue.read(build)  # type: ignore[return-value]

    def _item(self, kind: str, name: str, req: Request) -> dict:
        docs = _COLLECTIONS[kind][2]

        def build(data: ClusterData) -> dict | None:
            return next(iter(docs(data, name)), None)
        doc = self.queue.read(build)
        if doc is None:
            raise HttpError(404)
        return _select(doc, req.query)  # type: ignore[arg-type]

    # --- jobs ------------------------------------------------------------------------

    def _job_route(self, rest: list[str]) -> dict[str, Callable[[Request], Any]] | None:
        if not rest:
            return {"GET": self._jobs}
        if len(rest) > 2 or (len(rest) == 2 and rest[1] != "wait"):
            return None
        if len(rest) == 1:
            return {"GET": lambda req: job_doc(self._job(rest[0])),
                    "DELETE": lambda req: self.queue.cancel(self._job(rest[0]).id)}
        return {"GET": lambda req: self._wait(self._job(rest[0]), req)}

    def _jobs(self, req: Request) -> list:
        jobs = self.queue.all_jobs()
        if _flag(req.query, "bulk"):
            return [job_doc(job, bulk=True) for job in jobs]
        return [{"id": job.id, "uri": f"/2/jobs/{job.id}"} for job in jobs]

    def _job(self, raw: str) -> Job:
        job = self.queue.job(int(raw)) if raw.isdigit() else None
        if job is None:
            raise HttpError(404)
        return job

    def _wait(self, job: Job, req: Request) -> dict | None:
        """Ganeti's WaitForJobChangeOnce: block until the fields or the log change."""
        body = req.body if isinstance(req.body, dict) else {}
        if "fields" not in body:
            raise _bad("Required parameter 'fields' is missing")
        fields, previous = body["fields"], body.get("previous_job_info")
        serial = body.get("previous_log_serial")
        if not isinstance(fields, list):
            raise _bad("The 'fields' parameter should be a list")
        if not (previous is None or isinstance(previous, list)):
            raise _bad("The 'previous_job_info' parameter should be a list")
        if not (serial is None or (isinstance(serial, int) and not isinstance(serial, bool))):
            raise _bad("The 'previous_log_serial' parameter should be a number")
        full = job_doc(job)
        unknown = [f for f in fields if not isinstance(f, str) or f not in full]
        if unknown:
            raise _bad(f"Unknown job field {unknown[0]!r}")

        def info(current: Job) -> list:
            doc = job_doc(current)
            return [doc[f] for f in fields]

        def entries(current: Job) -> list:
            return [entry for log in current.oplog for entry in log
                    if serial is None or entry[0] > serial]

        def unchanged(current: Job) -> bool:
            return info(current) == previous and not entries(current)
        changed = self.queue.wait_change(job.id, unchanged, self.settings.wait_timeout)
        if changed is None:
            return None
        return {"job_info": info(changed), "log_entries": entries(changed)}


def _replace_disks_input(body: dict, query: dict[str, list[str]]) -> dict:
    """rlib2's replace-disks input: the body, or else the legacy query arguments.

    Ganeti's own client still sends ``mode``, ``remote_node``, ``disks`` and
    ``iallocator`` as query arguments; ``disks`` may be a list of indices or a
    string ``"0,1"``, and an empty one means all disks.
    """
    if not body and any(k in query for k in ("remote_node", "mode", "disks", "iallocator")):
        body = {key: query[key][0] for key in ("remote_node", "mode", "disks", "iallocator")
                if key in query}
    data = dict(body)
    raw = data.pop("disks", None)
    if raw:
        if isinstance(raw, list) and all(_is_int(d) for d in raw):
            data["disks"] = raw
        else:
            try:
                data["disks"] = [int(part) for part in str(raw).split(",")]
            except ValueError as err:
                raise _bad(f"Invalid disk index passed: {err}") from None
    return data


def _json_type(value: Any) -> str:
    return type(value).__name__


# collection -> (key of the name in plain listings, the names, the documents of all
# items or of the one named)
_COLLECTIONS: dict[str, tuple[str, Callable[[ClusterData], list[str]],
                              Callable[[ClusterData, str | None], list[dict]]]] = {
    "nodes": ("id", lambda data: [n.name for n in data.nodes], _node_docs),
    "instances": ("id", lambda data: [i.name for i in data.instances],
                  lambda data, only: [_instance_doc(data, i) for i in data.instances
                                      if only in (None, i.name)]),
    "groups": ("name", lambda data: [g.name for g in data.groups],
               lambda data, only: [_group_doc(data, i) for i, g in enumerate(data.groups)
                                   if only in (None, g.name)]),
}

# --- request inputs (rlib2's Get*OpInput) ----------------------------------------------


def _json_body(req: Request) -> dict:
    """The body as a dict (none: empty), or Ganeti's 400 for another type."""
    body = {} if req.body is None else req.body
    if not isinstance(body, dict):
        raise _bad(f"Body contents: Type is '{_json_type(body)}', but 'dict' is expected")
    return body


def _renamed(body: dict, rename: dict[str, str]) -> dict:
    return {rename.get(key, key): value for key, value in body.items()}


def _fill(op_id: str, body: dict, static: dict[str, Any], req: Request) -> dict:
    """Ganeti's ``FillOpcode``: the body and the static parameters, each checked.

    A body may not set a static parameter or the reason; every parameter must
    be one of the opcode's and pass its type check; required ones must be there.
    """
    overwritten = sorted((set(static) | {"reason"}) & set(body))
    if overwritten:
        raise _bad(f"Can't overwrite static parameters {overwritten!r}")
    params = _OP_PARAMS[op_id]
    for key, value in (*body.items(), *static.items()):
        check = params.get(key)
        if check is None:
            raise _bad(f"Invalid body parameters: {op_id} doesn't support the "
                       f"parameter '{key}'")
        if not check(value):
            raise _bad(f"Invalid body parameters: Parameter '{op_id}.{key}' fails "
                       "validation")
    for key in _REQUIRED.get(op_id, ()):
        if key not in body and key not in static:
            raise _bad(f"Invalid body parameters: Parameter '{op_id}.{key}' is missing")
    extra: dict[str, Any] = {"dry_run": True} if _flag(req.query, "dry-run") else {}
    user_reason = (req.query.get("reason") or [""])[0]
    return {"OP_ID": op_id, **static, **extra, **body,
            "reason": [["gnt:client:rlib2", user_reason, time.time_ns()]]}


def _instance_input(op_id: str, req: Request) -> tuple[dict, dict[str, Any]]:
    """The body and static parameters of an instance resource, as rlib2 reads them."""
    query = req.query
    if op_id == "OP_INSTANCE_REPLACE_DISKS":
        return _replace_disks_input(_json_body(req), query), {}
    if op_id == "OP_INSTANCE_STARTUP":  # rlib2 ignores the body here
        return {}, {"force": _flag(query, "force"), "no_remember": _flag(query, "no_remember")}
    if op_id == "OP_INSTANCE_SHUTDOWN":
        return _json_body(req), {"no_remember": _flag(query, "no_remember")}
    if op_id == "OP_INSTANCE_REBOOT":
        return _json_body(req), {"reboot_type": (query.get("type") or ["hard"])[0],
                                 "ignore_secondaries": _flag(query, "ignore_secondaries")}
    if op_id == "OP_INSTANCE_SET_PARAMS":
        return _renamed(_json_body(req), {"custom_beparams": "beparams",
                                          "custom_hvparams": "hvparams"}), {}
    return _json_body(req), {}


def _role_input(req: Request) -> tuple[dict, dict[str, Any]]:
    """rlib2's node role: a JSON string naming the role, as OP_NODE_SET_PARAMS flags."""
    role = req.body
    if not isinstance(role, str):
        raise _bad(f"Body contents: Type is '{_json_type(role)}', but 'str' is expected")
    flags: dict[str, bool | None] = {
        "regular": {"master_candidate": False, "offline": False, "drained": False},
        "master-candidate": {"master_candidate": True, "offline": None, "drained": None},
        "drained": {"master_candidate": None, "offline": None, "drained": True},
        "offline": {"master_candidate": None, "offline": True, "drained": None},
    }.get(role)  # type: ignore[assignment]
    if flags is None:
        raise _bad(f"Can't set '{role}' role")
    return {}, {**flags, "force": _flag(req.query, "force"),
                "auto_promote": _flag(req.query, "auto-promote")}


def _node_migrate_input(req: Request) -> dict:
    """rlib2's node migration: the body, or the old query arguments ``live`` / ``mode``."""
    query = req.query
    if "live" not in query and "mode" not in query:
        return _json_body(req)
    if "live" in query and "mode" in query:
        raise _bad("Only one of 'live' and 'mode' should be passed")
    if "live" in query:
        return {"mode": "live" if _flag(query, "live") else "non-live"}
    return {"mode": query["mode"][0]}


# instance resource -> (HTTP method, opcode), as rlib2 maps them
_INSTANCE_OPS = {
    "migrate": ("PUT", "OP_INSTANCE_MIGRATE"),
    "failover": ("PUT", "OP_INSTANCE_FAILOVER"),
    "replace-disks": ("POST", "OP_INSTANCE_REPLACE_DISKS"),
    "startup": ("PUT", "OP_INSTANCE_STARTUP"),
    "shutdown": ("PUT", "OP_INSTANCE_SHUTDOWN"),
    "reboot": ("POST", "OP_INSTANCE_REBOOT"),
    "modify": ("PUT", "OP_INSTANCE_SET_PARAMS"),
}
_CREATE_RENAME = {"name": "instance_name", "os": "os_type"}
# collection in the path -> Ganeti's tag kind, and back
_TAG_KINDS = {"nodes": "node", "instances": "instance", "groups": "nodegroup"}
_TAG_COLLECTIONS = {kind: collection for collection, kind in _TAG_KINDS.items()}
_UNKNOWN = {"nodes": "Node '{}' not known", "instances": "Instance '{}' not known",
            "groups": "Node group '{}' not found"}


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _opt_bool(v: Any) -> bool:
    return v is None or isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _opt_str(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _is_dict(v: Any) -> bool:
    return isinstance(v, dict)


def _str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _sizes(v: Any) -> bool:
    """A creation's disks: each a dict with a size, maybe spindles, string options."""
    return isinstance(v, list) and all(
        isinstance(d, dict) and _is_int(d.get("size")) and d["size"] >= 0
        and (d.get("spindles") is None or _is_int(d["spindles"]))
        and all(isinstance(x, str) for k, x in d.items() if k not in ("size", "spindles"))
        for d in v)


_BE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "maxmem": _is_int, "minmem": _is_int, "memory": _is_int, "vcpus": _is_int,
    "spindle_use": _is_int, "auto_balance": _is_bool, "always_failover": _is_bool,
}


def _beparams(v: Any, keys: tuple[str, ...] = tuple(_BE_CHECKS)) -> bool:
    return isinstance(v, dict) and all(
        key in keys and _BE_CHECKS[key](value) for key, value in v.items())


_COMMON: dict[str, Callable[[Any], bool]] = {
    "dry_run": _is_bool, "debug_level": _is_int, "priority": _is_int,
    "comment": _opt_str, "depends": lambda v: v is None or isinstance(v, list),
}
_MOVE: dict[str, Callable[[Any], bool]] = {
    **_COMMON, "target_node": _opt_str, "iallocator": _opt_str, "ignore_ipolicy": _is_bool,
    "cleanup": _is_bool,
}
_CREATE: dict[str, Callable[[Any], bool]] = {
    **_COMMON, "instance_name": lambda v: isinstance(v, str) and bool(v),
    "mode": lambda v: v in ("create", "import", "remote-import"),
    "disk_template": lambda v: v is None or v in DISK_TEMPLATES,
    "disks": _sizes, "nics": lambda v: isinstance(v, list) and all(map(_is_dict, v)),
    "beparams": _beparams, "hvparams": _is_dict, "osparams": _is_dict,
    "osparams_private": _is_dict, "osparams_secret": _is_dict, "os_type": _opt_str,
    "pnode": _opt_str, "snode": _opt_str, "iallocator": _opt_str, "group_name": _opt_str,
    "hypervisor": _opt_str, "file_driver": _opt_str, "file_storage_dir": _opt_str,
    "src_node": _opt_str, "src_path": _opt_str, "tags": _str_list,
    **{flag: _is_bool for flag in (
        "start", "name_check", "ip_check", "conflicts_check", "wait_for_sync", "no_install",
        "ignore_ipolicy", "opportunistic_locking", "force_variant",
        "identify_defaults", "instance_communication")},
}
_TAGS: dict[str, Callable[[Any], bool]] = {
    **_COMMON, "kind": lambda v: v in ("cluster", "node", "instance", "nodegroup"),
    "name": _opt_str, "tags": _str_list,
}
# Every parameter of the served opcodes (Ganeti's opcode definitions) and its type check.
_OP_PARAMS: dict[str, dict[str, Callable[[Any], bool]]] = {
    "OP_INSTANCE_MIGRATE": {
        **_MOVE, "instance_name": _opt_str, "mode": lambda v: v in (None, "live", "non-live"),
        "live": _opt_bool, "allow_runtime_changes": _is_bool, "allow_failover": _is_bool,
        "ignore_hvversions": _is_bool,
    },
    "OP_INSTANCE_FAILOVER": {
        **_MOVE, "instance_name": _opt_str, "shutdown_timeout": lambda v: _is_int(v) and v >= 0,
        "ignore_consistency": _is_bool,
    },
    "OP_INSTANCE_REPLACE_DISKS": {
        **_COMMON, "instance_name": _opt_str, "early_release": _is_bool,
        "ignore_ipolicy": _is_bool,
        "mode": lambda v: v in ("replace_on_primary", "replace_on_secondary",
                                "replace_new_secondary", "replace_auto"),
        "disks": lambda v: isinstance(v, list) and all(_is_int(d) for d in v),
        "remote_node": _opt_str, "iallocator": _opt_str,
    },
    "OP_INSTANCE_CREATE": _CREATE,
    "OP_INSTANCE_MULTI_ALLOC": {
        **_COMMON, "instances": lambda v: isinstance(v, list) and all(map(_is_dict, v)),
        "iallocator": _opt_str, "opportunistic_locking": _is_bool,
    },
    "OP_INSTANCE_REMOVE": {
        **_COMMON, "instance_name": _opt_str, "ignore_failures": _is_bool,
        "shutdown_timeout": lambda v: _is_int(v) and v >= 0,
    },
    "OP_INSTANCE_STARTUP": {
        **_COMMON, "instance_name": _opt_str, "force": _is_bool, "no_remember": _is_bool,
        "ignore_offline_nodes": _is_bool, "startup_paused": _is_bool,
        "hvparams": _is_dict, "beparams": _is_dict,
        "shutdown_timeout": lambda v: _is_int(v) and v >= 0,
    },
    "OP_INSTANCE_SHUTDOWN": {
        **_COMMON, "instance_name": _opt_str, "force": _is_bool, "no_remember": _is_bool,
        "ignore_offline_nodes": _is_bool, "timeout": lambda v: _is_int(v) and v >= 0,
        "admin_state_source": _opt_str,
    },
    "OP_INSTANCE_REBOOT": {
        **_COMMON, "instance_name": _opt_str,
        "reboot_type": lambda v: v in ("soft", "hard", "full"),
        "ignore_secondaries": _is_bool, "shutdown_timeout": lambda v: _is_int(v) and v >= 0,
    },
    "OP_INSTANCE_SET_PARAMS": {
        **_COMMON, "instance_name": _opt_str,
        "disk_template": lambda v: v is None or v in DISK_TEMPLATES,
        "remote_node": _opt_str, "iallocator": _opt_str,
        "beparams": lambda v: _beparams(v, MODIFIABLE_BEPARAMS),
        "force": _is_bool, "wait_for_sync": _is_bool, "ignore_ipolicy": _is_bool,
    },
    "OP_NODE_SET_PARAMS": {
        **_COMMON, "node_name": _opt_str, "master_candidate": _opt_bool, "offline": _opt_bool,
        "drained": _opt_bool, "force": _is_bool, "auto_promote": _is_bool,
    },
    "OP_NODE_EVACUATE": {
        **_COMMON, "node_name": _opt_str, "mode": lambda v: v in EVAC_MODES,
        "iallocator": _opt_str, "remote_node": _opt_str, "early_release": _is_bool,
        "ignore_soft_errors": _is_bool,
    },
    "OP_NODE_MIGRATE": {
        **_COMMON, "node_name": _opt_str, "mode": lambda v: v in (None, "live", "non-live"),
        "live": _opt_bool, "target_node": _opt_str, "iallocator": _opt_str,
        "allow_runtime_changes": _is_bool, "ignore_ipolicy": _is_bool,
    },
    "OP_TAGS_SET": _TAGS,
    "OP_TAGS_DEL": _TAGS,
}
# Parameters without a default (Ganeti's NoDefault), in its order.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "OP_INSTANCE_REPLACE_DISKS": ("mode",),
    "OP_INSTANCE_CREATE": ("instance_name", "disks", "mode", "nics"),
    "OP_NODE_EVACUATE": ("mode",),
}
