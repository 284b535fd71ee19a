"""Severity of a value against the runbook's operating ranges; pure functions, no I/O.

Defaults are the "Normal Operating Ranges" table of runbook 000 (Hydra): GPU temp < 70 / 70-80 /
> 80 °C, CPU < 60 / 60-80 / > 80 %, RAM < 70 / 70-85 / > 85 %, disk < 80 / 80-90 / > 90 %, and
GPU power per model (RTX 5090 400/450 W, RTX 4090 280/300 W); other GPUs are judged relative to
their own power limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from cockpit.model import GpuReading


class Severity(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


@dataclass(frozen=True, slots=True)
class Range:
    """Warning from ``warning`` up, critical above ``critical`` (the runbook's "> 80")."""

    warning: float
    critical: float

    def judge(self, value: float | None) -> Severity:
        if value is None:
            return Severity.UNKNOWN
        if value > self.critical:
            return Severity.CRITICAL
        if value >= self.warning:
            return Severity.WARNING
        return Severity.OK


GPU_TEMP = Range(70, 80)
CPU = Range(60, 80)
RAM = Range(70, 85)
DISK = Range(80, 90)
GPU_POWER_BY_MODEL = {"5090": Range(400, 450), "4090": Range(280, 300)}
GPU_POWER_RELATIVE = (0.90, 0.97)


def gpu_power_range(gpu: GpuReading) -> Range | None:
    name = gpu.name or ""
    for model, rng in GPU_POWER_BY_MODEL.items():
        if model in name:
            return rng
    if gpu.power_limit_w:
        warn, crit = GPU_POWER_RELATIVE
        return Range(gpu.power_limit_w * warn, gpu.power_limit_w * crit)
    return None


def gpu_power(gpu: GpuReading) -> Severity:
    rng = gpu_power_range(gpu)
    return rng.judge(gpu.power_w) if rng else Severity.UNKNOWN


def worst(*severities: Severity) -> Severity:
    known = [s for s in severities if s is not Severity.UNKNOWN]
    return max(known) if known else Severity.UNKNOWN
