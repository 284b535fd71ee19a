"""``systemctl`` and ``journalctl`` of a simulated node (systemd 256 on NixOS, 249 on Ubuntu).

``show`` prints ``Key=Value`` lines in systemd's own order (the Service interface's properties,
then the cgroup ones, then the Unit's), whatever order ``-p`` asked for, empty values included
when asked for by name, one blank line between units; a unit that does not exist is
``LoadState=not-found``. Timestamps read ``Sun 2026-11-22 17:40:30 UTC`` and their ``Monotonic``
twins count microseconds since boot, consistent with /proc/uptime. Starting, stopping and
restarting need root: anyone else gets polkit's refusal. journalctl prints the short format.
"""

from __future__ import annotations

import asyncio
import re
import time

from cockpit.sim import journal
from cockpit.sim.noise import name_key
from cockpit.sim.pflag import FlagError, Spec, parse_flags
from cockpit.sim.services_catalog import unit_id, unit_spec
from cockpit.sim.services_world import Unit
from cockpit.sim.shell import Call
from cockpit.sim.world import NodeWorld

VERSION = {"nixos": "256.8", "": "249.11-0ubuntu3.12"}
NOT_BOOTED = (
    "System has not been booted with systemd as init system (PID 1). Can't operate.\n"
    "Failed to connect to bus: Host is down\n"
)
FLAGS: Spec = {
    "property": ("p", "list"), "value": (None, "bool"), "all": ("a", "bool"), "no-pager": (None, "bool"),
    "quiet": ("q", "bool"), "full": ("l", "bool"), "lines": ("n", "value"), "no-block": (None, "bool"),
    "type": ("t", "value"), "state": (None, "value"), "failed": (None, "bool"), "system": (None, "bool"),
    "no-legend": (None, "bool"), "plain": (None, "bool"), "output": ("o", "value"), "P": ("P", "list"),
}  # fmt: skip


def getopt_message(prog: str, exc: FlagError) -> str:
    """getopt_long's wording for a bad option (systemd tools use getopt, not pflag)."""
    text = str(exc)
    if text.startswith("unknown flag: "):
        return f"{prog}: unrecognized option '{text[14:]}'\n"
    if text.startswith("unknown shorthand flag: "):
        return f"{prog}: invalid option -- '{text[25]}'\n"
    return f"{prog}: option requires an argument -- '{text.rsplit(' ', 1)[-1].strip(chr(39))[:1]}'\n"


UNIT_CHAR = re.compile(r"[A-Za-z0-9:_.@\\-]")


def mangle(call: Call, names: list[str]) -> list[str]:
    """Unit ids for the names given, escaping what a unit name cannot hold as systemctl does
    (``/`` becomes ``-``, anything else ``\\xHH``), with its warning for each escaped name."""
    out = []
    for name in names:
        escaped = "".join(
            c if UNIT_CHAR.match(c) else "-" if c == "/" else "".join(f"\\x{b:02x}" for b in c.encode())
            for c in name
        )
        if escaped != name:
            call.err(
                f'Invalid unit name "{name}" escaped as "{escaped}" (maybe you should use systemd-escape?).\n'
            )
        out.append(unit_id(escaped))
    return out


