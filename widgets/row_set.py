"""What a live table holds and which rows it shows, in what order: filter, sort and marks.

No Textual here: the table widget only diffs what this returns against what is on screen, so
filtering, sorting and marking are tested on plain rows, and a filter or sort change costs the
same diff as a data update.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from cockpit.query import Query, Term, candidates, narrows, numbers_of, texts_of
from cockpit.sanitize import clean
from widgets.table_model import Cell, Column, Row, cell_value, row_fields, row_text, sort_key, within_deadband

Predicate = Callable[[Mapping[str, object], str], bool]
"""``(fields, text) -> keep?``; ``cockpit.query.Query.matches`` is one."""

Fields = Mapping[str, object] | None
_MISSING = object()
KEPT_ORDERS = 4
"""Queries whose rows in order are kept (16,000 keys each, at most)."""
KEPT_TERMS = 16
"""Terms whose matches are kept: each is a set of up to every row, and each is judged again for
the rows every refresh changes, so the terms of long-finished filters must not pile up."""
TERMS_ACROSS_LOADS = 4
"""Terms kept through a load besides the filter's own (the last few typed: erasing goes back to
one); the others are dropped rather than judged again on the rows that changed."""


def _clean(cell: Cell) -> Cell:
    text = clean(cell[0], limit=200)
    return (text, *cell[1:]) if text != cell[0] else cell  # type: ignore[return-value]


class RowSet:
    """Every row given, in the order given, with the table's filter, sort column and marks.

    At 16,000 rows a keystroke must not rebuild every row's filter fields: a filter that is a
    :class:`~cockpit.query.Query` is judged a term and a column at a time (``Columns``), and what
    each term matched is kept until the rows change, so typing one more character judges one term
    and erasing it judges none. A load that repeats rows already held (the same objects, or equal)
    keeps their cleaned cells and leaves those caches valid.

    What each row shows (:attr:`display`) is merged with what it showed before as rows load, a
    changed row at a time: a filter keystroke that shows other rows merges nothing (at 16,000
    rows, merging every shown row again was most of a keystroke)."""

    def __init__(self, columns: Sequence[Column]) -> None:
        self.columns = tuple(columns)
        self.rows: dict[Hashable, tuple[tuple[Cell, ...], Fields]] = {}
        self.predicate: Predicate | None = None
        self.sort_index: int | None = None
        self.reverse = False
        self.marks: set[Hashable] = set()
        """Marked keys; a key leaves when its row does."""
        self._given: dict[Hashable, object] = {}
        """Each row as given (before cleaning): an identical or equal one next load is not redone."""
        self._names: dict[str, int] = {}
        for index, column in enumerate(self.columns):
            # As ``row_fields`` builds its dict: a key overwrites, a header word only fills in.
            self._names[column.key] = index
            word = column.label.casefold()
            if word.isidentifier() and word not in self._names:
                self._names[word] = index
        self._text: dict[Hashable, str] | None = None
        self._found: dict[str, dict[Hashable, object]] = {}
        self._texts: dict[str, dict[Hashable, tuple[str, ...]]] = {}
        self._numbers: dict[str, dict[Hashable, tuple[float, ...]]] = {}
        self._selected: dict[Term, set[Hashable]] = {}
        self._orders: dict[Query, list[Hashable]] = {}
        """The rows the last few queries kept, in order: erasing a character goes back to one."""
        self._position: dict[Hashable, int] | None = None
        self.display: dict[Hashable, tuple[Cell, ...]] = {}
        """Each row's cells as shown: a value within its column's deadband of what the row showed
        keeps that, so neither the screen nor the sort follows jitter."""
        self._before: dict[Hashable, tuple[Cell, ...] | None] = {}
        """What each row whose :attr:`display` changed since :meth:`shown` last ran showed before
        (None: the row is new)."""

    def load(self, rows: Iterable[Row | tuple[Hashable, tuple[Cell, ...]]]) -> bool:
        """Take the full new contents; True when a marked row went away (marks changed)."""
        loading = self.start_load()
        for row in rows:
            loading.feed(row)
        return loading.take()

    def start_load(self) -> Loading:
        """A load a row at a time: fed between keys, taken in one step (:class:`Loading`)."""
        return Loading(self)

    def _took(self, loading: Loading) -> bool:
        """The rows ``loading`` was fed are the contents now (see :meth:`load`)."""
        if self._given is not loading.old_given:  # another load ran meanwhile: theirs is stale
            return self.load(list(loading.given.values()))
        old_rows, new_rows, changed = self.rows, loading.rows, loading.changed
        self.rows, self._given = new_rows, loading.given
        if len(new_rows) != len(old_rows) or list(new_rows) != list(old_rows):  # rows came, went or moved
            self._forget()
            self._redisplay(loading.shown)
        elif changed:
            self._rejudge(changed, loading.part)
            display = self.display
            for key, new in loading.shown.items():
                self._show_cells(key, display[key], new)
        if self.marks.issubset(self.rows):
            return False
        self.marks &= self.rows.keys()
        return True

    def _show_cells(self, key: Hashable, old: tuple[Cell, ...] | None, new: tuple[Cell, ...]) -> None:
        """The row ``key`` shows ``new`` (:meth:`_merged` with ``old``, what it showed)."""
        if new is not old:
            self._before.setdefault(key, old)
        self.display[key] = new

    def _redisplay(self, shown: Mapping[Hashable, tuple[Cell, ...]]) -> None:
        """Rows came, went or moved: the display follows the rows given, in their order."""
        old_display, before = self.display, self._before
        self.display = {}
        for key in self.rows:
            old = old_display.get(key)
            if key in shown:
                self._show_cells(key, old, shown[key])
            else:
                self.display[key] = old  # type: ignore[assignment]  # unchanged rows were shown
        for key in list(before):
            if key not in self.display:
                del before[key]

    def _rejudge(self, keys: list[Hashable], part: RowSet | None = None) -> None:
        """Some rows changed, none came, went or moved: judge only those again. A refresh at 16,000
        GPUs changes a fifth of the rows; judging every row again made the next filter keystroke
        wait for the whole table. ``part`` holds the changed rows, perhaps judged already
        (:meth:`Loading.prejudge`). Only the terms still likely to be asked about are kept
        (:meth:`_terms_kept`): judging ten old ones again was most of a draw's last step."""
        if len(keys) * 2 > len(self.rows):
            self._forget()
            return
        if part is None:
            part = self._part(keys)
        if self._text is not None:
            self._text.update(part.text())
        for caches, judge in self._column_caches(part):
            for name, values in caches.items():  # type: ignore[attr-defined]
                for key in keys:
                    values.pop(key, None)
                values.update(judge(name))
        kept = self._terms_kept()
        for term in [t for t in self._selected if t not in kept]:
            del self._selected[term]
        for term, chosen in self._selected.items():
            chosen.difference_update(keys)
            chosen.update(part._selected[term] if term in part._selected else term.select(part))
        self._orders.clear()

    def _column_caches(self, part: RowSet) -> tuple[tuple[dict[str, Any], Callable[[str], Any]], ...]:
        """Each column cache of this set, with what judges ``part``'s rows for it."""
        return ((self._found, part._first), (self._texts, part.texts), (self._numbers, part.numbers))

    def _part(
        self, keys: Iterable[Hashable], rows: Mapping[Hashable, tuple[tuple[Cell, ...], Fields]] | None = None
    ) -> RowSet:
        """A row set of just ``keys`` (from ``rows``, or this one's), to judge them alone."""
        part = RowSet(self.columns)
        source = self.rows if rows is None else rows
        part.rows = {key: source[key] for key in keys}
        return part

    def _terms_kept(self) -> set[Term]:
        """The terms of the filter now, and the newest :data:`TERMS_ACROSS_LOADS` others."""
        query = getattr(self.predicate, "__self__", None)
        kept = set(query.terms) if isinstance(query, Query) else set()
        newest = list(self._selected)[-TERMS_ACROSS_LOADS:]
        return kept | set(newest)

    def _forget(self) -> None:
        """The rows changed: what was judged of them no longer holds."""
        self._text = None
        self._found.clear()
        self._texts.clear()
        self._numbers.clear()
        self._selected.clear()
        self._orders.clear()
        self._position = None

    # -- the rows a column at a time (cockpit.query.Columns) ---------------------------------
    def all_keys(self) -> list[Hashable]:
        return list(self.rows)

    def text(self) -> dict[Hashable, str]:
        if self._text is None:
            self._text = {key: row_text(cells) for key, (cells, _) in self.rows.items()}
        return self._text

    def _value(self, cells: tuple[Cell, ...], extra: Fields, name: str) -> object:
        """``row_fields(...)[name]`` without building the dict, or ``_MISSING``."""
        if extra is not None and name in extra:
            return extra[name]
        index = self._names.get(name)
        if index is None or index >= len(cells):
            return _MISSING
        return cell_value(cells[index])

    def _first(self, name: str) -> dict[Hashable, object]:
        """Each row's value of the first of ``candidates(name)`` it has (``lookup``)."""
        found = self._found.get(name)
        if found is None:
            found = self._found[name] = {}
            names = candidates(name)
            for key, (cells, extra) in self.rows.items():
                for candidate in names:
                    value = self._value(cells, extra, candidate)
                    if value is not _MISSING:
                        found[key] = value
                        break
        return found

    def texts(self, name: str) -> dict[Hashable, tuple[str, ...]]:
        texts = self._texts.get(name)
        if texts is None:
            texts = self._texts[name] = {key: texts_of(value) for key, value in self._first(name).items()}
        return texts

    def numbers(self, name: str) -> dict[Hashable, tuple[float, ...]]:
        numbers = self._numbers.get(name)
        if numbers is None:
            numbers = self._numbers[name] = {}
            names = candidates(name)
            for key, (cells, extra) in self.rows.items():
                for candidate in names:
                    value = self._value(cells, extra, candidate)
                    found = numbers_of(None if value is _MISSING else value)
                    if found:
                        numbers[key] = found
                        break
        return numbers

    def _query_keys(self, query: Query) -> list[Hashable]:
        """The rows ``query`` keeps, in order, from each term's (cached) matches."""
        keys = self._orders.pop(query, None)
        if keys is not None:
            self._orders[query] = keys  # the newest last
            return keys
        sets = [self._matches(term) for term in query.terms]
        if not sets:
            keys = list(self.rows)
        else:
            sets.sort(key=len)
            keep = sets[0].intersection(*sets[1:]) if len(sets) > 1 else sets[0]
            keys = (
                [key for key in self.rows if key in keep]
                if len(keep) * 8 > len(self.rows)
                else self._ordered(keep)
            )
        if len(self._orders) >= KEPT_ORDERS:
            del self._orders[next(iter(self._orders))]
        self._orders[query] = keys
        return keys

    def _matches(self, term: Term) -> set[Hashable]:
        """The rows ``term`` keeps. A term typed one character further than one already judged
        (``node-01`` -> ``node-015``, ``temp>6`` -> ``temp>65``) is judged only on that one's rows."""
        selected = self._selected
        chosen = selected.pop(term, None)
        if chosen is None:
            within = min(
                (rows for wider, rows in selected.items() if narrows(term, wider)), key=len, default=None
            )
            chosen = term.select(self, within)
            while len(selected) >= KEPT_TERMS:
                del selected[next(iter(selected))]
        selected[term] = chosen  # the newest last: the oldest goes first
        return chosen

    def _ordered(self, keep: set[Hashable]) -> list[Hashable]:
        """A few kept rows in the order given, without walking every row."""
        position = self._positions()
        return sorted(keep, key=position.__getitem__)

    def index_of(self, keys: Sequence[Hashable], key: Hashable) -> int | None:
        """Where ``key`` is in ``keys`` (what :meth:`shown` gave), or None: without building an
        index of 16,000 keys for one lookup when they are in the order given."""
        if self.sort_index is not None:
            return keys.index(key) if key in self.rows and key in keys else None
        position = self._positions()
        if key not in position:
            return None
        at = bisect_left(keys, position[key], key=position.__getitem__)
        return at if at < len(keys) and keys[at] == key else None

    def _positions(self) -> dict[Hashable, int]:
        if self._position is None:
            self._position = {key: i for i, key in enumerate(self.rows)}
        return self._position

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
        self,
    ) -> tuple[list[Hashable], Mapping[Hashable, tuple[Cell, ...]], dict[Hashable, tuple[Cell, ...] | None]]:
        """The keys to show, in order; every row's cells as shown (:attr:`display`); and what each
        row whose cells changed since the last call showed before (None: a new row)."""
        query = getattr(self.predicate, "__self__", None)
        if isinstance(query, Query) and getattr(self.predicate, "__func__", None) is Query.matches:
            keys = self._query_keys(query)
        else:
            keys = [key for key in self.rows if self._passes(key)]
        if self.sort_index is not None:
            keys = self._sorted(keys, self.display, self.sort_index)
        before, self._before = self._before, {}
        return keys, self.display, before

    def _passes(self, key: Hashable) -> bool:
        if self.predicate is None:
            return True
        cells, fields = self.rows[key]
        return self.predicate(row_fields(self.columns, cells, fields), row_text(cells))

    def _merged(self, old: tuple[Cell, ...] | None, new: tuple[Cell, ...]) -> tuple[Cell, ...]:
        """``new``, but a value within its column's deadband of ``old`` (what is shown) stays."""
        if old is None or len(old) != len(new):
            return new
        if old == new:
            return old
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


