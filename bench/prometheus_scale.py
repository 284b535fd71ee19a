"""Prometheus at scale: 2,000 nodes x 8 GPUs (16,000 GPU series) in a real Prometheus; cycle time and RSS,
where each steady cycle's time goes, and the SSH fan-out engine beside it on the same machine.

Processes, so that each figure is what it claims to be:

- ``--serve``: the simulator's exporters for every node (one loopback port, one path per target:
  node_exporter, dcgm-exporter and vLLM per node, 6,000 targets) and a real ``prometheus`` scraping
  them; it prints one JSON line with Prometheus's URL, then serves until its stdin closes;
- ``--measure httpx`` (and, with ``--api-client``, ``--measure api-client``): one fresh process per
  client runs whole source cycles against it and reports cycle times, its own CPU per cycle (split
  into JSON decode, ``parse_query`` and mapping), the event loop's longest stall and its own peak RSS
  (``ru_maxrss``: the cockpit side only); then one instrumented pass sends the steady cycle's queries
  one at a time with ``stats=all`` for Prometheus's own per-query time, bytes and our decode/parse;
- the parent waits until Prometheus holds all 16,000 GPUs and a CPU rate for every node, measures,
  stops Prometheus, then runs bench/fanout.py (SSH fan-out against the asyncssh simulator) at a few N
  and prints the crossover. Targets: cycle <= 1 s, RSS <= 300 MB.

    python bench/prometheus_scale.py [--nodes 2000] [--gpus 8] [--cycles 40] [--refresh 2] [--interval 30]
                                     [--no-ssh] [--ssh-nodes 100,200,300,500,1000] [--api-client]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_CYCLE_S = 1.0
TARGET_RSS_MB = 300.0


def rss_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# -- the served side ----------------------------------------------------------------------------


async def serve(nodes: int, gpus: int, interval: float, workdir: Path) -> None:
    from cockpit.config import NodeConfig, SimNode
    from cockpit.sim.exporter import SimExporter
    from cockpit.sim.exporter_http import ExporterServer, scrape_config
    from cockpit.sim.prometheus_proc import PrometheusProcess
    from cockpit.sim.world import NodeWorld

    worlds = {}
    for i in range(nodes):
        node = NodeConfig(name=f"node-{i:04d}", host="127.0.0.1", units=["vllm"],
                          sim=SimNode(gpus=["NVIDIA H100 80GB HBM3"] * gpus, cpus=8, busy=0.2 + 0.6 * (i % 7) / 6))  # fmt: skip
        worlds[node.name] = NodeWorld(node, 1, time.time)
    exporter = SimExporter(worlds)
    server = ExporterServer(exporter, cache_s=interval * 0.9)
    await server.start()
    config = scrape_config([server], interval_s=interval)
    prom = PrometheusProcess(config, workdir)
    await asyncio.to_thread(prom.start, 120.0)
    targets = len(exporter.targets())
    print(
        json.dumps({"url": prom.url, "targets": targets, "pid": prom.proc.pid if prom.proc else None}),
        flush=True,
    )
    try:
        await asyncio.to_thread(sys.stdin.read)  # until the parent closes our stdin
    finally:
        rss = prom.rss_bytes()
        await asyncio.to_thread(prom.stop)
        await server.stop()
        print(json.dumps({"prometheus_rss_mb": (rss or 0) / 1048576, "scrapes": server.scrapes}), flush=True)


# -- the measuring side -------------------------------------------------------------------------


async def measure_httpx(url: str, nodes: list[str], cycles: int, refresh: float = 2.0) -> dict[str, object]:
    import cockpit.config  # noqa: F401  (config imports prom_config at its end: load it first)
    from cockpit.prom_config import PrometheusConfig
    from cockpit.sources import prom_map as m
    from cockpit.sources.prometheus import PrometheusSource

    before = rss_peak_mb()
    source = PrometheusSource(PrometheusConfig(url=url, timeout=30, rate_window="2m"))
    spent = {"decode": 0.0, "parse": 0.0, "map": 0.0}

    def timed(part: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()  # CPU, not wall: the box's other processes do not count
            try:
                return fn(*args, **kwargs)
            finally:
                spent[part] += time.thread_time() - start

        return wrapper

    source._decode = timed("decode", source._decode)  # type: ignore[method-assign]
    source._map = timed("map", source._map)  # type: ignore[method-assign]
    m.parse_query = timed("parse", m.parse_query)  # type: ignore[assignment]
    stalls: list[float] = []
    ticking = asyncio.Event()

    async def ticker() -> None:
        """The loop's longest stall while a cycle runs: what a UI sharing the loop would feel."""
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            if ticking.is_set():
                stalls[-1] = max(stalls[-1], time.perf_counter() - start - 0.005)

    tick = asyncio.create_task(ticker())
    # The first cycle runs every tier; later ones only the fast queries (window tier: every 15 s).
    times, cpu, parts, gpu_count, host_count, kinds = [], [], [], 0, 0, []
    loop = asyncio.get_running_loop()
    next_tick = loop.time()
    try:
        for _ in range(cycles):
            # One cycle every ``refresh`` seconds, as the engine runs them: what a delta read
            # asks for depends on how much Prometheus scraped since the last one.
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            next_tick = max(next_tick + refresh, loop.time())
            spent.update(decode=0.0, parse=0.0, map=0.0)
            stalls.append(0.0)
            ticking.set()
            start, used = time.perf_counter(), time.process_time()
            reading = await source.read(nodes)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - used)
            ticking.clear()
            parts.append(dict(spent))
            kinds.append(source.last_read)
            if reading.error or reading.errors:
                raise SystemExit(f"cycle failed: {reading.error or reading.errors}")
            gpu_count = sum(len(n.gpus or ()) for n in reading.nodes)
            host_count = sum(1 for n in reading.nodes if n.host and n.host.cpu_pct is not None)
        breakdown = await query_breakdown(source, m)
    finally:
        tick.cancel()
        await source.aclose()
    return {"times": times, "cpu": cpu, "parts": parts, "stalls": stalls, "rss_mb": rss_peak_mb(),
            "rss_after_import_mb": before, "gpus": gpu_count, "hosts_with_cpu": host_count,
            "breakdown": breakdown, "kinds": kinds}  # fmt: skip


