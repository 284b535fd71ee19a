"""Who ran what, where, and how it ended: JSON lines in the XDG state dir, synced to disk.

The record of an action is written *before* the command starts and forced to disk (``fsync``), so a
cockpit that crashes or is killed mid-action still leaves the proof that it started; the end record
follows when the command ends. The file is 0600 in a 0700 dir: commands name hosts and containers.
Commands are recorded as displayed (secrets as «redacted»); output is not recorded, only its size.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cockpit.prefs import private_dir, state_dir
from cockpit.sanitize import clean
from cockpit.secrets import redact

if TYPE_CHECKING:
    from cockpit.actions.render import Invocation
    from cockpit.actions.runner import Result

FILE_NAME = "audit.jsonl"
_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class AuditError(OSError):
    """The audit log cannot be written; the action is not run (no record, no run)."""


def default_path() -> Path:
    return state_dir() / FILE_NAME


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class AuditLog:
    """Appends one JSON object per line; each append is one write(2), then fsync."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._dir_synced = False

    def _append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        try:
            folder = private_dir(self.path.parent)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                if os.fstat(fd).st_mode & 0o077:
                    os.fchmod(fd, 0o600)
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            if not self._dir_synced:
                # The file's directory entry must be durable too, once, after it was created.
                dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
                self._dir_synced = True
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from None

    def start(self, invocation: Invocation) -> str:
        """Record that ``invocation`` is about to run; returns the id its end record will carry."""
        record_id = uuid.uuid4().hex
        secrets = list(invocation.secrets)
        self._append(
            {
                "event": "start",
                "id": record_id,
                "time": _now(),
                "local_user": _local_user(),
                "node": invocation.node,
                "host": invocation.host,
                "ssh_user": invocation.user,
                "run_on": invocation.run_on,
                "action": invocation.action,
                "danger": invocation.danger,
                "target": invocation.target,
                "command": redact(invocation.display, secrets),
                "inputs": {
                    k: redact(v, secrets) if isinstance(v, str) else v for k, v in invocation.inputs.items()
                },
            }
        )
        return record_id

    def end(self, record_id: str, invocation: Invocation, result: Result) -> None:
        self._append(
            {
                "event": "end",
                "id": record_id,
                "time": _now(),
                "node": invocation.node,
                "action": invocation.action,
                "outcome": str(result.outcome),
                "exit_status": result.exit_status,
                "duration_s": round(result.duration_s, 3),
                "bytes_out": result.bytes_out,
                "cancelled": result.cancelled,
                "error": redact(result.error, list(invocation.secrets)) if result.error else None,
            }
        )


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``30m``, ``1h``, ``2d``, ``1w`` ago, or an ISO date/time (local time unless it says otherwise)."""
    now = now or datetime.now(UTC)
    match = _SINCE.match(text)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r} is not a duration or a date (expected 30m, 1h, 2d, 1w or 2025-12-13[T10:00])"
        ) from None
    return moment if moment.tzinfo else moment.astimezone()


def _when(record: dict[str, Any]) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(record.get("time")))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_records(path: Path | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
    """Every well-formed record (a line cut short by a crash is skipped), oldest first."""
    path = path or default_path()
    records: list[dict[str, Any]] = []
    try:
        lines: Iterable[bytes] = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    for raw in lines:
        with contextlib.suppress(ValueError):
            record = json.loads(raw)
            when = _when(record) if isinstance(record, dict) else None
            if when is not None and (since is None or when >= since):
                records.append(record)
    return records


def _pairs(records: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    ends = {r.get("id"): r for r in records if r.get("event") == "end"}
    starts = {r.get("id") for r in records if r.get("event") == "start"}
    for record in records:
        if record.get("event") == "start":
            yield record, ends.get(record.get("id"))
        elif record.get("event") == "end" and record.get("id") not in starts:
            yield record, record  # its start is older than --since


def _ending(end: dict[str, Any] | None) -> str:
    if end is None:
        return "no end record (still running, or the cockpit stopped mid-action)"
    outcome = str(end.get("outcome", "?"))
    details = []
    if end.get("exit_status") is not None:
        details.append(f"exit {end['exit_status']}")
    if isinstance(end.get("duration_s"), int | float):
        details.append(f"{end['duration_s']:.1f} s")
    if isinstance(end.get("bytes_out"), int):
        details.append(f"{end['bytes_out']} B out")
    if end.get("error"):
        details.append(str(end["error"]))
    return f"{outcome} ({', '.join(details)})" if details else outcome


def format_records(records: list[dict[str, Any]]) -> list[str]:
    """One line per action for ``cockpit audit``: when, who -> where, what, how it ended, the command.

    The file is ours, but the names in it came from the nodes: every field passes :func:`clean`.
    """
    lines = []
    for start, end in _pairs(records):
        when = _when(start)
        stamp = when.astimezone().strftime("%Y-%m-%d %H:%M:%S") if when else "?"
        if start is end:
            lines.append(
                clean(
                    f"{stamp}  {start.get('node') or 'local'}  {start.get('action')}  ended: {_ending(end)}",
                    limit=2000,
                )
            )
            continue
        where = start.get("node") or "local"
        if start.get("ssh_user"):
            where = f"{start['ssh_user']}@{where}"
        text = (
            f"{stamp}  {start.get('local_user')} -> {where}  {start.get('action')}  {_ending(end)}"
            f"  $ {start.get('command')}"
        )
        lines.append(clean(text, limit=2000))
    return lines
