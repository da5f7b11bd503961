"""hspace: how many more instances fit, standard and tiered (spec §6)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from htools.cli.common import (
    die,
    load_data,
    load_state,
    print_nodes,
    print_warnings,
    run_program,
    save_data,
    state_records,
    write_file,
)
from htools.fmt import fmt_fixed, print_table, show_double
from solver import cluster as C
from solver.cstats import CStats, ieee_div, total_resources
from solver.jit import use_jit
from solver.loader import set_node_status


def _hts(pairs: list[tuple[str, str]]) -> None:
    from htools.report import shell_keys
    for line in shell_keys("HTS", pairs):
        print(line)


def _f8(x: float) -> str:
    return fmt_fixed(x, 8)


def _phase(prefix: str, cs: CStats) -> list[tuple[str, str]]:
    return [(f"{prefix}_{k}", v) for k, v in (
        ("SCORE", _f8(cs.score)), ("INST_CNT", str(cs.ninst)),
        ("MEM_FREE", str(cs.fmem)), ("MEM_AVAIL", str(cs.amem)),
        ("MEM_RESVD", str(cs.fmem - cs.amem)), ("MEM_INST", str(cs.imem)),
        ("MEM_OVERHEAD", str(cs.xmem + cs.nmem)), ("MEM_EFF", _f8(ieee_div(cs.imem, cs.tmem))),
        ("DSK_FREE", str(cs.fdsk)), ("DSK_AVAIL", str(cs.adsk)),
        ("DSK_RESVD", str(cs.fdsk - cs.adsk)), ("DSK_INST", str(cs.idsk)),
        ("DSK_EFF", _f8(ieee_div(cs.idsk, cs.tdsk))), ("SPN_FREE", str(cs.fspn)),
        ("SPN_INST", str(cs.ispn)), ("SPN_EFF", _f8(ieee_div(cs.ispn, cs.tspn))),
        ("CPU_INST", str(cs.icpu)), ("CPU_EFF", _f8(ieee_div(cs.icpu, cs.vcpu))),
        ("MNODE_MEM_AVAIL", str(cs.mmem)), ("MNODE_DSK_AVAIL", str(cs.mdsk)))]


def _resources(cs: CStats, spn: bool) -> list[tuple[str, str]]:
    out = [("MEM", "%.0f" % cs.tmem), ("DSK", "%.0f" % cs.tdsk), ("CPU", "%.0f" % cs.tcpu),
           ("VCPU", str(cs.vcpu))]
    return out + [("SPN", "%.0f" % cs.tspn)] if spn else out


def _spec_fields(spec, spn: bool) -> list[tuple[str, str]]:
    out = [("MEM", str(spec.mem)), ("DSK", str(spec.dsk)), ("CPU", str(spec.cpu))]
    return out + [("SPN", str(spec.spn))] if spn else out


def _joined(fields: list[tuple[str, str]]) -> str:
    return ", ".join(f"{k} {v}" for k, v in fields)


def _excl(state: C.ClusterState) -> bool:
    return bool((state.node[C.EXCL] != 0).any())


def _sorted_reasons(errs: tuple[int, ...]) -> list[tuple[int, int]]:
    """sortReasons: by count, most frequent first (enum order among equals)."""
    return sorted(enumerate(errs), key=lambda mc: -mc[1])


@dataclass
class Outcome:
    """One run's result as runAllocation hands it on."""

    state: C.ClusterState
    placed: list[int]
    reasons: list[tuple[int, int]]


def _allocation_map(state: C.ClusterState, placed: list[int], title: str) -> None:
    excl = _excl(state)
    ia = state.inst
    names = [n.name for n in state.data.nodes]  # full names, unlike the node tables
    rows = []
    for k in placed:
        s = int(ia.snode[k])
        spn = int(ia.total_spindles[k])
        rows.append([state.data.instances[k].name, names[int(ia.pnode[k])],
                     names[s] if s >= 0 else "", str(int(ia.mem[k])),
                     str(int(ia.dsk[k])), str(int(ia.vcpus[k])),
                     ("?" if spn < 0 else str(spn)) if excl else ""])
    print(title + " map", file=sys.stderr)
    for line in print_table(rows, [False, False, False, True, True, True, True]):
        print(line, file=sys.stderr)


