"""systemd units from one ``systemctl show -p ... -- UNIT...`` call.

``systemctl show`` prints one block of ``Key=Value`` lines per argument, in argument order, blocks
separated by a blank line; properties come in systemd's own order, not the ``-p`` order. It exits 0
even for a unit that does not exist (``LoadState=not-found``, ``ActiveState=inactive``), turns
``tabbyapi`` into ``Id=tabbyapi.service`` and an alias into its real unit's Id, and escapes a name
it cannot use ("bad name" -> ``bad\\x20name.service``, after a warning line).

When a unit entered its state is taken from the ``*TimestampMonotonic`` properties (microseconds of
CLOCK_MONOTONIC since boot) and the node's uptime, so neither the node's time zone nor its clock
matters; the human ``Sun 2026-11-22 17:40:30 UTC`` form is the fallback when uptime is unknown.
"""

from __future__ import annotations

import calendar
import re
import shlex
import time
from collections.abc import Sequence

from cockpit.model import ProbeError, Unit
from cockpit.sanitize import clean

PROBE = "units"
PROPERTIES = (
    "Id",
    "LoadState",
    "ActiveState",
    "SubState",
    "ActiveEnterTimestamp",
    "ActiveEnterTimestampMonotonic",
    "InactiveEnterTimestamp",
    "InactiveEnterTimestampMonotonic",
)
NO_SUCH_COMMAND = 127
TIMED_OUT = 124
UNKNOWN = "unknown"
"""``active``/``load`` of a wanted unit that systemctl's answer did not cover."""
# Unit types systemctl knows by suffix; any other name gets ".service" appended.
_SUFFIXES = (
    ".service", ".socket", ".target", ".timer", ".mount", ".automount", ".swap", ".path", ".slice",
    ".scope", ".device",
)  # fmt: skip
_KEY = re.compile(r"^([A-Za-z]+)=(.*)$")
_HUMAN = re.compile(r"^\w{3} (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (\S+)$")
_OFFSET = re.compile(r"^([+-])(\d{2})(?::?(\d{2}))?$")
# Abbreviations that mean one offset wherever they are printed; IST, CST, BST... are ambiguous
# (India/Ireland/Israel, US/China/Cuba) and read as unknown.
_ZONES = {
    "UTC": 0, "GMT": 0, "Z": 0, "UCT": 0,
    "EST": -5, "EDT": -4, "MDT": -6, "PST": -8, "PDT": -7,
    "CET": 1, "CEST": 2, "EET": 2, "EEST": 3, "WET": 0, "WEST": 1, "JST": 9, "KST": 9,
}  # fmt: skip
_CLOCK_SLACK_S = 5.0
"""How far a monotonic stamp may run past the reported uptime before we distrust the pair."""
_RUNNING = ("active", "reloading", "deactivating", "refreshing")


def systemctl_show(units: Sequence[str]) -> str:
    """The command for ``units``; each name is shell-quoted and ``--`` keeps a name like ``-x`` a
    name. ``systemctl show`` with no unit describes the manager itself, so at least one is needed."""
    if not units:
        raise ValueError("systemctl_show needs at least one unit")
    names = " ".join(shlex.quote(u) for u in units)
    return f"systemctl show -p {','.join(PROPERTIES)} -- {names}"


def unit_id(name: str) -> str:
    """The Id systemctl gives a configured name: ``tabbyapi`` -> ``tabbyapi.service``."""
    return name if name.endswith(_SUFFIXES) else f"{name}.service"


