"""Time our hbal against Ganeti's on the same generated clusters and print a markdown table.

Run from the repository root: ``python -m benchmarks.side_by_side [--sizes 20/100,40/320]``.
By default each tool runs ``hbal -t FILE -l 1``, i.e. loading plus one greedy step, which is
the unit that dominates a balancing run; ``--full`` runs to the end instead (under
``--timeout``). Both tools must print the same step lines: a speed-up that changes the
answer is not one. Both tools run once untimed first: numba's compile cache and the page
cache are then warm for everything that is timed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fixtures.generator import GenParams, generate
from htools.backends.text import dump_text

GANETI_HBAL = "/usr/lib/ganeti/3.0/usr/bin/hbal"
GNU_TIME = "/usr/bin/time"
DEFAULT_SIZES = "20/100,40/320,100/800,150/1200"
STEP_LINE = re.compile(r"^ +\d+\. ")


@dataclass
class Run:
    """One timed run of one tool."""

    wall: float  # seconds
    rss_mib: float | None  # peak resident set size of the process, if measured
    returncode: int
    timed_out: bool
    steps: list[str]
    stderr: str
    stdout: str = ""

    def rss(self) -> str:
        return "-" if self.rss_mib is None else f"{self.rss_mib:.0f}"

    def cell(self, value: str) -> str:
        """A table cell that says why a number is missing."""
        if self.timed_out:
            return "timeout"
        return value if self.returncode == 0 else f"rc={self.returncode}"


def timed_run(command: list[str], timeout: float) -> Run:
    """Run a command, killing it after `timeout` seconds; measure its wall time and peak RSS.

    The peak RSS comes from GNU time when it is installed: the ru_maxrss that wait4 reports
    for a child of this Python process never drops below this process's own size, since
    Linux carries the pre-exec high-water mark over into the child.
    """
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    killed = threading.Event()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r") as rss_file:
        wrapped = ([GNU_TIME, "-f", "%M", "-o", rss_file.name, *command]
                   if os.access(GNU_TIME, os.X_OK) else command)
        start = time.perf_counter()
        # A session of its own, so that a timeout kills the tool and not only GNU time.
        proc = subprocess.Popen(wrapped, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                env=env, start_new_session=True)

        def kill() -> None:
            with contextlib.suppress(ProcessLookupError):  # it may have just finished
                os.killpg(proc.pid, signal.SIGKILL)
                killed.set()

        timer = threading.Timer(timeout, kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        reported = rss_file.read().split()
        rss_kib = (int(reported[-1]) if wrapped is not command and reported
                   else None if killed.is_set() else usage.ru_maxrss)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "backslashreplace")
        stderr = err.read().decode("utf-8", "backslashreplace")
    return Run(wall=wall, rss_mib=None if rss_kib is None else rss_kib / 1024,
               returncode=proc.returncode,
               timed_out=killed.is_set(),
               steps=[line for line in stdout.splitlines() if STEP_LINE.match(line)],
               stderr=stderr, stdout=stdout)


def outcome(g: Run, o: Run) -> tuple[bool, bool, str]:
    """(both finished, same exit code and output, speed-up Ganeti/ours as a cell).

    When only Ganeti ran past the time limit the speed-up is a lower bound.
    """
    both = not (g.timed_out or o.timed_out)
    same = both and (g.returncode, g.stdout, g.stderr) == (o.returncode, o.stdout, o.stderr)
    if both:
        return both, same, f"{g.wall / o.wall:.1f}x"
    return both, same, f"> {g.wall / o.wall:.0f}x" if g.timed_out and not o.timed_out else "-"


def same_cell(both: bool, same: bool) -> str:
    return "yes" if same else ("-" if not both else "NO")


def print_markdown(title: str, header: list[str], rows: list[str]) -> None:
    """A title line, then a markdown table of pre-formatted rows."""
    print(title + "\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    print("\n".join(rows))


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """`20/100,40/320` -> [(20, 100), (40, 320)] (nodes/instances)."""
    try:
        return [(int(n), int(i)) for n, i in (item.split("/") for item in text.split(","))]
    except ValueError as err:
        raise argparse.ArgumentTypeError("expected NODES/INSTANCES,...") from err


def per_step(run: Run) -> float:
    return run.wall / max(len(run.steps), 1)


def main(argv: list[str] | None = None) -> int:
    """Exit 0 only if every size ran on both tools and gave the same steps."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES),
                        help=f"NODES/INSTANCES list (default {DEFAULT_SIZES})")
    parser.add_argument("--steps", type=int, default=1, help="hbal -l N (default 1)")
    parser.add_argument("--full", action="store_true", help="run to the end instead of -l")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hbal-args", default="", help="extra hbal options for both tools")
    parser.add_argument("--ganeti", default=GANETI_HBAL, help="Ganeti's hbal")
    parser.add_argument("--ours", default=f"{shlex.quote(sys.executable)} -m htools.cli.hbal",
                        help="command line of our hbal")
    args = parser.parse_args(argv)
    ours_cmd = shlex.split(args.ours)
    extra = shlex.split(args.hbal_args) + ([] if args.full else ["-l", str(args.steps)])
    mode = "full run" if args.full else f"-l {args.steps}"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (nodes, instances) in enumerate(args.sizes):
            data = Path(tmp) / f"cluster-{nodes}-{instances}.data"
            data.write_text(dump_text(generate(GenParams(nodes=nodes, instances=instances),
                                               args.seed)))
            hbal_args = ["-t", str(data), *extra]
            if k == 0:
                print("warming up (untimed) ...", file=sys.stderr)
                timed_run([args.ganeti, *hbal_args], args.timeout)
                timed_run(ours_cmd + hbal_args, args.timeout)
            print(f"{nodes} nodes / {instances} instances ({mode}) ...", file=sys.stderr)
            theirs = timed_run([args.ganeti, *hbal_args], args.timeout)
            ours = timed_run(ours_cmd + hbal_args, args.timeout)
            for who, run in (("Ganeti", theirs), ("ours", ours)):
                if run.returncode and not run.timed_out:
                    print(f"  {who} exited {run.returncode}: {run.stderr.strip()[-500:]}",
                          file=sys.stderr)
            rows.append((nodes, instances, theirs, ours))

    print(f"hbal, generated clusters (seed {args.seed}, {mode}); ratio = ours / Ganeti per step,"
          " below 1 is faster\n")
    print("| nodes | instances | Ganeti s | ours s | steps G/ours | Ganeti s/step"
          " | ours s/step | ratio | Ganeti MiB | ours MiB | same steps |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|")
    agreed = True
    for nodes, instances, theirs, ours in rows:
        both_ok = not (theirs.timed_out or ours.timed_out or theirs.returncode
                       or ours.returncode)
        ratio = f"{per_step(ours) / per_step(theirs):.2f}" if both_ok else "-"
        same = ("yes" if theirs.steps == ours.steps else "**no**") if both_ok else "-"
        print(f"| {nodes} | {instances} | {theirs.cell(f'{theirs.wall:.3f}')}"
              f" | {ours.cell(f'{ours.wall:.3f}')} | {len(theirs.steps)}/{len(ours.steps)}"
              f" | {theirs.cell(f'{per_step(theirs):.3f}')} | {ours.cell(f'{per_step(ours):.3f}')}"
              f" | {ratio} | {theirs.rss()} | {ours.rss()} | {same} |")
        agreed = agreed and same == "yes"
    return 0 if agreed else 1


if __name__ == "__main__":
    sys.exit(main())
