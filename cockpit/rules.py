"""Severity of a value against the runbook's operating ranges; pure functions, no I/O.

Defaults are the "Normal Operating Ranges" table of runbook 000 (Hydra): GPU temp < 70 / 70-80 /
> 80 °C, CPU < 60 / 60-80 / > 80 %, RAM < 70 / 70-85 / > 85 %, disk < 80 / 80-90 / > 90 %, and
GPU power per model (RTX 5090 400/450 W, RTX 4090 280/300 W); other GPUs are judged against their
own power limit. ``cluster.yaml``'s ``thresholds:`` overrides any of them per metric, tag or model.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from enum import IntEnum

from cockpit.config import Limit, Thresholds
from cockpit.model import GpuReading

DEFAULT = Thresholds()
HOST_METRICS = ("cpu", "ram", "disk")


class Severity(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


def judge(limit: Limit, value: float | None) -> Severity:
    """Warning from ``warning`` up, critical above ``critical``."""
    if value is None:
        return Severity.UNKNOWN
    if value > limit.critical:
        return Severity.CRITICAL
    if value >= limit.warning:
        return Severity.WARNING
    return Severity.OK


def host_limit(thresholds: Thresholds, metric: str, tags: Iterable[str] = ()) -> Limit:
    """``cpu``, ``ram`` or ``disk`` for a node: the first of its tags that overrides it wins."""
    for tag in tags:
        override = thresholds.by_tag.get(tag)
        if override is not None and getattr(override, metric) is not None:
            return getattr(override, metric)
    return getattr(thresholds, metric)


_MODEL_OVERRIDES: dict[tuple[int, str, str], tuple[Thresholds, Limit | None]] = {}
"""(thresholds, model, metric) -> the override: 16,000 GPUs are a handful of models."""


def _model_override(thresholds: Thresholds, gpu: GpuReading, metric: str) -> Limit | None:
    name = gpu.name or ""
    key = (id(thresholds), name, metric)
    hit = _MODEL_OVERRIDES.get(key)
    if hit is not None and hit[0] is thresholds:
        return hit[1]
    found = None
    for model, override in thresholds.by_model.items():
        if model in name and getattr(override, metric) is not None:
            found = getattr(override, metric)
            break
    if len(_MODEL_OVERRIDES) > 4096:
        _MODEL_OVERRIDES.clear()
    _MODEL_OVERRIDES[key] = (thresholds, found)
    return found


def gpu_temp_limit(thresholds: Thresholds, gpu: GpuReading, tags: Iterable[str] = ()) -> Limit:
    return _model_override(thresholds, gpu, "gpu_temp") or host_limit(thresholds, "gpu_temp", tags)


def gpu_power_limit(thresholds: Thresholds, gpu: GpuReading, tags: Iterable[str] = ()) -> Limit | None:
    """Watts: the model's own limits, else a tag's, else a share of the card's power limit."""
    limit = _model_override(thresholds, gpu, "gpu_power")
    if limit is not None:
        return limit
    for tag in tags:
        override = thresholds.by_tag.get(tag)
        if override is not None and override.gpu_power is not None:
            return override.gpu_power
    if gpu.power_limit_w:
        return _share_of(gpu.power_limit_w, thresholds.gpu_power_of_limit)
    return None


@functools.lru_cache(maxsize=256)
def _share_of(watts: float, share: Limit) -> Limit:
    """One model per card limit, not one per GPU per cycle (16,000 a cycle at 2,000 x 8 nodes)."""
    return Limit(warning=watts * share.warning / 100, critical=watts * share.critical / 100)


def gpu_power(gpu: GpuReading, thresholds: Thresholds = DEFAULT, tags: Iterable[str] = ()) -> Severity:
    limit = gpu_power_limit(thresholds, gpu, tags)
    return judge(limit, gpu.power_w) if limit else Severity.UNKNOWN
