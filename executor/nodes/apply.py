"""Carrying an opcode out on real nodes: check, plan, run the steps, remember the layout.

The daemon's queue calls :class:`NodeExecutor` for each opcode before it
stores the opcode's effect.  The opcode's checks run first (the simulation on
a copy of the cluster), so an opcode Ganeti would refuse never reaches a node;
then every step of its plan runs in order and the first failing command fails
the opcode with Ganeti's ``OpExecError``, naming the node, the command and
what it printed.  The stored cluster and the DRBD layout change only when
every step succeeded.  As with Ganeti, steps already done on the nodes are
not undone: the error says where the nodes were left.
"""

from __future__ import annotations

import copy
import socket
import threading
from collections.abc import Callable

from executor.nodes.driver import NodeDriver
from executor.nodes.plans import Context, Layout, Slot, plan_opcode, with_chosen_nodes
from executor.nodes.runner import NodeError
from executor.nodes.sim import Log, OpError, run_opcode
from solver.records import ClusterData

Change = dict[str, list[Slot] | None]


def _apply(layout: Layout, change: Change) -> Change:
    """Set the given instances' slots (None: none); what undoes it is returned."""
    undo = {name: layout.slots.get(name) for name in change}
    for name, slots in change.items():
        if slots is None:
            layout.slots.pop(name, None)
        else:
            layout.slots[name] = slots
    return undo


class NodeExecutor:
    """Runs opcodes' node operations through ``driver``; ``layout_path`` keeps DRBD numbers.

    Jobs on disjoint nodes run at once, but minors and ports come from shared
    pools: a plan reserves its numbers in :attr:`layout` before its commands
    run and gives them back if they fail.  Only the numbers of opcodes that
    succeeded reach :attr:`committed` and the file, so after a crash the file
    agrees with the stored cluster.
    """

    def __init__(self, driver: NodeDriver, ctx: Context, layout_path: str | None = None) -> None:
        self.driver = driver
        self.ctx = ctx
        self.layout_path = layout_path
        self.committed = Layout() if layout_path is None else Layout.load(layout_path)
        self.layout = copy.deepcopy(self.committed)
        self.lock = threading.Lock()

    def __call__(self, data: ClusterData, op: dict, log: Log) -> None:
        """Do ``op``'s node work on the cluster ``data`` (not changed); OpError if it fails."""
        simulated = copy.deepcopy(data)
        run_opcode(simulated, op, lambda _text: None)
        op = with_chosen_nodes(op, simulated)
        with self.lock:
            steps, after = plan_opcode(data, self.layout, op, self.ctx)
            change = {name: after.slots.get(name)
                      for name in set(self.layout.slots) | set(after.slots)
                      if after.slots.get(name) != self.layout.slots.get(name)}
            undo = _apply(self.layout, change)
        for step in steps:
            log(f"{step.node}: {step.action}")
            try:
                step.run(self.driver)
            except NodeError as err:
                with self.lock:
                    _apply(self.layout, undo)
                raise OpError("OpExecError", str(err)) from None
        with self.lock:
            _apply(self.committed, change)
            if self.layout_path is not None:
                self.committed.save(self.layout_path)


def address_book(known: dict[str, str]) -> Callable[[str], str]:
    """Node name -> address: ``known`` first, then DNS (DRBD needs IP addresses).

    An unresolvable node fails the opcode before any command runs.
    """
    def address(node: str) -> str:
        if node in known:
            return known[node]
        try:
            return socket.gethostbyname(node)
        except OSError as err:
            raise OpError("OpPrereqError", f"Cannot resolve node {node}: {err}",
                          "resolver_error") from None
    return address
