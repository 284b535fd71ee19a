"""One persistent SSH connection per node, reused across cycles, with backoff when a node is down.

Why a pool of long-lived connections: a fresh SSH handshake costs tens of milliseconds of CPU and
several round trips; a channel on an open connection costs one. Jump hosts are connections in the
same pool, so ten nodes behind one bastion share one connection to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import random
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from cockpit.config import JUMP_SPEC_RE, Cluster, NodeConfig, expand_path
from cockpit.lazy_import import lazy_import
from cockpit.model import DownReason
from cockpit.secrets import SecretError
from cockpit.sources.hostkeys import HostKeyPolicy

asyncssh = lazy_import("asyncssh")
# asyncssh logs every exec request at INFO ("Command: ..."), rendered secrets included; it must
# never say more than warnings, whatever level the rest of the process logs at. (Its logger is
# the standard one of that name: setting it here does not load asyncssh.)
logging.getLogger("asyncssh").setLevel(logging.WARNING)

MAX_OUTPUT = 4 * 1024 * 1024
# AES-GCM first: with AES-NI it costs one library call per packet, where asyncssh's
# chacha20-poly1305 costs three; polling hundreds of nodes is mostly packet decryption.
CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-ctr",
)


class ConnectFailure(Exception):
    """The node could not be reached; ``reason`` is the category, ``detail`` one line."""

    def __init__(self, reason: DownReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class CommandResult:
    stdout: str
    stderr: str
    exit_status: int | None
    truncated: bool = False


async def _read_capped(stream: asyncssh.SSHReader[str]) -> tuple[str, bool]:
    """Read to EOF but keep at most MAX_OUTPUT characters: remote output is not trusted."""
    chunks: list[str] = []
    size = 0
    while True:
        data = await stream.read(65536)
        if not data:
            return "".join(chunks), False
        size += len(data)
        if size > MAX_OUTPUT:
            return "".join(chunks), True
        chunks.append(data)


async def _read_until(stream: asyncssh.SSHReader[str], end: str) -> str:
    """Read up to and including the line ``end``; past MAX_OUTPUT, give up (EOFError)."""
    buffer = ""
    while True:
        data = await stream.read(65536)
        if not data:
            raise EOFError
        start = max(0, len(buffer) - len(end))
        buffer += data
        found = buffer.find(end, start)
        if found >= 0:
            return buffer[: found + len(end)]
        if len(buffer) > MAX_OUTPUT:
            raise EOFError


class CommandFailure(Exception):
    """The connection is up but the command did not complete (timeout, channel lost)."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how to connect; built once from config."""

    key: str
    host: str
    port: int | None
    user: str | None
    jump: str | None


@dataclass
class _Entry:
    target: Target
    conn: asyncssh.SSHClientConnection | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    failures: int = 0
    retry_at: float = 0.0
    last_failure: ConnectFailure | None = None
    host_key_refusal: DownReason | None = None
    shell: asyncssh.SSHClientProcess[str] | None = None
    """The node's long-lived ``sh`` for polls (see :meth:`SshPool.poll`)."""
    shell_failures: int = 0
    """Shells that ended without answering; past two, polls fall back to one exec each."""


@functools.cache
def _client_class() -> type:
    """The client class, made at the first connection (its base class loads asyncssh)."""

    class _Client(asyncssh.SSHClient):  # type: ignore[misc, name-defined]
        def __init__(self, policy: HostKeyPolicy, entry: _Entry) -> None:
            self._policy = policy
            self._entry = entry
            self._conn: asyncssh.SSHClientConnection | None = None

        def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
            self._entry.host_key_refusal = self._policy.decide(host, addr, port, key)
            return self._entry.host_key_refusal is None

        def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
            self._conn = conn

        def connection_lost(self, exc: Exception | None) -> None:
            # asyncssh reports this a turn later; by then the entry may hold a newer connection.
            if self._entry.conn is self._conn:
                self._entry.conn = None
                self._entry.shell = None

    return _Client


