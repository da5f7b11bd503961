"""Ganeti's text cluster description (``-t FILE``) and its writer (``-S``).

The file is five sections separated by empty lines: groups, nodes,
instances, cluster tags and instance policies (spec §2.1).  Parsing follows
Ganeti exactly, including which malformed inputs are accepted, the defaults
for optional trailing columns, the order in which fields are checked and the
text of every error, because users and scripts see those messages verbatim.
Numbers are read the way Haskell's ``read`` reads them (``htools.hsread``:
leading blanks, parentheses and ``0x`` literals are fine, trailing characters
are not).

The writer reproduces ``serializeCluster`` byte for byte, so files written
here can be fed back to Ganeti's tools and vice versa.
"""

from __future__ import annotations

from htools.errors import DataError
from htools.fmt import fmt_fixed, fmt_float_plain, show_double, show_string, show_string_list
from htools.hsread import ReadError, read_double, read_file, read_int, sep_split, split_lines
from solver.records import (
    ALLOC_POLICIES,
    DISK_TEMPLATES,
    INSTANCE_STATUSES,
    ClusterData,
    Group,
    Instance,
    IPolicy,
    ISpec,
    Node,
    default_ipolicy,
)

__all__ = ["dump_text", "load_text", "parse_text"]

# ---------------------------------------------------------------------------
# Splitting and small fields


def _sections(lines: list[str]) -> list[list[str]]:
    """Split at every empty line (``sepSplit ""``): no lines, no sections."""
    if not lines:
        return []
    sections: list[list[str]] = [[]]
    for line in lines:
        if line:
            sections[-1].append(line)
        else:
            sections.append([])
    return sections


def _enum_value(type_name: str, raw: str, allowed: tuple[str, ...]) -> str:
    if raw not in allowed:
        raise DataError(f"Invalid string value for type {type_name}: {show_string(raw)}")
    return raw


def _yes_no(raw: str, message: str) -> bool:
    if raw == "Y":
        return True
    if raw == "N":
        return False
    raise DataError(message)


# ---------------------------------------------------------------------------
# Sections


def _load_group(fields: list[str]) -> Group:
    if len(fields) == 4:
        fields = [*fields, ""]
    if len(fields) < 5:
        raise DataError(f"Invalid/incomplete group data: '{show_string_list(fields)}'")
    name, uuid, alloc_policy, tags, networks = fields[:5]
    return Group(
        name=name,
        uuid=uuid,
        alloc_policy=_enum_value("AllocPolicy", alloc_policy, ALLOC_POLICIES),
        tags=sep_split(tags, ","),
        networks=sep_split(networks, ","),
    )


# Defaults for node columns 10..15, appended one at a time like Ganeti does.
_NODE_DEFAULTS = ("1", "", "N", "0", "1", "1.0")


def _load_node(fields: list[str], group_index: dict[str, int]) -> Node:
    if len(fields) < 9:
        raise DataError(f"Invalid/incomplete node data: '{show_string_list(fields)}'")
    if len(fields) < 15:
        fields = fields + list(_NODE_DEFAULTS[len(fields) - 9:])
    (name, t_mem, n_mem, f_mem, t_dsk, f_dsk, t_cpu, role, group_uuid, spindles, tags,
     excl_stor, free_spindles, n_cpu, cpu_speed) = fields[:15]
    group = group_index.get(group_uuid)
    if group is None:
        raise DataError(f"Unknown group '{group_uuid}' for node {name}")
    if "?" in (t_mem, n_mem, f_mem, t_dsk, f_dsk, t_cpu):
        # Ganeti's placeholder for a node it knows nothing about: offline and empty.
        return Node(name=name, t_mem=0.0, n_mem=0, f_mem=0, t_dsk=0.0, f_dsk=0, t_cpu=0.0,
                    offline=True, group=group, n_cpu=0, t_spindles=0, f_spindles=0)
    # Fields are read in Ganeti's order so that the first bad one is reported.
    vt_mem = read_double(name, t_mem)
    vn_mem = read_int(name, n_mem)
    vf_mem = read_int(name, f_mem)
    vt_dsk = read_double(name, t_dsk)
    vf_dsk = read_int(name, f_dsk)
    vt_cpu = read_double(name, t_cpu)
    vn_cpu = read_int(name, n_cpu)
    vspindles = read_int(name, spindles)
    vcpu_speed = read_double(name, cpu_speed)
    vfree_spindles = read_int(name, free_spindles)
    vexcl_stor = _yes_no(
        excl_stor, f"Invalid exclusive_storage value for node '{name}': {excl_stor}")
    return Node(
        name=name, t_mem=vt_mem, n_mem=vn_mem, f_mem=vf_mem, t_dsk=vt_dsk, f_dsk=vf_dsk,
        t_cpu=vt_cpu, offline=role == "Y", group=group, n_cpu=vn_cpu, t_spindles=vspindles,
        f_spindles=vfree_spindles, excl_storage=vexcl_stor, master=role == "M",
        tags=sep_split(tags, ","), cpu_speed=vcpu_speed,
    )


