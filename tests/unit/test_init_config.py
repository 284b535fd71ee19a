"""``cockpit init``: the SSH config read as ``ssh -G`` reads it, a starter file the cockpit accepts,
tools found over the real SSH path against the simulator, and files never clobbered."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cockpit.config import Cluster, load_cluster
from cockpit.init_config import (
    InitError,
    cluster_from_text,
    parse_command_v,
    probe_hosts,
    run_init,
    starter_cluster,
    write_config,
)
from cockpit.model import ProbeError
from cockpit.sim import SimCluster
from cockpit.ssh_config import SshHost, parse_ssh_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SSH_HOME = FIXTURES / "ssh_config" / "home" / ".ssh"
ALIASES = [
    "vast-3070",
    "runpod-a100",
    "bastion",
    "hydra-ai",
    "hydra-ai.lan",
    "hydra-compute",
    "gpu-01",
    "gpu-02",
    "lambda-h100",
    "vast-5090-a",
    "deep",
    "quoted-host",
    "legacy",
    "nas.lan",
    "storage",
]


def ssh_g() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    alias = ""
    for line in (FIXTURES / "ssh_config" / "ssh_G.txt").read_text().splitlines():
        if line.startswith("== "):
            alias = line[3:]
            out[alias] = {}
        else:
            key, _, value = line.partition(" ")
            out[alias][key] = value
    return out


def sample() -> list[SshHost]:
    return parse_ssh_config(SSH_HOME / "config", ssh_dir=SSH_HOME).hosts()


def test_every_alias_resolves_as_ssh_G_does() -> None:
    config = parse_ssh_config(SSH_HOME / "config", ssh_dir=SSH_HOME)
    assert list(config.aliases) == ALIASES  # file order, the Include read in place; no patterns
    for alias, real in ssh_g().items():
        host = config.resolve(alias)
        assert host.hostname == real["hostname"], alias
        assert host.user == real["user"], alias
        assert str(host.port or 22) == real["port"], alias
        assert host.proxy_jump == real.get("proxyjump"), alias
        assert host.proxy_command == real.get("proxycommand"), alias
    assert config.resolve("hydra-ai").identity_files == ("~/.ssh/id_hydra",)
    assert config.notes == [
        f"{SSH_HOME / 'config'}:57: Match block skipped (the cockpit reads Host blocks only)"
    ]


def test_starter_file_loads_with_jumps_kept_and_duplicates_merged(tmp_path: Path) -> None:
    notes: list[str] = []
    text = starter_cluster(sample(), notes=notes)
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    cluster = load_cluster(path)
    nodes = {n.name: n for n in cluster.nodes}
    assert "hydra-ai.lan" not in nodes and "# also named hydra-ai.lan in ~/.ssh/config" in text
    assert (nodes["gpu-02"].host, nodes["gpu-02"].port, nodes["gpu-02"].user) == (
        "10.20.0.12",
        2222,
        "ubuntu",
    )
    assert nodes["gpu-01"].jump == "bastion"
    assert nodes["deep"].jump == "gpu-01", "bastion,gpu-01: gpu-01 already jumps through bastion"
    assert nodes["lambda-h100"].jump == "admin@bastion.example.net:2200"
    assert nodes["vast-5090-a"].jump is None and nodes["storage"].host == "storage.home.arpa"
    assert all(n.probes == ["host", "gpus", "containers"] for n in cluster.nodes)
    assert cluster.ssh.host_key_policy == "strict"
    assert "# identity_file: [~/.ssh/id_hydra]" in text
    assert notes == [
        f"{SSH_HOME / 'config'}:47: legacy uses ProxyCommand, which the cockpit does not run;"
        " it will connect directly"
    ]


def test_values_yaml_would_misread_are_quoted() -> None:
    hosts = [
        SshHost("1234", "10.0.0.1", user="null"),
        SshHost("yes", "10.0.0.2", port=2222),
        SshHost("far", "10.0.0.3", proxy_jump="ops@jump.example.org"),
        SshHost("two", "10.0.0.4", proxy_jump="hop1.example.org,hop2.example.org:2022"),
        SshHost("bad name!", "10.0.0.5"),
    ]
    notes: list[str] = []
    cluster = cluster_from_text(starter_cluster(hosts, cluster_name="007", notes=notes))
    assert cluster.cluster == "007"
    assert [(n.name, n.user, n.jump) for n in cluster.nodes] == [
        ("1234", "null", None),
        ("yes", None, None),
        ("far", None, "ops@jump.example.org:22"),
        ("two", None, "hop2.example.org:2022"),
    ]
    assert notes == [
        ": 'bad name!' cannot be a node name; skipped",
        ": two: ProxyJump hop1.example.org,hop2.example.org:2022: only the last hop is kept"
        " (give hop2.example.org:2022 its own jump to reach it through hop1.example.org)",
    ]


@pytest.mark.parametrize(
    ("fixture", "found"),
    [
        ("bash_all.out", {"nvidia-smi", "docker", "systemctl"}),
        ("dash_all.out", {"nvidia-smi", "docker", "systemctl"}),
        ("dash_no_gpu.out", {"docker", "systemctl"}),
        ("bash_none.out", set()),
        ("bash_interactive_alias.out", {"systemctl"}),
        ("dash_one_call.out", set()),
    ],
)
def test_command_v_output_of_real_shells(fixture: str, found: set[str]) -> None:
    assert parse_command_v((FIXTURES / "command_v" / fixture).read_text()) == found


def test_command_v_ignores_what_is_not_a_tool() -> None:
    assert parse_command_v("Welcome to Ubuntu\n/usr/bin/dockerd\nnvidia-smi\n/x/docker-compose\n") == {
        "nvidia-smi"
    }


# -- against the simulator -------------------------------------------------------------------------


def sim_cluster(tmp_path: Path) -> Cluster:
    nodes = [
        {"name": "gpu-a", "sim": {"gpus": ["NVIDIA GeForce RTX 4090"], "containers": []}},
        {"name": "nas", "tags": ["unraid"], "sim": {"nvidia_smi": "missing", "containers": []}},
        {"name": "bare", "sim": {"nvidia_smi": "missing"}},
        {"name": "behind", "sim": {"gpus": ["NVIDIA H100 80GB HBM3"]}},
        {"name": "gone", "sim": {"nvidia_smi": "missing"}},
    ]
    for node in nodes:
        node.update(host="127.0.0.1", port=1)
    ssh = {"known_hosts": str(tmp_path / "known_hosts"), "config_file": None, "agent": False}
    return Cluster.model_validate({"cluster": "lab", "ssh": ssh, "nodes": nodes})


SETTINGS = {"config_file": None, "agent": False, "connect_timeout": 2, "command_timeout": 3}


def ssh_config_for(sim: SimCluster, path: Path) -> Path:
    """The operator's ~/.ssh/config for the simulated lab: every Host at a loopback port."""
    ports = sim.ports
    path.write_text(
        f"Host gpu-a\n  HostName 127.0.0.1\n  Port {ports['gpu-a']}\n  User typhon\n\n"
        f"Host nas\n  HostName 127.0.0.1\n  Port {ports['nas']}\n  User root\n\n"
        f"Host bare gone\n  HostName 127.0.0.1\n\n"
        f"Host bare\n  Port {ports['bare']}\n\n"
        f"Host gone\n  Port {ports['gone']}\n\n"
        f"Host behind\n  HostName 127.0.0.1\n  Port {ports['behind']}\n  ProxyJump gpu-a\n\n"
        "Host *\n  User ubuntu\n"
    )
    return path


