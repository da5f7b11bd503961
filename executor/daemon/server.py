"""``hrapid``: the RAPI daemon's HTTP(S) front and command line.

Start-up checks everything an operator can get wrong (state directory,
cluster file, users file, TLS files, address) and stops with one line on
standard error, so a daemon that runs is a daemon that works.  Access rule:
without ``--users`` every request is allowed, so that mode is refused unless
the daemon listens on a loopback address only; plain HTTP is likewise only
for loopback, anything else needs ``--tls-cert`` and ``--tls-key``.

Each request is answered by its own thread; bodies are JSON
(``Content-Type: application/json``, at most :data:`MAX_BODY` bytes) and
every failure, including an unexpected one, becomes a JSON error in Ganeti's
shape rather than a dropped connection.
"""

from __future__ import annotations

import argparse
import html
import ipaddress
import json
import logging
import os
import shlex
import signal
import ssl
import sys
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from executor.daemon.auth import REALM, User, UsersFileError, decide, load_users
from executor.daemon.queue import JobQueue
from executor.daemon.resources import HttpError, Request, Resources, Settings
from executor.daemon.store import Store, StoreError
from executor.nodes.apply import NodeExecutor, address_book
from executor.nodes.commands import CommandDriver
from executor.nodes.plans import Context
from executor.nodes.runner import LocalRunner, RecordingRunner, Runner, SshRunner
from htools.backends.text import load_text
from htools.errors import DataError
from solver.jit import small_cluster, use_jit

MAX_BODY = 1 << 20
log = logging.getLogger("hrapid")


class StartupError(Exception):
    """hrapid cannot start; the text is the one-line reason."""


def error_body(status: int, message: str = "") -> bytes:
    """Ganeti's error document: the message (or the status' phrase) and its explanation."""
    short, explain = BaseHTTPRequestHandler.responses.get(status, ("Unknown", "Unknown"))
    return json.dumps({"code": status, "message": html.escape(message or short),
                       "explain": explain}).encode()


def make_handler(resources: Resources,
                 users: dict[str, User] | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "hrapid"

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), fmt % args)

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str = "") -> None:
            headers = ({"WWW-Authenticate": f'Basic realm="{REALM}"'} if status == 401
                       else None)
            self._send(status, error_body(status, message), headers)

        def _body(self) -> Any:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                raise HttpError(400, "Invalid Content-Length") from None
            if length > MAX_BODY:
                self.close_connection = True
                raise HttpError(413, f"Request body larger than {MAX_BODY} bytes")
            raw = self.rfile.read(length) if length > 0 else b""
            if not raw:
                return None
            kind = (self.headers.get("Content-Type") or "application/octet-stream")
            if kind.split(";")[0].strip().lower() != "application/json":
                raise HttpError(415)
            try:
                return json.loads(raw)
            except (ValueError, RecursionError):
                raise HttpError(400, "Unable to parse JSON data") from None

        def _handle(self, method: str) -> None:
            try:
                parts = urlsplit(self.path)
                path = [unquote(p) for p in parts.path.split("/") if p]
                body = self._body()
                decision = decide(users, self.headers.get("Authorization"),
                                  resources.needs_write(method, path))
                if decision.status:
                    raise HttpError(decision.status)
                answer = resources.handle(Request(method, path, parse_qs(parts.query), body))
            except HttpError as err:
                self._error(err.status, err.message)
                return
            except Exception:  # a bug must not kill the connection without an answer
                log.exception("internal error on %s %s", method, self.path)
                self._error(500)
                return
            self._send(200, answer if isinstance(answer, bytes) else json.dumps(answer).encode())

    for method in ("GET", "PUT", "POST", "DELETE"):  # http.server's do_<METHOD> hooks
        setattr(Handler, f"do_{method}", lambda self, m=method: self._handle(m))
    return Handler


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise StartupError("--tls-cert and --tls-key go together")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as err:
        raise StartupError(f"cannot load TLS certificate {cert} / key {key}: "
                           f"{getattr(err, 'strerror', None) or err}") from None
    return context


def _node_executor(opts: argparse.Namespace) -> NodeExecutor | None:
    """The node driver the options ask for; None is the simulation (no commands)."""
    if opts.driver == "sim":
        return None
    known: dict[str, str] = {}
    for pair in opts.node_address:
        name, sep, address = pair.partition("=")
        if not sep or not name or not address:
            raise StartupError(f"--node-address wants NAME=ADDRESS, not {pair!r}")
        known[name] = address
    runner: Runner
    if opts.runner == "local":
        runner = LocalRunner()
    elif opts.runner == "ssh":
        runner = SshRunner(shlex.split(opts.ssh), opts.ssh_user)
    elif opts.record is None:
        raise StartupError("--runner record needs --record FILE")
    else:
        runner = RecordingRunner(log=opts.record)
    layout = os.path.join(opts.state, "drbd-layout.json")
    try:
        return NodeExecutor(CommandDriver(runner),
                            Context(vg=opts.vg, address=address_book(known)), layout)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise StartupError(f"cannot read the DRBD layout {layout}: {err}") from None


