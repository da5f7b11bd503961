"""Command-line options of the htools, parsed exactly like Ganeti's binaries parse them.

Ganeti's tools use Haskell's ``System.Console.GetOpt`` (``Permute`` mode) and read
numbers with Haskell's ``reads`` (``htools.hsread``).  Users and scripts depend on the
resulting details: optional arguments are only taken when attached (``-C`` vs
``-C/tmp/x``), long options may be abbreviated to any unique prefix (``--max-len``),
errors have fixed wording and exit codes (2 for GetOpt errors, 1 for bad values),
``-v-`` ends option processing and ``" 5"`` is a valid integer while ``"5 "`` is not.
click (listed in the design card) and argparse both disagree with GetOpt on several of
these points (prefix matching, optional arguments, clustering, messages, exit codes), so
this module implements the GetOpt rules directly; click remains fine for tools that need
no Ganeti compatibility.

Entry points: :func:`parse_args` returns an :class:`Options` or raises
:class:`UsageExit`; :func:`parse_or_exit` prints and exits for thin CLI wrappers.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal, NamedTuple, NoReturn

from htools.fmt import show_string
from htools.hsread import ReadError, parse_unit, read_double, read_int, sep_split
from solver.records import DISK_TEMPLATES

PROJECT = "ganeti-htools-py"
# Ganeti's default query socket, used when -L/--luxi is given without a path.
DEFAULT_LUXI_SOCKET = "/var/run/ganeti/socket/ganeti-query"


class UsageExit(Exception):
    """Parsing ended the program: help, version, or a command-line error.

    Raised instead of exiting so that CLIs stay thin and tests can check the exact
    texts; :func:`parse_or_exit` turns it into output and an exit status.
    """

    def __init__(self, code: int, stdout: str = "", stderr: str = "") -> None:
        super().__init__(code, stdout, stderr)
        self.code = code
        self.stdout = stdout
        self.stderr = stderr


# An option's argument is invalid; the message is Ganeti's, word for word.  The
# same error as a value that does not read, so that both end parsing alike.
OptionValueError = ReadError


class ResourceSpec(NamedTuple):
    """An instance size from ``--standard-alloc``/``--tiered-alloc`` (MiB, cpus)."""

    disk: int
    mem: int
    cpu: int
    spindles: int


@dataclass
class Options:
    """Parsed options; one record for every tool, fields a tool lacks keep defaults.

    Backends: ``data_file`` (-t), ``rapi`` (-m; Ganeti treats an empty address as not
    given, so ``-m ''`` yields None), ``luxi`` (-L; bare -L gives
    :data:`DEFAULT_LUXI_SOCKET`), ``iallocator_src`` (-I), ``simulate`` (--simulate,
    in command-line order; Ganeti numbers the groups in reverse, the last option
    becoming group-01).

    ``offline_nodes`` (-O) is in command-line order; Ganeti reports unknown names in
    reverse order.  ``select_instances``/``exclude_instances`` are plain lists as in
    Ganeti: an empty selection means "no restriction".  ``exclusion_tags``,
    ``restrict_allocation_to`` and ``node_tags`` are None unless given (then the
    comma-split list, Ganeti's ``sepSplit``).

    ``print_commands`` (-C): None, ``""`` for stdout (bare ``-C`` or ``-C-``), or a
    file path.  ``print_nodes`` (-p): None or the raw field spec (``""`` when bare);
    see :attr:`print_nodes_fields`.  ``verbose`` starts at 1; -v adds, -q subtracts.
    ``args`` holds the positional arguments (only hail accepts one).
    """

    # data sources
    data_file: str | None = None
    rapi: str | None = None
    luxi: str | None = None
    iallocator_src: str | None = None
    simulate: list[str] = field(default_factory=list)
    util_file: str | None = None
    ignore_dynu: bool = False
    mond: bool = False
    mond_data: str | None = None
    mond_xen: bool = False
    exit_on_missing_mond_data: bool = False
    static_kvm_node_memory: int = 4096
    # node and instance selection
    group: str | None = None
    offline_nodes: list[str] = field(default_factory=list)
    select_instances: list[str] = field(default_factory=list)
    exclude_instances: list[str] = field(default_factory=list)
    exclusion_tags: list[str] | None = None
    restrict_allocation_to: list[str] | None = None
    node_tags: list[str] | None = None
    # node limits
    max_cpu: float | None = None
    min_disk: float = 0.0
    # balancing algorithm
    max_length: int = -1
    min_score: float = 1e-9
    min_gain: float = 0.01
    min_gain_limit: float = 0.1
    no_disk_moves: bool = False
    no_instance_moves: bool = False
    restricted_migration: bool = False
    evac_mode: bool = False
    ignore_soft_errors: bool = False
    no_capacity_checks: bool = False
    no_simulation: bool = False
    solver: str = "greedy"
    ilp_time_limit: float = 10.0
    # hspace's capacity planner (our addition)
    sweep: str | None = None
    sweep_output: str | None = None
    ray: str | None = None
    plot: str | None = None
    # hspace
    disk_template: str | None = None
    spindle_use: int | None = None
    standard_alloc: ResourceSpec | None = None
    tiered_alloc: ResourceSpec | None = None
    independent_groups: bool = False
    accept_existing_errors: bool = False
    machine_readable: bool = False
    # hroller
    offline_maintenance: bool = False
    full_evacuation: bool = False
    skip_non_redundant: bool = False
    ignore_non_redundant: bool = False
    force: bool = False
    one_step_only: bool = False
    print_moves: bool = False
    no_headers: bool = False
    # hsqueeze
    minimal_resources: float = 2.0
    target_resources: float = 2.0
    # reporting
    verbose: int = 1
    print_commands: str | None = None
    print_nodes: str | None = None
    print_instances: bool = False
    save_cluster: str | None = None
    # job execution (-X over RAPI)
    execute: bool = False
    first_job_group: bool = False
    reason: str | None = None
    priority: Literal["low", "normal", "high"] | None = None
    args: list[str] = field(default_factory=list)

    @property
    def print_nodes_fields(self) -> list[str] | None:
        """The -p field list as Ganeti splits it: a leading ``+`` becomes its own item."""
        if self.print_nodes is None:
            return None
        if self.print_nodes.startswith("+"):
            return ["+", *sep_split(self.print_nodes[1:])]
        return sep_split(self.print_nodes)


def parse_spec(descr: str, s: str) -> ResourceSpec:
    """Parse ``disk,ram,cpu[,spindles]`` (Ganeti's ``parseISpecString``)."""
    parts = sep_split(s)
    if not 3 <= len(parts) <= 4:
        raise OptionValueError(
            f"Invalid {descr} specification: '{s}', expected disk,ram,cpu")
    disk = parse_unit(parts[0], f"{descr} specs disk")
    mem = parse_unit(parts[1], f"{descr} specs memory")
    cpu = read_int(f"{descr} specs cpus", parts[2])
    spindles = read_int(f"{descr} specs spindles", parts[3]) if len(parts) == 4 else 1
    return ResourceSpec(disk, mem, cpu, spindles)


def _yes_no(value: str | None) -> bool:
    if value is None or value == "yes":
        return True
    if value == "no":
        return False
    raise OptionValueError(f"Invalid choice '{value}', pass one of 'yes' or 'no'")


def _disk_template(value: str) -> str:
    if value not in DISK_TEMPLATES:
        raise OptionValueError(
            f"Invalid string value for type DiskTemplate: {show_string(value)}")
    return value


# Options of ours that Ganeti's tools lack (listed after Ganeti's own in each tool).
EXTENSIONS = ("solver", "ilp-time-limit", "sweep", "sweep-output", "ray", "plot")


def _solver(value: str) -> str:
    if value not in ("greedy", "ilp"):
        raise OptionValueError(f"Invalid solver '{value}', pass one of 'greedy' or 'ilp'")
    return value


def _priority(value: str) -> str:
    if value not in ("low", "normal", "high"):
        raise OptionValueError(f"Unknown priority '{value}'")
    return value


def _positive(option: str, what: str) -> Callable[[str], float]:
    """A reader of a positive double option (Ganeti's wording for max-cpu)."""
    def read(value: str) -> float:
        x = read_double(f"parsing {option}", value)
        if x <= 0:
            raise OptionValueError(f"Invalid value of the {what}, expected >0")
        return x
    return read


def _spindle_use(value: str) -> int:
    su = read_int("parsing spindle-use", value)
    if su < 0:
        raise OptionValueError("Invalid value of the spindle-use (expected >= 0)")
    return su


# --- the option table ----------------------------------------------------------------

ArgKind = Literal["none", "req", "opt"]
Apply = Callable[[Options, "str | None"], None]


@dataclass(frozen=True)
class OptSpec:
    """One option: GetOpt's names and argument kind, our help text, its effect."""

    short: str
    long: str
    kind: ArgKind
    meta: str
    help: str
    completion: str
    apply: Apply | None  # None for --help/--version/--help-completion


def _set(name: str, conv: Callable[[str], object] = str) -> Apply:
    return lambda o, v: setattr(o, name, conv(v))


def _flag(name: str) -> Apply:
    return lambda o, v: setattr(o, name, True)


def _append(name: str) -> Apply:
    return lambda o, v: getattr(o, name).append(v)


def _bump(delta: int) -> Apply:
    return lambda o, v: setattr(o, "verbose", o.verbose + delta)


_SPECS = [
    OptSpec("p", "print-nodes", "opt", "FIELDS",
            "show the node table on stderr before and after (optional field list)",
            "none", lambda o, v: setattr(o, "print_nodes", v or "")),
    OptSpec("", "print-instances", "none", "", "show the instance map on stderr",
            "none", _flag("print_instances")),
    OptSpec("C", "print-commands", "opt", "FILE",
            "show the gnt-instance commands of the solution, or write them as a"
            " shell script to FILE", "none",
            lambda o, v: setattr(o, "print_commands", "" if v in (None, "-") else v)),
    OptSpec("t", "text-data", "req", "FILE", "read the cluster from a text data FILE",
            "file", _set("data_file")),
    OptSpec("E", "evac-mode", "none", "",
            "move only instances that touch offline or drained nodes", "none",
            _flag("evac_mode")),
    OptSpec("", "restricted-migration", "none", "",
            "never change an instance's primary to a new node (no failover-and-replace"
            " moves)", "none", _flag("restricted_migration")),
    OptSpec("m", "master", "req", "ADDRESS", "read the cluster over RAPI from ADDRESS",
            "host", _set("rapi", lambda v: v or None)),
    OptSpec("L", "luxi", "opt", "SOCKET",
            f"read the cluster over Luxi (socket defaults to {DEFAULT_LUXI_SOCKET})",
            "file", lambda o, v: setattr(o, "luxi", DEFAULT_LUXI_SOCKET if v is None else v)),
    OptSpec("I", "ialloc-src", "req", "FILE",
            "read the cluster from an iallocator request FILE", "file",
            _set("iallocator_src")),
    OptSpec("X", "exec", "none", "", "submit the moves as jobs (needs -m)",
            "none", _flag("execute")),
    OptSpec("", "first-job-group", "none", "", "with -X, run only the first job set",
            "none", _flag("first_job_group")),
    OptSpec("", "reason", "req", "REASON", "reason text attached to submitted jobs",
            "none", _set("reason")),
    OptSpec("G", "group", "req", "ID", "work on this node group (name or UUID)",
            "onegroup", _set("group")),
    OptSpec("l", "max-length", "req", "N",
            "stop after N balancing steps or allocations (-1: no limit)", "integer",
            _set("max_length", lambda v: read_int("max solution length", v))),
    OptSpec("v", "verbose", "none", "", "be more verbose (repeatable)", "none", _bump(1)),
    OptSpec("q", "quiet", "none", "", "be less verbose (repeatable)", "none", _bump(-1)),
    OptSpec("O", "offline", "req", "NODE", "treat NODE as offline (repeatable)",
            "onenode", _append("offline_nodes")),
    OptSpec("", "static-kvm-node-memory", "req", "N",
            "assume N MiB of node memory on KVM instead of the reported value (0: use"
            " the reported value)", "integer",
            _set("static_kvm_node_memory", lambda v: read_int("static node memory", v))),
    OptSpec("e", "min-score", "req", "EPSILON",
            "stop once the score is within EPSILON of the optimum", "float",
            _set("min_score", lambda v: read_double("min score", v))),
    OptSpec("", "max-cpu", "req", "RATIO",
            "override the virtual-to-physical CPU ratio of all nodes (> 0)", "float",
            _set("max_cpu", _positive("max-cpu", "max-cpu ratio"))),
    OptSpec("", "min-disk", "req", "RATIO",
            "fraction of disk to keep free on every node (0 to 1, default 0)", "float",
            _set("min_disk", lambda v: read_double("min free disk space", v))),
    OptSpec("g", "min-gain", "req", "DELTA",
            "stop when a step improves the score by less than DELTA", "float",
            _set("min_gain", lambda v: read_double("min gain", v))),
    OptSpec("", "min-gain-limit", "req", "SCORE",
            "apply --min-gain only once the score is below SCORE", "float",
            _set("min_gain_limit", lambda v: read_double("min gain limit", v))),
    OptSpec("", "no-disk-moves", "none", "",
            "allow only failovers and migrations, no disk (secondary) moves", "none",
            _flag("no_disk_moves")),
    OptSpec("", "select-instances", "req", "INSTS",
            "move only these instances (comma-separated)", "manyinstances",
            _set("select_instances", sep_split)),
    OptSpec("", "no-instance-moves", "none", "",
            "allow only secondary changes, never a new primary node", "none",
            _flag("no_instance_moves")),
    OptSpec("", "ignore-soft-errors", "none", "",
            "allow moves that break soft policy limits", "none",
            _flag("ignore_soft_errors")),
    OptSpec("U", "dynu-file", "req", "FILE",
            "read per-instance dynamic utilisation from FILE", "file", _set("util_file")),
    OptSpec("", "ignore-dynu", "none", "", "disregard dynamic utilisation data", "none",
            _flag("ignore_dynu")),
    OptSpec("", "mond", "opt", "CHOICE", "query the monitoring daemons (yes or no)",
            "choices=yes,no", lambda o, v: setattr(o, "mond", _yes_no(v))),
    OptSpec("", "mond-data", "req", "FILE",
            "read monitoring-daemon data from FILE instead of querying", "file",
            _set("mond_data")),
    OptSpec("", "exit-on-missing-mond-data", "none", "",
            "fail when monitoring data is incomplete", "none",
            _flag("exit_on_missing_mond_data")),
    OptSpec("", "mond-xen", "none", "", "use the Xen-specific monitoring collectors too",
            "none", _flag("mond_xen")),
    OptSpec("", "exclusion-tags", "req", "TAG,...",
            "instance tag prefixes that keep instances apart", "string",
            _set("exclusion_tags", sep_split)),
    OptSpec("", "exclude-instances", "req", "INSTS",
            "never move these instances (comma-separated)", "manyinstances",
            _set("exclude_instances", sep_split)),
    OptSpec("S", "save", "req", "FILE",
            "save the cluster state to files named after FILE", "none",
            _set("save_cluster")),
    OptSpec("", "priority", "req", "PRIO", "priority of submitted jobs",
            "choices=low,normal,high", _set("priority", _priority)),
    OptSpec("", "simulate", "req", "SPEC",
            "use an empty simulated node group (policy,nodes,disk,ram,cpu;"
            " repeatable)", "string", _append("simulate")),
    OptSpec("", "no-capacity-checks", "none", "",
            "skip capacity checks such as global N+1 redundancy", "none",
            _flag("no_capacity_checks")),
    OptSpec("", "restrict-allocation-to", "req", "NODE,...",
            "allocate only on these nodes", "manynodes",
            _set("restrict_allocation_to", sep_split)),
    OptSpec("", "solver", "req", "greedy|ilp",
            "placement for allocate/multi-allocate: greedy (Ganeti's, default) or ilp "
            "(joint, OR-Tools)", "choices=greedy,ilp", _set("solver", _solver)),
    OptSpec("", "ilp-time-limit", "req", "SECONDS",
            "time the ilp solver may take before greedy takes over (default 10)", "float",
            _set("ilp_time_limit", _positive("ilp-time-limit", "ilp-time-limit"))),
    OptSpec("", "sweep", "req", "FILE",
            "capacity of every scenario in the JSON FILE (instead of one hspace run)", "file",
            _set("sweep")),
    OptSpec("", "sweep-output", "req", "FILE",
            "with --sweep, write the table to FILE (.csv or .json; default CSV on stdout)",
            "file", _set("sweep_output")),
    OptSpec("", "ray", "req", "ADDRESS",
            "with --sweep, run the scenarios on a Ray cluster ('local' starts one here)",
            "host", _set("ray")),
    OptSpec("", "plot", "req", "FILE.png",
            "with --sweep, draw capacity and limiting resource per scenario to FILE.png",
            "file", _set("plot")),
    OptSpec("", "disk-template", "req", "TEMPLATE",
            "disk template of the new instances", "choices=" + ",".join(DISK_TEMPLATES),
            _set("disk_template", _disk_template)),
    OptSpec("", "spindle-use", "req", "SPINDLES",
            "spindles used by each new instance (default: from the cluster)", "float",
            _set("spindle_use", _spindle_use)),
    OptSpec("", "independent-groups", "none", "",
            "treat node groups independently", "none", _flag("independent_groups")),
    OptSpec("", "accept-existing-errors", "none", "",
            "tolerate existing N+1 failures, only avoid new ones", "none",
            _flag("accept_existing_errors")),
    OptSpec("", "machine-readable", "opt", "CHOICE",
            "print shell-style KEY=value output (yes or no; default yes)",
            "choices=yes,no", lambda o, v: setattr(o, "machine_readable", _yes_no(v))),
    OptSpec("", "standard-alloc", "req", "STDSPEC",
            "size of the standard-allocation instance, as disk,ram,cpu", "string",
            _set("standard_alloc", lambda v: parse_spec("standard", v))),
    OptSpec("", "tiered-alloc", "req", "TSPEC",
            "starting size for tiered allocation, as disk,ram,cpu", "string",
            _set("tiered_alloc", lambda v: parse_spec("tiered", v))),
    OptSpec("", "no-simulation", "none", "", "skip the rebalancing simulation", "none",
            _flag("no_simulation")),
    OptSpec("", "offline-maintenance", "none", "",
            "plan as if every instance were shut down", "none",
            _flag("offline_maintenance")),
    OptSpec("", "no-headers", "none", "", "omit table headers", "none",
            _flag("no_headers")),
    OptSpec("", "node-tags", "req", "TAG,...", "consider only nodes with these tags",
            "string", _set("node_tags", sep_split)),
    OptSpec("", "print-moves", "none", "", "show the instance moves", "none",
            _flag("print_moves")),
    OptSpec("", "full-evacuation", "none", "", "empty the nodes completely before reboot",
            "none", _flag("full_evacuation")),
    OptSpec("", "skip-non-redundant", "none", "",
            "leave out nodes hosting non-redundant instances", "none",
            _flag("skip_non_redundant")),
    OptSpec("", "ignore-non-redundant", "none", "",
            "act as if no instance were non-redundant", "none",
            _flag("ignore_non_redundant")),
    OptSpec("f", "force", "none", "", "go ahead despite warnings", "none", _flag("force")),
    OptSpec("", "one-step-only", "none", "", "compute only the first step", "none",
            _flag("one_step_only")),
    OptSpec("", "minimal-resources", "req", "FACTOR",
            "free resources per node, in standard instances, below which to wake"
            " standby nodes", "float",
            _set("minimal_resources", lambda v: read_double("minimal resources", v))),
    OptSpec("", "target-resources", "req", "FACTOR",
            "free resources per node, in standard instances, to keep after squeezing",
            "float", _set("target_resources", lambda v: read_double("target resources", v))),
    OptSpec("V", "version", "none", "", "print the version and exit", "none", None),
    OptSpec("h", "help", "none", "", "print this help and exit", "none", None),
    OptSpec("", "help-completion", "none", "", "print shell-completion data and exit",
            "none", None),
]
SPECS: dict[str, OptSpec] = {spec.long: spec for spec in _SPECS}

# Each tool's options, in Ganeti's order (it decides the help and ambiguity listings).
TOOL_OPTIONS: dict[str, tuple[str, ...]] = {
    "hbal": ("print-nodes", "print-instances", "print-commands", "text-data", "evac-mode",
             "restricted-migration", "master", "luxi", "ialloc-src", "exec",
             "first-job-group", "reason", "group", "max-length", "verbose", "quiet",
             "offline", "static-kvm-node-memory", "min-score", "max-cpu", "min-disk",
             "min-gain", "min-gain-limit", "no-disk-moves", "select-instances",
             "no-instance-moves", "ignore-soft-errors", "dynu-file", "ignore-dynu", "mond",
             "mond-data", "exit-on-missing-mond-data", "mond-xen", "exclusion-tags",
             "exclude-instances", "save", "priority"),
    "hail": ("print-nodes", "save", "text-data", "simulate", "verbose", "ignore-dynu",
             "ignore-soft-errors", "no-capacity-checks", "restrict-allocation-to", "mond",
             "mond-xen", "static-kvm-node-memory", "solver", "ilp-time-limit"),
    "hspace": ("print-nodes", "text-data", "disk-template", "spindle-use", "simulate",
               "master", "luxi", "ialloc-src", "verbose", "quiet", "independent-groups",
               "accept-existing-errors", "offline", "no-capacity-checks",
               "machine-readable", "max-cpu", "max-length", "min-disk", "standard-alloc",
               "tiered-alloc", "save", "static-kvm-node-memory", "sweep", "sweep-output",
               "ray", "plot"),
    "hcheck": ("text-data", "no-disk-moves", "dynu-file", "ignore-dynu", "evac-mode",
               "exclude-instances", "exclusion-tags", "ialloc-src", "no-instance-moves",
               "luxi", "machine-readable", "max-cpu", "max-length", "min-disk", "min-gain",
               "min-gain-limit", "min-score", "ignore-soft-errors", "no-simulation",
               "offline", "quiet", "master", "select-instances", "no-capacity-checks",
               "verbose"),
    "hinfo": ("print-nodes", "print-instances", "text-data", "master", "luxi", "ialloc-src",
              "verbose", "quiet", "offline", "ignore-dynu", "mond", "mond-data",
              "static-kvm-node-memory"),
    "hroller": ("luxi", "master", "text-data", "ialloc-src", "offline",
                "offline-maintenance", "verbose", "quiet", "no-headers", "node-tags",
                "save", "group", "print-moves", "full-evacuation", "skip-non-redundant",
                "ignore-non-redundant", "force", "one-step-only", "static-kvm-node-memory"),
    "hsqueeze": ("luxi", "text-data", "exec", "minimal-resources", "target-resources",
                 "save", "print-commands", "verbose", "no-headers",
                 "static-kvm-node-memory"),
}
_GENERIC = ("version", "help", "help-completion")


def tool_specs(tool: str) -> list[OptSpec]:
    """The options ``tool`` accepts, in order, ending with the generic three."""
    if tool not in TOOL_OPTIONS:
        raise ValueError(f"unknown tool {tool!r}")
    return [SPECS[name] for name in TOOL_OPTIONS[tool] + _GENERIC]


# --- GetOpt --------------------------------------------------------------------------


def usage_table(specs: list[OptSpec]) -> list[str]:
    """GetOpt's ``usageInfo`` rows: short forms, long forms, description in columns."""
    rows = []
    for spec in specs:
        short = ""
        if spec.short:
            short = "-" + spec.short + {"none": "", "req": " " + spec.meta,
                                        "opt": f"[{spec.meta}]"}[spec.kind]
        long = "--" + spec.long + {"none": "", "req": "=" + spec.meta,
                                   "opt": f"[={spec.meta}]"}[spec.kind]
        rows.append((short, long, spec.help))
    ws = max(len(r[0]) for r in rows)
    wl = max(len(r[1]) for r in rows)
    return [f"  {s.ljust(ws)}  {lo.ljust(wl)}  {d}" for s, lo, d in rows]


@cache
def project_version() -> str:
    """This project's version: installed metadata, else the source tree's pyproject."""
    try:
        return importlib.metadata.version(PROJECT)
    except importlib.metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        with pyproject.open("rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])


def usage_text(tool: str) -> str:
    """The ``--help`` text (also appended to GetOpt error messages)."""
    operand = " FILE" if tool == "hail" else ""
    header = [f"{tool} ({PROJECT}) version {project_version()}",
              f"Usage: {tool} [OPTION...]{operand}"]
    return "\n".join(header + usage_table(tool_specs(tool))) + "\n"


def version_text(tool: str) -> str:
    """The ``--version`` text, shaped like Ganeti's (name/version, compiler, platform)."""
    impl = sys.implementation
    return (f"{tool} ({PROJECT}) version {project_version()}\n"
            f"compiled with {impl.name} {impl.version.major}.{impl.version.minor}\n"
            f"running on {sys.platform} {platform.machine()}\n")


def completion_text(tool: str) -> str:
    """The ``--help-completion`` text: one line per option, then the operands."""
    lines = []
    for spec in tool_specs(tool):
        names = ([f"-{spec.short}"] if spec.short else []) + [f"--{spec.long}"]
        lines.append(",".join(names) + " " + spec.completion)
    if tool == "hail":
        lines.append("file 1 1")
    return "".join(line + "\n" for line in lines)


def _getopt(specs: list[OptSpec], argv: list[str]
            ) -> tuple[list[tuple[OptSpec, str | None]], list[str], list[str]]:
    """GetOpt in Permute mode: (options with values, operands, error messages)."""
    found: list[tuple[OptSpec, str | None]] = []
    operands: list[str] = []
    errors: list[str] = []
    unrecognised: list[str] = []
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            operands.extend(rest)
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            matches = [s for s in specs if s.long == name] or \
                      [s for s in specs if s.long.startswith(name)]
            if len(matches) > 1:
                errors.append("\n".join([f"option `--{name}' is ambiguous; could be one of:",
                                         *usage_table(matches)]) + "\n")
                continue
            if not matches:
                unrecognised.append(arg)
                continue
            spec = matches[0]
            if spec.kind == "none":
                if eq:
                    errors.append(f"option `--{name}' doesn't allow an argument\n")
                else:
                    found.append((spec, None))
            elif spec.kind == "opt":
                found.append((spec, value if eq else None))
            elif eq:
                found.append((spec, value))
            elif rest:
                found.append((spec, rest.pop(0)))
            else:
                errors.append(f"option `--{name}' requires an argument {spec.meta}\n")
        elif arg.startswith("-") and len(arg) > 1:
            letter, attached = arg[1], arg[2:]
            matches = [s for s in specs if letter in s.short]
            if len(matches) > 1:
                errors.append("\n".join([f"option `-{letter}' is ambiguous; could be one of:",
                                         *usage_table(matches)]) + "\n")
                continue
            if not matches:
                unrecognised.append("-" + letter)
                if attached:
                    rest.insert(0, "-" + attached)
                continue
            spec = matches[0]
            if spec.kind == "none":
                found.append((spec, None))
                if attached:
                    rest.insert(0, "-" + attached)
            elif spec.kind == "opt":
                found.append((spec, attached or None))
            elif attached:
                found.append((spec, attached))
            elif rest:
                found.append((spec, rest.pop(0)))
            else:
                errors.append(f"option `-{letter}' requires an argument {spec.meta}\n")
        else:
            operands.append(arg)
    return found, operands, errors + [f"unrecognized option `{u}'\n" for u in unrecognised]


def parse_args(tool: str, argv: list[str]) -> Options:
    """Parse ``argv`` (without the program name) for ``tool`` as Ganeti would.

    Raises :class:`UsageExit` for --help/--version/--help-completion (code 0, text on
    stdout), GetOpt errors (code 2, message plus usage on stderr), invalid values
    (code 1) and operands the tool does not take (code 1).  Values are applied in
    command-line order and the first invalid one is reported, as in Ganeti; help and
    version are honoured only when every value is valid.
    """
    specs = tool_specs(tool)
    found, operands, errors = _getopt(specs, argv)
    if errors:
        raise UsageExit(2, stderr="Command line error: " + "".join(errors) + "\n"
                        + usage_text(tool))
    opts = Options()
    requested: set[str] = set()
    for spec, value in found:
        if spec.apply is None:
            requested.add(spec.long)
            continue
        try:
            spec.apply(opts, value)
        except OptionValueError as err:
            raise UsageExit(1, stderr=f"Error while parsing command line arguments:\n{err}\n"
                            ) from None
    if "help" in requested:
        raise UsageExit(0, stdout=usage_text(tool))
    if "version" in requested:
        raise UsageExit(0, stdout=version_text(tool))
    if "help-completion" in requested:
        raise UsageExit(0, stdout=completion_text(tool))
    if tool == "hail":
        if not operands:
            raise UsageExit(1, stderr="Error: This program needs an input file.\n")
        if len(operands) > 1:
            raise UsageExit(1, stderr="Error: Only one argument is accepted (the input file)\n")
    elif operands:
        raise UsageExit(1, stderr="Error: This program doesn't take any arguments.\n")
    opts.args = operands
    return opts


def parse_or_exit(tool: str, argv: list[str]) -> Options:
    """:func:`parse_args` for CLI entry points: print the texts and exit on UsageExit."""
    try:
        return parse_args(tool, argv)
    except UsageExit as stop:
        _exit(stop)


def _exit(stop: UsageExit) -> NoReturn:
    sys.stdout.write(stop.stdout)
    sys.stderr.write(stop.stderr)
    sys.stdout.flush()
    sys.exit(stop.code)
