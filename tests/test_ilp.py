"""solver.ilp: the joint placement model on its own (hail --solver ilp is in test_hail)."""

from __future__ import annotations

import numpy as np

from solver.ilp import solve
from solver.loader import LoadOptions, load_cluster
from solver.records import ClusterData, Group, Instance, Node


def _drbd(name: str, mem: int) -> Instance:
    return Instance(name, mem=mem, dsk=10240, vcpus=1, status="running", auto_balance=True,
                    pnode=-1, snode=-1, template="drbd", disks=[(10240, None)])


def test_reserves_are_per_primary() -> None:
    """Four 4 GiB drbd instances on three 10 GiB nodes.

    Eight halves on three nodes put three on some node, so a model adding up
    all new secondaries of a node places only three.  Ganeti reserves memory
    per primary: two secondaries backing different primaries need 4 GiB, not
    8, and every node can take one or two primaries and such secondaries.
    """
    nodes = [Node(f"node{c}", t_mem=10240, n_mem=0, f_mem=10240, t_dsk=409600, f_dsk=409600,
                  t_cpu=8, offline=False, group=0) for c in "ABC"]
    new = [_drbd(f"i{j}", 4096) for j in range(4)]
    state = load_cluster(ClusterData([Group("default", "uuid-g1")], nodes, new), LoadOptions())
    res = solve(state, [(k, rec, 2) for k, rec in enumerate(new)], np.arange(3))
    assert res is not None and res.status == "OPTIMAL" and res.gap == 0.0
    assert all(p is not None for p in res.placements)
    pairs = [tuple(p) for p in res.placements if p is not None]
    for node in range(3):
        primaries = sum(p == node for p, _ in pairs)
        backed = [p for p, s in pairs if s == node]
        reserve = max((backed.count(p) for p in backed), default=0)
        assert 4096 * (primaries + reserve) < 10240


def test_a_pair_reserve_still_binds() -> None:
    """Two nodes: each instance's secondary backs the other node's primary, so
    every node holds one primary and reserves for one: 2 x 6 GiB do not fit in 10."""
    nodes = [Node(f"node{c}", t_mem=10240, n_mem=0, f_mem=10240, t_dsk=409600, f_dsk=409600,
                  t_cpu=8, offline=False, group=0) for c in "AB"]
    new = [_drbd(f"i{j}", 6144) for j in range(2)]
    state = load_cluster(ClusterData([Group("default", "uuid-g1")], nodes, new), LoadOptions())
    res = solve(state, [(k, rec, 2) for k, rec in enumerate(new)], np.arange(2))
    assert res is not None
    assert sum(p is not None for p in res.placements) == 1
