"""The simulated nvidia-smi against real captures from an H100 (tests/fixtures/nvidia_smi)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cockpit.config import Cluster
from cockpit.sim.commands import run_command
from cockpit.sim.world import ComputeApp, NodeWorld

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "nvidia_smi"
T0 = 1_795_361_966.0
Q = "index,name,uuid,utilization.gpu,memory.used,memory.total,temperature.gpu,power.draw,power.limit"
CA = "pid,process_name,used_memory,gpu_uuid"
UUID_RE = re.compile(r"GPU-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def capture(name: str) -> str:
    return (FIX / name).read_text()


def node(gpus: list[str], busy: float = 0.0, **sim: object) -> NodeWorld:
    spec = {"name": "g1", "host": "127.0.0.1", "port": 2222, "sim": {"gpus": gpus, "busy": busy, **sim}}
    cluster = Cluster.model_validate({"cluster": "t", "nodes": [spec]})
    return NodeWorld(cluster.nodes[0], seed=5, clock=lambda: T0)


def h100(busy: float = 0.0, **pins: float) -> NodeWorld:
    """An H100 pinned to the values of the capture, so whole outputs can be compared."""
    w = node(["NVIDIA H100 80GB HBM3"], busy)
    w.set_gpu(0, **({"temp": 33, "util": 0, "power": 121.37} | pins))
    return w


def shape(text: str) -> str:
    """Digits and UUIDs abstracted: same shape = same spacing, units, decimals and punctuation."""
    text = re.sub(r"GPU-[0-9a-f-]{36}", "GPU-<uuid>", text)
    text = re.sub(r"\b[0-9A-F]{8}:[0-9A-F]{2}:[0-9A-F]{2}\.\d\b", "<bus>", text)
    return re.sub(r"\d+", "9", text)


def real_uuid(text: str) -> str:
    return UUID_RE.sub("GPU-634ded5f-3d6f-51f5-a5b5-62c1318497cf", text)


async def smi(world: NodeWorld, args: str, user: str = "root") -> tuple[str, str, int]:
    return await run_command(world, "nvidia-smi " + args, user)


async def test_query_gpu_csv_matches_capture_byte_for_byte() -> None:
    out, err, rc = await smi(h100(), f"--query-gpu={Q} --format=csv")
    assert (real_uuid(out), err, rc) == (capture("query_gpu_csv.txt"), "", 0)


@pytest.mark.parametrize(
    ("fmt", "fixture"),
    [
        ("csv,noheader", "query_gpu_csv_noheader.txt"),
        ("csv,nounits", "query_gpu_csv_nounits.txt"),
        ("csv,noheader,nounits", "query_gpu_csv_noheader_nounits.txt"),
    ],
)
async def test_query_gpu_format_options_match_capture_shape(fmt: str, fixture: str) -> None:
    out, _, rc = await smi(h100(), f"--query-gpu={Q} --format={fmt}")
    assert rc == 0
    assert shape(out) == shape(capture(fixture))


async def test_extended_field_list_has_the_real_headers_and_value_styles() -> None:
    prefix = "=== CMD: nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used,memory.total,"
    cmd = next(ln for ln in capture("captures_all.txt").splitlines() if ln.startswith(prefix))
    fields = cmd.split("--query-gpu=")[1].split()[0]
    assert "fan.speed" in fields and "clocks_throttle_reasons.active" in fields
    real = capture("query_gpu_extended_csv.txt").splitlines()
    out, _, rc = await smi(h100(), f"--query-gpu={fields} --format=csv")
    ours = out.splitlines()
    assert rc == 0
    assert ours[0] == real[0], "same header spelling (clocks.current.sm, clocks_event_reasons...)"
    assert [shape(c) for c in ours[1].split(", ")] == [shape(c) for c in real[1].split(", ")]
    out, _, _ = await smi(h100(), f"--query-gpu={fields} --format=csv,noheader,nounits")
    assert shape(out) == shape(capture("query_gpu_extended_csv_noheader_nounits.txt"))


async def test_every_probed_field_has_the_real_value_shape() -> None:
    w = h100()
    for line in capture("query_gpu_perfield_probe.tsv").splitlines():
        field, status, expected = line.split("\t")
        fmt = "csv,noheader,nounits" if status.startswith("nounits") else "csv,noheader"
        out, _, rc = await smi(w, f"--query-gpu={field} --format={fmt}")
        assert f"rc={rc}" in status, field
        assert shape(out.rstrip("\n")) == shape(expected), field


async def test_invalid_field_message_and_status() -> None:
    out, err, rc = await smi(h100(), "--query-gpu=foo.bar --format=csv")
    assert (out, err, rc) == (capture("invalid_field.txt"), "", 2)
    out, _, rc = await smi(h100(), "--query-gpu=index,bogus --format=csv")
    assert (out, rc) == ('Field "bogus" is not a valid field to query.\n\n', 2)


async def test_index_selection_and_bad_index() -> None:
    out, _, rc = await smi(h100(), "--query-gpu=index,temperature.gpu --format=csv,noheader,nounits -i 0")
    assert (out, rc) == (capture("query_gpu_index0.txt").replace("32", "33"), 0)
    out, err, rc = await smi(h100(), "--query-gpu=index --format=csv -i 7")
    assert (out, err, rc) == (capture("bad_index.txt"), "", 6)
    two = node(["NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 5070 Ti"])
    out, _, _ = await smi(two, "--query-gpu=index,name --format=csv,noheader -i 1")
    assert out == "1, NVIDIA GeForce RTX 5070 Ti\n"
    out, _, _ = await smi(two, f"--query-gpu=index --format=csv,noheader --id={two.gpus[0].uuid}")
    assert out == "0\n"


async def test_list_gpus() -> None:
    out, _, rc = await smi(h100(), "-L")
    assert rc == 0
    assert real_uuid(out) == capture("list_gpus.txt")
    out, _, _ = await smi(node(["NVIDIA GeForce RTX 3070"] * 2), "-L")
    assert [ln.split(" (UUID")[0] for ln in out.splitlines()] == [
        "GPU 0: NVIDIA GeForce RTX 3070",
        "GPU 1: NVIDIA GeForce RTX 3070",
    ]
    assert len(set(UUID_RE.findall(out))) == 2


async def test_compute_apps() -> None:
    out, _, rc = await smi(h100(busy=0), f"--query-compute-apps={CA} --format=csv")
    assert (out, rc) == (capture("compute_apps_empty_csv.txt"), 0)
    assert (await smi(h100(busy=0), f"--query-compute-apps={CA} --format=csv,noheader"))[0] == ""
    busy = h100(busy=0.8)
    for fmt, fixture in [
        ("csv", "compute_apps_csv.txt"),
        ("csv,noheader,nounits", "compute_apps_csv_noheader_nounits.txt"),
    ]:
        out, _, _ = await smi(busy, f"--query-compute-apps={CA} --format={fmt}")
        assert shape(out) == shape(capture(fixture))
    out, _, _ = await smi(busy, "--query-compute-apps=pid,used_memory --format=csv,noheader,nounits")
    pid, used = map(int, out.split(", "))
    assert pid > 1
    gpu_used = (await smi(busy, "--query-gpu=memory.used --format=csv,noheader,nounits"))[0]
    assert used <= int(gpu_used) < busy.gpus[0].spec.mem_total_mib


async def test_power_limit_messages_permissions_and_effect() -> None:
    w = h100()
    fields = "power.limit,power.default_limit,power.min_limit,power.max_limit,enforced.power.limit"
    out, _, rc = await smi(w, f"--query-gpu={fields} --format=csv")
    assert (out, rc) == (capture("power_limits_before.txt"), 0)
    assert await smi(w, "-pl 100") == (capture("pl_100_invalid.txt"), "", 2)
    assert await smi(w, "-i 0 -pl 700.00") == (capture("pl_set_same_value.txt"), "", 0)
    out, _, rc = await smi(w, "-i 0 -pl 450", user="ubuntu")
    assert rc == 4
    assert out.startswith(
        "Failed to set power management limit for GPU 00000000:00:06.0: Insufficient Permissions"
    )
    out, _, rc = await smi(w, "-i 0 -pl 450")
    assert (out, rc) == (
        "Power limit for GPU 00000000:00:06.0 was set to 450.00 W from 700.00 W.\nAll done.\n",
        0,
    )
    out, _, _ = await smi(w, "--query-gpu=power.limit,enforced.power.limit --format=csv,noheader")
    assert out == "450.00 W, 450.00 W\n"


async def test_power_limits_per_model() -> None:
    models = {
        "NVIDIA GeForce RTX 5090": "575.00, 400.00, 600.00",
        "NVIDIA GeForce RTX 4090": "450.00, 150.00, 600.00",
        "NVIDIA GeForce RTX 5070 Ti": "300.00, 250.00, 350.00",
        "NVIDIA GeForce RTX 3070": "220.00, 100.00, 240.00",
    }
    fields = "power.default_limit,power.min_limit,power.max_limit"
    for model, limits in models.items():
        out, _, _ = await smi(node([model]), f"--query-gpu={fields} --format=csv,noheader,nounits")
        assert out == limits + "\n", model
    out, _, _ = await smi(
        node(["NVIDIA GeForce RTX 4090"]), "--query-gpu=fan.speed,memory.total --format=csv,noheader"
    )
    assert re.fullmatch(r"\d+ %, 24564 MiB\n", out), "consumer boards report a fan"


async def test_default_table_matches_capture() -> None:
    out, _, rc = await smi(h100(power=121.0), "")
    real = capture("nvidia_smi_default.txt").splitlines()
    ours = out.splitlines()
    assert rc == 0
    assert re.fullmatch(r"\w{3} \w{3} \d\d \d\d:\d\d:\d\d \d{4} {7}", ours[0])
    assert ours[1:] == real[1:]


async def test_default_table_with_a_process_matches_capture() -> None:
    w = h100(power=83.0, util=2, mem_used=621)
    w.gpus[0].apps.append(ComputeApp(660, "python3", 612))
    out, _, _ = await smi(w, "")
    assert out.splitlines()[1:] == capture("nvidia_smi_default_with_process.txt").splitlines()[1:]


async def test_version_and_driver_version() -> None:
    assert (await smi(h100(), "--version"))[0] == capture("version.txt")
    assert (await smi(h100(), "--query-gpu=driver_version --format=csv"))[0] == capture(
        "query_driver_version.txt"
    )


async def test_failure_modes() -> None:
    w = node(["NVIDIA GeForce RTX 4090"], nvidia_smi="driver-error")
    out, err, rc = await smi(w, "--query-gpu=index --format=csv")
    assert (rc, err) == (9, "")
    assert out.startswith("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")
    w = node(["NVIDIA GeForce RTX 4090"], nvidia_smi="no-devices")
    assert await smi(w, "-L") == ("No devices were found\n", "", 6)
    w = node(["NVIDIA GeForce RTX 4090"], nvidia_smi="missing")
    assert await smi(w, "-L") == ("", "sh: 1: nvidia-smi: not found\n", 127)
    w.faults.nvidia_smi = "ok"
    assert (await smi(w, "-L"))[2] == 0


async def test_argument_handling_matches_the_real_tool() -> None:
    """Checked on the H100 with driver 580.159.04 (stdout, exit status)."""
    assert await smi(h100(), "--query-gpu=index") == ("index\n0\n", "", 0), "csv is the default format"
    assert await smi(h100(), "--query-gpu=index --format=json") == (
        "Format modifier is not recognized.\n",
        "",
        2,
    )
    assert (await smi(h100(), "--query-gpu=index --format=csv,bogus"))[2] == 2
    assert await smi(h100(), "--frobnicate") == (
        "ERROR: Option --frobnicate is not recognized. Please run 'nvidia-smi -h'.\n\n",
        "",
        255,
    )
    assert await smi(h100(), "-pl abc") == (
        "ERROR: Option abc is invalid for -pl. Please run 'nvidia-smi -h' for help.\n\n",
        "",
        2,
    )
    assert await smi(h100(), "-L -i 0") == (
        "ERROR: Option -i is not valid for this command. Please run 'nvidia-smi -h' for help.\n\n",
        "",
        2,
    )
    assert await smi(h100(), "-q -d BOGUS") == ("Failed to parse --display/-d flags\n", "", 2)
    assert (await smi(h100(), "--query-gpu=index --format=csv,noheader -i 0,0"))[0] == "0\n"
    out, _, _ = await smi(
        h100(), "--query-gpu=name,gpu_name,clocks.gr,clocks_throttle_reasons.active,gpu_uuid"
    )
    assert (
        out.splitlines()[0] == "name, name, clocks.current.graphics [MHz], clocks_event_reasons.active, uuid"
    )


async def test_query_report_sections_follow_the_real_layout() -> None:
    out, _, rc = await smi(h100(), "-q -d TEMPERATURE")
    real = capture("q_temperature.txt").splitlines()
    ours = out.splitlines()
    assert rc == 0
    assert ours[:3] == real[:3] and ours[4:10] == real[4:10], "banner, driver, GPU count, bus id"
    assert "        GPU Current Temp                               : 33 C" in ours
    full = capture("q_full.txt").splitlines()
    start = full.index("    FB Memory Usage")
    out, _, _ = await smi(h100(), "-q -d MEMORY,POWER")
    ours = out.splitlines()
    assert ours[ours.index("    FB Memory Usage") :][:13] == full[start : start + 13]
    power = capture("q_power.txt").splitlines()
    limits = power[power.index("        Current Power Limit                            : 700.00 W") :][:5]
    assert ours[ours.index(limits[0]) :][:5] == limits
    assert (await smi(h100(), "-q -d BOGUS"))[2] == 2


PUBLIC = FIX.parent / "nvidia_smi_public"


def fields_of(header_line: str) -> str:
    return ",".join(re.sub(r" \[.*\]$", "", col) for col in header_line.split(", "))


@pytest.mark.parametrize(
    ("fixture", "model"),
    [
        ("rtx2080super_595.71.05_idle_query_gpu_csv.txt", "NVIDIA GeForce RTX 4090"),
        ("h100_mig_590.48.01_idle_query_gpu_csv.txt", "NVIDIA H100 80GB HBM3"),
    ],
)
async def test_every_published_field_is_valid_with_the_real_header(fixture: str, model: str) -> None:
    real_header, real_row = (PUBLIC / fixture).read_text().splitlines()[:2]
    out, _, rc = await smi(node([model]), f"--query-gpu={fields_of(real_header)} --format=csv")
    header, row = out.splitlines()
    assert rc == 0
    assert header == real_header
    ours = dict(zip(header.split(", "), row.split(", "), strict=True))
    theirs = dict(zip(real_header.split(", "), real_row.split(", "), strict=True))
    key_fields = [
        "index", "uuid", "pci.bus_id", "fan.speed [%]", "pstate", "memory.total [MiB]", "memory.used [MiB]",
        "memory.free [MiB]", "memory.reserved [MiB]", "compute_cap", "temperature.gpu", "temperature.memory",
        "power.draw [W]", "power.limit [W]", "power.min_limit [W]", "power.max_limit [W]",
        "clocks.current.sm [MHz]", "clocks.max.memory [MHz]", "ecc.errors.uncorrected.volatile.total",
        "display_mode", "power.management", "persistence_mode", "clocks.applications.graphics [MHz]",
    ]  # fmt: skip
    assert {k: shape(ours[k]) for k in key_fields} == {k: shape(theirs[k]) for k in key_fields}


async def test_published_multi_gpu_and_driver_failure_outputs() -> None:
    real = (PUBLIC / "two_gpus_bpytop26_csv.txt").read_text()
    two = node(["NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 3070"], busy=0.5)
    two.set_gpu(0, util=36, power=106.56)
    out, _, _ = await smi(two, f"--query-gpu={fields_of(real.splitlines()[0])} --format=csv")
    assert out.splitlines()[0] == real.splitlines()[0]
    assert [shape(ln.split(", ", 1)[1]) for ln in out.splitlines()[1:]] == [
        shape(ln.split(", ", 1)[1]) for ln in real.splitlines()[1:]
    ]
    failing = node(["NVIDIA GeForce RTX 4090"], nvidia_smi="driver-error")
    query = "index,uuid,utilization.gpu,memory.total,memory.used --format=csv,noheader,nounits"
    assert await smi(failing, f"--query-gpu={query}") == (
        (PUBLIC / "driver_failure_gputil26.txt").read_text(),
        "",
        9,
    )
