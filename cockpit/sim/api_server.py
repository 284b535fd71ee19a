"""A JSON API on :class:`cockpit.sim.http.ServiceSim`'s server: same listener, keep-alive and limits.

:class:`ServiceSim` answers health probes by path and state only. A REST API also needs the query,
the headers (``Authorization``) and the request body (``{"state": "stopped"}``), so
:class:`ApiSim` replaces just the one-request step and hands a :class:`Request` to
:meth:`ApiSim.respond`. Everything else (loopback-only listening, ephemeral ports, ``down`` closing
the port, ``slow`` delaying every answer, connection bookkeeping) is ServiceSim's own.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cockpit.config import ServiceConfig
from cockpit.sim.http import BODY_LIMIT, ServiceSim, _keep_alive, _parse, _send
from cockpit.sim.http_answers import Answer

JSON_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""

    def json(self) -> Any:
        """The body as JSON, or None when it is empty or not JSON."""
        try:
            return json.loads(self.body) if self.body.strip() else None
        except (ValueError, RecursionError):
            return None


def json_answer(doc: Any, status: int = 200, *, headers: tuple[tuple[str, str], ...] = ()) -> Answer:
    """``json.dumps`` with its default separators, as aiohttp's and Django's JSON responses write."""
    return Answer(status, json.dumps(doc).encode(), JSON_TYPE, headers)


class ApiSim(ServiceSim):
    """Subclass and implement :meth:`respond`. ``port=0`` lets the OS choose (tests, the demo)."""

    server_header: str | None = None
    """The ``Server:`` header the product sends, if any."""

    def __init__(self, name: str, *, host: str = "127.0.0.1", port: int = 0, slow_s: float = 3.0) -> None:
        shown = f"[{host}]" if ":" in host else host
        service = ServiceConfig(name=name, url=f"http://{shown}:{port or 1}", kind="http")
        super().__init__(service, slow_s=slow_s, ephemeral_port=port == 0)

    def respond(self, request: Request) -> Answer:  # pragma: no cover - subclasses answer
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{shown}:{self.port}"

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.keepalive_s)
        except (TimeoutError, asyncio.IncompleteReadError):
            return False
        except (asyncio.LimitOverrunError, ValueError):
            await _send(writer, Answer(431, b"Request Header Fields Too Large"), close=True)
            return False
        parsed = _parse(head)
        if parsed is None:
            await _send(writer, Answer(400, b"Bad Request"), close=True)
            return False
        method, path, version, headers = parsed
        if "transfer-encoding" in headers:
            await _send(writer, Answer(501, b"Not Implemented"), close=True)
            return False
        length = headers.get("content-length", "0")
        if not length.isdigit() or int(length) > BODY_LIMIT:
            await _send(writer, Answer(413, b"Content Too Large"), close=True)
            return False
        body = await reader.readexactly(int(length)) if int(length) else b""
        target = head.split(b" ", 2)[1].decode("latin-1")
        query = {k: v[-1] for k, v in parse_qs(urlsplit(target).query, keep_blank_values=True).items()}
        keep = _keep_alive(version, headers.get("connection", ""))
        self.requests.append((method, path))
        if self.state == "slow":
            await asyncio.sleep(self.slow_s)
        reply = self.respond(Request(method, path, query, headers, body))
        await _send(
            writer,
            reply,
            close=not keep,
            head_only=method == "HEAD",
            server=self.server_header,
            http10=version == "HTTP/1.0",
        )
        return keep
