"""Node drivers: what an opcode does to the nodes of a cluster.

The daemon's worker hands each opcode to a driver.  ``sim`` (the default)
changes only the stored cluster description, the way Ganeti's view of the
nodes would change after the real operation, so ``hbal -m`` on the daemon
sees the moves happen.
"""
