"""hsqueeze: nodes to put in standby, or to bring back, by utilisation (Ganeti-compatible)."""

from __future__ import annotations

from htools.cli.common import (
    die,
    load_data,
    load_state,
    print_warnings,
    run_program,
    save_data,
    state_records,
    write_file,
)
from solver.jit import small_cluster, use_jit


def main(argv: list[str] | None = None) -> None:
    run_program("hsqueeze", run, argv)


def _save_commands(opts, cmds: str) -> None:
    """maybeSaveCommands: -C prints the script indented (without checks), -CFILE writes it."""
    from htools.report import SCRIPT_HEADER
    if opts.print_commands is None:
        return
    if opts.print_commands == "":
        print()
        print("Commands to run:")
        for line in cmds.splitlines():
            if line != "  check":
                print("  " + line)
    else:
        write_file(opts.print_commands, SCRIPT_HEADER + cmds)
        print(f"The commands have been written to file '{opts.print_commands}'")


def _move_script(initial, moves) -> str:
    """formatCmds of the moves' jobsets."""
    from htools import report
    jobsets = report.split_jobsets(initial, moves)
    return "".join(line + "\n" for line in report.command_lines(initial, jobsets, True, True))


def _execute(opts) -> None:
    if opts.execute:
        die("hsqueeze: Execution of commands possible only on LUXI")


def run(opts) -> None:
    data = load_data(opts)
    use_jit(not small_cluster(len(data.nodes), len(data.instances)))
    from solver import squeeze
    state = load_state(opts, data)
    print_warnings(state, opts.verbose)
    if opts.save_cluster:
        save_data(opts.save_cluster, "original", "before hsqueeze run", data)
    names = [n.name for n in data.nodes]
    alias = state.node_alias
    off_cands = squeeze.offline_candidates(state)
    on_cands = squeeze.online_candidates(state)
    std = data.ipolicy.std
    target = squeeze.spec_instance(std, opts.target_resources)
    minimal = squeeze.spec_instance(std, opts.minimal_resources)
    if opts.verbose > 1:
        print("Offline candidates: " + ",".join(names[n] for n in off_cands))
        print("Online candidates: " + ",".join(names[n] for n in on_cands))
    squeezer = squeeze.Squeezer(state)

    if not squeeze.fits_everywhere(state, minimal):
        found = squeezer.to_online(on_cands, minimal)
        nodes = on_cands if found is None else found
        if not opts.no_headers:
            print("'Nodes to online'")
        for n in nodes:
            print(names[n])
        if opts.verbose > 1 and found is None:
            print("Onlining all nodes will not yield enough capacity")
        out = squeezer.switch(False, nodes)
        _save_commands(opts, "echo Power Commands\n"
                       + "".join(f"  gnt-node power -f on {alias[n]}\n" for n in nodes)
                       + _move_script(state, out.moves))
        _execute(opts)
        if opts.save_cluster:
            save_data(opts.save_cluster, "squeezed", "after hsqueeze expansion",
                      state_records(out.state))
        return
    chosen = squeezer.to_offline(off_cands, target)
    if not chosen:
        if not opts.no_headers:
            print("'No action'")
        _save_commands(opts, "echo Nothing to do")
        if opts.save_cluster:
            save_data(opts.save_cluster, "squeezed", "after hsqueeze doing nothing", data)
        return
    if not opts.no_headers:
        print("'Nodes to offline'")
    for n in chosen:
        print(names[n])
    out = squeezer.switch(True, chosen)
    _save_commands(opts, _move_script(state, out.moves)
                   + "\necho Tagging Commands\n"
                   + "".join(f"  gnt-node add-tags {alias[n]} {squeeze.STANDBY_AUTO}\n"
                             for n in chosen)
                   + "\necho Power Commands\n"
                   + "".join(f"  gnt-node power -f off {alias[n]}\n" for n in chosen))
    _execute(opts)
    if opts.save_cluster:
        save_data(opts.save_cluster, "squeezed", "after hsqueeze run", state_records(out.state))


if __name__ == "__main__":
    main()
