"""Time our hroller against Ganeti's on generated clusters and print a markdown table.

Run from the repository root: ``python -m benchmarks.hroller_side_by_side
[--sizes 200/1600,1000/8000]``.  Each run is one whole hroller process on the same
text file, under each option set; outputs must be byte-identical (stdout and exit
code), or the row says so.  Both tools run once untimed first, so numba's cache and
the page cache are warm for what is timed.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

from benchmarks.side_by_side import outcome, parse_sizes, print_markdown, timed_run
from fixtures.generator import GenParams, generate
from htools.backends.text import dump_text

GANETI_HROLLER = "/usr/lib/ganeti/3.0/usr/bin/hroller"
OPTION_SETS = ("", "--full-evacuation --print-moves", "--offline-maintenance")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=parse_sizes, default=parse_sizes("200/1600,1000/8000"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--ganeti", default=GANETI_HROLLER)
    ap.add_argument("--ours", default=f"{shlex.quote(sys.executable)} -m htools.cli.hroller")
    a = ap.parse_args(argv)
    ours = shlex.split(a.ours)
    rows, ok = [], True
    with tempfile.TemporaryDirectory() as tmp:
        for nodes, instances in a.sizes:
            data = Path(tmp) / f"cluster-{nodes}-{instances}.data"
            data.write_text(dump_text(generate(GenParams(nodes=nodes, instances=instances),
                                               a.seed)))
            for opts in OPTION_SETS:
                args = ["-t", str(data), *opts.split()]
                timed_run([*ours, *args], a.timeout)  # warm-up
                o = timed_run([*ours, *args], a.timeout)
                g = timed_run([a.ganeti, *args], a.timeout)
                both, same, ratio = outcome(g, o)
                ok &= same or not both
                # an error (exit 1: no room to evacuate) is an answer too, and timed
                rows.append(f"| {nodes}/{instances} | `{opts or '(none)'}` | {g.returncode} | "
                            f"{'timeout' if g.timed_out else f'{g.wall:.2f}'} | "
                            f"{'timeout' if o.timed_out else f'{o.wall:.2f}'} | {ratio} "
                            f"| {g.rss()} | {o.rss()} | {'yes' if same else 'NO'} |")
                print(f"{nodes}/{instances} {opts}: Ganeti {g.wall:.2f}s ours {o.wall:.2f}s",
                      file=sys.stderr, flush=True)
    print_markdown("hroller -t FILE, whole process; speed-up = Ganeti / ours",
                   ["nodes/instances", "options", "exit code", "Ganeti s", "ours s", "speed-up",
                    "Ganeti MiB", "ours MiB", "same output"], rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
