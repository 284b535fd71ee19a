"""Prometheus as a source: the scale path, a fixed handful of instant queries per cycle for any size.

Transport is httpx (already the HTTP probes' client), not prometheus-api-client: httpx is async, so
a cycle's queries run concurrently on the engine's loop with no threads and each answer is decoded
while Prometheus still works on the others; measured on the same 2,000-node Prometheus
(bench/prometheus_scale.py) neither was measurably faster (the box's load swamped the difference:
cycle minima 3.7 s vs 3.8 s), and httpx peaked at 143 MB RSS against 236 MB for prometheus-api-client
in threads (requests keeps several whole bodies alive at once).

Each cycle: ``up``, which targets Prometheus scraped since the last read and the slowest scrape
(:mod:`cockpit.sources.prom_fresh`), then the four GPU values, load1 and available memory, CPU and
vLLM's gauges asked only of those targets (a full read at start and every 10 minutes), one query
per custom panel and ``/api/v1/alerts``, all concurrently; every ``window_refresh_s`` also TTFT
p95, tokens/s, Ray Serve replicas and load5/load15; every ``slow_refresh_s`` (or when a new board
or host shows up) GPU identities, memory totals, power limits, disks, CPU counts, total memory,
boot time and the node's clock (uptime then advances by ours). Prometheus's cost is per series
touched, so the parts that barely move are not re-read every cycle, and our own cost is per series
mapped, so what the slow tier brought is mapped once (identities, disks, totals) and a board whose
values did not change keeps last cycle's reading. Mapping runs in a thread, off the event loop.

Where a steady cycle goes at 2,000 nodes x 8 GPUs, scraped every 30 s and read every 2 s
(bench/prometheus_scale.py, 2 CPUs): a full read returns ~80,000 series, which cost Prometheus
~1.4 s of CPU and us ~0.55 s; a delta read asks about the ~20 % of targets scraped since, which
is why the cycle's median fell from 1.4-1.6 s to under one.
A failed panel or alerts request is reported and the rest stands; when Prometheus itself cannot be
read, :meth:`PrometheusSource.read` returns the last good data with ``error`` set and its age.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx

import cockpit.config  # noqa: F401  (config imports prom_config at its end: load it first)
from cockpit import collector
from cockpit.model import ProbeError
from cockpit.prom_config import PanelConfig, PrometheusConfig
from cockpit.sanitize import clean
from cockpit.secrets import SecretError
from cockpit.sources import prom_map as m
from cockpit.sources import prom_queries as q
from cockpit.sources.http import _connect_error  # the HTTP probes' wording: refused, DNS, TLS
from cockpit.sources.prom_fresh import FreshTargets, fresh_instances
from cockpit.sources.prom_model import PanelValue, PromAlert, PromReading

USER_AGENT = "gpu-cockpit/0.1 (prometheus source)"
MAX_BODY = 256 * 1024 * 1024
"""16,000 GPUs' answers are ~10 MB; anything near this is not a Prometheus we can use."""


_BOARD_KEYS = frozenset(k for k in q.FRESH_KEYS if k.startswith("gpu:"))


class _Failed(Exception):
    """A request that produced no usable answer; the message is one line."""