async def test_probe_hosts_over_ssh_finds_each_hosts_tools(tmp_path: Path) -> None:
    sim = SimCluster(sim_cluster(tmp_path), state_dir=tmp_path / "sim", ephemeral_ports=True)
    await sim.start()
    try:
        await sim.stop_node("gone")
        config = ssh_config_for(sim, tmp_path / "config")
        hosts = parse_ssh_config(config, ssh_dir=tmp_path).hosts()
        settings = {**SETTINGS, "known_hosts": str(sim.known_hosts)}
        cluster = cluster_from_text(starter_cluster(hosts, ssh=settings))
        assert cluster.node("behind").jump == "gpu-a"
        found = await probe_hosts(cluster)
    finally:
        await sim.stop()
    assert found["gpu-a"] == {"nvidia-smi", "docker", "systemctl"}
    assert found["nas"] == {"docker"}  # Unraid: no systemd, no nvidia-smi in this one
    assert found["bare"] == {"systemctl"}
    assert found["behind"] == {"nvidia-smi", "systemctl"}  # reached through gpu-a
    gone = found["gone"]
    assert isinstance(gone, ProbeError) and gone.reason.startswith("connection refused")
    text = starter_cluster(hosts, found, ssh=settings)
    probes = {n.name: n.probes for n in cluster_from_text(text).nodes}
    assert probes == {
        "gpu-a": ["host", "gpus", "containers"],
        "nas": ["host", "containers"],
        "bare": ["host"],
        "behind": ["host", "gpus"],
        "gone": ["host", "gpus", "containers"],
    }
    assert "    # not probed (connection refused: port" in text
    assert "    probes: [host, containers]  # found: docker\n" in text


