"""Engine fan-out: first and steady-state cycle time, CPU per cycle and peak RSS for N nodes.

The simulated cluster runs in a separate process (bench/simproc.py); this process runs the real
engine, then, over the same persistent connections, a bare ``asyncio.gather(conn.run(script))``
as the floor no SSH client can beat. Target: steady state at N=200 within 1.5x the floor.

    python bench/fanout.py [--nodes 10,50,200] [--cycles 10] [--gpus 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cockpit.config import Cluster  # noqa: E402
from cockpit.engine import Engine  # noqa: E402
from cockpit.sources.probes import build_script  # noqa: E402


def start_sim(
    n: int, gpus: int, state: Path, busy_max: float = 0.9
) -> tuple[subprocess.Popen[bytes], Cluster]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "simproc.py"), str(n), str(gpus), str(state), str(busy_max)],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    target = state / "cluster.json"
    while not target.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"simulator for {n} nodes did not start")
        time.sleep(0.1)
    time.sleep(0.2)
    return proc, Cluster.model_validate(json.loads(target.read_text()))


async def measure(cluster: Cluster, cycles: int) -> dict[str, float]:
    engine = Engine(cluster)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    state = await engine.cycle()
    first = time.perf_counter() - t0
    up = sum(1 for node in state.nodes if node.status.value == "up")
    steady = []
    cpu1 = time.process_time()
    for _ in range(cycles):
        t = time.perf_counter()
        await engine.cycle()
        steady.append(time.perf_counter() - t)
    cpu_per_cycle = (time.process_time() - cpu1) / cycles
    conns = [await engine.pool.connection(node.name) for node in cluster.nodes]
    script = build_script(["host", "gpus"], "f1004", first=False)
    floor = []
    for _ in range(cycles):
        t = time.perf_counter()
        await asyncio.gather(*(conn.run(script, check=False) for conn in conns))
        floor.append(time.perf_counter() - t)
    await engine.close()
    del cpu0
    return {
        "up": up,
        "first": first,
        "steady": statistics.median(steady),
        "steady_p90": sorted(steady)[int(0.9 * (len(steady) - 1))],
        "floor": statistics.median(floor),
        "cpu": cpu_per_cycle,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", default="10,50,200")
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--gpus", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for n in (int(x) for x in args.nodes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            proc, cluster = start_sim(n, args.gpus, Path(tmp))
            try:
                rows.append((n, asyncio.run(measure(cluster, args.cycles))))
            finally:
                proc.terminate()
                proc.wait()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"fan-out, {args.gpus} GPUs/node, {args.cycles} cycles, {os.cpu_count()} CPUs, sim in its own process"
    )
    print(
        f"{'N':>5} {'up':>5} {'first s':>8} {'steady s':>9} {'p90 s':>7} {'floor s':>8} {'ratio':>6} {'CPU s/cyc':>10}"
    )
    for n, r in rows:
        print(
            f"{n:>5} {r['up']:>5.0f} {r['first']:>8.3f} {r['steady']:>9.3f} {r['steady_p90']:>7.3f} "
            f"{r['floor']:>8.3f} {r['steady'] / r['floor']:>6.2f} {r['cpu']:>10.3f}"
        )
    print(f"peak RSS of the engine process: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