async def query_breakdown(source: Any, m: Any) -> list[dict[str, object]]:
    """The steady cycle's queries one at a time, with Prometheus's own timings (``stats=all``)."""
    from cockpit import collector

    rows: list[dict[str, object]] = []
    requests = [(key, "/api/v1/query", {"query": q, "stats": "all"}) for key, q in source.queries.items()]
    requests.append(("alerts", "/api/v1/alerts", None))
    with collector.paused():  # as in a cycle
        for key, path, form in requests:
            rows.append(await one_query(source, m, key, path, form))
    return rows


async def one_query(
    source: Any, m: Any, key: str, path: str, form: dict[str, str] | None
) -> dict[str, object]:
    start = time.perf_counter()
    if form is None:
        response = await source._client.get(path)
    else:
        response = await source._client.post(path, data=form)
    body = response.content
    wall = time.perf_counter() - start
    start = time.thread_time()  # CPU, as in the cycles
    doc = json.loads(body)
    decode = time.thread_time() - start
    stats = doc.get("data", {}).pop("stats", {}) if form is not None else {}
    start = time.thread_time()
    parsed = m.parse_query(doc) if form is not None else m.parse_alerts(doc)
    parse = time.thread_time() - start
    timings = stats.get("timings", {})
    return {"key": key, "wall": wall, "bytes": len(body), "decode": decode, "parse": parse,
            "series": len(parsed) if isinstance(parsed, (list, tuple)) else 0,
            "server": timings.get("execTotalTime"), "prep": timings.get("queryPreparationTime"),
            "eval": timings.get("innerEvalTime"),
            "samples": stats.get("samples", {}).get("totalQueryableSamples")}  # fmt: skip


