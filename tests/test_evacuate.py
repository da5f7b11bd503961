"""solver.evacuate's choice of a target: the fast path must pick what the plain fold picks.

``Evacuator.one_node`` estimates every target at once (``solver.balance.best_target``) and
rescores only the near-ties; ``Evacuator.each_target`` is Ganeti's fold, each target
applied and the group rescored.  On generated clusters (tags, locations, offline nodes,
identical empty nodes that tie exactly) both must choose the same target, and the fast
path's score must be the bits of the group's score after that move.
"""

from __future__ import annotations

import numpy as np
import pytest

from fixtures.generator import GenParams, generate
from solver import cluster as C
from solver.balance import best_target
from solver.evacuate import EvacError, Evacuator, group_nodes
from solver.loader import load_cluster
from solver.moves import FAILOVER_TO_ANY, REPLACE_SECONDARY
from solver.simulate import Simulator

MIX = (("drbd", 0.5), ("ext", 0.25), ("diskless", 0.15), ("plain", 0.1))
SHAPES = [GenParams(nodes=12, instances=60, mix=MIX, fill=0.7),
          GenParams(nodes=16, instances=50, mix=MIX, groups=2, skew=1.0, fill=0.3),
          GenParams(nodes=14, instances=70, mix=MIX, exclusion=3, locations=3, offline_nodes=2),
          GenParams(nodes=12, instances=60, mix=MIX, size_variation=1.0, forthcoming=0.2,
                    down=0.3, fill=0.9)]


def _choices(shape: int, seed: int, force: bool):
    """(instance, fast choice, plain choice, plain score) for every movable instance."""
    st = load_cluster(generate(SHAPES[shape], seed))
    sim = Simulator(st)
    ev = Evacuator(sim, force)
    mig_free = bool(st.mig_ok.all())
    out = []
    for k in range(st.n_instances):
        mirror = C.TEMPLATE_MIRROR[st.inst.template[k]]
        kind = {C.MIRROR_INTERNAL: REPLACE_SECONDARY,
                C.MIRROR_EXTERNAL: FAILOVER_TO_ANY}.get(int(mirror))
        p, s = int(st.inst.pnode[k]), int(st.inst.snode[k])
        if kind is None or p < 0:
            continue
        gdx = int(st.node[C.GROUP, p])
        nodes = group_nodes(st, gdx)
        avail = np.array([n for n in nodes if n not in (p, s)], dtype=np.int64)
        fast = best_target(sim.ctx(nodes), sim.it, nodes, k, kind, avail, force, mig_free)
        try:
            plain = ev.each_target(k, kind, gdx, avail)
        except EvacError:
            out.append((k, fast, None, None))
            continue
        with sim.trial():
            r, buf, mod_idx, res = sim.try_move(k, kind, plain, force)
            sim.commit_move(k, kind, plain, buf, mod_idx, res)
            score = ev.group_score(gdx)
        out.append((k, fast, plain, score))
    return out


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("shape", range(len(SHAPES)))
def test_best_target_matches_the_fold(shape: int, seed: int, force: bool) -> None:
    for k, fast, plain, score in _choices(shape, seed, force):
        if plain is None:
            assert fast is None, f"instance {k}"
            continue
        assert fast is not None, f"instance {k}"
        assert fast[0] == plain, f"instance {k}"
        assert fast[1] == score, f"instance {k}"


def test_exact_ties_occur() -> None:
    """Shape 1 piles instances onto few nodes: the empty ones tie exactly (so the test
    above checks the tie-break as well)."""
    st = load_cluster(generate(SHAPES[1], 0))
    sim = Simulator(st)
    ev = Evacuator(sim, False)
    for k in np.flatnonzero(st.inst.template == C.DT_DISKLESS):
        p = int(st.inst.pnode[k])
        gdx = int(st.node[C.GROUP, p])
        scores = []
        for t in group_nodes(st, gdx):
            r, buf, mod_idx, res = sim.try_move(int(k), FAILOVER_TO_ANY, int(t), False)
            if t == p or r != C.OK:
                continue
            with sim.trial():
                sim.commit_move(int(k), FAILOVER_TO_ANY, int(t), buf, mod_idx, res)
                scores.append(ev.group_score(gdx))
        if scores and scores.count(min(scores)) > 1:
            return
    pytest.fail("no exact tie")
