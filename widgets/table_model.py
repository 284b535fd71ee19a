"""Columns and cells of a live table, without Textual (renderers and their tests use these)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from rich.cells import cell_len, set_cell_size

from cockpit.fmt import NA
from cockpit.query import number

Cell = tuple[str, str] | tuple[str, str, float | None]
"""(text, severity class[, value]): the class names a component style such as ``ok`` or
``critical``; the value, when given, lets a column with a ``deadband`` skip meaningless repaints."""

CLASSES = ("ok", "warning", "critical", "muted", "stale", "down", "info", "")
SORT_ARROWS = ("▲", "▼")


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


class Row(NamedTuple):
    """One row given to ``LiveTable.reconcile``; a plain ``(key, cells)`` pair is accepted too.

    ``fields`` is what the ``/`` filter may ask about beyond the cells themselves (``tags``,
    ``temp_c``, ``gpu_model``); the cells already give each column's key and header word."""

    key: Hashable
    cells: tuple[Cell, ...]
    fields: Mapping[str, object] | None = None


def cell_value(cell: Cell) -> object:
    """What a cell stands for: its number when it carries one, else its text (None if blank)."""
    if len(cell) >= 3:
        return cell[2]  # type: ignore[misc]
    text = cell[0].strip()
    return None if text in ("", NA) else text


def row_fields(columns: Sequence[Column], cells: Sequence[Cell], extra: Mapping[str, object] | None) -> dict:
    """The filter's view of a row: each column by key and by header word, then ``extra``."""
    fields: dict[str, object] = {}
    for column, cell in zip(columns, cells, strict=False):
        value = cell_value(cell)
        fields[column.key] = value
        word = column.label.casefold()
        if word.isidentifier() and word not in fields:
            fields[word] = value
    if extra:
        fields.update(extra)
    return fields


def row_text(cells: Sequence[Cell]) -> str:
    """What a regex term searches: the row as the operator reads it."""
    return " ".join(cell[0] for cell in cells)


def sort_key(cell: Cell | None) -> tuple[int, float | str] | None:
    """A key that orders numbers before text and numerically (``"10"`` after ``"9"``); None for
    a blank or unknown cell, which the caller puts last in either direction."""
    if cell is None:
        return None
    value = cell_value(cell)
    n = number(value)
    if n is not None:
        return (0, n)
    if value is None or isinstance(value, bool | int | float):
        return None
    return (1, str(value).casefold())


def header_text(column: Column, arrow: str) -> str:
    """The header label with the sort arrow kept visible however narrow the column."""
    if not arrow:
        return fit(column.label, column.width, column.align)
    label = column.label
    if cell_len(label) + 1 > column.width:
        label = set_cell_size(label, max(0, column.width - 1))
    return fit(label + arrow, column.width, column.align)
