"""What a healthy answer from each kind of service looks like: pure functions over status and body.

The prober (:mod:`cockpit.sources.http`) does the I/O; everything that judges an answer lives here so
it can be tested on the bodies the real products send (tests/fixtures/http_services). The defaults
come from the runbooks: runbook 000's "Critical Service Ports" table (TabbyAPI, Ollama, LiteLLM,
Grafana, Prometheus, Open WebUI) and 003's Triton ``/v2/health/ready``. Every failure is one line an
operator can act on ("HTTP 503: No models are currently loaded.", "not JSON", "slow: 6.2s > 5s");
every piece of a body that reaches a reading passes through :func:`cockpit.sanitize.clean`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cockpit.config import Expect, ServiceConfig
from cockpit.sanitize import clean
from cockpit.sources.jsonapi import error_body

DEFAULT_PATHS: dict[str, str] = {
    "tabbyapi": "/v1/model",
    "ollama": "/api/tags",
    "litellm": "/health",
    "grafana": "/api/health",
    "prometheus": "/-/healthy",
    "open-webui": "/health",
    "triton": "/v2/health/ready",
}
"""The path probed when a service's URL has none (``http://127.0.0.1:5000`` + tabbyapi)."""
NAME_LIMIT = 80
REASON_LIMIT = 100
_TITLE = re.compile(rb"<title[^>]*>([^<]{1,200})</title>", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judgement of one answer: healthy or not, what matters in it, and what was wrong."""

    ok: bool
    detail: str | None = None
    error: str | None = None


class Bad(Exception):
    """An answer that is not healthy; the message is the one-line reason."""


def target_url(service: ServiceConfig) -> str:
    """The URL to probe: the configured one, or its kind's health path when it has no path."""
    parts = urlsplit(service.url)
    if parts.path in ("", "/") and not parts.query and service.kind in DEFAULT_PATHS:
        return urlunsplit((parts.scheme, parts.netloc, DEFAULT_PATHS[service.kind], "", ""))
    if parts.path == "":
        return urlunsplit((parts.scheme, parts.netloc, "/", parts.query, ""))
    return service.url


def display_url(url: str) -> str:
    """The URL without ``user:password@`` (a reading is drawn, logged and exported)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, ""))


def expected_status(service: ServiceConfig, status: int) -> bool:
    """``expect.status`` if given; otherwise any 2xx (``dns``: any answer below 500 means it is up)."""
    if service.expect is not None:
        wanted = service.expect.status
        return status in wanted if isinstance(wanted, list) else status == wanted
    if service.kind == "dns":
        return 200 <= status < 500
    return 200 <= status < 300


def judge(
    service: ServiceConfig, path: str, status: int, content_type: str, body: bytes, latency_s: float
) -> Verdict:
    """Judge one complete answer to ``GET path``; never raises on a hostile body."""
    if not expected_status(service, status):
        return Verdict(False, error=status_error(service.kind, path, status, content_type, body))
    expect = service.expect
    try:
        if expect is not None and expect.json_path is not None:
            detail = check_expect(expect, body)
        elif status == 200:
            detail = check_kind(service.kind, path, body)
        else:
            detail = None
    except Bad as exc:
        return Verdict(False, error=str(exc))
    limit = expect.max_latency_s if expect is not None else None
    if limit is not None and latency_s > limit:
        return Verdict(False, detail=detail, error=f"slow: {latency_s:.1f}s > {limit:g}s")
    return Verdict(True, detail=detail)


# -- status codes ----------------------------------------------------------------------------


def status_error(kind: str, path: str, status: int, content_type: str, body: bytes) -> str:
    """``HTTP 503: <the product's own words>``, or what the code means for this product."""
    if kind == "triton" and status == 400 and path.endswith(("/health/ready", "/health/live")):
        return f"not {path.rsplit('/', 1)[1]} (HTTP 400)"  # Triton answers 400, empty, when not ready
    if kind == "litellm" and status == 401:
        return "HTTP 401: needs an API key (probe /health/liveliness instead)"
    reason = error_reason(content_type, body)
    return f"HTTP {status}: {reason}" if reason else f"HTTP {status}"


def error_reason(content_type: str, body: bytes) -> str | None:
    """The message an error body carries: FastAPI's detail, Ollama's and Triton's error, a title."""
    text, doc = error_body(body)
    if not text:
        return None
    if doc is not None:
        found = _json_reason(doc)
        return clean(found, limit=REASON_LIMIT) if found else None
    if "html" in content_type or text.startswith("<"):
        title = _TITLE.search(body[:4096])
        return clean(title.group(1).decode("utf-8", "replace").strip(), limit=REASON_LIMIT) if title else None
    return clean(text.splitlines()[0], limit=REASON_LIMIT)


def _json_reason(doc: Any) -> str | None:
    if isinstance(doc, str):
        return doc
    if not isinstance(doc, dict):
        return None
    for key in ("detail", "error", "message"):
        value = doc.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            return value["message"]  # LiteLLM: {"error": {"message": ..., "type": ...}}
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return str(value[0].get("msg", "")) or None  # FastAPI validation errors
    database = doc.get("database")
    if isinstance(database, str) and database != "ok":
        return f"database {database}"  # Grafana: {"database": "failing"} with 503
    if doc.get("status") == "unhealthy":
        return _tabby_issue(doc) or "unhealthy"
    return None


# -- the kinds -------------------------------------------------------------------------------


def check_kind(kind: str, path: str, body: bytes) -> str | None:
    """The kind's default check of a 200 answer: the detail worth showing, or :class:`Bad`."""
    checker = _CHECKERS.get(kind)
    return checker(path, body) if checker else None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        raise Bad("not JSON") from None


def _object(body: bytes) -> dict[str, Any]:
    doc = _json(body)
    if not isinstance(doc, dict):
        raise Bad("not a JSON object")
    return doc


def _list_at(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    if not isinstance(value, list):
        raise Bad(f"no {key!r} list in the answer")
    return value


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _name(value: Any) -> str | None:
    return clean(value.strip(), limit=NAME_LIMIT) if isinstance(value, str) and value.strip() else None


def _tabbyapi(path: str, body: bytes) -> str | None:
    if path.endswith("/v1/model"):
        doc = _object(body)
        # TabbyAPI's ModelCard carries the name in "id"; runbook 000's jq reads ".model_name".
        name = _name(doc.get("id")) or _name(doc.get("model_name"))
        if name is None:
            raise Bad("model id is empty")
        return f"model {name}"
    if path.endswith(("/v1/models", "/v1/model/list")):
        data = _list_at(_object(body), "data")
        if not data:
            raise Bad("no models")
        return _plural(len(data), "model")
    if path.endswith("/health"):
        doc = _object(body)
        if doc.get("status") != "healthy":
            raise Bad(_tabby_issue(doc) or f"status is {_short(doc.get('status'))}")
        return "healthy"
    return None


def _tabby_issue(doc: dict[str, Any]) -> str | None:
    issues = doc.get("issues")
    if isinstance(issues, list) and issues and isinstance(issues[0], dict):
        description = _name(issues[0].get("description"))
        if description:
            return f"unhealthy: {description}"
    return None


def _ollama(path: str, body: bytes) -> str | None:
    if path.endswith("/api/tags"):
        models = _list_at(_object(body), "models")
        if not models:
            raise Bad("no models (ollama pull one)")
        return _plural(len(models), "model")
    if path.endswith("/api/ps"):
        models = _list_at(_object(body), "models")
        return f"{len(models)} loaded" if models else "none loaded"
    if path.endswith("/api/version"):
        version = _name(_object(body).get("version"))
        if version is None:
            raise Bad("version is empty")
        return f"version {version}"
    return None


def _litellm(path: str, body: bytes) -> str | None:
    if path.endswith(("/health/liveliness", "/health/liveness")):
        return "alive"
    if path.endswith("/health/readiness"):
        doc = _object(body)
        status = doc.get("status")
        if status not in ("connected", "healthy"):
            raise Bad(f"status is {_short(status)}")
        db = _name(doc.get("db"))
        return f"ready, db {db}" if db else "ready"
    if path.endswith("/health"):
        doc = _object(body)
        healthy = _count(doc, "healthy")
        unhealthy = _count(doc, "unhealthy")
        total = healthy + unhealthy
        if unhealthy:
            bad = doc.get("unhealthy_endpoints")
            first = (
                _name(bad[0].get("model"))
                if isinstance(bad, list) and bad and isinstance(bad[0], dict)
                else None
            )
            which = f" ({first})" if first else ""
            raise Bad(f"{unhealthy} of {total} endpoints unhealthy{which}")
        if not healthy:
            raise Bad("no healthy endpoints")
        return f"{healthy}/{total} endpoints healthy"
    return None


def _count(doc: dict[str, Any], which: str) -> int:
    """``healthy_count`` if it is a count, else the length of ``healthy_endpoints`` (older LiteLLM)."""
    count = doc.get(f"{which}_count")
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        return count
    endpoints = doc.get(f"{which}_endpoints")
    if isinstance(endpoints, list):
        return len(endpoints)
    if which == "healthy":
        raise Bad("no healthy_endpoints in the answer")
    return 0


def _grafana(path: str, body: bytes) -> str | None:
    if not path.endswith("/api/health"):
        return None
    doc = _object(body)
    database = doc.get("database")
    if database != "ok":
        raise Bad(f"database {_short(database)}")
    version = _name(doc.get("version"))  # absent when anonymous_hide_version is set
    return f"version {version}" if version else "database ok"


def _prometheus(path: str, body: bytes) -> str | None:
    for suffix, word in (("/-/healthy", "Healthy"), ("/-/ready", "Ready")):
        if path.endswith(suffix):
            text = " ".join(body[:200].decode("utf-8", "replace").split())
            if word not in text:
                raise Bad(f"unexpected answer: {clean(text, limit=40)!r}" if text else "empty answer")
            return word.lower()
    return None


def _open_webui(path: str, body: bytes) -> str | None:
    if path.endswith(("/health", "/health/db")):
        status = _object(body).get("status")
        if status is not True:
            raise Bad(f"status is {_short(status)}")
        return "healthy"
    return None


def _triton(path: str, body: bytes) -> str | None:
    if path.endswith(("/health/ready", "/health/live")):
        return path.rsplit("/", 1)[1]
    if path.rstrip("/").endswith("/v2"):
        version = _name(_object(body).get("version"))
        return f"version {version}" if version else None
    return None


_CHECKERS: dict[str, Callable[[str, bytes], str | None]] = {
    "tabbyapi": _tabbyapi,
    "ollama": _ollama,
    "litellm": _litellm,
    "grafana": _grafana,
    "prometheus": _prometheus,
    "open-webui": _open_webui,
    "triton": _triton,
}


# -- expect: json_path / equals / min_items --------------------------------------------------


def check_expect(expect: Expect, body: bytes) -> str | None:
    """The configured check: the value at ``json_path`` exists and is non-empty (or equal, or long)."""
    assert expect.json_path is not None
    path = expect.json_path
    value = value_at(_json(body), path)
    if expect.equals is not None:
        if not _same(value, expect.equals):
            raise Bad(f"{path} is {_short(value)} (expected {_short(expect.equals)})")
    elif expect.min_items is not None:
        if not isinstance(value, list | dict):
            raise Bad(f"{path} is not a list")
        if len(value) < expect.min_items:
            raise Bad(f"{path} has {len(value)} items (expected at least {expect.min_items})")
    elif value is None or value == "" or value == [] or value == {}:
        raise Bad(f"{path} is empty")
    if isinstance(value, list | dict):
        return _plural(len(value), "item")
    return f"{path} {_short(value)}"


def value_at(doc: Any, path: str) -> Any:
    """``data.0.id`` -> ``doc["data"][0]["id"]``; :class:`Bad` names the path when it is missing."""
    current = doc
    for part in path.split("."):
        if isinstance(current, list) and re.fullmatch(r"-?\d{1,9}", part):
            index = int(part)
            if not -len(current) <= index < len(current):
                raise Bad(f"{path} is missing")
            current = current[index]
        elif isinstance(current, dict) and part in current:
            current = current[part]
        else:
            raise Bad(f"{path} is missing")
    return current


def _same(value: Any, wanted: str | int | float | bool) -> bool:
    """``True`` is not ``1`` here: a health flag that turned into a count is a change worth seeing."""
    if isinstance(wanted, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(wanted, bool) and value is wanted
    if isinstance(wanted, int | float) and isinstance(value, int | float):
        return value == wanted
    return type(value) is type(wanted) and value == wanted


def _short(value: Any) -> str:
    """A value for a one-line message: JSON-ish, sanitized, short."""
    if isinstance(value, str):
        return repr(clean(value, limit=40))
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return clean(str(value), limit=40)
    return type(value).__name__.replace("dict", "an object").replace("list", "a list")
