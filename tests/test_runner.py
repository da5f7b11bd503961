"""Running jobsets (executor.runner) against a fake Ganeti RAPI (tests/fake_rapi.py)."""

from __future__ import annotations

import io
import os
import signal

import pytest
from fake_rapi import FakeJob, FakeRapi

from executor.jobs import Job
from executor.rapi_client import RapiClient
from executor.runner import Annotation, Runner, RunResult, stop_on_signals


def migrate(name: str) -> dict:
    return {"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": name, "cleanup": False}


def replace(name: str, node: str) -> dict:
    return {"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": name,
            "mode": "replace_new_secondary", "disks": [], "remote_node": node}


def job(name: str, *ops: dict) -> Job:
    return Job(name, ops or (migrate(name),))


JOBSETS = [[job("a"), job("b")], [job("c", migrate("c"), replace("c", "n4"), migrate("c"))],
           [job("d")]]


def run(server: FakeRapi, jobsets: list[list[Job]], annotation: Annotation | None = None,
        url: str | None = None) -> tuple[RunResult, str, Runner]:
    out = io.StringIO()
    with RapiClient(url or server.url) as client:
        runner = Runner(client, annotation or Annotation(), out)
        result = runner.run(jobsets)
    return result, out.getvalue(), runner


def test_all_jobsets_run_in_order() -> None:
    with FakeRapi(run_time=0.3) as server:
        result, out, _ = run(server, JOBSETS, Annotation("hbal test", "why", 10))
    ops = server.submitted_ops()
    assert [(op["OP_ID"], op["instance_name"]) for op in ops] == [
        ("OP_INSTANCE_MIGRATE", "a"), ("OP_INSTANCE_MIGRATE", "b"),
        ("OP_INSTANCE_MIGRATE", "c"), ("OP_INSTANCE_REPLACE_DISKS", "c"),
        ("OP_INSTANCE_MIGRATE", "c"), ("OP_INSTANCE_MIGRATE", "d")]
    jobs = sorted(server.jobs.values(), key=lambda j: j.id)
    # Jobs of a jobset are submitted together; the next jobset, and the next step of a
    # job, only after the previous one ended.
    assert jobs[1].received < jobs[0].received + server.run_time
    for before, after in zip(jobs[1:], jobs[2:], strict=False):
        assert after.received >= before.received + server.run_time
    assert all(op["comment"] == "hbal test" and op["priority"] == 10 for op in ops)
    assert all(op["reason"][0][:2] == ["user", "why"] for op in ops)
    assert not result.failures and not result.not_run and not result.stopped
    assert [len(runs) for runs in result.ran] == [2, 1, 1]
    assert result.ran[1][0].job_ids == [102, 103, 104]
    lines = out.splitlines()
    assert lines[:2] == ["Jobset 1/3: a, b", "Got job IDs 100, 101"]
    assert lines.index("Jobset 2/3: c") < lines.index("Got job IDs 102")
    assert "Got job IDs 102" in lines and "Got job IDs 105" in lines
    assert "Submitted job 103 for c (step 2/3)" in lines
    assert "Job 104 for c (step 3/3): success" in lines
    assert "  job 100: started OP_INSTANCE_MIGRATE" in lines


def test_stops_after_the_jobset_with_a_failure() -> None:
    def fail(op: dict) -> str | None:
        return "migration aborted" if op["instance_name"] == "a" else None

    with FakeRapi(fail=fail) as server:
        result, out, _ = run(server, JOBSETS)
    # b, in the same jobset, still ran to its end; nothing after the jobset was submitted.
    assert [op["instance_name"] for op in server.submitted_ops()] == ["a", "b"]
    (failed,) = result.failures
    assert (failed.job.instance, failed.status, failed.job_ids) == ("a", "error", [100])
    assert failed.error == "OpExecError: migration aborted"
    assert result.ran[0][1].ok
    assert [js[0].instance for js in result.not_run] == ["c", "d"]
    assert "Job 100 for a: error: OpExecError: migration aborted" in out.splitlines()
    summary = result.summary()
    assert summary == [
        "1 jobset(s) submitted:",
        "  Executing jobset for instances a, b: a (job 100): error: OpExecError: migration "
        "aborted; b (job 101): success",
        "2 jobset(s) not submitted:",
        "  Executing jobset for instances c",
        "  Executing jobset for instances d"]


