"""Allocator.single: the estimate-first choice must be tryAlloc's over every exact score.

``single`` estimates every node and scores exactly only the near-ties; the twin here
scores every node exactly (``single_scores``) and runs Ganeti's collapse.  Both must give
the same node, score bits, success count and failures, with and without a filter that
rejects candidates (the filtered path needs the whole order).
"""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.generator import GenParams, generate
from solver import cluster as C
from solver.allocate import Allocator, AllocSolution, collapse
from solver.loader import load_cluster
from solver.simulate import Simulator

MIX = (("plain", 0.4), ("ext", 0.2), ("diskless", 0.2), ("drbd", 0.2))
SHAPES = [GenParams(nodes=12, instances=60, mix=MIX, fill=0.7),
          GenParams(nodes=16, instances=40, mix=MIX, skew=1.0, fill=0.3),
          GenParams(nodes=14, instances=70, mix=MIX, exclusion=3, locations=3, offline_nodes=2),
          GenParams(nodes=12, instances=60, mix=MIX, size_variation=1.0, forthcoming=0.2,
                    fill=0.9)]


def _twin(alloc: Allocator, nodes: np.ndarray, scoring: np.ndarray) -> AllocSolution:
    _, out_r, todo, inputs = alloc._singles(nodes, scoring)
    r, sc = alloc._exact_singles(scoring, inputs, np.ones(len(inputs[0]), dtype=np.bool_))
    out_r[todo] = r
    ok = r == C.OK
    good = inputs[0][ok]
    return collapse(sc[ok], lambda i: (int(good[i]),), out_r[out_r != C.OK].tolist(),
                    alloc._good)


@pytest.mark.parametrize("filtered", [False, True])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_single_matches_every_exact_score(shape: int, seed: int, filtered: bool) -> None:
    st = load_cluster(generate(SHAPES[shape], seed))
    sim = Simulator(st)
    nodes = np.arange(st.n_nodes, dtype=np.int64)
    capacity = (lambda k, cand: cand[0] % 3 != 0) if filtered else None
    for k in range(st.n_instances):
        if st.inst.snode[k] >= 0:
            continue
        for scoring in (nodes, nodes[: st.n_nodes // 2]):
            alloc = Allocator(sim, k, st.data.instances[k], bool(k % 2), capacity)
            got, want = alloc.single(nodes, scoring), _twin(alloc, nodes, scoring)
            assert got.nodes == want.nodes, f"instance {k}"
            assert got.score == want.score or got.nodes is None, f"instance {k}"
            assert (got.allocs, got.failures) == (want.allocs, want.failures), f"instance {k}"
