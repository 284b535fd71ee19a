"""Bytes per second written to the terminal and CPU % of the idle dashboard, beside htop.

50 simulated nodes (2 GPUs each) at a 2 s refresh, a 120x40 pseudo-terminal, no keys pressed.
The simulator runs in its own process. htop runs with `-d 20` (2 s) in the same terminal size in
the same run, as the peer. Targets: <= 1 KB/s and <= 1 % CPU.

    python bench/terminal_cost.py [--nodes 50] [--seconds 60] [--warmup 10] [--mouse]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fanout import start_sim  # noqa: E402
from bench.pty_probe import Terminal, cpu_seconds  # noqa: E402


def measure(
    argv: list[str], seconds: float, warmup: float, cols: int = 120, rows: int = 40
) -> tuple[float, float]:
    term = Terminal.spawn(argv, cols, rows)
    try:
        term.read_for(warmup)
        cpu0 = cpu_seconds(term.proc.pid)
        t0 = time.monotonic()
        data = term.read_for(seconds)
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(term.proc.pid) - cpu0
        if term.proc.poll() is not None:
            raise SystemExit(f"{argv[0]} exited early: {data[-400:]!r}")
        return len(data) / elapsed, 100 * cpu / elapsed
    finally:
        term.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--mouse", action="store_true", help="leave mouse reporting on")
    parser.add_argument(
        "--busy-max",
        type=float,
        default=0.9,
        help="load of the busiest nodes (0.9: a fleet in an alert storm; 0.5: a calm one)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, cluster = start_sim(args.nodes, 2, Path(tmp), args.busy_max)
        try:
            config = Path(tmp) / "cluster.yaml"
            data = cluster.model_dump(mode="json", exclude_none=True)
            data.pop("source", None)
            config.write_text(yaml.safe_dump(data))
            cockpit = [sys.executable, "-m", "cockpit.cli", "--config", str(config)]
            if not args.mouse:
                cockpit.append("--no-mouse")
            rows = [("cockpit", *measure(cockpit, args.seconds, args.warmup))]
            if shutil.which("htop"):
                rows.append(("htop -d 20", *measure(["htop", "-d", "20"], args.seconds, args.warmup)))
        finally:
            proc.terminate()
            proc.wait()
    print(
        f"idle terminal cost, {args.nodes} nodes x 2 GPUs (load 0..{args.busy_max:g}), refresh 2 s, 120x40, {args.seconds:.0f} s window"
    )
    print(f"{'program':<12} {'bytes/s':>9} {'CPU %':>7}")
    for name, rate, cpu in rows:
        print(f"{name:<12} {rate:>9.0f} {cpu:>7.2f}")


if __name__ == "__main__":
    main()
