"""The Vast.ai REST API, called the way the real ``vastai`` client calls it.

From vast-ai/vast-python (``vast.py``) and its successor vast-ai/vast-cli (``vastai/api/client.py``,
``vastai/api/instances.py``):

- base ``https://console.vast.ai`` (``server_url_default``); paths under ``/api/v0`` (``apiurl``);
- auth: ``Authorization: Bearer <key>`` (``apiheaders`` / ``_build_headers``). The client also
  copies the key into an ``api_key`` query parameter; we do not, so the key never sits in a URL
  that an error message, a log or a proxy could keep;
- list: ``GET /api/v0/instances/?owner=me`` -> ``{"instances": [...]}`` (``show__instances``); the
  newest client pages ``GET /api/v1/instances/`` (``limit``, ``after_token``, ``next_token``), which
  we switch to if v0 answers 410 Gone;
- stop: ``PUT /api/v0/instances/{id}/`` with ``{"state": "stopped"}`` (``stop_instance``);
- destroy: ``DELETE /api/v0/instances/{id}/`` with ``{}`` (``destroy_instance``).

Errors follow docs.vast.ai "Rate Limits and Errors": bodies ``{"success": false, "error": ...,
"msg": ...}`` (sometimes only ``msg``/``message``/``detail``); 429 "API requests too frequent",
usually without ``Retry-After``, so we honour one when it comes and back off on our own otherwise.
Every failure is one line, and a failed read keeps the last good list with its age.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

import cockpit.config  # noqa: F401  (config loads fleet_config at its end: it must come first)
from cockpit.fleet_config import VastConfig
from cockpit.fleet_model import Instance, InstancesReading
from cockpit.model import ProbeError
from cockpit.sanitize import clean
from cockpit.secrets import SecretError, redact
from cockpit.sources.http import failure_reason
from cockpit.sources.jsonapi import (
    BodyTooLarge,
    PooledClient,
    count,
    error_words,
    loads,
    new_client,
    number,
    string,
)

MAX_BODY = 32 * 1024 * 1024
"""A full instance row is ~3 KiB; thousands of instances still fit."""
MAX_PAGES = 200
PAGE_LIMIT = 25
"""Page size the ``vastai`` client asks v1 for."""
BACKOFF_START_S = 10.0
BACKOFF_MAX_S = 300.0
RETRYABLE = frozenset({429, 502, 503, 504})
"""What ``vastai`` retries (``_RETRYABLE_STATUS``); actions retry them too, briefly."""
ACTION_RETRIES = 3
ACTION_WAIT_MAX_S = 10.0


class ApiError(Exception):
    """An answer that is not what we asked for; ``str()`` is the one-line reason."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class ApiResult:
    """How one API action ended, ready for the log pane and the audit log."""

    ok: bool
    status_code: int | None
    message: str
    """One line: "instance 123: stopped", "HTTP 404: Instance 123 not found."."""
    duration_s: float = 0.0
    body: Any = None
    """The parsed JSON answer, when there was one."""


# -- parsing ----------------------------------------------------------------------------------


def parse_instance(row: Any) -> Instance | None:
    """One row of the list; None for a row without a numeric ``id`` (nothing to act on)."""
    if not isinstance(row, dict):
        return None
    ident = count(row.get("id"))
    if ident is None:
        return None
    gpu_util = number(row.get("gpu_util"))
    if gpu_util is not None:
        gpu_util = min(max(gpu_util, 0.0), 100.0)
    dph = number(row.get("dph_total"))
    storage = number(row.get("storage_total_cost"))
    port = count(row.get("ssh_port"))
    return Instance(
        id=ident,
        label=string(row.get("label"), 64),
        machine_id=count(row.get("machine_id")),
        gpu_name=string(row.get("gpu_name"), 40),
        num_gpus=count(row.get("num_gpus")),
        actual_status=string(row.get("actual_status"), 20),
        intended_status=string(row.get("intended_status"), 20),
        cur_state=string(row.get("cur_state"), 20),
        dph_total=dph if dph is not None and dph >= 0 else None,
        storage_usd_h=storage if storage is not None and storage >= 0 else None,
        gpu_util=gpu_util,
        ssh_host=string(row.get("ssh_host"), 253),
        ssh_port=port if port is not None and 0 < port < 65536 else None,
        public_ipaddr=string(row.get("public_ipaddr"), 64),
        start_date=number(row.get("start_date")),
        status_msg=string(row.get("status_msg"), 160),
    )


