"""hbal: cluster balancer (Ganeti-compatible command line and output)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np

from htools.cli.common import (
    balance_options,
    die,
    load_data,
    load_state,
    load_util_file,
    print_warnings,
    run_program,
    save_data,
    state_records,
    write_file,
)
from htools.errors import HtoolsError
from htools.fmt import fmt_fixed, fmt_g6
from solver import cluster as C
from solver.jit import small_cluster, use_jit
from solver.loader import lookup_name, set_node_status

if TYPE_CHECKING:
    from executor.jobs import JobSet
    from htools.cli.options import Options


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


def select_group(state: C.ClusterState, group: str | None) -> tuple[str, np.ndarray, np.ndarray]:
    """Ganeti's selectGroup: the group to balance, its nodes and instances."""
    data = state.data
    gidx = state.node[C.GROUP].astype(np.int64)
    with_nodes = sorted(set(gidx.tolist()))
    if len(with_nodes) > 1 and group is None:
        sys.stdout.flush()
        _err("Found multiple node groups:")
        for g in with_nodes:
            _err("  " + data.groups[g].name)
        die("Aborting.")
    if group is None:
        if not with_nodes:
            die("No groups found by splitCluster?!")
        g = with_nodes[0]
    else:
        g = lookup_name([gr.name for gr in data.groups], group)
        if g is None:
            g = next((i for i, gr in enumerate(data.groups) if gr.uuid == group), None)
        if g is None:
            sys.stdout.flush()
            _err(f"Node group {group} not found. Node group list is:")
            for gr in data.groups:
                _err("  " + gr.name)
            die("Aborting.")
    nodes = np.nonzero(gidx == g)[0].astype(np.int64)
    pn = state.inst.pnode
    insts = np.nonzero(np.isin(pn, nodes))[0].astype(np.int64)
    return data.groups[g].name, nodes, insts


def policy_unhealthy(state: C.ClusterState, n: int) -> bool:
    nd = state.node
    if nd[C.INST_SPN, n] > nd[C.HI_SPN, n]:
        return True
    return bool(nd[C.U_CPU, n] / nd[C.T_CPU, n] > nd[C.VCPU_RATIO, n])


def main(argv: list[str] | None = None) -> None:
    run_program("hbal", run, argv)


