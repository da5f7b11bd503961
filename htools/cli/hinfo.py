"""hinfo: a summary of the cluster (Ganeti's hinfo).

Loaded sizes, instances split across node groups, each group's N+1 state and
score (-v -v), the instance and node tables (--print-instances, -p) and the
cluster's score with its components.
"""

from __future__ import annotations

import sys

import numpy as np

from htools.cli.common import (
    die,
    load_data,
    load_state,
    print_nodes,
    print_warnings,
    run_program,
)
from htools.errors import HtoolsError
from htools.fmt import fmt_fixed, print_table
from solver.jit import use_jit
from solver.loader import set_node_status


def main(argv: list[str] | None = None) -> None:
    run_program("hinfo", run, argv)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _group_table(state, parts) -> tuple[bool, list[str]]:
    """Whether every group is N+1 happy, and the -v -v table of the groups."""
    from solver.health import bad_items
    from solver.metrics import compute_score
    rows = [["Group", "Nodes", "Instances", "Bad_Nodes", "Bad_Instances", "N+1", "Score"]]
    happy = True
    for part in parts:
        bad, bad_insts = bad_items(state, part.nodes)
        happy &= not bad
        rows.append([state.data.groups[part.group].name, str(len(part.nodes)),
                     str(len(part.instances)), str(len(bad)), str(len(bad_insts)),
                     str(not bad), fmt_fixed(compute_score(state, part.nodes), 8)])
    table = print_table(rows, [False, True, True, True, True, False, True])
    return happy, ["  " + line for line in table]


def run(opts) -> None:
    verbose = opts.verbose
    data = load_data(opts)
    # a few whole-cluster passes: numba's start-up would cost more than it saves
    use_jit(False)
    from htools import report
    from solver.health import split_cluster, split_instances
    from solver.metrics import compute_score
    state = load_state(opts, data)
    print_warnings(state, verbose)
    print("Loaded cluster tags: " + ",".join(data.cluster_tags))
    if verbose > 2:
        print("Loaded cluster ipolicy: " + report.show_ipolicy(data.ipolicy))
    try:
        set_node_status(state, offline=opts.offline_nodes or [])
    except HtoolsError as e:
        die(str(e))
    if state.n_instances == 0 and verbose > 1:
        print("Cluster is empty.")
    print(f"Loaded {_plural(state.n_nodes, 'node', 'nodes')}, "
          f"{_plural(state.n_instances, 'instance', 'instances')}, "
          f"{_plural(len(data.groups), 'node group', 'node groups')}")
    if state.suffix and verbose > 2:
        print(f"Note: Stripping common suffix of '{state.suffix}' from names")
    split = split_instances(state)
    if split:
        print("Found instances belonging to multiple node groups:")
        sys.stdout.flush()
        for k in split:
            print("  " + data.instances[k].name, file=sys.stderr)
    elif verbose > 1:
        print("No split instances found")
    happy, table = _group_table(state, split_cluster(state))
    if verbose > 1:
        print("Node group information:")
        print("\n".join(table))
    print("Cluster is N+1 " + ("happy" if happy else "unhappy"))
    sys.stdout.flush()
    if opts.print_instances:
        print("", file=sys.stderr)
        print("Instances instance map:", file=sys.stderr)
        print("\n".join(report.instance_table(state, range(state.n_instances))),
              file=sys.stderr)
    print_nodes(state, opts.print_nodes, "Cluster")
    _, coefficients = report.coefficient_table(state, np.arange(state.n_nodes))
    print("Cluster coefficients:")
    print("\n".join(coefficients))
    print("Cluster score: " + fmt_fixed(compute_score(state), 8))


if __name__ == "__main__":
    main()
