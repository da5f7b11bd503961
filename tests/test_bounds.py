"""solver.bounds: the carried bound must hold for every candidate, on any data.

Each trial draws node values, a few candidates (changes on some nodes) and a
step (changes on other nodes), and checks that every candidate's gain after
the step is at least the advanced bound, and that the bound is not wildly
loose (it is what lets a step skip most instances).
"""

from __future__ import annotations

import numpy as np
import pytest

from solver.bounds import InstanceBounds, gain_drift
from solver.metrics import AGGREGATION, N_METRICS, WEIGHTS

STD = AGGREGATION == 0


def _gain(x: np.ndarray, d: np.ndarray) -> float:
    """Exact std-dev part of a candidate's gain: Σ w·(σ(x+d) − σ(x))."""
    return float((WEIGHTS[STD] * ((x + d)[:, STD].std(axis=0) - x[:, STD].std(axis=0))).sum())


def _trial(rng: np.random.Generator, n: int, n_cands: int, spread: float):
    x = rng.random((n, N_METRICS)) * spread + rng.random(N_METRICS)
    step_nodes = rng.choice(n, size=4, replace=False)
    free = np.setdiff1d(np.arange(n), step_nodes)
    cands = []
    for _ in range(n_cands):
        d = np.zeros((n, N_METRICS))
        nodes = rng.choice(free, size=int(rng.integers(1, 4)), replace=False)
        d[nodes] = rng.normal(0.0, 0.1, (len(nodes), N_METRICS))
        if rng.random() < 0.3:
            d[:, rng.integers(N_METRICS)] = 0.0  # some metrics untouched
        cands.append(d)
    e = np.zeros((n, N_METRICS))
    e[step_nodes] = rng.normal(0.0, 0.1, (4, N_METRICS))
    return x, cands, e


def _summary(x: np.ndarray, cands: list[np.ndarray]):
    v = x.var(axis=0)
    dvar = np.array([(x + d).var(axis=0) - v for d in cands])
    dsum = np.array([d.sum(axis=0) for d in cands])
    gains = np.array([_gain(x, d) for d in cands])
    return gains, dvar, dsum


@pytest.mark.parametrize("seed", range(40))
def test_advanced_bound_holds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 60))
    x, cands, e = _trial(rng, n, 12, float(rng.choice([0.01, 0.3, 2.0])))
    gains, dvar, dsum = _summary(x, cands)
    b = InstanceBounds(1)
    idx = np.array([0])
    b.store(idx, gains.min(), 0.0, dvar.min(axis=0), dvar.max(axis=0),
            np.abs(dsum).max(axis=0))
    y = x + e
    b.advance(idx, x.var(axis=0), y.var(axis=0), y.sum(axis=0) - x.sum(axis=0), n)
    after = np.array([_gain(y, d) for d in cands])
    assert after.min() >= b.gain[0] - 1e-12
    # the variance-change range still covers every candidate
    dvar_after = np.array([(y + d).var(axis=0) - y.var(axis=0) for d in cands])
    assert (dvar_after >= b.dmin[0] - 1e-12).all() and (dvar_after <= b.dmax[0] + 1e-12).all()


def test_bound_is_second_order() -> None:
    """Far from zero variance, a small step moves the bound by much less than the gains."""
    rng = np.random.default_rng(7)
    n = 500
    x, cands, e = _trial(rng, n, 20, 1.0)
    e *= 0.1
    gains, dvar, dsum = _summary(x, cands)
    y = x + e
    drift = gain_drift(dvar.min(axis=0)[None], dvar.max(axis=0)[None],
                       (2 * np.abs(y.sum(axis=0) - x.sum(axis=0)) / n ** 2
                        * np.abs(dsum).max(axis=0))[None], x.var(axis=0), y.var(axis=0))
    assert 0 < drift[0] < 0.05 * np.abs(gains).mean()


def test_untouched_metric_and_empty_instance_do_not_drift() -> None:
    zero = np.zeros((1, N_METRICS))
    v0, v1 = np.zeros(N_METRICS), np.ones(N_METRICS)
    assert gain_drift(zero, zero, zero, v0, v1)[0] < 1e-14
    empty = gain_drift(np.full((1, N_METRICS), np.inf), np.full((1, N_METRICS), -np.inf),
                       zero, v0, v1)
    assert empty[0] < 1e-14


def test_variance_near_zero_gives_no_bound() -> None:
    d = np.full((1, N_METRICS), 1e-3)
    assert gain_drift(-d, d, np.zeros((1, N_METRICS)), np.zeros(N_METRICS),
                      np.full(N_METRICS, 1e-3))[0] == np.inf
