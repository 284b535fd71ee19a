"""One real SSH server (asyncssh) per simulated node, listening on loopback only.

Exec requests run through :mod:`cockpit.sim.shell` and stream stdout, stderr and the exit status
back like OpenSSH would. The fault switches here are what the cockpit's failure paths are tested
against: a stopped node refuses TCP, a frozen node accepts TCP but never sends its banner (a hung
machine), a rotated key breaks strict host-key checking, a slow node makes commands time out.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable

import asyncssh

from cockpit.sim.commands import resolve
from cockpit.sim.shell import Shell
from cockpit.sim.world import NodeWorld

log = logging.getLogger(__name__)
CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr")
"""Offered ciphers: all in OpenSSH's defaults; AES-GCM costs asyncssh far less CPU than chacha20,
which matters with hundreds of simulated nodes in one process."""
SHELL_REFUSED = "This is a simulated gpu-cockpit node: it runs commands only (ssh HOST COMMAND).\r\n"


class SimError(Exception):
    """The simulator cannot do what it was asked (non-loopback address, port in use...)."""


def loopback_address(host: str) -> str:
    """The address to bind for ``host``; raises :class:`SimError` unless it is loopback."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        addr = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise SimError(f"{host!r} is not an IP address (the simulator listens on loopback only)") from None
    if not addr.is_loopback:
        raise SimError(f"{host!r} is not a loopback address (expected 127.0.0.0/8 or ::1)")
    return str(addr)


STDIN_SHELLS = frozenset({"sh", "/bin/sh", "sh -s", "/bin/sh -s", "bash", "/bin/bash"})


class _Coalesced:
    """Writes made in one turn of the event loop go out as one SSH data packet.

    A real shell's output reaches sshd through a pipe that sshd drains in chunks; writing every
    ``echo`` as its own packet would make the demo costlier than the machines it imitates.
    """

    def __init__(self, write: Callable[[str], object]) -> None:
        self._write = write
        self._parts: list[str] = []
        self._scheduled = False

    def write(self, text: str) -> None:
        self._parts.append(text)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._scheduled = False
        if self._parts:
            text, self._parts = "".join(self._parts), []
            try:
                self._write(text)
            except (BrokenPipeError, ConnectionError, asyncssh.Error):
                pass


class _Session(asyncssh.SSHServerSession):
    """One channel: an exec request run by a fresh shell, or a polite refusal of a login shell."""

    def __init__(self, node: NodeServer, user: str) -> None:
        self._node, self._user = node, user
        self._chan: asyncssh.SSHServerChannel | None = None
        self._command: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._stdin: asyncio.Queue[str | None] = asyncio.Queue()
        self._pending = ""

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:
        self._chan = chan

    def pty_requested(self, term_type, term_size, term_modes) -> bool:  # type: ignore[no-untyped-def]
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self._command = command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        return False

    def session_started(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def data_received(self, data: str, datatype: object) -> None:
        """Standard input: complete lines go to a ``sh`` reading its script from stdin."""
        self._pending += data
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            self._stdin.put_nowait(line)

    def eof_received(self) -> bool:
        if self._pending:
            self._stdin.put_nowait(self._pending)
            self._pending = ""
        self._stdin.put_nowait(None)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _run(self) -> None:
        chan = self._chan
        assert chan is not None
        try:
            if self._command is None:
                chan.write_stderr(SHELL_REFUSED)
                chan.exit(1)
                return
            await self._node.unfrozen.wait()
            shell = Shell(self._node.world, self._user, resolve)
            out = _Coalesced(chan.write)
            err = _Coalesced(chan.write_stderr)
            if self._command.strip() in STDIN_SHELLS:
                status = await self._run_stdin(shell, out, err)
            else:
                status = await shell.run(self._command, out.write, err.write)
            out.flush()
            err.flush()
            chan.exit(status)
        except (BrokenPipeError, ConnectionError, asyncssh.Error):
            pass
        except Exception:
            log.exception("sim node %s: command %r failed", self._node.name, self._command)
            chan.write_stderr("sh: 1: internal simulator error\n")
            chan.exit(2)

    async def _run_stdin(self, shell: Shell, out: _Coalesced, err: _Coalesced) -> int:
        """``sh`` with no arguments reads its script from stdin and runs each line as it comes,
        keeping ``$?`` and variables between lines, until end of input."""
        status = 0
        while (line := await self._stdin.get()) is not None:
            await self._node.unfrozen.wait()  # a frozen node stalls a running shell too
            if line.strip():
                status = await shell.run(line, out.write, err.write)
        return status


class _Server(asyncssh.SSHServer):
    """Per-connection callbacks: who logged in, which channels and forwards are allowed."""

    def __init__(self, node: NodeServer) -> None:
        self._node = node
        self._conn: asyncssh.SSHServerConnection | None = None
        self._user = "root"

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._node.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._node.connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        self._user = username
        return self._node.authorized_keys is not None

    def password_auth_supported(self) -> bool:
        return False

    def session_requested(self) -> _Session:
        return _Session(self._node, self._user)

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
        """direct-tcpip (``ssh -J`` through this node): allowed to loopback destinations only."""
        try:
            loopback_address(dest_host)
        except SimError:
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED,
                f"simulated node forwards to loopback only, not {dest_host}:{dest_port}",
            ) from None
        return True


