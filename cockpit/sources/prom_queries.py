"""The PromQL a cycle sends, and the real exporters' metric names it reads.

A cycle costs a fixed set of instant queries whatever the cluster's size: ``up``, one per fast GPU
value (util, temperature, power, memory used), one for host gauges, one for CPU, one for vLLM's
gauges, one per panel; the 5-minute-window signals (:func:`window_queries`) every
``window_refresh_s``; identities, totals and disks (:func:`slow_queries`) every ``slow_refresh_s``.
Each is aggregated ``by`` only the labels we read, so 16,000 GPU series come back as compact JSON
rather than with dcgm-exporter's ten labels each.

Metric names are the real exporters': dcgm-exporter's ``DCGM_FI_DEV_*`` (FB in MiB, power in W),
node_exporter's ``node_*`` and vLLM's ``vllm:*`` (``gpu_cache_usage_perc``, renamed
``kv_cache_usage_perc`` in vLLM 0.10; both are read).
"""

from __future__ import annotations

from collections.abc import Iterable

GPU_FAST = {
    "util": "DCGM_FI_DEV_GPU_UTIL",
    "temp": "DCGM_FI_DEV_GPU_TEMP",
    "power": "DCGM_FI_DEV_POWER_USAGE",
    "used": "DCGM_FI_DEV_FB_USED",
}
GPU_SLOW = {"total": "DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE", "limit": "DCGM_FI_DEV_POWER_MGMT_LIMIT"}
"""Memory total (FB used + free, in MiB) and the power limit change by an operator's hand, not by
the second."""
HOST_FAST = {"node_load1": "load1", "node_memory_MemAvailable_bytes": "mem_available"}
HOST_WINDOW = {"node_load5": "load5", "node_load15": "load15"}
"""5- and 15-minute load averages move no faster than the 5-minute windows (no pane shows them)."""
HOST_SLOW = {
    "node_memory_MemTotal_bytes": "mem_total",
    "node_boot_time_seconds": "boot",
    "node_time_seconds": "time",
}
"""``time`` is the node's clock, read with ``boot`` for uptime, which then advances by our clock
(:func:`map_host`'s ``static_age_s``): a gauge that only counts seconds is not worth 2,000 series a cycle."""
HOST_FIELDS = {**HOST_FAST, **HOST_WINDOW, **HOST_SLOW}
FS_FIELDS = {"node_filesystem_size_bytes": "size", "node_filesystem_free_bytes": "free",
             "node_filesystem_avail_bytes": "avail"}  # fmt: skip
VLLM_FIELDS = {
    "vllm:gpu_cache_usage_perc": "kv_cache",
    "vllm:kv_cache_usage_perc": "kv_cache",
    "vllm:num_requests_running": "running",
    "vllm:num_requests_waiting": "waiting",
}


def _names(fields: Iterable[str]) -> str:
    return "|".join(fields)


FRESH_KEYS = ("gpu:util", "gpu:temp", "gpu:power", "gpu:used", "host", "cpu_idle", "vllm")
"""The fast queries whose series each come from one scrape target (they keep its ``instance``):
between full reads they are asked only of the targets scraped since the last read
(:mod:`cockpit.sources.prom_fresh`)."""


def restrict(selector: str, matcher: str) -> str:
    """``selector`` with one more label matcher (``''``: unchanged): ``up`` -> ``up{m}``,
    ``{__name__=~"a"}`` -> ``{__name__=~"a", m}``."""
    if not matcher:
        return selector
    if selector.endswith("}"):
        return f"{selector[:-1]}, {matcher}}}"
    return f"{selector}{{{matcher}}}"


def _by(*labels: str) -> str:
    """A ``by`` list without repeats (the node label is often ``instance`` itself)."""
    return ", ".join(dict.fromkeys(labels))


