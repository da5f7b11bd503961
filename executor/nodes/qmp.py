"""A small client of QEMU's monitor protocol (QMP) over any byte stream.

QMP is a conversation, not a one-shot command: the server greets, the client
must enter command mode with ``qmp_capabilities``, and asynchronous events may
arrive between a command and its reply.  The client therefore works on a pair
of binary streams, so one class serves a unix socket on this host and the
pipes of ``ssh node socat STDIO UNIX-CONNECT:...`` alike.
"""

from __future__ import annotations

import json
import select
import time
from typing import IO, Any


class QmpError(Exception):
    """The monitor answered with an error, spoke something else than QMP, or went away."""


class QmpClient:
    """One QMP session: greeting and capabilities on :meth:`connect`, then commands."""

    def __init__(self, reader: IO[bytes], writer: IO[bytes]) -> None:
        self.reader = reader
        self.writer = writer
        self.events: list[dict] = []

    def _receive(self) -> dict:
        line = self.reader.readline()
        if not line:
            raise QmpError("the monitor closed the connection")
        try:
            message = json.loads(line)
        except ValueError:
            raise QmpError(f"not a QMP message: {line[:200]!r}") from None
        if not isinstance(message, dict):
            raise QmpError(f"not a QMP message: {line[:200]!r}")
        return message

    def connect(self) -> dict:
        """Read the greeting and enter command mode; the greeting's ``QMP`` part is returned."""
        greeting = self._receive()
        if "QMP" not in greeting:
            raise QmpError(f"no QMP greeting: {greeting}")
        self.execute("qmp_capabilities")
        return greeting["QMP"]

    def execute(self, command: str, arguments: dict | None = None) -> Any:
        """Run ``command``; its ``return`` value, or QmpError with the monitor's description.

        Events that arrive before the reply are kept in :attr:`events`, since
        QMP interleaves them freely with replies.
        """
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        self.writer.write(json.dumps(request).encode() + b"\r\n")
        self.writer.flush()
        while True:
            message = self._receive()
            if "event" in message:
                self.events.append(message)
            elif "error" in message:
                error = message["error"]
                raise QmpError(f"{command}: {error.get('class')}: {error.get('desc')}")
            elif "return" in message:
                return message["return"]
            else:
                raise QmpError(f"unexpected QMP reply to {command}: {message}")

    def wait_closed(self, timeout: float) -> bool:
        """Whether QEMU closed the monitor (it exited) within ``timeout`` seconds.

        After ``system_powerdown`` this is how a caller learns the guest has
        shut down: QEMU emits ``SHUTDOWN`` and exits, ending the stream.
        """
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([self.reader], [], [], left)
            if ready:
                line = self.reader.readline()
                if not line:
                    return True
                self.events.append(json.loads(line))
