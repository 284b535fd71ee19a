"""`cockpit sim` in one process and `cockpit snapshot` in another, as an operator would run them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import yaml

SCHEMA = Path(__file__).resolve().parents[2].parent / "shared" / "contracts" / "snapshot.schema.json"


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _wait_for(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def test_sim_then_snapshot_over_real_ssh(tmp_path: Path) -> None:
    a, b, gone = _free_ports(3)
    config = tmp_path / "cluster.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "cluster": "cli",
                "ssh": {
                    "known_hosts": str(tmp_path / "known_hosts"),
                    "config_file": None,
                    "agent": False,
                    "connect_timeout": 3,
                },
                "nodes": [
                    {
                        "name": "gpu-a",
                        "host": "127.0.0.1",
                        "port": a,
                        "sim": {"gpus": ["NVIDIA H100 80GB HBM3"]},
                    },
                    {"name": "cpu-b", "host": "127.0.0.1", "port": b, "probes": ["host"]},
                ],
            }
        )
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    sim = subprocess.Popen(
        [sys.executable, "-m", "cockpit.cli", "sim", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        _wait_for(a, deadline)
        _wait_for(b, deadline)
        while not (tmp_path / "known_hosts").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        # A third node nobody serves: the snapshot must still come back, naming why.
        data = yaml.safe_load(config.read_text())
        data["nodes"].append({"name": "gone", "host": "127.0.0.1", "port": gone})
        snap_config = tmp_path / "snap.yaml"
        snap_config.write_text(yaml.safe_dump(data))
        out = subprocess.run(
            [sys.executable, "-m", "cockpit.cli", "snapshot", "--config", str(snap_config)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        sim.terminate()
        sim.wait(10)
    assert out.returncode == 0, out.stderr
    snapshot = json.loads(out.stdout)
    jsonschema.validate(snapshot, json.loads(SCHEMA.read_text()))
    nodes = {n["name"]: n for n in snapshot["nodes"]}
    assert nodes["gpu-a"]["status"] == "up"
    assert nodes["gpu-a"]["gpus"][0]["mem_total_mib"] == 81559
    assert nodes["gpu-a"]["cpu_pct"] is not None
    assert nodes["cpu-b"]["status"] == "up" and nodes["cpu-b"]["gpus"] == []
    assert nodes["gone"]["status"] == "down"
    assert nodes["gone"]["error"].startswith("connection refused")
    assert nodes["gone"]["load1"] is None, "unavailable is null, never 0"


def test_snapshot_table_format(tmp_path: Path) -> None:
    (port,) = _free_ports(1)
    config = tmp_path / "cluster.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "cluster": "cli",
                "ssh": {"known_hosts": str(tmp_path / "kh"), "config_file": None, "connect_timeout": 2},
                "nodes": [{"name": "gone", "host": "127.0.0.1", "port": port}],
            }
        )
    )
    out = subprocess.run(
        [sys.executable, "-m", "cockpit.cli", "snapshot", "--config", str(config), "--format", "table"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "gone" in out.stdout and "down" in out.stdout and "connection refused" in out.stdout
