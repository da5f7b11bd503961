"""The load pipeline: backend records -> ClusterState (spec §1.8).

Every backend produces the same ``ClusterData`` records; this module applies
Ganeti's merge steps in Ganeti's order (utilisation, tags, selection, aliases,
placement, peers, policies, missing-memory accounting) so that every tool
starts from bit-identical node state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from htools.errors import DataError
from solver import cluster as C
from solver.cluster import ClusterState, InstanceArrays
from solver.records import ClusterData, Instance, IPolicy

EXCL_PREFIX = "htools:iextags:"
LOCATION_PREFIX = "htools:nlocation:"
DESIRED_PREFIX = "htools:desiredlocation:"
MIGRATION_PREFIX = "htools:migration:"
ALLOW_MIGRATION_PREFIX = "htools:allowmigration:"


@dataclass
class LoadOptions:
    """The command-line inputs that shape the loaded state."""

    ignore_dynu: bool = False
    util: dict[str, tuple[float, float, float, float]] | None = None
    exclusion_tags: Sequence[str] = ()   # CLI prefixes, a ':' is appended
    select_instances: Sequence[str] | None = None
    exclude_instances: Sequence[str] | None = None
    static_kvm_node_memory: int = 4096


def chomp_prefix(prefix: str, tag: str) -> str | None:
    """Ganeti's chompPrefix: 'p:x' -> 'x', and the bare 'p' (no colon) -> ''."""
    if tag.startswith(prefix):
        return tag[len(prefix):]
    if prefix.endswith(":") and tag == prefix[:-1]:
        return ""
    return None


def lookup_name(names: Sequence[str], key: str) -> int | None:
    """Exact match, else the single name starting with ``key + '.'`` (§1.10)."""
    for i, n in enumerate(names):
        if n == key:
            return i
    partial = [i for i, n in enumerate(names) if n.startswith(key + ".")]
    return partial[0] if len(partial) == 1 else None


def common_suffix(names: Sequence[str]) -> str:
    """Longest '.'-starting suffix of the first name shared by all names."""
    if not names:
        return ""
    first, rest = names[0], names[1:]
    best = ""
    for k in range(len(first)):
        suf = first[k:]
        if suf.startswith(".") and all(n.endswith(suf) for n in rest):
            best = suf if len(suf) > len(best) else best
    return best


def _strip(name: str, suffix: str) -> str:
    return name[: len(name) - len(suffix)] if suffix and name.endswith(suffix) else name


def _node_tags_with(prefix: str, ctags: Sequence[str], ntags: Sequence[str]) -> set[str]:
    """Ganeti's getTags: node tags 'P:...' for every cluster tag 'prefix P'."""
    out: set[str] = set()
    for ct in ctags:
        if ct.startswith(prefix):
            p = ct[len(prefix):] + ":"
            out.update(t for t in ntags if t.startswith(p))
    return out


def _allowed_migrations(ctags: Sequence[str]) -> list[tuple[str, str]]:
    """(X, Y) pairs of 'htools:allowmigration:X::Y' tags; a second '::' voids one."""
    pairs = []
    for ct in ctags:
        if not ct.startswith(ALLOW_MIGRATION_PREFIX):
            continue
        body = ct[len(ALLOW_MIGRATION_PREFIX):]
        head, sep, rest = body.partition("::")
        if sep and "::" not in rest:
            pairs.append((head, rest))
    return pairs


def set_policy(state: ClusterState, n: int, pol: IPolicy) -> None:
    """Give node n a policy: vcpu ratio, hiCpu and hiSpindles follow it."""
    nd = state.node
    state.node_policy[n] = pol
    nd[C.VCPU_RATIO, n] = pol.vcpu_ratio
    nd[C.HI_CPU, n] = math.floor(pol.vcpu_ratio * nd[C.T_CPU, n])
    nd[C.HI_SPN, n] = pol.spindle_ratio * nd[C.T_SPN, n]


