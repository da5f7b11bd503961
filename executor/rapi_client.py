"""A client of Ganeti's remote API (RAPI v2): reads, job submission, job status.

It must work against any RAPI endpoint, a real Ganeti cluster's as well as
ours, so it sends what Ganeti's ``doc/rapi.rst`` documents: opcode parameters
as a JSON body of the instance's ``migrate``/``failover``/``replace-disks``
resource, the user's reason as the ``reason`` query argument (RAPI builds the
reason trail from it), and ``/2/jobs/ID/wait`` with its JSON body to follow a
job.  Cluster strings, credentials in the URL, TLS and transport errors follow
the RAPI backend's rules (``htools.rapi_http``).  Every failure is a
:class:`RapiError` with a one-line message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import requests

from htools.errors import HtoolsError
from htools.rapi_http import HttpFailure, Verify, endpoint, masked, send

# Ganeti's job statuses; the last three are final.
JOB_STATUSES = ("queued", "waiting", "canceling", "running", "canceled", "success", "error")
JOB_FINAL = ("canceled", "success", "error")
# Ganeti's opcode priorities by name (--priority).
PRIORITIES = {"low": 10, "normal": 0, "high": -10}
# How often a job is polled when the user may not call /wait (read-only users get 403).
POLL_INTERVAL = 1.0

HTTP_FORBIDDEN = 403
HTTP_NOT_FOUND = 404

# The instance resource and HTTP method that submit each opcode (doc/rapi.rst).  These
# three take every opcode parameter from the body; others (startup, reboot, ...) read
# some only from query arguments, so they are not offered until something needs them.
_OPCODE_RESOURCES = {
    "OP_INSTANCE_MIGRATE": ("PUT", "migrate"),
    "OP_INSTANCE_FAILOVER": ("PUT", "failover"),
    "OP_INSTANCE_REPLACE_DISKS": ("POST", "replace-disks"),
}


class RapiError(HtoolsError):
    """A RAPI request failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def job_status(job: Any) -> str:
    """The status of a job document, checked: callers branch on it."""
    status = job.get("status") if isinstance(job, dict) else None
    if status not in JOB_STATUSES:
        raise RapiError(f"job document has no valid status: {status!r}")
    return status


