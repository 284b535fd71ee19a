# Not collected by the suite (CI has no docker CLI, and a test must not skip in CI): run it by hand
# where docker is installed, `pytest tests/tools/check_sim_docker_cli.py`, after changing the
# simulator's docker. It checks the simulator's output byte for byte against the real CLI.
"""The simulated docker CLI against the real one, byte for byte, where a docker binary is installed.

No daemon can run here, so the real CLI talks to a small Engine API on a unix socket that serves the
simulated node's containers (``GET /containers/json``, ``/containers/{id}/json``, as the API
reference shapes them); whatever the *CLI* decides (tables, ``{{json .}}``, Go template output and
errors, flag and argument errors, exit statuses) must then read the same from both. The docker 28
CLI adds ``"Platform":null`` to ``{{json .}}``, which our docker 27 leaves out; that key is dropped
from the real output before comparing.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import os
import shutil
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cockpit.config import load_cluster
from cockpit.sim import dockerfmt as fmt
from cockpit.sim.commands import run_command
from cockpit.sim.world import NodeWorld

REPO = Path(__file__).resolve().parents[2]
DOCKER = shutil.which("docker")
pytestmark = pytest.mark.skipif(DOCKER is None, reason="no docker CLI installed")


def summary(world: NodeWorld, name: str, now: float) -> dict[str, object]:
    c = world.services.containers[name]
    view, spec = world.services.view(c, now), c.spec
    ports = [{"IP": ip, "PrivatePort": p, "PublicPort": h, "Type": t} if ip else {"PrivatePort": p, "Type": t}
             for ip, p, h, t in fmt.port_entries(spec)]  # fmt: skip
    mounts = [{"Type": "volume", "Name": v, "Source": f"/var/lib/docker/volumes/{v}/_data", "Destination": d,
               "Driver": "local", "Mode": "z", "RW": True, "Propagation": ""} for v, d in spec.volumes]  # fmt: skip
    mounts += [{"Type": "bind", "Source": s, "Destination": d, "Mode": "", "RW": True, "Propagation": "rprivate"}
               for s, d in spec.binds]  # fmt: skip
    return {
        "Id": c.id, "Names": ["/" + name], "Image": spec.image, "ImageID": "sha256:" + fmt.image_id(spec, world.key),
        "Command": spec.command, "Created": int(c.created), "Ports": ports,
        "Labels": fmt.labels(c, world.key, not world.systemd), "State": view.state, "Status": view.status,
        "HostConfig": {"NetworkMode": fmt.network(spec)},
        "NetworkSettings": {"Networks": {fmt.network(spec): {"NetworkID": "0" * 64}}}, "Mounts": mounts,
    }  # fmt: skip


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def engine(world: NodeWorld) -> type[http.server.BaseHTTPRequestHandler]:
    class Engine(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def address_string(self) -> str:
            return "unix"

        def log_message(self, *args: object) -> None:
            pass

        def send(self, code: int, body: object) -> None:
            raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
            self.send_response(code)
            for k, v in (("Api-Version", "1.47"), ("Ostype", "linux"), ("Content-Type", "application/json")):
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(raw)

        def do_HEAD(self) -> None:
            self.send(200, b"OK")

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            parts = path.strip("/").split("/")
            now = world.advance()
            services = world.services
            if parts[-1] == "_ping":
                return self.send(200, b"OK")
            if parts[-1] == "info":
                return self.send(200, {"Swarm": {"LocalNodeState": "inactive"}})
            if parts[-2:] == ["containers", "json"]:
                names = sorted(services.containers, key=lambda n: -services.containers[n].created)
                shown = [
                    n for n in names if "all=1" in query or services.view(services.containers[n], now).running
                ]
                return self.send(200, [summary(world, n, now) for n in shown])
            if len(parts) >= 3 and parts[-3] == "containers":
                c = services.find(parts[-2])
                if c is None:
                    return self.send(404, {"message": f"No such container: {parts[-2]}"})
                return self.send(
                    200, fmt.inspect_object(c, services.view(c, now), world.key, not world.systemd)
                )
            return self.send(404, {"message": f"no such object: {parts[-1]}"})

    return Engine


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NodeWorld, str]]:
    """The node (its clock frozen, so both sides see the same moment) and the Engine API socket."""
    now = time.time()
    world = NodeWorld(load_cluster(REPO / "cluster.yaml").node("hydra-storage"), 7, lambda: now)
    world.services.set_container("qdrant", "crash-loop", now - 200)
    world.services.set_container("redis", "exited", now - 3000)
    sock = str(tmp_path_factory.mktemp("docker") / "docker.sock")
    server = _Server(sock, engine(world))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield world, sock
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def real(storage: tuple[NodeWorld, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    """Every command run once by the real CLI, all at the same time (each costs it half a second)."""
    env = dict(
        os.environ, DOCKER_HOST=f"unix://{storage[1]}", HOME=str(tmp_path_factory.mktemp("home")), TZ="UTC"
    )

    def one(script: str) -> tuple[str, str, int]:
        done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60)
        return done.stdout.replace('"Platform":null,', ""), done.stderr, done.returncode

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip(COMMANDS, pool.map(one, COMMANDS), strict=True))


COMMANDS = [
    "docker ps",
    "docker ps -a",
    "docker ps -a --format 'table {{.Names}}\\t{{.Status}}'",
    "docker ps -a --format 'table {{.ID}}\\t{{.Label \"com.docker.compose.service\"}}\\t{{json .Names}}'",
    "docker ps -q; docker ps -aq --no-trunc",
    "docker ps -a --format '{{json .}}'",
    "docker ps -a --no-trunc --size=false --format '{{json .}}'",
    "docker ps --format '{{upper .Names}} {{.Mounts}} {{.LocalVolumes}} {{.Networks}} {{.CreatedAt}} {{.Size}}'",
    "docker ps --format '{{.Nope}}'",
    "docker ps --format '{{.Names'",
    "docker ps --bogus",
    "docker ps -x",
    "docker ps -aq --no-trunc | xargs -r docker inspect --type container"
    " --format '{{.Id}} {{.RestartCount}} {{.State.ExitCode}}'",
    "docker inspect --format '{{.Id}} {{.Name}} {{.RestartCount}} {{.State.ExitCode}} {{.State.Status}}"
    " {{.State.Running}} {{.Config.Image}}' litellm redis qdrant nope",
    "docker inspect -f '{{json .State}} {{index .Config.Labels \"com.docker.compose.project\"}}' postgres",
    "docker inspect -f '{{range .Mounts}}{{.Source}} {{end}}{{.HostConfig.Memory}} {{.Args}}' postgres",
    "docker inspect -f '{{.State.Nope}}' redis",
    "docker inspect -f '{{nope .}}' redis",
    "docker inspect --type container -f '{{.Id}}' nope",
    "docker inspect redis qdrant",
    "docker inspect --format json litellm",
    "docker inspect",
    "docker restart",
    "docker logs",
    "echo n | docker image prune",
    "docker system prune -a </dev/null",
    "echo n | docker container prune",
]


@pytest.mark.parametrize("script", COMMANDS)
def test_same_output_as_the_real_cli(
    storage: tuple[NodeWorld, str], real: dict[str, tuple], script: str
) -> None:
    assert asyncio.run(run_command(storage[0], script, "root")) == real[script]
