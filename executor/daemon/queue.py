"""The job queue: jobs run by worker threads, in order, under locks, persistently.

A job moves through Ganeti's statuses: ``queued``, ``waiting`` (for the locks
of its instance and nodes), ``running``, then ``success``, ``error`` or
``canceled``.  Jobs on disjoint instances and nodes run at the same time
(hbal's jobsets rely on it); jobs that share one wait for each other.

Every change is stored before anyone can see it.  On start-up the queue takes
back what a crash left: jobs still queued or waiting run as if nothing had
happened (none of their opcodes ran), and a job that was running is failed
with the reason, because its current opcode may or may not have reached the
nodes and running it again could repeat it.  No job is lost and none runs
twice.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable

from executor.daemon.store import Job, Store, Timestamp
from executor.nodes.sim import Log, OpError, WithJobs, lock_names, run_opcode
from solver.records import ClusterData

FINAL = ("success", "error", "canceled")
log = logging.getLogger("hrapid")
RESTART_REASON = ("hrapid was restarted while this job was running; the outcome of the "
                  "running opcode is unknown, so it was not run again")


def now() -> Timestamp:
    t = time.time()
    return [int(t), int((t % 1) * 1e6)]


def summary(op: dict) -> str:
    """Ganeti's opcode summary: the name without ``OP_`` and the instance or node it acts on."""
    name = str(op.get("OP_ID", "")).removeprefix("OP_")
    target = op.get("instance_name", op.get("node_name"))
    return f"{name}({target})" if target is not None else name


NodeWork = Callable[[ClusterData, dict, Log], None]


