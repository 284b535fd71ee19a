"""``nvidia-smi`` as the real CLI answers it: query fields, CSV options, -i, -L, -pl, the table.

Formats, messages and exit codes follow captures from a real H100 (driver 580.159.04) kept in
tests/fixtures/nvidia_smi: ``", "`` separators, ``name [unit]`` headers (kept with ``nounits``),
two decimals for watts, ``[N/A]`` for unsupported values, errors on *stdout*, exit 2 for a bad
field or power limit, 6 for "No devices were found", 9 when the driver cannot be reached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from cockpit.sim import smi_fields as F
from cockpit.sim.shell import Call
from cockpit.sim.smi_query import render_query
from cockpit.sim.smi_table import CUDA, DRIVER, render_table
from cockpit.sim.world import Gpu, NodeWorld

BAD_ARGS = "Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.\n"
DRIVER_ERROR = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running.\n\n"
)
NO_DEVICES = "No devices were found\n"
BAD_FORMAT = "Format modifier is not recognized.\n"


def _options(argv: list[str]) -> dict[str, str] | str:
    """``--opt=value``, ``--opt value`` and bare flags into one dict, or the offending option."""
    takes_value = {"-i", "--id", "--query-gpu", "--query-compute-apps", "--format", "-pl",
                   "--power-limit", "-d", "--display", "-f", "--filename", "-l", "--loop"}  # fmt: skip
    flags = {"-L", "--list-gpus", "-q", "--query", "-h", "--help", "--version", "-x", "--xml-format"}
    opts: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        key, eq, value = arg.partition("=")
        if eq and key in takes_value:
            opts[key] = value
        elif arg in takes_value and i + 1 < len(argv):
            opts[arg] = argv[i + 1]
            i += 1
        elif arg in flags:
            opts[arg] = ""
        else:
            return arg
        i += 1
    return opts


def _select(gpus: list[Gpu], spec: str | None) -> list[Gpu] | None:
    """GPUs named by ``-i`` (indexes, UUIDs or bus ids, comma separated, each listed once)."""
    if spec is None:
        return gpus
    picked: list[Gpu] = []
    for item in spec.split(","):
        item = item.strip()
        found = [g for g in gpus if item in (str(g.index), g.uuid, g.bus_id)]
        if not found:
            return None
        picked.extend(g for g in found if g not in picked)
    return picked


async def nvidia_smi(call: Call) -> int:
    """Entry point used by the shell for ``nvidia-smi ...``."""
    world = call.shell.world
    if world.faults.smi_delay:
        await asyncio.sleep(world.faults.smi_delay)
    mode = world.faults.nvidia_smi
    if mode == "driver-error":
        call.out(DRIVER_ERROR)
        return 9
    opts = _options(call.argv[1:])
    if isinstance(opts, str):
        call.out(f"ERROR: Option {opts} is not recognized. Please run 'nvidia-smi -h'.\n\n")
        return 255
    if "--version" in opts:
        call.out(f"NVIDIA-SMI version  : {DRIVER}\nNVML version        : {DRIVER.rsplit('.', 1)[0]}\n"
                 f"DRIVER version      : {DRIVER}\nCUDA Version        : {CUDA}\n")  # fmt: skip
        return 0
    listing = "-L" in opts or "--list-gpus" in opts
    if listing and ("-i" in opts or "--id" in opts):
        call.out("ERROR: Option -i is not valid for this command. Please run 'nvidia-smi -h' for help.\n\n")
        return 2
    now = world.advance()
    gpus = _select(world.gpus, opts.get("-i", opts.get("--id")))
    if mode == "no-devices" or not world.gpus or gpus is None:
        call.out(NO_DEVICES)
        return 6
    fmt = opts.get("--format", "csv")
    if "--query-gpu" in opts:
        return _query(call, opts["--query-gpu"], fmt, gpus, now, len(world.gpus))
    if "--query-compute-apps" in opts:
        return _query_apps(call, opts["--query-compute-apps"], fmt, gpus)
    if listing:
        call.out("".join(f"GPU {g.index}: {g.spec.name} (UUID: {g.uuid})\n" for g in gpus))
        return 0
    if "-q" in opts or "--query" in opts:
        report = render_query(gpus, len(world.gpus), now, opts.get("-d", opts.get("--display")))
        call.out(report or "Failed to parse --display/-d flags\n")
        return 0 if report else 2
    limit = opts.get("-pl", opts.get("--power-limit"))
    if limit is not None:
        return _power_limit(call, limit, gpus)
    if len(opts) - ("-i" in opts) - ("--id" in opts):
        call.out(BAD_ARGS)
        return 2
    call.out(render_table(world, gpus, now))
    return 0


def _format(fmt: str) -> tuple[bool, bool] | None:
    """(header, units) from ``--format=csv[,noheader][,nounits]``; None if not a csv format."""
    parts = [p.strip() for p in fmt.split(",")]
    if parts[0] != "csv" or any(p not in ("noheader", "nounits") for p in parts[1:]):
        return None
    return "noheader" not in parts, "nounits" not in parts


def _fields_and_shape(
    call: Call, fields: str, fmt: str, canonical: Callable[[str], str | None]
) -> tuple[list[str], bool, bool] | None:
    """Resolve a ``--query-*`` field list and ``--format``, printing nvidia-smi's own error
    (exit 2) for an unknown field or format."""
    names = []
    for field in fields.split(","):
        name = canonical(field.strip())
        if name is None:
            call.out(f'Field "{field.strip()}" is not a valid field to query.\n\n')
            return None
        names.append(name)
    shape = _format(fmt)
    if shape is None:
        call.out(BAD_FORMAT)
        return None
    return names, shape[0], shape[1]


def _app_field(field: str) -> str | None:
    name = F.APP_ALIASES.get(field, field)
    return name if name in F.APP_FIELDS else None


def _query(call: Call, fields: str, fmt: str, gpus: list[Gpu], now: float, n: int) -> int:
    resolved = _fields_and_shape(call, fields, fmt, F.canonical)
    if resolved is None:
        return 2
    names, header, units = resolved
    lines = [", ".join(F.header(nm) for nm in names)] if header else []
    for gpu in gpus:
        lines.append(", ".join(F.cell(F.UNITS[nm], F.value(nm, gpu, now, n), not units) for nm in names))
    call.out("".join(line + "\n" for line in lines))
    return 0


def _query_apps(call: Call, fields: str, fmt: str, gpus: list[Gpu]) -> int:
    resolved = _fields_and_shape(call, fields, fmt, _app_field)
    if resolved is None:
        return 2
    names, header, units = resolved
    lines = []
    if header:
        lines.append(
            ", ".join(f"{nm} [{F.APP_FIELDS[nm][0]}]" if F.APP_FIELDS[nm][0] else nm for nm in names)
        )
    for gpu in gpus:
        for app in gpu.apps:
            cells = [F.cell(F.APP_FIELDS[nm][0], F.APP_FIELDS[nm][1](gpu, app), not units) for nm in names]
            lines.append(", ".join(cells))
    call.out("".join(line + "\n" for line in lines))
    return 0


def _power_limit(call: Call, text: str, gpus: list[Gpu]) -> int:
    try:
        watts = float(text)
    except ValueError:
        call.out(f"ERROR: Option {text} is invalid for -pl. Please run 'nvidia-smi -h' for help.\n\n")
        return 2
    done = []
    for gpu in gpus:
        lo, hi = gpu.spec.pl_min, gpu.spec.pl_max
        if not lo <= watts <= hi:
            call.out(
                f"Provided power limit {watts:.2f} W is not a valid power limit which should be "
                f"between {lo:.2f} W and {hi:.2f} W for GPU {gpu.bus_id}\n"
                "Terminating early due to previous errors.\n"
            )
            return 2
        if call.shell.user != "root":
            call.out(
                f"Failed to set power management limit for GPU {gpu.bus_id}: "
                "Insufficient Permissions\nTerminating early due to previous errors.\n"
            )
            return 4
        done.append(f"Power limit for GPU {gpu.bus_id} was set to {watts:.2f} W from "
                    f"{gpu.power_limit:.2f} W.\n")  # fmt: skip
        gpu.power_limit = watts
    call.out("".join(done) + "All done.\n")
    return 0


def node_has_smi(world: NodeWorld) -> bool:
    """False when the node is configured without the binary (the shell then says not found)."""
    return world.faults.nvidia_smi != "missing"
