"""Time a capacity-planner sweep in-process and on a local Ray, and print a markdown table.

Run from the repository root: ``python -m benchmarks.sweep_bench [--nodes 100]
[--scenarios 10000] [--sample 200]``.  The cluster is ``--simulate=p,N,2T,256G,32`` already
filled to about 80% of its memory with 16 GiB drbd instances (a production cluster is
seldom empty); the scenarios are a grid of instance specs x failed nodes x growth.  Every
scenario is a full hspace-exact fill, so a sweep costs scenarios x (seconds per fill):
``--sample`` runs an evenly spread subset (0: all) and the table gives the measured time
and, for the whole grid, the projection from it.  Both runs must give the same table.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time

from htools.backends.simu import load_simu
from htools.cli.common import state_records
from solver.capacity import RSpec
from solver.sweep import Planner, Scenario, sweep

SPECS = [RSpec(mem * 1024, dsk * 1024, cpu, 1)
         for mem, dsk, cpu in itertools.product((2, 4, 8, 16, 32), (20, 50, 100, 200), (1, 4))]


def base_cluster(nodes: int) -> Planner:
    """The simulated cluster grown to ~80% memory use, as the planners' base."""
    empty = Planner(load_simu([f"p,{nodes},2T,256G,32"]), template="drbd")
    fill = int(nodes * 256 * 0.8 / 16)
    _, grown = empty.run(Scenario("grow", spec=RSpec(16384, 51200, 4, 1),
                                          preload=((RSpec(16384, 51200, 4, 1), fill),),
                                          limit=0))
    data = state_records(grown, insts=[k for k in range(grown.n_instances)
                                       if grown.inst.pnode[k] >= 0])
    return Planner(data, template="drbd")


def scenarios(planner: Planner, count: int) -> list[Scenario]:
    """``count`` scenarios: specs x one failed node (or none) x growth steps."""
    names = [n.name for n in planner.data.nodes]
    out = []
    for i, (spec, failed, grow) in enumerate(itertools.product(
            SPECS, [(), *((n,) for n in names)], (0, 10, 20, 40, 80))):
        if i == count:
            break
        out.append(Scenario(f"s{i}", spec=spec, offline=failed,
                            preload=((RSpec(8192, 102400, 2, 1), grow),) if grow else ()))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--scenarios", type=int, default=10_000)
    ap.add_argument("--sample", type=int, default=200, help="scenarios actually run (0: all)")
    ap.add_argument("--ray", default="local", help="Ray address ('local' starts one)")
    ap.add_argument("--only", choices=("in-process", "ray"),
                    help="run one of the two (the table then compares nothing)")
    ap.add_argument("--save", metavar="FILE.csv",
                    help="write the sweep's table, to compare with a run made elsewhere")
    a = ap.parse_args(argv)
    planner = base_cluster(a.nodes)
    grid = scenarios(planner, a.scenarios)
    step = max(1, len(grid) // a.sample) if a.sample else 1
    run = grid[::step][:a.sample or None]
    print(f"{a.nodes} nodes, {planner.base.n_instances} instances; {len(run)} of "
          f"{len(grid)} scenarios", file=sys.stderr, flush=True)
    timings = []
    tables = []
    places = ["in-process", f"Ray ({a.ray})"]
    if a.only is not None:
        places = places[:1] if a.only == "in-process" else places[1:]
    for where in places:
        start = time.perf_counter()
        tables.append(sweep(planner, run, ray=None if where == "in-process" else a.ray))
        timings.append((where, time.perf_counter() - start))
        print(f"{where}: {timings[-1][1]:.1f} s", file=sys.stderr, flush=True)
    same = len(tables) == 1 or tables[0].equals(tables[1])
    print(f"capacity sweep on --simulate=p,{a.nodes},2T,256G,32 (drbd, "
          f"{planner.base.n_instances} instances placed), {len(run)} of {len(grid)} grid "
          "scenarios run\n")
    print(f"| where | scenarios run | seconds | per scenario | projected for {len(grid)} "
          "| same table |")
    print("|---|---|---|---|---|---|")
    verdict = ("yes" if same else "NO") if len(tables) == 2 else "-"
    for where, secs in timings:
        per = secs / len(run)
        print(f"| {where} | {len(run)} | {secs:.1f} | {per:.2f} s | {per * len(grid) / 60:.0f} "
              f"min | {verdict} |")
    if a.save is not None:
        tables[-1].to_csv(a.save, index=False)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
