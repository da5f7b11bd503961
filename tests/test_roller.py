"""solver.roller: node graphs, reboot groups and the configurations behind them.

Expected values were worked out by hand from Ganeti's definitions (and agree with
Ganeti 3.0.2's hroller on these clusters).
"""

from __future__ import annotations

import numpy as np
import pytest

from htools.backends.text import parse_text
from solver import cluster as C
from solver.loader import load_cluster
from solver.roller import (
    Colouring,
    Conf,
    Loaded,
    RollerOptions,
    RollError,
    colouring_stats,
    colourings,
    node_graph,
    output_order,
    reboot_groups,
    smallest,
)

GROUP = "default|uuid-1|preferred||\n\n"
POLICY = ("\n\n|128,1,1024,1,1,1|128,1,1024,1,1,1;32768,8,1048576,16,8,12|"
          "diskless,file,sharedfile,plain,blockdev,drbd,rbd,ext|4.0|32.0\n")


def cluster(nodes: list[str], insts: list[str]) -> C.ClusterState:
    """A one-group cluster from node and instance lines of the text format."""
    text = GROUP + "".join(n + "\n" for n in nodes) + "\n" + "".join(i + "\n" for i in insts)
    return load_cluster(parse_text(text + POLICY))


def node(name: str, free_mem: int = 8000, master: bool = False) -> str:
    return f"{name}|10000|1000|{free_mem}|100000|90000|8|{'M' if master else 'N'}|uuid-1|1"


def inst(name: str, p: str, s: str = "", template: str = "drbd", mem: int = 500) -> str:
    return f"{name}|{mem}|1000|1|running|Y|{p}|{s}|{template}||1"


# three nodes in a chain a-b-c of drbd pairs, plus one plain instance on a (the master)
CHAIN = cluster([node("a", master=True), node("b"), node("c")],
                [inst("i1", "a", "b"), inst("i2", "b", "c"), inst("p1", "a", template="plain")])


def test_reboot_graph_adds_shared_secondary_cliques_with_loops() -> None:
    graph = node_graph(CHAIN, np.ones(3, dtype=bool), reboot=True)
    assert graph is not None
    assert graph.show() == "array (0,2) [(0,[0,1]),(1,[1,2,0]),(2,[1])]"
    plain = node_graph(CHAIN, np.ones(3, dtype=bool), reboot=False)
    assert plain is not None
    assert plain.show() == "array (0,2) [(0,[1]),(1,[2,0]),(2,[1])]"


def test_graph_spans_the_selected_index_range() -> None:
    graph = node_graph(CHAIN, np.array([False, True, False]), reboot=True)
    assert graph is not None and graph.show() == "array (1,1) [(1,[1])]"
    assert node_graph(CHAIN, np.zeros(3, dtype=bool), reboot=True) is None
    # unselected nodes inside the range are isolated vertices
    graph = node_graph(CHAIN, np.array([True, False, True]), reboot=False)
    assert graph is not None and graph.show() == "array (0,2) [(0,[]),(1,[]),(2,[])]"


def test_colouring_choice_and_statistics() -> None:
    graph = node_graph(CHAIN, np.ones(3, dtype=bool), reboot=True)
    assert graph is not None
    cols = colourings(graph)
    assert [c.classes for c in cols] == [[[1], [0, 2]]] * 3
    assert smallest(cols).name == "LF"
    assert colouring_stats(cols) == "Dcolor: 2 (1,2) TIE Dsatur: 2 (1,2) TIE LF: 2 (1,2)"
    mixed = [Colouring("LF", [[0], [1], [2]]), Colouring("Dsatur", [[0, 2], [1]]),
             Colouring("Dcolor", [[0, 2], [1]])]
    assert smallest(mixed).name == "Dsatur"
    assert colouring_stats(mixed) == "Dcolor: 2 (2,1) TIE Dsatur: 2 (2,1) LOOSE LF: 3 (1,1,1)"


def test_non_redundant_instances_split_a_class() -> None:
    # a and c may reboot together by the graph, but p1 must move off a first: to b
    groups = reboot_groups(CHAIN, [[1], [0, 2]], RollerOptions())
    assert [g for g, _ in groups] == [[1], [0, 2]]
    conf = groups[1][1]
    p1 = 2
    assert conf.placement(p1) == (1, -1)
    assert conf.moves() == [(p1, 1, -1)]
    ignored = reboot_groups(CHAIN, [[1], [0, 2]], RollerOptions(ignore_non_redundant=True))
    assert all(conf.moves() == [] for _, conf in ignored)


def test_no_room_for_non_redundant_instances() -> None:
    full = cluster([node("a", master=True), node("b", free_mem=100)],
                   [inst("p1", "a", template="plain", mem=5000)])
    with pytest.raises(RollError, match="non-redundant"):
        reboot_groups(full, [[0, 1]], RollerOptions())


def test_full_evacuation_migrates_then_replaces_secondaries() -> None:
    st = cluster([node("a", master=True), node("b"), node("c"), node("d")],
                 [inst("i1", "a", "b")])
    groups = reboot_groups(st, [[0, 2, 3], [1]], RollerOptions(full_evacuation=True))
    # i1 fails over to b; a, now its secondary, hands it to c, and c (joining the group)
    # to d; d then has nowhere to send it but its primary
    assert [g for g, _ in groups] == [[0, 2], [3], [1]]
    conf = groups[0][1]
    assert conf.placement(0) == (1, 3)
    # Ganeti's replaceSecondary leaves a copy of the primary (b) at the old index
    assert conf.node_name(0) == 1 and conf.node_name(2) == 1
    assert conf.moves() == [(0, 1, 3)]
    # each part of a split starts again from the state before the split (i1 failed over)
    assert groups[1][1].placement(0) == (1, 0)


def test_swapped_roles_are_not_moves() -> None:
    conf = Conf.loaded(Loaded(CHAIN))
    assert conf.migrate(0)
    assert conf.placement(0) == (1, 0)
    assert conf.moves() == []
    assert conf.plist(1)[0] == 0 and conf.slist(0) == [0]


def test_master_goes_last() -> None:
    is_master = np.array([False, True, False, False])
    conf = Conf.loaded(Loaded(CHAIN))
    got = output_order([([2], conf), ([0, 1], conf), ([3, 2, 0], conf)], is_master)
    assert [g for g, _ in got] == [[3, 2, 0], [2], [0, 1]]
