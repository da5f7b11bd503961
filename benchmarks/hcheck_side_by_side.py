"""Time our hcheck and hinfo against Ganeti's on a generated cluster; print a markdown table.

Run from the repository root: ``python -m benchmarks.hcheck_side_by_side [--size 1000/8000]``.
The cluster comes from ``fixtures.generator`` (seeded).  Each command runs once per tool,
whole process: hinfo, hcheck without the rebalancing simulation (the health figures,
global N+1 included), and plain hcheck (figures, then hbal's search on every group that
needs it).  A run past ``--timeout`` is reported as such, the speed-up then a lower bound.
When both finish, the outputs must be byte-identical.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path

from benchmarks.side_by_side import Run, outcome, parse_sizes, print_markdown, same_cell, timed_run
from fixtures.generator import GenParams, generate
from htools.backends.text import dump_text

GANETI_BIN = "/usr/lib/ganeti/3.0/usr/bin"
COMMANDS = {
    "hinfo": ["hinfo"],
    "hcheck --no-simulation": ["hcheck", "--no-simulation", "--machine-readable"],
    "hcheck": ["hcheck", "--machine-readable"],
}


def _secs(run: Run) -> str:
    """Wall seconds; hcheck's exit code 1 ("needs rebalancing") is a normal answer."""
    return "timeout" if run.timed_out else f"{run.wall:.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=parse_sizes, default=parse_sizes("1000/8000"),
                    help="NODES/INSTANCES (default 1000/8000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default=",".join(COMMANDS),
                    help="comma-separated subset of: " + ", ".join(COMMANDS))
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    ap.add_argument("--ours", default=f"{shlex.quote(sys.executable)} -m htools.cli.",
                    help="prefix of our tools' command lines (the tool name is appended)")
    ap.add_argument("--ganeti", default=GANETI_BIN, help="directory of Ganeti's binaries")
    a = ap.parse_args(argv)
    (nodes, instances), = a.size
    rows = []
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "cluster.data"
        data.write_text(dump_text(generate(GenParams(nodes=nodes, instances=instances), a.seed)))
        for label in a.only.split(","):
            tool, *args = COMMANDS[label]
            args = ["-t", str(data), *args]
            o = timed_run([*shlex.split(a.ours + tool), *args], a.timeout)
            g = timed_run([f"{a.ganeti}/{tool}", *args], a.timeout)
            both, same, ratio = outcome(g, o)
            ok &= same or not both
            rows.append(f"| {label} | {_secs(g)} | {_secs(o)} | {g.returncode}/{o.returncode} "
                        f"| {ratio} | {g.rss()} | {o.rss()} | {same_cell(both, same)} |")
            print(f"{label}: Ganeti {g.wall:.2f}s ours {o.wall:.2f}s", file=sys.stderr,
                  flush=True)
    print_markdown(f"generated cluster, {nodes} nodes / {instances} instances (seed {a.seed}), "
                   "whole process; speed-up = Ganeti / ours",
                   ["command", "Ganeti s", "ours s", "exit G/ours", "speed-up", "Ganeti MiB",
                    "ours MiB", "same output"], rows)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