async def measure_api_client(url: str, nodes: list[str], cycles: int) -> dict[str, object]:
    """The same steady-state cycle (every fast query and /api/v1/alerts) through prometheus-api-client
    (requests, blocking) in threads, concurrently; the JSON is mapped by the same pure functions, so
    only the transport differs. The first cycle also runs the slow and window tiers, as the source does."""
    from prometheus_api_client import PrometheusConnect

    from cockpit.sources import prom_map as m
    from cockpit.sources import prom_queries as q

    after_import = rss_peak_mb()
    client = PrometheusConnect(url=url, disable_ssl=True)
    fast = q.queries("instance", "instance", "2m")
    rest = {**q.window_queries("instance"), **q.slow_queries("instance", "instance")}
    kept: dict[str, list[m.Series]] = {}
    times, cpu, gpu_count = [], [], 0
    for cycle in range(cycles):
        start, used = time.perf_counter(), time.process_time()
        wanted = {**fast, **(rest if cycle == 0 else {})}
        results = await asyncio.gather(
            *(asyncio.to_thread(client.custom_query, q) for q in wanted.values()),
            asyncio.to_thread(client._session.get, f"{url}/api/v1/alerts"),  # no helper for it
        )
        series = {
            k: m.parse_query({"status": "success", "data": {"resultType": "vector", "result": r}})
            for k, r in zip(wanted, results, strict=False)
        }
        kept.update({k: v for k, v in series.items() if k in rest})  # type: ignore[misc]
        series.update(kept)  # type: ignore[arg-type]
        index = m.NodeIndex.build(nodes)
        values = {k[4:]: v for k, v in series.items() if k.startswith("gpu:")}
        gpus = m.map_gpus(series["gpu_ids"], values, index, "instance")  # type: ignore[arg-type]
        gauges = series["host"] + series["host_static"]  # type: ignore[operator]
        m.map_host(gauges, series["fs"], series["cpu_idle"], series["cpu_count"], index, "instance")  # type: ignore[arg-type]
        m.parse_alerts(results[-1].json())
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - used)
        gpu_count = sum(len(g) for g in gpus.values())
    return {"times": times, "cpu": cpu, "rss_mb": rss_peak_mb(), "rss_after_import_mb": after_import,
            "gpus": gpu_count}  # fmt: skip


# -- the parent ---------------------------------------------------------------------------------


def wait_ready(url: str, gpus: int, nodes: int, timeout: float) -> float:
    import httpx

    start = time.monotonic()
    checks = {
        "gpus": ("count(DCGM_FI_DEV_GPU_UTIL)", gpus),
        "cpu": ('count(sum by (instance) (rate(node_cpu_seconds_total{mode="idle"}[2m])))', nodes),
        "ttft": ("count(rate(vllm:time_to_first_token_seconds_count[5m]))", nodes),
    }
    with httpx.Client(base_url=url, trust_env=False, timeout=30) as client:
        while True:
            done = {}
            for key, (promql, _want) in checks.items():
                result = client.post("/api/v1/query", data={"query": promql}).json()["data"]["result"]
                done[key] = int(float(result[0]["value"][1])) if result else 0
            if all(done[k] >= want for k, (_, want) in checks.items()):
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise SystemExit(f"Prometheus not ready after {timeout:g}s: {done}")
            time.sleep(2)


def run_measure(kind: str, url: str, nodes: int, cycles: int, refresh: float = 2.0) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--measure", kind, "--url", url, "--nodes", str(nodes), "--cycles", str(cycles),
         "--refresh", str(refresh)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"measure {kind} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(name: str, result: dict[str, Any]) -> None:
    times = list(result["times"])
    steady = sorted(times[1:]) or times
    cpu = list(result["cpu"])[1:] or list(result["cpu"])
    print(
        f"  {name:<11} first cycle (all tiers) {times[0]:.3f} s; steady cycles median "
        f"{med(steady):.3f} s, min {steady[0]:.3f} s, max {steady[-1]:.3f} s; peak RSS "
        f"{result['rss_mb']:.0f} MB (after imports {result.get('rss_after_import_mb', 0):.0f} MB); "
        f"GPUs read {result['gpus']}"
    )
    kinds = list(result.get("kinds", []))[1:]
    if kinds:
        deltas = [int(k.split("(")[1].split()[0]) for k in kinds if k.startswith("delta")]
        print(
            f"  {name:<11} steady cycles: {len(deltas)} delta reads (median {med(deltas):.0f} targets"  # type: ignore[arg-type]
            f" asked again), {len(kinds) - len(deltas)} full; p90 {sorted(times[1:])[int(0.9 * (len(times) - 2))]:.3f} s"
        )
    line = f"  {name:<11} steady cycles' own CPU: median {med(cpu):.3f} s"
    parts = list(result.get("parts", []))[1:]
    if parts:
        split = ", ".join(f"{k} {med([p[k] for p in parts]):.3f}" for k in ("decode", "parse", "map"))
        stalls = list(result["stalls"])[1:]
        line += f" ({split}); event loop's longest stall: median {med(stalls):.3f} s, max {max(stalls):.3f} s"
    print(line)


