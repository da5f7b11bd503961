"""pytest-benchmark cases for hbal's hot core: the cluster score and one greedy step.

Run with ``python -m pytest benchmarks/ --benchmark-enable`` (the default test
run disables timing).  Clusters come from the seeded generator, so every run
measures the same work.
"""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.generator import GenParams, generate
from solver.balance import BalanceOptions, Balancer
from solver.loader import load_cluster
from solver.metrics import compute_score

SIZES = [(40, 320), (100, 800)]


def _state(nodes: int, instances: int):
    return load_cluster(generate(GenParams(nodes=nodes, instances=instances, skew=0.7), 1))


@pytest.mark.parametrize(("nodes", "instances"), SIZES, ids=lambda v: str(v))
def test_score(benchmark, nodes: int, instances: int) -> None:
    st = _state(nodes, instances)
    all_nodes = np.arange(st.n_nodes)
    score = benchmark(compute_score, st, all_nodes)
    assert score > 0


@pytest.mark.parametrize(("nodes", "instances"), SIZES, ids=lambda v: str(v))
def test_one_step(benchmark, nodes: int, instances: int) -> None:
    st = _state(nodes, instances)

    def step():
        bal = Balancer(st.copy(), np.arange(st.n_nodes), np.arange(st.n_instances),
                       BalanceOptions())
        return bal.step(bal.score())

    move = benchmark.pedantic(step, rounds=3, warmup_rounds=1)
    assert move is not None and move.score > 0
