"""Snapshot tests: every theme at the smallest size operators use (80x24, a tmux split) and a
large one (160x50), plus each lower view, the node detail and the help screen."""

from __future__ import annotations

import pytest

from cockpit.app import StateUpdated
from tests.states import sample_state
from tests.tui.test_dashboard import make_app
from themes import THEME_NAMES


async def _load(pilot) -> None:
    pilot.app.post_message(StateUpdated(sample_state()))
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
@pytest.mark.parametrize("theme", THEME_NAMES)
def test_dashboard(snap_compare, theme: str, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(theme), terminal_size=size, run_before=_load)


@pytest.mark.parametrize("key", ["c", "s", "u"], ids=["containers", "services", "units"])
def test_lower_views(snap_compare, key: str) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 40), press=[key], run_before=_load)


def test_node_detail(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=(160, 50), press=["enter"], run_before=_load)


def test_filtered_and_marked(snap_compare) -> None:
    keys = ["space", "slash", *"!tag:storage", "enter"]
    assert snap_compare(make_app(), terminal_size=(120, 40), press=keys, run_before=_load)


def test_help_screen(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 40), press=["question_mark"], run_before=_load)
