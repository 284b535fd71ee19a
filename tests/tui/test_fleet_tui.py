"""The rented fleet from the keyboard, against the simulated orchestrators and Vast API on
loopback: the partition at a glance, and stopping idle instances, confirmed and audited."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from cockpit.app import CockpitApp, Options
from cockpit.config import load_cluster
from cockpit.sim import SimCluster
from cockpit.sim.remap import DEMO_KEY_ENV, on_loopback
from cockpit.sim.vast import SIM_API_KEY
from screens.action_menu import ActionMenu
from screens.confirm import ConfirmScreen
from widgets.live_table import LiveTable
from widgets.log_pane import LogPane

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def ringrift(tmp_path: Path):
    os.environ[DEMO_KEY_ENV] = SIM_API_KEY
    cluster = on_loopback(load_cluster(ROOT / "examples" / "ringrift.yaml"))
    fleet = cluster.fleet_thresholds.model_copy(update={"idle_after_s": 0})
    cluster = cluster.model_copy(update={"fleet_thresholds": fleet, "refresh": 1})
    sim = SimCluster(cluster, state_dir=tmp_path / "sim", known_hosts=tmp_path / "kh", ephemeral_ports=True)
    await sim.start()
    yield sim
    await sim.stop()


async def _until(pilot, check, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.1)


async def test_stop_all_idle_instances_is_confirmed_and_audited(ringrift, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    app = CockpitApp(ringrift.effective_cluster(), Options(audit_path=audit))
    async with app.run_test(size=(150, 45)) as pilot:

        def idle() -> dict:
            state = app.dashboard.state
            return dict(state.fleet.idle_for or {}) if state and state.fleet else {}

        await _until(pilot, lambda: idle())
        await pilot.press("i")
        table = app.dashboard.query_one("#instances", LiveTable)
        await _until(pilot, lambda: table.row_keys)
        await pilot.press("a")
        assert isinstance(app.screen, ActionMenu)
        entry = next(e for e in app.screen.entries if e.action.name == "vast-stop-idle")
        assert "saving $" in entry.action.description
        await pilot.press("I")
        assert isinstance(app.screen, ConfirmScreen)
        assert all(inv.display.startswith("PUT ") for inv in app.screen.invocations)
        count = len(app.screen.invocations)
        await pilot.press("tab", "enter")
        log = app.dashboard.query_one(LogPane)
        await _until(
            pilot, lambda: not app.actions.running and "──" in "\n".join(line.text for line in log.log.lines)
        )
        records = [json.loads(line) for line in audit.read_text().splitlines()]
        assert sum(r["event"] == "start" for r in records) == count
        assert all(r.get("exit_status") == 200 for r in records if r["event"] == "end")
        assert SIM_API_KEY not in audit.read_text(), "the API key never reaches the audit trail"