def report_breakdown(rows: list[dict[str, Any]]) -> None:
    print(
        "  a full read (the first, and one every 10 minutes), query by query (sent one at a time, stats=all; a cycle sends them at once):"
    )
    print(f"    {'query':<10} {'series':>7} {'samples':>8} {'MB':>6} {'server s':>9} {'(prep':>7} {'eval)':>7}"
          f" {'wall s':>7} {'decode':>9} {'parse':>8}")  # fmt: skip
    for r in rows:
        server = "" if r["server"] is None else f"{r['server']:.3f}"
        prep = "" if r["prep"] is None else f"{r['prep']:.3f}"
        ev = "" if r["eval"] is None else f"{r['eval']:.3f}"
        print(f"    {r['key']:<10} {r['series']:>7} {r['samples'] or '':>8} {r['bytes'] / 1e6:>6.2f} {server:>9} "
              f"{prep:>7} {ev:>7} {r['wall']:>7.3f} {r['decode']:>9.3f} {r['parse']:>8.3f}")  # fmt: skip
    total = {k: sum(float(r[k] or 0) for r in rows) for k in ("server", "wall", "decode", "parse", "bytes")}
    print(f"    {'sum':<10} {'':>7} {'':>8} {total['bytes'] / 1e6:>6.2f} {total['server']:>9.3f} {'':>7} {'':>7}"
          f" {total['wall']:>7.3f} {total['decode']:>9.3f} {total['parse']:>8.3f}")  # fmt: skip
    print(
        "    (server: Prometheus's execTotalTime; wall - server: its JSON encoding and gzip, the transfer"
        " and httpx; decode, parse: our CPU seconds in json.loads and parse_query)"
    )


def run_fanout(ns: list[int], gpus: int, cycles: int) -> list[dict[str, float]]:
    """bench/fanout.py as it is, one N per run so that a failure at a large N keeps the smaller ones."""
    rows = []
    for n in ns:
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, str(ROOT / "bench" / "fanout.py"), "--nodes", str(n), "--gpus", str(gpus),
             "--cycles", str(cycles)],
            capture_output=True, text=True, check=False, timeout=900,
        )  # fmt: skip
        lines = [ln.split() for ln in done.stdout.splitlines()]
        found = [ln for ln in lines if ln and ln[0] == str(n) and len(ln) == 8]
        if done.returncode != 0 or not found:
            print(f"  SSH fan-out at N={n} failed (rc {done.returncode}): {done.stderr.strip()[-300:]}")
            break
        _, up, first, steady, p90, floor, _ratio, cpu = found[0]
        rows.append({"n": n, "up": float(up), "first": float(first), "steady": float(steady),
                     "p90": float(p90), "floor": float(floor), "cpu": float(cpu),
                     "wall": time.monotonic() - start})  # fmt: skip
    return rows