def _report_run(opts, out: Outcome, spec, template: str, name: str, prefix: str,
                descr: str) -> None:
    """runAllocation's printing: the spec, the map (-v -v), -p, -S."""
    if opts.machine_readable:
        _hts([(f"{prefix}_{k}", v) for k, v in _spec_fields(spec, True)])
        _hts([(f"{prefix}_RQN", "2" if template == "drbd" else "1"),
              (f"{prefix}_DISK_TEMPLATE", template)])
    else:
        print(f"{descr} instance spec is:\n  {_joined(_spec_fields(spec, _excl(out.state)))}, "
              f"using disk template '{template}'.")
    if opts.verbose > 1:
        _allocation_map(out.state, out.placed, name + " allocation")
    print_nodes(out.state, opts.print_nodes, name + " allocation")
    if opts.save_cluster:
        st = out.state
        save_data(opts.save_cluster, name.lower(), f"after {name.lower()} allocation",
                  state_records(st, insts=np.flatnonzero(st.inst.pnode >= 0)))


def _print_fr_scores(ini: CStats, fin: CStats, reasons, excl: bool) -> None:
    print("  - most likely failure reason: " + C.FAIL_MODES[reasons[0][0]])
    print("  - initial cluster score: " + _f8(ini.score))
    print("  -   final cluster score: " + _f8(fin.score))
    labels = ["memory", "disk", "vcpu"] + (["spindles"] if excl else [])
    width = max(len(s) for s in labels)
    eff = fin.eff()
    for s in labels:
        print("  - %*s usage efficiency: %s%%" % (width, s, fmt_fixed(eff[s] * 100, 2, 5)))


# Compiled kernels pay for numba's start-up (~0.7 s) above this many pair scores.
JIT_WORK = 5000


