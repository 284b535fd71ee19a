"""The plumbing the P2P and Vast sources share: one pooled HTTP client, capped bodies, hostile JSON.

Same choices as :mod:`cockpit.sources.http` and for the same reasons: HTTP/1.1 keep-alive, no proxy
from the operator's environment (``trust_env=False``), no redirects (an API that redirects is a
finding, and a redirect must never carry the Vast key to another host). Bodies are read in chunks
up to a cap, so a server that sends gigabytes costs a one-line error, not the cockpit's memory.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import httpx

from cockpit.sanitize import clean

USER_AGENT = "gpu-cockpit/0.1"
_TAG = re.compile(r"<[^>]*>")


class BodyTooLarge(Exception):
    """The answer passed the cap; the message is the one-line reason."""


def new_client(*, max_connections: int = 64, keepalive_expiry: float = 30.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        http1=True,
        http2=False,
        trust_env=False,
        follow_redirects=False,
        limits=httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
        ),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
    )


async def read_capped(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"answer larger than {limit // (1024 * 1024)} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


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


def error_words(body: bytes) -> str | None:
    """What an error body says, in one line: ``msg``, ``message``, ``detail``, ``error``, or the text."""
    text = body[:4096].decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        doc = None
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
