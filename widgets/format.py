"""Pure text helpers for cells: numbers, bars and sparklines. No Textual here, so tests are cheap.

Values are quantised for display on purpose: every character that changes costs bytes on the
operator's SSH link, so a power draw is shown in whole watts and sparklines move one bucket at a time.
"""

from __future__ import annotations

from collections.abc import Sequence

from cockpit.fmt import NA, age, gib, num, pct
from cockpit.rules import Severity

__all__ = ["NA", "SEVERITY_CLASS", "age", "bar", "bucketed", "gib", "num", "pct", "sparkline"]

SPARK = "▁▂▃▄▅▆▇█"
BAR = " ▏▎▍▌▋▊▉█"
SEVERITY_CLASS = {
    Severity.OK: "ok",
    Severity.WARNING: "warning",
    Severity.CRITICAL: "critical",
    Severity.UNKNOWN: "muted",
}


def bar(fraction: float | None, width: int) -> str:
    """A horizontal bar in eighths of a cell."""
    if fraction is None:
        return " " * width
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (BAR[part] if part and full < width else "")
    return text.ljust(width)


def sparkline(values: Sequence[float | None], width: int, low: float, high: float) -> str:
    """The last ``width`` buckets of ``values`` scaled between ``low`` and ``high``."""
    shown = list(values)[-width:]
    span = (high - low) or 1.0
    out = []
    for value in shown:
        if value is None:
            out.append(" ")
            continue
        level = int((max(low, min(high, value)) - low) / span * (len(SPARK) - 1) + 0.5)
        out.append(SPARK[level])
    return "".join(out).rjust(width)


def bucketed(
    points: Sequence[tuple[int, float | None]], per_bucket: int, phase: int = 0
) -> list[float | None]:
    """Max of each bucket of ``per_bucket`` cycles, buckets aligned on the cycle number (plus
    ``phase``: cycle ``seq`` is in bucket ``(seq + phase) // per_bucket``).

    Aligned buckets move one step every ``per_bucket`` cycles instead of shifting every cycle,
    so a sparkline costs a few bytes per cycle instead of repainting its whole width.
    """
    out: list[float | None] = []
    current: int | None = None
    best: float | None = None
    per_bucket = max(1, per_bucket)
    for seq, value in points:
        bucket = (seq + phase) // per_bucket
        if bucket != current:
            if current is not None:
                out.append(best)
            current, best = bucket, None
        if value is not None and (best is None or value > best):
            best = value
    if current is not None:
        out.append(best)
    return out
