"""hrapid's users file and access decisions (Ganeti's RAPI rules)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from executor.daemon.auth import UsersFileError, decide, parse_users

HA1 = hashlib.md5(b"jack:Ganeti Remote API:abc123").hexdigest()
USERS = parse_users(f"""
# comment
jack {{HA1}}{HA1.upper()} write
jill {{ClearText}}{{braces}} read
joe plain
""", "users")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_parse() -> None:
    assert sorted(USERS) == ["jack", "jill", "joe"]
    assert USERS["jack"].options == {"write"} and USERS["joe"].options == set()


@pytest.mark.parametrize(("header", "write", "status"), [
    (None, False, 0),  # reads need no credentials
    (None, True, 401),
    (basic("jack", "abc123"), True, 0),  # {HA1}, schemes and digests in any case
    (basic("jack", "abc124"), False, 401),  # wrong credentials fail even for reads
    (basic("jill", "{braces}"), False, 0),
    (basic("jill", "{braces}"), True, 403),  # known user without write
    (basic("joe", "plain"), True, 403),
    (basic("nobody", "plain"), False, 401),
    ("Digest abc", False, 401),
    ("Basic !!!", False, 401),
])
def test_decide(header: str | None, write: bool, status: int) -> None:
    assert decide(USERS, header, write).status == status


def test_without_users_everything_is_allowed() -> None:
    assert decide(None, None, True).status == 0


@pytest.mark.parametrize(("text", "message"), [
    ("jack", "f:1: expected 'user password [options]'"),
    ("jack {}x", "f:1: unknown password scheme (use {cleartext} or {ha1})"),
    ("jack {SHA}x", "f:1: unknown password scheme (use {cleartext} or {ha1})"),
    ("\n\njack pw read,admin", "f:3: unknown option 'admin' (known: read, write)"),
])
def test_bad_lines(text: str, message: str) -> None:
    with pytest.raises(UsersFileError) as err:
        parse_users(text, "f")
    assert str(err.value) == message