def parse_instances(body: bytes | str) -> tuple[Instance, ...] | ProbeError:
    """``{"instances": [...]}`` (v0 and v1), or the bare list ``vastai show instances --raw`` prints."""
    try:
        doc = loads(body.encode() if isinstance(body, str) else body)
    except ValueError as exc:
        return ProbeError("vast instances", str(exc))
    rows = doc.get("instances") if isinstance(doc, dict) else doc
    if not isinstance(rows, list):
        if isinstance(doc, dict) and doc.get("success") is False:
            return ProbeError("vast instances", error_words(json.dumps(doc).encode()) or "success: false")
        return ProbeError("vast instances", "no 'instances' list in the answer")
    parsed = (parse_instance(r) for r in rows)
    return tuple(sorted((i for i in parsed if i is not None), key=lambda i: i.id))


def retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` in seconds: a number, or an HTTP date (RFC 9110); None if absent or garbled."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), 86400.0)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    return min(max(0.0, moment.timestamp() - now), 86400.0)


def _status_message(status: int, body: bytes) -> str:
    words = error_words(body)
    if status in (401, 403):
        hint = "check vast.api_key"
        return f"HTTP {status}: {words} ({hint})" if words else f"HTTP {status}: unauthorized ({hint})"
    if status == 429:
        return f"HTTP 429: {words or 'API requests too frequent'}"
    return f"HTTP {status}: {words}" if words else f"HTTP {status}"


# -- the client -------------------------------------------------------------------------------


class VastClient(PooledClient):
    """Reads the account's instances and stops or destroys them; one pooled connection.

    :meth:`instances` never raises: it returns the last good list with an error and its age. After
    a 429 it makes no request until the wait is over (``Retry-After``, or 10 s doubling up to 5 min),
    so a cockpit refreshing every 2 s does not keep the account rate-limited.
    """

    def __init__(
        self,
        config: VastConfig,
        *,
        clock: Callable[[], float] = time.time,
        client: httpx.AsyncClient | None = None,
        max_body: int = MAX_BODY,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        super().__init__(client or new_client(max_connections=8), max_body)
        self.config = config
        self.base = config.url.rstrip("/")
        self._clock = clock
        self._sleep = sleep
        self._last: tuple[Instance, ...] = ()
        self._last_at: float | None = None
        self._not_before = 0.0
        self._backoff = 0.0
        self.api = "v0"
        """``v1`` once v0 has answered 410 Gone."""

    # -- reading ------------------------------------------------------------------------------

    async def instances(self) -> InstancesReading:
        now = self._clock()
        if now < self._not_before:
            wait = self._not_before - now
            return self._stale(now, f"rate limited (HTTP 429), next try in {wait:.0f}s")
        try:
            key = self.config.api_key.reveal()
        except SecretError as exc:
            return self._stale(now, str(exc))
        try:
            async with asyncio.timeout(self.config.timeout):
                rows = await self._list(key)
        except ApiError as exc:
            return self._failed(exc, key)
        except (TimeoutError, httpx.HTTPError, BodyTooLarge) as exc:
            return self._stale(self._clock(), failure_reason(exc, self.config.timeout))
        at = self._clock()
        self._last, self._last_at, self._backoff = rows, at, 0.0
        return InstancesReading(at=at, instances=rows, ok=True, data_at=at)

    def _stale(self, at: float, error: str) -> InstancesReading:
        return InstancesReading(at=at, instances=self._last, ok=False, error=error, data_at=self._last_at)

    def _failed(self, exc: ApiError, key: str) -> InstancesReading:
        now = self._clock()
        message = redact(str(exc), [key])
        if exc.status == 429:
            if exc.retry_after is not None:
                wait = exc.retry_after
            else:
                wait = self._backoff = min(BACKOFF_MAX_S, self._backoff * 2 or BACKOFF_START_S)
            self._not_before = now + wait
            message = f"{message}, next try in {wait:.0f}s"
        return self._stale(now, message)

    async def _list(self, key: str) -> tuple[Instance, ...]:
        if self.api == "v0":
            status, body = await self._send("GET", "/api/v0/instances/", key, params={"owner": "me"})
            if status == 410:
                self.api = "v1"
            else:
                return self._rows(status, body)
        return await self._list_v1(key)

    async def _list_v1(self, key: str) -> tuple[Instance, ...]:
        found: dict[int, Instance] = {}
        token: str | None = None
        seen: set[str] = set()
        for _page in range(MAX_PAGES):
            params = {"limit": str(PAGE_LIMIT), "order_by": json.dumps([{"col": "id", "dir": "asc"}])}
            if token:
                params["after_token"] = token
            status, body = await self._send("GET", "/api/v1/instances/", key, params=params)
            for instance in self._rows(status, body):
                found[instance.id] = instance
            doc = loads(body)
            token = string(doc.get("next_token"), 512) if isinstance(doc, dict) else None
            if not token:
                return tuple(sorted(found.values(), key=lambda i: i.id))
            if token in seen:
                raise ApiError("v1 pages loop (the same next_token twice)")
            seen.add(token)
        raise ApiError(f"more than {MAX_PAGES} pages of instances")

    def _rows(self, status: int, body: bytes) -> tuple[Instance, ...]:
        if status != 200:
            raise ApiError(_status_message(status, body), status)
        rows = parse_instances(body)
        if isinstance(rows, ProbeError):
            raise ApiError(rows.reason, status)
        return rows

    async def _send(
        self,
        method: str,
        path: str,
        key: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> tuple[int, bytes]:
        """One request; a 429 raises with its ``Retry-After``, other statuses are returned."""
        headers = {"Authorization": f"Bearer {key}"}
        content = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = self._client.build_request(
            method,
            self.base + path,
            params=params,
            content=content,
            headers=headers,
            timeout=httpx.Timeout(self.config.timeout),
        )
        response, data = await self.fetch(request)
        if response.status_code == 429:
            wait = retry_after(response.headers.get("retry-after"), self._clock())
            raise ApiError(_status_message(429, data), 429, wait)
        return response.status_code, data

    # -- actions ------------------------------------------------------------------------------

    def request_line(self, method: str, path: str, body: dict[str, Any] | None) -> str:
        """The call as shown on the confirm screen and in the audit log (no key in it)."""
        shown = f"{method} {self.base}{path}"
        return f"{shown} {json.dumps(body)}" if body is not None else shown

    async def stop(self, instance_id: int) -> ApiResult:
        """``vastai stop instance ID``: GPU billing ends, the disk stays (and is still billed)."""
        return await self.call("PUT", f"/api/v0/instances/{int(instance_id)}/", {"state": "stopped"})

    async def destroy(self, instance_id: int) -> ApiResult:
        """``vastai destroy instance ID``: irreversible, the disk is deleted."""
        return await self.call("DELETE", f"/api/v0/instances/{int(instance_id)}/", {})

    async def call(self, method: str, path: str, body: dict[str, Any] | None) -> ApiResult:
        """One action call, retried on 429/502/503/504 as ``vastai`` does; never raises."""
        started = time.perf_counter()
        try:
            key = self.config.api_key.reveal()
        except SecretError as exc:
            return ApiResult(False, None, str(exc))
        status: int | None = None
        message = "no answer"
        data: bytes = b""
        for attempt in range(ACTION_RETRIES):
            wait: float | None = None
            try:
                async with asyncio.timeout(self.config.timeout):
                    status, data = await self._send(method, path, key, body=body)
            except ApiError as exc:
                status, message, wait = exc.status, redact(str(exc), [key]), exc.retry_after
            except (TimeoutError, httpx.HTTPError, BodyTooLarge) as exc:
                reason = failure_reason(exc, self.config.timeout)
                return ApiResult(False, None, reason, self._since(started))
            else:
                if status not in RETRYABLE:
                    break
                message = _status_message(status, data)
            if attempt == ACTION_RETRIES - 1:
                return ApiResult(False, status, message, self._since(started))
            await self._sleep(min(ACTION_WAIT_MAX_S, wait if wait is not None else 0.5 * 2**attempt))
        return self._outcome(method, path, status, data, key, started)

    def _outcome(
        self, method: str, path: str, status: int | None, data: bytes, key: str, started: float
    ) -> ApiResult:
        duration = self._since(started)
        ident = path.rstrip("/").rsplit("/", 1)[-1]
        assert status is not None
        if 200 <= status < 300:
            try:
                doc = loads(data) if data.strip() else {}
            except ValueError as exc:
                return ApiResult(False, status, f"HTTP {status} but {exc}", duration)
            if isinstance(doc, dict) and doc.get("success") is False:
                words = error_words(data) or "success: false"
                return ApiResult(False, status, redact(f"instance {ident}: {words}", [key]), duration, doc)
            done = "stopped" if method == "PUT" else "destroyed"
            return ApiResult(True, status, f"instance {ident}: {done}", duration, doc)
        return ApiResult(
            False, status, redact(clean(_status_message(status, data), limit=200), [key]), duration
        )

    @staticmethod
    def _since(started: float) -> float:
        return time.perf_counter() - started
