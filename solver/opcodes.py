"""Ganeti opcodes for moves (spec §4.9.3), as JSON-ready dicts.

hail's evacuation answers list them per instance; jobsets for the executor
are built from the same dicts, so both speak what Ganeti's job queue takes.
"""

from __future__ import annotations

from solver import cluster as C
from solver.moves import (
    FAILOVER,
    FAILOVER_AND_REPLACE,
    FAILOVER_TO_ANY,
    REPLACE_AND_FAILOVER,
    REPLACE_PRIMARY,
    REPLACE_SECONDARY,
)


def migrate(state: C.ClusterState, k: int, target: str | None = None) -> dict:
    """Move an instance to its secondary (or ``target``): migrate, or failover if forthcoming."""
    name = state.data.instances[k].name
    if state.inst.forthcoming[k]:
        op = {"OP_ID": "OP_INSTANCE_FAILOVER", "instance_name": name, "shutdown_timeout": 120,
              "ignore_consistency": False}
        if target is not None:
            op["target_node"] = target
        op.update(ignore_ipolicy=False, cleanup=False)
        return op
    op = {"OP_ID": "OP_INSTANCE_MIGRATE", "instance_name": name}
    if target is not None:
        op["target_node"] = target
    op.update(allow_runtime_changes=False, ignore_ipolicy=False, cleanup=False,
              allow_failover=True, ignore_hvversions=True)
    return op


def replace_secondary_op(instance: str, target: str) -> dict:
    """Give ``instance`` the new secondary ``target`` (hbal's and hail's replace step)."""
    return {"OP_ID": "OP_INSTANCE_REPLACE_DISKS", "instance_name": instance,
            "early_release": False, "ignore_ipolicy": False, "mode": "replace_new_secondary",
            "disks": [], "remote_node": target}


def replace_secondary(state: C.ClusterState, k: int, target: str) -> dict:
    return replace_secondary_op(state.data.instances[k].name, target)


def move_opcodes(state: C.ClusterState, k: int, kind: int, t: int) -> list[dict]:
    """The opcodes of one move of instance k (target node index t)."""
    name = state.data.nodes[t].name if t >= 0 else ""
    if kind == FAILOVER:
        return [migrate(state, k)]
    if kind == FAILOVER_TO_ANY:
        return [migrate(state, k, name)]
    if kind == REPLACE_SECONDARY:
        return [replace_secondary(state, k, name)]
    if kind == REPLACE_PRIMARY:
        return [migrate(state, k), replace_secondary(state, k, name), migrate(state, k)]
    if kind == REPLACE_AND_FAILOVER:
        return [replace_secondary(state, k, name), migrate(state, k)]
    if kind == FAILOVER_AND_REPLACE:
        return [migrate(state, k), replace_secondary(state, k, name)]
    raise ValueError(f"unknown move kind {kind}")
