"""Run an :class:`Invocation`: stream its output line by line, end with its exit status, stop it on
cancel without leaving anything behind, and record it in the audit log before and after.

Remote commands run on a new channel of the node's pooled SSH connection. Closing a channel does not
stop a command on OpenSSH (no pty, so no SIGHUP: ``sleep 1000`` would outlive us), so every remote
command is preceded by one line that prints the shell's PID on stderr; sshd makes that shell a session
and process-group leader, so on cancel a second channel sends ``kill -s TERM -- -PID`` to the whole
group, then KILL after a grace period, and only then is the channel closed. That line is the only
thing added to the rendered command, and it never reaches the operator's output.
Local commands (``run_on: local``) run from their argv without a shell, in their own session.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from cockpit.actions.audit import AuditError, AuditLog
from cockpit.actions.catalog import refuse_if_read_only
from cockpit.actions.lines import Lines, LineSink, pump
from cockpit.actions.render import Invocation
from cockpit.lazy_import import lazy_import
from cockpit.sources.ssh import ConnectFailure, SshPool

asyncssh = lazy_import("asyncssh")

BulkSink = Callable[[Invocation, str, str], None]
GRACE_S = 3.0
"""Between SIGTERM and SIGKILL: time for a command to exit cleanly (docker stop takes its own)."""
SIGNAL_TIMEOUT_S = 5.0
MARK = "@@cockpit-pid"


class Outcome(StrEnum):
    OK = "ok"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed out"
    UNREACHABLE = "unreachable"
    LOST = "connection lost"


@dataclass(frozen=True, slots=True)
class Result:
    """How one invocation ended; ``error`` is one line for the operator."""

    action: str
    node: str | None
    outcome: Outcome
    exit_status: int | None = None
    duration_s: float = 0.0
    bytes_out: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK

    @property
    def cancelled(self) -> bool:
        return self.outcome is Outcome.CANCELLED

    @property
    def summary(self) -> str:
        """``failed (exit 1)``, ``unreachable: connection refused``: the log pane's last line."""
        text = str(self.outcome)
        if self.exit_status is not None and self.outcome is not Outcome.OK:
            text += f" (exit {self.exit_status})"
        return f"{text}: {self.error}" if self.error else text


async def _within(future: asyncio.Future[object], seconds: float) -> bool:
    """Wait up to ``seconds`` without cancelling ``future``; True if it is done."""
    done, _ = await asyncio.wait({future}, timeout=seconds)
    return bool(done)


class _Job(Protocol):
    out: Lines
    err: Lines
    exited: asyncio.Future[None]

    def pumps(self) -> list[Awaitable[None]]: ...
    def status(self) -> tuple[Outcome, int | None, str | None]: ...
    async def stop(self) -> None: ...
    def close(self) -> None: ...


class _RemoteJob:
    def __init__(self, conn: asyncssh.SSHClientConnection, invocation: Invocation, sink: LineSink) -> None:
        self.conn = conn
        self.invocation = invocation
        self.out = Lines("stdout", sink, invocation.secrets)
        self.err = Lines("stderr", sink, invocation.secrets)
        self.nonce = secrets.token_hex(8)
        self.pid: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.err.intercept = self._pid_line
        self.proc: asyncssh.SSHClientProcess[bytes] | None = None

    def script(self) -> str:
        return f'echo "{MARK} {self.nonce} $$" >&2\n{self.invocation.command}'

    def _pid_line(self, line: str) -> bool:
        match = re.fullmatch(rf"{MARK} {self.nonce} (\d+)", line)
        if match is None or self.pid.done():
            return False
        self.pid.set_result(int(match.group(1)))
        self.err.intercept = None
        return True

    async def start(self) -> None:
        self.proc = await self.conn.create_process(self.script(), encoding=None, stdin=asyncssh.DEVNULL)
        self.exited = asyncio.ensure_future(self.proc.wait_closed())

    def pumps(self) -> list[Awaitable[None]]:
        assert self.proc is not None
        return [pump(self.proc.stdout.read, self.out), pump(self.proc.stderr.read, self.err)]

    def status(self) -> tuple[Outcome, int | None, str | None]:
        assert self.proc is not None
        if self.proc.exit_status is not None and self.proc.exit_status >= 0:
            status = self.proc.exit_status
            return (Outcome.OK if status == 0 else Outcome.FAILED), status, None
        if self.proc.exit_signal is not None:
            return Outcome.FAILED, None, f"killed by signal {self.proc.exit_signal[0]}"
        return Outcome.LOST, None, "the channel closed without an exit status (the command may still run)"

    async def _signal(self, name: str, pid: int) -> bool:
        """``kill`` the command's process group over a second channel; True if it was signalled."""
        command = f"kill -s {name} -- -{pid}"
        if self.invocation.sudo:
            command = f"sudo -n {command}"
        task = asyncio.ensure_future(self.conn.run(command, check=False))
        if not await _within(task, SIGNAL_TIMEOUT_S):
            task.cancel()
        try:
            return (await task).exit_status == 0
        except BaseException:
            return False

    async def stop(self) -> None:
        """TERM the group, KILL it after the grace, then close the channel. Where ``kill`` cannot
        reach it (no PID line came, or no ``kill`` there), closing the channel is all there is."""
        if not self.pid.done():
            await _within(self.pid, 2.0)  # it is the first line: it is on its way
        pid = self.pid.result() if self.pid.done() else None
        if (
            pid is not None
            and await self._signal("TERM", pid)
            and not await _within(self.exited, GRACE_S)
            and await self._signal("KILL", pid)
        ):
            await _within(self.exited, 2.0)
        self.close()

    def close(self) -> None:
        if self.proc is not None:
            self.proc.close()


