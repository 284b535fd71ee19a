"""HTTP health probes of the cluster's services, over one shared keep-alive client.

One :class:`httpx.AsyncClient` serves every probe of every cycle, so a healthy service costs one
request on an open connection rather than a TCP (and TLS) handshake each refresh; it is
:func:`cockpit.sources.jsonapi.new_client`'s (HTTP/1.1, no proxy from the environment, and why).
Redirects are followed only within the same origin (Grafana's ``/`` -> ``/login``): a health URL
that points elsewhere is a finding, not a hop. :func:`failure_reason` words every way a request
fails, for this prober and the P2P and Vast sources alike.

Every probe is bounded by its service's own ``timeout`` as a whole (connect, answer and body), so a
service that drips its answer a byte a second cannot hold a cycle, and :meth:`ServiceProber.probe_all`
runs them concurrently: one slow service costs its own timeout and nothing else. Judging the answer is
in :mod:`cockpit.sources.http_checks` (pure, tested on the products' real bodies).
"""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import httpx

from cockpit.config import ServiceConfig
from cockpit.model import ServiceReading
from cockpit.sanitize import clean
from cockpit.sources.http_checks import display_url, expected_status, judge, target_url
from cockpit.sources.jsonapi import Failed, PooledClient, new_client, read_capped

MAX_BODY = 2 * 1024 * 1024
"""Health answers are small; Ollama's /api/tags with hundreds of models is ~200 KiB."""
MAX_REDIRECTS = 3
USER_AGENT = "gpu-cockpit/0.1 (health probe)"
ACCEPT = "application/json, text/plain;q=0.9, */*;q=0.5"


class ServiceProber(PooledClient):
    """Probes :class:`ServiceConfig` endpoints and returns :class:`ServiceReading` values.

    ``clock`` stamps readings (wall time); latency is measured on a monotonic clock per request.
    Close with :meth:`aclose` (or ``async with``) to drop the pooled connections.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        max_connections: int = 128,
        max_keepalive: int = 64,
        keepalive_expiry: float = 30.0,
        max_body: int = MAX_BODY,
    ) -> None:
        client = new_client(
            max_connections=max_connections,
            max_keepalive=max_keepalive,
            keepalive_expiry=keepalive_expiry,
            user_agent=USER_AGENT,
            accept=ACCEPT,
        )
        super().__init__(client, max_body)
        self._clock = clock

    async def probe_all(
        self, services: Iterable[ServiceConfig], now: Callable[[], float] | None = None
    ) -> tuple[ServiceReading, ...]:
        """Every service at once, in the order given; each waits at most its own timeout."""
        return tuple(await asyncio.gather(*(self.probe(s, now) for s in services)))

    async def probe(self, service: ServiceConfig, now: Callable[[], float] | None = None) -> ServiceReading:
        """One probe; never raises (but for cancellation): failures are readings with an error."""
        clock = now or self._clock
        url = target_url(service)
        shown = display_url(url)
        try:
            async with asyncio.timeout(service.timeout):
                status, content_type, body, final, latency = await self._fetch(service, url)
        except Exception as exc:  # a hostile or broken server must never take the cycle down
            return _failed(service, shown, clock(), failure_reason(exc, service.timeout))
        verdict = judge(service, final.path, status, content_type, body, latency)
        if service.kind == "triton" and verdict.ok and service.expect is None:
            verdict = replace(verdict, detail=await self._triton_models(final) or verdict.detail)
        return ServiceReading(
            name=service.name,
            url=shown,
            at=clock(),
            ok=verdict.ok,
            status_code=status,
            latency_s=latency,
            error=verdict.error,
            detail=verdict.detail,
        )

    async def _triton_models(self, url: httpx.URL) -> str | None:
        """Runbook 003: which models the Triton server serves (its repository index), best effort."""
        index = url.copy_with(path="/v2/repository/index", query=None)
        try:
            response = await self._send(self._client.build_request("POST", index, content=b"{}"))
            try:
                body = await read_capped(response, 256 * 1024, unit="KiB")
            finally:
                await response.aclose()
            models = json.loads(body) if response.status_code == 200 else None
        except Exception:  # the health answer stands on its own; the index is a detail
            return None
        if not isinstance(models, list):
            return None
        ready = [
            clean(str(m.get("name", "")))[:40]
            for m in models
            if isinstance(m, dict) and m.get("state") == "READY"
        ]
        shown = ", ".join(ready[:4]) + (f" +{len(ready) - 4}" if len(ready) > 4 else "")
        return f"{len(ready)}/{len(models)} models ready: {shown}" if models else "no models"

    async def _fetch(self, service: ServiceConfig, url: str) -> tuple[int, str, bytes, httpx.URL, float]:
        """GET ``url`` (same-origin redirects followed): status, content type, body, final URL, latency."""
        timeout = httpx.Timeout(service.timeout)
        target = httpx.URL(url)
        started = time.perf_counter()
        for _hop in range(MAX_REDIRECTS + 1):
            response = await self._send(self._client.build_request("GET", target, timeout=timeout))
            try:
                location = response.headers.get("location")
                if response.is_redirect and location and not expected_status(service, response.status_code):
                    target = _same_origin(response, location)
                    await read_capped(response, 64 * 1024, unit="KiB")  # drained: back to the pool
                    continue
                body = await read_capped(response, self._max_body, unit="KiB")
            finally:
                await response.aclose()
            content_type = response.headers.get("content-type", "").lower()
            return response.status_code, content_type, body, target, time.perf_counter() - started
        raise Failed(f"more than {MAX_REDIRECTS} redirects")

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Send once more if the server closed a kept-alive connection just as we reused it.

        The classic keep-alive race (uvicorn drops idle connections after 5 s): our request meets a
        reset or an EOF before any answer. A GET is safe to repeat; a server that really does this
        every time fails the second try too, and that is the reading.
        """
        try:
            return await self._client.send(request, stream=True)
        except httpx.RemoteProtocolError as exc:
            if "without sending a response" not in str(exc):
                raise
        except (httpx.ReadError, httpx.WriteError):
            pass
        return await self._client.send(request, stream=True)


