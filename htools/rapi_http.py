"""HTTP transport to a Ganeti RAPI endpoint, shared by the RAPI backend and the executor.

Both read a cluster string the way Ganeti's tools do (a bare name means
``https://NAME:5080``), send HTTP Basic credentials given in the URL, do not check
TLS certificates unless asked to, and must turn every transport failure into a
one-line message that names the URL (password masked) and the reason in plain
words.  Keeping that here means one set of rules for reading and for writing.
"""

from __future__ import annotations

import html
import json
import socket
import ssl
import time
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3.exceptions

RAPI_PORT = 5080
CONNECT_TIMEOUT = 15.0
TOTAL_TIMEOUT = 60.0

# requests' ``verify``: False (Ganeti's default), True (system CAs) or a CA bundle path.
Verify = bool | str


class HttpFailure(Exception):
    """A request did not produce a usable response; the text is the one-line reason."""


def base_url(cluster: str) -> str:
    """Ganeti's rule: a bare name means ``https://NAME:5080``, else use as given."""
    if ":" not in cluster:
        return f"https://{cluster}:{RAPI_PORT}"
    return cluster


def endpoint(cluster: str) -> str:
    """The URL requests go to: Ganeti's rule, and plain HTTP when no scheme is given.

    ``host:5080`` is fetched over plain HTTP, as curl (Ganeti's transport) would.
    """
    url = base_url(cluster)
    return url if "://" in url else "http://" + url


def masked(url: str) -> str:
    """The URL with any password replaced, for error messages."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:  # malformed, e.g. an unclosed IPv6 bracket
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _causes(err: BaseException) -> list[BaseException]:
    """The exception and everything it wraps (requests nests urllib3 and socket errors)."""
    chain: list[BaseException] = []
    cause: BaseException | None = err
    while cause is not None and all(cause is not seen for seen in chain):
        chain.append(cause)
        nxt = cause.__cause__ or cause.__context__ or getattr(cause, "reason", None)
        cause = nxt if isinstance(nxt, BaseException) else None
    return chain


def failure_reason(err: requests.exceptions.RequestException) -> str:
    """The most specific cause of a request failure, in plain words.

    Causes are matched by priority, not by position: urllib3 reports a
    refused connection as a kind of connect *timeout*, for instance.
    """
    chain = _causes(err)
    if any(isinstance(c, ConnectionRefusedError) for c in chain):
        return "connection refused"
    if any(isinstance(c, socket.gaierror) for c in chain):
        return "could not resolve host"
    for cause in chain:
        if isinstance(cause, ssl.SSLError):
            return f"TLS error ({cause.reason or cause})"
    if isinstance(err, requests.exceptions.ConnectTimeout):
        return f"could not connect within {CONNECT_TIMEOUT:g} s"
    if any(isinstance(c, (TimeoutError, urllib3.exceptions.TimeoutError)) for c in chain):
        return "timed out"
    if isinstance(err, requests.exceptions.SSLError):
        return "TLS error"
    if isinstance(err, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema,
                        requests.exceptions.MissingSchema)):
        return "invalid URL"
    if isinstance(err, requests.exceptions.ConnectionError):
        return "connection failed"
    return type(err).__name__


@dataclass(frozen=True)
class Response:
    """A complete HTTP response whose body is UTF-8 text."""

    status: int
    reason: str
    text: str

    def error_text(self) -> str:
        """``HTTP <code> <reason>``, plus the detail of a Ganeti error body.

        Ganeti's RAPI answers errors with ``{"code", "message", "explain"}``:
        ``message`` is the specific text (HTML-escaped), or just the status
        phrase when there is none, and ``explain`` the status' standard
        explanation.  The specific text is what tells an operator which
        parameter was wrong, so it wins; servers that put it in ``explain``
        are understood too.
        """
        head = f"HTTP {self.status} {self.reason or ''}".rstrip()
        try:
            body = json.loads(self.text)
        except ValueError:
            return head
        if isinstance(body, dict):
            for key in ("message", "explain"):
                detail = body.get(key)
                if isinstance(detail, str) and detail and detail != self.reason:
                    return f"{head}: {' '.join(html.unescape(detail).split())}"
        return head


def send(session: requests.Session, method: str, url: str, *, verify: Verify,
         body: Any = None, fail_status: bool = True,
         timeout: float | None = None) -> Response:
    """One request with a connect timeout and an overall deadline.

    ``body`` (any JSON value) is sent as ``application/json``, as RAPI requires
    for requests with a body; Ganeti's ``/2/jobs/ID/wait`` takes a body even on
    GET.  With ``fail_status`` an HTTP error status raises before the body is
    read.  ``timeout`` (default :data:`TOTAL_TIMEOUT`) bounds the whole
    exchange.  Every failure raises :class:`HttpFailure` with
    ``Request for '<url>' failed: <reason>``.
    """
    if timeout is None:
        timeout = TOTAL_TIMEOUT
    deadline = time.monotonic() + timeout
    shown = masked(url)
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            with session.request(method, url, data=data, headers=headers,
                                 timeout=(CONNECT_TIMEOUT, timeout), verify=verify,
                                 stream=True) as response:
                status, reason = response.status_code, response.reason or ""
                if fail_status and status >= 400:
                    raise HttpFailure(f"Request for '{shown}' failed: HTTP {status} "
                                      f"{reason}".rstrip())
                chunks = []
                for chunk in response.iter_content(1 << 16):
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise HttpFailure(f"Request for '{shown}' failed: timed out")
    except requests.exceptions.RequestException as err:
        raise HttpFailure(f"Request for '{shown}' failed: {failure_reason(err)}") from None
    try:
        text = b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        raise HttpFailure(f"Request for '{shown}' failed: response is not UTF-8 text") \
            from None
    return Response(status, reason, text)
