"""solver.health (hcheck's and hinfo's figures) and the report helpers they use."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import GANETI_FIXTURES, requires_shared

from fixtures.generator import GenParams, generate
from htools.report import peer_list, shell_keys
from solver import cluster as C
from solver.balance import BalanceOptions, Balancer
from solver.globaln1 import AllocRecreate, CapacityCheck
from solver.health import (
    bad_items,
    cluster_counts,
    group_health,
    rebalance,
    split_cluster,
    split_instances,
)
from solver.loader import load_cluster
from solver.metrics import compute_score
from solver.simulate import Simulator

SHAPES = [GenParams(nodes=8, instances=40, fill=0.8),
          GenParams(nodes=10, instances=40, groups=2, split=0.1),
          GenParams(nodes=8, instances=30, offline_nodes=2, exclusion=2),
          GenParams(nodes=9, instances=45, forthcoming=0.2, manual=0.2, skew=1.0)]


def _state(shape: int, seed: int) -> C.ClusterState:
    return load_cluster(generate(SHAPES[shape], seed))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_split_cluster_partitions_nodes_and_primaries(shape: int, seed: int) -> None:
    st = _state(shape, seed)
    parts = split_cluster(st)
    assert [p.group for p in parts] == sorted({int(g) for g in st.node[C.GROUP]})
    assert sorted(np.concatenate([p.nodes for p in parts]).tolist()) == list(range(st.n_nodes))
    for p in parts:
        assert (st.node[C.GROUP, p.nodes] == p.group).all()
        assert p.instances.tolist() == [k for k in range(st.n_instances)
                                        if st.inst.pnode[k] in set(p.nodes.tolist())]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_bad_items_are_online_n1_failures_and_their_instances(shape: int, seed: int) -> None:
    st = _state(shape, seed)
    st.node[C.N1_FAIL, :3] = 1.0  # some offline, some online nodes fail N+1
    bad, insts = bad_items(st, np.arange(st.n_nodes))
    assert bad == [n for n in range(st.n_nodes)
                   if st.node[C.N1_FAIL, n] and not st.node[C.OFFLINE, n]]
    ia = st.inst
    assert insts == [k for k in range(st.n_instances) if not ia.forthcoming[k]
                     and (ia.pnode[k] in bad or ia.snode[k] in bad)]


def test_split_instances() -> None:
    st = _state(1, 0)
    grp = st.node[C.GROUP]
    ia = st.inst
    expected = [k for k in range(st.n_instances)
                if ia.snode[k] >= 0 and grp[ia.pnode[k]] != grp[ia.snode[k]]]
    assert expected and split_instances(st) == expected
    assert split_instances(_state(0, 0)) == []


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", [0, 2, 3])
def test_group_health_figures(shape: int, seed: int) -> None:
    st = _state(shape, seed)
    parts = split_cluster(st)
    health = group_health(st, parts, capacity=True)
    sim = Simulator(st)
    for part, h in zip(parts, health, strict=True):
        nodes = part.nodes
        offline = [int(n) for n in nodes if st.node[C.OFFLINE, n]]
        assert h.n1_fail == len(bad_items(st, nodes)[0])
        assert h.conflict_tags == sum(1 for n in nodes if (st.ptags[n] > 1).any())
        assert h.offline_pri == sum(len(st.primaries(n)) for n in offline)
        assert h.offline_sec == len(offline)  # Ganeti's count: offline nodes
        assert h.score == compute_score(st, nodes)
        check = CapacityCheck(sim, nodes, recreate=AllocRecreate(sim, nodes))
        assert (h.gn1_fail == 0) == check.redundant()
    without = group_health(st, parts, capacity=False)
    assert [h.gn1_fail for h in without] == [None] * len(parts)
    assert [h.counts() + [0] for h in without] == \
        [h.counts()[:4] + [0] for h in health]


def test_group_health_sees_conflicts_and_offline_nodes() -> None:
    st = _state(2, 0)
    health = group_health(st, split_cluster(st), capacity=False)
    assert sum(h.offline_sec for h in health) == 2
    assert sum(h.conflict_tags for h in health) > 0


def test_cluster_counts_sum_the_groups() -> None:
    st = _state(1, 1)
    health = group_health(st, split_cluster(st), capacity=False)
    assert len(health) == 2
    assert cluster_counts(health) == [a + b for a, b in zip(health[0].counts(),
                                                            health[1].counts(), strict=True)]
    assert cluster_counts([]) == []


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", [0, 1, 3])
def test_rebalance_is_hbal_on_each_group(shape: int, seed: int) -> None:
    """The same end state as the plain exact search run on each group by itself."""
    st = _state(shape, seed)
    twin = st.copy()
    parts = split_cluster(st)
    opts = BalanceOptions()
    moved = rebalance(st, parts, opts)
    for part, m in zip(parts, moved, strict=True):
        result = Balancer(twin, part.nodes, part.instances, opts, exact_only=True).run()
        assert m == bool(result.moves)
        assert compute_score(st, part.nodes) == compute_score(twin, part.nodes)
    assert np.array_equal(st.inst.pnode, twin.inst.pnode)
    assert np.array_equal(st.inst.snode, twin.inst.snode)
    assert any(moved) or shape == 3


def test_rebalance_respects_max_length() -> None:
    st = _state(0, 0)
    parts = split_cluster(st)
    before = (st.inst.pnode.copy(), st.inst.snode.copy())
    assert rebalance(st, parts, BalanceOptions(max_length=0)) == [False]
    assert np.array_equal(before[0], st.inst.pnode) and np.array_equal(before[1], st.inst.snode)


def test_shell_keys_quote_like_ganeti() -> None:
    assert shell_keys("HCHECK", [("group_uuid_0", "fake-uuid-01"), ("ok", "1"),
                                 ("score", "1.50"), ("empty", "")]) == [
        "HCHECK_GROUP_UUID_0='fake-uuid-01'", "HCHECK_OK=1", "HCHECK_SCORE=1.50",
        "HCHECK_EMPTY="]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_peer_list_holds_the_peer_reservations(shape: int, seed: int) -> None:
    st = _state(shape, seed)
    for n in range(st.n_nodes):
        pairs = peer_list(st, n)
        values = [v for _, v in pairs]
        assert values == sorted(values, reverse=True)
        assert len({p for p, _ in pairs}) == len(pairs)
        assert {p: v for p, v in pairs if v} == \
            {p: int(v) for p, v in enumerate(st.peers[n]) if v}


@requires_shared
def test_peer_list_order_of_equal_reservations() -> None:
    """Ganeti lists hroller-online's node-01-002 peers as [(2,128),(0,128)]."""
    from htools.backends.text import load_text
    st = load_cluster(load_text(str(GANETI_FIXTURES / "hroller-online.data")))
    n = [nd.name for nd in st.data.nodes].index("node-01-002")
    assert peer_list(st, n) == [(2, 128), (0, 128)]
