"""The scenario file of ``hspace --sweep``: JSON in, ``solver.sweep.Scenario`` out.

A file is a list of scenarios, or an object with ``scenarios`` (default: one
scenario), ``defaults`` merged into each, and ``grid``: for every field a
list of values, every combination applied to every scenario.  That last
part is how planners write thousands of scenarios in a few lines::

    {"defaults": {"disk_template": "drbd"},
     "scenarios": [{"name": "now"}, {"name": "rack", "add_nodes": [
         {"count": 4, "memory": "256g", "disk": "2t", "vcpus": 32}]}],
     "grid": {"spec": [{"memory": "4g", "disk": "100g", "vcpus": 2},
                       {"memory": "16g", "disk": "400g", "vcpus": 8}],
              "offline": [[], ["node-01-001"]]}}

Sizes are MiB as integers or strings with Ganeti's units ("256g", "2t"), as
``--simulate`` reads them.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from htools.hsread import ReadError, parse_unit
from solver.capacity import RSpec
from solver.sweep import NodeModel, Scenario, ScenarioError

FIELDS = ("name", "mode", "spec", "mix", "disk_template", "offline", "remove", "add_nodes",
          "preload", "limit")
MAX_SCENARIOS = 1_000_000


def load_scenarios(path: str) -> list[Scenario]:
    """Read and check a scenario file; every problem is a one-line ScenarioError."""
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except OSError as e:
        raise ScenarioError(f"cannot read scenario file {path}: {e.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ScenarioError(f"scenario file {path} is not valid JSON: {e}") from None
    return parse_scenarios(raw)


def parse_scenarios(raw: Any) -> list[Scenario]:
    """Scenarios from the decoded JSON, defaults merged and the grid expanded."""
    if isinstance(raw, list):
        raw = {"scenarios": raw}
    if not isinstance(raw, dict):
        raise ScenarioError("a scenario file holds a list or an object")
    unknown = sorted(set(raw) - {"defaults", "scenarios", "grid"})
    if unknown:
        raise ScenarioError(f"unknown key {unknown[0]!r} in the scenario file")
    defaults = _object(raw.get("defaults", {}), "defaults")
    bases = raw.get("scenarios", [{}])
    if not isinstance(bases, list) or not bases:
        raise ScenarioError("'scenarios' must be a non-empty list")
    grid = _object(raw.get("grid", {}), "grid")
    for key, values in grid.items():
        _check_field(key, "grid")
        if not isinstance(values, list) or not values:
            raise ScenarioError(f"grid field {key!r} needs a non-empty list of values")
    total = len(bases)
    for values in grid.values():
        total *= len(values)
    if total > MAX_SCENARIOS:
        raise ScenarioError(f"the grid makes {total} scenarios, more than {MAX_SCENARIOS}")
    out = []
    for i, base in enumerate(bases, start=1):
        fields = {**defaults, **_object(base, f"scenario {i}")}
        name = str(fields.get("name", f"scenario-{i}"))
        for combo in itertools.product(*grid.values()):
            chosen = dict(zip(grid, combo, strict=True))
            label = ", ".join(f"{k}={_label(v)}" for k, v in chosen.items())
            sc_name = f"{name} [{label}]" if label else name
            out.append(_scenario({**fields, **chosen, "name": sc_name}))
    seen: set[str] = set()
    for sc in out:
        if sc.name in seen:
            raise ScenarioError(f"two scenarios are named {sc.name!r}")
        seen.add(sc.name)
    return out


def _label(value: Any) -> str:
    """A short, readable rendering of a grid value for scenario names."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "+".join(value) or "none"
    if isinstance(value, dict) and set(value) <= {"memory", "disk", "vcpus", "spindles"}:
        return "/".join(str(value[k]) for k in ("memory", "disk", "vcpus", "spindles")
                        if k in value)
    return json.dumps(value, separators=(",", ":"))


