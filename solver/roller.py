"""hroller's planning: node graphs, and splitting colour classes into reboot groups.

Nodes that share an instance (one is primary, the other secondary) must not reboot
together; without ``--offline-maintenance`` neither may two primaries whose
instances share a secondary node.  A colouring of that graph (solver.colouring)
gives candidate groups, which are then split until every group can be emptied:
first of its non-redundant instances (moved to other nodes of their group), with
``--full-evacuation`` also of its primaries (migrated to their secondaries) and of
its secondaries (replaced on other nodes).  Each split is greedy, in node order,
and each group keeps the configuration its moves lead to; ``--print-moves`` shows
the difference from the loaded cluster.

All capacity changes go through Ganeti's node operations (solver.nodeops) with the
soft checks off, as hroller forces every operation.  Forced operations never read a
node's memory reserve for failovers (rMem) or its N+1 flag, so the peer matrix is
not maintained here: the reserve stays as loaded.

Two of Ganeti's quirks are part of the observable behaviour and kept:

* the graph's vertices are every node index between the lowest and the highest
  selected node, the unselected ones isolated, and they take part in the splitting
  (their instances move too) before being dropped from the printed groups;
* replacing a secondary stores, at the old secondary's index, a copy of the
  instance's *primary* node (``Hroller.replaceSecondary`` looks up the wrong
  index).  Only the node's name is ever read back from there, by --print-moves, so
  a configuration records which node's name each index carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from solver import cluster as C
from solver.colouring import COLOURINGS, colour_classes
from solver.nodeops import InstTuple, add_pri, add_sec, inst_tuple, remove_pri, remove_sec


class CannotClear(Exception):
    """A node group cannot be emptied at all (not even one node of it)."""


# ---- the node graph ---------------------------------------------------------------


@dataclass
class NodeGraph:
    """Ganeti's Data.Graph over node indices ``lo..lo+len(adj)-1``.

    ``adj[v - lo]`` lists v's neighbours in Ganeti's order (the last edge added
    first), parallel edges and loops included.
    """

    lo: int
    adj: list[list[int]]

    def show(self) -> str:
        """Haskell's ``show`` of the graph (an array of adjacency lists)."""
        hi = self.lo + len(self.adj) - 1
        cells = ",".join(f"({self.lo + i},[{','.join(map(str, a))}])"
                         for i, a in enumerate(self.adj))
        return f"array ({self.lo},{hi}) [{cells}]"


def _instance_edges(state: C.ClusterState) -> list[tuple[int, int]]:
    ia = state.inst
    edges: list[tuple[int, int]] = []
    for p, s in zip(ia.pnode.tolist(), ia.snode.tolist(), strict=True):
        if s >= 0:
            edges += [(p, s), (s, p)]
    return edges


def _shared_secondary_edges(state: C.ClusterState) -> list[tuple[int, int]]:
    """Every pair (loops too) of primaries of the instances each node is secondary of."""
    pnode = state.inst.pnode
    edges: list[tuple[int, int]] = []
    for n in range(state.n_nodes):
        prims = [int(pnode[k]) for k in state.secondaries(n)]
        edges += [(a, b) for a in prims for b in prims]
    return edges


def node_graph(state: C.ClusterState, selected: np.ndarray, reboot: bool) -> NodeGraph | None:
    """The graph of the selected nodes (a boolean mask); None when none is selected.

    ``reboot`` adds the shared-secondary edges (Ganeti's mkRebootNodeGraph, over
    every node's secondaries, selected or not) to the instance edges (mkNodeGraph).
    """
    chosen = np.flatnonzero(selected)
    if len(chosen) == 0:
        return None
    lo, hi = int(chosen[0]), int(chosen[-1])
    edges = _instance_edges(state)
    if reboot:
        # Haskell's union: the first list whole, then the new edges of the second once
        known = set(edges)
        extra = dict.fromkeys(e for e in _shared_secondary_edges(state) if e not in known)
        edges += list(extra)
    adj: list[list[int]] = [[] for _ in range(hi - lo + 1)]
    for a, b in edges:
        if selected[a] and selected[b]:
            adj[a - lo].append(b)
    for a in adj:
        a.reverse()
    return NodeGraph(lo, adj)


@dataclass
class Colouring:
    name: str
    classes: list[list[int]]  # node indices, ascending, in colour order


def colourings(graph: NodeGraph) -> list[Colouring]:
    """The three colourings of Ganeti's hroller, in its order."""
    out = []
    for name, fn in COLOURINGS:
        classes = colour_classes(fn([[u - graph.lo for u in a] for a in graph.adj]))
        out.append(Colouring(name, [[graph.lo + v for v in cls] for cls in classes]))
    return out


def smallest(cols: list[Colouring]) -> Colouring:
    """The colouring with fewest classes; the first of equals."""
    return min(cols, key=lambda c: len(c.classes))


