"""The scenario file of hspace --sweep (htools/backends/scenarios.py)."""

from __future__ import annotations

import json

import pytest

from htools.backends.scenarios import load_scenarios, parse_scenarios
from solver.capacity import RSpec
from solver.sweep import NodeModel, Scenario, ScenarioError


def test_a_list_of_scenarios() -> None:
    out = parse_scenarios([
        {"name": "a", "spec": {"memory": "4g", "disk": "100g", "vcpus": 2}},
        {"name": "b", "mode": "tiered", "spec": {"memory": 1024, "disk": 2048, "vcpus": 1,
                                                  "spindles": 2}, "limit": 5}])
    assert out == [Scenario("a", spec=RSpec(4096, 102400, 2, 1)),
                   Scenario("b", mode="tiered", spec=RSpec(1024, 2048, 1, 2), limit=5)]


def test_every_field() -> None:
    [sc] = parse_scenarios({"scenarios": [{
        "name": "all", "mix": [{"spec": {"memory": 512, "disk": 1024, "vcpus": 1},
                                "weight": 3}],
        "disk_template": "plain", "offline": ["n1"], "remove": ["n2", "n3"],
        "add_nodes": [{"count": 2, "memory": "64g", "disk": "1t", "vcpus": 16,
                       "spindles": 4, "group": "g", "prefix": "rack9"}],
        "preload": [{"spec": {"memory": 256, "disk": 512, "vcpus": 1}, "count": 10}]}]})
    assert sc == Scenario(
        "all", mode="mix", mix=((RSpec(512, 1024, 1, 1), 3),), template="plain",
        offline=("n1",), remove=("n2", "n3"),
        add=(NodeModel(2, 65536, 1 << 20, 16, 4, "g", "rack9"),),
        preload=((RSpec(256, 512, 1, 1), 10),))


def test_defaults_and_grid_multiply() -> None:
    out = parse_scenarios({
        "defaults": {"disk_template": "drbd", "limit": 7},
        "scenarios": [{"name": "now"}, {"name": "later", "limit": 3}],
        "grid": {"spec": [{"memory": 1024, "disk": 2048, "vcpus": 1},
                          {"memory": 2048, "disk": 4096, "vcpus": 2}],
                 "offline": [[], ["n1", "n2"]]}})
    assert len(out) == 8
    assert [sc.name for sc in out[:4]] == [
        "now [spec=1024/2048/1, offline=none]", "now [spec=1024/2048/1, offline=n1+n2]",
        "now [spec=2048/4096/2, offline=none]", "now [spec=2048/4096/2, offline=n1+n2]"]
    assert {sc.template for sc in out} == {"drbd"}
    assert [sc.limit for sc in out] == [7] * 4 + [3] * 4
    assert out[3].spec == RSpec(2048, 4096, 2, 1) and out[3].offline == ("n1", "n2")


def test_unnamed_scenarios_are_numbered() -> None:
    assert [sc.name for sc in parse_scenarios([{}, {}])] == ["scenario-1", "scenario-2"]


@pytest.mark.parametrize("raw, message", [
    ("text", "holds a list or an object"),
    ({"scenario": []}, "unknown key 'scenario'"),
    ({"scenarios": []}, "non-empty list"),
    ([{"colour": 1}], "unknown field 'colour'"),
    ([{"mode": "fast"}], "mode must be"),
    ([{"mode": "mix"}], "needs a non-empty 'mix'"),
    ([{"spec": {"memory": 1}}], "missing 'disk'"),
    ([{"spec": {"memory": "1q", "disk": 1, "vcpus": 1}}], "Unknown unit 'q'"),
    ([{"spec": {"memory": 0, "disk": 1, "vcpus": 1}}], "memory must be positive"),
    ([{"spec": {"memory": 1, "disk": -5, "vcpus": 1}}], "must not be negative"),
    ([{"spec": {"memory": 1, "disk": 1, "vcpus": True}}], "vcpus must be an integer"),
    ([{"offline": "n1"}], "offline must be a list"),
    ([{"offline": [1]}], "list of node names"),
    ([{"add_nodes": [{"count": 1, "memory": 1, "disk": 1}]}], "missing 'vcpus'"),
    ([{"preload": [{"spec": {"memory": 1, "disk": 1, "vcpus": 1}}]}], "count must be"),
    ([{"limit": -1}], "limit must be an integer >= 0"),
    ([{"name": "x"}, {"name": "x"}], "two scenarios are named 'x'"),
    ({"grid": {"offline": []}}, "non-empty list of values"),
    ({"grid": {"colour": [1]}}, "unknown field 'colour' in grid"),
])
def test_bad_files_name_the_problem(raw, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenarios(raw)


def test_files(tmp_path) -> None:
    good = tmp_path / "s.json"
    good.write_text(json.dumps([{"name": "a"}]))
    assert load_scenarios(str(good)) == [Scenario("a")]
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(ScenarioError, match="not valid JSON"):
        load_scenarios(str(bad))
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        load_scenarios(str(tmp_path / "missing.json"))