def run(opts) -> None:
    verbose = opts.verbose
    util = load_util_file(opts)
    data = load_data(opts)
    use_jit(not small_cluster(len(data.nodes), len(data.instances)))
    from htools import report
    from solver.balance import Balancer
    from solver.health import bad_items
    from solver.metrics import compute_score, optimal_score
    state = load_state(opts, data, util)
    print_warnings(state, verbose)
    if verbose > 1:
        print("Loaded cluster tags: " + ",".join(data.cluster_tags))
        print("Loaded cluster ipolicy: " + report.show_ipolicy(data.ipolicy))
    try:
        set_node_status(state, max_cpu=opts.max_cpu, min_disk=opts.min_disk,
                        offline=opts.offline_nodes or [])
    except HtoolsError as e:
        die(str(e))

    if state.n_instances == 0:
        print("Cluster is empty, exiting.")
        sys.exit(0)
    ia = state.inst
    if verbose > 1:
        split = [k for k in range(state.n_instances) if ia.snode[k] >= 0 and
                 state.node[C.GROUP, ia.pnode[k]] != state.node[C.GROUP, ia.snode[k]]]
        if split:
            sys.stdout.flush()
            _err("Found instances belonging to multiple node groups:")
            for k in split:
                _err("  " + data.instances[k].name)
            _err("These instances will not be moved.")
    print(f"Loaded {state.n_nodes} nodes, {state.n_instances} instances")
    if state.suffix and verbose > 1:
        print(f"Note: Stripping common suffix of '{state.suffix}' from names")
    if opts.save_cluster:
        sys.stdout.flush()
        save_data(opts.save_cluster, "original", "before balancing", data)

    gname, nodes, insts = select_group(state, opts.group)
    print(f"Group size {len(nodes)} nodes, {len(insts)} instances")
    print(f"Selected node group: {gname}")
    bad, bad_insts = bad_items(state, nodes)
    if verbose >= 1:
        print(f"Initial check done: {len(bad)} bad nodes, {len(bad_insts)} bad instances.")
    policy_bad = [n for n in nodes if n not in bad and policy_unhealthy(state, int(n))]
    if bad:
        print("Cluster is not N+1 happy, continuing but no guarantee that the cluster "
              "will end N+1 happy.")
    if policy_bad:
        print(f"The cluster contains {len(policy_bad)} policy-violating nodes.")
        print("Continuing, ignoring soft errors." if opts.ignore_soft_errors else
              "Continuing, but the set of moves might be too restricted; consider using "
              "the --ignore-soft-errors option.")
    sys.stdout.flush()
    if opts.print_instances:
        _err("")
        _err("Initial instance map:")
        _err("\n".join(report.instance_table(state, insts)))
    fields = report.node_fields(opts.print_nodes) if opts.print_nodes is not None else None
    if fields is not None:
        _err("")
        _err("Initial cluster status:")
        _err("\n".join(report.node_table(state, nodes, fields)))
        _err("")

    ini = compute_score(state, nodes)
    opt = optimal_score(state, nodes)
    if verbose > 2:
        _, table = report.coefficient_table(state, nodes)
        print("Initial coefficients: overall " + fmt_fixed(ini, 8))
        print("\n".join(table))
    else:
        print("Initial score: " + fmt_fixed(ini, 8))
    if ini - opt < opts.min_score:
        print(f"Cluster is already well balanced (initial score {fmt_g6(ini)},")
        print(f"optimum score due to N+1 reservations {fmt_g6(opt)},")
        print(f"minimum score {fmt_g6(opts.min_score)}).")
        print("Nothing to do, exiting")
        sys.exit(0)
    print("Trying to minimize the CV...")
    imlen = max((len(state.inst_alias[k]) for k in insts), default=0)
    nmlen = max((len(state.node_alias[n]) for n in nodes), default=0)
    bopts = balance_options(opts)
    initial = state.copy()
    result = Balancer(state, nodes, insts, bopts).run(
        lambda mv, pos: print(report.step_line(initial, mv, pos, imlen, nmlen), flush=True))
    moves, cur = result.moves, result.final_score
    if not moves:
        print("No solution found")
    elif verbose > 2:
        _, table = report.coefficient_table(state, nodes)
        print("Final coefficients:   overall " + fmt_fixed(cur, 8))
        print("\n".join(table))
    else:
        print(f"Cluster score improved from {fmt_fixed(ini, 8)} to {fmt_fixed(cur, 8)}")
    if verbose >= 1:
        print(f"Solution length={len(moves)}")

    jobsets = report.split_jobsets(initial, moves)
    if opts.first_job_group:
        jobsets = jobsets[:1]
    title = ("First set of jobs:" if opts.first_job_group
             else "Commands to run to reach the above solution:")
    if opts.print_commands is not None:
        if opts.print_commands == "":
            print()
            print(title)
            for ln in report.command_lines(initial, jobsets, False):
                print("  " + ln)
        else:
            write_file(opts.print_commands, report.SCRIPT_HEADER + "".join(
                ln + "\n" for ln in report.command_lines(initial, jobsets, True)))
            print(f"The commands have been written to file '{opts.print_commands}'")
    if opts.save_cluster:
        sys.stdout.flush()
        # Ganeti writes only the group's nodes and crashes when a group
        # instance has its secondary elsewhere; we add those nodes so the
        # file stays loadable.
        sec = state.inst.snode[insts]
        extra = np.setdiff1d(sec[sec >= 0], nodes)
        save_data(opts.save_cluster, "balanced", "after balancing",
                  state_records(state, np.concatenate([nodes, extra]), insts))
    sys.stdout.flush()
    if opts.print_instances:
        _err("")
        _err("Final instance map:")
        _err("\n".join(report.instance_table(state, insts)))
    if fields is not None:
        _err("")
        _err("Final cluster status:")
        _err("\n".join(report.node_table(state, nodes, fields)))
        _err("")
    if verbose > 3:
        _print_cstats(initial, state, nodes)
    if opts.execute and moves:
        from htools.backends.rapi import FILE_PREFIX
        if not opts.rapi or opts.rapi.startswith(FILE_PREFIX):
            die("hbal: Execution of commands possible only on LUXI")
        from executor.jobs import as_jobsets
        _execute(opts, as_jobsets(initial, jobsets))


def _execute(opts: Options, jobsets: list[JobSet]) -> None:
    """-X over RAPI: run the jobsets, report a stop or a failure as Ganeti's hbal does."""
    from executor.rapi_client import PRIORITIES, RapiClient
    from executor.runner import Annotation, Runner, stop_on_signals
    from htools.cli.options import project_version
    version = project_version()
    annotation = Annotation(
        comment=f"rebalancing via hbal {version}", reason=opts.reason or f"hbal {version} called",
        priority=PRIORITIES[opts.priority] if opts.priority else None)
    with RapiClient(opts.rapi) as client:
        runner = Runner(client, annotation)
        with stop_on_signals(runner):
            result = runner.run(jobsets)
    if result.stopped:
        print("Exiting early due to user request, ")
        print("\n".join(result.summary()))
    elif result.failures:
        print("\n".join(result.summary()))
        unsent = [run for run in result.failures if not run.submitted]
        if len(unsent) == len(result.failures):  # nothing of the jobset ran and failed
            die(f"hbal: Job submission error: {unsent[0].error}")
        die("hbal: Not all jobs completed successfully: "
            + "; ".join(run.describe() for run in result.failures) + "\nAborting.")


def _print_cstats(before: C.ClusterState, after: C.ClusterState, nodes: np.ndarray) -> None:
    def mem_dsk(st: C.ClusterState) -> tuple[int, int]:
        return int(st.unallocated_mem()[nodes].sum()), int(st.node[C.F_DSK, nodes].sum())
    m0, d0 = mem_dsk(before)
    m1, d1 = mem_dsk(after)
    print(f"Original: mem={m0} disk={d0}")
    print(f"Final:    mem={m1} disk={d1}")


if __name__ == "__main__":
    main()
