"""Simulated HTTP services on loopback: TabbyAPI, Ollama, LiteLLM, Grafana, Prometheus, Open WebUI...

A small asyncio HTTP/1.1 server, no framework: keep-alive (HTTP/1.1 by default, HTTP/1.0 on request),
``Content-Length`` on every answer, an idle connection closed after ``keepalive_s`` as uvicorn does,
and a bounded request head and body. Each :class:`ServiceSim` listens where its ServiceConfig's URL
says (loopback only) and answers like its product (:mod:`cockpit.sim.http_answers`). States:

- ``ok``: healthy answers;
- ``down``: the listener is closed and open connections dropped, so a probe meets "connection refused";
- ``slow``: every answer waits ``slow_s`` seconds first;
- ``error``: the product's real failure (TabbyAPI 503 "No models are currently loaded.", Grafana 503
  "database failing", Triton 400 on ready, ...);
- ``bad-json``: a 200 whose JSON body is cut short.

:class:`ServiceSims` runs all of a cluster's services; a simulated LiteLLM reports the health of the
simulated services it depends on as its ``/health`` endpoints, as the real one does for its backends.
Every request, head and body, is read here into a :class:`Request` and answered by
:meth:`ServiceSim.respond`, which a JSON API simulator (:mod:`cockpit.sim.api_server`) overrides.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from cockpit.config import ServiceConfig, SimService
from cockpit.sim.http_answers import SERVER_HEADER, Answer, Backend, answer
from cockpit.sim.server import SimError, loopback_address

STATES = ("ok", "down", "slow", "error", "bad-json")
HEAD_LIMIT = 16 * 1024
BODY_LIMIT = 1024 * 1024
BACKEND_KINDS = frozenset({"tabbyapi", "ollama", "triton", "http"})
_BACKEND_MODEL = {"tabbyapi": "openai/Llama-3.3-70B-Instruct-exl2-4.0bpw", "ollama": "ollama/llama3.2:3b"}


@dataclass(frozen=True, slots=True)
class Request:
    """One request as read: the query's last value per name, header names in lower case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    version: str = "HTTP/1.1"

    def json(self) -> Any:
        """The body as JSON, or None when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body.strip() else None
        except (ValueError, RecursionError):
            return None


class ServiceSim:
    """One simulated service listening on its URL's loopback address and port.

    ``ephemeral_port`` lets the OS choose the port (tests); :attr:`url` and :meth:`effective` then say
    where it is. The port is kept across down/up so the service comes back where it was.
    """

    def __init__(
        self,
        service: ServiceConfig,
        *,
        state: str = "ok",
        slow_s: float = 3.0,
        keepalive_s: float = 5.0,
        ephemeral_port: bool = False,
        backends: Iterable[ServiceSim] = (),
    ) -> None:
        parts = urlsplit(service.url)
        if parts.scheme != "http":
            raise SimError(
                f"service {service.name!r}: the simulator serves plain http://, not {parts.scheme}://"
            )
        try:
            self.host = loopback_address(parts.hostname or "")
            port = parts.port or 80
        except ValueError:
            raise SimError(f"service {service.name!r}: {service.url!r} has a bad port") from None
        except SimError as exc:
            raise SimError(f"service {service.name!r} cannot be simulated: {exc}") from None
        self.service = service
        self.port = 0 if ephemeral_port else port
        self.slow_s = slow_s
        self.keepalive_s = keepalive_s
        self._state = _checked(state)
        self.backends = list(backends)
        """The simulated services a LiteLLM routes to: its /health reports their states."""
        self._server: asyncio.Server | None = None
        self._started = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0
        """TCP connections accepted so far (tests check that probes reuse one)."""
        self.requests: deque[tuple[str, str]] = deque(maxlen=1000)
        """The latest (method, path) pairs received."""

    @property
    def state(self) -> str:
        return self._state

    @property
    def server_header(self) -> str | None:
        """The ``Server:`` header the product sends, if any."""
        return SERVER_HEADER.get(self.service.kind)

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """The service's URL with the port actually bound."""
        return self.effective().url

    def effective(self) -> ServiceConfig:
        """The ServiceConfig with its URL pointing at the bound port."""
        parts = urlsplit(self.service.url)
        host = parts.hostname or self.host
        shown = f"[{host}]" if ":" in host else host
        url = urlunsplit((parts.scheme, f"{shown}:{self.port}", parts.path, parts.query, ""))
        return self.service.model_copy(update={"url": url})

    async def start(self) -> None:
        """Listen, or in state ``down`` only claim a port number (an ephemeral one must be known)."""
        self._started = True
        await self._listen()
        if self._state == "down":
            await self._close()

    async def stop(self) -> None:
        self._started = False
        await self._close()

    async def set_state(self, state: str, *, delay: float | None = None) -> None:
        """Switch state; ``down`` closes the port and drops connections, leaving it reopens it."""
        self._state = _checked(state)
        if delay is not None:
            self.slow_s = max(0.0, float(delay))
        if not self._started:
            return
        if state == "down":
            await self._close()
        elif self._server is None:
            await self._listen()

    # -- the listener --------------------------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await listen(self._serve, self.host, self.port, f"service {self.service.name!r}")
        if self.port == 0:
            self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        server, self._server = self._server, None
        await close_abruptly(server, self._writers, self._tasks)

    # -- one connection ------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        try:
            while await self._one_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Only _close cancels these tasks. Ending normally matters: asyncio's stream callback asks
            # a finished connection task for its exception, which raises again if it was cancelled.
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read one request and answer it; False when the connection should close."""
        request = await _read_request(reader, writer, self.keepalive_s)
        if request is None:
            return False
        keep = _keep_alive(request.version, request.headers.get("connection", ""))
        self.requests.append((request.method, request.path))
        if self._state == "slow":
            await asyncio.sleep(self.slow_s)
        await _send(
            writer,
            self.respond(request),
            close=not keep,
            head_only=request.method == "HEAD",
            server=self.server_header,
            http10=request.version == "HTTP/1.0",
        )
        return keep

    def respond(self, request: Request) -> Answer:
        """The product's answer in the current state (:func:`cockpit.sim.http_answers.answer`)."""
        return answer(self.service.kind, request.method, request.path, self._state, self._backend_health)

    def _backend_health(self) -> list[Backend]:
        return [
            Backend(
                _BACKEND_MODEL.get(sim.service.kind, f"openai/{sim.service.name}"),
                sim.url,
                sim.state in ("ok", "slow"),
            )
            for sim in self.backends
        ]