class NodeServer:
    """The listener of one node and its fault switches; the world is shared with the caller."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        world: NodeWorld,
        host_key: asyncssh.SSHKey,
        authorized_keys: asyncssh.SSHAuthorizedKeys | None = None,
    ) -> None:
        self.name, self.host, self.port = name, host, port
        self.bind = loopback_address(host)
        self.world = world
        self.host_key = host_key
        self.authorized_keys = authorized_keys
        self.connections: set[asyncssh.SSHServerConnection] = set()
        self.unfrozen = asyncio.Event()
        self.unfrozen.set()
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._holder: asyncio.Server | None = None
        self._held: set[asyncio.StreamWriter] = set()

    @property
    def running(self) -> bool:
        return self._acceptor is not None or self._holder is not None

    async def start(self) -> None:
        """Listen (again) on the same port with the current key; the first start fixes the port."""
        if self._acceptor is not None:
            return
        try:
            self._acceptor = await asyncssh.listen(
                self.bind, self.port, server_factory=lambda: _Server(self),
                server_host_keys=[self.host_key], authorized_client_keys=self.authorized_keys,
                reuse_address=True, allow_scp=False, agent_forwarding=False,
                x11_forwarding=False, line_editor=False, login_timeout=30, encoding="utf-8",
                encryption_algs=CIPHERS,
            )  # fmt: skip
        except OSError as exc:
            raise SimError(
                f"node {self.name!r}: cannot listen on {self.bind}:{self.port}: {exc.strerror}"
            ) from None
        self.port = self._acceptor.get_port()

    async def _close_listeners(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        if self._holder is not None:
            self._holder.close()
            for writer in list(self._held):
                writer.transport.abort()
            self._held.clear()
            await self._holder.wait_closed()
            self._holder = None

    async def stop(self) -> None:
        """Refuse new connections and drop the open ones, as a node that went down."""
        await self._close_listeners()
        for conn in list(self.connections):
            conn.abort()
        self.connections.clear()
        self.unfrozen.set()

    async def freeze(self) -> None:
        """Keep accepting TCP but never speak SSH; commands on open connections hang too."""
        self.unfrozen.clear()
        if self._holder is not None:
            return
        await self._close_listeners()
        try:
            self._holder = await asyncio.start_server(self._hold, self.bind, self.port, reuse_address=True)
        except OSError as exc:
            raise SimError(
                f"node {self.name!r}: cannot listen on {self.bind}:{self.port}: {exc.strerror}"
            ) from None

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._held.add(writer)
        try:
            await self.unfrozen.wait()
        finally:
            self._held.discard(writer)
            writer.transport.abort()

    async def unfreeze(self) -> None:
        if self._holder is None and self.unfrozen.is_set():
            return
        await self._close_listeners()
        self.unfrozen.set()
        await self.start()

    def rotate_host_key(self, key: asyncssh.SSHKey) -> None:
        """Serve a different host key to new connections (the known_hosts file is left alone)."""
        self.host_key = key
        if self._acceptor is not None:
            self._acceptor.update(server_host_keys=[key])