# Defaults for instance columns 11..13.
_INSTANCE_DEFAULTS = ("1", "-", "N")


def _load_instance(fields: list[str], node_index: dict[str, int]) -> Instance:
    if len(fields) < 10:
        raise DataError(f"Invalid/incomplete instance data: '{show_string_list(fields)}'")
    if len(fields) < 13:
        fields = fields + list(_INSTANCE_DEFAULTS[len(fields) - 10:])
    (name, mem, dsk, vcpus, status, auto_bal, pnode, snode, template, tags,
     spindle_use, spindles, forthcoming) = fields[:13]

    def lookup(node_name: str) -> int:
        idx = node_index.get(node_name)
        if idx is None:
            raise DataError(f"Unknown node '{node_name}' for instance {name}")
        return idx

    pidx = lookup(pnode)
    sidx = lookup(snode) if snode else -1
    vmem = read_int(name, mem)
    vdsk = read_int(name, dsk)
    vvcpus = read_int(name, vcpus)
    vstatus = _enum_value("InstanceStatus", status, INSTANCE_STATUSES)
    auto_balance = _yes_no(auto_bal, f"Invalid auto_balance value '{auto_bal}' for instance {name}")
    try:
        vtemplate = _enum_value("DiskTemplate", template, DISK_TEMPLATES)
    except DataError as err:
        raise DataError(f"Instance {name}: {err}") from None
    vspindle_use = read_int(name, spindle_use)
    vspindles = None if spindles == "-" else read_int(name, spindles)
    vforthcoming = _yes_no(
        forthcoming, f"Invalid forthcoming value '{forthcoming}' for instance {name}")
    if vtemplate == "drbd" and sidx == pidx:
        raise DataError(f"Instance {name} has same primary and secondary node - {pnode}")
    return Instance(
        name=name, mem=vmem, dsk=vdsk, vcpus=vvcpus, status=vstatus,
        auto_balance=auto_balance, pnode=pidx, snode=sidx, template=vtemplate,
        tags=sep_split(tags, ","), spindle_use=vspindle_use, disks=[(vdsk, vspindles)],
        forthcoming=vforthcoming,
    )


_ISPEC_FIELDS = ("memsize", "cpucount", "disksize", "diskcount", "niccount", "spindleuse")


def _load_ispec(owner: str, text: str) -> ISpec:
    fields = sep_split(text, ",")
    if len(fields) < 6:
        raise DataError(f"Invalid ispec data for {owner}: {show_string_list(fields)}")
    return ISpec(*(read_int(f"{owner}/{label}", value)
                   for label, value in zip(_ISPEC_FIELDS, fields, strict=False)))


def _load_ipolicy(line: str) -> tuple[str, IPolicy]:
    fields = sep_split(line, "|")
    if len(fields) < 6:
        raise DataError(f"Invalid ipolicy data: '{show_string_list(fields)}'")
    owner, std, minmax, templates, vcpu_ratio, spindle_ratio = fields[:6]
    std_spec = _load_ispec(f"{owner}/stdspec", std)
    specs = sep_split(minmax, ";")
    if len(specs) % 2:
        raise DataError(f"Odd number of min/max specs for {owner}")
    pairs = [(_load_ispec(f"{owner}/minspec", specs[i]),
              _load_ispec(f"{owner}/maxspec", specs[i + 1]))
             for i in range(0, len(specs), 2)]
    disk_templates = [_enum_value("DiskTemplate", t, DISK_TEMPLATES)
                      for t in sep_split(templates, ",")]
    return owner, IPolicy(
        minmax=pairs,
        std=std_spec,
        disk_templates=disk_templates,
        vcpu_ratio=read_double(f"{owner}/vcpu_ratio", vcpu_ratio),
        spindle_ratio=read_double(f"{owner}/spindle_ratio", spindle_ratio),
    )


def _apply_policies(lines: list[str], groups: list[Group]) -> IPolicy:
    """Install each policy line on its owner; returns the cluster policy.

    An empty owner is the cluster; any other must name exactly one group by
    name or uuid.  Later lines replace earlier ones.
    """
    cluster_policy = default_ipolicy()
    for line in lines:
        owner, policy = _load_ipolicy(line)
        if not owner:
            cluster_policy = policy
            continue
        matches = [g for g in groups if owner in (g.name, g.uuid)]
        if len(matches) != 1:
            raise DataError(f"Wrong number of elems found with name {owner}")
        matches[0].ipolicy = policy
    return cluster_policy


