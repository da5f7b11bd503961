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
from executor.nodes.plans import Context, Layout, plan_opcode
from executor.nodes.runner import NodeError
from executor.nodes.sim import Log, OpError, run_opcode
from solver.records import ClusterData


class NodeExecutor:
    """Runs opcodes' node operations through ``driver``; ``layout_path`` keeps DRBD numbers."""

    def __init__(self, driver: NodeDriver, ctx: Context, layout_path: str | None = None) -> None:
        self.driver = driver
        self.ctx = ctx
        self.layout_path = layout_path
        self.layout = Layout() if layout_path is None else Layout.load(layout_path)
        # Jobs on disjoint nodes run at once, but minors and ports come from shared
        # pools: a plan reserves its numbers at once and gives them back on failure.
        self.lock = threading.RLock()

    def _swap(self, slots: dict[str, list | None]) -> dict[str, list | None]:
        """Set the given instances' slots (None: none), save; the previous ones are returned."""
        with self.lock:
            previous = {name: self.layout.slots.get(name) for name in slots}
            for name, value in slots.items():
                if value is None:
                    self.layout.slots.pop(name, None)
                else:
                    self.layout.slots[name] = value
            if self.layout_path is not None:
                self.layout.save(self.layout_path)
        return previous

    def __call__(self, data: ClusterData, op: dict, log: Log) -> None:
        """Do ``op``'s node work on the cluster ``data`` (not changed); OpError if it fails."""
        run_opcode(copy.deepcopy(data), op, lambda _text: None)
        with self.lock:
            steps, after = plan_opcode(data, self.layout, op, self.ctx)
            names = set(self.layout.slots) | set(after.slots)
            previous = self._swap({name: after.slots.get(name) for name in names
                                   if after.slots.get(name) != self.layout.slots.get(name)})
        for step in steps:
            log(f"{step.node}: {step.action}")
            try:
                step.run(self.driver)
            except NodeError as err:
                self._swap(previous)
                raise OpError("OpExecError", str(err)) from None


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
