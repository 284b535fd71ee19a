"""The fast filter path (a query judged a term and a column at a time, matches kept until the rows
change) must keep exactly the rows the plain predicate keeps, and a repeated row must be reused."""

from __future__ import annotations

import random

from cockpit.query import Query, parse_query
from tests.states import sample_state
from widgets.row_set import RowSet
from widgets.rows import GPU_COLUMNS, gpu_rows
from widgets.table_model import Column, Row

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
        return table.shown({})[0]
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
            assert table.shown({})[0] == plain(table, query), text
        table.sort_index = 2
        table.predicate = parse_query("temp>50").matches  # type: ignore[union-attr]
        assert table.shown({})[0] == plain(table, parse_query("temp>50"))  # type: ignore[arg-type]
        table.sort_index = None


def test_unchanged_gpu_rows_are_the_same_objects_and_keep_the_filter_cache() -> None:
    state = sample_state()
    first, second = gpu_rows(state), gpu_rows(state)
    assert first and all(a is b for a, b in zip(first, second, strict=True))
    table = RowSet(GPU_COLUMNS)
    table.load(first)
    query = parse_query("temp>60")
    table.predicate = query.matches  # type: ignore[union-attr]
    keys = table.shown({})[0]
    assert table._selected, "the term's matches are kept"
    table.load(second)
    assert table._selected and table.shown({})[0] == keys
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
            table.shown({})
        replaced = rows(100 + round_)
        picked = rnd.sample(range(len(current)), 40)
        current = [replaced[i] if i in picked else row for i, row in enumerate(current)]
        table.load(current)
        assert table._selected, "matches of unchanged rows are kept, not thrown away"
        for query in queries:
            table.predicate = query.matches
            assert table.shown({})[0] == plain(table, query), (round_, query)


def test_a_refresh_that_changes_some_rows_merges_only_those_and_shows_the_same() -> None:
    """shown() after a load that changed a few rows (same keys) merges only those rows with what is
    drawn; keys and cells, deadbands included, must equal what merging every row gives."""
    rnd = random.Random(11)
    banded = tuple(
        Column(c.key, c.label, c.width, align=c.align, deadband=8.0 if c.key == "temp" else 0.0)
        for c in COLUMNS
    )
    fast, full = RowSet(banded), RowSet(banded)
    current = rows(0)
    drawn_fast: dict = {}
    drawn_full: dict = {}
    incremental = 0
    for round_ in range(12):
        if round_ % 4 == 3:  # a filter now and then: the shown rows change
            query = parse_query(rnd.choice(["temp>50", "node-01", "!tag:lab"]))
            fast.predicate = full.predicate = query.matches  # type: ignore[union-attr]
        replaced = rows(200 + round_)
        picked = set(rnd.sample(range(len(current)), 25))
        current = [replaced[i] if i in picked else row for i, row in enumerate(current)]
        fast.load(current)
        full.load(current)
        full._changed = None  # as if rows had come and gone: every row merged again
        keys_fast, drawn_fast = fast.shown(drawn_fast)
        keys_full, drawn_full = full.shown(drawn_full)
        incremental += fast.last_changed is not None
        assert keys_fast == keys_full and drawn_fast == drawn_full, round_
    assert incremental >= 4, "the incremental path ran"