def parse_text(content: str) -> ClusterData:
    """Parse a text cluster description; raise DataError with Ganeti's message."""
    try:
        return _parse_sections(_sections(split_lines(content)))
    except ReadError as err:  # a number that does not read
        raise DataError(str(err)) from None


def _parse_sections(sections: list[list[str]]) -> ClusterData:
    if len(sections) < 4:
        raise DataError(f"Invalid format of the input file: {len(sections)} sections"
                        " instead of 4 or more")
    group_lines, node_lines, instance_lines, tag_lines = sections[:4]
    policy_lines = sections[4] if len(sections) > 4 else []

    groups = [_load_group(sep_split(line, "|")) for line in group_lines]
    # Later duplicates win, as in Ganeti's name map.
    group_index = {g.uuid: i for i, g in enumerate(groups)}
    nodes = [_load_node(sep_split(line, "|"), group_index) for line in node_lines]
    node_index = {n.name: i for i, n in enumerate(nodes)}
    instances = [_load_instance(sep_split(line, "|"), node_index) for line in instance_lines]
    cluster_policy = _apply_policies(policy_lines, groups)
    return ClusterData(groups=groups, nodes=nodes, instances=instances,
                       cluster_tags=list(tag_lines), ipolicy=cluster_policy)


def load_text(path: str) -> ClusterData:
    """Read and parse a text cluster file; unreadable files raise DataError."""
    return parse_text(read_file(path, DataError))


# ---------------------------------------------------------------------------
# Serialisation


def _dump_ispec(spec: ISpec) -> str:
    return (f"{spec.mem},{spec.cpu},{spec.disk_size},{spec.disk_count},"
            f"{spec.nic_count},{spec.spindle_use}")


def _dump_ipolicy(owner: str, policy: IPolicy) -> str:
    minmax = ";".join(f"{_dump_ispec(lo)};{_dump_ispec(hi)}" for lo, hi in policy.minmax)
    return "|".join((owner, _dump_ispec(policy.std), minmax, ",".join(policy.disk_templates),
                     show_double(policy.vcpu_ratio), show_double(policy.spindle_ratio)))


def _dump_node(node: Node, groups: list[Group]) -> str:
    role = "Y" if node.offline else "M" if node.master else "N"
    return "|".join((
        node.name, fmt_fixed(node.t_mem, 0), str(node.n_mem), str(node.f_mem),
        fmt_fixed(node.t_dsk, 0), str(node.f_dsk), fmt_fixed(node.t_cpu, 0), role,
        groups[node.group].uuid, str(node.t_spindles), ",".join(node.tags),
        "Y" if node.excl_storage else "N", str(node.f_spindles), str(node.n_cpu),
        fmt_float_plain(node.cpu_speed),
    ))


def _total_spindles(inst: Instance) -> str:
    """Sum of the disks' spindles, ``-`` if any disk lacks them."""
    total = 0
    for _size, spindles in inst.disks:
        if spindles is None:
            return "-"
        total += spindles
    return str(total)


def _dump_instance(inst: Instance, nodes: list[Node]) -> str:
    return "|".join((
        inst.name, str(inst.mem), str(inst.dsk), str(inst.vcpus), inst.status,
        "Y" if inst.auto_balance else "N", nodes[inst.pnode].name,
        nodes[inst.snode].name if inst.snode >= 0 else "", inst.template,
        ",".join(inst.tags), str(inst.spindle_use), _total_spindles(inst),
        "Y" if inst.forthcoming else "N",
    ))


def _block(lines: list[str]) -> str:
    """Haskell ``unlines``: every line newline-terminated."""
    return "".join(line + "\n" for line in lines)


def dump_text(data: ClusterData) -> str:
    """Serialise like Ganeti's ``-S``: sections joined by one empty line.

    Policies are always written, the cluster's first (empty owner), then one
    per group keyed by group name.
    """
    policies = [_dump_ipolicy("", data.ipolicy)]
    policies += [_dump_ipolicy(g.name, g.ipolicy) for g in data.groups]
    return "\n".join((
        _block([
            "|".join((g.name, g.uuid, g.alloc_policy, ",".join(g.tags), ",".join(g.networks)))
            for g in data.groups
        ]),
        _block([_dump_node(n, data.groups) for n in data.nodes]),
        _block([_dump_instance(i, data.nodes) for i in data.instances]),
        _block(data.cluster_tags),
        _block(policies),
    ))