def load_cluster(data: ClusterData, opts: LoadOptions | None = None) -> ClusterState:
    """Run the merge pipeline of §1.8 steps 1-11."""
    opts = opts or LoadOptions()
    nodes, insts, ctags = data.nodes, data.instances, data.cluster_tags
    n_nodes, n_inst = len(nodes), len(insts)
    inst_names = [i.name for i in insts]
    node_names = [n.name for n in nodes]

    # 1. utilisation
    util = np.array([i.util for i in insts], dtype=np.float64).reshape(n_inst, 4)
    if opts.ignore_dynu:
        util[:] = 0.0
    elif opts.util:
        for k, name in enumerate(inst_names):
            if name in opts.util:
                util[k] = opts.util[name]

    # 2. exclusion and desired-location prefixes
    def tag_prefixes(tags: list[str]) -> tuple[list[str], list[str]]:
        excl = [p + ":" for p in opts.exclusion_tags]
        excl += [v for v in (chomp_prefix(EXCL_PREFIX, t) for t in tags) if v]
        return excl, [v for v in (chomp_prefix(DESIRED_PREFIX, t) for t in tags) if v]

    own_prefixes = tag_prefixes(ctags)

    # 3. selection
    unknown: list[str] = []
    selected: set[int] | None = None
    excluded: set[int] = set()
    if opts.select_instances:
        selected = set()
        for key in opts.select_instances:
            k = lookup_name(inst_names, key)
            if k is None:
                unknown.append(key)
            else:
                selected.add(k)
    for key in opts.exclude_instances or ():
        k = lookup_name(inst_names, key)
        if k is None:
            unknown.append(key)
        else:
            excluded.add(k)
    if unknown:
        raise DataError("Unknown instance(s): [" +
                        ",".join('"%s"' % u for u in unknown) + "]")

    # 4. suffix, movable, tags (instances still to be placed have no say in the suffix)
    suffix = common_suffix(node_names + [i.name for i in insts if i.pnode >= 0])
    template = np.array([C.TEMPLATE_CODE[i.template] for i in insts], dtype=np.int8)
    movable = C.TEMPLATE_MOVABLE[template.astype(np.int64)].copy() if n_inst else \
        np.zeros(0, bool)
    for k in range(n_inst):
        if k in excluded or (selected is not None and k not in selected):
            movable[k] = False

    excl_names: list[str] = []
    excl_index: dict[str, int] = {}
    excl_ptr = np.zeros(n_inst + 1, dtype=np.int64)
    excl_ids: list[int] = []
    inst_dsrd: list[list[str]] = []
    for k, ins in enumerate(insts):
        excl_prefixes, dsrd_prefixes = own_prefixes if ins.cluster_tags is None \
            else tag_prefixes(ins.cluster_tags)
        seen: set[str] = set()
        for t in ins.tags:
            if t in seen or not any(t.startswith(p) for p in excl_prefixes):
                continue
            seen.add(t)
            if t not in excl_index:
                excl_index[t] = len(excl_names)
                excl_names.append(t)
            excl_ids.append(excl_index[t])
        excl_ptr[k + 1] = len(excl_ids)
        inst_dsrd.append(sorted({t for t in ins.tags
                                 if any(t.startswith(p) for p in dsrd_prefixes)}))

    # 5. node location tags
    loc_sets = [_node_tags_with(LOCATION_PREFIX, ctags, n.tags) for n in nodes]
    loc_names = sorted(set().union(*loc_sets)) if loc_sets else []
    loc_index = {t: i for i, t in enumerate(loc_names)}
    node_loc = np.zeros((n_nodes, len(loc_names)), dtype=np.bool_)
    for n, s in enumerate(loc_sets):
        for t in s:
            node_loc[n, loc_index[t]] = True
    dsrd_ptr = np.zeros(n_inst + 1, dtype=np.int64)
    dsrd_ids: list[int] = []
    for k, tags in enumerate(inst_dsrd):
        dsrd_ids.extend(loc_index.get(t, -1) for t in tags)
        dsrd_ptr[k + 1] = len(dsrd_ids)

    pnode = np.array([i.pnode for i in insts], dtype=np.int64)
    snode = np.array([i.snode for i in insts], dtype=np.int64)
    # 6. instance location score
    loc_score = np.zeros(n_inst, dtype=np.int64)
    for k in range(n_inst):
        if pnode[k] >= 0 and snode[k] >= 0:
            loc_score[k] = int(np.count_nonzero(node_loc[pnode[k]] & node_loc[snode[k]]))

    status = [i.status for i in insts]
    forth = np.array([i.forthcoming for i in insts], dtype=np.bool_)
    ia = InstanceArrays(
        mem=np.array([i.mem for i in insts], dtype=np.int64),
        dsk=np.array([i.dsk for i in insts], dtype=np.int64),
        vcpus=np.array([i.vcpus for i in insts], dtype=np.int64),
        pnode=pnode, snode=snode, template=template,
        spindle_use=np.array([i.spindle_use for i in insts], dtype=np.int64),
        total_spindles=np.array([_total_spindles(i.disks) for i in insts], dtype=np.int64),
        running=np.array([s in C.RUNNING_STATES for s in status], dtype=np.bool_),
        uses_mem=np.array([s in C.MEM_USING_STATES for s in status], dtype=np.bool_) & ~forth,
        not_offline=np.array([s != "ADMIN_offline" for s in status], dtype=np.bool_),
        auto_balance=np.array([i.auto_balance for i in insts], dtype=np.bool_),
        forthcoming=forth, movable=movable, util=util, loc_score=loc_score,
        excl_ptr=excl_ptr, excl_ids=np.array(excl_ids, dtype=np.int64),
        dsrd_ptr=dsrd_ptr, dsrd_ids=np.array(dsrd_ids, dtype=np.int64),
        pstamp=2 * np.arange(n_inst, dtype=np.int64),
        sstamp=2 * np.arange(n_inst, dtype=np.int64) + 1,
    )

    nd = np.zeros((C.NODE_FIELDS, n_nodes), dtype=np.float64)
    for n, node in enumerate(nodes):
        nd[C.T_MEM, n] = node.t_mem
        nd[C.N_MEM, n] = node.n_mem
        nd[C.F_MEM, n] = node.f_mem
        nd[C.T_DSK, n] = node.t_dsk
        nd[C.F_DSK, n] = node.f_dsk
        nd[C.T_CPU, n] = node.t_cpu
        nd[C.N_CPU, n] = node.n_cpu
        nd[C.U_CPU, n] = node.n_cpu
        nd[C.OFFLINE, n] = node.offline
        nd[C.T_SPN, n] = node.t_spindles
        nd[C.F_SPN, n] = node.f_spindles
        nd[C.EXCL, n] = node.excl_storage
        nd[C.CPU_SPEED, n] = node.cpu_speed
        nd[C.GROUP, n] = node.group
        nd[C.MASTER, n] = node.master
        nd[C.FMEM_F, n] = node.f_mem
        nd[C.FDSK_F, n] = node.f_dsk
        nd[C.UCPU_F, n] = node.n_cpu
        nd[C.FSPN_F, n] = node.f_spindles

    state = ClusterState(
        data=data, node=nd, peers=np.zeros((n_nodes, n_nodes), dtype=np.int64),
        ptags=np.zeros((n_nodes, len(excl_names)), dtype=np.int32),
        imap=np.zeros((n_nodes, len(excl_names)), dtype=np.int32),
        node_loc=node_loc, mig_ok=np.ones((n_nodes, n_nodes), dtype=np.bool_),
        inst=ia, node_alias=[_strip(n, suffix) for n in node_names],
        inst_alias=[_strip(n, suffix) for n in inst_names], suffix=suffix,
        excl_tag_names=excl_names, loc_tag_names=loc_names,
        node_policy=[data.ipolicy] * n_nodes, warnings=[], stamp=2 * n_inst)

    # 7. place instances (load-time adds, no checks)
    from solver.nodeops import load_place
    for k in range(n_inst):
        load_place(state, k)

    if state.ptags.shape[1]:
        nd[C.CONFLICTS] = np.maximum(state.ptags - 1, 0).sum(axis=1)

    # 8. peers, N+1 and policies
    for k in range(n_inst):
        s = snode[k]
        if s >= 0 and not forth[k] and ia.not_offline[k] and ia.auto_balance[k]:
            state.peers[s, pnode[k]] += ia.mem[k]
    nd[C.R_MEM] = state.peers.max(axis=1) if n_nodes else 0
    nd[C.N1_FAIL] = nd[C.F_MEM] < nd[C.R_MEM]
    for n, node in enumerate(nodes):
        set_policy(state, n, data.groups[node.group].ipolicy)

    # 9. instances split across groups are not moved
    for k in range(n_inst):
        if snode[k] >= 0 and nd[C.GROUP, pnode[k]] != nd[C.GROUP, snode[k]]:
            movable[k] = False

    # 10. migration tags
    mig = [_node_tags_with(MIGRATION_PREFIX, ctags, n.tags) for n in nodes]
    allowed = _allowed_migrations(ctags)
    rmig = [m | {a for a, b in allowed if b in m} for m in mig]
    if any(mig):
        for a in range(n_nodes):
            for b in range(n_nodes):
                state.mig_ok[a, b] = mig[a] <= rmig[b]

    # 11. updateMissing
    if opts.static_kvm_node_memory > 0:
        for n, node in enumerate(nodes):
            if node.hypervisor == "kvm":
                nd[C.N_MEM, n] = opts.static_kvm_node_memory
    msgs: list[str] = []
    for n, node in enumerate(nodes):
        prim = (pnode == n) & ~forth
        sec = (snode == n) & ~forth
        nd[C.I_MEM, n] = int(ia.mem[prim & ia.uses_mem].sum())
        recorded = math.trunc(nd[C.T_MEM, n]) - nd[C.N_MEM, n] - nd[C.I_MEM, n]
        nd[C.X_MEM, n] = recorded - nd[C.F_MEM, n]
        delta_dsk = math.trunc(node.t_dsk) - node.f_dsk - int(ia.dsk[prim].sum()) \
            - int(ia.dsk[sec].sum())
        if nd[C.X_MEM, n] > 512 or delta_dsk > 1024:
            msgs.append("node %s is missing %d MB ram and %d GB disk"
                        % (node.name, int(nd[C.X_MEM, n]), delta_dsk // 1024))
    state.warnings = msgs[::-1]
    return state


def add_unplaced(state: ClusterState, records: Sequence[Instance]) -> ClusterState:
    """The state with ``records`` appended as unplaced instances (hspace's new ones).

    They carry no tags: a new exclusion or location tag would need new
    columns in the tag matrices, which only a full load builds.
    """
    assert not any(r.tags for r in records), "new instances carry no tags"
    n = len(records)
    ia = state.inst
    status = [r.status for r in records]
    forth = np.array([r.forthcoming for r in records], dtype=np.bool_)
    template = np.array([C.TEMPLATE_CODE[r.template] for r in records], dtype=np.int8)
    new = dict(
        mem=[r.mem for r in records], dsk=[r.dsk for r in records],
        vcpus=[r.vcpus for r in records], pnode=[-1] * n, snode=[-1] * n,
        template=template, spindle_use=[r.spindle_use for r in records],
        total_spindles=[_total_spindles(r.disks) for r in records],
        running=[s in C.RUNNING_STATES for s in status],
        uses_mem=np.array([s in C.MEM_USING_STATES for s in status]) & ~forth,
        not_offline=[s != "ADMIN_offline" for s in status],
        auto_balance=[r.auto_balance for r in records], forthcoming=forth,
        movable=C.TEMPLATE_MOVABLE[template.astype(np.int64)],
        util=np.array([r.util for r in records], dtype=np.float64).reshape(n, 4),
        loc_score=[0] * n, pstamp=[0] * n, sstamp=[0] * n,
        excl_ptr=np.full(n, ia.excl_ptr[-1]), dsrd_ptr=np.full(n, ia.dsrd_ptr[-1]))
    arrays = {f: np.concatenate([getattr(ia, f), np.asarray(v, dtype=getattr(ia, f).dtype)])
              for f, v in new.items()}
    inst = InstanceArrays(**arrays, excl_ids=ia.excl_ids, dsrd_ids=ia.dsrd_ids)
    data = replace(state.data, instances=state.data.instances + list(records))
    return replace(state, data=data, inst=inst,
                               inst_alias=state.inst_alias + [r.name for r in records])


def _total_spindles(disks: Sequence[tuple[int, int | None]]) -> int:
    total = 0
    for _, spn in disks:
        if spn is None:
            return -1
        total += spn
    return total


def set_node_status(state: ClusterState, *, max_cpu: float | None = None,
                    min_disk: float = 0.0, offline: Sequence[str] = ()) -> None:
    """Step 12: the CLI's --max-cpu, --min-disk and -O adjustments."""
    nd = state.node
    names = [n.name for n in state.data.nodes]
    bad = [o for o in offline if lookup_name(names, o) is None]
    if bad:
        # Ganeti's message ends in a newline of its own (a blank line follows)
        raise DataError("wrong node name(s) set as offline: " + ",".join(bad) + "\n")
    for n in range(state.n_nodes):
        if max_cpu is not None:
            pol = state.node_policy[n]
            state.node_policy[n] = IPolicy(pol.minmax, pol.std, pol.disk_templates,
                                           max_cpu, pol.spindle_ratio)
            nd[C.VCPU_RATIO, n] = max_cpu
            nd[C.HI_CPU, n] = math.floor(max_cpu * nd[C.T_CPU, n])
        nd[C.M_DSK, n] = min_disk
        nd[C.LO_DSK, n] = math.floor(min_disk * nd[C.T_DSK, n])
    for o in offline:
        nd[C.OFFLINE, lookup_name(names, o)] = 1.0
