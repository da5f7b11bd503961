"""The daemon's state in SQLite: the cluster description and the job queue.

Everything a restart needs lives in one database file in the state
directory, written in WAL mode with full synchronisation, so a ``kill -9``
loses at most the change being written.  The cluster is kept as Ganeti's text
format (``htools.backends.text``): one writer and one parser for the whole
project, and ``hbal -t`` can read a dump of the daemon's state.  What that
format cannot say (a node's role flags, an instance's several disks and its
NICs) is kept beside it as JSON, written in the same transaction.  A job's
status and the cluster change of its opcode are written in one transaction:
after a crash an opcode either happened and says so, or neither.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Any

from htools.backends.text import dump_text, parse_text
from solver.records import ClusterData

DB_NAME = "hrapid.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cluster (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS cluster_extra (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL,
    ops TEXT NOT NULL,
    opstatus TEXT NOT NULL,
    opresult TEXT NOT NULL,
    oplog TEXT NOT NULL,
    received_ts TEXT,
    start_ts TEXT,
    end_ts TEXT
);
"""

# A timestamp as Ganeti writes it: [seconds, microseconds].
Timestamp = list[int] | None


@dataclass
class Job:
    """One job as stored; the JSON columns are decoded."""

    id: int
    status: str
    ops: list[dict]
    opstatus: list[str]
    opresult: list[Any]
    oplog: list[list[list]]
    received_ts: Timestamp = None
    start_ts: Timestamp = None
    end_ts: Timestamp = None
    # Not stored: the serial of the last log entry, derived on load.
    log_serial: int = field(default=0, compare=False)


_COLUMNS = ("status", "ops", "opstatus", "opresult", "oplog", "received_ts", "start_ts",
            "end_ts")


class StoreError(Exception):
    """The state directory cannot be used; the text is the one-line reason."""


class Store:
    """One SQLite database, shared by the HTTP threads and the workers under a lock."""

    def __init__(self, directory: str) -> None:
        try:
            os.makedirs(directory, exist_ok=True)
            self.db = sqlite3.connect(os.path.join(directory, DB_NAME),
                                      check_same_thread=False, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as err:
            raise StoreError(f"cannot use state directory {directory}: {err}") from None
        self.lock = threading.Lock()

    def close(self) -> None:
        with self.lock:
            self.db.close()

    # --- cluster ---------------------------------------------------------------------

    def load_cluster(self) -> ClusterData | None:
        with self.lock:
            row = self.db.execute("SELECT text FROM cluster WHERE id = 1").fetchone()
            extra = self.db.execute("SELECT json FROM cluster_extra WHERE id = 1").fetchone()
        if row is None:
            return None
        data = parse_text(row[0])
        _apply_extra(data, json.loads(extra[0]) if extra else {})
        return data

    def init_cluster(self, data: ClusterData) -> None:
        """Replace the stored cluster (``--init-from``); the job history is kept."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self._write_cluster(data)
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def _write_cluster(self, data: ClusterData) -> None:
        """Write the cluster and its extras (the caller holds the lock, in a transaction)."""
        self.db.execute("INSERT OR REPLACE INTO cluster (id, text) VALUES (1, ?)",
                        (dump_text(data),))
        self.db.execute("INSERT OR REPLACE INTO cluster_extra (id, json) VALUES (1, ?)",
                        (json.dumps(_extra(data)),))

    # --- jobs ------------------------------------------------------------------------

    def add_job(self, ops: list[dict], received: Timestamp) -> Job:
        job = Job(0, "queued", ops, ["queued"] * len(ops), [None] * len(ops),
                  [[] for _ in ops], received)
        with self.lock:
            cursor = self.db.execute(
                f"INSERT INTO jobs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * 8)})",
                _row(job))
        job.id = int(cursor.lastrowid or 0)
        return job

    def save_job(self, job: Job, cluster: ClusterData | None = None) -> None:
        """Write a job, and with ``cluster`` the cluster it changed, in one transaction."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute(
                    f"UPDATE jobs SET {', '.join(c + ' = ?' for c in _COLUMNS)} WHERE id = ?",
                    (*_row(job), job.id))
                if cluster is not None:
                    self._write_cluster(cluster)
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def jobs(self) -> list[Job]:
        with self.lock:
            rows = self.db.execute(
                f"SELECT id, {', '.join(_COLUMNS)} FROM jobs ORDER BY id").fetchall()
        return [_job(row) for row in rows]


_NODE_FLAGS = ("offline", "drained", "role_offline", "master_candidate")


def _extra(data: ClusterData) -> dict[str, Any]:
    """What the text format loses: node flags it folds into one, disk lists, NICs."""
    nodes = {n.name: {f: getattr(n, f) for f in _NODE_FLAGS} for n in data.nodes
             if n.drained or n.role_offline or n.master_candidate}
    instances = {i.name: {"disks": i.disks, "nics": i.nics} for i in data.instances
                 if len(i.disks) > 1 or i.nics}
    return {"nodes": nodes, "instances": instances}


def _apply_extra(data: ClusterData, extra: dict[str, Any]) -> None:
    nodes = extra.get("nodes", {})
    for node in data.nodes:
        for flag, value in nodes.get(node.name, {}).items():
            setattr(node, flag, value)
    instances = extra.get("instances", {})
    for inst in data.instances:
        if inst.name in instances:
            inst.disks = [(size, spindles) for size, spindles in instances[inst.name]["disks"]]
            inst.nics = instances[inst.name]["nics"]


def _row(job: Job) -> tuple:
    return (job.status, json.dumps(job.ops), json.dumps(job.opstatus),
            json.dumps(job.opresult), json.dumps(job.oplog), json.dumps(job.received_ts),
            json.dumps(job.start_ts), json.dumps(job.end_ts))


def _job(row: tuple) -> Job:
    job_id, status, *encoded = row
    ops, opstatus, opresult, oplog, received, start, end = (json.loads(v) for v in encoded)
    serial = max((entry[0] for log in oplog for entry in log), default=0)
    return Job(job_id, status, ops, opstatus, opresult, oplog, received, start, end, serial)