class JobQueue:
    """The cluster and its jobs; ``op_delay`` seconds are spent per opcode (for tests).

    ``nodes`` does an opcode's work on real nodes (``executor.nodes.apply``)
    before its effect is stored; None (the simulation) issues no commands.
    It runs without the queue's lock, since commands take seconds to minutes
    and readers must not wait for them; the job's instance and node locks
    keep other jobs off what it touches.
    """

    def __init__(self, store: Store, cluster: ClusterData, *, workers: int = 4,
                 op_delay: float = 0.0, nodes: NodeWork | None = None) -> None:
        self.store = store
        self.cluster = cluster
        self.op_delay = op_delay
        self.nodes = nodes
        # One condition for everything: job changes, lock releases, new jobs.
        self.changed = threading.Condition()
        self.jobs: dict[int, Job] = {job.id: job for job in store.jobs()}
        self.held: set[str] = set()
        self.stopping = False
        self._recover()
        self.threads = [threading.Thread(target=self._work, name=f"hrapid-worker-{i}",
                                         daemon=True) for i in range(workers)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        """Start no new job and return once the running ones have finished.

        A running job is never abandoned on a clean stop: only a crash leaves
        one for :meth:`_recover`.
        """
        with self.changed:
            self.stopping = True
            self.changed.notify_all()
        for thread in self.threads:
            if thread.is_alive():
                thread.join()

    # --- reading ---------------------------------------------------------------------

    def read(self, reader: Callable[[ClusterData], object]) -> object:
        """Run ``reader`` on the live cluster while no opcode can change it."""
        with self.changed:
            return reader(self.cluster)

    def job(self, job_id: int) -> Job | None:
        with self.changed:
            job = self.jobs.get(job_id)
            return None if job is None else copy.deepcopy(job)

    def all_jobs(self) -> list[Job]:
        with self.changed:
            return [copy.deepcopy(self.jobs[i]) for i in sorted(self.jobs)]

    def wait_change(self, job_id: int, unchanged: Callable[[Job], bool],
                    timeout: float) -> Job | None:
        """The job once ``unchanged(job)`` is false, or None after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                job = self.jobs.get(job_id)
                if job is None or not unchanged(job):
                    return None if job is None else copy.deepcopy(job)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)

    # --- writing ---------------------------------------------------------------------

    def submit(self, ops: list[dict]) -> int:
        """Store a new job; ids and the order jobs start in follow submission order."""
        with self.changed:  # re-entrant: opcodes submit their follow-up jobs under it
            job = self.store.add_job(ops, now())
            self.jobs[job.id] = job
            self.changed.notify_all()
        return job.id

    def cancel(self, job_id: int) -> list:
        """Ganeti's answer to a cancel: ``[success, message]``; only waiting jobs stop."""
        with self.changed:
            job = self.jobs[job_id]
            if job.status not in ("queued", "waiting"):
                return [False, f"Job {job_id} is no longer waiting in the queue"]
            job.status = "canceled"
            job.opstatus = ["canceled"] * len(job.ops)
            job.end_ts = now()
            self._save(job)
            return [True, f"Job {job_id} canceled"]

    # --- internals -------------------------------------------------------------------

    def _save(self, job: Job, cluster: ClusterData | None = None) -> None:
        """Store a change and tell the waiters (the caller holds ``changed``)."""
        self.store.save_job(job, cluster)
        self.changed.notify_all()

    def _log(self, job: Job, index: int, message: str) -> None:
        """Add to the job's log; node work logs without holding the lock, so take it."""
        with self.changed:
            job.log_serial += 1
            job.oplog[index].append([job.log_serial, now(), "message", message])

    def _recover(self) -> None:
        for job in self.jobs.values():
            if job.status == "waiting":
                job.status = "queued"
                job.opstatus = ["queued" if s == "waiting" else s for s in job.opstatus]
                self.store.save_job(job)
            elif job.status == "running":
                self._fail_rest(job, OpError("OpExecError", RESTART_REASON))
                self.store.save_job(job)

    def _fail_rest(self, job: Job, err: OpError) -> None:
        """Fail the first unfinished opcode with ``err`` and every later one, as Ganeti does."""
        first = True
        for index, status in enumerate(job.opstatus):
            if status in FINAL:
                continue
            job.opstatus[index] = "error"
            job.opresult[index] = err.encoded() if first else [
                "OpExecError", ["Preceding opcode failed"]]
            if first:
                self._log(job, index, f"Error: {err}")
            first = False
        job.status = "error"
        job.end_ts = now()

    def _next(self) -> Job | None:
        """Claim the oldest queued job (caller holds ``changed``)."""
        for job_id in sorted(self.jobs):
            job = self.jobs[job_id]
            if job.status == "queued":
                job.status = "waiting"
                job.opstatus = ["waiting" if s == "queued" else s for s in job.opstatus]
                job.start_ts = now()
                self._save(job)
                return job
        return None

    def _locks(self, job: Job) -> set[str]:
        names: set[str] = set()
        for op in job.ops:
            names |= lock_names(self.cluster, op)
        return names

    def _acquire(self, job: Job) -> set[str] | None:
        """Hold every lock the job needs, all at once; None when the daemon stops.

        Nothing is held while waiting, so two jobs can never wait for each
        other.  The names depend on where the instance is, which an earlier
        job may change while this one waits, so they are computed afresh on
        every attempt (the caller holds ``changed``, so they cannot change
        between computing and taking them).
        """
        while not self.stopping:
            wanted = self._locks(job)
            if not wanted & self.held:
                self.held |= wanted
                return wanted
            self.changed.wait()
        return None

    def _work(self) -> None:
        while True:
            with self.changed:
                job = None
                while not self.stopping and (job := self._next()) is None:
                    self.changed.wait()
                if job is None:
                    return
                held = self._acquire(job)
                if held is None:
                    return
                job.status = "running"
                self._save(job)
            try:
                self._run(job)
            finally:
                with self.changed:
                    self.held -= held
                    self.changed.notify_all()

    def _node_work(self, job: Job, index: int, op: dict) -> bool:
        """Run the opcode's node operations; on failure fail the job and say so."""
        if self.nodes is None:
            return True
        try:
            self.nodes(self.cluster, op, lambda text: self._log(job, index, text))
        except OpError as err:
            with self.changed:
                self._fail_rest(job, err)
                self._save(job)
            return False
        return True

    def _run(self, job: Job) -> None:
        for index, op in enumerate(job.ops):
            with self.changed:
                job.opstatus[index] = "running"
                self._log(job, index, f"Starting {summary(op)}")
                self._save(job)
            if self.op_delay:
                time.sleep(self.op_delay)
            if not self._node_work(job, index, op):
                return
            with self.changed:
                changed = copy.deepcopy(self.cluster)
                try:
                    result = run_opcode(changed, op,
                                        lambda text, i=index: self._log(job, i, text))
                except OpError as err:
                    self._fail_rest(job, err)
                    self._save(job)
                    return
                except Exception as err:  # a bug: fail the job, keep the worker and the cluster
                    log.exception("opcode %s of job %d failed", summary(op), job.id)
                    self._fail_rest(job, OpError("OpExecError", f"Internal error: {err}"))
                    self._save(job)
                    return
                if op.get("dry_run"):
                    changed = self.cluster
                    if isinstance(result, WithJobs):
                        result = {**result.other, "jobs": []}
                elif isinstance(result, WithJobs):
                    ids = [self.submit(ops) for ops in result.jobs]
                    result = {**result.other, "jobs": [[True, i] for i in ids]}
                job.opstatus[index] = "success"
                job.opresult[index] = result
                self.cluster = changed
                if index == len(job.ops) - 1:
                    job.status = "success"
                    job.end_ts = now()
                self._save(job, changed)
