"""Soak: the engine and the action runner for an hour against 200 simulated nodes, with random
faults and random actions. Not in CI.

What it checks (exit status 1 if any fails):
- no exception: the engine loop never dies, no node's error names a Python exception (the engine's
  "a surprise must not die silently" path), no action raises, the loop's exception handler is
  never called (a task that failed with nobody listening);
- RSS growth under 10 % between the baseline and the end. The baseline is taken once the engine's
  15 minutes of history are full (``--warmup``, by default that long): before that, memory grows
  by design as the history rings fill, and that growth is printed separately;
- every action audited: one start and one end record per action run, ids paired.

The simulator runs in its own process (tests/fixtures/simctl/simctl.py), so RSS is the cockpit's.
Faults: node stopped (refused, sessions dropped), frozen (TCP connects, nothing answers),
nvidia-smi failing or answering late; each lasts 5 to 30 s. Actions: a safe node command, the
built-in container ones (logs -f cancelled after a few seconds, restart, start), at random.

    python bench/soak.py [--nodes 200] [--minutes 60] [--warmup 16] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.leaks import SimCtl, sample  # noqa: E402
from cockpit.actions.audit import AuditLog, read_records  # noqa: E402
from cockpit.actions.catalog import Catalog  # noqa: E402
from cockpit.actions.render import NodeTarget, Subject  # noqa: E402
from cockpit.actions.runner import run  # noqa: E402
from cockpit.actions.schema import ActionConfig  # noqa: E402
from cockpit.config import Cluster  # noqa: E402
from cockpit.engine import Engine  # noqa: E402
from cockpit.state import ClusterState  # noqa: E402

EXCEPTION_WORDS = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b: ")
"""How the engine words a poll that raised (``f"{type(exc).__name__}: {exc}"``)."""
PROBE = ActionConfig.model_validate(
    {
        "name": "soak-probe",
        "scope": "node",
        "danger": "safe",
        "timeout": 20,
        "command": "cat /proc/loadavg; nvidia-smi -L; echo done",
    }
)
FAULTS = ("stop", "freeze", "smi", "slow")


def soak_fleet(n: int, known_hosts: Path) -> dict[str, Any]:
    nodes = []
    for i in range(n):
        sim: dict[str, Any] = {"gpus": ["NVIDIA GeForce RTX 4090"] * (1 + i % 2)}
        if i % 10 == 0:
            sim["containers"] = [
                {"name": "app", "image": "soak/app:1", "gpu": 0},
                {"name": "sidecar", "image": "soak/sidecar:1"},
            ]
        nodes.append({"name": f"node-{i:03d}", "host": "127.0.0.1", "port": 1, "sim": sim})
    return {
        "cluster": f"soak-{n}",
        "refresh": 2,
        "ssh": {
            "known_hosts": str(known_hosts),
            "config_file": None,
            "agent": False,
            "connect_timeout": 5,
            "command_timeout": 6,
            "max_concurrency": 256,
        },
        "nodes": nodes,
    }


class Soak:
    def __init__(self, sim: SimCtl, audit: Path, seed: int) -> None:
        self.sim = sim
        self.cluster: Cluster = sim.cluster
        self.rng = random.Random(seed)
        self.audit = AuditLog(audit)
        self.audit_path = audit
        self.catalog = Catalog.from_config([])
        self.engine = Engine(self.cluster)
        self.faulted: dict[str, str] = {}
        self.problems: list[str] = []
        self.outcomes: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.cycle_times: list[float] = []
        self.states = 0
        self.last: ClusterState | None = None
        self.fault_tasks: set[asyncio.Task[None]] = set()
        self.action_tasks: set[asyncio.Task[None]] = set()

    @staticmethod
    def spawn(work: Coroutine[Any, Any, None], into: set[asyncio.Task[None]]) -> None:
        task = asyncio.create_task(work)
        into.add(task)
        task.add_done_callback(into.discard)

    # -- the engine -------------------------------------------------------------------------------
    def publish(self, state: ClusterState) -> None:
        self.states += 1
        self.last = state
        for node in state.nodes:
            if node.error and EXCEPTION_WORDS.search(node.error):
                self.problems.append(f"{node.name}: {node.error}")

    # -- faults -----------------------------------------------------------------------------------
    async def fault_loop(self) -> None:
        names = [n.name for n in self.cluster.nodes]
        limit = max(1, len(names) // 10)
        while True:
            await asyncio.sleep(self.rng.uniform(1, 4))
            if len(self.faulted) >= limit:
                continue
            node = self.rng.choice([n for n in names if n not in self.faulted])
            kind = self.rng.choice(FAULTS)
            self.faulted[node] = kind
            self.faults[kind] += 1
            self.spawn(self.one_fault(node, kind, self.rng.uniform(5, 30)), self.fault_tasks)

    async def one_fault(self, node: str, kind: str, seconds: float) -> None:
        start, end = {
            "stop": (f"stop {node}", f"start {node}"),
            "freeze": (f"freeze {node}", f"unfreeze {node}"),
            "smi": (f"smi {node} driver-error", f"smi {node} ok"),
            "slow": (f"slow {node} 9", f"slow {node} 0"),
        }[kind]
        try:
            await self.sim.asend(start)
            await asyncio.sleep(seconds)
            await self.sim.asend(end)
        except Exception as exc:
            self.problems.append(f"fault {kind} on {node}: {type(exc).__name__}: {exc}")
        finally:
            self.faulted.pop(node, None)

    # -- actions ----------------------------------------------------------------------------------
    async def action_loop(self) -> None:
        nodes = list(self.cluster.nodes)
        docker = [n for n in nodes if n.sim and n.sim.containers]
        while True:
            await asyncio.sleep(self.rng.uniform(0.5, 3))
            choice = self.rng.random()
            node = self.rng.choice(docker if choice < 0.5 else nodes)
            target = NodeTarget.from_config(node, self.cluster)
            cancel = asyncio.Event()
            if choice < 0.2:
                action, subject = self.catalog.get("container-logs"), Subject(node=target, container="app")
                asyncio.get_running_loop().call_later(self.rng.uniform(1, 5), cancel.set)
            elif choice < 0.35:
                action, subject = (
                    self.catalog.get("container-restart"),
                    Subject(node=target, container="sidecar"),
                )
            elif choice < 0.5:
                action, subject = (
                    self.catalog.get("container-start"),
                    Subject(node=target, container="sidecar"),
                )
            else:
                action, subject = PROBE, Subject(node=target)
            self.spawn(self.one_action(action, subject, cancel), self.action_tasks)

    async def one_action(self, action: ActionConfig, subject: Subject, cancel: asyncio.Event) -> None:
        try:
            invocation = self.catalog.render(action, subject, {})
            result = await run(
                invocation, self.engine.pool, lambda stream, line: None, audit=self.audit, cancel=cancel
            )
            self.outcomes[str(result.outcome)] += 1
        except Exception as exc:
            self.problems.append(f"action {action.name}: {type(exc).__name__}: {exc}")

    # -- audit ------------------------------------------------------------------------------------
    def audit_gaps(self) -> list[str]:
        records = read_records(self.audit_path)
        starts = [r["id"] for r in records if r.get("event") == "start"]
        ends = {r["id"] for r in records if r.get("event") == "end"}
        ran = sum(self.outcomes.values())
        gaps = []
        if len(starts) != ran:
            gaps.append(f"{ran} actions ran, {len(starts)} start records")
        missing = [i for i in starts if i not in ends]
        if missing:
            gaps.append(f"{len(missing)} start records without an end")
        return gaps


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"


async def soak(args: argparse.Namespace, state: Path) -> int:
    sim = SimCtl(soak_fleet(args.nodes, state / "known_hosts"), state / "sim")
    loop = asyncio.get_running_loop()
    s = Soak(sim, state / "audit.jsonl", args.seed)
    loop.set_exception_handler(
        lambda _loop, ctx: s.problems.append(f"loop: {ctx.get('message')} {ctx.get('exception')!r}")
    )
    start_sample = sample()
    engine_task = asyncio.create_task(s.engine.run(s.publish))
    tasks = [engine_task, asyncio.create_task(s.fault_loop()), asyncio.create_task(s.action_loop())]
    t0 = time.monotonic()
    total = args.minutes * 60
    warmup = args.warmup * 60
    if warmup >= total:
        raise SystemExit(f"--warmup ({args.warmup:g} min) must be shorter than --minutes ({args.minutes:g})")
    baseline = None
    rss: list[tuple[float, int]] = []
    try:
        while (elapsed := time.monotonic() - t0) < total:
            await asyncio.sleep(min(60, max(1, total - elapsed)))
            if engine_task.done():
                s.problems.append(f"engine loop ended: {engine_task.exception()!r}")
                break
            now = sample()
            rss.append((time.monotonic() - t0, now.rss_kib))
            if baseline is None and time.monotonic() - t0 >= warmup:
                baseline = now
            up = sum(1 for n in s.last.nodes if n.status.value == "up") if s.last else 0
            print(
                f"[{(time.monotonic() - t0) / 60:5.1f} min] cycles {s.states}  up {up}/{args.nodes}  "
                f"RSS {_mib(now.rss_kib)}  fds {now.fds}  tasks {now.tasks}  "
                f"actions {dict(s.outcomes)}  faults {dict(s.faults)}  problems {len(s.problems)}",
                flush=True,
            )
    finally:
        for task in [*tasks, *s.fault_tasks]:
            task.cancel()
        await asyncio.gather(*tasks, *s.fault_tasks, return_exceptions=True)
        if s.action_tasks:  # running actions end on their own (logs are cancelled by their timer)
            await asyncio.wait(list(s.action_tasks), timeout=60)
        await s.engine.close()
        sim.close()
    end = sample()
    baseline = baseline or start_sample
    growth = (end.rss_kib - baseline.rss_kib) / baseline.rss_kib
    fill = (baseline.rss_kib - start_sample.rss_kib) / start_sample.rss_kib
    gaps = s.audit_gaps()
    print(f"\nsoak: {args.nodes} nodes, {args.minutes} min, {s.states} cycles, seed {args.seed}")
    print(f"  RSS start {_mib(start_sample.rss_kib)}, after warm-up ({warmup / 60:g} min, history full) "
          f"{_mib(baseline.rss_kib)} ({fill:+.1%}), end {_mib(end.rss_kib)}: growth {growth:+.1%}")  # fmt: skip
    if rss:
        print(
            f"  RSS peak {_mib(max(r for _, r in rss))}, median {_mib(int(statistics.median(r for _, r in rss)))}"
        )
    print(f"  actions {sum(s.outcomes.values())}: {dict(s.outcomes)}; audit gaps: {gaps or 'none'}")
    print(f"  faults {sum(s.faults.values())}: {dict(s.faults)}")
    print(f"  problems {len(s.problems)}" + "".join(f"\n    {p}" for p in s.problems[:20]))
    failed = bool(s.problems) or bool(gaps) or growth >= 0.10
    print("FAIL" if failed else "PASS")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument(
        "--warmup", type=float, default=16, help="minutes before the RSS baseline (history full: 15)"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        code = asyncio.run(soak(args, Path(tmp)))
    raise SystemExit(code)


if __name__ == "__main__":
    main()