def parse_blocks(text: str) -> list[dict[str, str]]:
    """The ``Key=Value`` blocks of the output; lines that are not ``Key=Value`` (warnings) are
    skipped, and a block with no key at all is not a block."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
            current = {}
            continue
        match = _KEY.match(line)
        if match:
            if match.group(1) == "Id" and "Id" in current:  # no blank line between two units
                blocks.append(current)
                current = {}
            current[match.group(1)] = match.group(2)
    if current:
        blocks.append(current)
    return blocks


def parse_human_timestamp(text: str) -> float | None:
    """``Sun 2026-11-22 17:40:30 UTC`` (or ``-03``, ``+0530``) as epoch seconds; None when empty,
    ``n/a`` or in a zone whose offset the abbreviation does not say."""
    match = _HUMAN.match(text.strip())
    if not match:
        return None
    stamp, zone = match.groups()
    offset = _ZONES.get(zone.upper())
    seconds = None if offset is None else offset * 3600
    numeric = _OFFSET.match(zone)
    if numeric:
        sign = -1 if numeric.group(1) == "-" else 1
        seconds = sign * (int(numeric.group(2)) * 3600 + int(numeric.group(3) or 0) * 60)
    if seconds is None:
        return None
    try:
        parsed = time.strptime(stamp, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return float(calendar.timegm(parsed) - seconds)


def _microseconds(text: str | None) -> int | None:
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 20:
        return None
    value = int(text)
    return value or None  # 0 means "never"


def _since(block: dict[str, str], active: str, uptime_s: float | None, now: float) -> float | None:
    """When the unit entered the state it is in: ActiveEnter for a running unit, InactiveEnter for
    a stopped, failed or auto-restarting one (when it died)."""
    prefix = "ActiveEnter" if active in _RUNNING else "InactiveEnter"
    mono = _microseconds(block.get(f"{prefix}TimestampMonotonic"))
    if mono is not None and uptime_s is not None and uptime_s > 0:
        since_boot = mono / 1e6
        if since_boot <= uptime_s + _CLOCK_SLACK_S:
            return round(now - uptime_s + since_boot, 3)
    return parse_human_timestamp(block.get(f"{prefix}Timestamp", ""))


def _unit(name: str, block: dict[str, str], uptime_s: float | None, now: float) -> Unit:
    active = clean(block.get("ActiveState", ""), limit=32) or UNKNOWN
    return Unit(
        name=name,
        active=active,
        sub=clean(block.get("SubState", ""), limit=32),
        load=clean(block.get("LoadState", ""), limit=32) or UNKNOWN,
        since=_since(block, active, uptime_s, now),
    )


def _match(wanted: Sequence[str], blocks: list[dict[str, str]]) -> list[dict[str, str] | None]:
    """Pair each wanted name with its block: by position when systemctl answered once per name (its
    rule, and the only way to match an alias, whose Id is the real unit's), else by Id."""
    if len(blocks) == len(wanted):
        return list(blocks)
    by_id = {b["Id"]: b for b in blocks if "Id" in b}
    return [by_id.get(unit_id(name)) for name in wanted]


def _error(text: str, rc: int | None) -> ProbeError:
    if rc == TIMED_OUT:
        return ProbeError(PROBE, "systemctl timed out")
    if "has not been booted with systemd" in text:
        return ProbeError(PROBE, "systemd is not running on this node (PID 1 is not systemd)")
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first:
        return ProbeError(PROBE, f"systemctl: {clean(' '.join(first.split()), limit=160)}")
    if rc is None:
        return ProbeError(PROBE, "systemctl did not finish")
    return ProbeError(PROBE, f"systemctl exited with status {rc} and printed nothing")


def parse_units(
    text: str, rc: int | None, wanted: Sequence[str], uptime_s: float | None, now: float
) -> tuple[Unit, ...] | ProbeError:
    """One Unit per wanted name, in the wanted order and named as configured.

    No systemctl (rc 127: a container, a non-systemd distribution, Unraid) means no units, not an
    error. A wanted name the answer did not cover reads ``unknown`` rather than vanishing.
    """
    if rc == NO_SUCH_COMMAND or not wanted:
        return ()
    blocks = [b for b in parse_blocks(text) if "ActiveState" in b or "LoadState" in b]
    if not blocks:
        return _error(text, rc)
    return tuple(
        _unit(name, block, uptime_s, now)
        if block is not None
        else Unit(name=name, active=UNKNOWN, load=UNKNOWN)
        for name, block in zip(wanted, _match(wanted, blocks), strict=True)
    )
