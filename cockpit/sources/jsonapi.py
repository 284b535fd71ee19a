"""The HTTP plumbing every HTTP source shares: one pooled client, capped bodies, hostile JSON.

The health prober (:mod:`cockpit.sources.http`), the P2P orchestrators and the Vast API all go
through :func:`new_client`, so the choices below are made once: HTTP/1.1 keep-alive only (small JSON
answers; HTTP/2 would buy nothing but another stack to go wrong), no proxy from the operator's
environment (``trust_env=False``: ``HTTP_PROXY`` must not sit between the cockpit and a LAN service,
nor see its traffic), no redirects (an API that redirects is a finding, and a redirect must never
carry the Vast key to another host; the prober follows same-origin ones itself). Bodies are read in
chunks up to a cap, so a server that sends gigabytes costs a one-line error, not the cockpit's memory.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal, Self

import httpx

from cockpit.sanitize import clean

USER_AGENT = "gpu-cockpit/0.1"
_TAG = re.compile(r"<[^>]*>")
_UNITS = {"KiB": 1024, "MiB": 1024 * 1024}


class Failed(Exception):
    """No usable answer; the message is the one-line reason."""


class BodyTooLarge(Failed):
    """The answer passed the cap."""


def new_client(
    *,
    max_connections: int = 64,
    max_keepalive: int | None = None,
    keepalive_expiry: float = 30.0,
    user_agent: str = USER_AGENT,
    accept: str = "application/json",
) -> httpx.AsyncClient:
    """The shared client; ``max_keepalive`` defaults to ``max_connections``."""
    return httpx.AsyncClient(
        http1=True,
        http2=False,
        trust_env=False,
        follow_redirects=False,
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections if max_keepalive is None else max_keepalive,
            keepalive_expiry=keepalive_expiry,
        ),
        headers={"User-Agent": user_agent, "Accept": accept},
    )


async def read_capped(response: httpx.Response, limit: int, *, unit: Literal["KiB", "MiB"] = "MiB") -> bytes:
    """The body, or :class:`BodyTooLarge` ("answer larger than 16 MiB") once it passes ``limit``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"answer larger than {limit // _UNITS[unit]} {unit}")
        chunks.append(chunk)
    return b"".join(chunks)


class PooledClient:
    """Owns one pooled client, kept across cycles; close with :meth:`aclose` (or ``async with``)."""

    def __init__(self, client: httpx.AsyncClient, max_body: int) -> None:
        self._client = client
        self._max_body = max_body

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, request: httpx.Request) -> tuple[httpx.Response, bytes]:
        """Send ``request`` and read its body up to ``max_body``; the connection goes back to the pool."""
        response = await self._client.send(request, stream=True)
        try:
            return response, await read_capped(response, self._max_body)
        finally:
            await response.aclose()


def loads(body: bytes) -> Any:
    """JSON as Python reads it (NaN and Infinity included, as aiohttp's ``json.dumps`` writes them).

    Raises ValueError with a one-line reason for anything that is not JSON.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.strip():
            raise ValueError("empty answer") from None
        if text.lstrip()[:1] == "<":
            raise ValueError("not JSON (an HTML page)") from None
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ValueError("not JSON (nested too deep)") from None


def error_body(body: bytes) -> tuple[str, Any]:
    """An error body's first 4 KiB as text (stripped) and as JSON (None when it is not JSON)."""
    text = body[:4096].decode("utf-8", "replace").strip()
    try:
        return text, json.loads(text)
    except (ValueError, RecursionError):
        return text, None


def error_words(body: bytes) -> str | None:
    """What an error body says, in one line: ``msg``, ``message``, ``detail``, ``error``, or the text."""
    text, doc = error_body(body)
    if not text:
        return None
    if isinstance(doc, dict):
        for key in ("msg", "message", "detail", "error"):
            value = doc.get(key)
            if isinstance(value, str) and value.strip():
                return clean(value.strip(), limit=120)
        return None
    if isinstance(doc, str) and doc.strip():
        return clean(doc.strip(), limit=120)
    if text.startswith("<"):
        start = text.lower().find("<title>")
        end = text.lower().find("</title>")
        if 0 <= start < end:
            return clean(text[start + 7 : end].strip(), limit=120) or None
        words = " ".join(_TAG.sub(" ", text).split())  # <h1>Server Error (500)</h1>: the text itself
        return clean(words, limit=120) or None
    return clean(text.splitlines()[0], limit=120)


def number(value: Any) -> float | None:
    """A finite number, or None (booleans, strings, NaN and infinities are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def count(value: Any) -> int | None:
    """A non-negative whole number, or None."""
    result = number(value)
    if result is None or result < 0 or result != int(result) or result > 2**53:
        return None
    return int(result)


def string(value: Any, limit: int = 120) -> str | None:
    """A non-empty string, sanitized for display, or None."""
    if not isinstance(value, str):
        return None
    value = clean(value.strip(), limit=limit)
    return value or None
