"""The simulation backend (``--simulate SPEC``, spec §2.2).

A simulated cluster is a set of identical, empty node groups described on the
command line.  Group and node names, uuids and the master node are synthetic
but fixed, because Ganeti prints and serialises them and users compare those
outputs.  Sizes, numbers and the boolean are read by ``htools.hsread`` with
Ganeti's rules and messages.
"""

from __future__ import annotations

from htools.errors import DataError
from htools.hsread import ReadError, parse_unit, read_bool, read_int, sep_split
from solver.records import ClusterData, Group, Node, default_ipolicy

__all__ = ["load_simu"]

_ABBREVIATED_POLICIES = {"p": "preferred", "a": "last_resort", "u": "unallocable"}
_FULL_POLICIES = ("preferred", "last_resort", "unallocable")


def _alloc_policy(raw: str) -> str:
    """A full policy name or its one-letter abbreviation."""
    if raw in _FULL_POLICIES:
        return raw
    if raw in _ABBREVIATED_POLICIES:
        return _ABBREVIATED_POLICIES[raw]
    # Ganeti tries both parsers and reports both failures.
    raise DataError(f'Invalid string value for type AllocPolicy: "{raw}"; '
                    f"Cannot parse AllocPolicy abbreviation '{raw}'")


def _parse_spec(spec: str) -> tuple[str, int, int, int, int, int, bool]:
    """Split and check one ``--simulate`` value, field by field in Ganeti's order."""
    fields = sep_split(spec)
    if len(fields) == 5:
        fields.append("1")
    if len(fields) == 6:
        fields.append("False")
    if len(fields) != 7:
        raise DataError(
            "Invalid cluster specification, expected 6 comma-separated sections "
            "(allocation policy, node count, disk size, memory size, number of "
            f"CPUs, spindles) but got {len(fields)}: '{spec}'")
    policy, count, disk, mem, cpu, spindles, excl = fields
    apol = _alloc_policy(policy)
    try:
        ncount = read_int("node count", count)
        dsize = parse_unit(disk, "disk size")
        msize = parse_unit(mem, "memory size")
        ncpu = read_int("cpu count", cpu)
        nspindles = read_int("spindles", spindles)
        excl_storage = read_bool("exclusive storage", excl)
    except ReadError as err:
        raise DataError(str(err)) from None
    return apol, ncount, dsize, msize, ncpu, nspindles, excl_storage


def load_simu(specs: list[str]) -> ClusterData:
    """Build the simulated cluster for ``--simulate`` values in command-line order.

    Ganeti stores repeated options newest first, so the **last** value on the
    command line becomes ``group-01``; errors are also found in that order.
    Nodes are numbered from 1 within their group; their list positions keep
    Ganeti's node order.
    """
    groups: list[Group] = []
    nodes: list[Node] = []
    for gnum, spec in enumerate(reversed(specs), start=1):
        apol, count, disk, mem, cpu, spindles, excl = _parse_spec(spec)
        gidx = len(groups)
        groups.append(Group(name=f"group-{gnum:02d}", uuid=f"fake-uuid-{gnum:02d}",
                            alloc_policy=apol, ipolicy=default_ipolicy()))
        for nnum in range(1, count + 1):
            nodes.append(Node(
                name=f"node-{gnum:02d}-{nnum:03d}",
                t_mem=float(mem), n_mem=0, f_mem=mem,
                t_dsk=float(disk), f_dsk=disk,
                t_cpu=float(cpu), n_cpu=1, offline=False,
                t_spindles=spindles, f_spindles=0,
                group=gidx, excl_storage=excl,
                master=(gnum == 1 and nnum == 1),
            ))
    return ClusterData(groups=groups, nodes=nodes, instances=[],
                       cluster_tags=[], ipolicy=default_ipolicy())
