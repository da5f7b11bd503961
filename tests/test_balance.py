"""hbal's search: the fast pruned step must choose exactly what the exact twin chooses.

The twin (``exact_only=True``) scores every candidate by full recomputation, as
Ganeti does; the fast path scores all candidates approximately and rescoring
only those that may win.  On many random clusters both must produce the same
move sequence with bit-identical scores.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fixtures.generator import GenParams, generate
from solver import cluster as C
from solver.balance import BalanceOptions, Balancer
from solver.loader import LoadOptions, load_cluster
from solver.metrics import AGGREGATION, METRIC_NAMES, WEIGHTS, score_detail

SHAPES = [
    GenParams(nodes=6, instances=20),
    GenParams(nodes=8, instances=40, mix=(("drbd", 1.0),), skew=0.9),
    GenParams(nodes=7, instances=30, mix=(("drbd", 0.5), ("plain", 0.3), ("ext", 0.2)),
              offline_nodes=1),
    GenParams(nodes=8, instances=30, exclusion=3, locations=2),
    GenParams(nodes=6, instances=25, forthcoming=0.2, down=0.3, manual=0.2),
    GenParams(nodes=9, instances=40, size_variation=1.0, util=True),
]


def _run(data, exact: bool, opts: BalanceOptions):
    lo = LoadOptions()
    st = load_cluster(data, lo)
    group0 = np.nonzero(st.node[C.GROUP] == 0)[0]
    insts = np.nonzero(np.isin(st.inst.pnode, group0))[0]
    res = Balancer(st, group0, insts, opts, exact_only=exact).run()
    return [(m.instance, m.kind, m.target, m.new_primary, m.new_secondary, m.score)
            for m in res.moves], res.initial_score


def _check(params: GenParams, seed: int, opts: BalanceOptions) -> None:
    data = generate(params, seed)
    fast, ini_f = _run(data, False, opts)
    exact, ini_e = _run(data, True, opts)
    assert ini_f == ini_e
    assert fast == exact


@pytest.mark.parametrize("shape", range(len(SHAPES)))
@pytest.mark.parametrize("seed", range(8))
def test_pruning_keeps_exact_winner(shape: int, seed: int) -> None:
    _check(SHAPES[shape], seed, BalanceOptions(min_gain=0.0, min_gain_limit=0.0, max_length=6))


@pytest.mark.parametrize("flags", [
    dict(ignore_soft_errors=True), dict(evac_mode=True), dict(no_disk=True),
    dict(no_inst=True), dict(restricted_migration=True)], ids=str)
def test_pruning_with_options(flags: dict) -> None:
    opts = BalanceOptions(min_gain=0.0, min_gain_limit=0.0, max_length=5,
                          disk_moves=not flags.pop("no_disk", False),
                          instance_moves=not flags.pop("no_inst", False), **flags)
    for seed in range(4):
        _check(GenParams(nodes=7, instances=30, offline_nodes=1), seed, opts)


def _full_run_params(seed: int) -> GenParams:
    rng = np.random.default_rng(1000 + seed)
    return GenParams(nodes=int(rng.integers(20, 40)), instances=int(rng.integers(80, 200)),
                     exclusion=int(rng.integers(0, 3)), locations=int(rng.integers(0, 3)),
                     skew=0.5 + 0.5 * float(rng.random()),
                     mix=(("drbd", 0.7), ("plain", 0.2), ("ext", 0.1)))


def _check_full_run(seed: int) -> None:
    """A whole balance: later steps reuse bounds from earlier ones (solver.bounds)."""
    data = generate(_full_run_params(seed), seed)
    opts = BalanceOptions(min_gain=0.0, min_gain_limit=0.0)
    st = load_cluster(data, LoadOptions())
    group0 = np.nonzero(st.node[C.GROUP] == 0)[0]
    insts = np.nonzero(np.isin(st.inst.pnode, group0))[0]
    bal = Balancer(st, group0, insts, opts)
    moves = [(m.instance, m.kind, m.target, m.new_primary, m.new_secondary, m.score)
             for m in bal.run().moves]
    assert moves == _run(data, True, opts)[0]
    assert len(moves) > 10
    # the bounds spare most instances a rescan in most steps
    assert bal.rescanned < 0.5 * len(moves) * len(insts)


@pytest.mark.parametrize("seed", range(3))
def test_full_runs_keep_exact_winner(seed: int) -> None:
    _check_full_run(seed)


@pytest.mark.heavy
@pytest.mark.parametrize("seed", range(3, 60))
def test_full_runs_many_clusters(seed: int) -> None:
    _check_full_run(seed)


@pytest.mark.heavy
@pytest.mark.parametrize("seed", range(1000))
def test_pruning_many_clusters(seed: int) -> None:
    rng = np.random.default_rng(seed)
    params = GenParams(nodes=int(rng.integers(3, 16)), instances=int(rng.integers(5, 80)),
                       exclusion=int(rng.integers(0, 3)), locations=int(rng.integers(0, 3)),
                       offline_nodes=int(rng.integers(0, 2)), skew=float(rng.random()),
                       size_variation=float(rng.random()), forthcoming=0.1 * rng.random(),
                       fill=0.4)
    _check(params, seed, BalanceOptions(min_gain=0.0, min_gain_limit=0.0, max_length=10))


def _plain_score(st: C.ClusterState) -> float:
    """An independent twin of the score: plain Python over per-node values."""
    nd = st.node
    rows = []
    for n in range(st.n_nodes):
        col = nd[:, n]
        unalloc = math.trunc(col[C.T_MEM]) - col[C.N_MEM] - col[C.I_MEM] - max(0.0, col[C.X_MEM])
        excl = col[C.EXCL] != 0

        def pdsk(free: float, total: float) -> float:
            return 1.0 if total == 0 else free / total
        cnt = col[C.P_CNT] + col[C.S_CNT]
        rows.append((col[C.OFFLINE] != 0, [
            unalloc / col[C.T_MEM],
            pdsk(col[C.F_SPN], col[C.T_SPN]) if excl else pdsk(col[C.F_DSK], col[C.T_DSK]),
            cnt if col[C.N1_FAIL] else 0.0, col[C.R_MEM] / col[C.T_MEM], cnt, col[C.P_CNT],
            col[C.U_CPU] / col[C.T_CPU] / col[C.CPU_SPEED], col[C.LOAD_CPU], col[C.LOAD_MEM],
            col[C.LOAD_DSK], col[C.LOAD_NET], col[C.CONFLICTS],
            col[C.INST_SPN] / col[C.HI_SPN], col[C.FMEM_F] / col[C.T_MEM],
            pdsk(col[C.FSPN_F], col[C.T_SPN]) if excl else pdsk(col[C.FDSK_F], col[C.T_DSK]),
            col[C.UCPU_F] / col[C.T_CPU] / col[C.CPU_SPEED], col[C.INSTSPN_F] / col[C.HI_SPN],
            col[C.LOC_SCORE], 0.0, col[C.R_MEM] / col[C.T_MEM]]))
    online = [v for off, v in rows if not off]
    offline = [v for off, v in rows if off]
    if not online:
        return 0.0
    total = 0.0
    for i in range(len(METRIC_NAMES)):
        if AGGREGATION[i] == 0:
            xs = [v[i] for v in online]
            s = 0.0
            for x in xs:
                s += x
            mean = s / len(xs)
            nv = 0.0
            for x in xs:
                nv += (x - mean) * (x - mean)
            val = math.sqrt(nv / len(xs))
        elif AGGREGATION[i] == 3:
            lex = st.node_loc[~(nd[C.OFFLINE] != 0)].T.astype(int) @ \
                st.imap[~(nd[C.OFFLINE] != 0)].astype(int)
            val = float(np.maximum(lex - 1, 0).sum())
        else:
            val = 0.0
            for v in (online if AGGREGATION[i] == 1 else offline):
                val += v[i]
        total += WEIGHTS[i] * val
    return total


@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_exact_score_matches_plain_twin(shape: int) -> None:
    for seed in range(3):
        st = load_cluster(generate(SHAPES[shape], seed))
        got, _ = score_detail(st, np.arange(st.n_nodes))
        assert got == _plain_score(st)


def test_node_ops_kernel_matches_python() -> None:
    """The compiled node operations and their Python source agree bit for bit."""
    from solver.moves import try_move

    st = load_cluster(generate(SHAPES[2], 5))
    bal = Balancer(st, np.arange(st.n_nodes), np.arange(st.n_instances), BalanceOptions())
    ctx = bal.ctx()
    for k in range(st.n_instances):
        for kind in range(6):
            for t in range(st.n_nodes):
                outs = []
                for fn in (try_move, try_move.py_func):
                    buf = np.zeros((4, C.NODE_FIELDS))
                    mi = np.zeros(4, np.int64)
                    res = np.zeros(11)
                    mirror = C.TEMPLATE_MIRROR[st.inst.template[k]]
                    if (kind == 1) != (mirror == C.MIRROR_EXTERNAL) or \
                            mirror == C.MIRROR_NONE:
                        continue
                    r = fn(ctx, bal.it, k, kind, t, False, buf, mi, res)
                    outs.append((r, buf.tobytes(), res.tobytes()))
                if len(outs) == 2:
                    assert outs[0] == outs[1]


@pytest.mark.parametrize("seed", range(4))
def test_hoisted_moves_match_try_move(seed: int) -> None:
    """prepare_move + finish_move give try_move's buffers and results."""
    from solver.moves import finish_move, hoistable, prepare_move, try_move

    params = GenParams(nodes=6, instances=25, exclusion=2, offline_nodes=seed % 2,
                       mix=(("drbd", 0.7), ("ext", 0.3)), forthcoming=0.1, manual=0.2)
    st = load_cluster(generate(params, seed))
    bal = Balancer(st, np.arange(st.n_nodes), np.arange(st.n_instances), BalanceOptions())
    ctx = bal.ctx()
    checked = 0
    for k in range(st.n_instances):
        mirror = C.TEMPLATE_MIRROR[st.inst.template[k]]
        kinds = [1] if mirror == C.MIRROR_EXTERNAL else [2, 3, 4, 5] \
            if mirror == C.MIRROR_INTERNAL else []
        assert hoistable(ctx, k, True)
        for kind in kinds:
            for force in (False, True):
                pre = np.zeros((4, C.NODE_FIELDS))
                pre_res = np.zeros(2)
                prep = prepare_move(ctx, bal.it, k, kind, force, pre, pre_res)
                for t in range(st.n_nodes):
                    if t in (st.inst.pnode[k], st.inst.snode[k]):
                        continue
                    b1, m1, r1 = np.zeros((4, C.NODE_FIELDS)), np.zeros(4, np.int64), \
                        np.zeros(12)
                    b2, m2, r2 = b1.copy(), m1.copy(), r1.copy()
                    want = try_move(ctx, bal.it, k, kind, t, force, b1, m1, r1)
                    got = prep if prep != C.OK else finish_move(
                        ctx, bal.it, k, kind, t, force, pre, pre_res, b2, m2, r2)
                    assert (got == C.OK) == (want == C.OK)
                    if want == C.OK:
                        n = int(r1[0])
                        assert np.array_equal(b1[:n], b2[:n])
                        assert np.array_equal(m1[:n], m2[:n])
                        assert np.array_equal(r1[:11], r2[:11])
                        checked += 1
    assert checked > 50
