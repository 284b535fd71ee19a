"""A JSON API on :class:`cockpit.sim.http.ServiceSim`'s server: same listener, keep-alive and limits.

:class:`ServiceSim` answers health probes by path and state only. A REST API also needs the query,
the headers (``Authorization``) and the request body (``{"state": "stopped"}``); ServiceSim reads
them all into a :class:`Request`, and :class:`ApiSim` only replaces :meth:`ApiSim.respond` (and the
``Server:`` header). Everything else (reading requests, loopback-only listening, ephemeral ports,
``down`` closing the port, ``slow`` delaying every answer, connection bookkeeping) is ServiceSim's own.
"""

from __future__ import annotations

import json
from typing import Any

from cockpit.config import ServiceConfig
from cockpit.sim.http import Request, ServiceSim
from cockpit.sim.http_answers import Answer

JSON_TYPE = "application/json; charset=utf-8"


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