class Loading:
    """One load of a :class:`RowSet`, a row at a time: at 16,000 rows, cleaning the changed rows'
    cells and merging them with what they showed is tens of milliseconds, fed in slices between
    keys. Nothing a key reads changes until :meth:`take`, which is quick."""

    def __init__(self, rows: RowSet) -> None:
        self._set = rows
        self.old_given = rows._given
        self._old_rows = rows.rows
        self._display = rows.display
        self.rows: dict[Hashable, tuple[tuple[Cell, ...], Fields]] = {}
        self.given: dict[Hashable, object] = {}
        self.changed: list[Hashable] = []
        self.shown: dict[Hashable, tuple[Cell, ...]] = {}
        """What each changed row will show (merged with what it shows now)."""
        self.part: RowSet | None = None
        """The changed rows, judged ahead by :meth:`prejudge`."""

    def feed(self, row: Row | tuple[Hashable, tuple[Cell, ...]]) -> None:
        key = row[0]
        before = self.old_given.get(key, _MISSING)
        if before is row or (before is not _MISSING and before == row):
            self.rows[key] = cells_fields = self._old_rows[key]
            if key in self.shown:  # a key given twice: the last one counts
                self.shown[key] = self._set._merged(self._display.get(key), cells_fields[0])
        else:
            self.changed.append(key)
            cells = row[1]
            if before is not _MISSING and len(before[1]) == len(cells):  # type: ignore[index]
                # A cell that is the very object given last time (a row whose sparklines
                # moved) keeps its cleaned form.
                cleaned = self._old_rows[key][0]
                cells = tuple(
                    c if new is old else _clean(new)
                    for new, old, c in zip(cells, before[1], cleaned, strict=True)  # type: ignore[index]
                )
            else:
                cells = tuple(_clean(cell) for cell in cells)
            self.rows[key] = (cells, row[2] if len(row) > 2 else None)  # type: ignore[misc]
            self.shown[key] = self._set._merged(self._display.get(key), cells)
        self.given[key] = row

    def prejudge(self) -> Iterator[None]:
        """Judge the changed rows for what the filter caches hold now, yielding between caches:
        the judging :meth:`take` would do (tens of milliseconds at 16,000 rows). What a key
        adds meanwhile is judged at :meth:`take`."""
        rows = self._set
        if len(self.changed) * 2 > len(self.rows):
            return  # most rows: take() forgets the caches instead
        part = self.part = rows._part(self.changed, self.rows)
        if rows._text is not None:
            part.text()
            yield
        for names, judge in rows._column_caches(part):
            for name in list(names):
                judge(name)
                yield
        for term in rows._terms_kept():
            part._selected[term] = term.select(part)
            yield

    def take(self) -> bool:
        """The rows fed are the contents now; True when a marked row went away."""
        return self._set._took(self)
