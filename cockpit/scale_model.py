"""What the sources beyond SSH add to a state: Prometheus's reading, Kubernetes pods, their alerts.

Its own module so that :mod:`cockpit.state` can hold it without importing the sources' readers.
"""

from __future__ import annotations

from dataclasses import dataclass

from cockpit.model import Alert
from cockpit.sources.kube import Pod
from cockpit.sources.prom_model import PromReading


@dataclass(frozen=True, slots=True)
class ScaleView:
    prom: PromReading | None = None
    pods: tuple[Pod, ...] = ()
    pods_error: str | None = None
    alerts: tuple[Alert, ...] = ()
