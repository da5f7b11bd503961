"""Time our hail against Ganeti's on the same generated requests and print a markdown table.

Run from the repository root: ``python -m benchmarks.hail_side_by_side [--sizes 50/400,...]``.
Each size is a generated drbd cluster (default shape, spread placement, 30% full) with two
requests: ``allocate`` of one drbd instance and ``multi-allocate`` of ``--multi`` of them.
Both tools answer each request once untimed (warm caches), then once timed; the answers must
be byte-identical, or the row says so.  Whole-process wall time and peak RSS, as a user sees
them (``gnt-instance add -I hail`` starts one process per request).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks.side_by_side import parse_sizes, timed_run
from fixtures.generator import GenParams, generate
from fixtures.requests import request_json, uniform_multi

GANETI_HAIL = "/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail"
DEFAULT_SIZES = "50/400,200/1600,1000/8000"


def requests(nodes: int, instances: int, multi: int) -> dict[str, str]:
    cluster = generate(GenParams(nodes=nodes, instances=instances, fill=0.3, skew=0.0,
                                 mix=(("drbd", 1.0),)), 1)
    one = uniform_multi(1)["instances"][0]
    return {
        "allocate": request_json(cluster, {"type": "allocate", **one}),
        f"multi-allocate x{multi}": request_json(cluster, uniform_multi(multi)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES))
    ap.add_argument("--multi", type=int, default=100, help="instances per multi-allocate")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--ours", default="hail")
    ap.add_argument("--ganeti", default=GANETI_HAIL)
    ap.add_argument("--ganeti-multi-max", type=int, default=200,
                    help="largest node count at which Ganeti runs the multi-allocate (its "
                         "memory grows past 10 GiB at 200 nodes)")
    a = ap.parse_args(argv)
    rows = []
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for nodes, insts in a.sizes:
            for kind, text in requests(nodes, insts, a.multi).items():
                path = Path(tmp) / "request.json"
                path.write_text(text, encoding="utf-8")
                ours = [*a.ours.split(), str(path)]
                timed_run(ours, a.timeout)  # warm-up
                o = timed_run(ours, a.timeout)
                if kind.startswith("multi") and nodes > a.ganeti_multi_max:
                    rows.append(f"| {nodes} | {insts} | {kind} | not run | "
                                f"{o.cell(f'{o.wall:.3f}')} | - | - | {o.rss()} | - |")
                    continue
                timed_run([a.ganeti, str(path)], a.timeout)
                g = timed_run([a.ganeti, str(path)], a.timeout)
                same = g.returncode == 0 and o.returncode == 0 and g.stdout == o.stdout
                ok &= same
                ratio = f"{o.wall / g.wall:.2f}" if not (g.timed_out or o.timed_out) else "-"
                rows.append(f"| {nodes} | {insts} | {kind} | {g.cell(f'{g.wall:.3f}')} | "
                            f"{o.cell(f'{o.wall:.3f}')} | {ratio} | {g.rss()} | {o.rss()} | "
                            f"{'yes' if same else 'NO'} |")
                print(f"{nodes}/{insts} {kind}: Ganeti {g.wall:.3f}s ours {o.wall:.3f}s",
                      file=sys.stderr, flush=True)
    print("hail, generated drbd clusters; ratio = ours / Ganeti (below 1 is faster)\n")
    print("| nodes | instances | request | Ganeti s | ours s | ratio | Ganeti MiB | ours MiB "
          "| same answer |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|:---:|")
    print("\n".join(rows))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
