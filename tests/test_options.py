"""Tests for the GetOpt-compatible option parser.

Every expected message below was taken from Ganeti 3.0.2's binaries; the differential
tests at the end re-check them against the binaries when those are installed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from htools.cli.options import (
    DEFAULT_LUXI_SOCKET,
    EXTENSIONS,
    TOOL_OPTIONS,
    Options,
    ResourceSpec,
    UsageExit,
    completion_text,
    parse_args,
    parse_or_exit,
    usage_text,
    version_text,
)
from htools.fmt import show_string

TOOLS = sorted(TOOL_OPTIONS)
BIN_DIR = Path("/usr/lib/ganeti/3.0/usr/bin")
HAIL_BIN = Path("/usr/lib/ganeti/3.0/usr/lib/ganeti/iallocators/hail")
PARSE_ERROR = "Error while parsing command line arguments:\n"


def stop(tool: str, argv: list[str]) -> UsageExit:
    with pytest.raises(UsageExit) as info:
        parse_args(tool, argv)
    return info.value


def value_error(tool: str, argv: list[str]) -> str:
    """The message line of an invalid-value error (checks code and framing too)."""
    err = stop(tool, argv)
    assert (err.code, err.stdout) == (1, "")
    assert err.stderr.startswith(PARSE_ERROR) and err.stderr.endswith("\n")
    return err.stderr[len(PARSE_ERROR):-1]


# --- defaults and plain parsing ------------------------------------------------------


def test_defaults_match_ganeti() -> None:
    o = parse_args("hbal", [])
    assert o == Options()
    assert (o.max_length, o.min_score, o.min_gain, o.min_gain_limit) == (-1, 1e-9, 0.01, 0.1)
    assert (o.verbose, o.static_kvm_node_memory, o.min_disk, o.max_cpu) == (1, 4096, 0.0, None)
    assert (o.minimal_resources, o.target_resources) == (2.0, 2.0)
    assert o.select_instances == [] and o.exclusion_tags is None
    assert o.print_commands is None and o.print_nodes is None and o.args == []


def test_short_clusters_and_attached_or_separate_arguments() -> None:
    o = parse_args("hbal", ["-vvv", "-q", "-l5", "-G", "g1", "-Ob", "-O", "a", "-vEl", "7"])
    assert (o.verbose, o.max_length, o.group, o.evac_mode) == (4, 7, "g1", True)
    assert o.offline_nodes == ["b", "a"]  # command-line order (Ganeti reverses it)


def test_long_options_equals_separate_and_unique_prefix() -> None:
    o = parse_args("hbal", ["--max-len", "3", "--min-gain=0.5", "--group", "x",
                            "--print-i", "--no-d", "--text=f.data"])
    assert (o.max_length, o.min_gain, o.group) == (3, 0.5, "x")
    assert o.print_instances and o.no_disk_moves and o.data_file == "f.data"
    # An exact name wins over longer names sharing it as a prefix.
    o = parse_args("hbal", ["--min-gain", "1", "--mond", "--mond-xen"])
    assert (o.min_gain, o.min_gain_limit, o.mond, o.mond_xen) == (1.0, 0.1, True, True)


def test_required_argument_may_look_like_an_option() -> None:
    o = parse_args("hbal", ["-t", "--", "-l", "-5", "--reason", "-v"])
    assert (o.data_file, o.max_length, o.reason, o.verbose) == ("--", -5, "-v", 1)


@pytest.mark.parametrize(("argv", "expected"), [
    (["-C"], ""), (["-C-"], ""), (["--print-commands"], ""), (["-C/tmp/x"], "/tmp/x"),
    (["--print-commands=/tmp/x"], "/tmp/x"), (["-vC"], ""), (["-Cv"], "v"),
])
def test_print_commands_takes_only_attached_argument(argv: list[str], expected: str) -> None:
    assert parse_args("hbal", argv).print_commands == expected


def test_optional_argument_is_not_taken_from_next_word() -> None:
    err = stop("hbal", ["-C", "/tmp/x"])
    assert err.stderr == "Error: This program doesn't take any arguments.\n"


@pytest.mark.parametrize(("argv", "raw", "fields"), [
    (["-p"], "", []), (["--print-nodes="], "", []), (["-pname,pcnt"], "name,pcnt",
                                                      ["name", "pcnt"]),
    (["--print-nodes=+fqdn"], "+fqdn", ["+", "fqdn"]), (["-pa,"], "a,", ["a", ""]),
])
def test_print_nodes(argv: list[str], raw: str, fields: list[str]) -> None:
    o = parse_args("hbal", argv)
    assert (o.print_nodes, o.print_nodes_fields) == (raw, fields)


def test_backend_options() -> None:
    assert parse_args("hbal", ["-L"]).luxi == DEFAULT_LUXI_SOCKET
    assert parse_args("hbal", ["-L/s"]).luxi == "/s"
    assert parse_args("hbal", ["--luxi=/s", "-m", "c1"]).rapi == "c1"
    assert parse_args("hbal", ["-m", "c1", "-m", ""]).rapi is None  # "" means unset
    o = parse_args("hspace", ["--simulate=p,1,1,1,1", "--simulate", "a,2,2,2,2", "-I", "r"])
    assert o.simulate == ["p,1,1,1,1", "a,2,2,2,2"] and o.iallocator_src == "r"


def test_lists_and_flags() -> None:
    o = parse_args("hbal", ["--select-instances=a,b", "--select-instances=c,",
                            "--exclude-instances=", "--exclusion-tags=x,y", "-X",
                            "--first-job-group", "--priority=high", "-U", "u",
                            "--ignore-dynu", "--mond=no", "--restricted-migration",
                            "--no-instance-moves", "--ignore-soft-errors", "-S", "pre",
                            "--max-cpu=2.5", "--min-disk=0.1", "-e", "0.01",
                            "--static-kvm-node-memory=0", "-g", "1e-2",
                            "--min-gain-limit=(3)"])
    assert o.select_instances == ["c", ""] and o.exclude_instances == []
    assert o.exclusion_tags == ["x", "y"] and o.execute and o.first_job_group
    assert (o.priority, o.util_file, o.ignore_dynu, o.mond) == ("high", "u", True, False)
    assert o.restricted_migration and o.no_instance_moves and o.ignore_soft_errors
    assert (o.save_cluster, o.max_cpu, o.min_disk, o.min_score) == ("pre", 2.5, 0.1, 0.01)
    assert (o.static_kvm_node_memory, o.min_gain, o.min_gain_limit) == (0, 0.01, 3.0)


def test_hspace_options() -> None:
    o = parse_args("hspace", ["--disk-template=drbd", "--spindle-use=0",
                              "--standard-alloc=1 GB,2GiB,0x3,2",
                              "--tiered-alloc=(7)g,1M,1", "--machine-readable",
                              "--independent-groups", "--accept-existing-errors",
                              "--no-capacity-checks"])
    assert (o.disk_template, o.spindle_use) == ("drbd", 0)
    # Values as Ganeti's hspace reports them (HTS_SPEC_*, HTS_TSPEC_INI_*).
    assert o.standard_alloc == ResourceSpec(disk=953, mem=2048, cpu=3, spindles=2)
    assert o.tiered_alloc == ResourceSpec(disk=7168, mem=0, cpu=1, spindles=1)
    assert o.machine_readable and o.independent_groups and o.accept_existing_errors
    assert o.no_capacity_checks
    assert not parse_args("hspace", ["--machine-readable=no"]).machine_readable


def test_other_tools_options() -> None:
    o = parse_args("hroller", ["-f", "--node-tags=a,b", "--offline-maintenance",
                               "--no-headers", "--print-moves", "--full-evacuation",
                               "--skip-non-redundant", "--ignore-non-redundant",
                               "--one-step-only"])
    assert o.force and o.node_tags == ["a", "b"] and o.offline_maintenance and o.no_headers
    assert o.print_moves and o.full_evacuation and o.skip_non_redundant
    assert o.ignore_non_redundant and o.one_step_only
    o = parse_args("hsqueeze", ["--minimal-resources=1.5", "--target-resources=3", "-X"])
    assert (o.minimal_resources, o.target_resources, o.execute) == (1.5, 3.0, True)
    assert parse_args("hcheck", ["--no-simulation"]).no_simulation
    o = parse_args("hail", ["--restrict-allocation-to=n1,n2", "-v", "req.json"])
    assert o.restrict_allocation_to == ["n1", "n2"] and o.args == ["req.json"]


def test_options_end_at_double_dash_and_operands_are_permuted() -> None:
    assert parse_args("hail", ["-v", "--", "-x"]).args == ["-x"]
    assert parse_args("hail", ["-"]).args == ["-"]
    o = parse_args("hail", ["f", "-v"])
    assert (o.args, o.verbose) == (["f"], 2)
    # "-v-" leaves "--" after the v, which ends option processing (as in GetOpt).
    assert parse_args("hail", ["-v-", "-q"]).args == ["-q"]


# --- errors (texts verified against Ganeti 3.0.2) ------------------------------------


def test_unknown_option() -> None:
    err = stop("hbal", ["--no-such-option"])
    assert (err.code, err.stdout) == (2, "")
    assert err.stderr == ("Command line error: unrecognized option `--no-such-option'\n\n"
                          + usage_text("hbal"))


@pytest.mark.parametrize(("argv", "lines"), [
    (["--foo=bar"], ["unrecognized option `--foo=bar'"]),
    (["-xv"], ["unrecognized option `-x'"]),
    (["-x", "--y", "-z"], ["unrecognized option `-x'", "unrecognized option `--y'",
                           "unrecognized option `-z'"]),
    (["--max-len"], ["option `--max-len' requires an argument N"]),
    (["-l"], ["option `-l' requires an argument N"]),
    (["--help=3"], ["option `--help' doesn't allow an argument"]),
    # Argument errors come first, unknown options after them.
    (["-x", "-l"], ["option `-l' requires an argument N", "unrecognized option `-x'"]),
])
def test_getopt_errors(argv: list[str], lines: list[str]) -> None:
    err = stop("hbal", argv)
    assert err.code == 2
    assert err.stderr == ("Command line error: " + "\n".join(lines) + "\n\n"
                          + usage_text("hbal"))


def test_ambiguous_prefix_lists_the_candidates() -> None:
    err = stop("hbal", ["--max"])
    head = err.stderr.split("\n\n")[0].splitlines()
    assert err.code == 2
    assert head[0] == "Command line error: option `--max' is ambiguous; could be one of:"
    assert [line.split()[0:3] for line in head[1:]] == [["-l", "N", "--max-length=N"],
                                                        ["--max-cpu=RATIO", "override",
                                                         "the"]]
    assert head[1].index("--max-length") == head[2].index("--max-cpu")


@pytest.mark.parametrize(("tool", "argv", "message"), [
    ("hbal", ["--max-cpu=0"], "Invalid value of the max-cpu ratio, expected >0"),
    ("hbal", ["--max-cpu=-Infinity"], "Invalid value of the max-cpu ratio, expected >0"),
    ("hbal", ["--max-cpu", ".5"], "parsing max-cpu: cannot parse string '.5'"),
    ("hbal", ["--max-len=x"], "max solution length: cannot parse string 'x'"),
    ("hbal", ["-l", "5 "], "max solution length: leftover characters when parsing '5 ': ' '"),
    ("hbal", ["-l1e5"], "max solution length: cannot parse string '1e5'"),
    ("hbal", ["--min-disk=x"], "min free disk space: cannot parse string 'x'"),
    ("hbal", ["-g", "x"], "min gain: cannot parse string 'x'"),
    ("hbal", ["--min-gain-limit=x"], "min gain limit: cannot parse string 'x'"),
    ("hbal", ["-e", "1e"], "min score: leftover characters when parsing '1e': 'e'"),
    ("hbal", ["--static-kvm-node-memory=x"], "static node memory: cannot parse string 'x'"),
    ("hbal", ["--priority=abc"], "Unknown priority 'abc'"),
    ("hbal", ["--mond=x"], "Invalid choice 'x', pass one of 'yes' or 'no'"),
    ("hspace", ["--machine-readable="], "Invalid choice '', pass one of 'yes' or 'no'"),
    ("hspace", ["--spindle-use=-1"], "Invalid value of the spindle-use (expected >= 0)"),
    ("hspace", ["--spindle-use=1.5"], "parsing spindle-use: cannot parse string '1.5'"),
    ("hspace", ["--disk-template=foo"], 'Invalid string value for type DiskTemplate: "foo"'),
    ("hspace", ["--disk-template=\u00e91"],
     'Invalid string value for type DiskTemplate: "\\233\\&1"'),
    ("hspace", ["--standard-alloc=1,2"],
     "Invalid standard specification: '1,2', expected disk,ram,cpu"),
    ("hspace", ["--tiered-alloc="], "Invalid tiered specification: '', expected disk,ram,cpu"),
    ("hspace", ["--standard-alloc=x,2,3"], "standard specs disk: Can't parse string 'x'"),
    ("hspace", ["--standard-alloc=1,2x,3"], "standard specs memory: Unknown unit 'x'"),
    ("hspace", ["--standard-alloc=1,2,3x"],
     "standard specs cpus: leftover characters when parsing '3x': 'x'"),
    ("hspace", ["--standard-alloc=1,2,3,y"], "standard specs spindles: cannot parse string 'y'"),
    ("hspace", ["--tiered-alloc=1,2,"], "tiered specs cpus: cannot parse string ''"),
    ("hsqueeze", ["--minimal-resources=x"], "minimal resources: cannot parse string 'x'"),
    ("hsqueeze", ["--target-resources=x"], "target resources: cannot parse string 'x'"),
])
def test_invalid_values(tool: str, argv: list[str], message: str) -> None:
    assert value_error(tool, argv) == message


def test_first_invalid_value_wins_and_beats_help() -> None:
    assert value_error("hbal", ["--max-length=x", "--max-cpu=-1"]).startswith("max solution")
    assert value_error("hbal", ["--max-cpu=-1", "--max-length=x"]).startswith("Invalid value")
    assert value_error("hbal", ["--help", "--max-cpu=0"]).startswith("Invalid value")
    assert value_error("hbal", ["x", "--max-cpu=0"]).startswith("Invalid value")


@pytest.mark.parametrize("tool", [t for t in TOOLS if t != "hail"])
def test_operands_rejected(tool: str) -> None:
    err = stop(tool, ["unexpected-argument"])
    assert (err.code, err.stdout) == (1, "")
    assert err.stderr == "Error: This program doesn't take any arguments.\n"


@pytest.mark.parametrize(("argv", "message"), [
    ([], "Error: This program needs an input file.\n"),
    (["--"], "Error: This program needs an input file.\n"),
    (["a", "b"], "Error: Only one argument is accepted (the input file)\n"),
])
def test_hail_operand_errors(argv: list[str], message: str) -> None:
    err = stop("hail", argv)
    assert (err.code, err.stderr) == (1, message)


# --- help, version, completion -------------------------------------------------------


@pytest.mark.parametrize("tool", TOOLS)
def test_help(tool: str) -> None:
    err = stop(tool, ["--help", "ignored-operand"])
    assert (err.code, err.stderr) == (0, "")
    lines = err.stdout.splitlines()
    assert lines[0].startswith(f"{tool} (ganeti-htools-py) version ")
    assert lines[1].startswith(f"Usage: {tool} [OPTION...]")
    assert len(lines) == 2 + len(TOOL_OPTIONS[tool]) + 3
    assert stop(tool, ["-h"]).stdout == err.stdout


def test_version_and_precedence() -> None:
    err = stop("hbal", ["--version"])
    assert (err.code, err.stderr) == (0, "")
    assert re.fullmatch(r"hbal \(ganeti-htools-py\) version \S+\n"
                        r"compiled with \S+ \d+\.\d+\nrunning on \S+ \S+\n", err.stdout)
    assert stop("hbal", ["-V", "--help"]).stdout == usage_text("hbal")
    assert stop("hbal", ["--help-completion", "-V"]).stdout == version_text("hbal")
    assert stop("hail", ["--help-completion"]).stdout == completion_text("hail")


def test_completion_text() -> None:
    text = completion_text("hail")
    assert text.startswith("-p,--print-nodes none\n-S,--save none\n")
    assert text.endswith("--help-completion none\nfile 1 1\n")


def test_parse_or_exit(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_or_exit("hbal", ["-v"]).verbose == 2
    with pytest.raises(SystemExit) as info:
        parse_or_exit("hbal", ["--max-cpu=0"])
    assert info.value.code == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", PARSE_ERROR + "Invalid value of the max-cpu ratio, expected >0\n")


def test_unknown_tool() -> None:
    with pytest.raises(ValueError, match="unknown tool"):
        parse_args("hfoo", [])


# --- values read like Ganeti (the readers themselves: tests/test_hsread.py) ---------


def test_number_errors_end_parsing_like_other_bad_values() -> None:
    assert value_error("hbal", ["-l", "5 "]) == \
        "max solution length: leftover characters when parsing '5 ': ' '"
    assert value_error("hspace", ["--standard-alloc=1x,2,3"]) == \
        "standard specs disk: Unknown unit 'x'"
    assert parse_args("hbal", ["-l", "( 0x1F )", "--max-cpu= 2.5"]).max_length == 31


def test_disk_template_error_shows_the_string_like_haskell() -> None:
    # Messages quote the value with Haskell's ``show`` (htools.fmt.show_string).
    assert show_string('a"b\\c') == '"a\\"b\\\\c"'
    assert show_string("\x01\x0eH\x7f\t\u00e9x") == '"\\SOH\\SO\\&H\\DEL\\t\\233x"'
    assert value_error("hspace", ["--disk-template=a\u00e9"]) == \
        'Invalid string value for type DiskTemplate: "a\\233"'


# --- differential tests against Ganeti's binaries ------------------------------------

needs_ganeti = pytest.mark.skipif(not (BIN_DIR / "hbal").exists() or not HAIL_BIN.exists(),
                                  reason="Ganeti 3.0.2 htools binaries not installed")


def run_ganeti(tool: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    exe = HAIL_BIN if tool == "hail" else BIN_DIR / tool
    return subprocess.run([str(exe), *argv], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)


BAD_ARGVS = [
    ["--no-such-option"], ["--foo=bar"], ["-x"], ["-xv"], ["-x", "--y", "-z"], ["--max"],
    ["--m"], ["--h"], ["--=x"], ["--max-len"], ["-l"], ["-t"], ["--help=3"],
    ["--print-i=3"], ["-x", "--max"], ["--max", "-l"], ["---x"], ["--exec=1"], ["-X1"],
    ["--max-length=x"], ["--max-length=5 "], ["--max-length=0b1"], ["-l", "-(5)"],
    ["--max-cpu=0"], ["--max-cpu=-0x10"], ["--max-cpu=1.5e"], ["--max-cpu=Infinityx"],
    ["--min-gain", "1e+"], ["--min-disk=2 .5"], ["--priority="], ["--mond=maybe"],
    ["--spindle-use=-1"], ["--disk-template=a\"\u00e9\x01"], ["--standard-alloc=1,2,3,4,5"],
    ["--tiered-alloc=1 gb ,2,3"], ["--standard-alloc=(1,2,3"], ["--machine-readable=x"],
    ["--help", "--max-cpu=0"], ["x", "--max-cpu=0"], ["unexpected-argument"],
    ["-v-", "x"], ["--", "-x"], ["-C", "/tmp/x"],
]
DIFF_CASES = [(tool, argv) for tool in TOOLS for argv in BAD_ARGVS] + [
    ("hail", []), ("hail", ["a", "b"]), ("hail", ["--"]),
]


@pytest.mark.ganeti
@needs_ganeti
@pytest.mark.parametrize(("tool", "argv"), DIFF_CASES)
def test_errors_match_ganeti(tool: str, argv: list[str]) -> None:
    """Same exit code and first stderr line; identical stderr for exit code 1."""
    try:
        parse_args(tool, argv)
    except UsageExit as err:
        ours = err
    else:  # the option is valid for this tool; Ganeti must then fail later, not in parsing
        theirs = run_ganeti(tool, argv)
        assert not theirs.stderr.startswith(("Command line error", PARSE_ERROR))
        return
    theirs = run_ganeti(tool, argv)
    assert ours.code == theirs.returncode
    assert ours.stderr.splitlines()[:1] == theirs.stderr.splitlines()[:1]
    if ours.code == 1:
        assert ours.stderr == theirs.stderr


@pytest.mark.ganeti
@needs_ganeti
@pytest.mark.parametrize("tool", TOOLS)
def test_option_tables_match_ganeti(tool: str) -> None:
    """Names, letters, argument kinds, metavariables, order and column layout agree."""
    def ganeti_only(lines: list[str]) -> list[str]:
        return [line for line in lines if not any(f"--{e} " in line or f"--{e}=" in line
                                                  for e in EXTENSIONS)]
    assert ganeti_only(completion_text(tool).splitlines()) == \
        run_ganeti(tool, ["--help-completion"]).stdout.splitlines()
    ours = ganeti_only(usage_text(tool).splitlines()[2:])
    theirs = run_ganeti(tool, ["--help"]).stdout.splitlines()[2:]
    width = len(ours[0]) - len(ours[0].split("  ")[-1])  # where descriptions start
    assert [line[:width] for line in ours] == [line[:width] for line in theirs]


@pytest.mark.ganeti
@needs_ganeti
def test_version_shape_matches_ganeti() -> None:
    shape = r"hbal \(\S+\) version \S+\ncompiled with \S+ \S+\nrunning on \S+ \S+\n"
    theirs = run_ganeti("hbal", ["--version"])
    assert theirs.returncode == 0 and re.fullmatch(shape, theirs.stdout)
    assert re.fullmatch(shape, stop("hbal", ["--version"]).stdout)
