"""Every incident scenario of the demo is spotted by the cockpit: its alerts appear within a few
cycles, through the real SSH and HTTP paths, and the runbook's remedy clears the GPU one."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from cockpit.config import load_cluster
from cockpit.engine import Engine
from cockpit.sim import SimCluster
from cockpit.sim.scenarios import FLEET_SCENARIOS, SCENARIOS, apply

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    """The simulated hardware's time, stepped by the test (temperatures settle over minutes)."""

    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


async def _demo(tmp_path: Path, clock: Clock) -> tuple[SimCluster, Engine]:
    cluster = load_cluster(ROOT / "cluster.yaml")
    thresholds = cluster.thresholds.model_copy(update={"hold_s": 0})
    cluster = cluster.model_copy(update={"thresholds": thresholds, "workload_refresh": 1})
    sim = SimCluster(
        cluster,
        state_dir=tmp_path / "sim",
        known_hosts=tmp_path / "known_hosts",
        ephemeral_ports=True,
        clock=clock,
    )
    await sim.start()
    return sim, Engine(sim.effective_cluster())


async def _alerts_until(engine: Engine, clock: Clock, wanted: set[tuple[str, str]], cycles: int = 12):
    state = None
    for _ in range(cycles):
        clock.t += 30
        state = await engine.cycle(wait=5)
        seen = {(a.subject, a.metric) for a in state.alerts}
        if wanted <= seen:
            return state
        await asyncio.sleep(0.2)
    raise AssertionError(f"never raised {wanted - seen}; alerts were {sorted(seen)}")


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n not in FLEET_SCENARIOS])
async def test_each_scenario_is_spotted(tmp_path: Path, name: str) -> None:
    clock = Clock()
    sim, engine = await _demo(tmp_path, clock)
    try:
        await engine.cycle(wait=5)
        scenario = await apply(sim, name)
        state = await _alerts_until(engine, clock, set(scenario.expect))
        if name == "dns-down":
            assert set(state.blocked_by.values()) == {"adguard"}
            roots = [a for a in state.alerts if a.metric == "service_down" and a.severity == "critical"]
            assert [a.subject for a in roots] == ["service:adguard"], "one root cause, not ten red rows"
    finally:
        await engine.close()
        await sim.stop()


async def test_lower_power_limit_cools_the_overheating_gpu(tmp_path: Path) -> None:
    clock = Clock()
    sim, engine = await _demo(tmp_path, clock)
    try:
        await apply(sim, "gpu-overheat")
        await _alerts_until(engine, clock, {("hydra-ai/gpu0", "gpu_temp")})
        pool = engine.pool
        result = await pool.run("hydra-ai", "sudo -n nvidia-smi -i 0 -pl 400", 10)
        assert result.exit_status == 0, result.stdout
        for _ in range(10):
            clock.t += 30
            state = await engine.cycle(wait=5)
            gpu = state.node("hydra-ai").gpus[0]
            if gpu.temp_c is not None and gpu.temp_c < 80:
                break
        assert gpu.power_limit_w == 400 and gpu.temp_c < 80
    finally:
        await engine.close()
        await sim.stop()


def test_cli_lists_exactly_the_simulators_scenarios() -> None:
    from cockpit.cli import SCENARIO_NAMES

    assert tuple(SCENARIOS) == SCENARIO_NAMES


async def test_check_can_replace_the_health_script_for_services(tmp_path: Path) -> None:
    """`cockpit check --only services` on the dns-down incident: CRITICAL, the root cause named."""
    from cockpit.check import CRITICAL, OK, run_check

    clock = Clock()
    sim, engine = await _demo(tmp_path, clock)
    await engine.close()
    try:
        await apply(sim, "dns-down")
        lines: list[str] = []
        assert await run_check(sim.effective_cluster(), {"services"}, lines.append) == CRITICAL
        assert "CRITICAL adguard: down (connection refused)" in lines, lines
        assert any("blocked by adguard" in line for line in lines)
        assert await run_check(sim.effective_cluster(), {"units"}, lines.append) == OK
    finally:
        await sim.stop()


async def _ringrift(tmp_path: Path, clock: Clock) -> tuple[SimCluster, Engine]:
    import os

    from cockpit.sim.remap import DEMO_KEY_ENV, on_loopback
    from cockpit.sim.vast import SIM_API_KEY

    os.environ[DEMO_KEY_ENV] = SIM_API_KEY
    cluster = on_loopback(load_cluster(ROOT / "examples" / "ringrift.yaml"))
    fleet = cluster.fleet_thresholds.model_copy(update={"join_grace_s": 0, "idle_after_s": 0})
    cluster = cluster.model_copy(
        update={"thresholds": cluster.thresholds.model_copy(update={"hold_s": 0}), "fleet_thresholds": fleet}
    )
    sim = SimCluster(
        cluster,
        state_dir=tmp_path / "sim",
        known_hosts=tmp_path / "known_hosts",
        ephemeral_ports=True,
        clock=clock,
    )
    await sim.start()
    return sim, Engine(sim.effective_cluster())


@pytest.mark.parametrize("name", ["partition", "not-joining", "cost-spike"])
async def test_fleet_scenarios_are_spotted_in_the_ringrift_demo(tmp_path: Path, name: str) -> None:
    clock = Clock()
    sim, engine = await _ringrift(tmp_path, clock)
    try:
        state = await engine.cycle(wait=5)
        assert state.fleet is not None and state.fleet.cost is not None
        assert not any(a.metric == "p2p_partition" for a in state.alerts)
        await apply(sim, name)
        wanted = set(SCENARIOS[name].expect) or {("*", "p2p_not_joining")}
        for _ in range(6):
            state = await engine.cycle(wait=5)
            seen = {(a.subject, a.metric) for a in state.alerts}
            seen |= {("*", metric) for _, metric in seen}
            if wanted <= seen:
                break
            await asyncio.sleep(0.3)
        assert wanted <= seen, sorted(seen)
        if name == "partition":
            assert "PARTITION" in __import__("widgets.rows", fromlist=["summary"]).summary(state)
    finally:
        await engine.close()
        await sim.stop()
