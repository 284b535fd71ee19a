"""Columns and cells of a live table, without Textual (renderers and their tests use these)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size

Cell = tuple[str, str] | tuple[str, str, float | None]
"""(text, severity class[, value]): the class names a component style such as ``ok`` or
``critical``; the value, when given, lets a column with a ``deadband`` skip meaningless repaints."""

CLASSES = ("ok", "warning", "critical", "muted", "stale", "down", "info", "")


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int
    priority: int = 0
    """Lower numbers survive narrow terminals; the widest layout shows everything."""
    align: str = "left"
    flex: bool = False
    deadband: float = 0.0
    """A new value closer than this to the one on screen is not repainted (same severity only):
    a power draw jittering by a watt is not worth 60 bytes on the operator's link."""


def within_deadband(column: Column, old: Cell, new: Cell) -> bool:
    """True when ``new`` may be skipped because ``old`` on screen is close enough."""
    if not column.deadband or len(old) < 3 or len(new) < 3 or old[1] != new[1]:
        return False
    before, after = old[2], new[2]  # type: ignore[misc]
    if before is None or after is None:
        return False
    return abs(after - before) < column.deadband


def fit(text: str, width: int, align: str) -> str:
    if cell_len(text) > width:
        return set_cell_size(text[: width * 2], width - 1) + "…" if width > 1 else text[:width]
    pad = width - cell_len(text)
    return " " * pad + text if align == "right" else text + " " * pad
