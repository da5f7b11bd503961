"""solver.pairbounds: pair scores carried across multi-allocate entries pick Ganeti's winner.

The twin is the full scan of every entry (the carried path switched off); both must give
the same answer, entry by entry, on clusters where the N+1 filter, exclusion tags, several
groups and a cluster filled to failure all come into play.
"""

from __future__ import annotations

import pytest

from fixtures.generator import GenParams, generate
from fixtures.requests import request_json, uniform_multi
from htools.backends.iallocator import parse_request
from solver.iallocator import Hail, HailOptions, RequestFailed, with_new_instances
from solver.loader import load_cluster
from solver.pairbounds import PairCache

_DRBD = (("drbd", 1.0),)
SHAPES = [
    GenParams(nodes=6, instances=12, fill=0.2, mix=_DRBD, skew=0.0),
    GenParams(nodes=8, instances=30, groups=2, exclusion=2, fill=0.2, mix=_DRBD, skew=0.0),
    GenParams(nodes=30, instances=100, fill=0.25, mix=_DRBD, skew=0.0),
    GenParams(nodes=40, instances=100, groups=2, fill=0.2, mix=_DRBD, skew=0.0),
]
SPECS = [(1024, 10240, ()), (4096, 51200, ()), (512, 2048, ("service:0",))]
MIDDLE = {"memory": 8192, "vcpus": 2}  # an odd entry: the carried scores start over


def _answer(text: str, capacity: bool = True):
    inp = parse_request(text)
    full, first, clones = with_new_instances(inp.data, inp.request)
    hail = Hail(load_cluster(full), HailOptions(capacity=capacity))
    try:
        return hail.answer(inp.request, first, clones)
    except RequestFailed as e:  # an entry no group can take fails the request
        return str(e)


@pytest.mark.parametrize("odd", [False, True])
@pytest.mark.parametrize("capacity", [True, False])
@pytest.mark.parametrize("spec", range(len(SPECS)))
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_carried_scores_answer_like_full_scans(monkeypatch, shape: int, spec: int,
                                               capacity: bool, odd: bool) -> None:
    mem, disk, tags = SPECS[spec]
    req = uniform_multi(40, mem, disk, tags)
    if odd:
        req["instances"][5].update(MIDDLE)
    text = request_json(generate(SHAPES[shape], shape), req)
    calls = {"n": 0}
    real = PairCache.winner

    def counted(self, alloc, inp):
        sol = real(self, alloc, inp)
        calls["n"] += sol is not None
        return sol

    monkeypatch.setattr(PairCache, "winner", counted)
    carried = _answer(text, capacity)
    monkeypatch.setattr(PairCache, "winner", lambda self, alloc, inp: None)
    full = _answer(text, capacity)
    assert carried == full
    if not isinstance(full, str):
        assert calls["n"] > 0  # the carried path really answered some entries
