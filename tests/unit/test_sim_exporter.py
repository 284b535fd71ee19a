"""The simulator's exporter pages: real names and formats, values from the worlds, served over HTTP."""

from __future__ import annotations

import re
import shutil
import subprocess

import httpx
import pytest

from cockpit.config import NodeConfig, SimDisk, SimNode
from cockpit.sim.exporter import CONTENT_TYPE, SimExporter
from cockpit.sim.exporter_http import ExporterServer, scrape_config
from cockpit.sim.inference import TTFT_BUCKETS
from cockpit.sim.promtext import go_float, py_float
from cockpit.sim.world import NodeWorld

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$")
REAL_LINT = re.compile(
    r"(label names should be written in 'snake_case'|metric names should be written in 'snake_case'"
    r"|metric names should not contain ':'|counter metrics should have \"_total\" suffix"
    r"|metric names should not contain abbreviated units"
    r"|metric name should not include type 'counter')"
)
"""What promtool's linter says about the *real* exporters' own names (camelCase memory fields,
dcgm-exporter's ``modelName``/``UUID`` labels and ``_COUNTER`` counters, vLLM's ``vllm:`` prefix,
Ray Serve's ``_latency_ms``)."""


class FakeClock:
    def __init__(self, t: float = 1_795_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def exporter(clock: FakeClock) -> SimExporter:
    nodes = [
        NodeConfig(name="gpu-a", host="127.0.0.1", units=["vllm"],
                   sim=SimNode(gpus=["NVIDIA H100 80GB HBM3"] * 2, cpus=12, busy=0.7,
                               disks=[SimDisk(mount="/", size_gib=900, used_pct=40)])),
        NodeConfig(name="cpu-b", host="127.0.0.1", sim=SimNode(gpus=[], cpus=2, busy=0.1)),
    ]  # fmt: skip
    return SimExporter({n.name: NodeWorld(n, 5, clock) for n in nodes}, clock)


def samples(page: str) -> dict[tuple[str, str], str]:
    out = {}
    for line in page.splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, line
        out[(match.group(1), match.group(2) or "")] = match.group(3)
    return out


@pytest.mark.parametrize(
    ("value", "go", "py"),
    [
        (0.21, "0.21", "0.21"),
        (33325338624.0, "3.3325338624e+10", "3.3325338624e+010"),  # prometheus_client's own quirk
        (12345.67, "12345.67", "12345.67"),
        (1234567.0, "1.234567e+06", "1.234567e+06"),
        (123456.0, "123456", "123456.0"),
        (100.0, "100", "100.0"),
        (0.0, "0", "0.0"),
        (1e-05, "1e-05", "1e-05"),
        (float("inf"), "+Inf", "+Inf"),
    ],
)
def test_number_formats_match_go_and_prometheus_client(value: float, go: str, py: str) -> None:
    assert (go_float(value), py_float(value)) == (go, py)


def test_every_family_has_help_and_type_and_every_sample_parses(exporter: SimExporter) -> None:
    for target in exporter.targets():
        page = exporter.page(target.path)
        assert page is not None and page.endswith("\n")
        helped = {line.split()[2] for line in page.splitlines() if line.startswith("# HELP ")}
        typed = {line.split()[2] for line in page.splitlines() if line.startswith("# TYPE ")}
        assert helped == typed
        for name, _ in samples(page):
            assert name in typed or re.sub(r"_(bucket|count|sum)$", "", name) in typed, name


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool (Debian package prometheus) not installed"
)
def test_promtool_parses_every_page_and_lints_only_the_real_names(exporter: SimExporter) -> None:
    for target in exporter.targets():
        page = exporter.page(target.path)
        assert page is not None
        done = subprocess.run(
            ["promtool", "check", "metrics"], input=page.encode(), capture_output=True, timeout=30
        )
        assert done.returncode in (0, 3), done.stderr.decode()  # 1 would be a parse error
        problems = [ln for ln in (done.stdout + done.stderr).decode().splitlines() if ln.strip()]
        assert all(REAL_LINT.search(p) for p in problems), problems


