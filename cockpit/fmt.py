"""Numbers as an operator reads them, shared by the TUI and the headless table output.

Kept out of ``widgets`` so that headless modules (``snapshot --format table``) need no UI code.
"""

from __future__ import annotations

import math

NA = "–"


def num(value: float | None, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return NA
    return f"{value:.{digits}f}{unit}"


def pct(value: float | None) -> str:
    return num(value, 0, "%")


def age(seconds: float | None) -> str:
    """Whole units, rounded down: 59.6 s is "59s", never "60s" (and 3599 s is "59m", not "60m")."""
    if seconds is None or not math.isfinite(seconds):
        return NA
    if seconds < 60:
        return f"{int(seconds)}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def gib(byte_count: int | float | None) -> str:
    if byte_count is None:
        return NA
    return f"{byte_count / 2**30:.0f}G"
