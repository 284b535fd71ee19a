"""`cockpit check`: Nagios exit codes against real SSH servers, and webhooks to a real HTTP server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from cockpit.check import CRITICAL, OK, UNKNOWN, WARNING, run_check
from cockpit.cli import main
from cockpit.config import Cluster
from cockpit.sim import SimCluster
from cockpit.webhook import poster


def cluster_for(tmp_path: Path) -> Cluster:
    return Cluster.model_validate(
        {
            "cluster": "check",
            "refresh": 1,
            "ssh": {"known_hosts": str(tmp_path / "kh"), "config_file": None, "agent": False},
            "nodes": [
                {
                    "name": "gpu-a",
                    "host": "127.0.0.1",
                    "port": 1,
                    "sim": {"gpus": ["NVIDIA GeForce RTX 4090"], "busy": 0.05, "mem_gib": 512},
                }
            ],
        }
    )


@pytest.mark.parametrize(("temp", "code"), [(40, OK), (75, WARNING), (90, CRITICAL)])
async def test_exit_code_follows_the_worst_alert(tmp_path: Path, temp: float, code: int) -> None:
    async with SimCluster(cluster_for(tmp_path), state_dir=tmp_path / "sim", ephemeral_ports=True) as sim:
        sim.set_gpu("gpu-a", 0, temp=temp, power=100, util=5)
        lines: list[str] = []
        result = await run_check(sim.effective_cluster(), None, lines.append)
    assert result == code, lines
    assert lines[0].startswith(("OK", "WARNING", "CRITICAL")[code])
    if code != OK:
        assert lines[1:] == [
            f"{('WARNING', 'CRITICAL')[code - 1]} gpu-a/gpu0: GPU temperature {temp}°C "
            f"{'≥ 70' if code == WARNING else '> 80'}°C"
        ]


async def test_only_filters_groups(tmp_path: Path) -> None:
    async with SimCluster(cluster_for(tmp_path), state_dir=tmp_path / "sim", ephemeral_ports=True) as sim:
        sim.set_gpu("gpu-a", 0, temp=90, power=100, util=5)
        lines: list[str] = []
        assert await run_check(sim.effective_cluster(), {"nodes"}, lines.append) == OK
        assert await run_check(sim.effective_cluster(), {"gpus"}, lines.append) == CRITICAL


def test_a_bad_config_is_unknown_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster: x\nnodes: []\n")
    assert main(["check", "--config", str(bad)]) == UNKNOWN
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{bad}:2:8: nodes:")
    assert main(["check", "--config", str(bad), "--only", "bogus"]) == UNKNOWN


def test_a_down_node_is_critical_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"cluster: c\nssh: {{known_hosts: {tmp_path}/kh, config_file: null, connect_timeout: 2}}\n"
        "nodes: [{name: gone, host: 127.0.0.1, port: 9}]\n"
    )
    assert main(["check", "--config", str(config)]) == CRITICAL
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "CRITICAL: c: 0/1 nodes up, 1 critical, 0 warning"
    assert out[1].startswith("CRITICAL gone: down (connection refused")


async def test_webhook_posts_new_alerts_as_slack_style_json(tmp_path: Path) -> None:
    received: list[dict] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        received.append(json.loads(await reader.readexactly(length)))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    warnings: list[str] = []
    try:
        async with SimCluster(cluster_for(tmp_path), state_dir=tmp_path / "sim", ephemeral_ports=True) as sim:
            sim.set_gpu("gpu-a", 0, temp=90, power=100, util=5)
            await run_check(
                sim.effective_cluster(), None, lambda _: None, on_new=poster(url, "check", warnings.append)
            )
    finally:
        server.close()
    assert warnings == []
    (body,) = received
    assert body["text"].startswith("check: 1 new alert(s)\n[CRITICAL] gpu-a/gpu0: GPU temperature 90°C")
    assert body["alerts"][0]["metric"] == "gpu_temp"


async def test_a_dead_webhook_is_one_line_and_the_check_goes_on(tmp_path: Path) -> None:
    warnings: list[str] = []
    post = poster("http://127.0.0.1:9/hook", "check", warnings.append)
    from cockpit.model import Alert

    await post([Alert("critical", "x", "node_down", "x: down")])
    assert len(warnings) == 1 and warnings[0].startswith("webhook http://127.0.0.1:9/hook: ConnectError")