class ServiceSims:
    """All of a cluster's simulated services: start them, switch their states, stop them."""

    def __init__(
        self, *, ephemeral_ports: bool = False, slow_s: float = 3.0, keepalive_s: float = 5.0
    ) -> None:
        self.ephemeral_ports = ephemeral_ports
        self.slow_s = slow_s
        self.keepalive_s = keepalive_s
        self.sims: dict[str, ServiceSim] = {}

    async def start(
        self, services: Iterable[ServiceConfig], states: Mapping[str, str | SimService] | None = None
    ) -> None:
        """Start every service (state ``ok`` unless ``states`` says otherwise); all or none."""
        services = list(services)
        states = dict(states or {})
        names = {s.name for s in services}
        if unknown := sorted(set(states) - names):
            raise SimError(f"no such service: {', '.join(unknown)}")
        sims: dict[str, ServiceSim] = {}
        for service in services:
            wanted = states.get(service.name, "ok")
            sims[service.name] = ServiceSim(
                service,
                state=wanted.state if isinstance(wanted, SimService) else wanted,
                slow_s=self.slow_s,
                keepalive_s=self.keepalive_s,
                ephemeral_port=self.ephemeral_ports,
            )
        for service in services:
            sims[service.name].backends = [
                sims[d] for d in service.depends_on if d in sims and sims[d].service.kind in BACKEND_KINDS
            ]
        self.sims = sims
        try:
            for sim in sims.values():
                await sim.start()
        except BaseException:
            await self.stop()
            raise

    async def set_state(self, name: str, state: str, *, delay: float | None = None) -> None:
        """``ok``, ``down``, ``slow`` (``delay`` seconds), ``error`` or ``bad-json``."""
        await self._sim(name).set_state(state, delay=delay)

    def state(self, name: str) -> str:
        return self._sim(name).state

    async def stop(self) -> None:
        sims = list(self.sims.values())
        await asyncio.gather(*(s.stop() for s in sims), return_exceptions=True)

    async def __aenter__(self) -> ServiceSims:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def effective_services(self) -> list[ServiceConfig]:
        """The services with their URLs pointing at the ports actually bound."""
        return [sim.effective() for sim in self.sims.values()]

    def _sim(self, name: str) -> ServiceSim:
        if name not in self.sims:
            raise SimError(f"no simulated service named {name!r}")
        return self.sims[name]


