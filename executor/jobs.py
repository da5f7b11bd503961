"""Solutions as jobsets: what hbal -X and an applied hail answer submit to Ganeti.

A jobset is a list of jobs that may run at the same time; jobsets run one
after another.  For hbal the grouping is exactly the one ``hbal -C`` prints
(``htools.report.split_jobsets``) and each job holds the opcodes of one move
(``solver.opcodes``, Ganeti's ``iMoveToJob``), so what is printed is what runs.
Everything here is pure: building jobs never talks to a cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from htools.errors import HtoolsError
from htools.report import split_jobsets
from solver import cluster as C
from solver.moves import Move
from solver.opcodes import move_opcodes, replace_secondary_op


@dataclass(frozen=True)
class Job:
    """One job: the opcodes that move one instance, run in order."""

    instance: str
    opcodes: tuple[dict, ...]


JobSet = list[Job]


def move_job(state: C.ClusterState, mv: Move) -> Job:
    """The job of one hbal move (full instance and node names, as Ganeti submits)."""
    return Job(state.data.instances[mv.instance].name,
               tuple(move_opcodes(state, mv.instance, mv.kind, mv.target)))


def as_jobsets(state: C.ClusterState, move_sets: Sequence[Sequence[Move]]) -> list[JobSet]:
    """Jobsets of moves (``split_jobsets``' grouping, maybe cut by hbal) as jobs."""
    return [[move_job(state, mv) for mv in js] for js in move_sets]


def solution_jobsets(state: C.ClusterState, moves: Sequence[Move]) -> list[JobSet]:
    """hbal's jobsets for a solution; ``state`` is the cluster before the moves."""
    return as_jobsets(state, split_jobsets(state, moves))


def jobset_description(jobset: JobSet) -> str:
    """How hbal names a jobset when it reports what did and did not run."""
    return "Executing jobset for instances " + ", ".join(job.instance for job in jobset)


class AnswerError(HtoolsError):
    """An iallocator answer that cannot be carried out."""


def _field(obj: Any, key: str, what: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise AnswerError(f"{what}: missing '{key}'")
    return obj[key]


def _opcode_job(ops: Any) -> Job:
    """A job of an evacuation answer: a non-empty list of opcodes of one instance."""
    if not isinstance(ops, list) or not ops or not all(isinstance(op, dict) for op in ops):
        raise AnswerError("iallocator answer: a job is not a list of opcodes")
    names = {op.get("instance_name") for op in ops}
    if len(names) != 1 or not all(isinstance(op.get("OP_ID"), str) for op in ops):
        raise AnswerError("iallocator answer: a job's opcodes must all name one instance "
                          "and have an OP_ID")
    (name,) = names
    if not isinstance(name, str):
        raise AnswerError("iallocator answer: an opcode lacks its instance_name")
    return Job(name, tuple(ops))


def hail_jobsets(request: Any, answer: Any) -> list[JobSet]:
    """The jobs a successful hail answer asks for, as one jobset.

    Evacuations (``node-evacuate``, ``change-group``) carry their opcodes; Ganeti
    submits all of them at once and lets its locks order them, so they form one
    jobset.  A ``relocate`` answer names the new secondary, which Ganeti applies
    with a replace-disks onto it.  Allocations create instances, which needs the
    whole instance definition, so they are refused.
    """
    if not _field(answer, "success", "iallocator answer"):
        info = answer.get("info", "")
        raise AnswerError(f"the iallocator answer is a failure: {info}")
    result = _field(answer, "result", "iallocator answer")
    req = _field(request, "request", "iallocator request")
    kind = _field(req, "type", "iallocator request")
    if kind == "relocate":
        name = _field(req, "name", "iallocator request")
        if not (isinstance(result, list) and len(result) == 1 and isinstance(result[0], str)):
            raise AnswerError("relocate answer: expected one node name")
        return [[Job(name, (replace_secondary_op(name, result[0]),))]]
    if kind in ("node-evacuate", "change-group"):
        if not (isinstance(result, list) and len(result) == 3 and isinstance(result[2], list)):
            raise AnswerError(f"{kind} answer: expected [moved, failed, jobs]")
        jobs = [_opcode_job(ops) for ops in result[2]]
        return [jobs] if jobs else []
    raise AnswerError(f"a {kind} answer has no jobs to run")
