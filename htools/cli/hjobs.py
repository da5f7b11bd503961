"""hjobs: Ganeti's job queue over RAPI, shaped like ``gnt-job list|info|watch``.

``gnt-job`` only runs on the master node (it talks Luxi); hjobs gives the same
views from anywhere a RAPI endpoint is reachable, a real Ganeti cluster's or
ours.  RAPI exposes fewer job fields than Luxi (no per-opcode timestamps), so
those show as ``N/A``.  This tool is our addition, so its command line is
argparse's rather than Ganeti's GetOpt.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from io import StringIO
from typing import Any

from executor.rapi_client import JOB_FINAL, RapiClient, RapiError, job_status
from htools.cli.common import die
from htools.rapi_http import Verify

DEFAULT_FIELDS = ["id", "status", "summary"]
STATUS_FILTERS = {
    "pending": ("queued", "waiting", "canceling"),
    "running": ("running",),
    "error": ("error",),
    "finished": JOB_FINAL,
}


def format_timestamp(ts: Any) -> str:
    """Ganeti's FormatTimestamp: ``[seconds, microseconds]`` in local time."""
    if not isinstance(ts, list) or len(ts) != 2 or not all(isinstance(v, int) for v in ts):
        return "?" if ts is not None else "N/A"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts[0])) + ".%06d" % ts[1]


def _joined(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


# RAPI's bulk job fields (rlib2.J_FIELDS_BULK): title, right-aligned, formatter.
FIELDS: dict[str, tuple[str, bool, Callable[[Any], str]]] = {
    "id": ("ID", True, str),
    "status": ("Status", False, str),
    "summary": ("Summary", False, _joined),
    "ops": ("OpCodes", False,
            lambda ops: _joined([op.get("OP_ID") if isinstance(op, dict) else op
                                 for op in ops]) if isinstance(ops, list) else str(ops)),
    "opstatus": ("OpCode_status", False, _joined),
    "received_ts": ("Received", False, format_timestamp),
    "start_ts": ("Start", False, format_timestamp),
    "end_ts": ("End", False, format_timestamp),
}


def parse_fields(spec: str | None) -> list[str]:
    """``-o``: a field list, or ``+a,b`` to extend the default one (gnt-job's rule)."""
    if not spec:
        return list(DEFAULT_FIELDS)
    fields = DEFAULT_FIELDS + spec[1:].split(",") if spec.startswith("+") else spec.split(",")
    unknown = [f for f in fields if f not in FIELDS]
    if unknown:
        die(f"Unknown field(s): {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    return fields


def format_table(rows: list[list[str]], titles: list[str], right: list[bool],
                 header: bool, separator: str | None) -> list[str]:
    """Ganeti's FormatTable: space-padded columns, the last one unpadded if left-aligned."""
    data = ([titles] if header else []) + rows
    if separator is not None:
        return [separator.join(row) for row in data]
    widths = [max((len(row[i]) for row in data), default=0) for i in range(len(titles))]
    if titles and not right[-1]:
        widths[-1] = 0
    return [" ".join(cell.rjust(w) if r else cell.ljust(w)
                     for cell, w, r in zip(row, widths, right, strict=True)) for row in data]


def list_jobs(client: RapiClient, args: argparse.Namespace) -> int:
    fields = parse_fields(args.output)
    jobs = [job for job in client.jobs(bulk=True) if isinstance(job, dict)]
    if args.job_ids:
        wanted = set(args.job_ids)
        jobs = [job for job in jobs if job.get("id") in wanted]
    if args.status_filter:
        jobs = [job for job in jobs if job.get("status") in STATUS_FILTERS[args.status_filter]]
    jobs.sort(key=lambda job: job.get("id") if isinstance(job.get("id"), int) else -1)
    rows = [[FIELDS[f][2](job.get(f)) for f in fields] for job in jobs]
    for line in format_table(rows, [FIELDS[f][0] for f in fields],
                             [FIELDS[f][1] for f in fields], not args.no_headers,
                             args.separator):
        print(line)
    return 0


def _delta(a: Any, b: Any) -> float:
    return b[0] - a[0] + (b[1] - a[1]) / 1e6


def _timestamp_entry(name: str, ts: Any, prior: Any = None) -> tuple[str, str, str]:
    if ts is None:
        return name, "unknown (None)", "job_timestamp"
    text = format_timestamp(ts)
    if prior is not None:
        text += " (delta %.6fs)" % _delta(prior, ts)
    return name, text, "job_timestamp"


def job_info(job: dict) -> list:
    """One job as gnt-job info orders it (an ordered mapping: a list of tuples)."""
    received, start, end = job.get("received_ts"), job.get("start_ts"), job.get("end_ts")
    info: list = [("Job ID", job.get("id")), ("Status", job_status(job)),
                  _timestamp_entry("Received", received),
                  _timestamp_entry("Processing start", start, received),
                  _timestamp_entry("Processing end", end, start)]
    info.append(("Total processing time", "%.6f seconds" % _delta(received, end)
                 if received is not None and end is not None else "N/A"))
    ops = job.get("ops") or []
    results = job.get("opresult") or [None] * len(ops)
    statuses = job.get("opstatus") or [None] * len(ops)
    logs = job.get("oplog") or [[]] * len(ops)
    opcodes = []
    for op, result, status, log in zip(ops, results, statuses, logs, strict=False):
        entry: list = [("Opcode", op.get("OP_ID") if isinstance(op, dict) else op),
                       ("Status", status)]
        entry += [(name, "N/A", "opcode_timestamp")
                  for name in ("Processing start", "Execution start", "Processing end")]
        entry += [("Input fields", op), ("Result", result)]
        entry.append(("Execution log", [
            [("Time", format_timestamp(e[1])), ("Content", (e[0], e[2], _message(e[3])))]
            for e in log if isinstance(e, list) and len(e) == 4]))
        opcodes.append(entry)
    info.append(("Opcodes", opcodes))
    return info


def _message(message: Any) -> str:
    return message[-1] if isinstance(message, list) and message else str(message)


def _scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list, tuple))


