"""The colourings against plain twins written straight from their definitions."""

from __future__ import annotations

import numpy as np
import pytest

from solver.colouring import (
    colour_classes,
    colour_dcolor,
    colour_dsatur,
    colour_lf,
)


def _free(adj: list[list[int]], v: int, colour: dict[int, int]) -> int:
    used = {colour[u] for u in adj[v] if u in colour}
    return next(c for c in range(len(adj) + 1) if c not in used)


def twin_lf(adj: list[list[int]]) -> dict[int, int]:
    """Vertices stably sorted by ascending degree, coloured from the end of the list."""
    order = sorted(range(len(adj)), key=lambda v: len(adj[v]))
    colour: dict[int, int] = {}
    for v in reversed(order):
        colour[v] = _free(adj, v, colour)
    return colour


def twin_dynamic(adj: list[list[int]], distinct: bool) -> dict[int, int]:
    """Each round: recompute every key, colour the last vertex with the largest one."""
    colour: dict[int, int] = {}
    left = list(range(len(adj)))
    while left:
        def key(v: int) -> tuple[int, int]:
            coloured = [colour[u] for u in adj[v] if u in colour]
            return (len(set(coloured)) if distinct else len(coloured), len(adj[v]))
        best = left[0]
        for v in left[1:]:
            if key(v) >= key(best):
                best = v
        colour[best] = _free(adj, best, colour)
        left.remove(best)
    return colour


def random_graph(rng: np.random.Generator, n: int, edges: int) -> list[list[int]]:
    """A symmetric multigraph with loops, adjacency lists in random order."""
    adj: list[list[int]] = [[] for _ in range(n)]
    for _ in range(edges):
        a, b = (int(x) for x in rng.integers(0, n, 2))
        adj[a].append(b)
        if a != b:
            adj[b].append(a)
    for a in adj:
        rng.shuffle(a)
    return adj


@pytest.mark.parametrize("seed", range(60))
def test_against_twins(seed: int) -> None:
    rng = np.random.default_rng(seed)
    adj = random_graph(rng, int(rng.integers(1, 30)), int(rng.integers(0, 80)))
    for ours, twin in ((colour_lf, twin_lf),
                       (colour_dsatur, lambda a: twin_dynamic(a, True)),
                       (colour_dcolor, lambda a: twin_dynamic(a, False))):
        got = ours(adj)
        want = twin(adj)
        assert got.tolist() == [want[v] for v in range(len(adj))]


@pytest.mark.parametrize("fn", [colour_lf, colour_dsatur, colour_dcolor])
def test_proper_colouring(fn) -> None:
    rng = np.random.default_rng(7)
    adj = random_graph(rng, 40, 150)
    colour = fn(adj)
    assert all(colour[a] != colour[b] for a in range(40) for b in adj[a] if a != b)


def test_ties_go_to_the_highest_vertex() -> None:
    # a path 0-1-2: all colourings start at 1 (largest degree); then 2 before 0
    adj = [[1], [0, 2], [1]]
    assert colour_lf(adj).tolist() == [1, 0, 1]
    assert colour_dsatur(adj).tolist() == [1, 0, 1]
    # four isolated vertices all get colour 0
    assert colour_dcolor([[], [], [], []]).tolist() == [0, 0, 0, 0]


def test_classes() -> None:
    assert colour_classes(np.array([1, 0, 1, 2])) == [[1], [0, 2], [3]]
    assert colour_classes(np.array([], dtype=np.int64)) == []
