"""``cockpit snapshot`` as an operator's cron job runs it: a subprocess, a config file, real sshd."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

pytestmark = pytest.mark.integration


def _write_config(lab, tmp_path, nodes):
    config = {
        "cluster": "it-cli",
        "refresh": 1,
        "ssh": {
            "user": "root",
            "identity_file": str(lab.keys.authorized),
            "agent": False,
            "known_hosts": str(lab.known_hosts),
            "config_file": None,
            "connect_timeout": 2,
            "command_timeout": 2,
        },
        "nodes": nodes,
    }
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _snapshot(path, cwd):
    return subprocess.run(
        [sys.executable, "-m", "cockpit.cli", "snapshot", "--config", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def test_cockpit_snapshot_json_against_sshd(lab, tmp_path, validate_snapshot):
    srv = lab.server("a", gpus=2)
    refused = lab.free_port()
    path = _write_config(
        lab,
        tmp_path,
        [
            {"name": "a", "host": "127.0.0.1", "port": srv.port, "tags": ["h100"]},
            {"name": "gone", "host": "127.0.0.1", "port": refused},
        ],
    )
    result = _snapshot(path, tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    validate_snapshot(document)
    assert document["cluster"] == "it-cli"
    nodes = {n["name"]: n for n in document["nodes"]}
    assert nodes["a"]["status"] == "up", nodes["a"]["error"]
    assert nodes["a"]["tags"] == ["h100"]
    assert [g["index"] for g in nodes["a"]["gpus"]] == [0, 1]
    assert all(g["name"] == "NVIDIA H100 80GB HBM3" for g in nodes["a"]["gpus"])
    assert nodes["a"]["disks"] and nodes["a"]["load1"] is not None and nodes["a"]["cpu_pct"] is not None
    assert nodes["gone"]["status"] == "down"
    assert nodes["gone"]["error"].startswith("connection refused")
    assert nodes["gone"]["gpus"] == [] and nodes["gone"]["load1"] is None
    assert len(srv.nvidia_smi_calls()) == 1


def test_cockpit_snapshot_unknown_host_key_is_reported_not_crashed(lab, tmp_path, validate_snapshot):
    srv = lab.server("a", trusted=False)
    path = _write_config(lab, tmp_path, [{"name": "a", "host": "127.0.0.1", "port": srv.port}])
    result = _snapshot(path, tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    validate_snapshot(document)
    (node,) = document["nodes"]
    assert node["status"] == "down" and node["error"].startswith("host key unknown"), node
    assert "Traceback" not in result.stderr