def _allocations_bound(data) -> int:
    """How many instances of the policy's smallest spec the free memory or disk could hold.

    Each allocation scores every node pair, and tiered allocation shrinks down
    to that spec, so this times nodes squared bounds the work.  A cluster with
    room for tens of instances answers faster in plain Python; one with room
    for thousands (a fresh ``--simulate`` cluster, even of four nodes) needs
    the compiled kernels.
    """
    smallest = [low for low, _ in data.ipolicy.minmax] or [data.ipolicy.std]
    mem = min(max(spec.mem, 1) for spec in smallest)
    dsk = min(max(spec.disk_size * max(spec.disk_count, 1), 1) for spec in smallest)
    live = [n for n in data.nodes if not n.offline]
    return min(sum(max(n.f_mem, 0) for n in live) // mem,
               sum(max(n.f_dsk, 0) for n in live) // dsk)


def main(argv: list[str] | None = None) -> None:
    run_program("hspace", run, argv)


def run(opts) -> None:
    sweep_only = [o for o, v in (("--sweep-output", opts.sweep_output), ("--ray", opts.ray),
                                 ("--plot", opts.plot)) if v is not None]
    if sweep_only and opts.sweep is None:
        die(f"{sweep_only[0]} needs --sweep")
    data = load_data(opts)
    if opts.sweep is not None:
        run_sweep(opts, data)
        return
    use_jit(_allocations_bound(data) * len(data.nodes) ** 2 > JIT_WORK)
    from solver.capacity import (
        Filler,
        NoCandidates,
        RSpec,
        allocation_setup,
        spec_runs,
    )
    from solver.metrics import compute_score
    state = load_state(opts, data)
    print_warnings(state, opts.verbose)
    set_node_status(state, max_cpu=opts.max_cpu, min_disk=opts.min_disk,
                    offline=opts.offline_nodes or [])
    ipol = data.ipolicy
    if not ipol.disk_templates and opts.disk_template is None:
        die("null list of disk templates received from cluster")
    template = opts.disk_template or ipol.disk_templates[0]
    su = ipol.std.spindle_use if opts.spindle_use is None else opts.spindle_use
    verbose, mr = opts.verbose, opts.machine_readable
    if state.suffix and verbose > 1:
        print(f"Note: Stripping common suffix of '{state.suffix}' from names", file=sys.stderr)
    print_nodes(state, opts.print_nodes, "Initial cluster")
    if verbose > 2:
        from htools import report
        _, table = report.coefficient_table(state, np.arange(state.n_nodes))
        print("Initial coefficients: overall " + _f8(compute_score(state)), file=sys.stderr)
        print("\n".join(table), file=sys.stderr)
    ini = total_resources(state)
    if mr:
        _hts([("CLUSTER_" + k, v) for k, v in _resources(ini, True)])
        _hts([("CLUSTER_NODES", str(state.n_nodes))])
        _hts(_phase("INI", ini))
    else:
        print(f"The cluster has {state.n_nodes} nodes and the following resources:\n"
              f"  {_joined(_resources(ini, _excl(state)))}.")
        print("There are %s initial instances on the cluster."
              % (ini.ninst if ini.ninst > 0 else "no"))

    setup = allocation_setup(state, opts.accept_existing_errors, opts.independent_groups)
    if verbose > 3 and setup.bad_nodes:
        print("Bad nodes: [%s]" % ",".join('"%s"' % data.nodes[n].name
                                           for n in setup.bad_nodes), file=sys.stderr)
    if verbose > 3 and setup.bad_groups:
        print("Bad groups: [%s]" % ",".join('"%s"' % data.groups[g].name
                                            for g in setup.bad_groups), file=sys.stderr)
    limit = None if opts.max_length == -1 else opts.max_length
    cand = setup.cand
    if verbose > 3:
        print("Allocatable nodes: " + _show_alloc_nodes(state, cand, template),
              file=sys.stderr)

    minmax = [hi for _, hi in ipol.minmax]
    if opts.tiered_alloc is not None:
        t = opts.tiered_alloc
        tspecs = [RSpec(t.mem, t.disk, t.cpu, t.spindles)]
    else:
        tspecs = [RSpec(s.mem, s.disk_size, s.cpu, s.spindle_use) for s in minmax]
    if not tspecs:
        die("Empty list of specs received from the cluster")
    if opts.standard_alloc is not None:
        s = opts.standard_alloc
        sspec = RSpec(s.mem, s.disk, s.cpu, s.spindles)
    else:
        s = ipol.std
        sspec = RSpec(s.mem, s.disk_size, s.cpu, s.spindle_use)

    def filler() -> Filler:
        return Filler(state.copy(), template, su, cand, setup.ignored,
                      not opts.no_capacity_checks, opts.accept_existing_errors)

    def run_tiered() -> Outcome:
        fill = filler()
        errs: tuple[int, ...] = ()
        for spec in tspecs:
            if limit is not None and limit <= len(fill.placed):
                break
            errs = fill.tiered(spec, None if limit is None else limit - len(fill.placed))
        return Outcome(fill.state, fill.placed, _sorted_reasons(errs))

    def run_standard() -> Outcome:
        fill = filler()
        errs = fill.iterate(sspec, limit)
        return Outcome(fill.state, fill.placed, _sorted_reasons(errs))

    def attempt(fn) -> Outcome:
        if setup.stop:
            return Outcome(state, [], [(C.FAIL_N1, 1)])
        try:
            return fn()
        except NoCandidates as e:
            die(f"failure during allocation: {e}")

    trl = attempt(run_tiered)
    _report_run(opts, trl, tspecs[0], template, "Tiered", "TSPEC_INI", "Tiered (initial size)")
    trl_cs = total_resources(trl.state)
    spec_map = spec_runs(trl.state, trl.placed)
    if mr:
        _hts(_phase("TRL", trl_cs))
        _hts([("TSPEC", " ".join("%d,%d,%d,%d=%d" % (sp.mem, sp.dsk, sp.cpu, sp.spn, cnt)
                                 for sp, cnt in spec_map))])
        _hts(_key_metrics(ini, trl_cs))
    else:
        print("Tiered allocation results:")
        spn = _excl(state)
        if not spec_map:
            print("  - no instances allocated")
        for sp, cnt in spec_map:
            print("  - %3d instances of spec %s" % (cnt, _joined(_spec_fields(sp, spn))))
        _print_fr_scores(ini, trl_cs, trl.reasons, _excl(trl.state))

    fin = attempt(run_standard)
    _report_run(opts, fin, sspec, template, "Standard", "SPEC", "Standard (fixed-size)")
    fin_cs = total_resources(fin.state)
    allocs = len(fin.placed)
    if mr:
        loaded = len(data.instances)
        if loaded + allocs != fin_cs.ninst:
            die("internal inconsistency, allocated (%d) != counted (%d)\n"
                % (loaded + allocs, fin_cs.ninst))
        _hts(_phase("FIN", fin_cs))
        _hts([("ALLOC_USAGE", _f8(ieee_div(loaded, loaded + allocs))),
              ("ALLOC_INSTANCES", str(allocs)),
              ("ALLOC_FAIL_REASON", C.FAIL_MODES[fin.reasons[0][0]].upper())])
        _hts([("ALLOC_%s_CNT" % C.FAIL_MODES[m].upper(), str(c)) for m, c in fin.reasons])
        _hts([("OK", "1")])
    else:
        print("Normal (fixed-size) allocation results:")
        print("  - %3d instances allocated" % allocs)
        _print_fr_scores(ini, fin_cs, fin.reasons, _excl(fin.state))


def run_sweep(opts, data) -> None:
    """--sweep: one row per scenario of the file (capacity planner), CSV or JSON out."""
    from htools.backends.scenarios import load_scenarios
    from solver.capacity import RSpec
    from solver.loader import LoadOptions
    from solver.sweep import Planner, sweep
    scenarios = load_scenarios(opts.sweep)
    out = opts.sweep_output
    if out is not None and not out.endswith((".csv", ".json")):
        die(f"--sweep-output {out}: the name must end in .csv or .json")
    std = opts.standard_alloc
    planner = Planner(
        data, LoadOptions(static_kvm_node_memory=opts.static_kvm_node_memory),
        max_cpu=opts.max_cpu, min_disk=opts.min_disk, offline=tuple(opts.offline_nodes or ()),
        template=opts.disk_template,
        spec=None if std is None else RSpec(std.mem, std.disk, std.cpu, std.spindles),
        spindle_use=opts.spindle_use, capacity=not opts.no_capacity_checks,
        accept_existing=opts.accept_existing_errors,
        independent_groups=opts.independent_groups,
        limit=None if opts.max_length == -1 else opts.max_length)
    if opts.ray is not None:
        try:
            import ray  # noqa: F401
        except ImportError:
            die("--ray needs the 'ray' package (pip install ray)")
    try:
        table = sweep(planner, scenarios, ray=opts.ray, progress=sys.stderr.isatty())
    except ConnectionError as e:
        die(f"cannot reach the Ray cluster at {opts.ray}: {e}")
    if out is None:
        table.to_csv(sys.stdout, index=False)
    elif out.endswith(".csv"):
        write_file(out, table.to_csv(index=False))
    else:
        write_file(out, table.to_json(orient="records", indent=1) + "\n")
    if opts.plot is not None:
        from htools.plot import plot_sweep
        try:
            plot_sweep(table, opts.plot)
        except (OSError, ValueError) as e:
            die(f"cannot write the plot {opts.plot}: {e}")


def _key_metrics(ini: CStats, trl: CStats) -> list[tuple[str, str]]:
    """computeAllocationDelta: used, still allocatable (pool) and unavailable."""
    import math
    rows = {"USED": (ini.icpu, show_double(ini.ncpu), ini.imem, ini.idsk, ini.ispn),
            "POOL": (trl.icpu - ini.icpu, show_double(trl.ncpu - ini.ncpu),
                     trl.imem - ini.imem, trl.idsk - ini.idsk, trl.ispn - ini.ispn),
            "UNAV": (trl.vcpu - trl.icpu, show_double(trl.tcpu - trl.ncpu),
                     math.trunc(trl.tmem) - trl.imem, math.trunc(trl.tdsk) - trl.idsk,
                     math.trunc(trl.tspn) - trl.ispn)}
    out = []
    for kind, vals in rows.items():
        for key, v in zip(("CPU", "NPU", "MEM", "DSK", "SPN"), vals, strict=True):
            out.append((f"KM_{kind}_{key}", str(v)))
    return out


def _show_alloc_nodes(state: C.ClusterState, cand: np.ndarray, template: str) -> str:
    """Haskell's show of AllocNodes (node indices)."""
    if template != "drbd":
        return "Left [" + ",".join(str(int(n)) for n in cand) + "]"
    grp = state.node[C.GROUP]
    pairs = []
    for p in cand:
        ss = [str(int(s)) for s in cand if s != p and grp[s] == grp[p]]
        if ss:
            pairs.append("(%d,[%s])" % (int(p), ",".join(ss)))
    return "Right [" + ",".join(pairs) + "]"


if __name__ == "__main__":
    main()
