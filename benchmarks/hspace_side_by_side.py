"""Time our hspace against Ganeti's on simulated clusters and print a markdown table.

Run from the repository root: ``python -m benchmarks.hspace_side_by_side [--nodes 20,100]``.
Each size is ``--simulate=p,N,<disk>,<mem>,<cpu>`` with drbd instances and machine-readable
output: one whole hspace run (tiered with the policy's max spec, then standard).  Both
tools run once; a run past ``--timeout`` is reported as such, with the speed-up as a lower
bound (Ganeti's tiered shrinking re-walks every shorter chain of specs, 256 MiB of disk
a step, so its time grows with the square of the node disk size).  When both finish, the
outputs must be byte-identical.
"""

from __future__ import annotations

import argparse
import sys

from benchmarks.side_by_side import outcome, print_markdown, same_cell, timed_run

GANETI_HSPACE = "/usr/lib/ganeti/3.0/usr/bin/hspace"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", default="20,100,400")
    ap.add_argument("--node-spec", default="2T,256G,32", help="disk,memory,cpus per node")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--ours", default="hspace")
    ap.add_argument("--ganeti", default=GANETI_HSPACE)
    a = ap.parse_args(argv)
    rows = []
    ok = True
    for n in (int(x) for x in a.nodes.split(",")):
        args = [f"--simulate=p,{n},{a.node_spec}", "--disk-template=drbd", "--machine-readable"]
        o = timed_run([*a.ours.split(), *args], a.timeout)
        g = timed_run([a.ganeti, *args], a.timeout)
        both, same, ratio = outcome(g, o)
        ok &= same or not both
        placed = next((line.split("=")[1] for line in o.stdout.splitlines()
                       if line.startswith("HTS_ALLOC_INSTANCES=")), "-")
        rows.append(f"| {n} | {placed} | {g.cell(f'{g.wall:.2f}')} | {o.cell(f'{o.wall:.2f}')} "
                    f"| {ratio} | {g.rss()} | {o.rss()} | {same_cell(both, same)} |")
        print(f"{n} nodes: Ganeti {g.wall:.2f}s ours {o.wall:.2f}s", file=sys.stderr, flush=True)
    print_markdown(f"hspace --simulate=p,N,{a.node_spec} --disk-template=drbd "
                   "--machine-readable (tiered and standard); speed-up = Ganeti / ours",
                   ["nodes", "standard allocations", "Ganeti s", "ours s", "speed-up",
                    "Ganeti MiB", "ours MiB", "same output"], rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
