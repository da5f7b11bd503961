"""Run jobsets through RAPI: one jobset at a time, its jobs in parallel.

This follows Ganeti's ``hbal -X`` (``Ganeti.Jobs.execWithCancel``): the jobs of
a jobset are submitted together ("Got job IDs ..."), all of them are waited
for, and the run stops after the first jobset with a failed job.  SIGINT asks
for a stop at the end of the current jobset (running jobs are never
abandoned); SIGTERM exits at once with status 2.

RAPI has no resource that takes a list of opcodes: each opcode is its own
RAPI job.  A job of several opcodes (hbal's ``f r:N f``) therefore runs as a
chain, each step submitted when the previous one succeeded.  A stop request
lets a started chain finish, as a Luxi job of several opcodes would.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

from executor.jobs import Job, JobSet, jobset_description
from executor.rapi_client import RapiClient, RapiError, job_status


@dataclass(frozen=True)
class Annotation:
    """What every submitted opcode carries: comment, reason text, priority."""

    comment: str | None = None
    reason: str | None = None
    priority: int | None = None


@dataclass
class JobRun:
    """What happened to one job: its RAPI job ids (one per opcode run) and outcome."""

    job: Job
    job_ids: list[int] = field(default_factory=list)
    status: str = "not submitted"
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def submitted(self) -> bool:
        return bool(self.job_ids)

    def describe(self) -> str:
        if not self.submitted:
            return f"{self.job.instance}: {self.status}: submission failed: {self.error}"
        ids = ", ".join(str(i) for i in self.job_ids)
        text = f"{self.job.instance} (job {ids}): {self.status}"
        return f"{text}: {self.error}" if self.error else text


@dataclass
class RunResult:
    """Which jobsets ran (with each job's outcome) and which were not submitted."""

    ran: list[list[JobRun]] = field(default_factory=list)
    not_run: list[JobSet] = field(default_factory=list)
    stopped: bool = False

    @property
    def failures(self) -> list[JobRun]:
        return [run for runs in self.ran for run in runs if not run.ok]

    def summary(self) -> list[str]:
        """What ran and what did not, one line per jobset."""
        lines = [f"{len(self.ran)} jobset(s) submitted:"]
        for runs in self.ran:
            lines.append("  " + jobset_description([r.job for r in runs]) + ": "
                         + "; ".join(r.describe() for r in runs))
        lines.append(f"{len(self.not_run)} jobset(s) not submitted:")
        lines.extend("  " + jobset_description(js) for js in self.not_run)
        return lines


def _opcode_error(job: dict) -> str:
    """The error of a failed job: the message of its first failed opcode."""
    statuses = job.get("opstatus") or []
    results = job.get("opresult") or []
    for status, result in zip(statuses, results, strict=False):
        if status == "error":
            # Ganeti: [error type, [message, (classification)]]
            if (isinstance(result, list) and len(result) == 2
                    and isinstance(result[1], list) and result[1]):
                return f"{result[0]}: {result[1][0]}"
            return str(result)
    return ""


class Runner:
    """Runs jobsets on one RAPI endpoint, printing progress to ``out``."""

    def __init__(self, client: RapiClient, annotation: Annotation = Annotation(),
                 out: TextIO | None = None) -> None:
        self.client = client
        self.annotation = annotation
        self.out = out if out is not None else sys.stdout
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def say(self, line: str) -> None:
        with self._lock:
            print(line, file=self.out, flush=True)

    def request_stop(self) -> None:
        """Stop after the jobs that are running (SIGINT)."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def _submit(self, run: JobRun, step: int) -> bool:
        """Submit step ``step`` of a job; on failure the run records why."""
        ann = self.annotation
        try:
            run.job_ids.append(self.client.submit(
                run.job.opcodes[step], reason=ann.reason, comment=ann.comment,
                priority=ann.priority))
        except RapiError as err:
            run.status, run.error = "error", str(err)
            return False
        run.status = "submitted"
        return True

    def _log(self, job_id: int, entry: list) -> None:
        message = entry[3]
        if isinstance(message, list):  # Ganeti sends some messages as a pair
            message = message[-1]
        self.say(f"  job {job_id}: {message}")

    def _follow(self, run: JobRun) -> JobRun:
        """Wait for the submitted first step, then run the remaining steps in turn."""
        steps = len(run.job.opcodes)
        step = 0
        while True:
            job_id = run.job_ids[-1]
            try:
                final = self.client.wait_job(job_id, lambda e, j=job_id: self._log(j, e))
                run.status = job_status(final)
            except RapiError as err:
                run.status, run.error = "unknown", f"waiting for job {job_id}: {err}"
                return run
            where = f" (step {step + 1}/{steps})" if steps > 1 else ""
            if run.status != "success":
                run.error = _opcode_error(final)
                self.say(f"Job {job_id} for {run.job.instance}{where}: {run.status}"
                         + (f": {run.error}" if run.error else ""))
                return run
            self.say(f"Job {job_id} for {run.job.instance}{where}: success")
            step += 1
            if step == steps:
                return run
            if not self._submit(run, step):
                self.say(f"{run.job.instance} (step {step + 1}/{steps}): submission failed: "
                         f"{run.error}")
                return run
            self.say(f"Submitted job {run.job_ids[-1]} for {run.job.instance}"
                     f" (step {step + 1}/{steps})")

    def run_jobset(self, jobset: JobSet) -> list[JobRun]:
        """Submit the jobs of one jobset together and wait for all of them."""
        runs = [JobRun(job) for job in jobset]
        started = [run for run in runs if self._submit(run, 0)]
        for run in runs:
            if not run.submitted:
                self.say(run.describe())
        if started:
            self.say("Got job IDs " + ", ".join(str(run.job_ids[0]) for run in started))
            with ThreadPoolExecutor(max_workers=len(started)) as pool:
                list(pool.map(self._follow, started))
        return runs

    def run(self, jobsets: Sequence[JobSet]) -> RunResult:
        """Run jobsets in order; stop after a failure or a stop request."""
        jobsets = [jobset for jobset in jobsets if jobset]
        result = RunResult()
        for index, jobset in enumerate(jobsets):
            if self.stop_requested:
                result.stopped = True
                result.not_run = list(jobsets[index:])
                break
            self.say(f"Jobset {index + 1}/{len(jobsets)}: "
                     + ", ".join(job.instance for job in jobset))
            runs = self.run_jobset(jobset)
            result.ran.append(runs)
            if any(not run.ok for run in runs):
                result.not_run = list(jobsets[index + 1:])
                break
        return result


@contextmanager
def stop_on_signals(runner: Runner) -> Iterator[None]:
    """Ganeti's handlers: SIGINT stops after the current jobset, SIGTERM exits with 2."""
    def on_int(signum: int, frame: object) -> None:
        runner.request_stop()
        runner.say("Cancel request registered, will exit at the end of the current "
                   "job set...")

    def on_term(signum: int, frame: object) -> None:
        runner.say("Double cancel request, exiting now...")
        os._exit(2)

    previous = {sig: signal.signal(sig, handler)
                for sig, handler in ((signal.SIGINT, on_int), (signal.SIGTERM, on_term))}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
