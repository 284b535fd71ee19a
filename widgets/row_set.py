"""What a live table holds and which rows it shows, in what order: filter, sort and marks.

No Textual here: the table widget only diffs what this returns against what is on screen, so
filtering, sorting and marking are tested on plain rows, and a filter or sort change costs the
same diff as a data update.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence

from cockpit.sanitize import clean
from widgets.table_model import Cell, Column, Row, row_fields, row_text, sort_key, within_deadband

Predicate = Callable[[Mapping[str, object], str], bool]
"""``(fields, text) -> keep?``; ``cockpit.query.Query.matches`` is one."""

Fields = Mapping[str, object] | None


def _clean(cell: Cell) -> Cell:
    text = clean(cell[0], limit=200)
    return (text, *cell[1:]) if text != cell[0] else cell  # type: ignore[return-value]


class RowSet:
    """Every row given, in the order given, with the table's filter, sort column and marks."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = tuple(columns)
        self.rows: dict[Hashable, tuple[tuple[Cell, ...], Fields]] = {}
        self.predicate: Predicate | None = None
        self.sort_index: int | None = None
        self.reverse = False
        self.marks: set[Hashable] = set()
        """Marked keys; a key leaves when its row does."""

    def load(self, rows: Sequence[Row | tuple[Hashable, tuple[Cell, ...]]]) -> bool:
        """Take the full new contents; True when a marked row went away (marks changed)."""
        self.rows = {
            row[0]: (tuple(_clean(cell) for cell in row[1]), row[2] if len(row) > 2 else None)  # type: ignore[misc]
            for row in rows
        }
        if self.marks.issubset(self.rows):
            return False
        self.marks &= self.rows.keys()
        return True

    def cells(self, key: Hashable) -> tuple[Cell, ...]:
        return self.rows[key][0]

    @property
    def sort_column(self) -> str | None:
        return None if self.sort_index is None else self.columns[self.sort_index].key

    def column_index(self, key: str) -> int:
        for index, column in enumerate(self.columns):
            if column.key == key:
                return index
        raise ValueError(f"no column {key!r}")

    def shown(
        self, drawn: Mapping[Hashable, tuple[Cell, ...]]
    ) -> tuple[list[Hashable], dict[Hashable, tuple[Cell, ...]]]:
        """The keys to show, in order, and their cells given what is ``drawn`` now: a value within
        its column's deadband keeps the drawn one, so the sort does not follow jitter either."""
        keys = [key for key in self.rows if self._passes(key)]
        cells = {key: self._merged(key, drawn.get(key)) for key in keys}
        if self.sort_index is not None:
            keys = self._sorted(keys, cells, self.sort_index)
        return keys, cells

    def _passes(self, key: Hashable) -> bool:
        if self.predicate is None:
            return True
        cells, fields = self.rows[key]
        return self.predicate(row_fields(self.columns, cells, fields), row_text(cells))

    def _merged(self, key: Hashable, old: tuple[Cell, ...] | None) -> tuple[Cell, ...]:
        new = self.rows[key][0]
        if old is None or old == new or len(old) != len(new):
            return new
        merged = tuple(
            o if within_deadband(self.columns[i], o, n) else n
            for i, (o, n) in enumerate(zip(old, new, strict=True))
        )
        return old if merged == old else merged

    def _sorted(
        self, keys: list[Hashable], cells: Mapping[Hashable, tuple[Cell, ...]], index: int
    ) -> list[Hashable]:
        """Stable; blanks last in either direction (an unknown temperature is not the coolest)."""
        ranked = [(sort_key(cells[k][index] if index < len(cells[k]) else None), k) for k in keys]
        present = [(v, k) for v, k in ranked if v is not None]
        present.sort(key=lambda pair: pair[0], reverse=self.reverse)
        return [k for _, k in present] + [k for v, k in ranked if v is None]
