"""Greedy vertex colourings of a node graph (Ganeti's Graph module, as hroller uses it).

hroller prints which colouring found fewest colours and how the colour classes are
sized, and the reboot groups are the classes of the winner, so each of the three
heuristics must pick exactly Ganeti's vertex at every step:

* LF colours vertices by decreasing degree; among equal degrees the higher vertex
  goes first (Ganeti folds from the right over a stably sorted list).
* Dsatur and Dcolor repeatedly colour the uncoloured vertex with the largest
  (saturation, degree) resp. (coloured-neighbour count, degree) pair; among equal
  pairs the highest vertex wins (Haskell's ``maximumBy`` keeps the last maximum).

Degrees and neighbour counts count parallel edges and loops, as Ganeti's adjacency
lists contain them; a vertex's own loop never blocks a colour, since a vertex is
uncoloured when it is coloured.  The dynamic orders keep their keys up to date
incrementally instead of recomputing them every round, which takes them from
O(V² deg) to O(V² + E); ``tests/test_colouring.py`` checks them against the
definitions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Adjacency = Sequence[Sequence[int]]


def _first_free(adj: Sequence[int], colour: np.ndarray) -> int:
    """The smallest colour no coloured neighbour has."""
    used = {int(colour[u]) for u in adj if colour[u] >= 0}
    c = 0
    while c in used:
        c += 1
    return c


def colour_lf(adj: Adjacency) -> np.ndarray:
    """Largest-first greedy colouring; returns each vertex's colour."""
    n = len(adj)
    colour = np.full(n, -1, dtype=np.int64)
    for v in sorted(range(n), key=lambda v: (-len(adj[v]), -v)):
        colour[v] = _first_free(adj[v], colour)
    return colour


def _colour_dynamic(adj: Adjacency, distinct: bool) -> np.ndarray:
    """Colour the vertex with the largest (key, degree) next, key kept incrementally.

    ``distinct``: the key counts the distinct colours among the neighbours
    (Dsatur's saturation); otherwise it counts coloured neighbours (Dcolor).
    """
    n = len(adj)
    colour = np.full(n, -1, dtype=np.int64)
    degree = np.array([len(a) for a in adj], dtype=np.int64)
    key = np.zeros(n, dtype=np.int64)
    seen: list[set[int]] = [set() for _ in range(n)]
    # one number per vertex orders by (key, degree); coloured vertices drop out
    scale = int(degree.max(initial=0)) + 1
    rank = degree.copy()
    for _ in range(n):
        v = n - 1 - int(np.argmax(rank[::-1]))  # the last maximum
        c = _first_free(adj[v], colour)
        colour[v] = c
        rank[v] = -1
        for u in adj[v]:
            if colour[u] >= 0:
                continue
            if distinct:
                if c in seen[u]:
                    continue
                seen[u].add(c)
            key[u] += 1
            rank[u] = key[u] * scale + degree[u]
    return colour


def colour_dsatur(adj: Adjacency) -> np.ndarray:
    """Dsatur: highest saturation first, then highest degree."""
    return _colour_dynamic(adj, distinct=True)


def colour_dcolor(adj: Adjacency) -> np.ndarray:
    """Dcolor: most coloured neighbours first, then highest degree."""
    return _colour_dynamic(adj, distinct=False)


def colour_classes(colour: np.ndarray) -> list[list[int]]:
    """Vertices by colour: classes in colour order, vertices ascending in each."""
    classes: list[list[int]] = [[] for _ in range(int(colour.max(initial=-1)) + 1)]
    for v, c in enumerate(colour.tolist()):
        classes[c].append(v)
    return classes


# The colourings hroller compares, in Ganeti's order (a tie goes to the earlier one).
COLOURINGS = (("LF", colour_lf), ("Dsatur", colour_dsatur), ("Dcolor", colour_dcolor))
