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

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from solver import cluster as C
from solver.colouring import COLOURINGS, colour_classes
from solver.jit import njit
from solver.nodeops import InstTuple, add_pri, add_sec, inst_tuple, remove_pri, remove_sec
from solver.simulate import Tentative


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
    """A configuration: the loaded cluster changed by the moves so far.

    ``rows`` is the node matrix, node-major.  Placement changes are overlays on the
    loaded cluster: ``padd``/``sadd`` hold, per node, the instances added to it since
    loading, newest first (Ganeti prepends to a node's pList/sList), ``re_p``/``re_s``
    the instances so re-added anywhere.  Inside ``attempt`` every change is journaled,
    so that a failed attempt to clear a node costs only what it touched.
    """

    base: Loaded
    rows: np.ndarray
    place: dict[int, tuple[int, int]] = field(default_factory=dict)
    padd: dict[int, list[int]] = field(default_factory=dict)
    sadd: dict[int, list[int]] = field(default_factory=dict)
    re_p: set[int] = field(default_factory=set)
    re_s: set[int] = field(default_factory=set)
    name_of: dict[int, int] = field(default_factory=dict)
    _journal: list[tuple] | None = None

    @classmethod
    def loaded(cls, base: Loaded) -> Conf:
        return cls(base, base.rows.copy())

    def copy(self) -> Conf:
        return Conf(self.base, self.rows.copy(), dict(self.place),
                    {n: list(v) for n, v in self.padd.items()},
                    {n: list(v) for n, v in self.sadd.items()},
                    set(self.re_p), set(self.re_s), dict(self.name_of))

    @contextmanager
    def attempt(self):
        """Run a block whose changes are undone unless it sets ``keep`` on what it gets."""
        self._journal = []
        box = Tentative()
        box.keep = False
        try:
            yield box
        finally:
            journal, self._journal = self._journal, None
            if not box.keep:
                for undo in reversed(journal):
                    undo()

    # ---- reading ----------------------------------------------------------------
    def row(self, n: int) -> np.ndarray:
        return self.rows[n]

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

    def node_name(self, n: int) -> int:
        """Whose name the node entry at index n carries (see the module notes)."""
        return self.name_of.get(n, n)

    # ---- writing (journaled) ----------------------------------------------------
    def _set_row(self, n: int, new: np.ndarray) -> None:
        if self._journal is not None:
            old = self.rows[n].copy()
            self._journal.append(lambda: self.rows.__setitem__(n, old))
        self.rows[n] = new

    def _set(self, table: dict, key: int, value) -> None:
        if self._journal is not None:
            if key in table:
                old = table[key]
                self._journal.append(lambda: table.__setitem__(key, old))
            else:
                self._journal.append(lambda: table.pop(key))
        table[key] = value

    def _add(self, lists: dict[int, list[int]], again: set[int], n: int, k: int,
             old: int) -> None:
        """k joins node n's list (newest first) and leaves node old's."""
        if k in lists.get(old, ()):
            self._set(lists, old, [x for x in lists[old] if x != k])
        self._set(lists, n, [k, *lists.get(n, [])])
        if k not in again:
            if self._journal is not None:
                self._journal.append(lambda: again.discard(k))
            again.add(k)

    def move(self, k: int, t: int) -> bool:
        """Move a non-redundant instance to node t (Hroller.move)."""
        it = self.base.it
        p, s = self.placement(k)
        new = self.row(t).copy()
        if add_pri(new, it, k, True, False) != C.OK:
            return False
        old = self.row(p).copy()
        remove_pri(old, it, k)
        self._set_row(p, old)
        self._set_row(t, new)
        self._set(self.place, k, (t, s))
        self._add(self.padd, self.re_p, t, k, p)
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
        self._set_row(p, pn)
        self._set_row(s, sn)
        self._set(self.place, k, (s, p))
        self._add(self.padd, self.re_p, s, k, p)
        self._add(self.sadd, self.re_s, p, k, s)
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
        self._set_row(t, new)
        self._set_row(s, copy)
        self._set(self.name_of, s, self.node_name(p))
        self._set(self.place, k, (p, t))
        self._add(self.sadd, self.re_s, t, k, s)
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


@njit()
def first_accepting(rows, targets, it, k, primary, skip) -> int:
    """Position of the first target that takes instance k (forced), or -1.

    As primary (addPriEx) or secondary (addSecEx); ``skip`` is a node never to
    take (an instance's own primary cannot become its secondary).
    """
    for i in range(targets.shape[0]):
        t = targets[i]
        if t == skip:
            continue
        buf = rows[t].copy()
        r = add_pri(buf, it, k, True, False) if primary else add_sec(buf, it, k, 0.0, True,
                                                                       False)
        if r == C.OK:
            return i
    return -1


# ---- clearing nodes ---------------------------------------------------------------


def _relocate(conf: Conf, insts: list[int], targets: np.ndarray, secondaries: bool) -> bool:
    """Each instance to the first target that takes it; False when one fits nowhere."""
    for k in insts:
        skip = conf.placement(k)[0] if secondaries else -1
        i = first_accepting(conf.rows, targets, conf.base.it, k, not secondaries, skip)
        if i < 0:
            return False
        t = int(targets[i])
        done = conf.replace_secondary(k, t) if secondaries else conf.move(k, t)
        assert done, "the target that accepted must take the instance"
    return True


def _greedy_clear(ndxs: list[int], targets: list[int], start: Conf, secondaries: bool
                  ) -> tuple[list[int], Conf]:
    """Nodes of ``ndxs`` that can be emptied together, in order, and the result.

    A node joins when all its instances of the kind find room on the remaining
    targets of its own group; the nodes that joined stop being targets.  Targets are
    never nodes whose entry Ganeti's quirk overwrote, so their group is as loaded.
    """
    conf = start.copy()
    group = conf.base.state.node[C.GROUP]
    left = np.array(targets, dtype=np.int64)
    chosen: list[int] = []
    for n in ndxs:
        others = left[left != n]
        same = others[group[others] == conf.rows[n, C.GROUP]]
        insts = conf.slist(n) if secondaries else conf.non_redundant(n)
        with conf.attempt() as trial:
            trial.keep = _relocate(conf, insts, same, secondaries)
        if trial.keep:
            chosen.append(n)
            left = others
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
    conf = conf.copy()
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
    conf0 = Conf.loaded(base)
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
