"""Remote text is hostile: ``clean`` strips what a terminal would obey, and cells are never markup."""

from __future__ import annotations

import re

import pytest
from rich.cells import cell_len
from rich.segment import Segment
from rich.text import Text

from cockpit.sanitize import clean
from widgets.table_model import fit

CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\x1b[31mred\x1b[0m", "red"),  # SGR colour
        ("\x1b[2Jcleared", "cleared"),  # clear screen
        ("\x1b[H\x1b[?1049hhidden", "hidden"),  # cursor home + alternate screen
        ("\x1b[38;2;255;0;0mtrue colour\x1b[m", "true colour"),
        ("before\x1b]0;pwned\x07after", "beforeafter"),  # OSC 0: retitle the window, BEL-terminated
        ("before\x1b]2;pwned\x1b\\after", "beforeafter"),  # OSC 2, ST-terminated
        ("\x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\", "click me"),  # OSC 8 hyperlink
        ("\x1b]52;c;cm0gLXJmIH4=\x07", ""),  # OSC 52: write the clipboard
        ("\x1bPq#0;2;0;0;0#1~~\x1b\\sixel", "sixel"),  # DCS
        ("\x1b_Gf=100;AAAA\x1b\\kitty", "kitty"),  # APC graphics
        ("\x1b7\x1b8\x1bcreset", "reset"),  # two-byte escapes: save/restore cursor, RIS
        ("\x1b(0lqk\x1b(B", "lqk"),  # nF: switch to the line-drawing character set and back
        ("\x1bM\x1bDup", "up"),  # Fe: reverse index, index
        ("\x9b31mC1 CSI", "C1 CSI"),  # 8-bit CSI
        ("\x9d0;title\x9ctext", "text"),  # 8-bit OSC ended by 8-bit ST
        ("nul\x00byte", "nul?byte"),
        ("bell\x07", "bell?"),
        ("del\x7f", "del?"),
        ("nel\x85", "nel?"),  # other C1 controls become visible
        ("lone\x1b", "lone?"),
        ("tab\there", "tab here"),
        ("multi\nline\r\nlog", "multi line  log"),
        ("bad \ufffd utf8", "bad ? utf8"),
        ("unterminated \x1b]0;title", "unterminated "),
        ("plain text, 100% safe", "plain text, 100% safe"),
        ("NVIDIA GeForce RTX 5090", "NVIDIA GeForce RTX 5090"),
        ("日本語 ok", "日本語 ok"),
    ],
)
def test_clean(raw, expected):
    assert clean(raw) == expected


def test_invalid_utf8_bytes_from_a_node():
    """Bytes that are not UTF-8 arrive as U+FFFD after a lenient decode and are shown as '?'."""
    raw = b"python3 \xff\xfe train.py \xc3\x28".decode("utf-8", errors="replace")
    assert clean(raw) == "python3 ?? train.py ?("


def test_an_escape_revealed_by_removing_another_is_not_left_live():
    assert "\x1b" not in clean("\x1b\x1b[0m[31mred")


@pytest.mark.parametrize("markup", ["[bold red]alert[/]", "[link=https://evil.example]x[/link]", "[/]"])
def test_rich_markup_stays_literal_text(markup):
    assert clean(markup) == markup
    cell = fit(clean(markup), 40, "left")
    assert cell.rstrip() == markup  # fit pads plain text; it never parses markup
    assert Segment(cell).text.rstrip() == markup
    assert Text(cell).plain.rstrip() == markup


def test_markup_would_have_been_obeyed_had_it_been_parsed():
    """Why the table builds Segments from plain strings: parsed, the same text changes."""
    assert Text.from_markup("[bold red]alert[/]").plain == "alert"
    assert Text(fit(clean("[bold red]alert[/]"), 20, "left")).plain.rstrip() == "[bold red]alert[/]"


def test_length_limit():
    assert clean("x" * 512) == "x" * 512
    long = clean("x" * 513)
    assert len(long) == 512 and long.endswith("…")
    assert clean("abcdef", limit=4) == "abc…"


def test_limit_applies_after_escapes_are_removed():
    assert clean("\x1b[31m" * 200 + "ok") == "ok"


def test_fit_truncates_wide_text_by_cells():
    cell = fit(clean("日本語のプロセス名"), 7, "left")
    assert cell_len(cell) == 7 and cell.endswith("…")


@pytest.mark.parametrize(
    "raw", ["\x1b[2J\x1b]0;x\x07\x9b1m\x00\x1f\x7f\x9f", "".join(map(chr, range(0x00, 0xA0)))]
)
def test_no_control_survives(raw):
    assert not CONTROLS.search(clean(raw))