def _classify(exc: BaseException, entry: _Entry, port: int) -> ConnectFailure:
    target = entry.target
    if isinstance(exc, ConnectFailure):
        return exc
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        reason = entry.host_key_refusal or DownReason.HOST_KEY_UNKNOWN
        return ConnectFailure(reason, "refusing to connect (check known_hosts)")
    if isinstance(exc, asyncssh.PermissionDenied):
        return ConnectFailure(DownReason.AUTH, str(exc.reason or "permission denied"))
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return ConnectFailure(DownReason.TIMEOUT, "no SSH handshake in time")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectFailure(DownReason.REFUSED, f"port {port}")
    if isinstance(exc, socket.gaierror):
        return ConnectFailure(DownReason.DNS, f"cannot resolve {target.host}")
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return ConnectFailure(DownReason.UNREACHABLE, exc.strerror or "")
    if isinstance(exc, asyncssh.DisconnectError):
        return ConnectFailure(DownReason.DISCONNECTED, str(exc.reason or exc))
    if isinstance(exc, SecretError):
        return ConnectFailure(DownReason.AUTH, str(exc))
    if isinstance(exc, OSError):
        return ConnectFailure(DownReason.ERROR, exc.strerror or str(exc))
    return ConnectFailure(DownReason.ERROR, f"{type(exc).__name__}: {exc}")


