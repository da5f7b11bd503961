"""RAPI v2 resources over the daemon's cluster and queue, shaped as Ganeti's ``rlib2``.

Readers of these documents are strict (our RAPI backend and Ganeti's hbal
check every key they use), so field names, types and list orders follow
Ganeti 3.0.2 (``doc/rapi.rst``): bulk listings carry every documented field,
plain listings ``{"id"/"name", "uri"}`` sorted by name, single resources the
same fields as bulk ones.  Figures come from the stored cluster: a node's
``mfree``/``dfree`` are what the node driver left there, an instance's
``disk_usage`` and memory are the sizes hbal reads back.

Two additions: ``fields=a,b`` on a listing or single resource keeps only
those keys (Ganeti offers that only through ``/2/query``), and instances
carry ``forthcoming``, which Ganeti's readers accept but its RAPI omits.
Differences: an opcode on an unknown instance or node is refused at once
(404/400) instead of becoming a job that fails; a node the text file marks
"Y" is served as drained (see ``_node_doc``); a file without a master gets
its first node as master.  Node CPU speeds are served in ``ndparams`` but
RAPI readers ignore them, so ``hbal -m`` scores such clusters as if every
CPU had speed 1.

Errors are raised as :class:`HttpError` and rendered by the server with
Ganeti's body ``{"code", "message", "explain"}``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from executor.daemon.queue import JobQueue, summary
from executor.daemon.store import Job
from htools.jsonread import ipolicy_json
from solver.records import ClusterData, Group, Instance, Node

RAPI_VERSION = 2
# Ganeti's optional features (rlib2.ALL_FEATURES); this daemon serves none of the
# request formats they announce (instance creation, reinstall, node migration and
# evacuation), so it announces none.
FEATURES: list[str] = []
# How long /2/jobs/ID/wait blocks before answering "no change" (Ganeti: 10 s).
WAIT_TIMEOUT = 10.0

_ADMIN_DOWN = ("ADMIN_down", "ERROR_up")
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


def _master(data: ClusterData) -> int | None:
    """The master node: the one the file marks, else the first (a cluster always has one).

    Ganeti's text files need not mark a master, but RAPI's ``/2/info`` must
    name one for readers to accept the cluster.
    """
    marked = [i for i, node in enumerate(data.nodes) if node.master]
    return marked[0] if marked else 0 if data.nodes else None


def _node_docs(data: ClusterData, only: str | None = None) -> list[dict[str, Any]]:
    """Every node's document, or with ``only`` just that node's."""
    primaries: list[list[str]] = [[] for _ in data.nodes]
    secondaries: list[list[str]] = [[] for _ in data.nodes]
    for inst in data.instances:
        primaries[inst.pnode].append(inst.name)
        if inst.snode >= 0:
            secondaries[inst.snode].append(inst.name)
    master = _master(data)
    return [_node_doc(data, node, i == master, sorted(primaries[i]), sorted(secondaries[i]))
            for i, node in enumerate(data.nodes) if only in (None, node.name)]


def _node_doc(data: ClusterData, node: Node, master: bool, primaries: list[str],
              secondaries: list[str]) -> dict[str, Any]:
    # The text format's "Y" means offline or drained without saying which.  It is
    # served as drained: RAPI readers ignore an offline node's figures, while
    # ``hbal -t`` reads them, and a drained node is unusable (offline) to both.
    drained = node.offline or node.drained
    role = "D" if drained else "M" if master else "R"
    return {
        "name": node.name, "offline": False, "master_candidate": master and not drained,
        "drained": drained, "dtotal": _number(node.t_dsk), "dfree": node.f_dsk,
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
    admin = ("offline" if inst.status == "ADMIN_offline"
             else "down" if inst.status in _ADMIN_DOWN else "up")
    beparams = {"vcpus": inst.vcpus, "maxmem": inst.mem, "minmem": inst.mem,
                "memory": inst.mem, "auto_balance": inst.auto_balance,
                "spindle_use": inst.spindle_use}
    return {
        "name": inst.name, "admin_state": admin, "os": None,
        "pnode": data.nodes[inst.pnode].name,
        "snodes": [data.nodes[inst.snode].name] if inst.snode >= 0 else [],
        "disk_template": inst.template,
        "nic.ips": [], "nic.macs": [], "nic.modes": [], "nic.uuids": [], "nic.names": [],
        "nic.links": [], "nic.networks": [], "nic.networks.names": [], "nic.bridges": [],
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
    master = _master(data)
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
            if len(path) == 2:
                return {"GET": lambda req: self._listing(kind, req)}
            return {"GET": lambda req: self._item(kind, path[2], req)}
        if len(path) == 4 and path[:2] == ["2", "instances"] and path[3] in _OPCODES:
            method, op_id = _OPCODES[path[3]]
            return {method: lambda req: self._submit(op_id, path[2], req)}
        if path[:2] == ["2", "jobs"]:
            return self._job_route(path[2:])
        return None

    # --- cluster reads ---------------------------------------------------------------

    def _listing(self, kind: str, req: Request) -> list:
        bulk = _flag(req.query, "bulk")
        id_key, names, docs = _COLLECTIONS[kind]

        def build(data: ClusterData) -> list:
            if bulk:
                return [_select(doc, req.query) for doc in docs(data, None)]
            return [{id_key: name, "uri": f"/2/{kind}/{name}"} for name in sorted(names(data))]
        return self.queue.read(build)  # type: ignore[return-value]

    def _item(self, kind: str, name: str, req: Request) -> dict:
        docs = _COLLECTIONS[kind][2]

        def build(data: ClusterData) -> dict | None:
            return next(iter(docs(data, name)), None)
        doc = self.queue.read(build)
        if doc is None:
            raise HttpError(404)
        return _select(doc, req.query)  # type: ignore[arg-type]

    # --- opcodes ---------------------------------------------------------------------

    def _submit(self, op_id: str, instance: str, req: Request) -> str:
        """Check the body like Ganeti's ``FillOpcode`` and queue a one-opcode job."""
        body = {} if req.body is None else req.body
        if not isinstance(body, dict):
            raise _bad(f"Body contents: Type is '{_json_type(body)}', but 'dict' is expected")
        if op_id == "OP_INSTANCE_REPLACE_DISKS":
            body = _replace_disks_input(body, req.query)
        static = {"instance_name": instance}
        if "reason" in body or "instance_name" in body:
            overwritten = sorted({"instance_name", "reason"} & set(body))
            raise _bad(f"Can't overwrite static parameters {overwritten!r}")
        params = _OP_PARAMS[op_id]
        for key, value in body.items():
            check = params.get(key)
            if check is None:
                raise _bad(f"Invalid body parameters: {op_id} doesn't support the "
                           f"parameter '{key}'")
            if not check(value):
                raise _bad(f"Invalid body parameters: Parameter '{op_id}.{key}' fails "
                           "validation")
        if op_id == "OP_INSTANCE_REPLACE_DISKS" and "mode" not in body:
            raise _bad(f"Invalid body parameters: Parameter '{op_id}.mode' is missing")
        if _flag(req.query, "dry-run"):
            static["dry_run"] = True  # type: ignore[assignment]
        user_reason = (req.query.get("reason") or [""])[0]
        op = {"OP_ID": op_id, **static, **body,
              "reason": [["gnt:client:rlib2", user_reason, time.time_ns()]]}

        def known(data: ClusterData) -> tuple[bool, list[str]]:
            names = {n.name for n in data.nodes}
            return (any(i.name == instance for i in data.instances),
                    [body[k] for k in ("target_node", "remote_node")
                     if isinstance(body.get(k), str) and body[k] not in names])
        found, unknown_nodes = self.queue.read(known)  # type: ignore[misc]
        if not found:
            raise HttpError(404, f"Instance '{instance}' not known")
        if unknown_nodes:
            raise _bad(f"Node '{unknown_nodes[0]}' not known")
        return str(self.queue.submit([op]))

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

