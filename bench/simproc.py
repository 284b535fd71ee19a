"""Run a generated simulated cluster in its own process, so benchmarks measure only the client.

Usage: python bench/simproc.py N GPUS_PER_NODE STATE_DIR [BUSY_MAX]
Writes STATE_DIR/cluster.json (the effective cluster, real ports) once every node listens.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from cockpit.config import Cluster
from cockpit.sim import SimCluster

MODELS = ["NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 5090", "NVIDIA H100 80GB HBM3"]


def generated(n: int, gpus: int, state_dir: Path, busy_max: float = 0.9) -> Cluster:
    nodes = [
        {
            "name": f"node-{i:04d}",
            "host": "127.0.0.1",
            "port": 1,
            "sim": {"gpus": [MODELS[i % len(MODELS)]] * gpus, "busy": round(busy_max * (i % 10) / 9, 3)},
        }
        for i in range(n)
    ]
    return Cluster.model_validate(
        {
            "cluster": f"bench-{n}",
            "refresh": 2,
            "ssh": {
                "known_hosts": str(state_dir / "known_hosts"),
                "config_file": None,
                "agent": False,
                "connect_timeout": 20,
                "command_timeout": 20,
                "max_concurrency": 256,
            },
            "nodes": nodes,
        }
    )


async def main(n: int, gpus: int, state_dir: Path, busy_max: float) -> None:
    cluster = generated(n, gpus, state_dir, busy_max)
    async with SimCluster(cluster, state_dir=state_dir, ephemeral_ports=True, shared_host_key=True) as sim:
        out = sim.effective_cluster().model_dump(mode="json")
        (state_dir / "cluster.json").write_text(json.dumps(out))
        await asyncio.Event().wait()


if __name__ == "__main__":
    busy_max = float(sys.argv[4]) if len(sys.argv) > 4 else 0.9
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), busy_max))