def _same_origin(response: httpx.Response, location: str) -> httpx.URL:
    here = response.request.url
    try:
        there = here.join(location)
    except httpx.InvalidURL:
        raise Failed(f"HTTP {response.status_code}: bad redirect location") from None
    if (there.scheme, there.host, there.port) != (here.scheme, here.host, here.port):
        where = clean(f"{there.host}:{there.port}" if there.port else there.host, limit=80)
        raise Failed(f"HTTP {response.status_code}: redirects to {where} (another host, not followed)")
    return there


def _failed(service: ServiceConfig, url: str, at: float, error: str) -> ServiceReading:
    return ServiceReading(name=service.name, url=url, at=at, ok=False, error=error)


def failure_reason(exc: BaseException, timeout: float) -> str:
    """One line for a request that got no usable answer, whatever it raised."""
    if isinstance(exc, TimeoutError):
        return f"timeout after {timeout:g}s"
    if isinstance(exc, Failed):
        return str(exc)
    if isinstance(exc, httpx.HTTPError):
        return describe(exc, timeout)
    return f"error: {type(exc).__name__}: {clean(str(exc), limit=80)}"


def describe(exc: httpx.HTTPError, timeout: float) -> str:
    """What went wrong, in the words an operator searches for."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connect timeout after {timeout:g}s"
    if isinstance(exc, httpx.PoolTimeout):
        return f"timeout after {timeout:g}s waiting for a free connection"
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout after {timeout:g}s"
    if isinstance(exc, httpx.ConnectError):
        return _connect_error(exc)
    if isinstance(exc, httpx.RemoteProtocolError):
        text = str(exc)
        if "without sending a response" in text:
            return "connection closed before any answer"
        if "peer closed" in text or "incomplete" in text.lower():
            return "connection closed mid-response"
        if "illegal status line" in text:
            return "not an HTTP answer (is this the right port?)"
        return f"bad HTTP answer: {clean(text, limit=80)}"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        if any(isinstance(e, ConnectionResetError) for e in _causes(exc)):
            return "connection reset"
        return "connection closed mid-response"
    if isinstance(exc, httpx.DecodingError):
        return "bad content encoding"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return f"bad URL: {clean(str(exc), limit=80)}"
    return f"error: {type(exc).__name__}: {clean(str(exc), limit=80)}"


def _connect_error(exc: httpx.ConnectError) -> str:
    causes = list(_causes(exc))
    if any(isinstance(e, ConnectionRefusedError) for e in causes):
        return "connection refused"
    if any(isinstance(e, socket.gaierror) for e in causes):
        return "DNS lookup failed"
    if any(isinstance(e, OSError) and e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH) for e in causes):
        return "unreachable"
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in causes):
        return "TLS certificate not trusted"
    if any(isinstance(e, ssl.SSLError) for e in causes):
        return "TLS handshake failed"
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    return f"cannot connect: {clean(text, limit=80)}" if text else "cannot connect"


def _causes(exc: BaseException) -> Iterable[BaseException]:
    """The exception, its causes and contexts, and the members of exception groups among them."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend((current.__cause__, current.__context__))
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
