"""This machine's GPUs through NVML (``pynvml`` from nvidia-ml-py): no nvidia-smi process per cycle.

NVML is a blocking C library, so :meth:`NvmlSource.aread` runs a read in a thread. ``pynvml`` is
imported on first use: a laptop without the package, the library (``NVMLError_LibraryNotFound``) or
the kernel driver (``NVMLError_DriverNotLoaded``) gets one :class:`ProbeError` saying which, the same
one on every later read without trying again (so it is reported once, not every cycle), and the rest
of the cockpit carries on. A field the board does not support (``NVMLError_NotSupported``, e.g. fan
speed on an H100) reads as None, as ``[N/A]`` does from nvidia-smi.

:func:`gpu_from_values` is the pure part: NVML's raw values (bytes, milliwatts) to a
:class:`GpuReading` in nvidia-smi's units (MiB, W), tested on values recorded from a real H100.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from cockpit.model import GpuProcess, GpuReading, ProbeError
from cockpit.sanitize import clean

MIB = 1024 * 1024
FIELDS: dict[str, Callable[[Any, Any], Any]] = {
    "name": lambda nv, h: nv.nvmlDeviceGetName(h),
    "uuid": lambda nv, h: nv.nvmlDeviceGetUUID(h),
    "util_gpu": lambda nv, h: nv.nvmlDeviceGetUtilizationRates(h).gpu,
    "memory": lambda nv, h: nv.nvmlDeviceGetMemoryInfo(h),
    "temp_c": lambda nv, h: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU),
    "power_mw": lambda nv, h: nv.nvmlDeviceGetPowerUsage(h),
    "limit_mw": lambda nv, h: nv.nvmlDeviceGetEnforcedPowerLimit(h),
    "constraints_mw": lambda nv, h: nv.nvmlDeviceGetPowerManagementLimitConstraints(h),
}
WHY = {
    "NVMLError_LibraryNotFound": "NVML library not found (no NVIDIA driver installed here)",
    "NVMLError_DriverNotLoaded": "NVIDIA driver not loaded",
    "NVMLError_NoPermission": "no permission to use NVML",
    "NVMLError_InsufficientResources": "NVML: insufficient resources",
    "NVMLError_Uninitialized": "NVML is not initialized",
}


def why(exc: BaseException) -> str:
    """One line for an NVML failure, in words an operator searches for."""
    name = type(exc).__name__
    if name in WHY:
        return WHY[name]
    return clean(f"NVML: {exc}" if str(exc) else f"NVML: {name}", limit=200)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):  # pynvml before 11.5 returned bytes
        value = value.decode("utf-8", "replace")
    return clean(str(value), limit=128) or None


def _number(value: Any, scale: float = 1.0) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value / scale


def gpu_from_values(index: int, values: Mapping[str, Any]) -> GpuReading:
    """Raw NVML values (missing or None where unsupported) -> a reading in nvidia-smi's units.

    ``memory`` is NVML's struct (``total``/``used`` in bytes) or a mapping with those keys; memory
    is whole MiB, as nvidia-smi prints it; power is milliwatts in, watts out.
    """
    memory = values.get("memory")
    total = getattr(memory, "total", None) if not isinstance(memory, Mapping) else memory.get("total")
    used = getattr(memory, "used", None) if not isinstance(memory, Mapping) else memory.get("used")
    limits = values.get("constraints_mw")
    low, high = (
        (limits[0], limits[1]) if isinstance(limits, list | tuple) and len(limits) == 2 else (None, None)
    )
    return GpuReading(
        index=index,
        name=_text(values.get("name")),
        uuid=_text(values.get("uuid")),
        util_pct=_number(values.get("util_gpu")),
        mem_used_mib=float(used // MIB) if isinstance(used, int) else None,
        mem_total_mib=float(total // MIB) if isinstance(total, int) else None,
        temp_c=_number(values.get("temp_c")),
        power_w=_number(values.get("power_mw"), 1000.0),
        power_limit_w=_number(values.get("limit_mw"), 1000.0),
        power_min_w=_number(low, 1000.0),
        power_max_w=_number(high, 1000.0),
    )


class NvmlSource:
    """Local GPUs via NVML; ``module`` is pynvml (imported on first read when not given)."""

    def __init__(self, module: ModuleType | None = None) -> None:
        self._nv = module
        self._ready = False
        self._lock = threading.Lock()
        self.unavailable: ProbeError | None = None
        """Why NVML cannot be used here, once known; every later read returns this same error."""

    def _init(self) -> ProbeError | None:
        if self._ready or self.unavailable is not None:
            return self.unavailable
        if self._nv is None:
            try:
                import pynvml
            except ImportError:
                self.unavailable = ProbeError(
                    "nvml", "nvidia-ml-py is not installed (pip install nvidia-ml-py)"
                )
                return self.unavailable
            self._nv = pynvml
        try:
            self._nv.nvmlInit()
        except Exception as exc:
            self.unavailable = ProbeError("nvml", why(exc))
            return self.unavailable
        self._ready = True
        return None

    def read(self) -> tuple[GpuReading, ...] | ProbeError:
        """Every local GPU, blocking (call :meth:`aread` from the event loop)."""
        with self._lock:
            failed = self._init()
            if failed is not None:
                return failed
            nv = self._nv
            try:
                count = nv.nvmlDeviceGetCount()
                handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            except Exception as exc:
                return ProbeError("nvml", why(exc))
            return tuple(gpu_from_values(i, _collect(nv, h)) for i, h in enumerate(handles))

    def processes(self) -> tuple[GpuProcess, ...] | ProbeError:
        """Compute processes on every local GPU (pid, name, MiB, board UUID)."""
        with self._lock:
            failed = self._init()
            if failed is not None:
                return failed
            nv = self._nv
            out: list[GpuProcess] = []
            try:
                for i in range(nv.nvmlDeviceGetCount()):
                    handle = nv.nvmlDeviceGetHandleByIndex(i)
                    uuid = _text(_try(nv.nvmlDeviceGetUUID, handle))
                    for proc in nv.nvmlDeviceGetComputeRunningProcesses(handle):
                        name = _text(_try(nv.nvmlSystemGetProcessName, proc.pid)) or "?"
                        used = getattr(proc, "usedGpuMemory", None)
                        mib = float(used // MIB) if isinstance(used, int) else None
                        out.append(GpuProcess(pid=int(proc.pid), name=name, used_mib=mib, gpu_uuid=uuid))
            except Exception as exc:
                return ProbeError("nvml", why(exc))
            return tuple(out)

    async def aread(self) -> tuple[GpuReading, ...] | ProbeError:
        return await asyncio.to_thread(self.read)

    async def aprocesses(self) -> tuple[GpuProcess, ...] | ProbeError:
        return await asyncio.to_thread(self.processes)

    def close(self) -> None:
        with self._lock:
            if self._ready and self._nv is not None:
                _try(self._nv.nvmlShutdown)
            self._ready = False


def _try(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:
        return None


def _collect(nv: Any, handle: Any) -> dict[str, Any]:
    return {key: _try(fn, nv, handle) for key, fn in FIELDS.items()}
