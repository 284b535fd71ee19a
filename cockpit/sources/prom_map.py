"""Pure functions from Prometheus's JSON answers to readings (the PromQL is :mod:`prom_queries`).

Everything here is pure: the tests feed it the bodies a real Prometheus returned
(tests/fixtures/prometheus). A disk's use is df's ``used / (used + avail)`` rounded up, as the SSH
probe reads it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cockpit.model import Disk, GpuReading, HostReading, ProbeError
from cockpit.sanitize import clean
from cockpit.sources.prom_model import PanelSeries, PanelValue, PromAlert, PromNode, Signal, Target
from cockpit.sources.prom_queries import FS_FIELDS, HOST_FIELDS, VLLM_FIELDS

PSEUDO_FS = ("tmpfs", "devtmpfs", "overlay", "squashfs", "ramfs", "fuse.lxcfs", "nsfs")
SKIPPED_MOUNTS = ("/proc", "/sys", "/dev", "/run")
"""The mounts the SSH probe's ``parse_df`` skips, so both sources list the same disks."""
LABEL_LIMIT = 256
MEMO_LIMIT = 262_144
"""Label values a :class:`NodeIndex` remembers before it starts over (16,000 GPUs use ~20,000)."""
Series = tuple[dict[str, str], float | None]


# -- the response envelope ------------------------------------------------------------------------


def parse_query(doc: Any, what: str = "query") -> list[Series] | ProbeError:
    """``/api/v1/query``'s JSON -> (labels, value) pairs; a scalar is one pair with no labels.

    Values that are not finite (NaN from a quantile over no data, ±Inf) read as None.
    """
    if not isinstance(doc, dict):
        return ProbeError(what, "answer is not a JSON object")
    if doc.get("status") != "success":
        kind = clean(str(doc.get("errorType") or "error"), limit=40)
        message = clean(str(doc.get("error") or "no reason given"), limit=300)
        return ProbeError(what, f"{kind}: {message}")
    data = doc.get("data")
    if not isinstance(data, dict):
        return ProbeError(what, "answer has no data")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return [({}, _value(result))]
    if kind != "vector":
        return ProbeError(what, f"expected an instant vector, got {clean(str(kind), limit=20)}")
    if not isinstance(result, list):
        return ProbeError(what, "vector result is not a list")
    out: list[Series] = []
    append, isfinite = out.append, math.isfinite
    for item in result:
        # The fast path (16,000 GPUs x 4 values a cycle); anything odd goes the careful way.
        try:
            labels = item["metric"]
            pair = item["value"]
            _, raw = pair  # [time, "value"]: anything else raises and reads as no value
            value = float(raw) if type(raw) is str and type(pair) is list else None
        except (TypeError, KeyError, ValueError):
            labels = item.get("metric") if isinstance(item, dict) else None
            value = None
        if type(labels) is dict:
            append((labels, value if value is not None and isfinite(value) else None))
    return out


def text(labels: Mapping[str, Any], key: str) -> str:
    """A label value kept for display, sanitized; "" when absent or not a string.

    Labels are left raw by :func:`parse_query` (16,000 GPUs are ~400,000 label values a cycle, most
    of them only compared) and cleaned here, where one is kept.
    """
    value = labels.get(key)
    return clean(value, limit=LABEL_LIMIT) if isinstance(value, str) else ""


def _value(pair: Any) -> float | None:
    if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[1], str):
        return None
    try:
        value = float(pair[1])
    except ValueError:
        return None
    return value if math.isfinite(value) else None


# -- which node a series belongs to -------------------------------------------------------------


def node_key(value: str) -> str:
    """A label value without its ``:port`` (``10.0.0.5:9100``, ``[fd00::5]:9100``, ``gpu-01``)."""
    if value.startswith("["):
        host, sep, _ = value[1:].partition("]")
        return host if sep else value
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host
    return value