# instance resource -> (HTTP method, opcode), as rlib2 maps them
_OPCODES = {
    "migrate": ("PUT", "OP_INSTANCE_MIGRATE"),
    "failover": ("PUT", "OP_INSTANCE_FAILOVER"),
    "replace-disks": ("POST", "OP_INSTANCE_REPLACE_DISKS"),
}


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _opt_str(v: Any) -> bool:
    return v is None or isinstance(v, str)


_COMMON: dict[str, Callable[[Any], bool]] = {
    "dry_run": _is_bool, "debug_level": _is_int, "priority": _is_int,
    "comment": _opt_str, "depends": lambda v: v is None or isinstance(v, list),
}
_MOVE: dict[str, Callable[[Any], bool]] = {
    **_COMMON, "target_node": _opt_str, "iallocator": _opt_str, "ignore_ipolicy": _is_bool,
    "cleanup": _is_bool,
}
# Every parameter of the three opcodes (Ganeti's opcode definitions) and its type check.
_OP_PARAMS: dict[str, dict[str, Callable[[Any], bool]]] = {
    "OP_INSTANCE_MIGRATE": {
        **_MOVE, "mode": lambda v: v in (None, "live", "non-live"),
        "live": lambda v: v is None or isinstance(v, bool),
        "allow_runtime_changes": _is_bool, "allow_failover": _is_bool,
        "ignore_hvversions": _is_bool,
    },
    "OP_INSTANCE_FAILOVER": {
        **_MOVE, "shutdown_timeout": lambda v: _is_int(v) and v >= 0,
        "ignore_consistency": _is_bool,
    },
    "OP_INSTANCE_REPLACE_DISKS": {
        **_COMMON, "early_release": _is_bool, "ignore_ipolicy": _is_bool,
        "mode": lambda v: v in ("replace_on_primary", "replace_on_secondary",
                                "replace_new_secondary", "replace_auto"),
        "disks": lambda v: isinstance(v, list) and all(_is_int(d) for d in v),
        "remote_node": _opt_str, "iallocator": _opt_str,
    },
}
