"""The fast filter path (a query judged a term and a column at a time, matches kept until the rows
change) must keep exactly the rows the plain predicate keeps, and a repeated row must be reused."""

from __future__ import annotations

import random

import pytest

from cockpit.query import Query, narrows, parse_lenient, parse_query, parse_term
from tests.states import sample_state
from widgets.row_set import KEPT_TERMS, RowSet
from widgets.rows import GPU_COLUMNS, gpu_rows
from widgets.table_model import Column, Row, within_deadband

COLUMNS = (
    Column("node", "NODE", 10),
    Column("status", "STATUS", 6),
    Column("temp", "TEMP", 5, align="right"),
    Column("name", "MODEL", 8),
    Column("mem", "MEM", 4),
)
QUERIES = [
    "node-01", "NODE-0[12]", "temp>60", "temp<=40", "temp=55", "!temp>50", "model:5090", "gpu:4090",
    "tag:lab", "!tag:lab", "tags=lab", "status=up", "status!=up", "mem>50", "mem:%", "nope:x",
    "!nope:x", "temp>60 node-0", "(unfinished", "hot>70 !status=down", "name:rtx model:rtx",
]  # fmt: skip


def rows(seed: int) -> list[Row]:
    rnd = random.Random(seed)
    out = []
    for i in range(300):
        temp = None if rnd.random() < 0.1 else float(rnd.randint(30, 90))
        model = rnd.choice(["RTX 5090", "RTX 4090", "H100"])
        cells = (
            (f"node-{i:04d}", ""),
            ("up" if temp is not None else "DOWN", ""),
            ("–" if temp is None else f"{temp:.0f}°C", "", temp),
            (model, ""),
            (f"{rnd.randint(0, 100)}%", ""),
        )
        out.append(Row(f"node-{i:04d}", cells, {"tags": ("lab",) if i % 3 else (), "temp_c": temp}))
    return out


def plain(table: RowSet, query: Query) -> list[object]:
    """The same filter through the generic predicate path (a lambda is not ``Query.matches``)."""
    saved = table.predicate
    table.predicate = lambda fields, text: query.matches(fields, text)
    try:
        return table.shown()[0]
    finally:
        table.predicate = saved


def test_fast_filter_keeps_what_the_predicate_keeps_through_loads() -> None:
    table = RowSet(COLUMNS)
    for seed in range(3):
        table.load(rows(seed))
        for text in QUERIES:
            query = parse_query(text)
            assert isinstance(query, Query), text
            table.predicate = query.matches
            assert table.shown()[0] == plain(table, query), text
        table.sort_index = 2
        table.predicate = parse_query("temp>50").matches  # type: ignore[union-attr]
        assert table.shown()[0] == plain(table, parse_query("temp>50"))  # type: ignore[arg-type]
        table.sort_index = None


def test_unchanged_gpu_rows_are_the_same_objects_and_keep_the_filter_cache() -> None:
    state = sample_state()
    first, second = gpu_rows(state), gpu_rows(state)
    assert first and all(a is b for a, b in zip(first, second, strict=True))
    table = RowSet(GPU_COLUMNS)
    table.load(first)
    query = parse_query("temp>60")
    table.predicate = query.matches  # type: ignore[union-attr]
    keys = table.shown()[0]
    assert table._selected, "the term's matches are kept"
    table.load(second)
    assert table._selected and table.shown()[0] == keys
    table.load(first[1:])
    assert not table._selected, "a changed row set forgets them"


def test_a_few_changed_rows_are_judged_again_and_the_rest_keep_their_matches() -> None:
    """A refresh that changes some rows (same keys, same order) re-judges only those: every query's
    answer after it must still be exactly the plain predicate's, for each kind of term."""
    rnd = random.Random(7)
    table = RowSet(COLUMNS)
    current = rows(0)
    table.load(current)
    queries = [q for q in (parse_query(text) for text in QUERIES) if isinstance(q, Query)]
    for round_ in range(6):
        for query in queries:  # warm every cache: texts, numbers, each term's matches
            table.predicate = query.matches
            table.shown()
        replaced = rows(100 + round_)
        picked = rnd.sample(range(len(current)), 40)
        current = [replaced[i] if i in picked else row for i, row in enumerate(current)]
        table.load(current)
        assert table._selected, "matches of unchanged rows are kept, not thrown away"
        for query in queries:
            table.predicate = query.matches
            assert table.shown()[0] == plain(table, query), (round_, query)


def test_what_rows_show_follows_each_load_merged_with_what_they_showed() -> None:
    """Rows merge with what they showed as they load (a changed row at a time, or every row when
    rows came or went); what shows, deadbands included, must equal merging every row each load,
    and ``before`` must name exactly the rows whose cells changed since the last ``shown()``."""
    rnd = random.Random(11)
    banded = tuple(
        Column(c.key, c.label, c.width, align=c.align, deadband=8.0 if c.key == "temp" else 0.0)
        for c in COLUMNS
    )
    table = RowSet(banded)
    current = rows(0)
    expected: dict = {}
    grew = 0
    for round_ in range(16):
        if round_ % 4 == 3:  # a filter now and then: the shown rows change
            query = parse_query(rnd.choice(["temp>50", "node-01", "!tag:lab"]))
            table.predicate = query.matches  # type: ignore[union-attr]
        replaced = rows(200 + round_)
        picked = set(rnd.sample(range(len(current)), 25))
        current = [replaced[i] if i in picked else row for i, row in enumerate(current)]
        if round_ % 5 == 4:  # rows come and go
            current = current[3:] + [
                row._replace(key=f"new-{round_}-{i}") for i, row in enumerate(rows(round_)[:2])
            ]
            grew += 1
        table.load(current)
        shown_before = dict(expected)
        expected = {row.key: reference_merge(banded, shown_before.get(row.key), row.cells) for row in current}
        keys, shown, before = table.shown()
        if table.predicate is not None:
            assert keys == plain(table, table.predicate.__self__), round_  # type: ignore[attr-defined]
        assert dict(shown) == expected, round_
        changed = {key for key, cells in expected.items() if shown_before.get(key) != cells}
        assert set(before) == changed, round_
        assert all(before[key] == shown_before.get(key) for key in changed), round_
    assert grew >= 3


