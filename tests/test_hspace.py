"""hspace on its own (no Ganeti needed): output shape, -S files, bad input, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO


def hspace(args: list[str], cwd=None) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "htools.cli.hspace", *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    return proc.returncode, proc.stdout, proc.stderr


SIM = ["--simulate=p,4,100G,16G,8", "--disk-template=drbd"]


def _keys(out: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in out.splitlines())


def test_machine_readable_keys_and_counts() -> None:
    rc, out, err = hspace([*SIM, "--machine-readable"])
    assert rc == 0, err
    keys = _keys(out)
    assert list(keys)[0] == "HTS_CLUSTER_MEM" and list(keys)[-1] == "HTS_OK"
    placed = int(keys["HTS_ALLOC_INSTANCES"])
    assert placed > 0
    assert int(keys["HTS_FIN_INST_CNT"]) == placed  # an empty cluster filled by us
    # the standard spec (128 MiB, 1 GiB) uses exactly what FIN reports
    assert int(keys["HTS_FIN_MEM_INST"]) == 128 * placed
    tiered = sum(int(e.split("=")[1]) for e in keys["HTS_TSPEC"].strip("'").split())
    assert tiered == int(keys["HTS_TRL_INST_CNT"])
    assert keys["HTS_ALLOC_FAIL_REASON"].startswith("FAIL")


def test_limit_caps_both_runs() -> None:
    rc, out, _ = hspace([*SIM, "--machine-readable", "-l", "3"])
    keys = _keys(out)
    assert rc == 0
    assert keys["HTS_ALLOC_INSTANCES"] == "3"
    # tiered never passes the limit (Ganeti subtracts earlier levels again: 2 here)
    assert 0 < int(keys["HTS_TRL_INST_CNT"]) <= 3


def test_save_writes_tiered_and_standard_states(tmp_path) -> None:
    rc, _, err = hspace([*SIM, "-S", str(tmp_path / "out")])
    assert rc == 0, err
    tiered = (tmp_path / "out.tiered").read_text()
    standard = (tmp_path / "out.standard").read_text()
    assert "new-0" in tiered and "new-0" in standard
    assert "out.tiered" in err and "out.standard" in err


@pytest.mark.parametrize(("args", "message"), [
    (["--simulate=p,1,100G,8G,4", "--disk-template=drbd"],
     "Error: failure during allocation: Not enough online nodes"),
    (["--simulate=p,0,100G,8G,4"], "Error: failure during allocation: No online nodes"),
    (["--simulate=p,2,100G"], "Error: failed to load data, aborting: Invalid cluster "
                               "specification, expected 6 comma-separated sections"),
    (["--simulate=x,2,100G,8G,4"], "Invalid string value for type AllocPolicy"),
    (["extra", "--simulate=p,2,100G,8G,4"], "Error: This program doesn't take any arguments."),
    (["-t", "/nonexistent/file.data"], "/nonexistent/file.data"),
])
def test_bad_input_is_one_clear_error(args: list[str], message: str) -> None:
    rc, _, err = hspace(args)
    assert rc == 1
    assert message in err
    assert "Traceback" not in err


def test_malformed_text_file(tmp_path) -> None:
    bad = tmp_path / "bad.data"
    bad.write_text("group-01|fake-uuid|preferred||\n\nnode1|x|y\n\n\n")
    rc, _, err = hspace(["-t", str(bad)])
    assert rc == 1
    assert err.startswith("Error: failed to load data, aborting:")
    assert "Traceback" not in err


# --- --sweep: the capacity planner --------------------------------------------------

SWEEP = {"defaults": {"spec": {"memory": "2g", "disk": "10g", "vcpus": 1}},
         "scenarios": [{"name": "now"}, {"name": "rack", "add_nodes": [
             {"count": 1, "memory": "16g", "disk": "100g", "vcpus": 8}]}],
         "grid": {"offline": [[], ["node-01-001"]]}}


def _sweep_file(tmp_path, content) -> str:
    import json
    path = tmp_path / "scenarios.json"
    path.write_text(json.dumps(content))
    return str(path)


def test_sweep_csv_json_and_plot(tmp_path) -> None:
    import csv
    import io
    import json
    scen = _sweep_file(tmp_path, SWEEP)
    rc, out, err = hspace([*SIM, "--no-capacity-checks", "--sweep", scen])
    assert rc == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["scenario"] for r in rows] == ["now [offline=none]", "now [offline=node-01-001]",
                                             "rack [offline=none]",
                                             "rack [offline=node-01-001]"]
    assert [int(r["nodes"]) for r in rows] == [4, 3, 5, 4]
    # the baseline is hspace's own answer for the same spec
    rc, plain, err = hspace([*SIM, "--no-capacity-checks", "--machine-readable",
                             "--standard-alloc=10g,2g,1"])
    assert rows[0]["instances"] == _keys(plain)["HTS_ALLOC_INSTANCES"]
    # growing the cluster never lowers capacity; losing a node never raises it
    n = [int(r["instances"]) for r in rows]
    assert n[2] >= n[0] >= n[1] and n[2] >= n[3]
    js, png = tmp_path / "t.json", tmp_path / "t.png"
    rc, out, err = hspace([*SIM, "--no-capacity-checks", "--sweep", scen,
                           "--sweep-output", str(js), "--plot", str(png)])
    assert rc == 0 and out == "", err
    assert [r["instances"] for r in json.loads(js.read_text())] == n
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("extra, content, message", [
    (["--plot", "x.png"], None, "Error: --plot needs --sweep"),
    (["--ray", "local"], None, "Error: --ray needs --sweep"),
    (["--sweep-output", "t.txt"], SWEEP, "Error: --sweep-output t.txt: the name must end in"),
    ([], [{"offline": ["nope"]}], "Error: scenario 'scenario-1': unknown node 'nope'"),
    ([], [{"spec": {"memory": "x"}}], "Error: scenario 'scenario-1', spec: missing 'disk'"),
    ([], "not json", "Error: scenario file"),
])
def test_sweep_bad_input(tmp_path, extra, content, message: str) -> None:
    args = [*SIM, *extra]
    if content is not None:
        scen = _sweep_file(tmp_path, content)
        if content == "not json":
            (tmp_path / "scenarios.json").write_text("{")
        args += ["--sweep", scen]
    rc, out, err = hspace(args, cwd=tmp_path)
    assert rc == 1 and err.startswith(message), err
    assert "Traceback" not in err and out == ""
