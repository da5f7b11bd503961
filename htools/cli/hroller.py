"""hroller: groups of nodes that can be rebooted together (Ganeti-compatible)."""

from __future__ import annotations

import sys

import numpy as np

from htools.cli.common import die, load_data, load_state, print_warnings, run_program, save_data
from htools.errors import HtoolsError
from htools.fmt import show_string_list
from solver import cluster as C
from solver.jit import use_jit
from solver.loader import set_node_status

JIT_PAIRS = 4_000_000


def main(argv: list[str] | None = None) -> None:
    run_program("hroller", run, argv)


def _find_group(state: C.ClusterState, name: str) -> int:
    """Container.findByName: the one group whose name or UUID is ``name``."""
    hits = [g for g, grp in enumerate(state.data.groups) if name in (grp.name, grp.uuid)]
    if len(hits) != 1:
        die("Cannot find target group.")
    return hits[0]


def _selected(state: C.ClusterState, opts, group: int | None) -> np.ndarray:
    """The nodes to plan for: online, tagged and in the group as asked."""
    nd = state.node
    sel = nd[C.OFFLINE] == 0
    if opts.skip_non_redundant:
        sel &= np.bincount(state.inst.pnode[(state.inst.snode < 0)
                                            & ~state.inst.forthcoming],
                           minlength=state.n_nodes) == 0
    if opts.node_tags is not None:
        wanted = set(opts.node_tags)
        sel &= np.array([bool(wanted.intersection(n.tags)) for n in state.data.nodes],
                        dtype=bool)
    if group is not None:
        sel &= nd[C.GROUP] == group
    return sel


def run(opts) -> None:
    data = load_data(opts)
    # only the first-fit searches run in a kernel: compiled, they pay for numba's
    # start-up (a second) from some million node/instance pairs on
    use_jit(len(data.nodes) * len(data.instances) > JIT_PAIRS)
    from solver import roller
    state = load_state(opts, data)
    print_warnings(state, opts.verbose)
    masters = [n.name for n in data.nodes if n.master]
    if not masters:
        msg = "No master node found (maybe not supported by backend)."
        if not opts.force:
            die(msg)
        sys.stdout.flush()
        print("Warning: " + msg, file=sys.stderr)
    elif len(masters) > 1:
        die("Found more than one master node: " + show_string_list(masters))
    try:
        set_node_status(state, offline=opts.offline_nodes)
    except HtoolsError as e:
        die(str(e))
    if opts.save_cluster:
        save_data(opts.save_cluster, "original", "before hroller run", data)
    group = _find_group(state, opts.group) if opts.group is not None else None

    selected = _selected(state, opts, group)
    graph = roller.node_graph(state, selected, reboot=not opts.offline_maintenance)
    if graph is None:
        die("Cannot create node graph")
    if opts.verbose > 2:
        print("Node Graph: " + graph.show())
    cols = roller.colourings(graph)
    try:
        groups = roller.reboot_groups(state, roller.smallest(cols).classes, roller.RollerOptions(
            ignore_non_redundant=opts.ignore_non_redundant,
            full_evacuation=opts.full_evacuation))
    except roller.RollError as e:
        die(str(e))
    shown = [([n for n in nodes if selected[n]], conf) for nodes, conf in groups]
    ordered = roller.output_order(shown, state.node[C.MASTER] != 0)
    if opts.verbose > 1:
        print(roller.colouring_stats(cols))

    if opts.one_step_only:
        if not opts.no_headers:
            print("'First Reboot Group'")
        ordered = ordered[:1]
    elif not opts.no_headers:
        print("'Node Reboot Groups'")
    node_names = [n.name for n in data.nodes]
    for nodes, conf in ordered:
        names = [node_names[n] for n in nodes]
        print("\n".join(names) if opts.one_step_only else ",".join(names))
        if opts.print_moves:
            for k, p, s in conf.moves():
                where = node_names[p] if s < 0 else f"{node_names[p]} {node_names[s]}"
                print(f"  {data.instances[k].name} {where}")


if __name__ == "__main__":
    main()
