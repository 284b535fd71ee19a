"""Filter, sort and marks of a live table on plain rows (no Textual), as the table uses them."""

from __future__ import annotations

from cockpit.query import parse_query
from widgets.row_set import RowSet
from widgets.table_model import Column, Row, header_text, row_fields, sort_key

COLUMNS = (
    Column("node", "NODE", 10),
    Column("status", "STATUS", 6),
    Column("temp", "TEMP", 5, align="right", deadband=2),
    Column("name", "MODEL", 8),
)


def rows(temps: dict[str, float | None]) -> list[Row]:
    return [
        Row(
            name,
            (
                (name, ""),
                ("DOWN" if t is None else "up", ""),
                ("–" if t is None else f"{t:.0f}°C", "", t),
                ("RTX", ""),
            ),
            {"tags": ("lab",) if name.startswith("a") else ()},
        )
        for name, t in temps.items()
    ]


def test_fields_come_from_column_keys_header_words_and_the_renderer() -> None:
    cells = (("a", ""), ("up", ""), ("80°C", "", 80.0), ("RTX 5090", ""))
    fields = row_fields(COLUMNS, cells, {"tags": ("lab",)})
    assert fields == {
        "node": "a",
        "status": "up",
        "temp": 80.0,
        "name": "RTX 5090",
        "model": "RTX 5090",
        "tags": ("lab",),
    }


def test_sort_keys_put_numbers_first_numerically_and_blanks_nowhere() -> None:
    assert sort_key(("10", "")) > sort_key(("9", ""))  # type: ignore[operator]
    assert sort_key(("x", "", 3.0)) == (0, 3.0)
    assert sort_key(("–", "")) is None
    assert sort_key(("", "", None)) is None
    assert sort_key(("abc", "")) == (1, "abc")


def test_header_keeps_the_arrow_in_a_narrow_column() -> None:
    assert header_text(COLUMNS[1], "▲") == "STATU▲"
    assert header_text(COLUMNS[2], "▼") == "TEMP▼"
    assert header_text(COLUMNS[0], "") == "NODE      "


def test_filter_sort_and_blanks_last_both_ways() -> None:
    table = RowSet(COLUMNS)
    table.load(rows({"a1": 70.0, "b1": None, "a2": 85.0, "b2": 85.0, "b3": 60.0}))
    keys = table.shown()[0]
    assert keys == ["a1", "b1", "a2", "b2", "b3"]
    table.sort_index = 2
    assert table.shown()[0] == ["b3", "a1", "a2", "b2", "b1"]
    table.reverse = True
    assert table.shown()[0] == ["a2", "b2", "a1", "b3", "b1"], "stable: a2 before b2 both ways"
    query = parse_query("tag:lab")
    table.predicate = query.matches  # type: ignore[union-attr]
    assert table.shown()[0] == ["a2", "a1"]


def test_sort_follows_the_value_on_screen_not_jitter_inside_the_deadband() -> None:
    table = RowSet(COLUMNS)
    table.sort_index = 2
    table.load(rows({"a": 70.0, "b": 71.0}))
    keys, drawn, _ = table.shown()
    assert keys == ["a", "b"]
    table.load(rows({"a": 71.5, "b": 70.5}))
    keys, drawn, before = table.shown()
    assert keys == ["a", "b"], "both moved less than the 2-degree deadband: nothing reorders"
    assert drawn["a"][2][0] == "70°C"
    assert not before, "nothing shown changed"
    table.load(rows({"a": 75.0, "b": 70.5}))
    keys, drawn, before = table.shown()
    assert keys == ["b", "a"] and drawn["a"][2][0] == "75°C"
    assert before == {"a": rows({"a": 70.0})[0].cells}, "what the changed row showed before"


def test_marks_leave_with_their_rows() -> None:
    table = RowSet(COLUMNS)
    table.load(rows({"a": 1.0, "b": 2.0}))
    table.marks |= {"a", "b"}
    assert table.load(rows({"a": 1.0, "b": 2.0})) is False
    assert table.load(rows({"a": 1.0})) is True
    assert table.marks == {"a"}


def test_index_of_finds_a_shown_row_filtered_or_sorted_and_none_for_a_hidden_one() -> None:
    table = RowSet(COLUMNS)
    table.load(rows({"a1": 70.0, "b1": None, "a2": 85.0, "b2": 86.0, "b3": 60.0}))
    for sort_index in (None, 2):
        table.sort_index = sort_index
        for text in ("", "tag:lab", "!tag:lab", "temp>65"):
            query = parse_query(text)
            table.predicate = None if not text else query.matches  # type: ignore[union-attr]
            keys = table.shown()[0]
            for key in ("a1", "b1", "a2", "b2", "b3", "gone"):
                expected = keys.index(key) if key in keys else None
                assert table.index_of(keys, key) == expected, (sort_index, text, key)
