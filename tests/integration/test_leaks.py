"""No leaks under connect/disconnect churn: fds, asyncio tasks and RSS come back to their baseline.

50 simulated nodes (the simulator, in its own process: fifty sshd daemons would measure sshd more
than us, and the client side of the churn is the same real asyncssh path either way). Each churn
cycle drops the SSH connections of five nodes mid-session and brings them back, so the engine's
pool loses and reopens connections all the time. CI runs a short churn; ``COCKPIT_NIGHTLY=1`` runs
the issue's 500 cycles. The figures are printed (``pytest -s``); bench/leaks.py prints the same.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.leaks import SimCtl, churn, fleet

pytestmark = pytest.mark.integration

NIGHTLY = os.environ.get("COCKPIT_NIGHTLY") == "1"
NODES = 50
CYCLES = 500 if NIGHTLY else 30
GROUP = 5
TOLERANCE = 0.10


async def test_churn_returns_to_baseline(tmp_path: Path) -> None:
    sim = SimCtl(fleet(NODES, tmp_path / "known_hosts"), tmp_path / "sim")
    try:
        figures = await churn(sim, CYCLES, GROUP)
    finally:
        sim.close()
    print("\n" + "\n".join(figures.lines()))
    assert figures.reconnects >= CYCLES * GROUP // 2, "the churn did not make the pool reconnect"
    assert figures.end.connections <= NODES, "asyncssh connections outlived the churn"
    for name in ("fds", "tasks", "rss_kib"):
        delta = figures.delta(name)
        assert abs(delta) <= TOLERANCE, f"{name} moved {delta:+.1%} from its baseline:\n" + "\n".join(
            figures.lines()
        )
