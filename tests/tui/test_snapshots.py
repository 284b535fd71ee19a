"""Snapshot tests of the dashboard at the sizes operators use (80x24 in a tmux split, 120x40)."""

from __future__ import annotations

import pytest

from cockpit.app import StateUpdated
from tests.states import sample_state
from tests.tui.test_dashboard import make_app


async def _load(pilot) -> None:
    pilot.app.post_message(StateUpdated(sample_state()))
    await pilot.pause()


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
def test_dashboard(snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=_load)


@pytest.mark.parametrize("theme", ["cockpit-light", "cockpit-contrast", "cockpit-ansi"])
def test_dashboard_themes(snap_compare, theme: str) -> None:
    assert snap_compare(make_app(theme), terminal_size=(120, 40), run_before=_load)


def test_help_screen(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=(120, 40), press=["question_mark"], run_before=_load)
