"""The simulation backend (``--simulate SPEC``, spec §2.2) and unit parsing.

A simulated cluster is a set of identical, empty node groups described on the
command line.  Group and node names, uuids and the master node are synthetic
but fixed, because Ganeti prints and serialises them and users compare those
outputs.  Unit parsing (``parse_unit``) is shared with other options that take
sizes, so it lives here with the exact rules and messages of Ganeti's
``parseUnit``.
"""

from __future__ import annotations

import math
from fractions import Fraction

from htools.backends.text import _hs_reads, _read_int, _wrap_int
from htools.errors import DataError
from solver.records import ClusterData, Group, Node, default_ipolicy

__all__ = ["load_simu", "parse_unit"]

# Scale factors from a unit to MiB.  The SI units convert through the ratio
# of a decimal to a binary kilo, squared for the "mega" step, as Ganeti does.
_KILO_RATIO = Fraction(1000, 1024)
_MEGA_SI = _KILO_RATIO * _KILO_RATIO
_CASE_SENSITIVE_UNITS = {
    "m": Fraction(1), "g": Fraction(1024), "t": Fraction(1024 * 1024),
    "M": _MEGA_SI, "G": _MEGA_SI * 1000, "T": _MEGA_SI * 1000 * 1000,
}
# Long unit names are matched case-insensitively.
_LONG_UNITS = {
    "MIB": Fraction(1), "GIB": Fraction(1024), "TIB": Fraction(1024 * 1024),
    "MB": _MEGA_SI, "GB": _MEGA_SI * 1000, "TB": _MEGA_SI * 1000 * 1000,
}

_ABBREVIATED_POLICIES = {"p": "preferred", "a": "last_resort", "u": "unallocable"}
_FULL_POLICIES = ("preferred", "last_resort", "unallocable")

# Characters Haskell's ``isSpace`` accepts in the Latin-1 range, which is all
# a command-line boolean can reasonably contain.
_HS_SPACE = " \t\n\r\f\v\xa0"


def _unit_scale(unit: str) -> Fraction:
    """Scale of a unit suffix; single letters are case-sensitive, names are not."""
    if not unit:
        return Fraction(1)
    if unit in _CASE_SENSITIVE_UNITS:
        return _CASE_SENSITIVE_UNITS[unit]
    scale = _LONG_UNITS.get(unit.upper())
    if scale is None:
        raise DataError(f"Unknown unit '{unit}'")
    return scale


def parse_unit(text: str) -> int:
    """A size in MiB from ``NUMBER [spaces] [UNIT]``, truncated like Ganeti.

    The number is read as a Haskell ``Int`` (so parentheses, ``0x`` literals
    and a sign are accepted, fractions are not) and only plain spaces may
    separate it from the unit.  Results wrap to 64 bits as Haskell's do, which
    keeps absurd inputs reproducible rather than rejected.
    """
    parsed = _hs_reads(text, False)
    if parsed is None:
        raise DataError(f"Can't parse string '{text}'")
    value, suffix = parsed
    scale = _unit_scale(suffix.lstrip(" "))
    return _wrap_int(math.trunc(int(value) * scale))


def _skip_hs_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _HS_SPACE:
        pos += 1
    return pos


def _read_bool(owner: str, text: str) -> bool:
    """Haskell ``read`` for Bool: ``True``/``False``, optionally parenthesised.

    Leading blanks are skipped; anything after the value is reported as
    leftover, with the same messages as Ganeti's ``tryRead``.
    """
    pos = _skip_hs_spaces(text, 0)
    depth = 0
    while pos < len(text) and text[pos] == "(":
        depth += 1
        pos = _skip_hs_spaces(text, pos + 1)
    end = pos
    while end < len(text) and (text[end].isalnum() or text[end] in "_'"):
        end += 1
    word = text[pos:end]
    if word not in ("True", "False"):
        raise DataError(f"{owner}: cannot parse string '{text}'")
    pos = end
    for _ in range(depth):
        pos = _skip_hs_spaces(text, pos)
        if pos >= len(text) or text[pos] != ")":
            raise DataError(f"{owner}: cannot parse string '{text}'")
        pos += 1
    if pos < len(text):
        raise DataError(
            f"{owner}: leftover characters when parsing '{text}': '{text[pos:]}'")
    return word == "True"


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
    fields = spec.split(",") if spec else []
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
    ncount = _read_int("node count", count)
    dsize = _annotated("disk size", disk)
    msize = _annotated("memory size", mem)
    ncpu = _read_int("cpu count", cpu)
    nspindles = _read_int("spindles", spindles)
    excl_storage = _read_bool("exclusive storage", excl)
    return apol, ncount, dsize, msize, ncpu, nspindles, excl_storage


def _annotated(owner: str, text: str) -> int:
    try:
        return parse_unit(text)
    except DataError as err:
        raise DataError(f"{owner}: {err}") from None


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
