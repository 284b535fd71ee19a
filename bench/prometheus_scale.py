"""Prometheus at scale: 2,000 nodes x 8 GPUs (16,000 GPU series) in a real Prometheus; cycle time and RSS.

Three processes, so that each figure is what it claims to be:

- ``--serve``: the simulator's exporters for every node (one loopback port, one path per target:
  node_exporter, dcgm-exporter and vLLM per node, 6,000 targets) and a real ``prometheus`` scraping
  them; it prints one JSON line with Prometheus's URL, then serves until its stdin closes;
- ``--measure httpx`` / ``--measure api-client``: one fresh process per client runs whole source
  cycles (every query of :mod:`cockpit.sources.prom_map` plus /api/v1/alerts) against it and
  reports cycle times and its own peak RSS (``ru_maxrss``: the cockpit side only);
- the parent waits until Prometheus holds all 16,000 GPUs and a CPU rate for every node, runs both
  measurements, and prints the figures. Targets: cycle <= 1 s, RSS <= 300 MB.

    python bench/prometheus_scale.py [--nodes 2000] [--gpus 8] [--cycles 10] [--interval 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


async def measure_httpx(url: str, nodes: list[str], cycles: int) -> dict[str, object]:
    from cockpit.prom_config import PrometheusConfig
    from cockpit.sources.prometheus import PrometheusSource

    before = rss_peak_mb()
    source = PrometheusSource(PrometheusConfig(url=url, timeout=30, rate_window="2m"))
    # The first cycle runs every tier; later ones only the fast queries (window tier: every 15 s).
    times, cpu, gpu_count, host_count = [], [], 0, 0
    try:
        for _ in range(cycles):
            start, used = time.perf_counter(), time.process_time()
            reading = await source.read(nodes)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - used)
            if reading.error or reading.errors:
                raise SystemExit(f"cycle failed: {reading.error or reading.errors}")
            gpu_count = sum(len(n.gpus or ()) for n in reading.nodes)
            host_count = sum(1 for n in reading.nodes if n.host and n.host.cpu_pct is not None)
    finally:
        await source.aclose()
    return {"times": times, "cpu": cpu, "rss_mb": rss_peak_mb(), "rss_after_import_mb": before,
            "gpus": gpu_count, "hosts_with_cpu": host_count}  # fmt: skip


async def measure_api_client(url: str, nodes: list[str], cycles: int) -> dict[str, object]:
    """The same steady-state cycle (every fast query and /api/v1/alerts) through prometheus-api-client
    (requests, blocking) in threads, concurrently; the JSON is mapped by the same pure functions, so
    only the transport differs. The first cycle also runs the slow and window tiers, as the source does."""
    from prometheus_api_client import PrometheusConnect

    from cockpit.sources import prom_map as m

    after_import = rss_peak_mb()
    client = PrometheusConnect(url=url, disable_ssl=True)
    fast = m.queries("instance", "instance", "2m")
    rest = {**m.window_queries("instance"), **m.slow_queries("instance", "instance")}
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


def run_measure(kind: str, url: str, nodes: int, cycles: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--measure", kind, "--url", url, "--nodes", str(nodes), "--cycles", str(cycles)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"measure {kind} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(name: str, result: dict[str, object]) -> None:
    times = list(result["times"])  # type: ignore[call-overload]
    steady = sorted(times[1:]) or times
    cpu = sorted(list(result["cpu"])[1:] or result["cpu"])  # type: ignore[call-overload]
    print(
        f"  {name:<11} steady cycles' own CPU (JSON decode + mapping): median {statistics.median(cpu):.3f} s"
    )
    print(
        f"  {name:<11} first cycle (all tiers) {times[0]:.3f} s; steady cycles median "
        f"{statistics.median(steady):.3f} s, min {steady[0]:.3f} s, max {steady[-1]:.3f} s; peak RSS "
        f"{result['rss_mb']:.0f} MB (after imports {result.get('rss_after_import_mb', 0):.0f} MB); "
        f"GPUs read {result['gpus']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--interval", type=float, default=30.0, help="scrape interval, seconds")
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
        fn = measure_httpx if args.measure == "httpx" else measure_api_client
        print(json.dumps(asyncio.run(fn(args.url, names, args.cycles))))
        return
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
            results = {
                kind: run_measure(kind, hello["url"], args.nodes, args.cycles)
                for kind in ("httpx", "api-client")
            }
        finally:
            server.stdin.close()
            tail = server.stdout.read()
            server.wait(60)
        for kind, result in results.items():
            report(kind, result)
        extra = json.loads(tail.strip().splitlines()[-1]) if tail.strip() else {}
        if extra:
            print(
                f"  (Prometheus itself: RSS {extra['prometheus_rss_mb']:.0f} MB; exporter served {extra['scrapes']} scrapes)"
            )
        main_result = results["httpx"]
        median = statistics.median(main_result["times"][1:] or main_result["times"])  # type: ignore[index]
        ok = median <= TARGET_CYCLE_S and float(main_result["rss_mb"]) <= TARGET_RSS_MB  # type: ignore[arg-type]
        print(
            f"  targets: cycle <= {TARGET_CYCLE_S:g} s, RSS <= {TARGET_RSS_MB:g} MB: {'met' if ok else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