class _LocalJob:
    def __init__(self, invocation: Invocation, sink: LineSink) -> None:
        self.invocation = invocation
        self.out = Lines("stdout", sink, invocation.secrets)
        self.err = Lines("stderr", sink, invocation.secrets)
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        argv = self.invocation.argv or ()
        self.proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        self.exited = asyncio.ensure_future(self.proc.wait())

    def pumps(self) -> list[Awaitable[None]]:
        assert self.proc is not None and self.proc.stdout and self.proc.stderr
        return [pump(self.proc.stdout.read, self.out), pump(self.proc.stderr.read, self.err)]

    def status(self) -> tuple[Outcome, int | None, str | None]:
        assert self.proc is not None
        code = self.proc.returncode
        if code is None:
            return Outcome.FAILED, None, "the command did not exit"
        if code < 0:
            return Outcome.FAILED, None, f"killed by signal {signal.Signals(-code).name.removeprefix('SIG')}"
        return (Outcome.OK if code == 0 else Outcome.FAILED), code, None

    def _signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    async def stop(self) -> None:
        self._signal(signal.SIGTERM)
        if not await _within(self.exited, GRACE_S):
            self._signal(signal.SIGKILL)
            await _within(self.exited, 2.0)

    def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self._signal(signal.SIGKILL)


async def _supervise(
    job: _Job, invocation: Invocation, cancel: asyncio.Event | None
) -> tuple[Outcome, int | None, str | None]:
    """Stream until the command ends, ``cancel`` is set or the timeout passes; stop it in the latter
    two cases, and also when this task is cancelled or the sink raised (then re-raise)."""
    pumps = [asyncio.ensure_future(p) for p in job.pumps()]
    complete = asyncio.ensure_future(_complete(pumps, job.exited))
    stopper = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
    waiting: set[asyncio.Future[object]] = {complete, *([stopper] if stopper else [])}
    finished = False
    try:
        done, _ = await asyncio.wait(waiting, timeout=invocation.timeout, return_when=asyncio.FIRST_COMPLETED)
        if complete in done:
            complete.result()  # a sink's exception, or the connection's, surfaces here
            finished = True
            return job.status()
        await job.stop()
        finished = True
        if stopper is not None and stopper in done:
            return Outcome.CANCELLED, None, "cancelled by the operator; the command was stopped"
        return Outcome.TIMED_OUT, None, f"timed out after {invocation.timeout:g} s; the command was stopped"
    finally:
        if stopper is not None:
            stopper.cancel()
        if not finished and not job.exited.done():
            await job.stop()
        job.close()
        for task in (complete, *pumps, job.exited):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def _complete(pumps: list[asyncio.Future[None]], exited: asyncio.Future[None]) -> None:
    """Both streams to their end, then the exit status (it comes after the last output)."""
    for reader in pumps:
        await reader
    await exited


def _lost() -> tuple[type[BaseException], ...]:
    """The connection went away (a function: reading asyncssh's exceptions loads it)."""
    return (asyncssh.ConnectionLost, asyncssh.DisconnectError, BrokenPipeError, ConnectionResetError)


