"""The iallocator backend: Ganeti's request JSON (hail's input, ``-I``; spec §2.3).

Ganeti hands hail one JSON document that describes the whole cluster (node
groups, nodes, instances, cluster tags) plus the request.  Operators and
Ganeti's own tests see hail's error messages for malformed documents, and a
drop-in replacement has to accept and reject exactly the same documents, so
this module reads the document the way Ganeti's Haskell code reads it:

* the text is decoded with the rules and error messages of Text.JSON's
  strict decoder (only an object or array at the top, ``1.`` is a number,
  any Unicode blank separates tokens, errors quote the next 8 characters);
* values are converted with Text.JSON's ``readJSON`` rules: integers are
  rounded half to even and wrapped to 64 bits, a ``String`` may also be an
  array of one-character strings, enumerations name their Haskell type;
* keys are looked up as Ganeti's association lists do (the first of
  duplicate keys wins, name maps keep the last of duplicate names) and every
  error carries Ganeti's context (``invalid data for node 'n1': key ...``);
* fields are read in Ganeti's order, so the first error reported is the same.

The result is plain records (``solver.records``, ``solver.requests``);
the load pipeline (spec §1.8) runs later, in ``solver.loader``.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, TypeVar

from htools.errors import DataError
from htools.fmt import show_double, show_string, show_string_list
from htools.hsread import io_error_text, read_file
from htools.jsonread import Fail as _Fail
from htools.jsonread import Obj as _Obj
from htools.jsonread import any_value as _any
from htools.jsonread import enum as _enum
from htools.jsonread import list_of as _list_of
from htools.jsonread import to_alloc_policy as _to_alloc_policy
from htools.jsonread import to_bool as _to_bool
from htools.jsonread import to_float as _to_float
from htools.jsonread import to_int as _to_int
from htools.jsonread import to_ipolicy as _to_ipolicy
from htools.jsonread import to_obj as _to_obj
from htools.jsonread import to_str as _to_str
from htools.jsonread import to_template as _to_template
from solver.loader import common_suffix
from solver.records import (
    DISK_TEMPLATES,
    ClusterData,
    Group,
    Instance,
    Node,
)
from solver.requests import (
    Allocate,
    AllocateSecondary,
    ChangeGroup,
    IAllocInput,
    MultiAllocate,
    NodeEvacuate,
    Relocate,
    Request,
)

__all__ = ["RequestFileError", "load_request", "parse_request"]

T = TypeVar("T")

HYPERVISORS = ("kvm", "xen-pvm", "chroot", "xen-hvm", "lxc", "fake")
EVAC_MODES = ("primary-only", "secondary-only", "all")
NIC_MODES = ("bridged", "routed", "openvswitch")
# The request's admin_state as an instance run state (spec §1.2).
ADMIN_STATES = {"up": "running", "down": "ADMIN_down", "offline": "ADMIN_offline"}


class RequestFileError(DataError):
    """The request file could not be read at all (missing, unreadable, not UTF-8).

    Ganeti's hail does not report these as ``Error: ...``: the runtime
    prints ``hail: <message>`` and exits 1, and ``hbal -I`` prefixes them with
    ``failed to load data, aborting:``.  A distinct type lets each CLI choose.
    """


_TOP_LEVEL = "Invalid JSON: a JSON text a serialized object or array at the top level."
# Python's decoder joins an escaped surrogate pair into one character, Text.JSON
# keeps two; documents with such escapes take the exact decoder.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB]")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n",
            "r": "\r", "t": "\t"}
_HEX = frozenset("0123456789abcdefABCDEF")
_DIGITS = frozenset("0123456789")
# Python refuses int() of longer digit strings; such numbers stay Decimals.
_MAX_INT_DIGITS = 4000


def _is_space(c: str) -> bool:
    """Haskell's ``isSpace``: ASCII blanks, NBSP and the Unicode space separators."""
    return c in " \t\n\r\f\v\xa0" or (c > "\xff" and unicodedata.category(c) == "Zs")


def _context(text: str, pos: int) -> str:
    """The 8 characters Text.JSON quotes after a parse error."""
    return text[pos:pos + 8]


def _show_char(c: str) -> str:
    """Haskell ``show`` of a Char: ``'x'``, ``'\\233'``, ``'\\''``."""
    if c == "'":
        return "'\\''"
    if c == '"':
        return "'\"'"
    return "'" + show_string(c)[1:-1] + "'"