class SshPool:
    """Connections by node name (and by ``user@host:port`` for jump hosts not in the config)."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._cluster = cluster
        self._ssh = cluster.ssh
        self._clock = clock
        self._rng = rng
        self.policy = HostKeyPolicy(
            expand_path(cluster.ssh.known_hosts),
            accept_new=cluster.ssh.host_key_policy == "accept-new",
        )
        self._entries: dict[str, _Entry] = {}
        for node in cluster.nodes:
            self._entries[node.name] = _Entry(self._target(node))

    @staticmethod
    def _target(node: NodeConfig) -> Target:
        return Target(key=node.name, host=node.host, port=node.port, user=node.user, jump=node.jump)

    def _entry(self, key: str) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            match = JUMP_SPEC_RE.match(key)
            if not match:
                raise ConnectFailure(DownReason.ERROR, f"bad jump host {key!r}")
            port = match.group("port")
            entry = _Entry(
                Target(
                    key=key,
                    host=match.group("host").strip("[]"),
                    port=int(port) if port else None,
                    user=match.group("user"),
                    jump=None,
                )
            )
            self._entries[key] = entry
        return entry

    def retry_in(self, key: str) -> float:
        """Seconds until the next connection attempt is allowed (0 when connected or due)."""
        entry = self._entries[key]
        if entry.conn is not None:
            return 0.0
        return max(0.0, entry.retry_at - self._clock())

    def is_connected(self, key: str) -> bool:
        return self._entries[key].conn is not None

    async def connection(self, key: str) -> asyncssh.SSHClientConnection:
        entry = self._entry(key)
        if entry.conn is not None:
            return entry.conn
        async with entry.lock:
            if entry.conn is not None:
                return entry.conn
            if entry.last_failure is not None and self._clock() < entry.retry_at:
                raise entry.last_failure
            try:
                entry.conn = await self._connect(entry)
            except Exception as exc:
                failure = _classify(exc, entry, self._port(entry.target))
                self._back_off(entry, failure)
                raise failure from None
            entry.failures = 0
            entry.host_key_refusal = None
            entry.last_failure = None
            return entry.conn

    def _back_off(self, entry: _Entry, failure: ConnectFailure) -> None:
        """Exponential backoff with jitter, capped at ``reconnect_max`` (default: one refresh) so a
        node that comes back is seen within two cycles."""
        entry.failures += 1
        cap = self._cluster.reconnect_max
        delay = min(cap, 0.5 * 2 ** (entry.failures - 1))
        entry.retry_at = self._clock() + delay * (0.5 + 0.5 * self._rng())
        entry.last_failure = failure

    async def _connect(self, entry: _Entry) -> asyncssh.SSHClientConnection:
        target = entry.target
        entry.host_key_refusal = None
        tunnel = None
        if target.jump:
            try:
                tunnel = await self.connection(target.jump)
            except ConnectFailure as exc:
                raise ConnectFailure(DownReason.JUMP, f"{target.jump}: {exc}") from None
        ssh = self._ssh
        options: dict[str, object] = {
            "known_hosts": self.policy.known_hosts(),
            "connect_timeout": ssh.connect_timeout,
            "login_timeout": ssh.connect_timeout,
            "keepalive_interval": max(5.0, self._cluster.refresh * 5),
            "keepalive_count_max": 3,
            "config": self._config_files(),
            "encryption_algs": CIPHERS,
        }
        user = target.user or ssh.user
        if user:
            options["username"] = user
        if target.port or ssh.port:
            options["port"] = self._port(target)
        if tunnel is not None:
            options["tunnel"] = tunnel
        if ssh.identity_file:
            files = [ssh.identity_file] if isinstance(ssh.identity_file, str) else ssh.identity_file
            options["client_keys"] = [str(expand_path(f)) for f in files]
        if ssh.passphrase is not None:
            options["passphrase"] = ssh.passphrase.reveal()
        if not ssh.agent:
            options["agent_path"] = None
        async with asyncio.timeout(ssh.connect_timeout + 1):
            conn, _ = await asyncssh.create_connection(
                lambda: _client_class()(self.policy, entry), target.host, **options
            )
        return conn

    def _port(self, target: Target) -> int:
        """The port we connect to: the node's, else ssh.port, else 22 (~/.ssh/config may differ)."""
        return target.port or self._ssh.port or 22

    def _config_files(self) -> list[str]:
        if not self._ssh.config_file:
            return []
        path: Path = expand_path(self._ssh.config_file)
        return [str(path)] if path.is_file() else []

    async def run(self, key: str, command: str, timeout: float) -> CommandResult:
        """Run one command on a new channel of the node's connection, bounded in time and size."""
        conn = await self.connection(key)
        process = None
        try:
            async with self._command_errors(key, timeout), asyncio.timeout(timeout):
                process = await conn.create_process(command, encoding="utf-8", errors="replace")
                # Both streams at once: a full stderr window must not stall stdout, or the reverse.
                (stdout, truncated), (stderr, _) = await asyncio.gather(
                    _read_capped(process.stdout), _read_capped(process.stderr)
                )
                if truncated:
                    process.close()
                    return CommandResult(stdout, stderr, None, truncated=True)
                await process.wait()
                return CommandResult(stdout, stderr, process.exit_status)
        finally:
            if process is not None:
                process.close()

    async def poll(self, key: str, script: str, marker: str, timeout: float) -> CommandResult:
        """Run a poll script on the node's long-lived ``sh`` channel.

        Why not one exec per poll: opening, running and closing a channel is about a dozen SSH
        packets, each decrypted in Python; writing a script to a shell that is already running is
        one packet out and one or two back, which more than halves the engine's CPU per node.
        The script's end is the ``marker`` line it echoes last. A shell that misbehaves is closed
        and the next poll starts a new one; hosts whose ``sh`` cannot read stdin get plain execs.
        """
        entry = self._entry(key)
        if entry.shell_failures > 2:
            return await self.run(key, script, timeout)
        conn = await self.connection(key)
        try:
            async with self._command_errors(key, timeout), asyncio.timeout(timeout):
                if entry.shell is None:
                    entry.shell = await conn.create_process(
                        "sh", encoding="utf-8", errors="replace", stderr=asyncssh.DEVNULL
                    )
                shell = entry.shell
                shell.stdin.write(f"{script}echo {marker}\n")
                text = await _read_until(shell.stdout, f"{marker}\n")
        except EOFError:
            self._close_shell(entry)
            entry.shell_failures += 1
            raise CommandFailure("the node's shell ended before answering") from None
        except BaseException:
            # Timed out, failed or cancelled mid-answer: the rest of that answer may still come,
            # so this shell can never be trusted again.
            self._close_shell(entry)
            raise
        entry.shell_failures = 0
        return CommandResult(text, "", 0)

    @contextlib.asynccontextmanager
    async def _command_errors(self, key: str, timeout: float) -> AsyncIterator[None]:
        """One translation of what can go wrong with a command into what the operator reads."""
        try:
            yield
        except TimeoutError:
            raise CommandFailure(f"command timed out after {timeout:g}s") from None
        except asyncssh.ChannelOpenError as exc:
            # The connection is fine; the node (MaxSessions, say) refused one more channel.
            raise CommandFailure(f"the node refused a new channel: {exc.reason}") from None
        except (asyncssh.ConnectionLost, asyncssh.DisconnectError) as exc:
            self._drop(key)
            raise CommandFailure(f"connection lost: {getattr(exc, 'reason', exc)}") from None
        except (BrokenPipeError, ConnectionResetError) as exc:
            self._drop(key)
            raise CommandFailure(f"connection lost: {exc}") from None

    @staticmethod
    def _close_shell(entry: _Entry) -> None:
        if entry.shell is not None:
            entry.shell.close()
            entry.shell = None

    def _drop(self, key: str) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            entry.shell = None
        if entry and entry.conn is not None:
            entry.conn.abort()
            entry.conn = None

    async def close(self) -> None:
        conns = [e.conn for e in self._entries.values() if e.conn is not None]
        for conn in conns:
            conn.close()
        for conn in conns:
            try:
                async with asyncio.timeout(2):
                    await conn.wait_closed()
            except (TimeoutError, OSError, asyncssh.Error):
                pass
        for entry in self._entries.values():
            entry.conn = None