def colouring_stats(cols: list[Colouring]) -> str:
    """hroller -v -v's summary: largest count first, each TIE or LOOSE against the last."""
    ranked = sorted(cols, key=lambda c: -len(c.classes))
    out, last = "", None
    for col in reversed(ranked):
        text = f"{col.name}: {len(col.classes)} ({','.join(str(len(c)) for c in col.classes)})"
        if last is None:
            out = text
        else:
            out += (" TIE " if last == len(col.classes) else " LOOSE ") + text
        last = len(col.classes)
    return out


# ---- configurations ---------------------------------------------------------------


class Loaded:
    """What every configuration of one run shares: the loaded cluster, read only."""

    def __init__(self, state: C.ClusterState) -> None:
        self.state = state
        self.rows = np.ascontiguousarray(state.node.T)
        self.it: InstTuple = inst_tuple(state.inst)
        self._plist: dict[int, list[int]] = {}
        self._slist: dict[int, list[int]] = {}

    def plist(self, n: int) -> list[int]:
        if n not in self._plist:
            self._plist[n] = self.state.primaries(n)
        return self._plist[n]

    def slist(self, n: int) -> list[int]:
        if n not in self._slist:
            self._slist[n] = self.state.secondaries(n)
        return self._slist[n]


@dataclass
class Conf:
    """A configuration: the loaded cluster plus what the moves so far changed.

    Node and placement changes are kept as overlays so that trying to clear a node
    (and giving up) costs only what the attempt touched.  ``padd``/``sadd`` hold, per
    node, the instances added to it since loading, newest first (Ganeti prepends to
    a node's pList/sList); ``re_p``/``re_s`` the instances so re-added anywhere.
    """

    base: Loaded
    rows: dict[int, np.ndarray] = field(default_factory=dict)
    place: dict[int, tuple[int, int]] = field(default_factory=dict)
    padd: dict[int, list[int]] = field(default_factory=dict)
    sadd: dict[int, list[int]] = field(default_factory=dict)
    re_p: set[int] = field(default_factory=set)
    re_s: set[int] = field(default_factory=set)
    name_of: dict[int, int] = field(default_factory=dict)

    def fork(self) -> Conf:
        return Conf(self.base, dict(self.rows), dict(self.place),
                    {n: list(v) for n, v in self.padd.items()},
                    {n: list(v) for n, v in self.sadd.items()},
                    set(self.re_p), set(self.re_s), dict(self.name_of))

    # ---- reading ----------------------------------------------------------------
    def row(self, n: int) -> np.ndarray:
        r = self.rows.get(n)
        return self.base.rows[n] if r is None else r

    def placement(self, k: int) -> tuple[int, int]:
        pl = self.place.get(k)
        if pl is None:
            ia = self.base.state.inst
            return int(ia.pnode[k]), int(ia.snode[k])
        return pl

    def plist(self, n: int) -> list[int]:
        """The node's primary instances, newest first (pList)."""
        kept = [k for k in self.base.plist(n) if k not in self.re_p]
        return self.padd.get(n, []) + kept

    def slist(self, n: int) -> list[int]:
        kept = [k for k in self.base.slist(n) if k not in self.re_s]
        return self.sadd.get(n, []) + kept

    def non_redundant(self, n: int) -> list[int]:
        return [k for k in self.plist(n) if self.placement(k)[1] < 0]

    def redundant(self, n: int) -> list[int]:
        return [k for k in self.plist(n) if self.placement(k)[1] >= 0]

    def group(self, n: int) -> int:
        return int(self.row(n)[C.GROUP])

    def node_name(self, n: int) -> int:
        """Whose name the node entry at index n carries (see the module notes)."""
        return self.name_of.get(n, n)

    # ---- writing ----------------------------------------------------------------
    def _unlist(self, lists: dict[int, list[int]], n: int, k: int) -> None:
        if k in lists.get(n, ()):
            lists[n].remove(k)

    def _add_p(self, n: int, k: int, old: int) -> None:
        self._unlist(self.padd, old, k)
        self.padd.setdefault(n, []).insert(0, k)
        self.re_p.add(k)

    def _add_s(self, n: int, k: int, old: int) -> None:
        self._unlist(self.sadd, old, k)
        self.sadd.setdefault(n, []).insert(0, k)
        self.re_s.add(k)

    def move(self, k: int, t: int) -> bool:
        """Move a non-redundant instance to node t (Hroller.move)."""
        it = self.base.it
        p, s = self.placement(k)
        new = self.row(t).copy()
        if add_pri(new, it, k, True, False) != C.OK:
            return False
        old = self.row(p).copy()
        remove_pri(old, it, k)
        self.rows[p], self.rows[t] = old, new
        self.place[k] = (t, s)
        self._add_p(t, k, p)
        return True

    def migrate(self, k: int) -> bool:
        """Swap primary and secondary (Hroller.migrate)."""
        it = self.base.it
        p, s = self.placement(k)
        pn, sn = self.row(p).copy(), self.row(s).copy()
        remove_pri(pn, it, k)
        remove_sec(sn, it, k, 0.0, 0.0)
        if add_pri(sn, it, k, True, False) != C.OK:
            return False
        if add_sec(pn, it, k, 0.0, True, False) != C.OK:
            return False
        self.rows[p], self.rows[s] = pn, sn
        self.place[k] = (s, p)
        self._add_p(s, k, p)
        self._add_s(p, k, s)
        return True

    def replace_secondary(self, k: int, t: int) -> bool:
        """Give instance k the secondary t (Hroller.replaceSecondary, quirk included)."""
        it = self.base.it
        p, s = self.placement(k)
        if p == t:
            return False
        new = self.row(t).copy()
        if add_sec(new, it, k, 0.0, True, False) != C.OK:
            return False
        copy = self.row(p).copy()
        remove_sec(copy, it, k, 0.0, 0.0)
        self.rows[t] = new
        self.rows[s] = copy
        self.name_of[s] = self.node_name(p)
        self.place[k] = (p, t)
        self._add_s(t, k, s)
        return True

    def moves(self) -> list[tuple[int, int, int]]:
        """Moved instances as (instance, primary name index, secondary name index or -1).

        Instances whose primary and secondary merely swapped are not moves.
        """
        ia = self.base.state.inst
        out = []
        for k in sorted(self.place):
            p0, s0 = int(ia.pnode[k]), int(ia.snode[k])
            p1, s1 = self.place[k]
            if not (p0 != p1 or (s0 >= 0 and s0 != s1)) or (p1 == s0 and s1 == p0):
                continue
            out.append((k, self.node_name(p1), self.node_name(s1) if s0 >= 0 else -1))
        return out