class PrometheusSource:
    """Reads one Prometheus server. ``clock`` stamps readings; close with :meth:`aclose`."""

    def __init__(
        self,
        config: PrometheusConfig,
        clock: Callable[[], float] = time.time,
        *,
        panels: Sequence[PanelConfig] = (),
    ) -> None:
        self.config = config
        self.clock = clock
        self.panels = tuple(panels)
        self._last: PromReading | None = None
        self._headers_error: str | None = None
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        try:
            headers.update({name: ref.reveal() for name, ref in config.headers.items()})
        except SecretError as exc:
            self._headers_error = str(exc)
        self._client = httpx.AsyncClient(
            base_url=config.url.rstrip("/"),
            headers=headers,
            verify=config.verify_tls,
            timeout=config.timeout,
            trust_env=False,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )
        gpu_label = self._gpu_label = config.gpu_node_label or config.node_label
        self.queries = q.queries(config.node_label, gpu_label, config.rate_window)
        self._fresh = FreshTargets()
        self.last_read = ""
        """``full``, or ``delta (N targets)``: how the last cycle read the fast queries."""
        self.tiers = {
            "window": (q.window_queries(config.node_label), config.window_refresh_s),
            "slow": (q.slow_queries(config.node_label, gpu_label), config.slow_refresh_s),
        }
        """Queries read less often than every cycle, and how often; their last answers are kept."""
        self._kept: dict[str, list[m.Series]] = {}
        self._tier_at: dict[str, float] = {}
        self._slow_due = True
        self._again: set[str] = set()
        """Tiers whose kept answers were mapped with an index that has since changed."""
        self._asked_for: frozenset[tuple[str, int]] = frozenset()
        self._index: tuple[Any, m.NodeIndex] | None = None
        self._derived: dict[str, tuple[object, m.NodeIndex, Any]] = {}
        """Slow-tier answers mapped once (identities, disks): (the kept series, the index, result)."""
        self._gpu_reuse: dict[tuple[str, int], tuple[tuple[Any, ...], Any]] = {}
        self._signal_reuse: dict[tuple[str, str], Any] = {}
        self._map_lock = threading.Lock()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> PrometheusSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- one cycle -------------------------------------------------------------------------------

    async def read(self, node_names: Iterable[str], aliases: Mapping[str, str] | None = None) -> PromReading:
        """Everything for one cycle; ``aliases`` maps other label values (a node's host) to names."""
        at = self.clock()
        names = list(node_names)
        if self._headers_error:
            return self._failed(at, self._headers_error)
        due = [tier for tier, (_, period) in self.tiers.items() if self._due(tier, period, at)]
        full = self._fresh.full_due(at)
        wanted = {k: v for k, v in self.queries.items() if k != "up" and (full or k not in q.FRESH_KEYS)}
        for tier in due:
            wanted.update(self.tiers[tier][0])
        keys = list(wanted)
        # Each answer is decoded and parsed as it arrives, while Prometheus still works on the others.
        up_task = asyncio.ensure_future(self._parsed("up", "up"))
        meta_task = asyncio.ensure_future(self._freshness(None if full else self._fresh.since))
        jobs = [self._parsed(k, wanted[k]) for k in keys]
        jobs += [self._parsed(p.name, p.promql) for p in self.panels]
        jobs.append(self._get_json("/api/v1/alerts"))
        rest = asyncio.ensure_future(asyncio.gather(*jobs, return_exceptions=True))
        try:
            up = await up_task
        except _Failed as exc:
            for task in (meta_task, rest):
                task.cancel()
            await asyncio.gather(meta_task, rest, return_exceptions=True)
            return self._failed(at, str(exc))
        scrape, fresh = await meta_task
        instances = fresh_instances(fresh)
        matcher = None if full else self._fresh.matcher(instances, up)
        narrowed: dict[str, Any] = {}
        if not full and matcher != "":
            fast = q.queries(self.config.node_label, self._gpu_label, self.config.rate_window, matcher or "")
            asked = [k for k in q.FRESH_KEYS if k in fast]
            got = await asyncio.gather(*(self._parsed(k, fast[k]) for k in asked), return_exceptions=True)
            narrowed = dict(zip(asked, got, strict=True))
        answers = await rest
        for answer in [*answers, *narrowed.values()]:
            if isinstance(answer, BaseException) and not isinstance(answer, _Failed):
                raise answer
        by_key = {"up": up, **dict(zip(keys, answers[: len(keys)], strict=True)), **narrowed}
        errors = [a for a in by_key.values() if isinstance(a, ProbeError)]
        series: dict[str, Any] = {k: (None if isinstance(a, ProbeError) else a) for k, a in by_key.items()}
        targets = instances if matcher and instances else []
        boards: dict[str, dict[Any, float | None]] = {}
        for key in q.FRESH_KEYS:
            if key in _BOARD_KEYS:
                boards[key[4:]] = self._fresh.merge_boards(key, series.pop(key, {}), matcher, targets)
            elif key in self.queries:
                series[key] = self._fresh.merge(key, series.get(key, []), matcher, targets)
        self._fresh.after_read(scrape, matcher is None, up, at)
        self.last_read = "full" if matcher is None else f"delta ({len(targets)} targets)"
        for tier in due:
            for key in self.tiers[tier][0]:
                fresh_series = series.pop(key)
                if fresh_series is not None:  # a failed query keeps its last answer
                    self._kept[key] = fresh_series
            self._tier_at[tier] = at
        self._slow_due = self._slow_due and "slow" not in due
        self._again.difference_update(due)
        found = {k: [] if v is None else v for k, v in {**self._kept, **series}.items()}
        panel_answers = answers[len(keys) : len(keys) + len(self.panels)]
        # 16,000 GPUs are ~0.1 s of Python: off the loop, so the UI keeps drawing meanwhile.
        reading = await asyncio.to_thread(
            self._map, at, names, aliases, found, panel_answers, answers[-1], errors, boards
        )
        if matcher is None:  # a full read: every target's series, mapped anew
            collector.promote()
        self._last = reading
        return reading

    async def _freshness(self, since: float | None) -> tuple[tuple[float, float] | None, Any]:
        """The slowest scrape with the time Prometheus evaluated it, and (with ``since``) the targets
        scraped since; a failure of either only means a full read, so it is not reported."""
        found = q.freshness_queries(since)
        answers = await asyncio.gather(*(self.query(found[k]) for k in found), return_exceptions=True)
        scrape = _evaluated(answers[0])
        fresh = m.parse_query(answers[1], "prometheus:fresh") if len(answers) > 1 else None
        return scrape, fresh

    def _due(self, tier: str, period: float, at: float) -> bool:
        last = self._tier_at.get(tier)
        return (
            last is None or at - last >= period or tier in self._again or (tier == "slow" and self._slow_due)
        )

    async def _parsed(self, key: str, promql: str) -> Any:
        """One query's series, or a one-line error; ``up`` failing raises (Prometheus is down).
        A fast GPU value comes back already digested into boards (:meth:`FreshTargets.digest_boards`)."""
        try:
            doc = await self.query(promql)
        except _Failed as exc:
            if key == "up":
                raise
            return ProbeError(f"prometheus:{key}", str(exc))
        with collector.paused():  # see _decode
            found = m.parse_query(doc, f"prometheus:{key}")
            del doc  # freed here, while paused
            if key in _BOARD_KEYS and not isinstance(found, ProbeError):
                return self._fresh.digest_boards(found, self._gpu_label)
        return found

    def _map(self, *args: Any) -> PromReading:
        """:meth:`_map_locked`, one at a time: a cycle the engine timed out leaves its mapping
        running in its thread, and the next one waits for it rather than share the memos."""
        with self._map_lock, collector.paused():
            return self._map_locked(*args)

    def _map_locked(
        self,
        at: float,
        names: list[str],
        aliases: Mapping[str, str] | None,
        series: dict[str, list[m.Series]],
        panel_answers: Sequence[Any],
        alerts_answer: Any,
        errors: list[ProbeError],
        boards: Mapping[str, Mapping[Any, float | None]],
    ) -> PromReading:
        cfg = self.config
        up = series["up"]
        index = self._node_index(names, aliases, up)
        label, gpu_label = cfg.node_label, cfg.gpu_node_label or cfg.node_label
        targets = m.map_targets(up, index, label)
        slow_at = self._tier_at.get("slow", at)
        fs = series.get("fs", [])
        kept = [
            self._derive(k, m.host_values, series.get(k, []), index, label)
            for k in ("host_static", "host_window")
        ]
        hosts = m.map_host(
            series.get("host", []), fs, series["cpu_idle"], series.get("cpu_count", []), index, label,
            static_age_s=max(0.0, at - slow_at), disks=self._derive("fs", m.map_disks, fs, index, label),
            kept=kept,
        )  # fmt: skip
        values: dict[str, Any] = {key[4:]: found for key, found in series.items() if key.startswith("gpu:")}
        values.update({field: m.board_column(found, index, gpu_label) for field, found in boards.items()})
        ids = series.get("gpu_ids", [])
        identities = self._derive("gpu_ids", m.gpu_identities, ids, index, gpu_label)
        for key in ("total", "limit"):  # slow-tier columns: keyed once per read, not every cycle
            values[key] = self._derive(f"gpu:{key}", m.gpu_column, values.get(key, []), index, gpu_label)
        gpus = m.map_gpus(ids, values, index, gpu_label, identities, self._gpu_reuse)
        self._check_slow(hosts, gpus)
        nodes, missing = m.assemble(targets, hosts, gpus, index, names)
        signals = m.map_signals(
            series["vllm"],
            series.get("ttft", []),
            series.get("tokens", []),
            series.get("ray", []),
            index,
            label,
            self._signal_reuse,
        )
        panels = tuple(self._panel(p, a) for p, a in zip(self.panels, panel_answers, strict=True))
        alerts: tuple[PromAlert, ...] = ()
        if isinstance(alerts_answer, _Failed):
            errors.append(ProbeError("prometheus:alerts", str(alerts_answer)))
        else:
            parsed = m.parse_alerts(alerts_answer)
            if isinstance(parsed, ProbeError):
                errors.append(parsed)
            else:
                alerts = parsed
        return PromReading(
            at=at, nodes=nodes, missing=missing, signals=signals, panels=panels, alerts=alerts,
            errors=tuple(errors), last_good=at,
        )  # fmt: skip

    def _node_index(
        self, names: list[str], aliases: Mapping[str, str] | None, up: list[m.Series]
    ) -> m.NodeIndex:
        """The same index while the nodes stay the same, so its label -> node memo carries over."""
        discover = self.config.discover
        found: frozenset[str] = frozenset()
        if discover is not None:
            label = discover.node_label or self.config.node_label
            found = frozenset(m.discover_keys(up, discover.job, label))
        key = (names, sorted((aliases or {}).items()), found)
        if self._index is None or self._index[0] != key:
            index = m.NodeIndex.build(names, aliases)
            self._index = key, index.with_discovered(found) if discover is not None else index
        return self._index[1]

    def _derive(
        self, key: str, fn: Callable[..., Any], series: list[m.Series], index: m.NodeIndex, label: str
    ) -> Any:
        """``fn(series, index, label)`` of a kept tier's answer, mapped once: the answer itself is
        then dropped (16,000 GPU identities, totals and limits, and every disk, as label dicts,
        were ~40 MB held for ten minutes). Should the index change before the tier is read again,
        the last result stands and the tier is asked again next cycle."""
        kept = self._derived.get(key)
        if kept is not None and kept[0] is series:
            if kept[1] is not index:
                self._ask_again(key)
            return kept[2]
        result = fn(series, index, label)
        mapped: list[m.Series] = []  # stands for the dropped answer, so the next cycle knows it
        if self._kept.get(key) is series:
            self._kept[key] = mapped
        self._derived[key] = (mapped, index, result)
        return result

    def _ask_again(self, key: str) -> None:
        for tier, (found, _) in self.tiers.items():
            if key in found:
                self._again.add(tier)

    def _check_slow(self, hosts: Mapping[str, Any], gpus: Mapping[str, tuple[Any, ...]]) -> None:
        """A board without its identity, or a host without its memory total, is new since the slow
        queries ran (or they ran before Prometheus had data): run them next cycle, once per set of
        such gaps, so a board that never has an identity does not re-trigger them every cycle."""
        gaps = frozenset(
            [(name, g.index) for name, boards in gpus.items() for g in boards if g.uuid is None]
            + [(name, -1) for name, h in hosts.items() if h.mem_total_bytes is None and h.load1 is not None]
        )
        if gaps and gaps != self._asked_for:
            self._slow_due = True
        self._asked_for = gaps

    def _panel(self, panel: PanelConfig, answer: Any) -> PanelValue:
        return m.map_panel(panel.name, panel.unit, answer)

    def _failed(self, at: float, reason: str) -> PromReading:
        last = self._last
        if last is None:
            return PromReading(at=at, error=reason)
        return PromReading(
            at=at, nodes=last.nodes, missing=last.missing, signals=last.signals, panels=last.panels,
            alerts=last.alerts, errors=last.errors, error=reason, last_good=last.last_good,
        )  # fmt: skip

    # -- HTTP ------------------------------------------------------------------------------------

    async def query(self, promql: str) -> Any:
        """One instant query; returns the decoded JSON document (success or Prometheus's error)."""
        return await self._get_json("/api/v1/query", {"query": promql})

    async def _get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        try:
            # POST keeps long PromQL out of URLs (and proxies' logs); Prometheus accepts both.
            # Streamed, so the response does not keep the body: httpx's responses sit in
            # reference cycles, and each would hold its answer (up to megabytes at 16,000 GPUs)
            # until a collection of the older generations, not just until it is decoded.
            method = "POST" if params is not None else "GET"
            async with self._client.stream(method, path, data=params) as response:
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_BODY:  # stop reading, not after holding all of it
                        raise _Failed(f"answer too large (over {MAX_BODY // 1048576} MiB)")
                    chunks.append(chunk)
                body, status = b"".join(chunks), response.status_code
                del chunks
        except httpx.TimeoutException:
            raise _Failed(f"timeout after {self.config.timeout:g}s") from None
        except httpx.ConnectError as exc:
            raise _Failed(_connect_error(exc)) from None
        except httpx.HTTPError as exc:
            raise _Failed(clean(f"{type(exc).__name__}: {exc}", limit=200)) from None
        return self._decode(status, body)

    def _decode(self, status: int, body: bytes) -> Any:
        """The JSON document; on the loop, as it arrives: ``json.loads`` holds the GIL throughout, so
        a thread would not free the loop any sooner (bench/prometheus_scale.py times it per cycle)."""
        try:
            # ~300,000 containers at 16,000 GPUs (JSON objects, label dicts, series tuples) that
            # reference counting alone frees: with the collector on they set off young
            # collections that doubled the decode and parse time. Paused for these synchronous
            # steps only: across a whole read (seconds, awaiting Prometheus) the screen's own
            # garbage piled up and the collection that finally ran blocked keys for 0.6 s.
            with collector.paused():
                doc = json.loads(body)
        except ValueError:
            raise _Failed(f"HTTP {status}, not JSON (is {self.config.url} a Prometheus?)") from None
        if status >= 400 and not (isinstance(doc, dict) and doc.get("status") == "error"):
            raise _Failed(f"HTTP {status}")
        return doc


def _evaluated(doc: Any) -> tuple[float, float] | None:
    """A one-sample answer as (evaluation time, value): Prometheus's clock, not ours."""
    try:
        (item,) = doc["data"]["result"]
        when, value = item["value"]
        return float(when), float(value)
    except (TypeError, KeyError, ValueError, IndexError):
        return None
