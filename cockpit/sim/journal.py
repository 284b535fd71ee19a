"""The systemd journal of a simulated node: each unit's runs as systemd and the service logged them.

A run prints ``Starting X...`` / ``Started X.``, the service's own lines (from
:mod:`cockpit.sim.applogs`, tagged ``identifier[pid]``), and how it ended: ``Deactivated
successfully.`` after a stop, ``Main process exited, code=exited, status=1/FAILURE`` and ``Failed
with result 'exit-code'.`` after a crash. journalctl and ``systemctl status`` print these.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from cockpit.sim.applogs import run_lines
from cockpit.sim.services_world import Run, Unit
from cockpit.sim.world import NodeWorld

SIGNAL_NAMES = {1: "HUP", 2: "INT", 3: "QUIT", 9: "KILL", 10: "USR1", 12: "USR2", 13: "PIPE", 15: "TERM"}


@dataclass(frozen=True, slots=True)
class Entry:
    t: float
    ident: str
    pid: int
    message: str
    unit: str


TIMESPAN_UNITS = (("y", 31_557_600_000), ("month", 2_629_800_000), ("w", 604_800_000), ("d", 86_400_000),
                  ("h", 3_600_000), ("min", 60_000), ("s", 1000), ("ms", 1))  # fmt: skip


def cpu_time(seconds: float) -> str:
    """systemd's format_timespan at millisecond accuracy: ``1w 6d 16h 29min 56.679s``."""
    ms = int(seconds * 1000)
    if ms <= 0:
        return "0"
    parts = []
    for name, size in TIMESPAN_UNITS:
        if ms < size:
            continue
        whole, ms = divmod(ms, size)
        if name == "s" and ms:
            parts.append(f"{whole}.{ms:03d}".rstrip("0") + "s")
            ms = 0
            break
        parts.append(f"{whole}{name}")
    return " ".join(parts)


def exit_text(run: Run) -> str:
    """``code=exited, status=1/FAILURE`` or ``code=killed, signal=TERM`` for an ended run."""
    if run.outcome.startswith("signal-") or run.outcome == "stop":
        sig = 15 if run.outcome == "stop" else int(run.outcome[7:])
        return f"code=killed, signal={SIGNAL_NAMES.get(sig, sig)}"
    return "code=exited, status=1/FAILURE"


def unit_entries(world: NodeWorld, u: Unit, now: float) -> list[Entry]:
    """Every journal entry about ``u`` up to ``now``, oldest first."""
    out: list[Entry] = []
    spec, uid = u.spec, u.id

    def sysd(t: float, msg: str) -> None:
        if t <= now:
            out.append(Entry(t, "systemd", 1, msg, uid))

    for run in u.runs:
        if spec.notify:
            sysd(run.start, f"Starting {spec.description}...")
        if run.ready is not None or not spec.notify:
            sysd(run.ready if run.ready is not None else run.start + 0.001, f"Started {spec.description}.")
        for ln in run_lines(spec.app, [run], now, world.key):
            out.append(Entry(ln.t, spec.identifier, run.pid, ln.text, uid))
        if run.end is None or run.end > now:
            continue
        cpu = cpu_time((run.end - run.start) * 0.04)
        if run.outcome == "stop":
            sysd(run.end - 0.05, f"Stopping {spec.description}...")
            sysd(run.end, f"{uid}: Deactivated successfully.")
            sysd(run.end, f"Stopped {spec.description}.")
        else:
            clean = run.outcome.startswith("signal-") and int(run.outcome[7:]) in (1, 2, 13, 15)
            if run.outcome == "crash":
                how = "code=exited, status=1/FAILURE"
            else:
                sig = int(run.outcome[7:])
                how = f"code=killed, status={sig}/{SIGNAL_NAMES.get(sig, sig)}"
            sysd(run.end, f"{uid}: Main process exited, {how}")
            if clean:
                sysd(run.end, f"{uid}: Deactivated successfully.")
            else:
                result = "exit-code" if run.outcome == "crash" else "signal"
                sysd(run.end, f"{uid}: Failed with result '{result}'.")
        sysd(run.end, f"{uid}: Consumed {cpu} CPU time.")
    out.sort(key=lambda e: e.t)
    return out


def entries(world: NodeWorld, units: list[str] | None, now: float) -> list[Entry]:
    """The journal for some units (all of them when ``units`` is None), merged in time order."""
    picked = [u for uid, u in world.services.units.items() if units is None or uid in units]
    merged = [e for u in picked for e in unit_entries(world, u, now)]
    merged.sort(key=lambda e: e.t)
    return merged


def short(e: Entry, host: str, style: str = "short") -> str:
    """One entry in journalctl's ``short`` (or short-iso, short-precise, cat) output."""
    tm = time.gmtime(e.t)
    if style == "cat":
        return e.message
    if style == "short-iso":
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", tm)
    elif style == "short-precise":
        stamp = time.strftime("%b %d %H:%M:%S", tm) + f".{int(e.t % 1 * 1e6):06d}"
    else:
        stamp = time.strftime("%b %d %H:%M:%S", tm)
    return f"{stamp} {host} {e.ident}[{e.pid}]: {e.message}"
