"""A small stand-in for Ganeti's RAPI daemon, for the executor's tests.

It answers like Ganeti's RAPI (``doc/rapi.rst``, ``lib/rapi/rlib2.py``): opcode
submissions through the instance resources return a job id as a JSON string,
``/2/jobs[?bulk=1]`` and ``/2/jobs/ID`` give the documented job fields,
``/2/jobs/ID/wait`` takes its JSON body and blocks until the status differs
from the previous one (or answers ``null``), errors have Ganeti's
``{code, message, explain}`` body, HTTP Basic users are read-only or
read-write, and ``/wait`` needs write access.  Jobs run by themselves on a
clock: queued, then running, then success or the error a test scripts.
Every request is recorded.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

# resource -> (method, opcode), as rlib2 maps them
RESOURCES = {
    "migrate": ("PUT", "OP_INSTANCE_MIGRATE"),
    "failover": ("PUT", "OP_INSTANCE_FAILOVER"),
    "replace-disks": ("POST", "OP_INSTANCE_REPLACE_DISKS"),
}
FINAL = ("success", "error", "canceled")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    user: str | None


@dataclass
class FakeJob:
    id: int
    op: dict
    received: float
    error: str | None  # None: the job succeeds
    canceled: bool = False


def _ts(t: float | None) -> list[int] | None:
    return None if t is None else [int(t), int((t % 1) * 1e6)]


class LocalServer:
    """An HTTP(S) server on a free loopback port, serving from a thread inside ``with``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], *,
                 tls: ssl.SSLContext | None = None) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        # A short poll interval: shutting down waits for one (the default is 0.5 s).
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                       daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeRapi(LocalServer):
    """Serve a fake cluster; ``fail(opcode)`` returns an error message to make a job fail.

    ``resources`` maps GET paths (with their query, e.g. ``/2/nodes?bulk=1``, or
    without) to JSON values, or to bytes served verbatim.

    ``users`` maps user names to (password, write access); without users no
    authentication is asked for.  ``run_time`` is how long a job runs,
    ``wait_timeout`` how long ``/wait`` blocks before answering ``null``.
    ``on_submit(job)`` is called for every new job (tests stop runners there);
    ``job_answer`` replaces the job id in submission answers (a lying server).
    """

    def __init__(self, *, users: dict[str, tuple[str, bool]] | None = None,
                 fail: Callable[[dict], str | None] | None = None, run_time: float = 0.05,
                 wait_timeout: float = 0.5, resources: dict[str, Any] | None = None,
                 on_submit: Callable[[FakeJob], None] | None = None,
                 job_answer: bytes | None = None, tls: ssl.SSLContext | None = None) -> None:
        self.users = users
        self.fail = fail or (lambda op: None)
        self.run_time = run_time
        self.wait_timeout = wait_timeout
        self.resources = resources or {}
        self.on_submit = on_submit
        self.job_answer = job_answer
        self.requests: list[Request] = []
        self.jobs: dict[int, FakeJob] = {}
        self.next_id = 100
        self.lock = threading.Lock()
        super().__init__(self._handler(), tls=tls)

    # --- jobs ----------------------------------------------------------------------------

    def submitted_ops(self) -> list[dict]:
        return [job.op for job in sorted(self.jobs.values(), key=lambda j: j.id)]

    def add_job(self, op: dict) -> FakeJob:
        with self.lock:
            job = FakeJob(self.next_id, op, time.time(), self.fail(op))
            self.next_id += 1
            self.jobs[job.id] = job
        if self.on_submit is not None:
            self.on_submit(job)
        return job

    def cancel(self, job: FakeJob) -> list:
        """Ganeti's answer to DELETE /2/jobs/ID: only a queued job can be canceled."""
        if self.status(job) != "queued":
            return [False, f"Job {job.id} is no longer waiting in the queue"]
        job.canceled = True
        return [True, f"Job {job.id} canceled"]

    def status(self, job: FakeJob) -> str:
        if job.canceled:
            return "canceled"
        age = time.time() - job.received
        if age < self.run_time / 2:
            return "queued"
        if age < self.run_time:
            return "running"
        return "error" if job.error else "success"

    def log_entries(self, job: FakeJob) -> list[list]:
        entries = []
        if self.status(job) in ("running", *FINAL):
            entries.append([1, _ts(job.received), "message", f"started {job.op['OP_ID']}"])
        return entries

    def document(self, job: FakeJob, bulk: bool = False) -> dict:
        status = self.status(job)
        final = status in FINAL
        start = job.received + self.run_time / 2 if status != "queued" else None
        end = job.received + self.run_time if final else None
        opstatus = {"success": "success", "error": "error"}.get(status, status)
        result = (["OpExecError", [job.error, "ecode_fault"]] if status == "error"
                  else True if final else None)
        doc = {"id": job.id, "ops": [job.op], "status": status,
               "summary": [f"{job.op['OP_ID'][3:]}({job.op.get('instance_name', '')})"],
               "opstatus": [opstatus], "received_ts": _ts(job.received),
               "start_ts": _ts(start), "end_ts": _ts(end)}
        if not bulk:
            doc["oplog"] = [self.log_entries(job)]
            doc["opresult"] = [result]
        return doc

    # --- HTTP ----------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, value: Any) -> None:
                """Send a JSON value; bytes are sent as they are (a lying server)."""
                body = value if isinstance(value, bytes) else json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, status: int, message: str, explain: str = "") -> None:
                self._reply(status, {"code": status, "message": message, "explain": explain})

            def _user(self) -> tuple[bool, str | None, bool]:
                """(allowed, user, write access) from HTTP Basic authentication."""
                if server.users is None:
                    return True, None, True
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return False, None, False
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                known = server.users.get(user)
                if known is None or known[0] != password:
                    return False, None, False
                return True, user, known[1]

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    self._error(400, "Bad Request", "Unable to parse JSON data")
                    return
                allowed, user, write = self._user()
                server.requests.append(Request(method, unquote(parts.path),
                                               parse_qs(parts.query), body, user))
                if not allowed:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="Ganeti Remote API"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._route(method, unquote(parts.path), parse_qs(parts.query), body, write)

            def _route(self, method: str, path: str, query: dict, body: Any,
                       write: bool) -> None:
                segs = path.strip("/").split("/")
                if method != "GET" and not write:
                    self._error(403, "Forbidden", "Not authorized")
                elif method == "GET" and (full := self.path) in server.resources:
                    self._reply(200, server.resources[full])
                elif method == "GET" and path in server.resources:
                    self._reply(200, server.resources[path])
                elif segs[:2] == ["2", "jobs"]:
                    self._jobs(method, segs[2:], query, body, write)
                elif (len(segs) == 4 and segs[:2] == ["2", "instances"]
                      and RESOURCES.get(segs[3], ("",))[0] == method):
                    self._submit(segs[2], RESOURCES[segs[3]][1], query, body)
                elif len(segs) == 4 and segs[3] in RESOURCES:
                    self._error(501, "Not Implemented", f"Method {method} is unsupported")
                else:
                    self._error(404, "Not Found")

            def _submit(self, name: str, op_id: str, query: dict, body: Any) -> None:
                if body is not None and not isinstance(body, dict):
                    self._error(400, "Bad Request", "Body contents must be dict")
                    return
                params = dict(body or {})
                if "reason" in params:
                    self._error(400, "Bad Request",
                                "Can't overwrite static parameters ['reason']")
                    return
                reason = [["user", query["reason"][0], 0]] if "reason" in query else []
                op = {"OP_ID": op_id, "instance_name": name, **params,
                      "reason": reason + [[f"gnt:client:rlib2:{op_id}", "", 0]]}
                job_id = str(server.add_job(op).id)
                self._reply(200, job_id if server.job_answer is None else server.job_answer)

            def _jobs(self, method: str, rest: list[str], query: dict, body: Any,
                      write: bool) -> None:
                if not rest:
                    jobs = sorted(server.jobs.values(), key=lambda j: j.id)
                    if query.get("bulk") == ["1"]:
                        self._reply(200, [server.document(j, bulk=True) for j in jobs])
                    else:
                        self._reply(200, [{"id": j.id, "uri": f"/2/jobs/{j.id}"}
                                          for j in jobs])
                    return
                job = server.jobs.get(int(rest[0])) if rest[0].isdigit() else None
                if job is None:
                    self._error(404, "Not Found", f"Job {rest[0]} not found")
                elif len(rest) == 1 and method == "GET":
                    self._reply(200, server.document(job))
                elif len(rest) == 1 and method == "DELETE":
                    self._reply(200, server.cancel(job))
                elif rest[1:] == ["wait"] and method == "GET":
                    if not write:
                        self._error(403, "Forbidden", "Not authorized")
                    else:
                        self._wait(job, body)
                else:
                    self._error(404, "Not Found")

            def _wait(self, job: FakeJob, body: Any) -> None:
                if not isinstance(body, dict) or not isinstance(body.get("fields"), list):
                    self._error(400, "Bad Request", "The 'fields' parameter should be a list")
                    return
                previous = body.get("previous_job_info")
                serial = body.get("previous_log_serial")
                deadline = time.time() + server.wait_timeout
                while True:
                    doc = server.document(job)
                    info = [doc.get(f) for f in body["fields"]]
                    logs = [e for e in server.log_entries(job)
                            if serial is None or e[0] > serial]
                    if info != previous or logs:
                        self._reply(200, {"job_info": info, "log_entries": logs})
                        return
                    if time.time() > deadline:
                        self._reply(200, None)
                        return
                    time.sleep(0.01)

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self._handle("GET")

            def do_PUT(self) -> None:  # noqa: N802
                self._handle("PUT")

            def do_POST(self) -> None:  # noqa: N802
                self._handle("POST")

            def do_DELETE(self) -> None:  # noqa: N802
                self._handle("DELETE")

        return Handler
