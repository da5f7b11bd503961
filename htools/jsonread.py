"""JSON values read the way Ganeti's Haskell code reads them (Text.JSON's ``readJSON``).

The RAPI and iallocator backends both take Ganeti's JSON and must accept,
convert and reject exactly what Ganeti's readers do, with the same error
texts: integers rounded half to even and wrapped to 64 bits, strings that may
be arrays of characters, objects as association lists (first of repeated keys
wins), and the generated record readers of instance policies.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, TypeVar

from htools.fmt import show_string, show_string_list
from htools.hsread import wrap_int
from solver.records import ALLOC_POLICIES, DISK_TEMPLATES, IPolicy, ISpec

T = TypeVar("T")


class Fail(Exception):
    """A parse failure carrying Ganeti's message; becomes a DataError at the top."""


class Obj:
    """A JSON object as Ganeti sees it: an association list.

    ``pairs`` keeps every key in document order, duplicates included (for
    the ``object contains only [...]`` messages); lookups find the first of
    duplicate keys, like Haskell's ``lookup``.  The lookup table is built on
    first use: decoding creates many objects, and construction stays cheap.
    """

    __slots__ = ("pairs", "_table")

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs
        self._table: dict[str, Any] | None = None

    @property
    def keys(self) -> list[str]:
        return [key for key, _ in self.pairs]

    def table(self) -> dict[str, Any]:
        """Key -> value, the first of repeated keys winning."""
        if self._table is None:
            self._table = dict(self.pairs)
            if len(self._table) != len(self.pairs):  # repeated keys: the first one counts
                self._table = dict(reversed(self.pairs))
        return self._table

    def __contains__(self, key: str) -> bool:
        return key in self.table()

    def __getitem__(self, key: str) -> Any:
        return self.table()[key]

    def get(self, key: str) -> Any:
        return self.table().get(key)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def to_int(value: Any) -> int:
    """Text.JSON's Int: any number, rounded half to even, wrapped to 64 bits."""
    if not is_number(value):
        raise Fail("Unable to read Int")
    if isinstance(value, int):
        return wrap_int(value)
    if value.as_tuple().exponent >= 64:
        return 0  # a multiple of 10**64, hence of 2**64
    if value.adjusted() < -1:
        return 0  # |value| < 0.1
    return wrap_int(int(value.to_integral_value(rounding=ROUND_HALF_EVEN)))


def to_float(value: Any) -> float:
    """Text.JSON's Double: the nearest double of the exact value (never -0.0)."""
    if not is_number(value):
        raise Fail("Unable to read Double")
    try:
        result = float(value)
    except OverflowError:
        result = float("inf") if value > 0 else float("-inf")
    return result + 0.0


def to_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Fail("Unable to read Bool")
    return value


def to_str(value: Any) -> str:
    """A Haskell String: a JSON string, or an array of one-character strings."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if not all(isinstance(c, str) and len(c) == 1 for c in value):
            raise Fail("Unable to read Char")
        return "".join(value)
    raise Fail("Unable to read String")


def to_obj(value: Any) -> Obj:
    if not isinstance(value, Obj):
        raise Fail("Unable to read JSObject")
    return value


def any_value(value: Any) -> Any:
    return value


def list_of(item: Callable[[Any], T]) -> Callable[[Any], list[T]]:
    def convert(value: Any) -> list[T]:
        if not isinstance(value, list):
            raise Fail("Unable to read list")
        return [item(element) for element in value]
    return convert


def enum(type_name: str, allowed: tuple[str, ...]) -> Callable[[Any], str]:
    """A Ganeti enumeration read from its string form (disk template, policy, ...)."""
    def convert(value: Any) -> str:
        try:
            raw = to_str(value)
        except Fail as err:
            raise Fail(f"Can't parse value for '{type_name}': {err}") from None
        if raw not in allowed:
            raise Fail(f"Invalid string value for type {type_name}: {show_string(raw)}")
        return raw
    return convert


to_template = enum("DiskTemplate", DISK_TEMPLATES)
to_alloc_policy = enum("AllocPolicy", ALLOC_POLICIES)


# Instance policies (Ganeti's generated readers: other wording, no extra keys)


def record(value: Any, fields: tuple[tuple[str, Callable[[Any], Any]], ...]) -> list[Any]:
    obj = to_obj(value)
    result = []
    for key, convert in fields:
        if key not in obj:
            raise Fail(f"key '{key}' not found, object contains only "
                        f"{show_string_list(obj.keys)}")
        try:
            result.append(convert(obj[key]))
        except Fail as err:
            raise Fail(f"Can't parse value for '{key}': {err}") from None
    allowed = sorted(key for key, _ in fields)
    extra = sorted(set(obj.keys) - set(allowed))
    if extra:
        raise Fail(f"Superfluous dictionary keys: {show_string_list(extra)}, "
                    f"but only {show_string_list(allowed)} allowed.")
    return result


def to_ispec(value: Any) -> ISpec:
    return ISpec(*record(value, (
        ("memory-size", to_int), ("cpu-count", to_int), ("disk-size", to_int),
        ("disk-count", to_int), ("nic-count", to_int), ("spindle-use", to_int),
    )))


def to_minmax(value: Any) -> tuple[ISpec, ISpec]:
    low, high = record(value, (("min", to_ispec), ("max", to_ispec)))
    return low, high


def to_ipolicy(value: Any) -> IPolicy:
    minmax, std, templates, vcpu_ratio, spindle_ratio = record(value, (
        ("minmax", list_of(to_minmax)),
        ("std", to_ispec),
        ("disk-templates", list_of(to_template)),
        ("vcpu-ratio", to_float),
        ("spindle-ratio", to_float),
    ))
    return IPolicy(minmax=minmax, std=std, disk_templates=templates,
                   vcpu_ratio=vcpu_ratio, spindle_ratio=spindle_ratio)


def ispec_json(spec: ISpec) -> dict[str, int]:
    """An ispec as Ganeti writes it (the inverse of :func:`to_ispec`)."""
    return {"memory-size": spec.mem, "cpu-count": spec.cpu, "disk-size": spec.disk_size,
            "disk-count": spec.disk_count, "nic-count": spec.nic_count,
            "spindle-use": spec.spindle_use}


def ipolicy_json(pol: IPolicy) -> dict[str, Any]:
    """An instance policy as Ganeti writes it (the inverse of :func:`to_ipolicy`).

    Iallocator requests and RAPI documents carry policies in this shape, so
    whatever writes them for Ganeti's readers uses this one writer.
    """
    return {"minmax": [{"min": ispec_json(lo), "max": ispec_json(hi)} for lo, hi in pol.minmax],
            "std": ispec_json(pol.std), "disk-templates": list(pol.disk_templates),
            "vcpu-ratio": pol.vcpu_ratio, "spindle-ratio": pol.spindle_ratio}


# ---------------------------------------------------------------------------
# Groups, nodes, instances
