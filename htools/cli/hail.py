"""hail: Ganeti's iallocator (spec §5): a request file in, a JSON answer on stdout."""

from __future__ import annotations

import gc
import json
import sys

import numpy as np

from htools.cli.common import (
    die,
    load_data,
    print_nodes,
    print_warnings,
    program_name,
    run_program,
    save_data,
    state_records,
)
from htools.fmt import TEMPLATE_SHOW, show_string, show_string_list
from solver.cluster import ClusterState
from solver.jit import use_jit
from solver.loader import LoadOptions, load_cluster

JIT_THRESHOLD = 20000  # nodes x instances


def response(success: bool, info: str, result: object) -> str:
    """formatResponse: compact JSON, keys in Ganeti's order, non-ASCII kept raw."""
    return json.dumps({"success": success, "info": info, "result": result},
                      separators=(",", ":"), ensure_ascii=False)


_RUN_STATES = {"running": "Running", "ADMIN_down": "StatusDown", "ADMIN_offline": "StatusOffline",
               "ERROR_down": "ErrorDown", "ERROR_up": "ErrorUp", "ERROR_nodedown": "NodeDown",
               "ERROR_nodeoffline": "NodeOffline", "USER_down": "UserDown",
               "ERROR_wrongnode": "WrongNode"}

def show_instance(inst) -> str:
    """A Haskell-record rendering of an instance, as hail -v -v shows what it read.

    Ganeti prints its whole internal record; this is the part an operator
    checks (sizes, state, placement, template), in the same notation.
    """
    disks = ",".join("Disk {dskSize = %d, dskSpindles = %s}" % (
        size, "Nothing" if spn is None else "Just %d" % spn) for size, spn in inst.disks)
    return ("Instance {name = %s, mem = %d, dsk = %d, disks = [%s], vcpus = %d, runSt = %s, "
            "pNode = %d, sNode = %d, diskTemplate = %s, spindleUse = %d, allTags = %s, "
            "forthcoming = %s}" % (
                show_string(inst.name), inst.mem, inst.dsk, disks, inst.vcpus,
                _RUN_STATES.get(inst.status, inst.status), inst.pnode, inst.snode,
                TEMPLATE_SHOW.get(inst.template, inst.template), inst.spindle_use,
                show_string_list(inst.tags), "True" if inst.forthcoming else "False"))


def _verbose_dump(inp, data, verbose: int) -> None:
    if verbose > 1:
        req = inp.request
        body = ", ".join("%s = %s" % (k, show_instance(v) if hasattr(v, "disks") else repr(v))
                         for k, v in req.__dict__.items())
        print("Received request: %s {%s}" % (type(req).__name__, body), file=sys.stderr)
    if verbose > 2:
        print("Received cluster data: ClusterData {instances = [%s]}" % ",".join(
            show_instance(i) for i in data.instances), file=sys.stderr)


def _check_indices(req, data) -> None:
    """The request names instances and nodes by their index in its own cluster data.

    With -t or --simulate that data is replaced; an index the replacement lacks
    makes Ganeti crash, here it is an error message.
    """
    from solver.requests import AllocateSecondary, ChangeGroup, NodeEvacuate, Relocate
    insts = {AllocateSecondary: lambda r: [r.instance], Relocate: lambda r: [r.instance],
             NodeEvacuate: lambda r: r.instances, ChangeGroup: lambda r: r.instances}
    for kind, get in insts.items():
        if isinstance(req, kind):
            bad = [k for k in get(req) if k >= len(data.instances)]
            if bad:
                die(f"the request's instance #{bad[0]} is not in the cluster data given")
    if isinstance(req, ChangeGroup) and any(g >= len(data.groups) for g in req.target_groups):
        die("the request's target groups are not in the cluster data given")


def _placed(state: ClusterState) -> np.ndarray:
    return np.flatnonzero(state.inst.pnode >= 0)


def main(argv: list[str] | None = None) -> None:
    run_program("hail", run, argv)


def run(opts) -> None:
    from htools.backends.iallocator import RequestFileError, load_request
    # A big request is 10^5 small objects that live until the answer: the cyclic
    # collector would walk them again and again (40% of the reading time); they hold
    # no cycles, so it is paused while they are made and they are left out afterwards.
    gc.disable()
    try:
        inp = load_request(opts.args[0])
    except RequestFileError as e:
        sys.stdout.flush()
        print(f"{program_name()}: {e}", file=sys.stderr)
        sys.exit(1)
    gc.freeze()
    gc.enable()
    # numba's start-up (~1 s) only pays off on big clusters
    from solver.requests import MultiAllocate
    entries = len(inp.request.entries) if isinstance(inp.request, MultiAllocate) else 1
    use_jit(len(inp.data.nodes) * max(1, len(inp.data.instances)) * entries > JIT_THRESHOLD)
    lo = LoadOptions(ignore_dynu=opts.ignore_dynu,
                     static_kvm_node_memory=opts.static_kvm_node_memory)
    data = inp.data
    replaced = opts.data_file is not None or bool(opts.simulate)
    if replaced:
        # Ganeti reports the request's own data before it loads the replacement
        print_warnings(load_cluster(inp.data, lo), opts.verbose, always=True)
        data = load_data(opts)
        # ... and the replacement's, like any -t load, from -v 1, before its checks
        print_warnings(load_cluster(data, lo), opts.verbose)
        _check_indices(inp.request, data)
    from solver.iallocator import Hail, HailOptions, RequestFailed, with_new_instances
    full, first, clones = with_new_instances(
        data, inp.request, inp.data.cluster_tags if replaced else None)
    state = load_cluster(full, lo)
    if not replaced:
        print_warnings(state, opts.verbose, always=True)
    _verbose_dump(inp, data, opts.verbose)
    print_nodes(state, opts.print_nodes, "Initial cluster")
    if opts.save_cluster:
        save_data(opts.save_cluster, "pre-ialloc", "before iallocator run",
                  state_records(state, insts=_placed(state)))
    hopts = HailOptions(force=opts.ignore_soft_errors, capacity=not opts.no_capacity_checks,
                        accept_existing=opts.accept_existing_errors,
                        restrict_to=opts.restrict_allocation_to, solver=opts.solver,
                        ilp_time_limit=opts.ilp_time_limit)
    hail = Hail(state, hopts)
    try:
        ans = hail.answer(inp.request, first, clones)
        out = response(True, "Request successful: " + ans.info, ans.result)
    except RequestFailed as e:
        out = response(False, "Request failed: " + str(e), [])
    print(out)
    sys.stdout.flush()
    print_nodes(state, opts.print_nodes, "Final cluster")
    if opts.save_cluster:
        save_data(opts.save_cluster, "post-ialloc", "after iallocator run",
                  state_records(state, insts=_placed(state)))


if __name__ == "__main__":
    main()
