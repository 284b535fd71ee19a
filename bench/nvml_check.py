"""On a machine with an NVIDIA driver (the lent GPU machine): the NVML source reads every GPU and
its processes, and agrees with nvidia-smi. Not a CI test: CI has no GPU.

    python bench/nvml_check.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cockpit.model import ProbeError
from cockpit.sources.nvml import NvmlSource


def main() -> None:
    source = NvmlSource()
    gpus = source.read()
    if isinstance(gpus, ProbeError):
        raise SystemExit(f"NVML: {gpus.reason}")
    smi = subprocess.run(
        ["nvidia-smi", "--query-gpu=index,memory.total,power.limit", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    for gpu, line in zip(gpus, smi, strict=True):
        index, total, limit = (v.strip() for v in line.split(","))
        print(
            f"gpu{gpu.index}: NVML {gpu.mem_total_mib} MiB {gpu.power_limit_w} W; nvidia-smi {total} MiB {limit} W"
        )
        assert int(index) == gpu.index and abs(float(total) - (gpu.mem_total_mib or 0)) <= 1
    print(f"processes: {source.processes()}")
    source.close()


if __name__ == "__main__":
    main()
