"""Post new alerts to a webhook as JSON with a Slack-compatible ``text`` field.

A webhook that is down must not stop the check that found the problem: failures are reported as
one line and the check goes on.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from cockpit.model import Alert
from cockpit.sanitize import clean
from cockpit.snapshot import alert_json


def payload(cluster: str, alerts: list[Alert]) -> dict[str, object]:
    lines = [f"[{a.severity.upper()}] {clean(a.message)}" for a in alerts]
    return {
        "text": f"{clean(cluster)}: {len(alerts)} new alert(s)\n" + "\n".join(lines),
        "cluster": cluster,
        "alerts": [alert_json(a) for a in alerts],
    }


def poster(url: str, cluster: str, warn: Callable[[str], None]):  # type: ignore[no-untyped-def]
    """A callback for :func:`cockpit.check.run_check` that posts to ``url``."""

    async def post(alerts: list[Alert]) -> None:
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.post(url, json=payload(cluster, alerts))
            if response.status_code >= 400:
                warn(f"webhook {url}: HTTP {response.status_code}")
        except httpx.HTTPError as exc:
            warn(f"webhook {url}: {type(exc).__name__}: {exc}")

    return post