async def _run_remote(
    invocation: Invocation, pool: SshPool, sink: LineSink, cancel: asyncio.Event | None
) -> tuple[Outcome, int | None, str | None, int]:
    if invocation.node is None:
        return Outcome.FAILED, None, "no node to run on", 0
    try:
        conn = await pool.connection(invocation.node)
    except ConnectFailure as exc:
        return Outcome.UNREACHABLE, None, str(exc), 0
    job = _RemoteJob(conn, invocation, sink)
    try:
        await job.start()
    except asyncssh.ChannelOpenError as exc:
        return Outcome.FAILED, None, f"the node refused a new channel: {exc.reason}", 0
    except (*_lost(), asyncssh.Error, OSError) as exc:
        return Outcome.UNREACHABLE, None, f"connection lost before the command started: {exc}", 0
    try:
        outcome, status, error = await _supervise(job, invocation, cancel)
    except _lost() as exc:
        reason = getattr(exc, "reason", "") or str(exc) or type(exc).__name__
        outcome, status = Outcome.LOST, None
        error = f"connection lost mid-run ({reason}); the command may still be running on the node"
    return outcome, status, error, job.out.bytes + job.err.bytes


async def _run_local(
    invocation: Invocation, sink: LineSink, cancel: asyncio.Event | None
) -> tuple[Outcome, int | None, str | None, int]:
    job = _LocalJob(invocation, sink)
    try:
        await job.start()
    except FileNotFoundError:
        name = (invocation.argv or ("",))[0]
        return Outcome.FAILED, 127, f"{name}: command not found on this machine", 0
    except OSError as exc:
        return Outcome.FAILED, 126, f"cannot start the command: {exc.strerror or exc}", 0
    outcome, status, error = await _supervise(job, invocation, cancel)
    return outcome, status, error, job.out.bytes + job.err.bytes


async def run(
    invocation: Invocation,
    pool: SshPool | None,
    on_line: LineSink,
    *,
    audit: AuditLog | None,
    cancel: asyncio.Event | None = None,
    read_only: bool = False,
) -> Result:
    """Run one invocation to its end (or ``cancel``, or its timeout) and return how it ended.

    The audit start record is on disk before anything runs: if it cannot be written the command is
    not run. Cancelling the calling task stops the command too (then CancelledError propagates).
    ``audit=None`` records nothing (tests, benchmarks); the cockpit always passes its log.
    """
    refuse_if_read_only(invocation.action, invocation.danger, read_only)
    record = None
    if audit is not None:
        try:
            record = audit.start(invocation)
        except AuditError as exc:
            return Result(invocation.action, invocation.node, Outcome.FAILED, error=f"not run: {exc}")
    started = time.monotonic()

    def result(outcome: Outcome, status: int | None, error: str | None, size: int) -> Result:
        return Result(
            invocation.action, invocation.node, outcome, status, time.monotonic() - started, size, error
        )

    try:
        if invocation.run_on == "local":
            outcome, status, error, size = await _run_local(invocation, on_line, cancel)
        elif pool is None:
            outcome, status, error, size = Outcome.FAILED, None, "no SSH pool to reach the node", 0
        else:
            outcome, status, error, size = await _run_remote(invocation, pool, on_line, cancel)
    except BaseException as exc:
        if audit is not None and record is not None:
            stopped = isinstance(exc, asyncio.CancelledError)
            reason = "cancelled" if stopped else f"runner error: {type(exc).__name__}: {exc}"
            ending = result(Outcome.CANCELLED if stopped else Outcome.FAILED, None, reason, 0)
            with contextlib.suppress(AuditError):
                audit.end(record, invocation, ending)
        raise
    final = result(outcome, status, error, size)
    if audit is not None and record is not None:
        with contextlib.suppress(AuditError):  # it ran; the start record stands either way
            audit.end(record, invocation, final)
    return final


async def run_bulk(
    invocations: Sequence[Invocation],
    pool: SshPool | None,
    on_line: BulkSink,
    *,
    concurrency: int,
    audit: AuditLog | None,
    cancel: asyncio.Event | None = None,
    read_only: bool = False,
) -> list[Result]:
    """Run on many nodes, at most ``concurrency`` at once; one result per invocation, in order.

    Invocations still waiting when ``cancel`` is set are not started (result: cancelled).
    """
    for invocation in invocations:
        refuse_if_read_only(invocation.action, invocation.danger, read_only)
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(invocation: Invocation) -> Result:
        async with gate:
            if cancel is not None and cancel.is_set():
                return Result(invocation.action, invocation.node, Outcome.CANCELLED, error="not started")
            return await run(
                invocation,
                pool,
                lambda stream, line: on_line(invocation, stream, line),
                audit=audit,
                cancel=cancel,
            )

    return list(await asyncio.gather(*(one(i) for i in invocations)))
