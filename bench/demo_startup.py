"""Time from `cockpit demo` to a live cluster on screen, in a real pseudo-terminal.

Starts the demo in a 120x40 pty and reads what it writes until the summary line says every demo
node is up. Target: under 2 seconds.

    python bench/demo_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pty_probe import Terminal  # noqa: E402

SUMMARY = re.compile(rb"(\d+) nodes: (\d+) up")


def one_run(timeout: float = 20.0) -> float:
    start = time.monotonic()
    term = Terminal.spawn([sys.executable, "-m", "cockpit.cli", "demo", "--no-mouse"], 120, 40)
    seen = b""
    try:
        while time.monotonic() - start < timeout:
            seen += term.read_for(0.02)
            found = SUMMARY.findall(seen)
            if found and int(found[-1][0]) and found[-1][0] == found[-1][1]:
                return time.monotonic() - start
        raise SystemExit(f"demo did not show every node up within {timeout:.0f}s")
    finally:
        term.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    times = [one_run() for _ in range(args.runs)]
    print(f"cockpit demo -> every node up on screen, {args.runs} runs (process start included)")
    print(f"median {statistics.median(times):.2f} s, max {max(times):.2f} s, min {min(times):.2f} s")


if __name__ == "__main__":
    main()