def generic_info(data: Any, level: int = 0, after_key: bool = False) -> str:
    """Ganeti's PrintGenericInfo: YAML-like, mappings sorted, ordered ones aligned."""
    indent = "  "
    buf = StringIO()

    def entries(items: list[tuple], keyed: bool) -> None:
        groups: dict[Any, int] = {}
        for item in items:
            if len(item) > 2:
                groups[item[2]] = max(groups.get(item[2], 0), len(item[0]))
        if after_key:
            buf.write("\n")
        for n, item in enumerate(items):
            if after_key or n:
                buf.write(indent * level)
            key = item[0]
            pad = " " * (groups[item[2]] - len(key)) if len(item) > 2 else ""
            buf.write(f"{key}: {pad}")
            buf.write(generic_info(item[1], level + 1, True))

    if isinstance(data, dict):
        if not data:
            buf.write("\n")
        else:
            entries([(key, data[key]) for key in sorted(data)], True)
    elif isinstance(data, list) and data and isinstance(data[0], tuple):
        entries(data, True)
    elif isinstance(data, tuple) and all(_scalar(v) for v in data):
        buf.write("[%s]\n" % ", ".join(str(v) for v in data))
    elif isinstance(data, (list, tuple)):
        if not data:
            buf.write("\n")
        else:
            if after_key:
                buf.write("\n")
            for n, item in enumerate(data):
                if after_key or n:
                    buf.write(indent * level)
                buf.write("- " + generic_info(item, level + 1))
    else:
        buf.write(f"{data}\n")
    return buf.getvalue()


def show_jobs(client: RapiClient, args: argparse.Namespace) -> int:
    infos: list = []
    for job_id in args.job_ids:
        try:
            infos.append(job_info(client.job(job_id)))
        except RapiError as err:
            if err.status != 404:
                raise
            infos.append(f"Job ID {job_id} not found")
    print(generic_info(infos).rstrip("\n"))
    return 0


_FAILURES = {"OpExecError": "Failure: command execution error:\n",
             "OpPrereqError": "Failure: prerequisites not met for this operation:\n"}


def failure_text(job: dict) -> str:
    """Why a job failed, worded as gnt-job's error formatting words it."""
    if job_status(job) in ("canceled", "canceling"):
        return "Unhandled Ganeti error: Job was canceled"
    for status, result in zip(job.get("opstatus") or [], job.get("opresult") or [],
                              strict=False):
        if status == "error":
            if isinstance(result, list) and len(result) == 2 and isinstance(result[1], list):
                kind, detail = result[0], result[1][0] if result[1] else ""
                return _FAILURES.get(kind, "Unhandled Ganeti error: ") + str(detail)
            return f"Unhandled Ganeti error: {result}"
    return f"Unhandled Ganeti error: {job.get('opresult')}"