def stamp(t: float | None) -> str:
    return "" if t is None else time.strftime("%a %Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def mono(world: NodeWorld, t: float | None) -> str:
    return "0" if t is None else str(int((t - world.boot_time) * 1_000_000))


def relative(seconds: float) -> str:
    """systemd's format_timestamp_relative."""
    us = int(seconds * 1e6)
    sec, minute, hour, day = 1_000_000, 60_000_000, 3_600_000_000, 86_400_000_000
    week, month, year = 7 * day, 2_629_800_000_000, 31_557_600_000_000
    p = lambda n, w: f"{n} {w}{'s' if n != 1 else ''}"  # noqa: E731
    if us >= year:
        return f"{p(us // year, 'year')} {p(us % year // month, 'month')} ago"
    if us >= month:
        return f"{p(us // month, 'month')} {p(us % month // day, 'day')} ago"
    if us >= week:
        return f"{p(us // week, 'week')} {p(us % week // day, 'day')} ago"
    if us >= 2 * day:
        return f"{us // day} days ago"
    if us >= 25 * hour:
        return f"1 day {(us - day) // hour}h ago"
    if us >= 6 * hour:
        return f"{us // hour}h ago"
    if us >= hour:
        return f"{us // hour}h {us % hour // minute}min ago"
    if us >= 5 * minute:
        return f"{us // minute}min ago"
    if us >= minute:
        return f"{us // minute}min {us % minute // sec}s ago"
    if us >= sec:
        return f"{us // sec}s ago"
    return f"{us // 1000}ms ago" if us >= 1000 else "now"


def properties(world: NodeWorld, name: str) -> list[tuple[str, str]]:
    """Every property ``systemctl show`` knows for ``name``, in systemd's order."""
    uid = unit_id(name)
    u = world.services.units.get(uid)
    spec = u.spec if u else unit_spec(uid)
    run = u.runs[-1] if u and u.runs else None
    services = world.services
    pid = services.main_pid(u) if u else 0
    ended = run is not None and run.end is not None
    exec_code = u.exec_code if u and ended else 0
    exec_status = u.exec_status if u and ended else 0
    ts = lambda key, t: [(key, stamp(t)), (key + "Monotonic", mono(world, t))]  # noqa: E731
    loaded = u is not None
    changed = u.changed if u else None
    return [
        ("Type", ("notify" if spec.notify else "simple") if loaded else "simple"), ("ExitType", "main"),
        ("Restart", spec.restart if loaded else "no"), ("NotifyAccess", "main" if spec.notify and loaded else "none"),
        ("RestartUSec", "100ms"), ("TimeoutStartUSec", "1min 30s"), ("TimeoutStopUSec", "1min 30s"),
        ("WatchdogUSec", "0"), ("RemainAfterExit", "no"), ("MainPID", str(pid)), ("ControlPID", "0"),
        ("StatusText", ""), ("StatusErrno", "0"), ("Result", u.result if u else "success"),
        ("ReloadResult", "success"), ("CleanResult", "success"), ("UID", "[not set]"), ("GID", "[not set]"),
        ("NRestarts", "0"), ("OOMPolicy", "stop"),
        *ts("ExecMainStartTimestamp", run.start if run else None),
        *ts("ExecMainExitTimestamp", run.end if run and ended else None),
        ("ExecMainPID", str(run.pid if run else 0)), ("ExecMainCode", str(exec_code)),
        ("ExecMainStatus", str(exec_status)),
        ("Slice", "system.slice"), ("ControlGroup", f"/system.slice/{uid}" if pid else ""),
        ("MemoryCurrent", str(int(2e8 + 4e9 * (name_key(uid) % 7) / 7)) if pid else "[not set]"),
        ("TasksCurrent", "57" if pid else "[not set]"), ("KillMode", "control-group"), ("KillSignal", "15"),
        ("Id", uid), ("Names", uid), ("Description", spec.description if loaded else uid),
        ("LoadState", "loaded" if loaded else "not-found"), ("ActiveState", u.state if u else "inactive"),
        ("FreezerState", "running"), ("SubState", u.sub if u else "dead"),
        ("FragmentPath", _fragment(world, uid) if loaded else ""),
        ("UnitFileState", "enabled" if loaded else ""), ("UnitFilePreset", "enabled" if loaded else ""),
        *ts("StateChangeTimestamp", changed),
        *ts("InactiveExitTimestamp", u.inactive_exit if u else None),
        *ts("ActiveEnterTimestamp", u.active_enter if u else None),
        *ts("ActiveExitTimestamp", u.active_exit if u else None),
        *ts("InactiveEnterTimestamp", u.inactive_enter if u else None),
        ("CanStart", "yes" if loaded else "no"), ("CanStop", "yes" if loaded else "no"), ("CanReload", "no"),
        ("NeedDaemonReload", "no"), ("ConditionResult", "yes" if loaded else "no"),
        ("LoadError", "" if loaded else f'org.freedesktop.systemd1.NoSuchUnit "Unit {uid} not found."'),
    ]  # fmt: skip


def _fragment(world: NodeWorld, uid: str) -> str:
    return f"/etc/systemd/system/{uid}" if "nixos" in world.node.tags else f"/lib/systemd/system/{uid}"


def show(call: Call, opts: dict[str, object], names: list[str]) -> int:
    world = call.shell.world
    world.advance()
    wanted = {p for arg in opts.get("property", []) + opts.get("P", []) for p in str(arg).split(",") if p}  # type: ignore[operator]
    only_value = bool(opts.get("value") or opts.get("P"))
    blocks = []
    if not names:
        version = VERSION["nixos" if "nixos" in world.node.tags else ""]
        failed = sum(1 for u in world.services.units.values() if u.state == "failed")
        props = [("Version", version), ("Architecture", "x86-64"), ("NFailedUnits", str(failed)),
                 ("SystemState", "degraded" if failed else "running")]  # fmt: skip
        blocks.append(props)
    for name in names:
        blocks.append(properties(world, name))
    out = []
    for props in blocks:
        lines = [v if only_value else f"{k}={v}" for k, v in props if (k in wanted if wanted else v != "")]
        out.append("".join(f"{ln}\n" for ln in lines))
    call.out("\n".join(out))
    return 0


def _memory(n: float) -> str:
    for unit in ("B", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            return f"{n:.1f}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1024
    return ""


def status_block(world: NodeWorld, u: Unit, now: float, lines: int) -> list[str]:
    nixos = "nixos" in world.node.tags
    spec, uid = u.spec, u.id
    run = u.runs[-1] if u.runs else None
    # systemd 250+ marks a failed unit × and an inactive one ○ (Ubuntu 22.04's 249 uses ● for all)
    bullet = {"failed": "×", "inactive": "○"}.get(u.state, "●") if nixos else "●"
    preset = "preset: enabled" if nixos else "vendor preset: enabled"
    out = [f"{bullet} {uid} - {spec.description}",
           f"     Loaded: loaded ({_fragment(world, uid)}; enabled; {preset})"]  # fmt: skip
    since = {"active": u.active_enter, "activating": u.inactive_exit}.get(u.state, u.inactive_enter)
    label = {"active": "active (running)", "activating": "activating (start)", "inactive": "inactive (dead)",
             "failed": f"failed (Result: {u.result})"}[u.state]  # fmt: skip
    out.append(f"     Active: {label}" + (f" since {stamp(since)}; {relative(now - since)}" if since else ""))
    pid = world.services.main_pid(u)
    cmd = spec.exec_start
    if pid and run is not None:
        comm = spec.identifier if spec.app != "tabbyapi" else "python3"
        mem = 2e8 + 4e9 * (name_key(uid) % 7) / 7
        out += [f"   Main PID: {pid} ({comm})", f"      Tasks: 57 (limit: {world.cpus * 9636})",
                f"     Memory: {_memory(mem)}" + (f" (peak: {_memory(mem * 1.1)})" if nixos else ""),
                f"        CPU: {journal.cpu_time((now - run.start) * 0.04)}",
                f"     CGroup: /system.slice/{uid}", f"             └─{pid} {cmd}"]  # fmt: skip
    elif run is not None and run.end is not None:
        how = journal.exit_text(run)
        out += [f"   Duration: {journal.cpu_time(run.end - run.start)}"] if nixos else []
        out += [f"    Process: {run.pid} ExecStart={cmd} ({how})", f"   Main PID: {run.pid} ({how})",
                f"        CPU: {journal.cpu_time((run.end - run.start) * 0.04)}"]  # fmt: skip
    entries = journal.unit_entries(world, u, now)[-lines:] if lines else []
    if entries:
        out.append("")
        out += [journal.short(e, world.node.name) for e in entries]
    return out


def status(call: Call, opts: dict[str, object], names: list[str]) -> int:
    world = call.shell.world
    now = world.advance()
    blocks, rc = [], 0
    for name in names:
        u = world.services.unit(name)
        if u is None:
            call.err(f"Unit {unit_id(name)} could not be found.\n")
            rc = 4
            continue
        blocks.append("\n".join(status_block(world, u, now, int(str(opts.get("lines", 10))))) + "\n")
        if u.state != "active" and rc == 0:
            rc = 3
    call.out("\n".join(blocks))
    return rc


def change(call: Call, verb: str, names: list[str]) -> int:
    world = call.shell.world
    now = world.advance()
    for name in names:
        uid = unit_id(name)
        u = world.services.units.get(uid)
        if call.shell.user != "root":
            call.err(f"Failed to {verb} {uid}: Interactive authentication required.\n"
                     f"See system logs and 'systemctl status {uid}' for details.\n")  # fmt: skip
            return 1
        if u is None:
            call.err(f"Failed to {verb} {uid}: Unit {uid} not found.\n")
            return 5
        if verb == "start":
            world.services.start_unit(u, now)
        elif verb == "stop":
            world.services.stop_unit(u, now)
        elif verb in ("restart", "reload-or-restart") or (verb == "try-restart" and u.state == "active"):
            world.services.restart_unit(u, now)
    world.advance()
    return 0


def is_state(call: Call, good: tuple[str, ...], miss: int, opts: dict[str, object], names: list[str]) -> int:
    world = call.shell.world
    world.advance()
    found = False
    for name in names:
        u = world.services.unit(name)
        state = u.state if u else "inactive"
        if not opts.get("quiet"):
            call.out(state + "\n")
        found = found or state in good
    return 0 if found else miss


async def systemctl(call: Call) -> int:
    """Entry point for ``systemctl ...``."""
    if call.shell.world.init != "systemd":
        call.err(NOT_BOOTED)
        return 1
    try:
        opts, args = parse_flags(call.argv[1:], FLAGS)
    except FlagError as exc:
        call.err(getopt_message("systemctl", exc))
        return 1
    verb, names = (args[0], args[1:]) if args else ("list-units", [])
    names = mangle(call, names)
    if verb == "show":
        return show(call, opts, names)
    if verb in ("status",):
        return status(call, opts, names)
    if verb in ("start", "stop", "restart", "try-restart", "reload-or-restart"):
        if not names:
            call.err("Too few arguments.\n")
            return 1
        return change(call, verb, names)
    if verb == "is-active":
        return is_state(call, ("active", "reloading"), 3, opts, names)
    if verb == "is-failed":
        return is_state(call, ("failed",), 1, opts, names)
    if verb == "daemon-reload":
        return 0 if call.shell.user == "root" else change(call, "reload daemon", ["manager"])
    call.err(f"Unknown command verb '{verb}'.\n")
    return 1


JOURNAL_FLAGS: Spec = {
    "unit": ("u", "list"), "lines": ("n", "value"), "follow": ("f", "bool"), "no-pager": (None, "bool"),
    "output": ("o", "value"), "quiet": ("q", "bool"), "boot": ("b", "bool"), "since": ("S", "value"),
    "until": ("U", "value"), "reverse": ("r", "bool"), "pager-end": ("e", "bool"), "catalog": ("x", "bool"),
    "priority": ("p", "value"), "no-hostname": (None, "bool"), "identifier": ("t", "list"),
}  # fmt: skip


async def journalctl(call: Call) -> int:
    """Entry point for ``journalctl ...``."""
    world = call.shell.world
    if world.init != "systemd":
        call.err("No journal files were found.\n")
        call.out("-- No entries --\n")
        return 0
    try:
        opts, _ = parse_flags(call.argv[1:], JOURNAL_FLAGS)
    except FlagError as exc:
        call.err(getopt_message("journalctl", exc))
        return 1
    units = [unit_id(u) for u in opts.get("unit", [])] or None  # type: ignore[attr-defined]
    style = str(opts.get("output", "short"))
    follow = bool(opts.get("follow"))
    count = str(opts.get("lines", "10" if follow else "1000" if opts.get("pager-end") else "all"))
    now = world.advance()
    shown = journal.entries(world, units, now)
    if count != "all":
        shown = shown[-int(count) :] if int(count) > 0 else []
    if opts.get("reverse"):
        shown.reverse()
    if not shown and not follow:
        call.out("-- No entries --\n")
    call.out("".join(journal.short(e, world.node.name, style) + "\n" for e in shown))
    last = now
    while follow:
        await asyncio.sleep(1.0)
        later = world.advance()
        fresh = [e for e in journal.entries(world, units, later) if last < e.t <= later]
        call.out("".join(journal.short(e, world.node.name, style) + "\n" for e in fresh))
        last = max(last, later)
    return 0