def queries(node_label: str, gpu_label: str, rate_window: str, matcher: str = "") -> dict[str, str]:
    """The fast queries, sent every cycle; each ``by`` keeps only the labels that are read, plus
    the scrape target's ``instance``; ``matcher`` (an ``instance`` matcher) narrows the
    :data:`FRESH_KEYS` ones to some targets.

    Prometheus's cost is per series touched (16,000 GPUs x 4 values, 16,000 CPUs' idle counters),
    so a GPU metric is one query (they run in parallel) and CPU reads only the ``idle`` counters:
    busy = 1 - idle seconds per second / CPUs, the usual node_exporter formula (iowait counts as
    busy here, where the SSH probe counts it as idle: a few tenths of a percent on most nodes).
    """
    n, g, i, m = node_label, gpu_label, "instance", matcher
    out = {"up": "up"}
    out.update(
        {
            f"gpu:{field}": f"max by ({_by(g, 'gpu', i)}) ({restrict(metric, m)})"
            for field, metric in GPU_FAST.items()
        }
    )
    host = restrict(f'{{__name__=~"{_names(HOST_FAST)}"}}', m)
    out["host"] = f"max by ({_by('__name__', n, i)}) ({host})"
    idle = restrict('node_cpu_seconds_total{mode="idle"}', m)
    out["cpu_idle"] = f"sum by ({_by(n, i)}) (rate({idle}[{rate_window}]))"
    vllm = restrict(f'{{__name__=~"{_names(VLLM_FIELDS)}"}}', m)
    out["vllm"] = f"max by ({_by('__name__', n, 'model_name', i)}) ({vllm})"
    return out


def freshness_queries(since: float | None) -> dict[str, str]:
    """What tells which targets were scraped since ``since`` (Prometheus's clock, in seconds):
    each target's last scrape time, and the slowest scrape (how late a sample can become visible)."""
    out = {"scrape": "max(scrape_duration_seconds)"}
    if since is not None:
        out["fresh"] = f"timestamp(up) > {since:.3f}"
    return out


def window_queries(node_label: str) -> dict[str, str]:
    """Signals over 5-minute windows (TTFT p95, tokens/s, Ray Serve replicas, load5/load15): they
    move slowly by construction and cost Prometheus the most, so they run every ``window_refresh_s``."""
    n = node_label
    ray = "ray_serve_deployment_replica_healthy"
    out = {"host_window": f'max by (__name__, {n}) ({{__name__=~"{_names(HOST_WINDOW)}"}})'}
    out["ttft"] = (
        f"histogram_quantile(0.95, sum by (le, {n}, model_name) (rate(vllm:time_to_first_token_seconds_bucket[5m])))"
    )
    out["tokens"] = f"sum by ({n}, model_name) (rate(vllm:generation_tokens_total[5m]))"
    out["ray"] = (
        f'label_replace(sum by (application, deployment) ({ray}), "signal", "replicas_healthy", "", "")'
        f' or label_replace(count by (application, deployment) ({ray}), "signal", "replicas", "", "")'
        " or label_replace(sum by (application, deployment) "
        '(increase(ray_serve_deployment_replica_starts_total[5m])), "signal", "replica_restarts", "", "")'
    )
    return out


def slow_queries(node_label: str, gpu_label: str) -> dict[str, str]:
    """What changes rarely (identities, totals, disks): sent on the first cycle and then every
    ``slow_refresh_s``, or at once when a GPU shows up that they do not describe yet."""
    n, g = node_label, gpu_label
    out = {"gpu_ids": f"group by ({g}, gpu, UUID, modelName) (DCGM_FI_DEV_GPU_UTIL)"}
    out.update({f"gpu:{field}": f"max by ({g}, gpu) ({metric})" for field, metric in GPU_SLOW.items()})
    out["host_static"] = f'max by (__name__, {n}) ({{__name__=~"{_names(HOST_SLOW)}"}})'
    out["fs"] = f'max by (__name__, {n}, device, fstype, mountpoint) ({{__name__=~"{_names(FS_FIELDS)}"}})'
    out["cpu_count"] = f'count by ({n}) (node_cpu_seconds_total{{mode="idle"}})'
    return out
