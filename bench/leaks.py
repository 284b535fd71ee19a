"""Connect/disconnect churn across a simulated fleet: do fds, asyncio tasks and RSS come back?

The simulated cluster runs in its own process (tests/fixtures/simctl/simctl.py) so that what is
measured here is the cockpit's engine alone. Each churn cycle stops a group of nodes (their open
SSH connections drop mid-session), runs an engine cycle, starts them again and runs another, so the
pool keeps losing and reopening connections. The baseline is taken after a warm-up round that
churned every node once; the end is taken once every node is back up. tests/integration/test_leaks.py
asserts on the same figures.

    python bench/leaks.py [--nodes 50] [--cycles 500] [--group 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cockpit.config import Cluster  # noqa: E402
from cockpit.engine import Engine  # noqa: E402
from cockpit.model import NodeStatus  # noqa: E402

SIMCTL = ROOT / "tests" / "fixtures" / "simctl" / "simctl.py"


class SimCtl:
    """The simulator process and its stdin control line."""

    def __init__(self, cluster: dict[str, Any], state: Path, *, hostile: bool = False) -> None:
        state.mkdir(parents=True, exist_ok=True)
        config = state / "sim-input.json"
        config.write_text(json.dumps(cluster))
        argv = [sys.executable, str(SIMCTL), str(config), str(state)] + (["--hostile"] if hostile else [])
        self.log = open(state / "simctl.log", "wb")  # noqa: SIM115  (closed in close())
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, cwd=ROOT
        )
        target = state / "cluster.json"
        deadline = time.monotonic() + 120
        while not target.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"simctl did not start: {(state / 'simctl.log').read_text()[-2000:]}")
            time.sleep(0.05)
        self.cluster = Cluster.model_validate(json.loads(target.read_text()))

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().decode().strip()
        if reply != "ok":
            raise RuntimeError(f"simctl {command!r}: {reply or 'no answer'}")

    async def asend(self, command: str) -> None:
        await asyncio.to_thread(self.send, command)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def fleet(n: int, known_hosts: Path, *, refresh: float = 60.0) -> dict[str, Any]:
    """``n`` plain simulated nodes (one GPU each, no docker): what churn costs, not what polls cost.

    ``refresh`` is long on purpose: the engine keeps 15 minutes of history per series, which at
    one point per cycle is ``900 / refresh`` points, and a history that is still filling up would
    read as a leak. Cycles are driven by hand here, so the refresh sets nothing else that matters
    (the reconnect backoff is capped by ``reconnect_max``)."""
    return {
        "cluster": f"churn-{n}",
        "refresh": refresh,
        "ssh": {
            "known_hosts": str(known_hosts),
            "config_file": None,
            "agent": False,
            "connect_timeout": 5,
            "command_timeout": 5,
            "reconnect_max": 1,
        },
        "nodes": [
            {
                "name": f"node-{i:03d}",
                "host": "127.0.0.1",
                "port": 1,
                "sim": {"gpus": ["NVIDIA H100 80GB HBM3"]},
            }
            for i in range(n)
        ],
    }


@dataclass(frozen=True, slots=True)
class Sample:
    fds: int
    tasks: int
    rss_kib: int
    connections: int
    """Live asyncssh client connections (gc): a leak of whole connections shows here first."""


def sample() -> Sample:
    gc.collect()
    rss = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    conns = sum(1 for o in gc.get_objects() if isinstance(o, asyncssh.SSHClientConnection))
    return Sample(len(os.listdir("/proc/self/fd")), len(asyncio.all_tasks()), rss, conns)


@dataclass
class Figures:
    nodes: int
    cycles: int
    baseline: Sample
    end: Sample
    peak_rss_kib: int
    reconnects: int
    seconds: float
    samples: list[Sample] = field(default_factory=list)

    def delta(self, name: str) -> float:
        before, after = getattr(self.baseline, name), getattr(self.end, name)
        return (after - before) / before if before else float(after != before)

    def lines(self) -> list[str]:
        b, e = self.baseline, self.end
        return [
            f"churn: {self.nodes} nodes, {self.cycles} churn cycles, {self.reconnects} reconnects "
            f"in {self.seconds:.1f}s",
            f"  fds          {b.fds:6d} -> {e.fds:6d}  ({self.delta('fds'):+.1%})",
            f"  tasks        {b.tasks:6d} -> {e.tasks:6d}  ({self.delta('tasks'):+.1%})",
            f"  RSS KiB      {b.rss_kib:6d} -> {e.rss_kib:6d}  ({self.delta('rss_kib'):+.1%}), "
            f"peak {self.peak_rss_kib}",
            f"  connections  {b.connections:6d} -> {e.connections:6d}",
        ]


async def _settle(engine: Engine, sim_nodes: list[str], limit: int = 30) -> None:
    """Cycles until every node is up again."""
    for _ in range(limit):
        state = await engine.cycle()
        if all(n.status is NodeStatus.UP for n in state.nodes if n.name in sim_nodes):
            return
        await asyncio.sleep(0.3)
    raise AssertionError(
        f"not every node came back: {[(n.name, n.error) for n in state.nodes if n.status is not NodeStatus.UP]}"
    )


async def churn(sim: SimCtl, cycles: int, group: int = 5, progress: bool = False) -> Figures:
    """Stop ``group`` nodes, cycle, start them, cycle; ``cycles`` times, rotating through the fleet."""
    cluster = sim.cluster
    names = [n.name for n in cluster.nodes]
    engine = Engine(cluster)
    reconnects = 0
    try:
        await _settle(engine, names)
        # Warm-up: every node churned once, so lazily built things (caches, imports) exist already.
        for i in range(0, len(names), group):
            await sim.asend("stop " + " ".join(names[i : i + group]))
            await engine.cycle()
            await sim.asend("start " + " ".join(names[i : i + group]))
        await _settle(engine, names)
        for _ in range(3):
            await engine.cycle()
        baseline = sample()
        peak = baseline.rss_kib
        samples = [baseline]
        started = time.perf_counter()
        was_down: set[str] = set()
        for c in range(cycles):
            first = (c * group) % len(names)
            batch = names[first : first + group]
            await sim.asend("stop " + " ".join(batch))
            for state in (await engine.cycle(), None):
                if state is None:
                    await sim.asend("start " + " ".join(batch))
                    state = await engine.cycle()
                for n in state.nodes:
                    if n.status is not NodeStatus.UP:
                        was_down.add(n.name)
                    elif n.name in was_down:
                        was_down.discard(n.name)
                        reconnects += 1
            if c % 10 == 9:
                now = sample()
                peak = max(peak, now.rss_kib)
                samples.append(now)
                if progress:
                    print(
                        f"  cycle {c + 1}: fds {now.fds} tasks {now.tasks} rss {now.rss_kib} KiB", flush=True
                    )
        seconds = time.perf_counter() - started
        await _settle(engine, names)
        for _ in range(3):
            await engine.cycle()
        end = sample()
    finally:
        await engine.close()
    return Figures(len(names), cycles, baseline, end, max(peak, end.rss_kib), reconnects, seconds, samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--cycles", type=int, default=500)
    parser.add_argument("--group", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimCtl(fleet(args.nodes, Path(tmp) / "known_hosts"), Path(tmp))
        try:
            figures = asyncio.run(churn(sim, args.cycles, args.group, progress=True))
        finally:
            sim.close()
    print("\n".join(figures.lines()))


if __name__ == "__main__":
    main()
