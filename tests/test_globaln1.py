"""solver.globaln1: the fail-over kernel must agree with replaying Failover moves.

For every node of generated drbd clusters (tight and roomy, offline nodes, migration tags),
``drbd_failovers_ok`` must give the same verdict as failing the node's primaries over one
by one with the move code (``Simulator.try_move`` + ``commit_move``), which is how Ganeti's
canEvacuateNode does it.
"""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.generator import GenParams, generate
from solver import cluster as C
from solver.globaln1 import drbd_failovers_ok
from solver.loader import load_cluster
from solver.moves import FAILOVER
from solver.simulate import Simulator

SHAPES = [GenParams(nodes=6, instances=30, mix=(("drbd", 1.0),), fill=0.7),
          GenParams(nodes=10, instances=40, mix=(("drbd", 1.0),), fill=0.4, skew=0.9),
          GenParams(nodes=8, instances=40, mix=(("drbd", 1.0),), offline_nodes=1, fill=0.7),
          GenParams(nodes=9, instances=50, mix=(("drbd", 1.0),), forthcoming=0.2, down=0.3)]


def _by_moves(sim: Simulator, n: int) -> bool:
    with sim.trial():
        for k in sim.state.primaries(n):
            r, buf, mod_idx, res = sim.try_move(k, FAILOVER, -1, True)
            if r != C.OK:
                return False
            sim.commit_move(k, FAILOVER, -1, buf, mod_idx, res)
    return True


def _verdicts(shape: int, seed: int) -> list[tuple[bool, bool]]:
    """(kernel, moves) verdict for every node of one generated cluster."""
    st = load_cluster(generate(SHAPES[shape], seed))
    sim = Simulator(st)
    out = []
    for n in range(st.n_nodes):
        prims = np.array(st.primaries(n), dtype=np.int64)
        ok = drbd_failovers_ok(sim.rows, st.peers, sim.tops[0], sim.tops[1], sim.tops[2],
                               st.mig_ok, sim.it, n, prims, st.inst.snode[prims])
        out.append((bool(ok), _by_moves(sim, n)))
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_kernel_matches_failover_moves(shape: int, seed: int) -> None:
    for n, (kernel, moves) in enumerate(_verdicts(shape, seed)):
        assert kernel == moves, f"node {n}"


def test_both_verdicts_occur() -> None:
    """The shapes are tight enough that some nodes cannot be evacuated."""
    seen = {kernel for shape in range(len(SHAPES)) for seed in range(6)
            for kernel, _ in _verdicts(shape, seed)}
    assert seen == {True, False}
