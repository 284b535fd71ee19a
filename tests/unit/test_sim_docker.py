"""The simulated docker CLI: ps/inspect formats, crash loops over time, logs, prune, compose, GPU owners."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cockpit.config import Cluster, load_cluster
from cockpit.sim import SimCluster, SimError
from cockpit.sim.commands import run_command
from cockpit.sim.world import NodeWorld

T0 = 1_795_361_966.0
REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "docker"
PS_KEYS = ["Command", "CreatedAt", "ID", "Image", "Labels", "LocalVolumes", "Mounts", "Names", "Networks",
           "Ports", "RunningFor", "Size", "State", "Status"]  # fmt: skip


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def demo(name: str, clock: Clock, seed: int = 7) -> NodeWorld:
    return NodeWorld(load_cluster(REPO / "cluster.yaml").node(name), seed, clock)


def node(clock: Clock, **sim: object) -> NodeWorld:
    spec = {
        "name": "box",
        "host": "127.0.0.1",
        "tags": sim.pop("tags", ["nixos"]),
        "user": "typhon",
        "sim": sim,
    }
    return NodeWorld(Cluster.model_validate({"cluster": "t", "nodes": [spec]}).nodes[0], 3, clock)


async def sh(world: NodeWorld, script: str, user: str = "root") -> tuple[str, str, int]:
    return await run_command(world, script, user)


async def test_ps_json_has_docker_keys_ids_labels_and_quoted_commands() -> None:
    w = demo("hydra-storage", Clock())
    out, err, rc = await sh(w, "docker ps -a --format '{{json .}}'")
    rows = [json.loads(line) for line in out.splitlines()]
    assert (rc, err, len(rows)) == (0, "", 6)
    real = json.loads((FIXTURES / "ps_json.txt").read_text().splitlines()[0])
    assert list(rows[0]) == PS_KEYS == [k for k in real if k != "Platform"], "keys as docker prints them"
    assert all(re.fullmatch(r"[0-9a-f]{12}", r["ID"]) for r in rows)
    litellm = next(r for r in rows if r["Names"] == "litellm")
    assert litellm["Command"] == '"docker/prod_entrypo…"', "cut to 20 columns, then strconv.Quote"
    assert "com.docker.compose.project=hydra-stack" in litellm["Labels"].split(",")
    assert "com.docker.compose.service=litellm" in litellm["Labels"].split(",")
    pairs = litellm["Labels"].split(",com.")
    assert pairs == sorted(pairs), "joined k=v strings sorted, as docker 28 does"
    assert litellm["Ports"] == "0.0.0.0:4000->4000/tcp, [::]:4000->4000/tcp"
    assert litellm["State"] == "running" and re.fullmatch(
        r"Up \d+ (days|weeks) \(healthy\)", litellm["Status"]
    )
    assert '"Ports":"0.0.0.0:4000-\\u003e4000/tcp' in out, "json.Marshal's HTML escaping, as real docker"
    full, _, _ = await sh(w, "docker ps -a --no-trunc --size=false --format '{{json .}}'")
    first = json.loads(full.splitlines()[0])
    assert re.fullmatch(r"[0-9a-f]{64}", first["ID"]) and first["ID"].startswith(rows[0]["ID"])
    assert '"Command":"\\"/run.sh\\""' in full


async def test_default_table_and_runbook_table_format() -> None:
    w = demo("hydra-storage", Clock())
    out, _, _ = await sh(w, "docker ps")
    header, *rows = out.splitlines()
    assert re.fullmatch(r"CONTAINER ID   IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES", header)
    assert all(len(r) > 40 and r[12:15] == "   " for r in rows), "tabwriter: 12-char ids, 3 spaces padding"
    assert header.index("IMAGE") == rows[0].index(rows[0].split()[1])
    out, _, rc = await sh(w, "docker ps --format 'table {{.Names}}\\t{{.Status}}' | grep -v 'Up'")
    assert (out, rc) == ("NAMES        STATUS\n", 0), "all up: only the header survives the runbook's grep"
    w.services.set_container("redis", "exited", w.advance())
    out, _, _ = await sh(w, "docker ps -a --format 'table {{.Names}}\\t{{.Status}}' | grep -v 'Up'")
    assert out.splitlines()[1] == "redis        Exited (137) Less than a second ago"
    quiet, _, _ = await sh(w, "docker ps -q")
    assert len(quiet.split()) == 5, "plain ps lists running (and restarting) containers only"


async def test_crash_loop_restart_count_rises_and_status_alternates() -> None:
    clock = Clock()
    w = demo("hydra-storage", clock)
    w.services.set_container("qdrant", "crash-loop", clock.t)
    seen, counts = set(), []
    for step in range(240):
        clock.t = T0 + step * 0.5
        out, _, _ = await sh(w, "docker ps --format '{{.Names}}|{{.State}}|{{.Status}}' --filter name=qdrant")
        _, state, status = out.strip().split("|")
        seen.add((state, re.sub(r"\d+", "N", status)))
        counts.append(int((await sh(w, "docker inspect -f '{{.RestartCount}}' qdrant"))[0]))
    assert ("restarting", "Restarting (N) N seconds ago") in seen
    assert ("running", "Up N second") in seen or ("running", "Up N seconds") in seen
    assert counts == sorted(counts) and counts[-1] >= 8, "RestartCount only rises"
    logs, errs, _ = await sh(w, "docker logs --tail 40 qdrant")
    assert "Panic occurred" in logs and errs == "", "qdrant logs to stdout"
    out, _, rc = await sh(w, "docker restart qdrant")
    assert (out, rc) == ("qdrant\n", 0)
    clock.t += 30
    out, _, _ = await sh(w, "docker inspect -f '{{.State.Status}} {{.RestartCount}}' qdrant")
    assert out == "running 0\n", "a manual restart clears the loop and resets RestartCount"


async def test_inspect_formats_and_errors() -> None:
    w = demo("hydra-storage", Clock())
    fmt = "{{.Id}} {{.Name}} {{.RestartCount}} {{.State.ExitCode}} {{.State.Status}} {{.State.Running}} {{.Config.Image}}"
    out, err, rc = await sh(w, f"docker inspect --format '{fmt}' redis nope")
    assert re.fullmatch(r"[0-9a-f]{64} /redis 0 0 running true redis:7-alpine\n", out)
    assert (err, rc) == ("Error: No such object: nope\n", 1)
    assert await sh(w, "docker inspect -f '{{.Id}}' nope") == ("\n", "Error: No such object: nope\n", 1)
    gone = (FIXTURES / "inspect_one_gone.stderr.txt").read_text().split(": ")[:-1]
    _, err, _ = await sh(w, "docker inspect --type container -f '{{.Id}}' x1")
    assert err.split(": ")[:-1] == gone and err.endswith(": x1\n")
    out, err, rc = await sh(w, "docker inspect -f '{{.State.Nope}}' redis")
    assert (
        err
        == 'template parsing error: template: :1:8: executing "" at <.State.Nope>: map has no entry for key "Nope"\n'
    )
    assert (out, rc) == ("\n", 1)
    assert (await sh(w, "docker inspect -f '{{nope .}}' redis"))[1:] == (
        'template parsing error: template: :1: function "nope" not defined\n', 64)  # fmt: skip
    full, _, rc = await sh(w, "docker inspect redis postgres")
    data = json.loads(full)
    assert rc == 0 and [d["Name"] for d in data] == ["/redis", "/postgres"]
    assert list(data[0])[:5] == ["Id", "Created", "Path", "Args", "State"] and full.startswith("[\n    {\n")
    assert data[1]["State"]["Health"]["Status"] == "healthy" and data[0]["HostConfig"]["Memory"] == 0
    assert await sh(w, "docker ps --format '{{.Nope}}'") == (
        "", 'failed to execute template: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope '
        "in type *formatter.ContainerContext\n", 1)  # fmt: skip


async def test_lifecycle_commands_and_errors() -> None:
    clock = Clock()
    w = demo("hydra-storage", clock)
    out, err, rc = await sh(w, "docker stop redis nope")
    assert (out, err, rc) == ("redis\n", "Error response from daemon: No such container: nope\n", 1)
    clock.t += 120
    assert (await sh(w, "docker ps -a --filter name=redis --format '{{.Status}}'"))[
        0
    ] == "Exited (0) 2 minutes ago\n"
    assert await sh(w, "docker start redis") == ("redis\n", "", 0)
    assert (await sh(w, "docker ps --filter name=redis --format '{{.State}}'"))[0] == "running\n"
    _, err, rc = await sh(w, "docker ps --bogus")
    assert rc == 125 and err.startswith("unknown flag: --bogus\n\nUsage:  docker ps [OPTIONS]\n")
    _, err, rc = await sh(w, "docker restart")
    assert rc == 1 and err.startswith("docker: 'docker restart' requires at least 1 argument\n")
    assert await sh(w, "docker frobnicate") == (
        "",
        "docker: 'frobnicate' is not a docker command.\nSee 'docker --help'\n",
        1,
    )


async def test_logs_tail_timestamps_streams_and_follow() -> None:
    clock = Clock()
    w = demo("hydra-storage", clock)
    out, err, rc = await sh(w, "docker logs --tail 3 litellm")
    assert (out, rc) == ("", 0) and len(err.splitlines()) == 3, "uvicorn logs to stderr"
    assert all(line.startswith("INFO:     ") for line in err.splitlines())
    out, _, _ = await sh(w, "docker logs -t -n 2 redis 2>/dev/null")
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z 1:[MC] ", ln) for ln in out.splitlines())
    _, err, rc = await sh(w, "docker logs nope")
    assert (err, rc) == ("Error response from daemon: No such container: nope\n", 1)
    assert (await sh(w, "docker ps -q | xargs -I {} docker logs {} --tail 5 2>&1 | head -100"))[2] == 0

    def moving() -> float:
        clock.t += 5
        return clock.t

    w.clock = moving
    out, err, rc = await sh(w, "timeout 2.5 docker logs -f --tail 0 litellm")
    assert rc == 124 and len(err.splitlines()) >= 1, "follow keeps printing new lines until stopped"


async def test_prune_frees_disk_and_removes_stopped_containers() -> None:
    w = demo("hydra-storage", Clock())
    w.services.set_container("redis", "stopped", w.advance())
    before, _, _ = await sh(w, "df -P /mnt/cache")
    out, _, rc = await sh(w, "docker system prune -af")
    assert rc == 0
    sections = out.split("\n\n")
    assert sections[0].startswith("Deleted Containers:\n") and len(sections[0].splitlines()) == 2
    assert "Deleted Images:\nuntagged: " in out and "\nDeleted build cache objects:\n" in out
    total = re.search(r"\nTotal reclaimed space: (\d+(?:\.\d+)?)GB\n$", out)
    assert total and float(total.group(1)) > 1
    after, _, _ = await sh(w, "df -P /mnt/cache")
    used = lambda text: int(text.splitlines()[1].split()[2])  # noqa: E731
    assert used(before) - used(after) == pytest.approx(float(total.group(1)) * 1e9 / 1024, rel=0.01)
    assert "redis" not in (await sh(w, "docker ps -a"))[0]
    assert await sh(w, "docker image prune -af") == ("Total reclaimed space: 0B\n", "", 0)
    df, _, _ = await sh(w, "docker system df")
    assert df.splitlines()[0] == "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE"
    assert df.splitlines()[4].endswith("0B        0B")


async def test_compose_restart_in_project_dir_and_by_name() -> None:
    w = demo("hydra-storage", Clock())
    w.services.set_container("litellm", "crash-loop", w.advance())
    out, err, rc = await sh(w, "cd /mnt/user/appdata/hydra-stack && docker-compose restart")
    assert (out, rc) == ("", 0)
    assert err.splitlines()[:2] == [" Container postgres  Restarting", " Container postgres  Started"]
    assert len(err.splitlines()) == 12
    assert (await sh(w, "docker inspect -f '{{.State.Status}}' litellm"))[0] == "running\n"
    assert await sh(w, "docker compose -p hydra-stack restart redis") == (
        "", " Container redis  Restarting\n Container redis  Started\n", 0)  # fmt: skip
    assert await sh(w, "docker-compose restart") == ("", "no configuration file provided: not found\n", 1)
    assert await sh(w, "cd /nope") == ("", "sh: 1: cd: can't cd to /nope\n", 2)


async def test_docker_only_where_installed() -> None:
    clock = Clock()
    assert await sh(demo("vast-3070", clock), "docker ps") == ("", "sh: 1: docker: not found\n", 127)
    assert await sh(demo("lambda-h100", clock), "docker ps -q") == ("", "", 0), "installed, no containers"
    assert (await sh(node(clock, containers=[]), "command -v docker"))[0] == "/usr/bin/docker\n"
    assert (await sh(demo("hydra-ai", clock), "docker-compose ps"))[2] == 127, (
        "compose v1 name only on Unraid"
    )


async def test_gpu_container_owns_its_process_and_cgroup() -> None:
    clock = Clock()
    w = node(clock, gpus=["NVIDIA GeForce RTX 4090"], busy=0.5, units={"ollama": "active"},
             containers=[{"name": "comfyui", "image": "yanwk/comfyui-boot:cu124", "gpu": 0, "gpu_mem_mib": 2048}])  # fmt: skip
    cid = (await sh(w, "docker inspect -f '{{.Id}}' comfyui"))[0].strip()
    out, _, _ = await sh(w, "nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits")
    pids = [int(line.split(", ")[0]) for line in out.splitlines()]
    assert len(pids) == 2
    cg, _, rc = await sh(w, "grep -H '' " + " ".join(f"/proc/{p}/cgroup" for p in pids) + " /proc/1/cgroup")
    assert rc == 0 and f"/proc/{pids[1]}/cgroup:0::/system.slice/docker-{cid}.scope" in cg.splitlines()
    assert "/proc/1/cgroup:0::/init.scope" in cg.splitlines()
    assert (await sh(w, "docker inspect -f '{{.State.Pid}}' comfyui"))[0] == f"{pids[1]}\n"
    assert await sh(w, f"kill {pids[1]}", user="typhon") == ("", "sh: 1: kill: Operation not permitted\n", 1)
    assert await sh(w, f"kill -9 {pids[1]}") == ("", "", 0)
    clock.t += 1
    out, _, _ = await sh(w, "docker inspect -f '{{.RestartCount}} {{.State.Pid}}' comfyui")
    count, pid = out.split()
    assert count == "1" and int(pid) != pids[1], "dockerd's restart policy brings it back as a new process"
    assert (await sh(w, f"cat /proc/{pids[1]}/cgroup"))[1:] == (
        f"cat: /proc/{pids[1]}/cgroup: No such file or directory\n",
        1,
    )
    w.services.set_container("comfyui", "crash-loop", clock.t)
    out, _, _ = await sh(w, "nvidia-smi --query-compute-apps=pid --format=csv,noheader")
    assert len(out.splitlines()) == 1, "a crash-looping container holds no GPU memory"


async def test_same_seed_and_clock_same_answers() -> None:
    script = "docker ps -a --no-trunc --format '{{json .}}'; docker logs --tail 20 grafana; docker system df"
    a, b = demo("hydra-storage", Clock()), demo("hydra-storage", Clock())
    assert await sh(a, script) == await sh(b, script)
    c = demo("hydra-storage", Clock(), seed=8)
    assert (await sh(c, script))[0] != (await sh(a, script))[0]


async def test_sim_cluster_controls(tmp_path: Path) -> None:
    cluster = load_cluster(REPO / "cluster.yaml")
    sim = SimCluster(
        cluster, state_dir=tmp_path, ephemeral_ports=True, clock=Clock(), nodes=["hydra-storage"]
    )
    sim.set_container("hydra-storage", "grafana", "stopped")
    assert sim.world("hydra-storage").services.containers["grafana"].mode == "stopped"
    with pytest.raises(SimError, match="no container named 'x'"):
        sim.set_container("hydra-storage", "x", "ok")
    with pytest.raises(SimError, match="container state must be one of"):
        sim.set_container("hydra-storage", "grafana", "sad")
    with pytest.raises(SimError, match="does not run systemd"):
        sim.set_unit("hydra-storage", "tabbyapi", "failed")