def test_values_are_the_worlds(exporter: SimExporter) -> None:
    world = exporter.worlds["gpu-a"]
    node = samples(exporter.node_exporter("gpu-a"))
    dcgm = samples(exporter.dcgm("gpu-a"))
    now = world.advance()
    assert float(node[("node_load1", "")]) == round(world.load[0], 2)
    assert float(node[("node_memory_MemTotal_bytes", "")]) == world.memory_kb(now)["total"] * 1024
    assert float(node[("node_boot_time_seconds", "")]) == world.boot_time
    root = '{device="/dev/nvme0n1p2",device_error="",fstype="ext4",mountpoint="/"}'
    assert float(node[("node_filesystem_size_bytes", root)]) == 900 * 1024**3
    assert not any(
        labels.endswith('mountpoint="/dev/shm"}') for _, labels in node
    )  # node_exporter's default filter
    cpu0 = [v for (n, labels), v in node.items() if n == "node_cpu_seconds_total" and 'cpu="0"' in labels]
    assert len(cpu0) == 8
    for gpu in world.gpus:
        labels = (
            f'{{gpu="{gpu.index}",UUID="{gpu.uuid}",pci_bus_id="{gpu.bus_id}",device="nvidia{gpu.index}",'
            f'modelName="NVIDIA H100 80GB HBM3",Hostname="gpu-a",DCGM_FI_DRIVER_VERSION="580.159.04"}}'
        )
        assert dcgm[("DCGM_FI_DEV_GPU_TEMP", labels)] == str(round(gpu.temp))
        assert dcgm[("DCGM_FI_DEV_GPU_UTIL", labels)] == str(round(gpu.util))
        assert dcgm[("DCGM_FI_DEV_POWER_USAGE", labels)] == f"{gpu.power:f}"
        used, free = int(dcgm[("DCGM_FI_DEV_FB_USED", labels)]), int(dcgm[("DCGM_FI_DEV_FB_FREE", labels)])
        assert (used, used + free) == (gpu.mem_used_mib, 81559)


def test_targets_per_node(exporter: SimExporter) -> None:
    assert [(t.job, t.node, t.instance) for t in exporter.targets()] == [
        ("node", "gpu-a", "gpu-a:9100"), ("dcgm", "gpu-a", "gpu-a:9400"), ("vllm", "gpu-a", "gpu-a:8000"),
        ("node", "cpu-b", "cpu-b:9100"),
    ]  # fmt: skip
    assert exporter.page("/dcgm/cpu-b/metrics") is None
    assert exporter.page("/node/nope/metrics") is None


def test_vllm_counters_grow_and_scenarios_pin_values(exporter: SimExporter, clock: FakeClock) -> None:
    first = samples(exporter.vllm("gpu-a"))
    clock.t += 60
    exporter.set_vllm("gpu-a", kv_cache=0.93, waiting=4, ttft_p95_s=3.0)
    second = samples(exporter.vllm("gpu-a"))
    model = '{model_name="meta-llama/Llama-3.1-70B-Instruct"}'
    key = ("vllm:generation_tokens_total", model)
    assert float(second[key]) > float(first[key])
    assert second[("vllm:gpu_cache_usage_perc", model)] == "0.93"
    assert second[("vllm:num_requests_waiting", model)] == "4.0"
    buckets = [float(second[("vllm:time_to_first_token_seconds_bucket",
                             f'{{le="{py_float(b)}",model_name="meta-llama/Llama-3.1-70B-Instruct"}}')])
               for b in (*TTFT_BUCKETS, float("inf"))]  # fmt: skip
    assert buckets == sorted(buckets)
    assert second[("vllm:time_to_first_token_seconds_count", model)] == py_float(buckets[-1])
    exporter.set_vllm("gpu-a", healthy=0)
    clock.t += 60
    dead = samples(exporter.vllm("gpu-a"))
    assert not any(name.startswith("vllm:") for name, _ in dead)
    replica = '{application="llm",deployment="VLLMDeployment",replica="VLLMDeployment#gpu-a"}'
    assert dead[("ray_serve_deployment_replica_healthy", replica)] == "0.0"
    with pytest.raises(TypeError):
        exporter.set_vllm("gpu-a", temperature=3)


async def test_server_serves_pages_and_refuses_once_stopped(exporter: SimExporter) -> None:
    server = ExporterServer(exporter, nodes=["gpu-a"])
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://{server.address}", trust_env=False) as client:
            answer = await client.get("/dcgm/gpu-a/metrics")
            assert answer.status_code == 200 and answer.headers["content-type"] == CONTENT_TYPE
            assert answer.text.startswith("# HELP DCGM_FI_DEV_SM_CLOCK SM clock frequency (in MHz).\n")
            assert (await client.get("/node/cpu-b/metrics")).status_code == 404  # not this server's node
            exporter.down.add(("node", "gpu-a"))
            assert (await client.get("/node/gpu-a/metrics")).status_code == 503
            assert (await client.post("/node/gpu-a/metrics")).status_code == 405
        await server.stop()
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient(trust_env=False) as client:
                await client.get(f"http://{server.address}/node/gpu-a/metrics")
    finally:
        await server.stop()


def test_scrape_config_names_each_target_by_node(exporter: SimExporter) -> None:
    server = ExporterServer(exporter, port=9999)
    config = scrape_config([server], interval_s=1)
    assert config["global"]["scrape_interval"] == "1s"
    jobs = {job["job_name"]: job["static_configs"] for job in config["scrape_configs"]}
    assert set(jobs) == {"node", "dcgm", "vllm"}
    assert jobs["node"][1] == {
        "targets": ["127.0.0.1:9999"],
        "labels": {"__metrics_path__": "/node/cpu-b/metrics", "instance": "cpu-b:9100"},
    }