def watch_job(client: RapiClient, args: argparse.Namespace) -> int:
    job_id = args.job_id
    title = f"Output from job {job_id} follows"
    print(title)
    print("-" * len(title), flush=True)

    def show(entry: list) -> None:
        ts = entry[1]
        when = ts[0] + ts[1] / 1e6 if isinstance(ts, list) and len(ts) == 2 else time.time()
        print(f"{time.ctime(when)} {_message(entry[3])}", flush=True)

    told: set[str] = set()

    def unchanged(status: str) -> None:
        """gnt-job's notes, once each, while a job does not start."""
        note = {"queued": "is waiting in queue",
                "waiting": "is trying to acquire all necessary locks"}.get(status)
        if note and status not in told:
            told.add(status)
            print(f"Job {job_id} {note}", file=sys.stderr, flush=True)

    final = client.wait_job(job_id, show, unchanged)
    if job_status(final) == "success":
        return 0
    sys.stdout.flush()
    print(f"Job {job_id} failed: {failure_text(final)}", file=sys.stderr)
    return 1


def _job_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"Invalid job ID passed: {text!r}") from None


def parser() -> argparse.ArgumentParser:
    # The connection options are accepted before and after the command; SUPPRESS keeps
    # a sub-command's unset option from hiding the value given before the command.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("-m", "--master", metavar="CLUSTER",
                        help="RAPI endpoint (required): NAME (https://NAME:5080) or URL; "
                             "credentials as https://USER:PASSWORD@HOST:PORT")
    tls = common.add_mutually_exclusive_group()
    tls.add_argument("--ca-cert", metavar="FILE",
                     help="check the server's TLS certificate against FILE")
    tls.add_argument("--verify-tls", action="store_true",
                     help="check the server's TLS certificate against the system CAs")
    top = argparse.ArgumentParser(prog="hjobs", parents=[common], description="Ganeti jobs "
                                  "over RAPI, like gnt-job list|info|watch.")
    sub = top.add_subparsers(dest="command", required=True)
    lst = sub.add_parser("list", parents=[common], help="list jobs and their status")
    lst.add_argument("job_ids", nargs="*", type=_job_id, metavar="JOB_ID")
    lst.add_argument("-o", "--output", metavar="FIELDS",
                     help=f"fields ({', '.join(FIELDS)}); +FIELDS adds to the default "
                          f"({', '.join(DEFAULT_FIELDS)})")
    lst.add_argument("--no-headers", action="store_true", help="omit the header line")
    lst.add_argument("--separator", metavar="SEP", help="separate columns with SEP")
    states = lst.add_mutually_exclusive_group()
    for name in STATUS_FILTERS:
        states.add_argument(f"--{name}", dest="status_filter", action="store_const",
                            const=name, help=f"only {', '.join(STATUS_FILTERS[name])} jobs")
    info = sub.add_parser("info", parents=[common], help="show jobs in detail")
    info.add_argument("job_ids", nargs="+", type=_job_id, metavar="JOB_ID")
    watch = sub.add_parser("watch", parents=[common], help="follow a job's log until it ends")
    watch.add_argument("job_id", type=_job_id, metavar="JOB_ID")
    return top


COMMANDS: dict[str, Callable[[RapiClient, argparse.Namespace], int]] = {
    "list": list_jobs, "info": show_jobs, "watch": watch_job}


def main(argv: list[str] | None = None) -> None:
    cli = parser()
    args = cli.parse_args(argv)
    if "master" not in args:
        cli.error("the following arguments are required: -m/--master")
    if "ca_cert" in args and "verify_tls" in args:
        cli.error("argument --verify-tls: not allowed with argument --ca-cert")
    verify: Verify = getattr(args, "ca_cert", None) or bool(getattr(args, "verify_tls", False))
    try:
        with RapiClient(args.master, verify=verify) as client:
            code = COMMANDS[args.command](client, args)
    except RapiError as err:
        die(str(err))
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code)


if __name__ == "__main__":
    main()
