"""The audit log: a start record on disk before anything runs, an end record after, 0600 in 0700,
and never a secret, even when the cockpit is killed with SIGKILL mid-action."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cockpit.actions.audit import AuditLog, format_records, parse_since, read_records
from cockpit.actions.render import Subject, render
from cockpit.actions.runner import Outcome, run
from cockpit.actions.schema import ActionConfig

REPO = Path(__file__).resolve().parents[2]
TOKEN = "sk-live-0123456789abcdef"


def local(command: str, **fields: Any) -> Any:
    config = {"name": "t", "scope": "cluster", "run_on": "local", "danger": "disruptive", "command": command}
    return render(ActionConfig.model_validate({**config, **fields}), Subject(), {})


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _pair(records: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    start, end = records
    assert start["event"] == "start" and end["event"] == "end" and start["id"] == end["id"]
    datetime.fromisoformat(start["time"])
    return start, end


async def test_normal_failed_and_cancelled_runs_are_recorded(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "state" / "audit.jsonl")
    await run(local("sh -c 'echo hello' sh"), None, lambda *_: None, audit=audit)
    start, end = _pair(lines(audit.path))
    assert start["command"] == "sh -c 'echo hello' sh" and start["action"] == "t" and start["node"] is None
    assert start["local_user"] and start["danger"] == "disruptive" and start["inputs"] == {}
    assert end["outcome"] == "ok" and end["exit_status"] == 0 and end["bytes_out"] == 6
    assert end["cancelled"] is False and end["duration_s"] >= 0

    audit.path.unlink()
    await run(local("sh -c 'exit 4' sh"), None, lambda *_: None, audit=audit)
    _, end = _pair(lines(audit.path))
    assert end["outcome"] == "failed" and end["exit_status"] == 4

    audit.path.unlink()
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.2, cancel.set)
    await run(local("sleep 30", timeout=None), None, lambda *_: None, audit=audit, cancel=cancel)
    _, end = _pair(lines(audit.path))
    assert end["outcome"] == "cancelled" and end["cancelled"] is True and end["exit_status"] is None

    audit.path.unlink()
    task = asyncio.create_task(run(local("sleep 30"), None, lambda *_: None, audit=audit))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    _, end = _pair(lines(audit.path))
    assert end["outcome"] == "cancelled" and end["error"] == "cancelled"


async def test_permissions_are_private_whatever_the_umask(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    old = os.umask(0)
    try:
        audit = AuditLog(folder / "audit.jsonl")
        await run(local("true"), None, lambda *_: None, audit=audit)
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(audit.path.stat().st_mode) == 0o600
    audit.path.chmod(0o644)
    await run(local("true"), None, lambda *_: None, audit=audit)
    assert stat.S_IMODE(audit.path.stat().st_mode) == 0o600, "a loosened file is tightened again"


async def test_secrets_never_reach_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCKPIT_AUDIT_TOKEN", TOKEN)
    audit = AuditLog(tmp_path / "audit.jsonl")
    seen: list[str] = []
    inv = local('sh -c \'printf %s "$1" | wc -c; echo "$1"\' sh ${env:COCKPIT_AUDIT_TOKEN}')
    result = await run(inv, None, lambda _s, line: seen.append(line), audit=audit)
    assert result.ok
    assert seen == [str(len(TOKEN)), "«redacted»"], "the command got the secret; the operator did not"
    text = audit.path.read_text()
    assert TOKEN not in text and "0123456789" not in text
    assert "«redacted»" in lines(audit.path)[0]["command"]
    assert TOKEN not in "\n".join(format_records(read_records(audit.path)))


def test_a_sigkill_mid_action_leaves_the_start_record(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    marker = f"30.{os.getpid() % 9973}3"
    script = f"""
import asyncio
from cockpit.actions.audit import AuditLog
from cockpit.actions.render import Subject, render
from cockpit.actions.runner import run
from cockpit.actions.schema import ActionConfig
action = ActionConfig(name="long", scope="cluster", run_on="local", danger="safe", command="sleep {marker}")
asyncio.run(run(render(action, Subject(), {{}}), None, print, audit=AuditLog({str(path)!r})))
"""
    cockpit = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    try:
        deadline = time.monotonic() + 20
        while not (path.exists() and path.read_text().endswith("\n")):
            assert cockpit.poll() is None and time.monotonic() < deadline, "the start record never came"
            time.sleep(0.02)
        cockpit.send_signal(signal.SIGKILL)
        cockpit.wait(10)
    finally:
        if cockpit.poll() is None:
            cockpit.kill()
        _kill_orphans(f"sleep\0{marker}")  # a SIGKILLed cockpit cannot stop its own child
    (record,) = lines(path)
    assert (
        record["event"] == "start" and record["action"] == "long" and record["command"] == f"sleep {marker}"
    )
    (line,) = format_records(read_records(path))
    assert "no end record" in line and f"sleep {marker}" in line


def _kill_orphans(needle: str) -> None:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if needle.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    os.kill(int(entry), signal.SIGKILL)
            except OSError:
                pass


def test_reader_skips_a_torn_line_and_filters_by_time(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    old = {"event": "start", "id": "a", "time": "2025-12-01T10:00:00+00:00", "action": "unit-restart"}
    new = {"event": "start", "id": "b", "time": "2025-12-13T10:00:00+00:00", "action": "node-reboot"}
    end = {"event": "end", "id": "b", "time": "2025-12-13T10:00:02+00:00", "outcome": "ok", "exit_status": 0}
    path.write_text("\n".join(json.dumps(r) for r in (old, new, end)) + '\n{"event": "start", "id": "c", "ti')
    assert [r["id"] for r in read_records(path)] == ["a", "b", "b"]
    since = datetime(2025, 12, 10, tzinfo=UTC)
    recent = read_records(path, since)
    assert [r["id"] for r in recent] == ["b", "b"]
    (line,) = format_records(recent)
    assert "node-reboot" in line and "ok (exit 0" in line
    assert read_records(tmp_path / "missing.jsonl") == []


def test_since_accepts_durations_and_dates() -> None:
    now = datetime(2025, 12, 13, 12, 0, tzinfo=UTC)
    assert parse_since("1h", now) == now - timedelta(hours=1)
    assert parse_since("30m", now) == now - timedelta(minutes=30)
    assert parse_since("2d", now) == now - timedelta(days=2)
    assert parse_since("2025-12-13T10:00+00:00", now) == datetime(2025, 12, 13, 10, tzinfo=UTC)
    assert parse_since("2025-12-13", now).tzinfo is not None, "a bare date is local midnight"
    with pytest.raises(ValueError, match=r"--since 'yesterday' is not a duration or a date"):
        parse_since("yesterday", now)


async def test_an_unwritable_log_means_the_action_does_not_run(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    audit = AuditLog(blocker / "audit.jsonl")
    marker = tmp_path / "ran"
    result = await run(local(f"touch {marker}"), None, lambda *_: None, audit=audit)
    assert (
        result.outcome is Outcome.FAILED and result.error and result.error.startswith("not run: cannot write")
    )
    assert not marker.exists()
