"""solver.squeeze: candidates, the scaled standard instance and the standby plans."""

from __future__ import annotations

import numpy as np
from test_roller import cluster, inst, node

from solver import cluster as C
from solver.records import ISpec
from solver.squeeze import (
    Squeezer,
    fits_everywhere,
    offline_candidates,
    online_candidates,
    spec_instance,
)


def test_spec_instance_rounds_down() -> None:
    it = spec_instance(ISpec(mem=1000, cpu=3, disk_size=5000, disk_count=1, nic_count=1,
                             spindle_use=1), 1.5)
    assert (int(it.mem[0]), int(it.vcpus[0]), int(it.dsk[0]), int(it.spindle_use[0])) == \
        (1500, 4, 0, 1)
    assert int(it.template[0]) == C.TEMPLATE_CODE["ext"]


def test_candidates() -> None:
    st = cluster([node("m", master=True), node("a"), node("b"), node("c"), node("d"),
                  "e|10000|1000|8000|100000|90000|8|Y|uuid-1|1"],
                 [inst("x1", "a", template="ext"), inst("x2", "b", template="ext"),
                  inst("x3", "b", template="ext"), inst("d1", "c", "m"),
                  inst("p1", "d", template="plain")])
    # not the master, not c (primary of local storage... and d), b has most primaries
    assert offline_candidates(st) == [2, 1]
    assert online_candidates(st) == []
    st.data.nodes[5].tags.append("htools:standby:auto")
    assert online_candidates(st) == [5]


def test_fits_everywhere_counts_offline_nodes_too() -> None:
    st = cluster([node("m", master=True), node("a", free_mem=1500)], [])
    std = ISpec(mem=1000, cpu=1, disk_size=1024, disk_count=1, nic_count=1, spindle_use=1)
    assert fits_everywhere(st, spec_instance(std, 1.0))
    assert not fits_everywhere(st, spec_instance(std, 2.0))
    st.node[C.OFFLINE, 1] = 1.0
    assert not fits_everywhere(st, spec_instance(std, 2.0))


def test_squeeze_keeps_the_target_free() -> None:
    """Plans as Ganeti 3.0.2's hsqueeze makes them for these clusters."""
    std = ISpec(mem=1000, cpu=1, disk_size=1024, disk_count=1, nic_count=1, spindle_use=1)
    nodes = [node("m", master=True)] + [node(f"n{i}") for i in range(4)]
    expected = {(1000, 1.0): [1, 2, 3, 4], (1000, 6.0): [3, 4], (3000, 1.0): [2, 3, 4],
                (3000, 6.0): []}
    for (mem, factor), want in expected.items():
        st = cluster(nodes, [inst(f"x{i}", f"n{i}", template="ext", mem=mem)
                             for i in range(4)])
        sq = Squeezer(st)
        assert sq.to_offline(offline_candidates(st), spec_instance(std, factor)) == want
        out = sq.switch(True, want)
        assert bool((out.state.node[C.OFFLINE, out.state.inst.pnode] == 0).all())
        assert len(out.moves) >= len(want)
        # the loaded state is left alone
        assert not st.node[C.OFFLINE].any()
        assert np.array_equal(st.inst.pnode, [1, 2, 3, 4])
    assert sq.to_online([], spec_instance(std, 1.0)) == []
    assert sq.to_online([], spec_instance(std, 9.0)) is None