async def test_init_writes_a_private_file_and_asks_before_replacing_one(tmp_path: Path) -> None:
    sim = SimCluster(sim_cluster(tmp_path), state_dir=tmp_path / "sim", ephemeral_ports=True)
    await sim.start()
    said: list[str] = []
    asked: list[str] = []
    answers: list[bool] = []

    def ask(question: str) -> bool:
        asked.append(question)
        return answers.pop(0)

    dest = tmp_path / "xdg" / "gpu-cockpit" / "cluster.yaml"
    settings = {**SETTINGS, "known_hosts": str(sim.known_hosts)}
    try:
        config = ssh_config_for(sim, tmp_path / "config")
        common = {"ssh_config": config, "dest": dest, "ask": ask, "say": said.append, "ssh": settings}
        status = await run_init(probe=True, force=False, **common)  # type: ignore[arg-type]
        assert status == 0 and asked == []
        assert stat.S_IMODE(dest.stat().st_mode) == 0o600
        assert stat.S_IMODE(dest.parent.stat().st_mode) == 0o700
        first = dest.read_text()
        assert load_cluster(dest).node("nas").probes == ["host", "containers"]
        assert "gpu-a: nvidia-smi, docker, systemctl" in said
        assert said[-1] == f"wrote {dest} (5 nodes); check it with: cockpit validate {dest}"

        answers[:] = [False]
        assert await run_init(probe=None, force=False, **common) == 1  # type: ignore[arg-type]
        assert asked[-1].startswith(f"{dest} exists. Replace it") and dest.read_text() == first

        answers[:] = [True, False]  # replace it, but do not connect anywhere
        assert await run_init(probe=None, force=False, **common) == 0  # type: ignore[arg-type]
        assert asked[-1].startswith("Connect to 5 hosts over SSH")
        assert "# not probed: default probes" in dest.read_text()
        assert (dest.parent / "cluster.yaml.bak").read_text() == first
    finally:
        await sim.stop()


def test_write_config_never_clobbers_unless_told(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "cluster.yaml"
    assert write_config(path, "cluster: a\n", overwrite=False) is None
    with pytest.raises(InitError, match="already exists; not replacing it"):
        write_config(path, "cluster: b\n", overwrite=False)
    assert path.read_text() == "cluster: a\n"
    backup = write_config(path, "cluster: b\n", overwrite=True)
    assert backup is not None and backup.read_text() == "cluster: a\n" and path.read_text() == "cluster: b\n"
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["cluster.yaml", "cluster.yaml.bak"]


async def test_init_with_no_usable_host_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host *\n  User me\nMatch all\n  User x\n")
    said: list[str] = []
    dest = tmp_path / "out.yaml"
    status = await run_init(
        ssh_config=config, dest=dest, probe=True, force=False, ask=lambda q: True, say=said.append
    )
    assert status == 1 and not dest.exists()
    assert said[-1] == f"cockpit init: no Host entries without wildcards in {config}; nothing to write"
    missing = await run_init(
        ssh_config=tmp_path / "nope", dest=dest, probe=True, force=False, ask=lambda q: True, say=said.append
    )
    assert missing == 2 and said[-1].startswith(f"cockpit init: cannot read {tmp_path / 'nope'}")
