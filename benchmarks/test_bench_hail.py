"""pytest-benchmark cases for hail's core: one allocation and a multi-allocate, in-process.

Run with ``python -m pytest benchmarks/ --benchmark-enable``.  The requests come from
``benchmarks.hail_side_by_side`` (generated drbd clusters, spread placement), parsed once;
each round answers the request on a fresh load of the cluster, as one hail process would
after reading its input.
"""

from __future__ import annotations

import pytest

from benchmarks.hail_side_by_side import requests
from htools.backends.iallocator import parse_request
from solver.iallocator import Hail, HailOptions, with_new_instances
from solver.loader import load_cluster

SIZES = [(50, 400), (200, 1600)]


def _answer(text: str):
    inp = parse_request(text)
    full, first, clones = with_new_instances(inp.data, inp.request)
    return Hail(load_cluster(full), HailOptions()).answer(inp.request, first, clones)


@pytest.mark.parametrize(("nodes", "instances"), SIZES, ids=lambda v: str(v))
def test_allocate(benchmark, nodes: int, instances: int) -> None:
    text = requests(nodes, instances, 10)["allocate"]
    ans = benchmark(_answer, text)
    assert len(ans.result) == 2


@pytest.mark.parametrize(("nodes", "instances"), SIZES, ids=lambda v: str(v))
def test_multi_allocate(benchmark, nodes: int, instances: int) -> None:
    text = requests(nodes, instances, 10)["multi-allocate x10"]
    ans = benchmark.pedantic(_answer, (text,), rounds=3)
    assert len(ans.result[0]) == 10
