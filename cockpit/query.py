"""The ``/`` filter language: what an operator types to narrow a table, parsed once per keystroke.

Pure (no Textual) so the grammar is tested as a table of cases. Terms are separated by spaces and
all must hold. A term is ``!term`` (inverted), ``field:text`` (case-insensitive substring),
``field=value`` / ``field!=value`` (a number compares numerically, anything else as whole text),
``field>N``, ``field<N``, ``field>=N``, ``field<=N``, or else a case-insensitive regex searched in
the row's text. Typing must never blow up: an unfinished regex such as ``(hydra`` is taken as
literal text, and only a term that cannot mean anything (``temp>hot``) is a :class:`QueryError`.

A row offers ``fields``: column keys and header words (``cpu``, ``status``, ``model``) plus what
its renderer adds (``tags``, ``temp_c``...). A field the row lacks never matches (so ``!field:x``
does), a None value never satisfies a numeric comparison, and a list value (tags) matches when
any element does.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

ALIASES: dict[str, tuple[str, ...]] = {
    "temp": ("temp_c", "hot"),
    "hot": ("temp_c",),
    "util": ("util_pct",),
    "mem": ("mem_pct",),
    "power": ("power_w",),
    "gpu": ("gpu_model", "model"),
    "tag": ("tags",),
    "tags": ("tags",),
}
"""What the operator types -> the canonical field names tried first; the word itself is tried
last, so a table whose renderer gives no canonical field still filters on its own column. A text
term uses the first name the row has; a numeric one the first holding a number (so ``gpu:5090``
finds the model and ``gpu=1`` the index)."""

_FIELD_TERM = re.compile(r"(?P<field>[A-Za-z_][A-Za-z0-9_]*)(?P<op>>=|<=|!=|>|<|=|:)(?P<value>.*)", re.S)
_NUMBER = re.compile(r"\s*(?P<n>[+-]?(?:\d+\.?\d*|\.\d+))\s*(?:°?[A-Za-z%]{0,3})\s*")
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
    "=": operator.eq,
    "!=": operator.ne,
}
_MISSING = object()
_LITERAL = re.compile(r"[^.^$*+?{}\[\]\\|()]*")
"""Text with no regex syntax in it: searched as typed."""
T = TypeVar("T")

Fields = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class QueryError:
    """A term that cannot be read; ``str()`` is the one line to show under the filter."""

    term: str
    reason: str

    def __str__(self) -> str:
        return f"{self.term}: {self.reason}"


def number(value: object) -> float | None:
    """``80``, ``80.5``, ``"80C"``, ``"72°C"``, ``"90%"``, ``"300W"`` -> a float; else None.

    Units are tolerated, not converted: the operator compares with what the column shows."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        match = _NUMBER.fullmatch(value)
        if match is None:
            return None
        result = float(match["n"])
    else:
        return None
    return result if math.isfinite(result) else None


def _values(value: object) -> Iterable[object]:
    if isinstance(value, list | tuple | set | frozenset):
        return value
    return () if value is None else (value,)


def _text(value: object) -> str:
    if isinstance(value, float):
        return f"{value:g}".casefold()
    return str(value).casefold()


def _candidates(name: str) -> tuple[str, ...]:
    return (*ALIASES.get(name, ()), name)


candidates = _candidates
"""The field names tried for what the operator called ``name``, in order (aliases first)."""


class Columns(Protocol):
    """A table's rows seen a column at a time, so that a term is judged on 16,000 rows in a few
    milliseconds instead of building each row's fields (what :meth:`Term.select` reads). Each
    answer gives, in row order, only the rows that have something for ``name``."""

    def all_keys(self) -> Iterable[Hashable]:
        """Every row, in order."""
        ...

    def text(self) -> Mapping[Hashable, str]:
        """Each row's text (what a regex searches)."""
        ...

    def texts(self, name: str) -> Mapping[Hashable, tuple[str, ...]]:
        """``_text`` of each value of the first of ``candidates(name)`` the row has."""
        ...

    def numbers(self, name: str) -> Mapping[Hashable, tuple[float, ...]]:
        """The numbers of the first of ``candidates(name)`` that holds any."""
        ...


def _within(found: Mapping[Hashable, T], within: Iterable[Hashable] | None) -> Iterable[tuple[Hashable, T]]:
    """``found``'s items, only for the keys ``within`` (all of them when None)."""
    if within is None:
        return found.items()
    return ((key, found[key]) for key in within if key in found)


def texts_of(value: object) -> tuple[str, ...]:
    return tuple(_text(v) for v in _values(value))


def numbers_of(value: object) -> tuple[float, ...]:
    return tuple(n for n in map(number, _values(value)) if n is not None)


def lookup(fields: Fields, name: str) -> object:
    """The row's value for what the operator called ``name`` (aliases first), or a sentinel."""
    for key in _candidates(name):
        if key in fields:
            return fields[key]
    return _MISSING


@dataclass(frozen=True, slots=True)
class Pattern:
    regex: re.Pattern[str]

    def matches(self, fields: Fields, text: str) -> bool:
        return self.regex.search(text) is not None

    def select(self, columns: Columns, within: Iterable[Hashable] | None = None) -> set[Hashable]:
        search = self.regex.search
        texts = columns.text()
        if within is None:
            return {key for key, text in texts.items() if search(text) is not None}
        return {key for key in within if search(texts[key]) is not None}

    @property
    def literal(self) -> str | None:
        """The text searched for, when the pattern is plain ASCII text (no regex syntax)."""
        source = self.regex.pattern
        return source.casefold() if source.isascii() and _LITERAL.fullmatch(source) else None


