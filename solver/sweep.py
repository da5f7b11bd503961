"""The capacity planner: many what-if scenarios over one cluster, one table out.

hspace answers one question ("how many more of this spec fit?") per run.
Planners ask it for many variations at once: other instance specs or mixes,
nodes failing or being decommissioned, new node models racked in, the cluster
grown by some instances first.  Each scenario is one hspace-exact allocation
run (``solver.capacity``) on a variant of the base cluster; the variants that
only change flags and specs start from a copy of the loaded base arrays, the
ones that add nodes re-run the load pipeline on the extended records.

Scenarios are independent, so a sweep can fan out: in-process by default, or
on Ray, where the planner (base arrays and all) goes into the object store
once and every task reads it from there.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pandas as pd
from tqdm import tqdm

from htools.errors import DataError
from solver import cluster as C
from solver.capacity import (
    Filler,
    NoCandidates,
    RSpec,
    allocation_setup,
    spec_runs,
)
from solver.cstats import total_resources
from solver.evacuate import ALL, node_evacuate
from solver.jit import use_jit
from solver.loader import LoadOptions, load_cluster, lookup_name, set_node_status
from solver.records import DISK_TEMPLATES, ClusterData, Node
from solver.simulate import Simulator

# What ran out, by Ganeti failure mode (hspace's "most likely failure reason").
LIMITING = ("memory", "disk", "vcpu", "N+1", "tags", "migration", "disk count", "spindles",
            "internal")
COLUMNS = ("scenario", "mode", "template", "nodes", "preloaded", "evacuated", "evac_failed",
           "instances", "limiting", "specs", "mem_avail", "dsk_avail", "cpu_avail",
           "mem_eff", "dsk_eff", "cpu_eff", "score")


class ScenarioError(DataError):
    """A scenario the cluster cannot take (unknown node or group, bad spec)."""


@dataclass(frozen=True)
class NodeModel:
    """``count`` new nodes of one hardware model, added to ``group``."""

    count: int
    mem: int
    dsk: int
    cpu: int
    spindles: int = 1
    group: str | None = None   # None: the first group
    prefix: str = "new-node"


@dataclass(frozen=True)
class Scenario:
    """One what-if question.

    ``mode`` is "standard" (copies of ``spec`` until none fits), "tiered"
    (hspace's shrinking on the resource that ran out) or "mix" (rounds of
    ``weight`` instances of each ``mix`` spec until one does not fit).
    ``offline`` nodes fail (hspace -O: their instances stay where they are);
    ``remove`` nodes are decommissioned: taken offline and evacuated with
    hail's node-evacuate before anything is placed.  ``preload`` instances
    (spec, count) are allocated first: growth that happens before the
    question is asked.  ``spec`` None means the cluster's ipolicy std spec.
    """

    name: str
    mode: str = "standard"
    spec: RSpec | None = None
    mix: tuple[tuple[RSpec, int], ...] = ()
    template: str | None = None
    offline: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    add: tuple[NodeModel, ...] = ()
    preload: tuple[tuple[RSpec, int], ...] = ()
    limit: int | None = None


@dataclass
class Planner:
    """The base cluster and the hspace options every scenario shares."""

    data: ClusterData
    load: LoadOptions = field(default_factory=LoadOptions)
    max_cpu: float | None = None
    min_disk: float = 0.0
    offline: tuple[str, ...] = ()
    template: str | None = None
    spec: RSpec | None = None  # None: the cluster's ipolicy std spec
    spindle_use: int | None = None
    capacity: bool = True
    accept_existing: bool = False
    independent_groups: bool = False
    limit: int | None = None
    jit: bool = True
    base: C.ClusterState = field(init=False)

    def __post_init__(self) -> None:
        self.base = self._load(self.data)
        ipol = self.data.ipolicy
        if self.template is None:
            if not ipol.disk_templates:
                raise DataError("null list of disk templates received from cluster")
            self.template = ipol.disk_templates[0]
        if self.spindle_use is None:
            self.spindle_use = ipol.std.spindle_use
        if self.spec is None:
            s = ipol.std
            self.spec = RSpec(s.mem, s.disk_size, s.cpu, s.spindle_use)

    def _load(self, data: ClusterData) -> C.ClusterState:
        state = load_cluster(data, self.load)
        set_node_status(state, max_cpu=self.max_cpu, min_disk=self.min_disk,
                        offline=self.offline)
        return state

    # ---- checking -----------------------------------------------------------
    def check(self, sc: Scenario) -> None:
        """Raise ScenarioError for what would fail half-way through a sweep."""
        names = [n.name for n in self.data.nodes]
        groups = [g.name for g in self.data.groups]
        new_names = [f"{m.prefix}-{i:03d}" for m in sc.add for i in range(1, m.count + 1)]
        for node in (*sc.offline, *sc.remove):
            if lookup_name(names, node) is None:
                raise ScenarioError(f"scenario {sc.name!r}: unknown node {node!r}")
        for m in sc.add:
            if m.group is not None and m.group not in groups:
                raise ScenarioError(f"scenario {sc.name!r}: unknown group {m.group!r}")
        clash = sorted(set(new_names) & set(names)) or \
            sorted({n for n in new_names if new_names.count(n) > 1})
        if clash:
            raise ScenarioError(f"scenario {sc.name!r}: node name {clash[0]!r} already in use")
        if sc.template is not None and sc.template not in DISK_TEMPLATES:
            raise ScenarioError(f"scenario {sc.name!r}: unknown disk template {sc.template!r}")
        if sc.mode not in ("standard", "tiered", "mix"):
            raise ScenarioError(f"scenario {sc.name!r}: unknown mode {sc.mode!r}")
        if sc.mode == "mix" and not sc.mix:
            raise ScenarioError(f"scenario {sc.name!r}: mode 'mix' needs a mix")

    # ---- one scenario -------------------------------------------------------
    def _state(self, sc: Scenario) -> C.ClusterState:
        """The base cluster as the scenario changes it (a private copy)."""
        if sc.add:
            gidx = {g.name: i for i, g in enumerate(self.data.groups)}
            extra = [Node(name=f"{m.prefix}-{i:03d}", t_mem=float(m.mem), n_mem=0, f_mem=m.mem,
                          t_dsk=float(m.dsk), f_dsk=m.dsk, t_cpu=float(m.cpu), n_cpu=1,
                          offline=False, t_spindles=m.spindles, f_spindles=m.spindles,
                          group=gidx[m.group] if m.group is not None else 0)
                     for m in sc.add for i in range(1, m.count + 1)]
            state = self._load(replace(self.data, nodes=self.data.nodes + extra))
        else:
            state = self.base.copy()
        set_node_status(state, max_cpu=self.max_cpu, min_disk=self.min_disk,
                        offline=(*sc.offline, *sc.remove))
        return state

    def evaluate(self, sc: Scenario) -> dict[str, object]:
        """One table row: the scenario's capacity, what limits it, the cluster after."""
        return self.run(sc)[0]

    def run(self, sc: Scenario) -> tuple[dict[str, object], C.ClusterState]:
        """The scenario's row and the cluster as the run left it (new instances placed)."""
        use_jit(self.jit)
        state = self._state(sc)
        row: dict[str, object] = {"scenario": sc.name, "mode": sc.mode,
                                  "template": sc.template or self.template,
                                  "preloaded": 0, "evacuated": 0, "evac_failed": 0,
                                  "instances": 0, "specs": ""}
        if sc.remove:
            names = [n.name for n in state.data.nodes]
            gone = {lookup_name(names, r) for r in sc.remove}
            ia = state.inst
            insts = [k for k in range(state.n_instances)
                     if int(ia.pnode[k]) in gone or int(ia.snode[k]) in gone]
            sol = node_evacuate(Simulator(state), insts, ALL, force=False)
            row["evacuated"], row["evac_failed"] = len(sol.moved), len(sol.failed)
        row["nodes"] = int((state.node[C.OFFLINE] == 0).sum())
        filled = self._fill(sc, state, row)
        return row, filled

    def _fill(self, sc: Scenario, state: C.ClusterState,
              out: dict[str, object]) -> C.ClusterState:
        setup = allocation_setup(state, self.accept_existing, self.independent_groups)
        fill = Filler(state, sc.template or self.template, self.spindle_use, setup.cand,
                      setup.ignored, self.capacity, self.accept_existing)
        limit = self.limit if sc.limit is None else sc.limit
        spec = sc.spec or self.spec
        errs: tuple[int, ...] | None = _only(C.FAIL_N1)
        try:
            if not setup.stop:
                errs = self._preload(fill, sc.preload)
                out["preloaded"] = len(fill.placed)
                if errs is None:
                    errs = self._measure(fill, sc, spec, limit)
        except NoCandidates:
            errs = None
        new = fill.placed[int(out.get("preloaded", 0)):]
        out["instances"] = len(new)
        if errs is None:
            out["limiting"] = "no nodes"
        elif limit is not None and len(new) >= limit:
            out["limiting"] = "limit"
        else:  # hspace's most likely failure reason: most frequent, enum order on ties
            out["limiting"] = LIMITING[max(range(len(errs)), key=lambda m: (errs[m], -m))]
        if sc.mode != "standard":
            runs = spec_runs(fill.state, new)
            if sc.mode == "mix":  # one count per spec, not one per round
                totals: dict[RSpec, int] = {}
                for s, n in runs:
                    totals[s] = totals.get(s, 0) + n
                runs = list(totals.items())
            out["specs"] = " ".join("%d,%d,%d,%d=%d" % (s.mem, s.dsk, s.cpu, s.spn, n)
                                    for s, n in runs)
        cs = total_resources(fill.state)
        eff = cs.eff()
        out.update(mem_avail=cs.amem, dsk_avail=cs.adsk, cpu_avail=cs.acpu,
                   mem_eff=eff["memory"], dsk_eff=eff["disk"], cpu_eff=eff["vcpu"],
                   score=cs.score)
        return fill.state

    @staticmethod
    def _preload(fill: Filler, preload: Sequence[tuple[RSpec, int]]) -> tuple[int, ...] | None:
        """Place the growth instances; the failure counts if they do not all fit."""
        for spec, count in preload:
            before = len(fill.placed)
            errs = fill.iterate(spec, count)
            if len(fill.placed) - before < count:
                return errs
        return None

    @staticmethod
    def _measure(fill: Filler, sc: Scenario, spec: RSpec,
                 limit: int | None) -> tuple[int, ...]:
        start = len(fill.placed)
        if sc.mode == "standard":
            return fill.iterate(spec, limit)
        if sc.mode == "tiered":
            return fill.tiered(spec, limit)
        while True:  # mix: whole rounds until one spec does not fit
            for mspec, weight in sc.mix:
                left = None if limit is None else limit - (len(fill.placed) - start)
                want = weight if left is None else min(weight, left)
                before = len(fill.placed)
                errs = fill.iterate(mspec, want)
                if len(fill.placed) - before < want or left == want:
                    return errs


