"""docker/go-units, which docker and dockerd use for every human-readable duration and size.

``HumanDuration`` writes Status ("Up 3 hours", "Exited (0) 2 weeks ago") and RunningFor;
``HumanSize`` writes sizes in powers of 1000 with four significant digits ("12.35GB").
"""

from __future__ import annotations


def human_duration(seconds: float) -> str:
    """go-units ``HumanDuration``, as dockerd writes Status and the CLI writes RunningFor."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def human_size(size: float, precision: int = 4) -> str:
    """go-units HumanSizeWithPrecision: powers of 1000, ``%.4g``."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.{precision}g}{units[i]}"
