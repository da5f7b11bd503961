"""solver.capacity: shrinking, and the tiered loop against Ganeti's recursion written plainly.

``Filler.tiered`` replaces Ganeti's recursive tieredAlloc (one level per shrink) by a loop
with explicit frames, and remembers tryAlloc answers and shrink walks per cluster state.
The twin below is the recursion as Ganeti writes it, with no memory at all; both must
place the same instances with the same specs and report the same failures.
"""

from __future__ import annotations

import sys

import pytest

from fixtures.generator import GenParams, generate
from solver import cluster as C
from solver.capacity import Filler, RSpec, allocable_nodes, shrink
from solver.loader import load_cluster


def test_shrink_steps_and_floors() -> None:
    spec = RSpec(mem=200, dsk=600, cpu=2, spn=2)
    assert shrink(spec, C.FAIL_MEM) == RSpec(136, 600, 2, 2)
    assert shrink(spec, C.FAIL_DISK) == RSpec(200, 344, 2, 2)
    assert shrink(spec, C.FAIL_CPU) == RSpec(200, 600, 1, 2)
    assert shrink(spec, C.FAIL_SPINDLES) == RSpec(200, 600, 2, 1)
    assert shrink(RSpec(127, 600, 1, 1), C.FAIL_MEM) is None
    assert shrink(RSpec(200, 511, 1, 1), C.FAIL_DISK) is None
    assert shrink(RSpec(200, 600, 1, 1), C.FAIL_CPU) is None
    assert shrink(RSpec(200, 600, 1, 1), C.FAIL_SPINDLES) is None
    assert shrink(spec, C.FAIL_N1) is None


class PlainFiller(Filler):
    """Ganeti's tieredAlloc and sufficesShrinking, recursive and without memory."""

    def try_alloc(self, k, capacity, winner_only):
        sol = self._try_alloc(k, capacity, winner_only)
        from solver.capacity import Attempt
        return Attempt(sol.nodes, sol.failure_counts())

    def suffices(self, spec, mode):
        chain = []
        cur = spec
        while shrink(cur, mode) is not None:
            chain.append(cur)
            cur = shrink(cur, mode)
        for x in chain:
            sol = self.try_alloc(self._slot(x), self.capacity, False)
            if sol.nodes is not None:
                return x
            if not sol.failures[mode]:
                return None
        return None

    def tiered(self, spec, limit):
        errs = self.iterate(spec, limit)
        done = len(self.placed)
        if limit is not None and limit <= done:
            return errs
        newlimit = None if limit is None else limit - done
        order = sorted(range(len(errs)), key=lambda m: errs[m])
        smaller = shrink(spec, order[-1])
        if smaller is not None:
            got = self.tiered(smaller, newlimit)
            if len(self.placed) > done:
                return got
        for mode in reversed(order):
            found = self.suffices(spec, mode)
            if found is not None:
                return self.tiered(found, newlimit)
        return errs


def _filler(cls, state, template: str, capacity: bool) -> Filler:
    return cls(state.copy(), template, 1, allocable_nodes(state, set()), [], capacity, False)


CASES = [  # (cluster, template, tiered spec): shrink chains short enough to recurse
    (GenParams(nodes=6, instances=10, fill=0.3), "drbd", RSpec(8192, 102400, 4, 1)),
    (GenParams(nodes=5, instances=8, fill=0.5, mix=(("plain", 1.0),)), "plain",
     RSpec(4096, 40960, 2, 1)),
    (GenParams(nodes=8, instances=20, groups=2, fill=0.4), "drbd", RSpec(4096, 20480, 8, 1)),
]


@pytest.mark.parametrize("capacity", [True, False])
@pytest.mark.parametrize("limit", [None, 7])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_tiered_loop_matches_the_recursion(case: int, limit: int | None,
                                           capacity: bool) -> None:
    params, template, spec = CASES[case]
    state = load_cluster(generate(params, case))
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    runs = []
    for cls in (Filler, PlainFiller):
        fill = _filler(cls, state, template, capacity)
        errs = fill.tiered(spec, limit)
        ia = fill.state.inst
        placed = [(fill.spec_of(k), int(ia.pnode[k]), int(ia.snode[k])) for k in fill.placed]
        runs.append((errs, placed))
    assert runs[0] == runs[1]
    assert runs[0][1]  # something was placed: the case exercises the loop


def test_standard_run_fills_until_a_resource_fails() -> None:
    state = load_cluster(generate(GenParams(nodes=6, instances=10, fill=0.3), 1))
    fill = _filler(Filler, state, "drbd", True)
    errs = fill.iterate(RSpec(1024, 10240, 1, 1), None)
    assert len(fill.placed) > 10
    assert sum(errs) > 0  # the last attempt failed, and says why
    ia = fill.state.inst
    assert all(ia.pnode[k] >= 0 and ia.snode[k] >= 0 for k in fill.placed)
    assert len(set(fill.placed)) == len(fill.placed)
