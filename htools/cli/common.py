"""Small helpers every htools program shares: errors, loading, saving."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from htools.backends.external import UsageError, load_external
from htools.errors import HtoolsError
from htools.hsread import io_error_text
from solver import cluster as C
from solver.cluster import ClusterState
from solver.loader import LoadOptions, load_cluster
from solver.records import ClusterData, Instance, Node


def program_name() -> str:
    """The tool's name as Ganeti's runtime prefixes its fatal errors."""
    return sys.argv[0].rsplit("/", 1)[-1].removesuffix(".py")


def die(msg: str, code: int = 1) -> NoReturn:
    """Ganeti's exitErr: ``Error: <msg>`` on stderr and exit 1."""
    sys.stdout.flush()
    print(f"Error: {msg}", file=sys.stderr)
    sys.exit(code)


def run_program(tool: str, run: Callable[[Any], None], argv: list[str] | None) -> None:
    """A tool's main: parse its options, run it, end data errors with ``Error: ...``."""
    from htools.cli.options import parse_or_exit
    opts = parse_or_exit(tool, sys.argv[1:] if argv is None else argv)
    if hasattr(signal, "SIGPIPE"):  # a closed reader (| head) ends us quietly, as Ganeti
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    np.seterr(all="ignore")  # the kernels rely on IEEE results (x/0), as Ganeti does
    try:
        run(opts)
    except HtoolsError as e:
        die(str(e))


def load_util_file(opts: Any) -> dict | None:
    """Read -U before the cluster, as Ganeti does (its errors win)."""
    path = getattr(opts, "util_file", None)
    if not path:
        return None
    from htools.backends.utilisation import UtilFileError, load_util
    try:
        return load_util(path)
    except UtilFileError as e:
        sys.stdout.flush()
        print(f"{program_name()}: {e}", file=sys.stderr)
        sys.exit(1)
    except HtoolsError as e:
        die(f"can't parse utilisation data: {e}")


def load_data(opts: Any) -> ClusterData:
    try:
        return load_external(opts)
    except UsageError as e:
        die(str(e))
    except HtoolsError as e:
        die(f"failed to load data, aborting: {e}")


def load_state(opts: Any, data: ClusterData, util: dict | None = None) -> ClusterState:
    """Run the load pipeline with the CLI's tag/selection/utilisation inputs."""
    lo = LoadOptions(
        ignore_dynu=bool(getattr(opts, "ignore_dynu", False)), util=util,
        exclusion_tags=getattr(opts, "exclusion_tags", None) or (),
        select_instances=getattr(opts, "select_instances", None),
        exclude_instances=getattr(opts, "exclude_instances", None),
        static_kvm_node_memory=getattr(opts, "static_kvm_node_memory", 4096))
    try:
        return load_cluster(data, lo)
    except HtoolsError as e:
        die(f"failed to load data, aborting: {e}")


def print_warnings(state: ClusterState, verbose: int, always: bool = False) -> None:
    if state.warnings and (always or verbose != 0):
        print("Warning: cluster has inconsistent data:", file=sys.stderr)
        for w in state.warnings:
            print(f"  - {w}", file=sys.stderr)
        print("", file=sys.stderr)


def print_nodes(state: ClusterState, spec: str | None, title: str) -> None:
    """maybePrintNodes (-p): the node table of ``state`` on stderr."""
    if spec is None:
        return
    from htools import report
    print("", file=sys.stderr)
    print(title + " status:", file=sys.stderr)
    fields = report.node_fields(spec)
    print("\n".join(report.node_table(state, range(state.n_nodes), fields)), file=sys.stderr)
    print("", file=sys.stderr)


def state_records(state: ClusterState, nodes: np.ndarray | None = None,
                  insts: np.ndarray | None = None) -> ClusterData:
    """The simulated state as backend records (for -S), optionally a subset.

    fMem stays as loaded; free disk and spindles, the offline flag and the
    placement come from the simulation.
    """
    data = state.data
    nd, ia = state.node, state.inst
    node_idx = list(range(state.n_nodes)) if nodes is None else [int(n) for n in nodes]
    inst_idx = list(range(state.n_instances)) if insts is None else [int(i) for i in insts]
    new_pos = {n: j for j, n in enumerate(node_idx)}
    out_nodes = []
    for n in node_idx:
        src = data.nodes[n]
        out_nodes.append(Node(**{**src.__dict__, "f_dsk": int(nd[C.F_DSK, n]),
                                 "f_spindles": int(nd[C.F_SPN, n]),
                                 "offline": bool(nd[C.OFFLINE, n])}))
    out_insts = []
    for k in inst_idx:
        src = data.instances[k]
        s = int(ia.snode[k])
        out_insts.append(Instance(**{**src.__dict__, "pnode": new_pos[int(ia.pnode[k])],
                                     "snode": new_pos[s] if s >= 0 else -1}))
    return ClusterData(groups=data.groups, nodes=out_nodes, instances=out_insts,
                       cluster_tags=data.cluster_tags, ipolicy=data.ipolicy)


def balance_options(opts: Any):
    """Ganeti's fromCLIOptions: the balancing knobs a tool's options set."""
    from solver.balance import BalanceOptions
    return BalanceOptions(
        disk_moves=not opts.no_disk_moves, instance_moves=not opts.no_instance_moves,
        restricted_migration=opts.restricted_migration,
        ignore_soft_errors=opts.ignore_soft_errors, evac_mode=opts.evac_mode,
        min_gain=opts.min_gain, min_gain_limit=opts.min_gain_limit,
        min_score=opts.min_score, max_length=opts.max_length)


def write_file(path: str, content: str) -> None:
    """Write an output file; failures end the program as Ganeti's runtime does."""
    try:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write(content)
    except OSError as e:
        sys.stdout.flush()
        print(f"{program_name()}: {path}: openFile: {io_error_text(e)}", file=sys.stderr)
        sys.exit(1)


def save_data(prefix: str, suffix: str, msg: str, data: ClusterData) -> None:
    from htools.backends.text import dump_text
    path = f"{prefix}.{suffix}"
    write_file(path, dump_text(data))
    print(f"The cluster state {msg} has been written to file '{path}'", file=sys.stderr)