@dataclass(frozen=True, slots=True)
class FieldText:
    field: str
    value: str
    exact: bool = False
    negate: bool = False

    def matches(self, fields: Fields, text: str) -> bool:
        found = lookup(fields, self.field)
        if found is _MISSING:
            return False
        texts = [_text(v) for v in _values(found)]
        hit = any(t == self.value for t in texts) if self.exact else any(self.value in t for t in texts)
        return hit != self.negate

    def select(self, columns: Columns, within: Iterable[Hashable] | None = None) -> set[Hashable]:
        value, negate = self.value, self.negate
        found = _within(columns.texts(self.field), within)
        if self.exact:
            return {key for key, texts in found if (value in texts) != negate}
        return {key for key, texts in found if any(value in t for t in texts) != negate}


@dataclass(frozen=True, slots=True)
class FieldNumber:
    field: str
    op: str
    value: float

    def matches(self, fields: Fields, text: str) -> bool:
        compare = _COMPARE[self.op]
        for key in _candidates(self.field):
            numbers = [n for n in map(number, _values(fields.get(key))) if n is not None]
            if numbers:
                return any(compare(n, self.value) for n in numbers)
        return False

    def select(self, columns: Columns, within: Iterable[Hashable] | None = None) -> set[Hashable]:
        compare, value = _COMPARE[self.op], self.value
        found = _within(columns.numbers(self.field), within)
        return {key for key, numbers in found if any(compare(n, value) for n in numbers)}


@dataclass(frozen=True, slots=True)
class Not:
    term: Term

    def matches(self, fields: Fields, text: str) -> bool:
        return not self.term.matches(fields, text)

    def select(self, columns: Columns, within: Iterable[Hashable] | None = None) -> set[Hashable]:
        inner = self.term.select(columns)
        return {key for key in (columns.all_keys() if within is None else within) if key not in inner}


Term = Pattern | FieldText | FieldNumber | Not

_RISING = {">": (">", ">="), ">=": (">=",), "<": ("<", "<="), "<=": ("<=",), "=": ("=",)}
"""For each comparison, the comparisons of the same field it narrows when its value is further
out: ``temp>65`` keeps only rows ``temp>6`` keeps, and so does ``temp>=65``... not ``temp>=6``."""


def narrows(term: Term, wider: Term) -> bool:
    """True when every row ``term`` keeps, ``wider`` keeps too (judged on those rows alone, it
    gives the same answer): what typing one more character usually does. False when unsure."""
    if isinstance(term, Pattern) and isinstance(wider, Pattern):
        text, within = term.literal, wider.literal
        return text is not None and within is not None and within in text
    if isinstance(term, FieldText) and isinstance(wider, FieldText):
        plain = not (term.exact or term.negate or wider.exact or wider.negate)
        return plain and term.field == wider.field and wider.value in term.value
    if isinstance(term, FieldNumber) and isinstance(wider, FieldNumber):
        if term.field != wider.field or wider.op not in _RISING.get(term.op, ()):
            return False
        if term.op == "=":
            return term.value == wider.value
        return term.value >= wider.value if term.op.startswith(">") else term.value <= wider.value
    return False


@dataclass(frozen=True, slots=True)
class Query:
    """All of ``terms`` must match; no terms matches every row."""

    source: str = ""
    terms: tuple[Term, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.terms

    def matches(self, fields: Fields, text: str) -> bool:
        return all(term.matches(fields, text) for term in self.terms)


def _pattern(term: str) -> Pattern:
    try:
        return Pattern(re.compile(term, re.IGNORECASE))
    except (re.error, RecursionError, OverflowError):
        return Pattern(re.compile(re.escape(term), re.IGNORECASE))


def parse_term(term: str) -> Term | QueryError:
    if term.startswith("!"):
        inner = term[1:]
        if not inner:
            return QueryError(term, "nothing to invert after '!'")
        parsed = parse_term(inner)
        return parsed if isinstance(parsed, QueryError) else Not(parsed)
    match = _FIELD_TERM.fullmatch(term)
    if match is None:
        return _pattern(term)
    field, op, value = match["field"].casefold(), match["op"], match["value"]
    if not value:
        return QueryError(term, f"no value after '{op}'")
    if op == ":":
        return FieldText(field, value.casefold())
    n = number(value)
    if n is not None:
        return FieldNumber(field, op, n)
    if op in ("=", "!="):
        return FieldText(field, value.casefold(), exact=True, negate=op == "!=")
    return QueryError(term, f"{value!r} is not a number")


def parse_query(text: str) -> Query | QueryError:
    """``text`` as typed -> a :class:`Query`, or the first bad word as a :class:`QueryError`."""
    terms: list[Term] = []
    for word in text.split():
        parsed = parse_term(word)
        if isinstance(parsed, QueryError):
            return QueryError(word, parsed.reason)
        terms.append(parsed)
    return Query(text.strip(), tuple(terms))


def parse_lenient(text: str) -> tuple[Query, QueryError | None]:
    """The query of ``text``'s good words (its ``source`` is those words) and the first bad one:
    while the operator is still typing ``temp>``, the rest of the filter keeps working."""
    first: QueryError | None = None
    words: list[str] = []
    terms: list[Term] = []
    for word in text.split():
        parsed = parse_term(word)
        if isinstance(parsed, QueryError):
            first = first or QueryError(word, parsed.reason)
        else:
            words.append(word)
            terms.append(parsed)
    return Query(" ".join(words), tuple(terms)), first