class RapiClient:
    """One RAPI endpoint: ``cluster`` as ``hbal -m`` takes it.

    ``verify`` is requests' TLS setting: False (Ganeti's default: certificates
    are not checked), True (system CAs) or the path of a CA bundle.
    """

    def __init__(self, cluster: str, *, verify: Verify = False,
                 session: requests.Session | None = None) -> None:
        self.url = endpoint(cluster).rstrip("/")  # "https://h:5080/" must not give "//2/..."
        self.verify = verify
        self._own_session = session is None
        self.session = requests.Session() if session is None else session

    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def __enter__(self) -> RapiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transport -------------------------------------------------------------------

    def request(self, method: str, path: str, query: dict[str, Any] | None = None,
                body: Any = None) -> Any:
        """Send one request and return the decoded JSON answer (None for an empty body)."""
        url = self.url + path
        if query:
            url += "?" + urlencode(query)
        try:
            response = send(self.session, method, url, verify=self.verify, body=body,
                            fail_status=False)
        except HttpFailure as err:
            raise RapiError(str(err)) from None
        shown = masked(url)
        if response.status >= 400:
            raise RapiError(f"Request for '{shown}' failed: {response.error_text()}",
                            response.status)
        if not response.text.strip():
            return None
        try:
            return json.loads(response.text)
        except ValueError:
            raise RapiError(f"Request for '{shown}' failed: the answer is not JSON") from None

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query or None)

    # --- reads -----------------------------------------------------------------------

    def version(self) -> Any:
        return self.get("/version")

    def info(self) -> Any:
        return self.get("/2/info")

    def features(self) -> Any:
        return self.get("/2/features")

    def _listing(self, what: str, bulk: bool) -> list:
        answer = self.get(f"/2/{what}", **({"bulk": 1} if bulk else {}))
        if not isinstance(answer, list):
            raise RapiError(f"/2/{what} did not answer with a list")
        return answer

    def nodes(self, bulk: bool = False) -> list:
        return self._listing("nodes", bulk)

    def instances(self, bulk: bool = False) -> list:
        return self._listing("instances", bulk)

    def groups(self, bulk: bool = False) -> list:
        return self._listing("groups", bulk)

    def _item(self, what: str, name: str) -> dict:
        answer = self.get(f"/2/{what}/{quote(name, safe='')}")
        if not isinstance(answer, dict):
            raise RapiError(f"/2/{what}/{name} did not answer with an object")
        return answer

    def node(self, name: str) -> dict:
        return self._item("nodes", name)

    def instance(self, name: str) -> dict:
        return self._item("instances", name)

    def group(self, name: str) -> dict:
        return self._item("groups", name)

    def jobs(self, bulk: bool = False) -> list:
        """All jobs: ``[{"id", "uri"}]``, or with ``bulk`` the bulk job fields."""
        return self._listing("jobs", bulk)

    def job(self, job_id: int) -> dict:
        answer = self.get(f"/2/jobs/{job_id}")
        if not isinstance(answer, dict):
            raise RapiError(f"/2/jobs/{job_id} did not answer with an object")
        job_status(answer)
        return answer

    # --- jobs ------------------------------------------------------------------------

    def wait_for_job_change(self, job_id: int, fields: list[str], previous_info: Any,
                            previous_log_serial: int | None) -> dict | None:
        """One ``/2/jobs/ID/wait`` call: None if nothing changed within RAPI's timeout."""
        answer = self.request("GET", f"/2/jobs/{job_id}/wait", body={
            "fields": fields, "previous_job_info": previous_info,
            "previous_log_serial": previous_log_serial})
        if answer is not None and not (isinstance(answer, dict)
                                       and isinstance(answer.get("job_info"), list)
                                       and isinstance(answer.get("log_entries"), list)):
            raise RapiError(f"/2/jobs/{job_id}/wait answered neither null nor "
                            "{job_info, log_entries}")
        return answer

    def wait_job(self, job_id: int, on_log: Callable[[list], None] | None = None,
                 on_unchanged: Callable[[str], None] | None = None) -> dict:
        """Follow a job until it is final and return its full document.

        Log entries (``[serial, timestamp, type, message]``) go to ``on_log`` as
        they arrive; ``on_unchanged(status)`` hears when a wait ended without a
        change (gnt-job uses it to say a job is still queued).  Users without
        write access may not call ``/wait``; for them the job is polled instead
        (and no log entries are seen).
        """
        previous: list | None = None
        serial: int | None = None
        while True:
            try:
                change = self.wait_for_job_change(job_id, ["status"], previous, serial)
            except RapiError as err:
                if err.status == HTTP_NOT_FOUND:
                    raise RapiError(f"job {job_id} not found (lost or archived)",
                                    err.status) from None
                if err.status != HTTP_FORBIDDEN:
                    raise
                return self._poll_job(job_id)
            if change is None:
                if on_unchanged is not None and previous:
                    on_unchanged(previous[0])
                continue
            for entry in change["log_entries"]:
                if isinstance(entry, list) and len(entry) == 4 and isinstance(entry[0], int):
                    serial = entry[0] if serial is None else max(serial, entry[0])
                    if on_log is not None:
                        on_log(entry)
            previous = change["job_info"]
            if previous and previous[0] in JOB_FINAL:
                return self.job(job_id)

    def _poll_job(self, job_id: int) -> dict:
        while True:
            job = self.job(job_id)
            if job_status(job) in JOB_FINAL:
                return job
            time.sleep(POLL_INTERVAL)

    def cancel_job(self, job_id: int) -> Any:
        return self.request("DELETE", f"/2/jobs/{job_id}")

    def submit(self, opcode: dict, *, reason: str | None = None, comment: str | None = None,
               priority: int | None = None, dry_run: bool = False) -> int:
        """Submit one opcode through its instance resource; returns the job id.

        ``comment``, ``priority`` and ``dry_run`` are opcode parameters and
        travel in the body (these resources ignore the ``dry-run`` query
        argument); RAPI refuses a ``reason`` there and builds the reason trail
        from the ``reason`` query argument instead.
        """
        op_id = opcode.get("OP_ID")
        if op_id not in _OPCODE_RESOURCES:
            raise RapiError(f"opcode {op_id} cannot be submitted over RAPI")
        name = opcode.get("instance_name")
        if not isinstance(name, str) or not name:
            raise RapiError(f"opcode {op_id} names no instance")
        method, resource = _OPCODE_RESOURCES[op_id]
        body = {k: v for k, v in opcode.items() if k not in ("OP_ID", "instance_name")}
        if comment is not None:
            body["comment"] = comment
        if priority is not None:
            body["priority"] = priority
        if dry_run:
            body["dry_run"] = True
        query = {"reason": reason} if reason else None
        answer = self.request(method, f"/2/instances/{quote(name, safe='')}/{resource}",
                              query, body)
        return _job_id(answer, f"{op_id} of {name}")


def _job_id(answer: Any, what: str) -> int:
    """RAPI answers a submission with the job id, a JSON string (or a number)."""
    if isinstance(answer, bool):
        answer = None
    if isinstance(answer, (str, int)):
        try:
            return int(answer)
        except ValueError:
            pass
    raise RapiError(f"submitting {what}: the answer is not a job id: {answer!r}")
