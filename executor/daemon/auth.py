"""Who may do what: Ganeti's RAPI users file and HTTP Basic authentication.

The file has Ganeti's format (``doc/rapi.rst``): ``user password [options]``
per line, ``#`` comments, passwords in clear text, ``{cleartext}...`` or
``{ha1}<md5 of "user:Ganeti Remote API:password">`` (schemes in any case),
options ``read`` and ``write`` separated by commas.  Ganeti skips lines it
cannot read with a warning in its log; a daemon started by hand should not
come up with fewer users than its operator wrote, so here any such line stops
start-up with a one-line message naming the line.

The decisions follow Ganeti's ``RemoteApiHandler``: requests that need no
permission (reads) are answered without credentials; credentials that are
sent must be right (else 401, with the realm); writes, and ``/wait``, need a
user with the ``write`` option (else 403 for a known user, 401 without one).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

REALM = "Ganeti Remote API"
OPTIONS = ("read", "write")


class UsersFileError(Exception):
    """The users file cannot be used; the text is the one-line reason."""


@dataclass(frozen=True)
class User:
    name: str
    password: str  # as written in the file, scheme included
    options: frozenset[str]

    def check(self, password: str) -> bool:
        scheme, _, expected = _split_scheme(self.password)
        if scheme == "{CLEARTEXT}":
            return password == expected
        digest = hashlib.md5(f"{self.name}:{REALM}:{password}".encode()).hexdigest()
        return expected.lower() == digest


def _split_scheme(password: str) -> tuple[str, str, str]:
    """(scheme in capitals, "}", the rest); a password without braces is clear text."""
    if not password.startswith("{"):
        return "{CLEARTEXT}", "", password
    end = password.find("}", 1)
    return password[:end + 1].upper(), "}", password[end + 1:]


def parse_users(text: str, path: str) -> dict[str, User]:
    users: dict[str, User] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        parts = line.split(None, 2)
        if len(parts) < 2:
            raise UsersFileError(f"{where}: expected 'user password [options]'")
        name, password = parts[:2]
        if password.startswith("{") and (password.find("}", 1) <= 1 or _split_scheme(
                password)[0] not in ("{CLEARTEXT}", "{HA1}")):
            raise UsersFileError(f"{where}: unknown password scheme (use {{cleartext}} "
                                 "or {ha1})")
        options = frozenset(o.strip() for o in parts[2].split(",")) if len(parts) > 2 \
            else frozenset()
        unknown = sorted(options - set(OPTIONS))
        if unknown:
            raise UsersFileError(f"{where}: unknown option '{unknown[0]}' "
                                 f"(known: {', '.join(OPTIONS)})")
        users[name] = User(name, password, options)
    return users


def load_users(path: str) -> dict[str, User]:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as err:
        raise UsersFileError(f"cannot read users file {path}: "
                             f"{getattr(err, 'strerror', None) or err}") from None
    return parse_users(text, path)


@dataclass(frozen=True)
class Decision:
    """The answer to a request's credentials: 0 to go ahead, or the HTTP status."""

    status: int
    user: str | None = None


def decide(users: dict[str, User] | None, header: str | None, needs_write: bool) -> Decision:
    """Ganeti's rules; without a users file (loopback only) everything is allowed."""
    if users is None:
        return Decision(0)
    if not header:
        return Decision(401 if needs_write else 0)
    scheme, _, data = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return Decision(401)
    try:
        name, sep, password = base64.b64decode(data.strip(), validate=True).decode(
            "ascii").partition(":")
    except (binascii.Error, UnicodeError):
        return Decision(401)
    user = users.get(name)
    if not sep or user is None or not user.check(password):
        return Decision(401)
    if needs_write and "write" not in user.options:
        return Decision(403, name)
    return Decision(0, name)
