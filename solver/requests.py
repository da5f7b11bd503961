"""Iallocator requests as plain records (spec §2.3).

The iallocator backend turns Ganeti's request JSON into one of these; the
allocation and evacuation solvers consume them.  Instances and nodes are
indices into the request's ``ClusterData``; a new instance to place is an
``Instance`` record whose ``pnode``/``snode`` are -1.
"""

from __future__ import annotations

from dataclasses import dataclass

from solver.records import ClusterData, Instance


@dataclass
class Allocate:
    """``allocate``: place one new instance on ``required_nodes`` nodes."""

    instance: Instance
    required_nodes: int
    group_name: str | None = None
    restrict_to: list[str] | None = None  # the request's restrict-to-nodes


@dataclass
class MultiAllocate:
    """``multi-allocate``: place several new instances, one after the other."""

    entries: list[Allocate]
    group_name: str | None = None  # the outer request's; every entry uses it


@dataclass
class Relocate:
    """``relocate``: move an existing instance off ``relocate_from``."""

    instance: int
    required_nodes: int
    relocate_from: list[int]


@dataclass
class NodeEvacuate:
    """``node-evacuate``: ``mode`` is primary-only, secondary-only or all."""

    instances: list[int]
    mode: str


@dataclass
class ChangeGroup:
    """``change-group``: move instances to one of ``target_groups`` (indices)."""

    instances: list[int]
    target_groups: list[int]


@dataclass
class AllocateSecondary:
    """``allocate-secondary``: give a secondary-less instance a secondary."""

    instance: int


Request = Allocate | MultiAllocate | Relocate | NodeEvacuate | ChangeGroup | AllocateSecondary


@dataclass
class IAllocInput:
    """A parsed request: the cluster it describes and what it asks for."""

    data: ClusterData
    request: Request
    hypervisor: str | None = None  # first of enabled_hypervisors