def reference_merge(columns, old, new):  # type: ignore[no-untyped-def]
    """Every cell on its own: a value within its column's deadband of what showed stays."""
    if old is None or len(old) != len(new):
        return new
    return tuple(
        o if within_deadband(columns[i], o, n) else n for i, (o, n) in enumerate(zip(old, new, strict=True))
    )


NARROWS = [
    ("node-015", "node-01", True),
    ("NODE-015", "node-01", True),  # case-insensitive either way
    ("node-01", "node-015", False),
    ("node-0[12]", "node-0", False),  # regex syntax: never assumed
    ("node-01", "node-0[12]", False),
    ("model:rtx5", "model:rtx", True),
    ("model:rtx5", "name:rtx", False),  # another field
    ("model=rtx", "model:rtx", False),  # exact: not a substring search
    ("!model:rtx5", "!model:rtx", False),
    ("temp>65", "temp>6", True),
    ("temp>=65", "temp>=6", True),
    ("temp>6", "temp>=6", True),
    ("temp>=6", "temp>6", False),
    ("temp<5", "temp<50", True),
    ("temp<50", "temp<5", False),
    ("temp=55", "temp=55", True),
    ("temp=55", "temp=5", False),
    ("temp>65", "temp<70", False),
    ("temp>65", "hot>6", False),
]


@pytest.mark.parametrize(("term", "wider", "expected"), NARROWS)
def test_a_term_narrows_another_only_when_its_rows_are_sure_to_be_among_that_ones(
    term: str, wider: str, expected: bool
) -> None:
    narrower, broader = parse_term(term), parse_term(wider)
    assert narrows(narrower, broader) is expected  # type: ignore[arg-type]
    if expected:  # and judged on the wider term's rows, it keeps what it keeps judged on all
        table = RowSet(COLUMNS)
        table.load(rows(5))
        assert narrower.select(table, broader.select(table)) == narrower.select(table)  # type: ignore[union-attr]


def test_typing_a_filter_a_character_at_a_time_keeps_what_the_predicate_keeps() -> None:
    """Each keystroke judges its new term on the rows of the term it extends (``node-0`` ->
    ``node-01``); every step must still keep exactly the rows the plain predicate keeps, and the
    matches kept must stay bounded however much is typed."""
    table = RowSet(COLUMNS)
    table.load(rows(7))
    for typed in ("node-015", "temp>65", "temp<45", "model:rtx 5090", "!tag:lab temp>7", "node-0(1"):
        for end in range(1, len(typed) + 1):
            query = parse_lenient(typed[:end])[0]
            table.predicate = query.matches
            assert table.shown()[0] == plain(table, query), typed[:end]
        for end in range(len(typed) - 1, 0, -1):  # and erased again
            query = parse_lenient(typed[:end])[0]
            table.predicate = query.matches
            assert table.shown()[0] == plain(table, query), typed[:end]
    assert len(table._selected) <= KEPT_TERMS
    table.load(rows(8))  # rows change: every term kept is judged again, or dropped
    for text in ("node-01", "node-015", "temp>6", "temp>65"):
        query = parse_query(text)
        table.predicate = query.matches  # type: ignore[union-attr]
        assert table.shown()[0] == plain(table, query), text  # type: ignore[arg-type]


def test_a_load_fed_and_judged_in_steps_with_keys_between_keeps_what_the_predicate_keeps() -> None:
    """The screen feeds a load a slice at a time and judges its changed rows ahead
    (:meth:`Loading.prejudge`), while keys go on changing the filter; what it then shows must be
    what the plain predicate keeps, and terms long out of use are dropped, not judged again."""
    rnd = random.Random(5)
    table = RowSet(COLUMNS)
    current = rows(1)
    table.load(current)
    for text in ("n", "no", "node", "node-0", "node-01", "temp>6", "temp>65", "tag:lab", "node-01 temp>6"):
        table.predicate = parse_query(text).matches  # type: ignore[union-attr]
        table.shown()
    assert len(table._selected) > 5
    for round_ in range(8):
        replaced = rows(300 + round_)
        picked = set(rnd.sample(range(len(current)), 40))
        current = [replaced[i] if i in picked else row for i, row in enumerate(current)]
        loading = table.start_load()
        for row in current:
            loading.feed(row)
        steps = loading.prejudge()
        next(steps, None)
        # keys between the slices: a term the prejudging has not seen, and one it has
        for text in rnd.sample(["temp>7", "node-02", "!tag:lab", "temp>65", "model:rtx"], 2):
            query = parse_query(text)
            table.predicate = query.matches  # type: ignore[union-attr]
            assert table.shown()[0] == plain(table, query), (round_, text)  # the old rows still
        for _ in steps:
            pass
        query = parse_query(rnd.choice(["node-01", "temp>6 tag:lab", "temp>7", "model:rtx"]))
        table.predicate = query.matches  # type: ignore[union-attr]
        table.shown()
        loading.take()
        assert loading.part is not None, "the changed rows were judged ahead"
        assert table.shown()[0] == plain(table, query), round_  # type: ignore[arg-type]
        assert len(table._selected) <= len(query.terms) + 4  # type: ignore[union-attr]