def _object(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise ScenarioError(f"{where} must be an object")
    return value


def _check_field(key: str, where: str) -> None:
    if key not in FIELDS:
        raise ScenarioError(f"unknown field {key!r} in {where}")


def _scenario(f: dict) -> Scenario:
    name = f["name"]
    where = f"scenario {name!r}"
    for key in f:
        _check_field(key, where)
    mode = f.get("mode", "mix" if "mix" in f else "standard")
    if mode not in ("standard", "tiered", "mix"):
        raise ScenarioError(f"{where}: mode must be standard, tiered or mix, not {mode!r}")
    spec = _spec(f["spec"], f"{where}, spec") if "spec" in f else None
    mix = tuple((_spec(_object(m, f"{where}, mix").get("spec"), f"{where}, mix"),
                 _count(m.get("weight", 1), f"{where}, mix weight", 1))
                for m in _list(f.get("mix", []), f"{where}, mix"))
    if mode == "mix" and not mix:
        raise ScenarioError(f"{where}: mode mix needs a non-empty 'mix'")
    preload = tuple((_spec(_object(p, f"{where}, preload").get("spec"), f"{where}, preload"),
                     _count(p.get("count"), f"{where}, preload count", 0))
                    for p in _list(f.get("preload", []), f"{where}, preload"))
    template = f.get("disk_template")
    if template is not None and not isinstance(template, str):
        raise ScenarioError(f"{where}: disk_template must be a string")
    limit = f.get("limit")
    return Scenario(
        name=name, mode=mode, spec=spec, mix=mix, template=template,
        offline=_names(f.get("offline", []), f"{where}, offline"),
        remove=_names(f.get("remove", []), f"{where}, remove"),
        add=tuple(_node_model(m, f"{where}, add_nodes")
                  for m in _list(f.get("add_nodes", []), f"{where}, add_nodes")),
        preload=preload,
        limit=None if limit is None else _count(limit, f"{where}, limit", 0))


def _list(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise ScenarioError(f"{where} must be a list")
    return value


def _names(value: Any, where: str) -> tuple[str, ...]:
    names = _list(value, where)
    if not all(isinstance(n, str) for n in names):
        raise ScenarioError(f"{where} must be a list of node names")
    return tuple(names)


def _count(value: Any, where: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ScenarioError(f"{where} must be an integer >= {least}, not {value!r}")
    return value


def _size(value: Any, where: str) -> int:
    """MiB from an integer or a string with Ganeti's units."""
    if isinstance(value, bool):
        raise ScenarioError(f"{where} must be a size, not {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str):
        try:
            size = parse_unit(value)
        except ReadError as e:
            raise ScenarioError(f"{where}: {e}") from None
    else:
        raise ScenarioError(f"{where} must be a size, not {value!r}")
    if size < 0:
        raise ScenarioError(f"{where} must not be negative")
    return size


def _spec(value: Any, where: str) -> RSpec:
    spec = _object(value, where)
    unknown = sorted(set(spec) - {"memory", "disk", "vcpus", "spindles"})
    if unknown:
        raise ScenarioError(f"{where}: unknown field {unknown[0]!r}")
    missing = [k for k in ("memory", "disk", "vcpus") if k not in spec]
    if missing:
        raise ScenarioError(f"{where}: missing {missing[0]!r}")
    out = RSpec(_size(spec["memory"], f"{where} memory"), _size(spec["disk"], f"{where} disk"),
                _count(spec["vcpus"], f"{where} vcpus", 1),
                _count(spec.get("spindles", 1), f"{where} spindles", 0))
    if out.mem <= 0:
        raise ScenarioError(f"{where}: memory must be positive")
    return out


def _node_model(value: Any, where: str) -> NodeModel:
    m = _object(value, where)
    unknown = sorted(set(m) - {"count", "memory", "disk", "vcpus", "spindles", "group",
                               "prefix"})
    if unknown:
        raise ScenarioError(f"{where}: unknown field {unknown[0]!r}")
    for key in ("count", "memory", "disk", "vcpus"):
        if key not in m:
            raise ScenarioError(f"{where}: missing {key!r}")
    group, prefix = m.get("group"), m.get("prefix", "new-node")
    if group is not None and not isinstance(group, str) or not isinstance(prefix, str):
        raise ScenarioError(f"{where}: group and prefix must be strings")
    return NodeModel(count=_count(m["count"], f"{where} count", 1),
                     mem=_size(m["memory"], f"{where} memory"),
                     dsk=_size(m["disk"], f"{where} disk"),
                     cpu=_count(m["vcpus"], f"{where} vcpus", 1),
                     spindles=_count(m.get("spindles", 1), f"{where} spindles", 0),
                     group=group, prefix=prefix)
