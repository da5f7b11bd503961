"""Node drivers: what an opcode does to the nodes of a cluster.

The daemon's worker hands each opcode to a driver.  ``sim`` (the default)
changes only the stored cluster description, the way Ganeti's view of the
nodes would change after the real operation, so ``hbal -m`` on the daemon
sees the moves happen.  With ``hrapid --driver commands`` the opcode first
runs on the nodes: ``plans`` lists its node operations (``driver``'s
interface), ``commands`` turns them into LVM, DRBD and KVM/QMP commands,
``runner`` carries those to the nodes (locally, over SSH, or to a recorder)
and ``apply`` ties them together for the queue.
"""