def _only(mode: int) -> tuple[int, ...]:
    errs = [0] * len(C.FAIL_MODES)
    errs[mode] = 1
    return tuple(errs)


# ---- sweeps --------------------------------------------------------------------

def sweep(planner: Planner, scenarios: Sequence[Scenario], *, ray: str | None = None,
          progress: bool = False) -> pd.DataFrame:
    """Every scenario's row, in scenario order, in-process or on Ray.

    ``ray`` is a Ray address ("auto", "ray://host:port") or "local" to start a
    Ray instance on this machine for the sweep; an already initialised Ray
    (e.g. ``ray.init(local_mode=True)`` in tests) is used as it is.
    """
    for sc in scenarios:
        planner.check(sc)
    with tqdm(total=len(scenarios), unit="scenario", file=sys.stderr, leave=False,
              disable=not progress) as bar:
        if ray is None:
            rows = []
            for sc in scenarios:
                rows.append(planner.evaluate(sc))
                bar.update(1)
        else:
            rows = _ray_rows(planner, scenarios, ray, bar)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _evaluate_batch(planner: Planner, scenarios: Sequence[Scenario]) -> list[dict]:
    return [planner.evaluate(sc) for sc in scenarios]


def _ray_rows(planner: Planner, scenarios: Sequence[Scenario], address: str,
              bar: tqdm) -> list[dict]:
    """Batches of scenarios as Ray tasks sharing one object-store copy of the planner."""
    import ray as ray_mod
    started = not ray_mod.is_initialized()
    if started:
        ray_mod.init(address=None if address == "local" else address,
                     include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        cpus = max(1, int(ray_mod.cluster_resources().get("CPU", 1)))
        size = max(1, math.ceil(len(scenarios) / (4 * cpus)))
        batches = [list(scenarios[i:i + size]) for i in range(0, len(scenarios), size)]
        shared = ray_mod.put(planner)
        task = ray_mod.remote(_evaluate_batch)
        pending = {task.remote(shared, b): i for i, b in enumerate(batches)}
        done: dict[int, list[dict]] = {}
        waiting = list(pending)
        while waiting:
            ready, waiting = ray_mod.wait(waiting, num_returns=1)
            for ref in ready:
                i = pending[ref]
                done[i] = ray_mod.get(ref)
                bar.update(len(batches[i]))
        return [row for i in range(len(batches)) for row in done[i]]
    finally:
        if started:
            ray_mod.shutdown()
