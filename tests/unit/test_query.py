"""The ``/`` filter grammar as a table: what the operator types, a row, and whether it shows."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cockpit.commands import COMMANDS, InputHistory, complete_command, resolve_command
from cockpit.query import Query, QueryError, number, parse_lenient, parse_query

# Fields as LiveTable builds them from widgets.rows' node and GPU rows (column key, header word,
# then what the renderer adds), and the text a regex term searches.
NODE = {
    "node": "hydra-ai",
    "status": "up",
    "cpu": 41.0,
    "mem": 62.0,
    "hot": 83.0,
    "gpus": "2",
    "power": 611.0,
    "info": "inference nixos",
    "tags": ("inference", "nixos"),
    "gpu_model": ["RTX 5090", "RTX 5090"],
}
DOWN = {"node": "vast-3070", "status": "DOWN", "cpu": None, "hot": None, "tags": ["rented"], "power": None}
GPU = {"node": "hydra-ai", "gpu": "1", "name": "RTX 5090", "model": "RTX 5090", "temp": 83.0, "util": 97.0}
NODE_TEXT = "hydra-ai up now 3.1 41% 62% 40% 2 83°C 611W inference nixos"
DOWN_TEXT = "vast-3070 DOWN 2m – – – – – – – connection refused"


@pytest.mark.parametrize(
    ("query", "fields", "text", "expected"),
    [
        ("", NODE, NODE_TEXT, True),
        ("   ", NODE, NODE_TEXT, True),
        # Regex on the row's text, case-insensitive.
        ("hydra", NODE, NODE_TEXT, True),
        ("HYDRA", NODE, NODE_TEXT, True),
        ("^hydra-(ai|compute)", NODE, NODE_TEXT, True),
        ("^vast", NODE, NODE_TEXT, False),
        ("refused", DOWN, DOWN_TEXT, True),
        # An invalid regex is literal text, never an error.
        ("(hydra", NODE, NODE_TEXT, False),
        ("(hydra", NODE, "(hydra-ai", True),
        ("[", NODE, "a [ b", True),
        ("*", NODE, "2*3", True),
        # Invert.
        ("!hydra", NODE, NODE_TEXT, False),
        ("!hydra", DOWN, DOWN_TEXT, True),
        ("!status:down", DOWN, DOWN_TEXT, False),
        ("!status:down", NODE, NODE_TEXT, True),
        # field:value is a case-insensitive substring; a list matches on any element.
        ("status:down", DOWN, DOWN_TEXT, True),
        ("status:DOWN", NODE, NODE_TEXT, False),
        ("node:hydra", NODE, NODE_TEXT, True),
        ("node:hydra-ai", NODE, NODE_TEXT, True),
        ("tag:inference", NODE, NODE_TEXT, True),
        ("tags:nix", NODE, NODE_TEXT, True),
        ("tag:inference", DOWN, DOWN_TEXT, False),
        ("gpu:5090", NODE, NODE_TEXT, True),
        ("gpu:5090", GPU, "", True),
        ("gpu:4090", GPU, "", False),
        # A field the row lacks never matches; inverted, it always does.
        ("owner:bob", NODE, NODE_TEXT, False),
        ("!owner:bob", NODE, NODE_TEXT, True),
        # Numbers, with units tolerated; aliases reach the column (temp -> hot on nodes).
        ("cpu>40", NODE, NODE_TEXT, True),
        ("cpu>41", NODE, NODE_TEXT, False),
        ("cpu>=41", NODE, NODE_TEXT, True),
        ("cpu<41.5", NODE, NODE_TEXT, True),
        ("cpu<=40", NODE, NODE_TEXT, False),
        ("cpu=41", NODE, NODE_TEXT, True),
        ("cpu!=41", NODE, NODE_TEXT, False),
        ("mem>90%", NODE, NODE_TEXT, False),
        ("temp>80", NODE, NODE_TEXT, True),
        ("temp>80C", GPU, "", True),
        ("temp>80°C", GPU, "", True),
        ("temp<80", GPU, "", False),
        ("power>=600W", NODE, NODE_TEXT, True),
        ("util>=97%", GPU, "", True),
        ("gpus=2", NODE, NODE_TEXT, True),
        ("gpu=1", GPU, "", True),
        # None never satisfies a comparison (an unknown temperature is not cool), even "<".
        ("temp<80", DOWN, DOWN_TEXT, False),
        ("cpu!=41", DOWN, DOWN_TEXT, False),
        ("!temp>80", DOWN, DOWN_TEXT, True),
        # A non-number after = or != is whole-text equality.
        ("status=up", NODE, NODE_TEXT, True),
        ("status=u", NODE, NODE_TEXT, False),
        ("status!=up", DOWN, DOWN_TEXT, True),
        ("tag=nixos", NODE, NODE_TEXT, True),
        # All terms must hold.
        ("hydra temp>80 tag:inference", NODE, NODE_TEXT, True),
        ("hydra temp>90 tag:inference", NODE, NODE_TEXT, False),
        ("!status:down !stale", NODE, NODE_TEXT, True),
    ],
)
def test_query_matches(query: str, fields: dict, text: str, expected: bool) -> None:
    parsed = parse_query(query)
    assert isinstance(parsed, Query), parsed
    assert parsed.matches(fields, text) is expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("temp>hot", "temp>hot: 'hot' is not a number"),
        ("hydra temp< status:up", "temp<: no value after '<'"),
        ("status:", "status:: no value after ':'"),
        ("!", "!: nothing to invert after '!'"),
        ("!cpu>=x", "!cpu>=x: 'x' is not a number"),
    ],
)
def test_bad_terms_are_one_line_naming_the_term(query: str, message: str) -> None:
    error = parse_query(query)
    assert isinstance(error, QueryError)
    assert str(error) == message
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (80, 80.0),
        (80.5, 80.5),
        ("80C", 80.0),
        ("72°C", 72.0),
        ("90%", 90.0),
        ("300W", 300.0),
        (" -5 ", -5.0),
        (".5", 0.5),
        ("300/350W", None),
        ("–", None),
        ("", None),
        (None, None),
        (True, None),
        (float("nan"), None),
        (["1"], None),
    ],
)
def test_number_tolerates_units(value: object, expected: float | None) -> None:
    assert number(value) == expected


def test_hostile_input_never_raises() -> None:
    for text in ["(" * 500, "a{99999999999}", "\\", "x:y:z", "!!!a", "a>>b", "\x1b[31m", "(?P<", "a" * 5000]:
        parsed = parse_query(text)
        if isinstance(parsed, Query):
            parsed.matches(NODE, NODE_TEXT)


def test_double_invert() -> None:
    parsed = parse_query("!!hydra")
    assert isinstance(parsed, Query) and parsed.matches(NODE, NODE_TEXT)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nodes", "nodes"),
        (":no", "nodes"),
        ("node", "nodes"),
        ("GPU", "gpus"),
        ("co web-1", "containers"),
        ("docker", "containers"),
        ("svc", "services"),
        ("al", "alerts"),
        ("logs hydra-ai", "log"),
        ("peers", "peers"),
        ("q", "quit"),
        ("nod", None),
        ("", None),
        (":", None),
    ],
)
def test_resolve_command(text: str, expected: str | None) -> None:
    assert resolve_command(text) == expected


def test_every_alias_is_unique() -> None:
    words = [w for name, aliases in COMMANDS.items() for w in (name, *aliases)]
    assert len(words) == len(set(words))


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("n", "nodes"),
        ("co", "containers"),
        ("cos", "cost"),
        ("g", "gpus"),
        ("doc", "docker"),
        ("x", None),
        ("", None),
    ],
)
def test_complete_command(prefix: str, expected: str | None) -> None:
    assert complete_command(prefix) == expected


def test_history_walks_back_and_returns_the_draft() -> None:
    history = InputHistory(["nodes", "gpus"])
    assert history.older("co") == "gpus"
    assert history.older("gpus") == "nodes"
    assert history.older("nodes") is None
    assert history.newer() == "gpus"
    assert history.newer() == "co"
    assert history.newer() is None


def test_history_keeps_the_last_50_without_repeats() -> None:
    history = InputHistory()
    for i in range(60):
        history.add(f"cmd{i}")
    history.add("cmd30")
    history.add("  ")
    assert len(history.entries) == 50
    assert history.entries[-1] == "cmd30"
    assert history.entries.count("cmd30") == 1
    assert history.entries[0] == "cmd10"


def test_lenient_parse_applies_the_good_words_and_names_the_first_bad_one() -> None:
    query, error = parse_lenient("  hydra   temp>  !status:down cpu>x ")
    assert query.source == "hydra !status:down"
    assert str(error) == "temp>: no value after '>'"
    assert query.matches(NODE, NODE_TEXT)
    assert parse_lenient("hydra") == (parse_query("hydra"), None)


def test_filter_and_row_logic_import_no_textual() -> None:
    """The grammar, commands and row logic stay headless (tests/unit/test_import_hygiene.py's rule)."""
    names = ["cockpit.query", "cockpit.commands", "widgets.table_model", "widgets.row_set"]
    code = (
        f"import json, sys\nfor name in {names!r}: __import__(name)\n"
        "print(json.dumps([m for m in sys.modules if m.split('.')[0] == 'textual']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