class _Server(ThreadingHTTPServer):
    """A listen backlog for bursts of clients (the default of 5 resets connections)."""

    request_queue_size = 1024
    daemon_threads = True


class Daemon:
    """The store, the queue and the HTTP server of one ``hrapid``."""

    def __init__(self, opts: argparse.Namespace) -> None:
        if opts.users is None and not _is_loopback(opts.bind):
            raise StartupError(f"--users is required to listen on {opts.bind} "
                               "(without it only loopback addresses are allowed)")
        tls = _tls_context(opts.tls_cert, opts.tls_key)
        nodes = _node_executor(opts)
        if tls is None and not _is_loopback(opts.bind):
            raise StartupError(f"plain HTTP is only allowed on loopback; give --tls-cert "
                               f"and --tls-key to listen on {opts.bind}")
        try:
            users = None if opts.users is None else load_users(opts.users)
            initial = None if opts.init_from is None else load_text(opts.init_from)
            self.store = Store(opts.state)
        except (UsersFileError, DataError, StoreError) as err:
            raise StartupError(str(err)) from None
        if initial is not None:
            self.store.init_cluster(initial)
        cluster = self.store.load_cluster()
        if cluster is None:
            raise StartupError(f"no cluster stored in {opts.state}; start once with "
                               "--init-from FILE")
        # Our iallocator's kernels: compiled only when the cluster is big enough to pay.
        use_jit(not small_cluster(len(cluster.nodes), len(cluster.instances)))
        self.queue = JobQueue(self.store, cluster, workers=opts.workers,
                              op_delay=opts.op_delay, nodes=nodes)
        settings = Settings(cluster_name=opts.cluster_name, hypervisor=opts.hypervisor)
        handler = make_handler(Resources(self.queue, settings), users)
        try:
            self.httpd = _Server((opts.bind, opts.port), handler)
        except OSError as err:
            raise StartupError(f"cannot listen on {opts.bind}:{opts.port}: "
                               f"{err.strerror or err}") from None
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        host, port = self.httpd.server_address[:2]
        self.url = f"{'https' if tls else 'http'}://{host}:{port}"

    def serve(self) -> None:
        self.queue.start()
        try:
            self.httpd.serve_forever(poll_interval=0.1)
        finally:
            self.queue.stop()
            self.httpd.server_close()
            self.store.close()

    def shutdown(self) -> None:
        threading.Thread(target=self.httpd.shutdown, daemon=True).start()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hrapid", description="A Ganeti RAPI v2 daemon over a simulated cluster "
        "(or, with --driver commands, over real nodes).")
    parser.add_argument("--state", required=True, metavar="DIR",
                        help="directory of the daemon's database (created if missing)")
    parser.add_argument("--init-from", metavar="FILE",
                        help="load the cluster from a Ganeti text file (replaces the stored one)")
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=5080,
                        help="port to listen on (0: any free port)")
    parser.add_argument("--users", metavar="FILE", help="RAPI users file (Ganeti's format)")
    parser.add_argument("--tls-cert", metavar="FILE", help="TLS certificate (PEM)")
    parser.add_argument("--tls-key", metavar="FILE", help="TLS private key (PEM)")
    parser.add_argument("--workers", type=int, default=4, help="jobs run at the same time")
    parser.add_argument("--op-delay", type=float, default=0.0, metavar="SECONDS",
                        help="time each opcode takes in the simulation")
    parser.add_argument("--cluster-name", default="hrapid", help="name in /2/info")
    parser.add_argument("--hypervisor", default="xen-pvm",
                        help="the cluster's hypervisor in /2/info (text files carry none)")
    nodes = parser.add_argument_group("node driver")
    nodes.add_argument("--driver", choices=("sim", "commands"), default="sim",
                       help="sim: opcodes only change the stored cluster; commands: they also "
                       "run LVM, DRBD and KVM commands on the nodes")
    nodes.add_argument("--runner", choices=("local", "ssh", "record"), default="ssh",
                       help="how --driver commands reaches the nodes: this host, SSH, or "
                       "nowhere (record the commands in --record FILE)")
    nodes.add_argument("--record", metavar="FILE",
                       help="JSON-lines file the record runner appends each command to")
    nodes.add_argument("--ssh", default="ssh -oBatchMode=yes",
                       help="the SSH command (split like a shell would)")
    nodes.add_argument("--ssh-user", default="root", help="the user commands run as")
    nodes.add_argument("--vg", default="xenvg", help="the volume group of instance disks")
    nodes.add_argument("--node-address", action="append", default=[], metavar="NAME=ADDRESS",
                       help="a node's (DRBD and migration) address; others are resolved")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="hrapid: %(message)s")
    try:
        daemon = Daemon(opts)
    except StartupError as err:
        print(f"hrapid: {err}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: daemon.shutdown())
    signal.signal(signal.SIGINT, lambda *_: daemon.shutdown())
    print(f"hrapid: serving {daemon.url} (state {opts.state})", file=sys.stderr, flush=True)
    daemon.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