@dataclass(frozen=True, slots=True)
class NodeIndex:
    """Label value -> node name: configured names and hosts, then discovered nodes (if enabled)."""

    known: Mapping[str, str]
    discovered: frozenset[str] = frozenset()
    _memo: dict[Any, str | None] = field(default_factory=dict, compare=False, repr=False)
    """Label value -> node: an instance label repeats once per GPU and metric, and the source keeps
    one index while the configured nodes stay the same, so this fills once, not every cycle."""
    _boards: dict[tuple[Any, Any], tuple[str, int] | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def build(cls, names: Iterable[str], aliases: Mapping[str, str] | None = None) -> NodeIndex:
        known = {name: name for name in names}
        for alias, name in (aliases or {}).items():
            known.setdefault(alias, name)
        return cls(known)

    def with_discovered(self, keys: Iterable[str]) -> NodeIndex:
        return NodeIndex(self.known, frozenset(k for k in keys if k and k not in self.known))

    def node(self, labels: Mapping[str, str], label: str) -> str | None:
        value = labels.get(label)
        try:
            return self._memo[value]
        except KeyError:
            pass
        except TypeError:  # an unhashable value from a hostile answer
            return None
        name = self._resolve(value)
        if len(self._memo) >= MEMO_LIMIT:  # label values that never repeat (churning pods)
            self._memo.clear()
        self._memo[value] = name
        return name

    def board(self, labels: Mapping[str, Any], label: str) -> tuple[str, int] | None:
        """(node, GPU index) of a dcgm-exporter series: 16,000 GPUs x 6 values go through here."""
        raw = (labels.get(label), labels.get("gpu"))
        try:
            return self._boards[raw]
        except KeyError:
            pass
        except TypeError:  # an unhashable value from a hostile answer
            return None
        name = self.node(labels, label)
        gpu = raw[1]
        found = None
        if name is not None and isinstance(gpu, str) and gpu.isascii() and gpu.isdigit():
            found = name, int(gpu)
        if len(self._boards) >= MEMO_LIMIT:
            self._boards.clear()
        self._boards[raw] = found
        return found

    def _resolve(self, value: Any) -> str | None:
        if not value or not isinstance(value, str):
            return None
        key = node_key(value)
        name = self.known.get(key) or self.known.get(value)
        if name is not None:
            return name
        if not self.discovered:
            return None
        key = clean(key, limit=LABEL_LIMIT)
        return key if key in self.discovered else None


def discover_keys(up: list[Series], job: str, label: str) -> list[str]:
    return [node_key(text(labels, label)) for labels, _ in up if labels.get("job") == job]


def map_targets(up: list[Series], index: NodeIndex, label: str) -> dict[str, list[Target]]:
    out: dict[str, list[Target]] = {}
    for labels, value in up:
        name = index.node(labels, label)
        if name is not None:
            job, instance = labels.get("job"), labels.get("instance")
            if isinstance(job, str) and isinstance(instance, str):
                target = _target(job, instance, value == 1.0)
            else:
                target = Target(text(labels, "job"), text(labels, "instance"), value == 1.0)
            out.setdefault(name, []).append(target)
    return out


@functools.lru_cache(maxsize=65536)
def _target(job: str, instance: str, up: bool) -> Target:
    """The same 6,000 targets come back every cycle: cleaned and built once each (they are frozen)."""
    return Target(clean(job, limit=LABEL_LIMIT), clean(instance, limit=LABEL_LIMIT), up)


# -- host and GPUs -------------------------------------------------------------------------------


def map_host(
    gauges: list[Series],
    filesystems: list[Series],
    cpu_idle: list[Series],
    cpu_count: list[Series],
    index: NodeIndex,
    label: str,
    static_age_s: float = 0.0,
    disks: Mapping[str, tuple[Disk, ...]] | None = None,
    kept: Iterable[Mapping[str, Mapping[str, float | None]]] = (),
) -> dict[str, HostReading]:
    """node_exporter series -> a HostReading per node that has any of them; ``static_age_s`` is how
    long ago the slow gauges (boot and node time) were read, added to the uptime they give.
    ``kept`` are :func:`host_values` of the window and slow tiers' gauges, mapped when they were read."""
    values: dict[str, dict[str, float | None]] = {}
    for earlier in kept:
        for name, fields in earlier.items():
            values.setdefault(name, {}).update(fields)
    for name, fields in host_values(gauges, index, label).items():
        values.setdefault(name, {}).update(fields)
    cpus = {name: value for name, value in _by_node(cpu_count, index, label) if value}
    busy: dict[str, float | None] = {}
    for name, idle in _by_node(cpu_idle, index, label):
        count = cpus.get(name)
        share = None if idle is None or not count else min(1.0, max(0.0, idle / count))
        busy[name] = None if share is None else round(100.0 * (1.0 - share), 1)
    if disks is None:
        disks = map_disks(filesystems, index, label)
    out = {}
    for name in set(values) | set(busy) | set(disks):
        v = values.get(name, {})
        boot, now = v.get("boot"), v.get("time")
        total, available = v.get("mem_total"), v.get("mem_available")
        out[name] = HostReading(
            load1=v.get("load1"),
            load5=v.get("load5"),
            load15=v.get("load15"),
            cpu_pct=busy.get(name),
            mem_total_bytes=int(total) if total is not None else None,
            mem_available_bytes=int(available) if available is not None else None,
            uptime_s=max(0.0, now - boot + static_age_s) if boot is not None and now is not None else None,
            disks=disks.get(name, ()),
        )
    return out


def host_values(gauges: list[Series], index: NodeIndex, label: str) -> dict[str, dict[str, float | None]]:
    """node_exporter gauges -> field values per node (``load1``, ``mem_total``, ...)."""
    values: dict[str, dict[str, float | None]] = {}
    for labels, value in gauges:
        name = index.node(labels, label)
        part = HOST_FIELDS.get(labels.get("__name__", ""))
        if name is not None and part is not None:
            values.setdefault(name, {})[part] = value
    return values


def _by_node(series: list[Series], index: NodeIndex, label: str) -> list[tuple[str, float | None]]:
    out = []
    for labels, value in series:
        name = index.node(labels, label)
        if name is not None:
            out.append((name, value))
    return out


def map_disks(series: list[Series], index: NodeIndex, label: str) -> dict[str, tuple[Disk, ...]]:
    """node_filesystem_* -> disks per node, as df lists them; slow-tier data mapped once per read."""
    raw: dict[tuple[str, str, str], dict[str, float | None]] = {}
    fstypes: dict[tuple[str, str, str], str] = {}
    for labels, value in series:
        name = index.node(labels, label)
        part = FS_FIELDS.get(labels.get("__name__", ""))
        if name is None or part is None:
            continue
        key = (name, text(labels, "mountpoint"), text(labels, "device"))
        raw.setdefault(key, {})[part] = value
        fstypes[key] = text(labels, "fstype")
    out: dict[str, list[Disk]] = {}
    for key in sorted(raw):
        name, mount, device = key
        if (fstypes[key] in PSEUDO_FS and mount != "/") or mount.startswith(SKIPPED_MOUNTS):
            continue
        v = raw[key]
        size, free, avail = v.get("size"), v.get("free"), v.get("avail")
        used = size - free if size is not None and free is not None else None
        pct = None
        if used is not None and avail is not None and used + avail > 0:
            whole, spare = int(used), int(avail)
            pct = float(-(-whole * 100 // (whole + spare)))  # df: integer percent, rounded up
        out.setdefault(name, []).append(
            Disk(
                mount=mount,
                filesystem=device,
                size_bytes=_int(size),
                used_bytes=_int(used),
                avail_bytes=_int(avail),
                used_pct=pct,
            )
        )
    return {name: tuple(disks) for name, disks in out.items()}


def _int(value: float | None) -> int | None:
    return int(value) if value is not None else None


def gpu_identities(ids: list[Series], index: NodeIndex, label: str) -> dict[tuple[str, int], tuple[str, str]]:
    """``gpu_ids`` -> (UUID, model) per (node, GPU index); slow-tier data the source maps once per read."""
    out = {}
    for labels, _ in ids:
        found = index.board(labels, label)
        if found is not None:
            out[found] = (text(labels, "UUID"), text(labels, "modelName"))
    return out


def gpu_column(series: list[Series], index: NodeIndex, label: str) -> dict[tuple[str, int], float | None]:
    """One dcgm-exporter value per (node, GPU index); the source keeps the slow tier's columns."""
    out: dict[tuple[str, int], float | None] = {}
    memo, board = index._boards, index.board
    for labels, value in series:
        try:
            found = memo[(labels.get(label), labels.get("gpu"))]
        except (KeyError, TypeError):
            found = board(labels, label)
        if found is not None:
            out[found] = value
    return out


def board_column(
    boards: Mapping[tuple[Any, Any], float | None], index: NodeIndex, label: str
) -> dict[tuple[str, int], float | None]:
    """:func:`gpu_column` of values kept by board (``(label value, gpu)``, as the source keeps the
    fast GPU values between reads)."""
    out: dict[tuple[str, int], float | None] = {}
    memo, board = index._boards, index.board
    for raw, value in boards.items():
        found = memo.get(raw, _UNSEEN)
        if found is _UNSEEN:
            found = board({label: raw[0], "gpu": raw[1]}, label)
        if found is not None:
            out[found] = value  # type: ignore[index]
    return out


_UNSEEN = object()


def map_gpus(
    ids: list[Series],
    values: Mapping[str, list[Series] | Mapping[tuple[str, int], float | None]],
    index: NodeIndex,
    label: str,
    identities: Mapping[tuple[str, int], tuple[str, str]] | None = None,
    reuse: dict[tuple[str, int], tuple[tuple[Any, ...], GpuReading]] | None = None,
) -> dict[str, tuple[GpuReading, ...]]:
    """dcgm-exporter series -> GPUs per node, by index. ``values`` maps a field (``util``, ``temp``,
    ``power``, ``used``, ``total``, ``limit``) to its series, or to its :func:`gpu_column`; only boards
    with values are listed. ``identities`` is :func:`gpu_identities` of ``ids``, when the caller kept it.
    ``reuse`` (the caller's, kept across cycles) hands back last cycle's reading of a board whose values
    did not change: Prometheus's data moves once per scrape, and most of 16,000 boards stay put."""
    columns = {
        part: found if isinstance(found, Mapping) else gpu_column(found, index, label)
        for part, found in values.items()
    }
    if identities is None:
        identities = gpu_identities(ids, index, label)
    seen: set[tuple[str, int]] = set()
    for column in columns.values():
        seen.update(column)
    none: dict[tuple[str, int], float | None] = {}
    util, used, total = columns.get("util", none), columns.get("used", none), columns.get("total", none)
    temp, power, limit = columns.get("temp", none), columns.get("power", none), columns.get("limit", none)
    out: dict[str, list[GpuReading]] = {}
    kept = {} if reuse is None else reuse
    for key in sorted(seen):
        uuid, model = identities.get(key, ("", ""))  # of boards that report values; a gone board stays gone
        fields = (model, uuid, util.get(key), used.get(key), total.get(key), temp.get(key), power.get(key),
                  limit.get(key))  # fmt: skip
        last = kept.get(key)
        if last is not None and last[0] == fields:
            gpu = last[1]
        else:
            gpu = GpuReading(
                index=key[1], name=model or None, uuid=uuid or None, util_pct=fields[2],
                mem_used_mib=fields[3], mem_total_mib=fields[4], temp_c=fields[5], power_w=fields[6],
                power_limit_w=fields[7],
            )  # fmt: skip
            if reuse is not None:
                reuse[key] = (fields, gpu)
        try:
            out[key[0]].append(gpu)
        except KeyError:
            out[key[0]] = [gpu]
    if reuse is not None and len(reuse) > len(seen):  # boards that went away
        for key in [k for k in reuse if k not in seen]:
            del reuse[key]
    return {name: tuple(gpus) for name, gpus in out.items()}


def assemble(
    targets: Mapping[str, list[Target]],
    hosts: Mapping[str, HostReading],
    gpus: Mapping[str, tuple[GpuReading, ...]],
    index: NodeIndex,
    configured: Iterable[str],
) -> tuple[tuple[PromNode, ...], tuple[str, ...]]:
    """One PromNode per node any series names, configured ones first; and the configured ones missing."""
    configured = list(dict.fromkeys(configured))
    seen = set(targets) | set(hosts) | set(gpus)
    order = [n for n in configured if n in seen] + sorted(seen - set(configured))
    nodes = tuple(
        PromNode(
            name=name,
            targets=tuple(targets.get(name, ())),
            host=hosts.get(name),
            gpus=gpus.get(name),
            discovered=name in index.discovered,
        )
        for name in order
    )
    return nodes, tuple(n for n in configured if n not in seen)


# -- inference, panels, alerts -------------------------------------------------------------------


def map_signals(
    vllm: list[Series],
    ttft: list[Series],
    tokens: list[Series],
    ray: list[Series],
    index: NodeIndex,
    label: str,
    reuse: dict[tuple[str, str], Signal] | None = None,
) -> tuple[Signal, ...]:
    """vLLM's, TTFT, tokens/s and Ray Serve's series -> signals, sorted by subject. ``reuse`` (the
    caller's, kept across cycles) hands back last cycle's equal signal: at 2,000 servers these are
    10,000 objects a cycle that the cyclic collector would otherwise walk twice before they die."""
    out: list[Signal] = []
    subjects: dict[tuple[Any, Any], tuple[str, str | None]] = {}
    """(node label, model) -> (subject, node): each recurs once per vLLM metric (5 per server)."""

    def vllm_signal(metric: str, labels: Mapping[str, str], value: float | None) -> Signal:
        raw = (labels.get(label), labels.get("model_name"))
        try:
            subject, node = subjects[raw]
        except KeyError:
            node = index.node(labels, label)
            where = node or node_key(text(labels, label)) or "?"
            subject = f"vllm:{text(labels, 'model_name') or '?'}@{where}"
            subjects[raw] = subject, node
        except TypeError:  # an unhashable value from a hostile answer
            return Signal(metric, "vllm:?@?", value, None)
        return Signal(metric, subject, value, node)

    for labels, value in vllm:
        part = VLLM_FIELDS.get(labels.get("__name__", ""))
        if part is not None:
            out.append(vllm_signal(part, labels, value))
    out += [vllm_signal("ttft_p95_s", labels, value) for labels, value in ttft]
    out += [vllm_signal("gen_tokens_s", labels, value) for labels, value in tokens]
    for labels, value in ray:
        metric = labels.get("signal", "")
        subject = f"ray:{text(labels, 'application') or '?'}/{text(labels, 'deployment') or '?'}"
        if metric in ("replicas", "replicas_healthy", "replica_restarts"):
            out.append(Signal(metric, subject, value))
    # One signal per (metric, subject): vLLM 0.10 exports both KV-cache names for a while.
    unique = {(s.metric, s.subject): s for s in out}
    if reuse is not None:
        for key, signal in unique.items():
            last = reuse.get(key)
            if last == signal:
                unique[key] = last
        reuse.clear()
        reuse.update(unique)
    return tuple(sorted(unique.values(), key=_signal_order))


def _signal_order(signal: Signal) -> tuple[str, str]:
    return signal.subject, signal.metric


def map_panel(name: str, unit: str, answer: list[Series] | ProbeError) -> PanelValue:
    if isinstance(answer, ProbeError):
        return PanelValue(name, unit, error=answer.reason)
    series = [
        PanelSeries(
            ", ".join(f"{clean(str(k), limit=64)}={text(labels, k)}" for k in sorted(labels, key=str)), value
        )
        for labels, value in answer
    ]
    return PanelValue(name, unit, tuple(sorted(series, key=lambda s: s.labels)))


def parse_alerts(doc: Any) -> tuple[PromAlert, ...] | ProbeError:
    """``/api/v1/alerts`` -> alerts, firing first; timestamps are RFC 3339 with nanoseconds."""
    if not isinstance(doc, dict) or doc.get("status") != "success":
        reason = doc.get("error") if isinstance(doc, dict) else None
        return ProbeError("alerts", clean(str(reason or "answer is not a success"), limit=300))
    data = doc.get("data")
    items = data.get("alerts") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return ProbeError("alerts", "answer has no alerts list")
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("labels"), dict):
            continue
        labels = {
            clean(str(k), limit=64): clean(str(v), limit=LABEL_LIMIT) for k, v in item["labels"].items()
        }
        notes = item.get("annotations") if isinstance(item.get("annotations"), dict) else {}
        summary = notes.get("summary") or notes.get("description") or notes.get("message") or ""
        value = item.get("value")
        out.append(
            PromAlert(
                name=labels.get("alertname", "?"),
                state=clean(str(item.get("state", "")), limit=16),
                severity=labels.get("severity"),
                summary=clean(str(summary), limit=300),
                labels=tuple(sorted(labels.items())),
                active_at=parse_rfc3339(item.get("activeAt")),
                value=clean(str(value), limit=40) if value is not None else None,
            )
        )
    out.sort(key=lambda a: (a.state != "firing", a.active_at or 0.0, a.name))
    return tuple(out)


def parse_rfc3339(text: Any) -> float | None:
    """Prometheus's ``2024-06-01T12:00:00.123456789Z`` (or ``+02:00``) -> epoch seconds."""
    from datetime import datetime

    if not isinstance(text, str) or len(text) < 20:
        return None
    head, frac, zone = text[:19], "", text[19:]
    if zone.startswith("."):
        digits = zone[1:]
        i = len(digits) - len(digits.lstrip("0123456789"))
        frac, zone = digits[:i], digits[i:]
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        moment = datetime.fromisoformat(head + zone)
    except ValueError:
        return None
    return moment.timestamp() + (float("0." + frac) if frac else 0.0)