# ---- clearing nodes ---------------------------------------------------------------


def _relocate(conf: Conf, insts: list[int], targets: list[int], secondaries: bool) -> bool:
    """Each instance to the first target that takes it; False when one fits nowhere."""
    op = conf.replace_secondary if secondaries else conf.move
    return all(any(op(k, t) for t in targets) for k in insts)


def _greedy_clear(ndxs: list[int], targets: list[int], conf: Conf, secondaries: bool
                  ) -> tuple[list[int], Conf]:
    """Nodes of ``ndxs`` that can be emptied together, in order, and the result.

    A node joins when all its instances of the kind find room on the remaining
    targets of its own group; the nodes that joined stop being targets.
    """
    chosen: list[int] = []
    for n in ndxs:
        others = [t for t in targets if t != n]
        grp = conf.group(n)
        same = [t for t in others if conf.group(t) == grp]
        insts = conf.slist(n) if secondaries else conf.non_redundant(n)
        trial = conf.fork()
        if _relocate(trial, insts, same, secondaries):
            chosen.append(n)
            targets, conf = others, trial
    return chosen, conf


def partition(ndxs: list[int], targets: list[int], conf: Conf, secondaries: bool
              ) -> list[tuple[list[int], Conf]]:
    """Split ``ndxs`` into groups that can each be emptied, each from ``conf``."""
    out = []
    while ndxs:
        grp, after = _greedy_clear(ndxs, targets, conf, secondaries)
        if not grp:
            raise CannotClear
        out.append((grp, after))
        taken = set(grp)
        ndxs = [n for n in ndxs if n not in taken]
    return out


def migrate_off(grp: list[int], conf: Conf) -> Conf | None:
    """Fail over every redundant primary of the group's nodes; None if one fails."""
    conf = conf.fork()
    insts = [k for n in grp for k in conf.redundant(n)]
    for k in insts:
        if not conf.migrate(k):
            return None
    return conf


@dataclass
class RollerOptions:
    ignore_non_redundant: bool = False
    full_evacuation: bool = False


class RollError(Exception):
    """hroller cannot plan; the message is Ganeti's."""


def reboot_groups(state: C.ClusterState, classes: list[list[int]], opts: RollerOptions
                  ) -> list[tuple[list[int], Conf]]:
    """Split colour classes into reboot groups, each with the configuration it needs.

    Instances may go to any online node, selected or not.
    """
    base = Loaded(state)
    conf0 = Conf(base)
    online = np.flatnonzero(state.node[C.OFFLINE] == 0).tolist()
    if opts.ignore_non_redundant:
        groups = [(list(cls), conf0) for cls in classes]
    else:
        try:
            groups = [g for cls in classes for g in partition(cls, online, conf0, False)]
        except CannotClear:
            raise RollError("Not enough capacity to move non-redundant instances") from None
    if not opts.full_evacuation:
        return groups
    migrated = []
    for grp, conf in groups:
        after = migrate_off(grp, conf)
        if after is None:
            raise RollError("Failed to migrate instances off nodes")
        migrated.append((grp, after))
    try:
        return [g for grp, conf in migrated for g in partition(grp, online, conf, True)]
    except CannotClear:
        raise RollError("Not enough capacity to move secondaries") from None


def output_order(groups: list[tuple[list[int], Conf]], is_master: np.ndarray
                 ) -> list[tuple[list[int], Conf]]:
    """Largest groups first; the master's group after all others, the master last in it."""
    ranked = sorted(groups, key=lambda g: -len(g[0]))
    split = [([n for n in g if not is_master[n]], [n for n in g if is_master[n]], conf)
             for g, conf in ranked]
    return ([(a + b, conf) for a, b, conf in split if not b]
            + [(a + b, conf) for a, b, conf in split if b])
