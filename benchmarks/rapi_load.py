"""Load test of hrapid: many concurrent bulk instance listings, throughput and latency.

Run from the repository root: ``python -m benchmarks.rapi_load [--instances 1000]
[--requests 1000] [--concurrency 1000]``.  It starts ``hrapid`` on a generated cluster
(``--instances`` drbd instances on ``--instances / 8`` nodes) on a free loopback port,
opens ``--concurrency`` connections at once and sends ``GET /2/instances?bulk=1`` over
them until ``--requests`` answers have arrived, then prints a markdown row: requests,
concurrency, wall seconds, requests per second, median / p99 / max latency, failures.

The client is asyncio over raw sockets (no thread per request), so on a small machine it
costs the daemon as little CPU as possible; both still share the machine, so the numbers
are a lower bound for a daemon on its own host.  Every answer is checked: status 200 and the
same body as the first, a JSON list of ``--instances`` entries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fixtures.generator import GenParams, generate
from htools.backends.text import dump_text

PATH = "/2/instances?bulk=1"


async def _one(host: str, port: int, latencies: list[float], failures: list[str],
               count: int, expected: int, reference: dict) -> None:
    """Send ``count`` requests over one keep-alive connection, timing each.

    The cluster does not change, so every answer must equal the first, which is
    parsed once (parsing each would cost the shared machine more than serving it).
    """
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 26)
    request = f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    try:
        for _ in range(count):
            start = time.perf_counter()
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if status != 200:
                failures.append(f"HTTP {status}")
            elif "body" not in reference:
                reference["body"] = body
                if len(json.loads(body)) != expected:
                    failures.append("wrong number of instances")
            elif body != reference["body"]:
                failures.append("answers differ")
    except (OSError, asyncio.IncompleteReadError, ValueError) as err:
        failures.append(f"{type(err).__name__}: {err}")
    finally:
        writer.close()


async def _drive(host: str, port: int, requests: int, concurrency: int, expected: int,
                 ) -> tuple[float, list[float], list[str]]:
    latencies: list[float] = []
    failures: list[str] = []
    per = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]
    reference: dict = {}
    start = time.perf_counter()
    await asyncio.gather(*(_one(host, port, latencies, failures, n, expected, reference)
                           for n in per if n))
    return time.perf_counter() - start, latencies, failures


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=1000)
    a = ap.parse_args(argv)
    cluster = generate(GenParams(nodes=max(2, a.instances // 8), instances=a.instances,
                                 mix=(("drbd", 1.0),)), 1)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "cluster.data"
        data.write_text(dump_text(cluster), encoding="utf-8")
        proc = subprocess.Popen(
            [sys.executable, "-m", "executor.daemon.server", "--state", str(Path(tmp) / "s"),
             "--init-from", str(data), "--port", "0"],
            stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stderr.readline()
            match = re.search(r"serving http://([\d.]+):(\d+)", line)
            if not match:
                print(f"hrapid did not start: {line}{proc.stderr.read()}", file=sys.stderr)
                return 1
            host, port = match.group(1), int(match.group(2))
            wall, latencies, failures = asyncio.run(
                _drive(host, port, a.requests, a.concurrency, len(cluster.instances)))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print("| instances | requests | concurrent | seconds | requests/s | median ms | "
          "p99 ms | max ms | failed |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {a.instances} | {len(latencies)} | {a.concurrency} | {wall:.1f} | "
          f"{len(latencies) / wall:.0f} | {1000 * _percentile(latencies, 0.5):.0f} | "
          f"{1000 * _percentile(latencies, 0.99):.0f} | {1000 * max(latencies):.0f} | "
          f"{len(failures)} |")
    for reason in sorted(set(failures))[:5]:
        print(f"failure: {reason}", file=sys.stderr)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
