"""The daemon's job queue: persistence, locks, recovery after a crash (in process)."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import REPO

from executor.daemon.queue import RESTART_REASON, JobQueue
from executor.daemon.store import Job, Store
from htools.backends.text import load_text
from solver.records import ClusterData

FIXTURE = REPO / "fixtures" / "data" / "small.data"


def movable_pairs(data: ClusterData) -> list[tuple[str, set[int]]]:
    """Running DRBD instances whose secondary has room for them, and their nodes."""
    return [(i.name, {i.pnode, i.snode}) for i in data.instances
            if i.template == "drbd" and i.status == "running"
            and data.nodes[i.snode].f_mem >= i.mem]


def migrate(name: str) -> list[dict]:
    return [{"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": name}]


def started(job: Job) -> float:
    entry = job.oplog[0][0]
    return entry[1][0] + entry[1][1] / 1e6


def ended(job: Job) -> float:
    assert job.end_ts is not None
    return job.end_ts[0] + job.end_ts[1] / 1e6


def wait_all(queue: JobQueue, ids: list[int]) -> list[Job]:
    deadline = time.monotonic() + 20
    while True:
        jobs = [queue.job(i) for i in ids]
        if all(j is not None and j.status in ("success", "error") for j in jobs):
            return jobs  # type: ignore[return-value]
        assert time.monotonic() < deadline, [j.status for j in jobs if j]
        time.sleep(0.02)


def new_queue(tmp_path: Path, **kwargs: float) -> JobQueue:
    store = Store(str(tmp_path))
    if store.load_cluster() is None:
        store.init_cluster(load_text(str(FIXTURE)))
    cluster = store.load_cluster()
    assert cluster is not None
    return JobQueue(store, cluster, **kwargs)  # type: ignore[arg-type]


def test_jobs_on_one_instance_run_one_after_the_other(tmp_path: Path) -> None:
    queue = new_queue(tmp_path, workers=2, op_delay=0.2)
    name = movable_pairs(queue.cluster)[0][0]
    queue.start()
    first, second = wait_all(queue, [queue.submit(migrate(name)), queue.submit(migrate(name))])
    queue.stop()
    assert (first.status, second.status) == ("success", "success")
    assert started(second) >= ended(first)


def test_jobs_on_disjoint_nodes_run_together(tmp_path: Path) -> None:
    queue = new_queue(tmp_path, workers=2, op_delay=0.3)
    pairs = movable_pairs(queue.cluster)
    a, b = pairs[0][0], next(name for name, nodes in pairs[1:] if not nodes & pairs[0][1])
    queue.start()
    one, two = wait_all(queue, [queue.submit(migrate(a)), queue.submit(migrate(b))])
    queue.stop()
    assert started(two) < ended(one)


def test_state_survives_and_a_running_job_fails_on_recovery(tmp_path: Path) -> None:
    queue = new_queue(tmp_path, workers=1)
    name = movable_pairs(queue.cluster)[0][0]
    done = queue.submit(migrate(name))
    queue.start()
    wait_all(queue, [done])
    queue.stop()
    # What a crash leaves: one job running (its opcode unfinished), one waiting, one queued.
    store = queue.store
    running, waiting, queued = (store.add_job(migrate(name), None) for _ in range(3))
    running.status, running.opstatus = "running", ["running"]
    waiting.status, waiting.opstatus = "waiting", ["waiting"]
    store.save_job(running)
    store.save_job(waiting)
    store.close()
    again = new_queue(tmp_path, workers=1)
    moved = next(i for i in again.cluster.instances if i.name == name)
    original = next(i for i in load_text(str(FIXTURE)).instances if i.name == name)
    assert (moved.pnode, moved.snode) == (original.snode, original.pnode)
    failed = again.job(running.id)
    assert failed is not None and failed.status == "error"
    assert failed.opresult == [["OpExecError", [RESTART_REASON]]]
    again.start()
    jobs = wait_all(again, [waiting.id, queued.id])
    again.stop()
    assert [j.status for j in jobs] == ["success", "success"]
    assert [j.id for j in again.all_jobs()] == [done, running.id, waiting.id, queued.id]


def test_cancel_only_before_running(tmp_path: Path) -> None:
    queue = new_queue(tmp_path, workers=1)
    name = movable_pairs(queue.cluster)[0][0]
    job_id = queue.submit(migrate(name))
    assert queue.cancel(job_id) == [True, f"Job {job_id} canceled"]
    assert queue.cancel(job_id) == [False, f"Job {job_id} is no longer waiting in the queue"]
    queue.start()
    queue.stop()
    job = queue.job(job_id)
    assert job is not None and job.status == "canceled"