def _checked(state: str) -> str:
    if state not in STATES:
        raise SimError(f"service state must be one of {', '.join(STATES)}, not {state!r}")
    return state


async def _read_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, keepalive_s: float
) -> Request | None:
    """The next request with its body; None (after a 4xx/5xx answer where one is due) to close."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), keepalive_s)
    except (TimeoutError, asyncio.IncompleteReadError):
        return None
    except (asyncio.LimitOverrunError, ValueError):
        await _send(writer, Answer(431, b"Request Header Fields Too Large"), close=True)
        return None
    parsed = _parse(head)
    if parsed is None:
        await _send(writer, Answer(400, b"Bad Request"), close=True)
        return None
    method, path, version, headers = parsed
    if "transfer-encoding" in headers:
        await _send(writer, Answer(501, b"Not Implemented"), close=True)
        return None
    length = headers.get("content-length", "0")
    if not length.isdigit() or int(length) > BODY_LIMIT:
        await _send(writer, Answer(413, b"Content Too Large"), close=True)
        return None
    body = await reader.readexactly(int(length)) if int(length) else b""
    target = head.split(b" ", 2)[1].decode("latin-1")
    query = {k: v[-1] for k, v in parse_qs(urlsplit(target).query, keep_blank_values=True).items()}
    return Request(method, path, query, headers, body, version)


def _parse(head: bytes) -> tuple[str, str, str, dict[str, str]] | None:
    """Request line and headers; None for anything malformed (answered 400)."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        return None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0") or not parts[0].isalpha():
        return None
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return None
        headers[name.lower()] = value.strip()
    path = urlsplit(target).path or "/"
    return method.upper(), path, version, headers


def _keep_alive(version: str, connection: str) -> bool:
    tokens = {t.strip().lower() for t in connection.split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


async def _send(
    writer: asyncio.StreamWriter,
    reply: Answer,
    *,
    close: bool,
    head_only: bool = False,
    server: str | None = None,
    http10: bool = False,
) -> None:
    try:
        reason = HTTPStatus(reply.status).phrase
    except ValueError:
        reason = ""
    lines = [f"HTTP/1.1 {reply.status} {reason}", f"date: {formatdate(usegmt=True)}"]
    if server:
        lines.append(f"server: {server}")
    lines.append(f"content-length: {len(reply.body)}")
    if reply.content_type:
        lines.append(f"content-type: {reply.content_type}")
    lines.extend(f"{k}: {v}" for k, v in reply.headers)
    if close:
        lines.append("connection: close")
    elif http10:
        lines.append("connection: keep-alive")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    writer.write(head if head_only else head + reply.body)
    await writer.drain()


async def listen(serve: Any, host: str, port: int, what: str) -> asyncio.Server:
    """A loopback listener for a simulated server; a busy port is one line naming ``what``."""
    try:
        return await asyncio.start_server(serve, host, port, limit=HEAD_LIMIT)
    except OSError as exc:
        where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise SimError(f"{what}: {where} is already in use") from None
        raise SimError(f"{what}: cannot listen on {where}: {exc.strerror}") from None


async def close_abruptly(
    server: asyncio.Server | None, writers: set[asyncio.StreamWriter], tasks: set[asyncio.Task[None]]
) -> None:
    """The process died: the port refuses, and open connections are cut without a goodbye."""
    if server is None:
        return
    server.close()
    for writer in list(writers):
        writer.transport.abort()
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    with contextlib.suppress(Exception):
        await server.wait_closed()