def test_failed_step_ends_its_chain() -> None:
    def fail(op: dict) -> str | None:
        return "no space" if op["OP_ID"] == "OP_INSTANCE_REPLACE_DISKS" else None

    with FakeRapi(fail=fail) as server:
        result, _, _ = run(server, JOBSETS[1:])
    assert [op["OP_ID"] for op in server.submitted_ops()] == [
        "OP_INSTANCE_MIGRATE", "OP_INSTANCE_REPLACE_DISKS"]
    (failed,) = result.failures
    assert failed.job_ids == [100, 101] and failed.error == "OpExecError: no space"
    assert [js[0].instance for js in result.not_run] == ["d"]


def test_refused_submission_is_a_failure() -> None:
    users = {"ro": ("pw", False)}
    with FakeRapi(users=users) as server:
        result, out, _ = run(server, JOBSETS, url=f"http://ro:pw@127.0.0.1:{server.port}")
    assert server.jobs == {}
    assert [r.status for r in result.ran[0]] == ["error", "error"]
    assert not result.ran[0][0].submitted
    assert result.ran[0][0].describe().startswith("a: error: submission failed: Request for")
    assert result.ran[0][0].error.endswith("HTTP 403 Forbidden: Not authorized")
    assert "Got job IDs" not in out
    assert len(result.not_run) == 2


def test_stop_request_lets_running_jobs_finish() -> None:
    runner_box: list[Runner] = []

    def on_submit(job: FakeJob) -> None:
        if job.op["instance_name"] == "c" and job.op["OP_ID"] == "OP_INSTANCE_MIGRATE":
            runner_box[0].request_stop()

    with FakeRapi(on_submit=on_submit, run_time=0.1) as server, \
            RapiClient(server.url) as client:
        runner = Runner(client, out=io.StringIO())
        runner_box.append(runner)
        result = runner.run(JOBSETS)
    # The started chain of c ran to its end; d was never submitted.
    assert [op["instance_name"] for op in server.submitted_ops()] == ["a", "b", "c", "c", "c"]
    assert result.stopped and not result.failures
    assert [js[0].instance for js in result.not_run] == ["d"]
    assert result.summary()[-2:] == ["1 jobset(s) not submitted:",
                                     "  Executing jobset for instances d"]


def test_sigint_stops_after_the_current_jobset() -> None:
    out = io.StringIO()

    def on_submit(job: FakeJob) -> None:
        if job.id == 100:
            os.kill(os.getpid(), signal.SIGINT)

    with FakeRapi(on_submit=on_submit, run_time=0.2) as server, \
            RapiClient(server.url) as client:
        runner = Runner(client, out=out)
        before = signal.getsignal(signal.SIGINT)
        with stop_on_signals(runner):
            result = runner.run(JOBSETS)
        assert signal.getsignal(signal.SIGINT) is before
    assert [op["instance_name"] for op in server.submitted_ops()] == ["a", "b"]
    assert result.stopped and len(result.not_run) == 2
    assert all(run.ok for run in result.ran[0])
    assert ("Cancel request registered, will exit at the end of the current job set..."
            in out.getvalue().splitlines())


@pytest.mark.parametrize("jobsets", [[], [[]]])
def test_nothing_to_run(jobsets: list) -> None:
    with FakeRapi() as server:
        result, out, _ = run(server, jobsets)
    assert server.requests == [] and out == ""
    assert not result.ran and not result.not_run
