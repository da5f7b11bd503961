"""hcheck: is the cluster healthy, and would a rebalance help? (Ganeti's hcheck)

Per node group and for the whole cluster: nodes failing N+1, nodes with
conflicting exclusion tags, instances on offline nodes and (unless
--no-capacity-checks) nodes that could not be evacuated.  When any of these
is non-zero the cluster "needs rebalancing": hbal's search runs on each group
and the figures are shown again, and the exit code is 1.
"""

from __future__ import annotations

import sys

from htools.cli.common import (
    balance_options,
    die,
    load_data,
    load_state,
    load_util_file,
    print_warnings,
    run_program,
)
from htools.errors import HtoolsError
from htools.fmt import fmt_fixed
from solver.jit import small_cluster, use_jit
from solver.loader import set_node_status

# (machine-readable key, description), shown per group and for the cluster
COMMON = [("N1_FAIL", "Nodes not N+1 happy"),
          ("CONFLICT_TAGS", "Nodes with conflicting instances"),
          ("OFFLINE_PRI", "Instances having the primary node offline"),
          ("OFFLINE_SEC", "Instances having a secondary node offline")]
CAPACITY = [("GN1_FAIL", "Nodes not directly evacuateable")]
GROUP_ONLY = [("SCORE", "Group score")]
CLUSTER_ONLY = [("NEED_REBALANCE", "Cluster is not healthy")]
PHASES = {"INIT": "initially", "FINAL": "after rebalancing"}


def main(argv: list[str] | None = None) -> None:
    run_program("hcheck", run, argv)


def _print_stats(items: list[tuple[str, str]], values: list[str], mr: bool, verbose: int,
                 key_prefix: str, title: str) -> None:
    """One block of figures: shell keys, or (verbosity >= 1) a titled list.

    As in Ganeti, keys and values are paired up to the shorter list: an empty
    cluster has no per-group counts, so its first key gets the health flag.
    """
    if mr:
        from htools.report import shell_keys
        pairs = [(f"{key_prefix}_{key}", v) for (key, _), v in zip(items, values, strict=False)]
        for line in shell_keys("HCHECK", pairs):
            print(line)
    elif verbose >= 1:
        print()
        print(title)
        for (_, descr), v in zip(items, values, strict=False):
            print(f"    {descr}: {v}")


def _report(state, parts, health, phase: str, mr: bool, verbose: int,
            common: list[tuple[str, str]], need: bool) -> None:
    from solver.health import cluster_counts
    groups = state.data.groups
    for part, h in zip(parts, health, strict=True):
        label = str(part.group) if mr else groups[part.group].name
        _print_stats(common + GROUP_ONLY, [str(c) for c in h.counts()] + [fmt_fixed(h.score, 8)],
                     mr, verbose, f"{phase}_GROUP_{label}",
                     f"Statistics for group {label} {PHASES[phase]}")
    flag = ("1" if need else "0") if mr else str(need)
    _print_stats(common + CLUSTER_ONLY, [str(c) for c in cluster_counts(health)] + [flag],
                 mr, verbose, f"{phase}_CLUSTER", f"Cluster statistics {PHASES[phase]}")


def run(opts) -> None:
    verbose, mr, nosim = opts.verbose, opts.machine_readable, opts.no_simulation
    util = load_util_file(opts)
    data = load_data(opts)
    use_jit(not small_cluster(len(data.nodes), len(data.instances)))
    from htools.report import shell_keys
    from solver.health import cluster_counts, group_health, rebalance, split_cluster
    state = load_state(opts, data, util)
    print_warnings(state, verbose)
    try:
        set_node_status(state, max_cpu=opts.max_cpu, min_disk=opts.min_disk,
                        offline=opts.offline_nodes or [])
    except HtoolsError as e:
        die(str(e))
    parts = split_cluster(state)
    if mr:
        for line in shell_keys("HCHECK", [(f"GROUP_UUID_{i}", g.uuid)
                                          for i, g in enumerate(data.groups)]):
            print(line)
    capacity = not opts.no_capacity_checks
    common = COMMON + (CAPACITY if capacity else [])
    initial = group_health(state, parts, capacity)
    need = sum(cluster_counts(initial)) > 0
    if verbose >= 1 and not mr:
        print("Running in no-simulation mode." if nosim else
              "Cluster needs rebalancing." if need else
              "No need to rebalance cluster, no problems found.")
    _report(state, parts, initial, "INIT", mr, verbose, common, need)
    simulate = need and not nosim
    if simulate or mr:
        final = initial
        if simulate:
            moved = rebalance(state, parts, balance_options(opts))
            again = group_health(state, [p for p, m in zip(parts, moved, strict=True) if m],
                                 capacity)
            final = [again.pop(0) if m else h for h, m in zip(initial, moved, strict=True)]
        # Ganeti reports the initial verdict again here
        _report(state, parts, final, "FINAL", mr, verbose, common, need)
    if mr:
        print("HCHECK_OK=1")
    sys.stdout.flush()
    if simulate:
        sys.exit(1)


if __name__ == "__main__":
    main()
