"""Local NVML: the real "no library / no driver" path here, and values recorded on a real H100.

tests/fixtures/nvidia_smi/nvml_pynvml*.txt are pynvml's answers on a lent H100 (driver 580.159.04),
printed by capture_nvml.py in the same folder; the table below is read from them, and the nvidia-smi
captures of the same board give the units the reading must match (MiB, W).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pynvml
import pytest

from cockpit.model import GpuReading, ProbeError
from cockpit.sources.nvml import NvmlSource, gpu_from_values, why

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nvidia_smi"
LABELS = {
    "name": "name",
    "uuid": "uuid",
    "temperature GPU": "temp_c",
    "power usage mW": "power_mw",
    "enforced power limit mW": "limit_mw",
    "power management limit constraints (min,max) mW": "constraints_mw",
}
LINE = re.compile(r"^\[(\d+)\] (.+?): (.+) type=\w+$")


def recorded(name: str) -> dict[str, Any]:
    """GPU 0's values from a capture_nvml.py log, keyed as gpu_from_values wants them."""
    values: dict[str, Any] = {}
    for line in (FIXTURES / name).read_text().splitlines():
        match = LINE.match(line)
        if match and match.group(1) == "0" and match.group(2) in LABELS:
            values[LABELS[match.group(2)]] = ast.literal_eval(match.group(3))
        elif line.startswith("   mem.total="):
            parts = dict(p.split("=") for p in line.split())
            values["memory"] = {"total": int(parts["mem.total"]), "used": int(parts["used"])}
        elif line.startswith("   util.gpu="):
            values["util_gpu"] = int(line.split()[0].split("=")[1])
    return values


def nvml_works() -> bool:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return False
    pynvml.nvmlShutdown()
    return True


def test_recorded_h100_values_map_to_nvidia_smi_units() -> None:
    assert gpu_from_values(0, recorded("nvml_pynvml.txt")) == GpuReading(
        index=0,
        name="NVIDIA H100 80GB HBM3",
        uuid="GPU-634ded5f-3d6f-51f5-a5b5-62c1318497cf",
        util_pct=0.0,
        mem_used_mib=480.0,
        mem_total_mib=81559.0,
        temp_c=33.0,
        power_w=112.913,
        power_limit_w=700.0,
        power_min_w=200.0,
        power_max_w=700.0,
    )
    busy = gpu_from_values(0, recorded("nvml_pynvml_with_process.txt"))
    assert (busy.mem_used_mib, busy.power_w) == (1100.0, 92.823)


def test_units_agree_with_nvidia_smi_on_the_same_board() -> None:
    """Same machine, separate runs: identity, total memory and limit must agree exactly."""
    smi = (FIXTURES / "query_gpu_csv_noheader_nounits.txt").read_text().strip().split(", ")
    reading = gpu_from_values(0, recorded("nvml_pynvml.txt"))
    assert smi[1] == reading.name and smi[2] == reading.uuid
    assert float(smi[5]) == reading.mem_total_mib
    assert float(smi[8]) == reading.power_limit_w


def test_unsupported_fields_read_as_unknown_not_zero() -> None:
    values = recorded("nvml_pynvml.txt")
    values.update(power_mw=None, temp_c=None, memory=None, constraints_mw=None, name=b"NVIDIA H100 80GB HBM3")
    reading = gpu_from_values(3, values)
    assert (reading.index, reading.name) == (3, "NVIDIA H100 80GB HBM3")
    assert (reading.power_w, reading.temp_c, reading.mem_used_mib, reading.power_min_w) == (
        None,
        None,
        None,
        None,
    )


def test_hostile_names_are_cleaned() -> None:
    reading = gpu_from_values(0, {"name": "H100\x1b]0;pwned\x07"})
    assert reading.name == "H100"


@pytest.mark.skipif(nvml_works(), reason="this machine has a working NVIDIA driver")
def test_without_library_or_driver_the_source_says_why_once() -> None:
    source = NvmlSource()
    first = source.read()
    assert isinstance(first, ProbeError)
    assert first.probe == "nvml"
    assert first.reason in (
        "NVML library not found (no NVIDIA driver installed here)",
        "NVIDIA driver not loaded",
    )
    assert source.read() is first  # reported once: the same error, no retry every cycle
    assert source.processes() is first
    assert source.unavailable is first
    source.close()


async def test_aread_runs_in_a_thread_and_gives_the_same_answer() -> None:
    source = NvmlSource()
    assert type(await source.aread()) is type(source.read())


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "NVML library not found (no NVIDIA driver installed here)"),
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "NVIDIA driver not loaded"),
        (pynvml.NVML_ERROR_NO_PERMISSION, "no permission to use NVML"),
        (pynvml.NVML_ERROR_GPU_IS_LOST, "NVML: GPU is lost"),
    ],
)
def test_nvml_errors_in_an_operators_words(code: int, text: str) -> None:
    """pynvml's own exception classes (NVMLError(code) builds the matching subclass)."""
    assert why(pynvml.NVMLError(code)) == text