def _show_read_hex(digits: str) -> str:
    """Haskell ``show (readHex digits)``: ``[(18,"g4")]``, or ``[]`` without a hex digit."""
    end = 0
    while end < len(digits) and digits[end] in _HEX:
        end += 1
    if end == 0:
        return "[]"
    return f"[({int(digits[:end], 16)},{show_string(digits[end:])})]"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode(text: str) -> Any:
    """Decode a document like ``decodeStrict``; raise _Fail with Text.JSON's message.

    Python's C decoder reads the documents both decoders accept alike; when
    it refuses one (or might read it differently), the exact decoder below
    decides and words the error.
    """
    if text[:1] not in ("[", "{"):
        raise _Fail(_TOP_LEVEL)
    if not _SURROGATE_ESCAPE.search(text):
        try:
            return json.loads(text, object_pairs_hook=_Obj, parse_float=Decimal,
                              parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            pass
    return _TextJSON(text).document()


class _TextJSON:
    """Text.JSON's string parser, iterative so that deep nesting cannot overflow.

    Whitespace is skipped exactly where Text.JSON skips it (around ``,``
    ``:`` and brackets, not before the first character), numbers follow its
    grammar (``01`` is ``0`` followed by junk, ``1.`` is ``1``), and every
    error is its message with the same 8 characters of context.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_spaces(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and _is_space(text[pos]):
            pos += 1
        return pos

    def document(self) -> Any:
        text = self.text
        stack: list[_Frame] = []
        value = self.container(stack)
        while True:
            if value is _OPENED:  # a container was entered: read its first element
                value = self.element(stack[-1], stack)
                continue
            if not stack:
                if self.pos < len(text):
                    raise _Fail("Invalid tokens at end of JSON string: "
                                + show_string(text[self.pos:self.pos + 10]))
                return value
            frame = stack[-1]
            frame.add(value)
            after = self.pos
            following = self.skip_spaces(after)
            char = text[following:following + 1]
            if char == ",":
                self.pos = self.skip_spaces(following + 1)
                value = self.element(frame, stack)
            elif char == frame.closing:
                self.pos = self.skip_spaces(following + 1)
                stack.pop()
                value = frame.result()
            elif frame.closing == "]":
                raise _Fail("Unable to parse JSON array: unterminated array: "
                            + _context(text, after))
            else:
                raise _Fail("Unable to parse JSON object: unterminated sequence: "
                            + _context(text, after))

    def container(self, stack: list[_Frame]) -> Any:
        """Enter the ``[`` or ``{`` at pos.

        An empty container is returned whole; otherwise its frame is pushed
        and ``_OPENED`` returned.
        """
        text = self.text
        frame = _Frame(text[self.pos])
        inner = self.skip_spaces(self.pos + 1)
        if text[inner:inner + 1] == frame.closing:
            self.pos = self.skip_spaces(inner + 1)
            return frame.result()
        self.pos = inner
        stack.append(frame)
        return _OPENED

    def element(self, frame: _Frame, stack: list[_Frame]) -> Any:
        """The next element of ``frame``: its key first if it is an object."""
        if frame.closing == "}":
            frame.key = self.key()
        return self.value(stack)

    def key(self) -> str:
        text = self.text
        if text[self.pos:self.pos + 1] != '"':
            raise _Fail("Malformed JSON: expecting string: " + _context(text, self.pos))
        key = self.string()
        after = self.pos
        colon = self.skip_spaces(after)
        if text[colon:colon + 1] != ":":
            raise _Fail("Malformed JSON labelled field: " + _context(text, after))
        self.pos = self.skip_spaces(colon + 1)
        return key

    def value(self, stack: list[_Frame]) -> Any:
        text, pos = self.text, self.pos
        char = text[pos:pos + 1]
        if char == '"':
            return self.string()
        if char in ("[", "{"):
            return self.container(stack)
        if char == "t" or char == "f":
            for word, result in (("true", True), ("false", False)):
                if text.startswith(word, pos):
                    self.pos = pos + len(word)
                    return result
            raise _Fail("Unable to parse JSON Bool: " + _context(text, pos))
        if char in _DIGITS or char == "-":
            return self.number()
        if text.startswith("null", pos):
            self.pos = pos + 4
            return None
        raise _Fail("Malformed JSON: invalid token in this context " + _context(text, pos))

    def string(self) -> str:
        text = self.text
        pos = self.pos + 1
        out: list[str] = []
        while True:
            if pos >= len(text):
                raise _Fail("Unable to parse JSON String: unterminated String: ")
            char = text[pos]
            if char == "\\" and pos + 1 < len(text):
                esc = text[pos + 1]
                if esc in _ESCAPES:
                    out.append(_ESCAPES[esc])
                    pos += 2
                elif esc == "u":
                    digits = text[pos + 2:pos + 6]
                    if len(digits) < 4:
                        raise _Fail("Unable to parse JSON String: invalid hex: "
                                        + _context(text, pos + 2))
                    if not all(d in _HEX for d in digits):
                        raise _Fail("Unable to parse JSON String: invalid hex: "
                                        + _show_read_hex(digits)[:8])
                    out.append(chr(int(digits, 16)))
                    pos += 6
                else:
                    raise _Fail("Unable to parse JSON String: invalid escape char: "
                                    + _show_char(esc))
            elif char == '"':
                self.pos = pos + 1
                return "".join(out)
            elif char < " ":
                raise _Fail("Illegal unescaped character in string: "
                                + _context(text, pos))
            else:
                out.append(char)
                pos += 1

    def number(self) -> int | Decimal:
        text = self.text
        pos = self.pos
        sign = ""
        if text[pos] == "-":
            sign, pos = "-", pos + 1
        if pos >= len(text):
            raise _Fail("Unable to parse JSON Rational: ")
        if text[pos] == "0":
            int_end = pos + 1  # a leading zero is the whole integer part
        elif text[pos] in _DIGITS:
            int_end = pos
            while int_end < len(text) and text[int_end] in _DIGITS:
                int_end += 1
        else:
            raise _Fail("Unable to parse JSON Rational: " + _context(text, pos + 1))
        literal = sign + text[pos:int_end]
        end = int_end
        exact = True  # a plain integer literal
        if text[end:end + 1] == ".":
            frac_end = end + 1
            while frac_end < len(text) and text[frac_end] in _DIGITS:
                frac_end += 1
            if frac_end == end + 1:
                # "1." reads as 1; the exponent is not looked for
                self.pos = end + 1
                return _number(literal, exact)
            literal += text[end:frac_end]
            end = frac_end
            exact = False
        if text[end:end + 1] in ("e", "E"):
            exp_pos = end + 1
            exp_sign = ""
            if text[exp_pos:exp_pos + 1] in ("+", "-"):
                exp_sign = "-" if text[exp_pos] == "-" else ""
                exp_pos += 1
            exp_end = exp_pos
            while exp_end < len(text) and text[exp_end] in _DIGITS:
                exp_end += 1
            if exp_end == exp_pos:
                raise _Fail("Unable to parse JSON exponential: "
                                + _context(text, exp_pos))
            literal += "e" + exp_sign + text[exp_pos:exp_end]
            end = exp_end
            exact = False
        self.pos = end
        return _number(literal, exact)


def _number(literal: str, integer: bool) -> int | Decimal:
    """A number as the fast decoder represents it: int literals as int, others Decimal."""
    if integer and len(literal) <= _MAX_INT_DIGITS:
        return int(literal)
    return Decimal(literal)


class _Frame:
    """An array or object the exact decoder is inside of."""

    __slots__ = ("closing", "items", "key")

    def __init__(self, opening: str) -> None:
        self.closing = "]" if opening == "[" else "}"
        self.items: list[Any] = []
        self.key = ""

    def add(self, value: Any) -> None:
        self.items.append((self.key, value) if self.closing == "}" else value)

    def result(self) -> Any:
        return self.items if self.closing == "]" else _Obj(self.items)


# Returned by the exact decoder when it entered a container instead of reading a value.
_OPENED = object()


# ---------------------------------------------------------------------------
# Values, converted as Text.JSON's readJSON converts them


_to_str_list = _list_of(_to_str)


_to_hypervisor = _enum("Hypervisor", HYPERVISORS)
_to_evac_mode = _enum("EvacMode", EVAC_MODES)


def _as_object(value: Any) -> _Obj:
    """Ganeti's ``asJSObject``, whose error names neither key nor owner."""
    if not isinstance(value, _Obj):
        raise _Fail("not an object")
    return value


def _as_array(value: Any) -> list[Any]:
    """Ganeti's ``toArray``: the error shows the value pretty-printed."""
    if not isinstance(value, list):
        raise _Fail("Invalid input, expected array but got " + _pretty(value))
    return value


# ---------------------------------------------------------------------------
# Text.JSON.Pretty's rendering of a value (HughesPJ, 100 columns, ribbon 1.5)

_LINE_LENGTH = 100
_MAX_PRINTED_DIGITS = 10 ** 6
_RIBBON = 67  # round(100 / 1.5): at most this much text per line after its indentation


def _pp_string(text: str) -> str:
    """pp_string: JSON quoting, control characters as ``\\u00XX``, the rest raw."""
    out = ['"']
    for char in text:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif unicodedata.category(char) == "Cc":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _pp_atom(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _pp_string(value)
    if isinstance(value, int):
        return str(value)
    # Whole numbers print all their digits (up to a sanity limit Ganeti lacks).
    if value.adjusted() < _MAX_PRINTED_DIGITS and value == value.to_integral_value():
        return "0" if value.is_zero() else format(value.to_integral_value(), "f")
    return show_double(_to_float(value))


def _pp_items(value: list[Any] | _Obj) -> Iterator[tuple[str, Any]]:
    """(prefix, element) per element: an object's prefix is its ``"key": ``."""
    if isinstance(value, list):
        return (("", element) for element in value)
    return ((_pp_string(key) + ": ", element) for key, element in value.pairs)


def _brackets(value: list[Any] | _Obj) -> tuple[str, str]:
    return ("[", "]") if isinstance(value, list) else ("{", "}")


def _one_line(value: Any) -> str:
    """The value laid out on a single line; iterative, so any nesting depth will do."""
    out: list[str] = []
    # per open container: its remaining elements, its closing bracket, "no element yet"
    stack: list[tuple[Iterator[tuple[str, Any]], str, list[bool]]] = []
    while True:
        if isinstance(value, (list, _Obj)):
            opening, closing = _brackets(value)
            out.append(opening)
            stack.append((_pp_items(value), closing, [True]))
        else:
            out.append(_pp_atom(value))
        while stack:
            elements, closing, first = stack[-1]
            element = next(elements, None)
            if element is None:
                out.append(closing)
                stack.pop()
                continue
            prefix, value = element
            out.append(prefix if first[0] else ", " + prefix)
            first[0] = False
            break
        else:
            return "".join(out)


class _Layout:
    """Lay out a value as HughesPJ's ``fsep`` does for Text.JSON.Pretty.

    Arrays and objects fill lines: an element after the first stays on the
    line, on one line of its own, if the line's text then fits the ribbon
    together with whatever must follow it without a break (closing brackets
    and commas); otherwise it starts a line at the column after the opening
    bracket.  An element that took several lines pushes the next one to a
    new line.
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.line = ""
        self.indent = 0

    def fits(self, extra: int) -> bool:
        used = len(self.line) - self.indent + extra
        return used <= min(_LINE_LENGTH - self.indent, _RIBBON)

    def newline(self, column: int) -> None:
        self.lines.append(self.line)
        self.line = " " * column
        self.indent = column

    def value(self, value: Any, tail: int) -> None:
        """Place ``value``; ``tail`` characters will follow it on its last line."""
        if not isinstance(value, (list, _Obj)):
            self.line += _pp_atom(value)
            return
        opening, closing = _brackets(value)
        self.line += opening
        column = len(self.line)
        items = list(_pp_items(value))
        previous_broke = False
        for index, (prefix, element) in enumerate(items):
            last = index == len(items) - 1
            comma = "" if last else ","
            after = len(closing) + tail if last else 0
            if index:
                flat = prefix + _one_line(element) + comma
                if not previous_broke and self.fits(1 + len(flat) + after):
                    self.line += " " + flat
                    continue
                self.newline(column)
            start = len(self.lines)
            self.line += prefix
            self.value(element, len(comma) + after)
            self.line += comma
            previous_broke = len(self.lines) > start
        self.line += closing


def _pretty(value: Any) -> str:
    """``show (pp_value value)``.

    Values nested deeper than Python's recursion limit are shown on one line,
    which is what HughesPJ does for a chain of single elements (a long line
    with several elements per level would wrap in Ganeti).
    """
    layout = _Layout()
    try:
        layout.value(value, 0)
    except RecursionError:
        return _one_line(value)
    return "\n".join([*layout.lines, layout.line])


# ---------------------------------------------------------------------------
# Ganeti's key lookups


def _from_obj(obj: _Obj, key: str, convert: Callable[[Any], T]) -> T:
    """``fromObj``: a required key."""
    table = obj.table()
    if key not in table:
        raise _Fail(f"key '{key}' not found, object contains only {show_string_list(obj.keys)}")
    try:
        return convert(table[key])
    except _Fail as err:
        raise _Fail(f"key '{key}': {err}") from None


def _maybe_from_obj(obj: _Obj, key: str, convert: Callable[[Any], T]) -> T | None:
    """``maybeFromObj``: missing and ``null`` are both "no value"."""
    if obj.get(key) is None:
        return None
    return _from_obj(obj, key, convert)


def _owned(owner: str, read: Callable[[], T]) -> T:
    """``annotateResult owner``: prefix any error of ``read`` with its owner."""
    try:
        return read()
    except _Fail as err:
        raise _Fail(f"{owner}: {err}") from None


def _field(owner: str, obj: _Obj, key: str, convert: Callable[[Any], T]) -> T:
    """``tryFromObj owner``: a required key, errors prefixed with the owner."""
    try:
        return _from_obj(obj, key, convert)
    except _Fail as err:
        raise _Fail(f"{owner}: {err}") from None


def _or_default(obj: _Obj, key: str, convert: Callable[[Any], T], default: T) -> T:
    """``tryFromObj ... `mplus` default``: missing or unreadable gives the default."""
    if key not in obj:
        return default
    try:
        return convert(obj[key])
    except _Fail:
        return default


def _parse_group(uuid: str, value: Any) -> Group:
    obj = _as_object(value)
    owner = f"invalid data for group '{uuid}'"
    name = _field(owner, obj, "name", _to_str)
    policy = _field(owner, obj, "alloc_policy", _to_alloc_policy)
    networks = _field(owner, obj, "networks", _to_str_list)
    ipolicy = _field(owner, obj, "ipolicy", _to_ipolicy)
    tags = _field(owner, obj, "tags", _to_str_list)
    return Group(name=name, uuid=uuid, alloc_policy=policy, tags=tags, networks=networks,
                 ipolicy=ipolicy)


def _parse_node(name: str, value: Any, group_index: dict[str, int]) -> Node:
    """One node; resource figures are only read (and required) when it is live.

    A node is live when it is online and VM-capable; the solver sees it as
    offline when it is not live or is drained.
    """
    obj = _as_object(value)
    owner = f"invalid data for node '{name}'"
    offline = _field(owner, obj, "offline", _to_bool)
    drained = _field(owner, obj, "drained", _to_bool)
    group_uuid = _field(owner, obj, "group", _to_str)
    vm_capable = _owned(owner, lambda: _maybe_from_obj(obj, "vm_capable", _to_bool))
    vm_capable = True if vm_capable is None else vm_capable
    if group_uuid not in group_index:
        raise _Fail(f"Unknown group '{group_uuid}' for node {name}")
    ndparams = _as_object(_field(owner, obj, "ndparams", _any))
    tags = _maybe_from_obj(obj, "tags", _to_str_list) or []
    excl = _field(owner, ndparams, "exclusive_storage", _to_bool)
    live = not offline and vm_capable

    def live_field(key: str, convert: Callable[[Any], T], default: T) -> T:
        return _field(owner, obj, key, convert) if live else default

    if excl:
        t_spindles = live_field("total_spindles", _to_int, 0)
    else:
        t_spindles = _field(owner, ndparams, "spindle_count", _to_int)
    f_spindles = live_field("free_spindles", _to_int, 0)
    t_mem = live_field("total_memory", _to_float, 0.0)
    n_mem = live_field("reserved_memory", _to_int, 0)
    f_mem = live_field("free_memory", _to_int, 0)
    t_dsk = live_field("total_disk", _to_float, 0.0)
    f_dsk = live_field("free_disk", _to_int, 0)
    t_cpu = live_field("total_cpus", _to_float, 0.0)
    n_cpu = live_field("reserved_cpus", _to_int, 0)
    return Node(name=name, t_mem=t_mem, n_mem=n_mem, f_mem=f_mem, t_dsk=t_dsk, f_dsk=f_dsk,
                t_cpu=t_cpu, n_cpu=n_cpu, offline=not live or drained,
                group=group_index[group_uuid], t_spindles=t_spindles, f_spindles=f_spindles,
                excl_storage=excl, tags=tags, drained=drained, vm_capable=vm_capable)


def _parse_nic(instance: str, obj: _Obj) -> dict[str, str | None]:
    """One NIC; only ``network`` matters to the solver, the rest is checked and kept."""
    nic = {"mac": _maybe_from_obj(obj, "mac", _to_str),
           "ip": _maybe_from_obj(obj, "ip", _to_str)}
    mode = _maybe_from_obj(obj, "mode", _to_str)
    if mode is not None and mode not in NIC_MODES:
        raise _Fail(f"invalid NIC mode in instance {instance}")
    nic["mode"] = mode
    for key in ("link", "bridge", "network"):
        nic[key] = _maybe_from_obj(obj, key, _to_str)
    return nic


def _parse_base_instance(name: str, obj: _Obj) -> Instance:
    """The fields cluster instances and an allocation request share.

    The result is not placed yet (``pnode``/``snode`` are -1).  A missing
    or unknown ``admin_state`` means running, an unreadable ``forthcoming``
    means false, as in Ganeti.
    """
    owner = f"invalid data for instance '{name}'"
    dsk = _field(owner, obj, "disk_space_total", _to_int)
    disks = [_as_object(disk) for disk in _as_array(_field(owner, obj, "disks", _any))]
    sizes = [_field(owner, disk, "size", _to_int) for disk in disks]
    spindles = [_owned(owner, lambda disk=disk: _maybe_from_obj(disk, "spindles", _to_int))
                for disk in disks]
    mem = _field(owner, obj, "memory", _to_int)
    vcpus = _field(owner, obj, "vcpus", _to_int)
    tags = _field(owner, obj, "tags", _to_str_list)
    template = _field(owner, obj, "disk_template", _to_template)
    spindle_use = _field(owner, obj, "spindle_use", _to_int)
    nic_objects = [_as_object(nic) for nic in _as_array(_field(owner, obj, "nics", _any))]
    nics = [_parse_nic(name, nic) for nic in nic_objects]
    status = ADMIN_STATES.get(_or_default(obj, "admin_state", _to_str, "up"), "running")
    forthcoming = _or_default(obj, "forthcoming", _to_bool, False)
    return Instance(name=name, mem=mem, dsk=dsk, vcpus=vcpus, status=status,
                    auto_balance=True, pnode=-1, snode=-1, template=template, tags=tags,
                    spindle_use=spindle_use, disks=list(zip(sizes, spindles, strict=True)),
                    forthcoming=forthcoming, nics=nics)


def _node_name(value: Any) -> str:
    """Ganeti's ``readEitherString``: only a real JSON string will do."""
    if not isinstance(value, str):
        raise _Fail("Wrong JSON type")
    return value


def _parse_instance(name: str, value: Any, node_index: dict[str, int]) -> Instance:
    """A cluster instance: its first node is the primary, a second one the secondary."""
    obj = _as_object(value)
    instance = _parse_base_instance(name, obj)
    nodes = _from_obj(obj, "nodes", _list_of(_any))
    if not nodes:
        raise _Fail(f"empty node list for instance {name}")

    def index_of(node: Any) -> int:
        node = _node_name(node)
        if node not in node_index:
            raise _Fail(f"Unknown node '{node}' for instance {name}")
        return node_index[node]

    instance.pnode = index_of(nodes[0])
    instance.snode = index_of(nodes[1]) if len(nodes) > 1 else -1
    return instance


_INT_RANGE = (-(1 << 63), 1 << 63)
_NIC_KEYS = ("mac", "ip", "mode", "link", "bridge", "network")


def _plain_int(value: Any) -> bool:
    """A JSON integer that Text.JSON's Int reads unchanged (no rounding, no wrapping)."""
    return type(value) is int and _INT_RANGE[0] <= value < _INT_RANGE[1]


def _quick_instance(name: str, value: Any, node_index: dict[str, int]) -> Instance | None:
    """``_parse_instance`` for the usual well-formed instance, without its error paths.

    A request of a big cluster has thousands of instances; reading each
    through the general converters costs more than deciding the answer.
    Anything unusual (a missing key, a float, a character list, an unknown
    node) returns None, and the exact reader then takes the instance, with
    Ganeti's error where there is one.  Both give equal records.
    """
    if type(value) is not _Obj:
        return None
    t = value.table()
    dsk, mem, vcpus, spindle_use = (t.get("disk_space_total"), t.get("memory"),
                                    t.get("vcpus"), t.get("spindle_use"))
    template, tags, disks, nics, nodes = (t.get("disk_template"), t.get("tags"),
                                          t.get("disks"), t.get("nics"), t.get("nodes"))
    if not (_plain_int(dsk) and _plain_int(mem) and _plain_int(vcpus)
            and _plain_int(spindle_use) and type(template) is str
            and template in DISK_TEMPLATES and type(tags) is list
            and all(type(tag) is str for tag in tags) and type(disks) is list
            and type(nics) is list and type(nodes) is list and nodes
            and all(type(node) is str and node in node_index for node in nodes)):
        return None
    sizes = []
    for disk in disks:
        if type(disk) is not _Obj:
            return None
        fields = disk.table()
        size, spindles = fields.get("size"), fields.get("spindles")
        if not _plain_int(size) or not (spindles is None or _plain_int(spindles)):
            return None
        sizes.append((size, spindles))
    nic_list = []
    for nic in nics:
        if type(nic) is not _Obj:
            return None
        table = nic.table()
        fields = {key: table.get(key) for key in _NIC_KEYS}
        if not all(v is None or type(v) is str for v in fields.values()) or \
                (fields["mode"] is not None and fields["mode"] not in NIC_MODES):
            return None
        nic_list.append(fields)
    state = t.get("admin_state", "up")
    forthcoming = t.get("forthcoming", False)
    if type(state) is not str or type(forthcoming) is not bool:
        return None
    return Instance(name=name, mem=mem, dsk=dsk, vcpus=vcpus,
                    status=ADMIN_STATES.get(state, "running"), auto_balance=True,
                    pnode=node_index[nodes[0]],
                    snode=node_index[nodes[1]] if len(nodes) > 1 else -1,
                    template=template, tags=list(tags), spindle_use=spindle_use,
                    disks=sizes, forthcoming=forthcoming, nics=nic_list)


def _name_index(names: list[str]) -> dict[str, int]:
    """Ganeti's name maps: the last of duplicate names wins."""
    return {name: index for index, name in enumerate(names)}


class _Names:
    """Ganeti's ``findByName``: a name must match exactly one element.

    Each element answers to several names (nodes and instances: name and
    alias, groups: name and UUID).
    """

    def __init__(self, names_per_element: list[tuple[str, ...]]) -> None:
        self.owners: dict[str, set[int]] = {}
        for index, names in enumerate(names_per_element):
            for name in names:
                self.owners.setdefault(name, set()).add(index)

    def find(self, name: str) -> int:
        found = self.owners.get(name, set())
        if len(found) != 1:
            raise _Fail(f"Wrong number of elems found with name {name}")
        return next(iter(found))


# ---------------------------------------------------------------------------
# The request


_REQUEST = "invalid request dict"


def _parse_allocation(entry: _Obj, request: _Obj, restricted: bool) -> Allocate:
    """An ``allocate`` request or one ``multi-allocate`` entry, read in Ganeti's order.

    The group name always comes from the outer ``request``, and only a plain
    ``allocate`` has ``restrict-to-nodes``.
    """
    name = _field(_REQUEST, entry, "name", _to_str)
    group = _maybe_from_obj(request, "group_name", _to_str)
    restrict = _maybe_from_obj(request, "restrict-to-nodes", _to_str_list) \
        if restricted else None
    required = _field(_REQUEST, entry, "required_nodes", _to_int)
    instance = _parse_base_instance(name, entry)
    return Allocate(instance=instance, required_nodes=required, group_name=group,
                    restrict_to=restrict)


def _parse_request_body(request: _Obj, data: ClusterData,
                        instance_index: dict[str, int]) -> Request:
    """The request proper, read once the cluster is known (Ganeti's order).

    ``relocate`` and ``allocate-secondary`` name their instance exactly;
    the instance, node and group lists of the other types go through
    ``findByName``, where names without the cluster's common domain suffix
    (aliases) and group UUIDs also match.
    """
    kind = _field(_REQUEST, request, "type", _to_str)
    suffix = common_suffix([n.name for n in data.nodes] + [i.name for i in data.instances])

    def aliased(names: list[str]) -> _Names:
        return _Names([(name, name[:len(name) - len(suffix)]) for name in names])

    def existing(name: str) -> int:
        if name not in instance_index:
            raise _Fail(f"Unknown instance '{name}'")
        return instance_index[name]

    def field(key: str, convert: Callable[[Any], T]) -> T:
        return _field(_REQUEST, request, key, convert)

    if kind == "allocate":
        return _parse_allocation(request, request, restricted=True)
    if kind == "relocate":
        instance = existing(field("name", _to_str))
        required = field("required_nodes", _to_int)
        nodes = aliased([n.name for n in data.nodes])
        relocate_from = [nodes.find(name) for name in field("relocate_from", _to_str_list)]
        return Relocate(instance=instance, required_nodes=required,
                        relocate_from=relocate_from)
    if kind == "change-group":
        instances = aliased([i.name for i in data.instances])
        moved = [instances.find(name) for name in field("instances", _to_str_list)]
        groups = _Names([(g.name, g.uuid) for g in data.groups])
        targets = [groups.find(name) for name in field("target_groups", _to_str_list)]
        return ChangeGroup(instances=moved, target_groups=targets)
    if kind == "node-evacuate":
        instances = aliased([i.name for i in data.instances])
        moved = [instances.find(name) for name in field("instances", _to_str_list)]
        mode = field("evac_mode", _to_evac_mode)
        return NodeEvacuate(instances=moved, mode=mode)
    if kind == "multi-allocate":
        entries = field("instances", _list_of(_to_obj))
        allocations = [_parse_allocation(entry, request, restricted=False)
                       for entry in entries]
        # Ganeti reads the outer group name once per entry: never without entries.
        return MultiAllocate(entries=allocations,
                             group_name=allocations[0].group_name if allocations else None)
    if kind == "allocate-secondary":
        return AllocateSecondary(instance=existing(field("name", _to_str)))
    raise _Fail(f"Invalid request type '{kind}'")


def _parse_document(text: str) -> IAllocInput:
    try:
        document = _decode(text)
    except _Fail as err:
        raise _Fail(f"Parsing input IAllocator message: {err}") from None
    if not isinstance(document, _Obj):
        raise _Fail("Parsing input IAllocator message: Unable to read JSObject")
    owner = "invalid iallocator message"
    request = _field(owner, document, "request", _to_obj)

    group_pairs = _field(owner, document, "nodegroups", _to_obj).pairs
    groups = [_parse_group(uuid, value) for uuid, value in group_pairs]
    group_index = _name_index([uuid for uuid, _ in group_pairs])

    node_pairs = _field(owner, document, "nodes", _to_obj).pairs
    nodes = [_parse_node(name, value, group_index) for name, value in node_pairs]
    node_index = _name_index([name for name, _ in node_pairs])

    instance_pairs = _field(owner, document, "instances", _to_obj).pairs
    instances = [_quick_instance(name, value, node_index)
                 or _parse_instance(name, value, node_index) for name, value in instance_pairs]
    instance_index = _name_index([name for name, _ in instance_pairs])

    cluster_tags = _field(owner, document, "cluster_tags", _to_str_list)
    hypervisors = _field(owner, document, "enabled_hypervisors", _list_of(_to_hypervisor))
    hypervisor = hypervisors[0] if hypervisors else None
    for node in nodes:
        node.hypervisor = hypervisor
    # The request's cluster-wide "ipolicy" is not read: the default policy applies.
    data = ClusterData(groups=groups, nodes=nodes, instances=instances,
                       cluster_tags=cluster_tags)
    body = _parse_request_body(request, data, instance_index)
    return IAllocInput(data=data, request=body, hypervisor=hypervisor)


def parse_request(text: str) -> IAllocInput:
    """Parse an iallocator request document (spec §2.3).

    Raises ``DataError`` with the message Ganeti's hail prints after
    ``Error: `` for the same document.
    """
    try:
        return _parse_document(text)
    except _Fail as err:
        raise DataError(str(err)) from None


def load_request(path: str) -> IAllocInput:
    """Read and parse a request file; ``-`` reads standard input.

    A file that cannot be read raises ``RequestFileError`` with the runtime's
    wording (``PATH: openFile: does not exist (...)``); a bad document raises
    ``DataError`` as ``parse_request`` does.
    """
    if path != "-":
        return parse_request(read_file(path, RequestFileError))
    try:
        text = sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError:
        raise RequestFileError(
            "<stdin>: hGetContents: invalid argument (invalid byte sequence)") from None
    except OSError as err:
        raise RequestFileError(f"<stdin>: hGetContents: {io_error_text(err)}") from None
    return parse_request(text)
