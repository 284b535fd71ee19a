"""The record, replay and init commands from the command line (the cores are tested on their own)."""

from __future__ import annotations

from pathlib import Path

from cockpit.cli import main
from cockpit.config import load_cluster
from cockpit.recording import Recording

ROOT = Path(__file__).resolve().parents[2]


def test_record_the_demo_then_load_it(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "incident.jsonl.gz"
    config = ROOT / "examples" / "hydra.yaml"
    code = main(
        ["record", str(out), "--config", str(config), "--demo", "--scenario", "disk-full", "--cycles", "3"]
    )
    assert code == 0, capsys.readouterr().err
    recording = Recording.load(out)
    assert len(recording.states) == 3
    assert {n.name for n in recording.at(2).nodes} == {"hydra-ai", "hydra-compute", "hydra-storage"}
    assert main(["record", str(out), "--config", str(config), "--demo", "--cycles", "1"]) == 2, (
        "never overwrites"
    )


def test_init_writes_a_config_that_loads_and_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    ssh_config = ROOT / "tests" / "fixtures" / "ssh_config" / "home" / ".ssh" / "config"
    target = tmp_path / "conf" / "cluster.yaml"
    assert main(["init", "--ssh-config", str(ssh_config), "--output", str(target), "--name", "lab"]) == 0
    cluster = load_cluster(target)
    assert cluster.cluster == "lab" and cluster.nodes
    assert (target.stat().st_mode & 0o777) == 0o600
    assert main(["init", "--ssh-config", str(ssh_config), "--output", str(target)]) != 0
    assert "nothing written" in capsys.readouterr().err


def test_a_fleet_incident_replays_with_its_mesh_and_cost(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = tmp_path / "partition.jsonl.gz"
    config = ROOT / "examples" / "ringrift.yaml"
    code = main(
        ["record", str(out), "--config", str(config), "--demo", "--scenario", "partition", "--cycles", "2"]
    )
    assert code == 0, capsys.readouterr().err
    state = Recording.load(out).at(1)
    assert state.fleet is not None and state.fleet.cost is not None
    leaders = {r.effective_leader_id or r.leader_id for r in state.fleet.mesh if r.reachable}
    assert len(leaders) > 1, "the partition is in the recording"
