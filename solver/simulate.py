"""Sequences of moves and allocations on a ClusterState, with rollback.

hbal commits one move per step, but hail and the capacity checks play out
whole sequences: evacuate a node instance by instance, place a new instance
and then check that every node could still be evacuated, try a pair and
forget it.  Copying the state for each trial costs O(nodes²) (the peer
matrix); instead ``Simulator`` commits in place and keeps a journal of what
each commit overwrote, so ``rollback`` restores a checkpoint in time
proportional to the work done since.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from solver import cluster as C
from solver.metrics import location_exclusion_counts
from solver.moves import FAILOVER_TO_ANY, Move, MoveCtx, peer_tops, try_move
from solver.nodeops import InstTuple, inst_tuple
from solver.records import IPolicy

_INST_FIELDS = ("pnode", "snode", "loc_score", "pstamp", "sstamp")


class Tentative:
    """The handle of ``Simulator.tentative``: set ``keep`` False to undo the block."""

    keep = True


class Simulator:
    """A ClusterState with the derived arrays moves need, kept in sync."""

    def __init__(self, state: C.ClusterState, force: bool = False) -> None:
        self.state = state
        self.force = force
        self.it: InstTuple = inst_tuple(state.inst)
        self.tops = peer_tops(state.peers)
        self.rows = np.ascontiguousarray(state.node.T)
        self._journal: list[tuple] | None = None
        self._lex_nodes: np.ndarray | None = None
        self._lex: np.ndarray | None = None
        self._policy_classes: tuple[np.ndarray, list[tuple[IPolicy, bool]]] | None = None

    # ---- reading ------------------------------------------------------------
    def ctx(self, lex_nodes: np.ndarray | None = None) -> MoveCtx:
        """The move context; ``lex_nodes`` are the nodes scored (location exclusion)."""
        st, ia = self.state, self.state.inst
        if lex_nodes is None:
            lex_nodes = np.arange(st.n_nodes, dtype=np.int64)
        lex = location_exclusion_counts(st, lex_nodes)
        return MoveCtx(st.node, self.rows, st.peers, self.tops[0], self.tops[1],
                       self.tops[2], st.ptags, st.node_loc, st.mig_ok, ia.pnode, ia.snode,
                       ia.loc_score, ia.excl_ptr, ia.excl_ids, ia.dsrd_ptr, ia.dsrd_ids, lex)

    def try_move(self, k: int, kind: int, t: int, force: bool | None = None,
                 lex_nodes: np.ndarray | None = None):
        """Simulate a move; returns (result, buffers, node indices, details)."""
        buf = np.empty((4, self.state.node.shape[0]))
        mod_idx = np.empty(4, dtype=np.int64)
        res = np.empty(11)
        r = try_move(self.ctx(lex_nodes), self.it, k, kind, t,
                     self.force if force is None else force, buf, mod_idx, res)
        return r, buf, mod_idx, res

    def policy_classes(self) -> tuple[np.ndarray, list[tuple[IPolicy, bool]]]:
        """Each node's class of (instance policy, exclusive storage), and the classes.

        A policy check looks at nothing else of a node, and neither changes
        while moves and allocations are simulated: allocation checks each
        class once instead of each node.
        """
        if self._policy_classes is None:
            st = self.state
            index: dict[tuple[int, bool], int] = {}
            classes: list[tuple[IPolicy, bool]] = []
            cls = np.empty(st.n_nodes, dtype=np.int64)
            for n, (pol, excl) in enumerate(zip(st.node_policy, st.node[C.EXCL] != 0.0,
                                                strict=True)):
                key = (id(pol), bool(excl))
                if key not in index:
                    index[key] = len(classes)
                    classes.append((pol, bool(excl)))
                cls[n] = index[key]
            self._policy_classes = (cls, classes)
        return self._policy_classes

    # ---- writing ------------------------------------------------------------
    @contextmanager
    def trial(self):
        """Run a block whose commits are undone at its end."""
        outer = self._journal
        self._journal = []
        try:
            yield self
        finally:
            self._rollback(self._journal)
            self._journal = outer

    @contextmanager
    def tentative(self):
        """Run a block whose commits stay unless it sets ``keep`` False on what it gets."""
        outer = self._journal
        self._journal = []
        box = Tentative()
        try:
            yield box
        except BaseException:
            box.keep = False
            raise
        finally:
            journal, self._journal = self._journal, outer
            if not box.keep:
                self._rollback(journal)
            elif outer is not None:
                outer.extend(journal)

    def _save(self, nodes, k: int, tag_nodes=()) -> None:
        if self._journal is None:
            return
        st, ia = self.state, self.state.inst
        nodes = sorted({int(n) for n in nodes if n >= 0})
        self._journal.append((
            nodes, st.node[:, nodes].copy(), st.peers[nodes].copy(),
            [t[nodes].copy() for t in self.tops],
            [int(n) for n in tag_nodes], st.ptags[list(tag_nodes)].copy(),
            st.imap[list(tag_nodes)].copy(),
            k, [getattr(ia, f)[k].copy() for f in _INST_FIELDS], st.stamp))

    def _rollback(self, journal: list[tuple]) -> None:
        st, ia = self.state, self.state.inst
        for (nodes, cols, peers, tops, tnodes, ptags, imap, k, ivals, stamp) in \
                reversed(journal):
            st.node[:, nodes] = cols
            self.rows[nodes] = cols.T
            st.peers[nodes] = peers
            for t, saved in zip(self.tops, tops, strict=True):
                t[nodes] = saved
            st.ptags[tnodes] = ptags
            st.imap[tnodes] = imap
            for f, v in zip(_INST_FIELDS, ivals, strict=True):
                getattr(ia, f)[k] = v
            st.stamp = stamp

    def commit_move(self, k: int, kind: int, t: int, buf, mod_idx, res, score: float = 0.0):
        """Write a simulated move into the state (see ``commit_move``)."""
        ia = self.state.inst
        nmod = int(res[0])
        old_p, old_s = int(ia.pnode[k]), int(ia.snode[k])
        nodes = [*mod_idx[:nmod], old_p, old_s, int(res[1]), int(res[2])]
        self._save(nodes, k, {old_p, int(res[1])})
        mv = commit_move(self.state, self.tops, k, kind, t, buf, mod_idx, res, score)
        touched = [int(n) for n in nodes if n >= 0]
        self.rows[touched] = self.state.node[:, touched].T
        return mv

    def commit_alloc(self, k: int, p: int, s: int, buf, mod_idx, nmod: int,
                     loc_score: int) -> None:
        """Place new instance k on (p, s) from buffers an allocation filled."""
        st, ia = self.state, self.state.inst
        self._save([*mod_idx[:nmod], p, s], k, {p})
        for m in range(nmod):
            st.node[:, mod_idx[m]] = buf[m]
        excl = ia.excl_ids[ia.excl_ptr[k]:ia.excl_ptr[k + 1]]
        for tg in excl:
            st.ptags[p, tg] += 1
            if not ia.forthcoming[k]:
                st.imap[p, tg] += 1
        if s >= 0 and not ia.forthcoming[k] and ia.not_offline[k] and ia.auto_balance[k]:
            st.peers[s, p] += ia.mem[k]
            peer_tops(st.peers, [s], self.tops)
        ia.pnode[k] = p
        ia.snode[k] = s
        ia.loc_score[k] = loc_score
        ia.pstamp[k] = st.next_stamp()
        if s >= 0:
            ia.sstamp[k] = st.next_stamp()
        touched = sorted({int(n) for n in (*mod_idx[:nmod], p, s) if n >= 0})
        self.rows[touched] = st.node[:, touched].T


    def commit_unplace(self, k: int, p: int, buf: np.ndarray) -> None:
        """Take secondary-less instance k off its primary p (node p already updated in buf)."""
        st, ia = self.state, self.state.inst
        self._save([p], k, {p})
        st.node[:, p] = buf
        self.rows[p] = buf
        for tg in ia.excl_ids[ia.excl_ptr[k]:ia.excl_ptr[k + 1]]:
            st.ptags[p, tg] -= 1
            if not ia.forthcoming[k]:
                st.imap[p, tg] -= 1
        ia.pnode[k] = -1

    def commit_copy(self, k: int, n: int, buf: np.ndarray) -> None:
        """Write node n after a copy of instance k was added to it as primary.

        The capacity check re-creates instances that cannot move this way:
        the copy loads the node but is not registered as an instance.
        """
        st, ia = self.state, self.state.inst
        self._save([n], k, {n})
        st.node[:, n] = buf
        self.rows[n] = buf
        for tg in ia.excl_ids[ia.excl_ptr[k]:ia.excl_ptr[k + 1]]:
            st.ptags[n, tg] += 1
            if not ia.forthcoming[k]:
                st.imap[n, tg] += 1


def commit_move(st: C.ClusterState, tops, k: int, kind: int, t: int, buf: np.ndarray,
                mod_idx: np.ndarray, res: np.ndarray, score: float):
    """Write a simulated move's buffers and bookkeeping back into the state."""
    ia = st.inst
    nmod = int(res[0])
    old_p, old_s = int(ia.pnode[k]), int(ia.snode[k])
    new_p, new_s = int(res[1]), int(res[2])
    for m in range(nmod):
        st.node[:, mod_idx[m]] = buf[m]
    touched = []
    for cell in ((int(res[7]), int(res[8]), res[5]), (int(res[9]), int(res[10]), res[6])):
        n, col, val = cell
        if n >= 0:
            st.peers[n, col] = int(val)
            touched.append(n)
    if touched:
        peer_tops(st.peers, touched, tops)
    excl = ia.excl_ids[ia.excl_ptr[k]:ia.excl_ptr[k + 1]]
    if new_p != old_p:
        for tg in excl:
            st.ptags[old_p, tg] -= 1
            st.ptags[new_p, tg] += 1
            if not ia.forthcoming[k]:
                st.imap[old_p, tg] -= 1
                st.imap[new_p, tg] += 1
    # every move re-adds the instance as primary (Ganeti prepends it to the
    # node's pList); all but FailoverToAny re-add it as secondary too
    ia.pstamp[k] = st.next_stamp()
    if kind != FAILOVER_TO_ANY:
        ia.sstamp[k] = st.next_stamp()
    ia.pnode[k] = new_p
    ia.snode[k] = new_s
    ia.loc_score[k] = int(res[3])
    return Move(k, kind, t, old_p, old_s, new_p, new_s, score)