def report_crossover(rows: list[dict[str, float]], prom: dict[str, Any], nodes: int, gpus: int) -> None:
    times = list(prom["times"])[1:] or list(prom["times"])
    cpu = list(prom["cpu"])[1:] or list(prom["cpu"])
    print(f"crossover on this machine ({os.cpu_count()} CPUs; nproc {len(os.sched_getaffinity(0))}):")
    print(f"  {'source':<26} {'N':>5} {'GPUs':>6} {'steady s':>9} {'p90 s':>7} {'CPU s/cycle':>12}")
    for r in rows:
        print(f"  {'SSH fan-out (8 GPUs/node)':<26} {r['n']:>5} {r['n'] * 8:>6} {r['steady']:>9.3f} {r['p90']:>7.3f}"
              f" {r['cpu']:>12.3f}")  # fmt: skip
    p90 = sorted(times)[int(0.9 * (len(times) - 1))]
    print(
        f"  {'Prometheus':<26} {nodes:>5} {nodes * gpus:>6} {med(times):>9.3f} {p90:>7.3f} {med(cpu):>12.3f}"
    )
    if len(rows) >= 2:
        # Where the measured cycle crosses the budget: linear between the two measured N around it
        # (fan-out grows faster than linearly here, so nothing is extrapolated past the largest N).
        for budget in (2.0, 1.0):
            ok = [r["n"] for r in rows if r["steady"] <= budget]
            where = "no measured N"
            for lo, hi in itertools.pairwise(rows):
                if lo["steady"] <= budget < hi["steady"]:
                    n = lo["n"] + (budget - lo["steady"]) * (hi["n"] - lo["n"]) / (
                        hi["steady"] - lo["steady"]
                    )
                    where = f"N ~ {n:.0f} (between the measured {lo['n']} and {hi['n']})"
                    break
            else:
                if ok and ok[-1] == rows[-1]["n"]:
                    where = f"beyond the largest measured N={rows[-1]['n']}"
                elif rows[0]["steady"] > budget:
                    where = f"an N below the smallest measured ({rows[0]['n']})"
            print(f"  SSH fan-out steady cycle <= {budget:g} s: up to N={max(ok) if ok else 0} measured;"
                  f" crosses {budget:g} s at {where}")  # fmt: skip
    elif rows:
        print(f"  (one SSH point only: N={rows[0]['n']} steady {rows[0]['steady']:.3f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--cycles", type=int, default=40)
    parser.add_argument(
        "--refresh", type=float, default=2.0, help="seconds between cycle starts, as the engine's"
    )
    parser.add_argument("--interval", type=float, default=30.0, help="scrape interval, seconds")
    parser.add_argument("--no-ssh", action="store_true", help="skip the SSH fan-out comparison")
    parser.add_argument(
        "--ssh-nodes", default="100,200,300,500,1000", help="N for bench/fanout.py (8 GPUs/node)"
    )
    parser.add_argument("--ssh-cycles", type=int, default=5)
    parser.add_argument("--api-client", action="store_true", help="also measure prometheus-api-client")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--measure", choices=("httpx", "api-client"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = [f"node-{i:04d}" for i in range(args.nodes)]
    if args.serve:
        asyncio.run(serve(args.nodes, args.gpus, args.interval, Path(args.workdir)))
        return
    if args.measure:
        if args.measure == "httpx":
            print(json.dumps(asyncio.run(measure_httpx(args.url, names, args.cycles, args.refresh))))
        else:
            print(json.dumps(asyncio.run(measure_api_client(args.url, names, args.cycles))))
        return
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    with tempfile.TemporaryDirectory(prefix="prom-scale-") as tmp:
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--nodes", str(args.nodes), "--gpus", str(args.gpus),
             "--interval", str(args.interval), "--workdir", tmp],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert server.stdin is not None and server.stdout is not None
        try:
            hello = json.loads(server.stdout.readline())
            print(f"{args.nodes} nodes x {args.gpus} GPUs = {args.nodes * args.gpus} GPU series, "
                  f"{hello['targets']} targets, scrape interval {args.interval:g}s; Prometheus at {hello['url']}")  # fmt: skip
            waited = wait_ready(
                hello["url"], args.nodes * args.gpus, args.nodes, timeout=20 * args.interval + 120
            )
            print(f"  Prometheus holds every GPU and a CPU rate for every node after {waited:.0f} s")
            print(f"  load average before measuring: {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
                  f" on {len(os.sched_getaffinity(0))} CPUs (other processes on the box inflate every wall time)")  # fmt: skip
            kinds = ("httpx", "api-client") if args.api_client else ("httpx",)
            results = {
                kind: run_measure(kind, hello["url"], args.nodes, args.cycles, args.refresh) for kind in kinds
            }
        finally:
            server.stdin.close()
            tail = server.stdout.read()
            server.wait(60)
        print(f"  load average after measuring: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        for kind, result in results.items():
            report(kind, result)
        report_breakdown(results["httpx"]["breakdown"])  # type: ignore[arg-type]
        extra = json.loads(tail.strip().splitlines()[-1]) if tail.strip() else {}
        if extra:
            print(
                f"  (Prometheus itself: RSS {extra['prometheus_rss_mb']:.0f} MB; exporter served {extra['scrapes']} scrapes)"
            )
        main_result = results["httpx"]
        median = med(list(main_result["times"])[1:] or list(main_result["times"]))  # type: ignore[call-overload]
        ok = median <= TARGET_CYCLE_S and float(main_result["rss_mb"]) <= TARGET_RSS_MB  # type: ignore[arg-type]
        print(
            f"  targets: cycle <= {TARGET_CYCLE_S:g} s, RSS <= {TARGET_RSS_MB:g} MB: {'met' if ok else 'MISSED'}"
        )
    if not args.no_ssh:
        # After Prometheus and its exporters have stopped: the two engines never share the CPUs.
        ns = [int(x) for x in args.ssh_nodes.split(",") if x]
        rows = run_fanout(ns, 8, args.ssh_cycles)
        report_crossover(rows, main_result, args.nodes, args.gpus)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
