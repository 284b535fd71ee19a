"""The node probe: its one-round-trip script and the pure parsers, on real captured output.

Fixtures: ``tests/fixtures/nvidia_smi`` (this project's H100 captures, driver 580.159.04),
``tests/fixtures/nvidia_smi_public`` and ``tests/fixtures/proc`` (published outputs; each folder's
README names the source of every file).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cockpit.model import CpuSample, Disk, GpuReading, HostReading, ProbeError
from cockpit.sources import probes
from cockpit.sources.probes import (
    FIRST_STAT,
    GPU_FIELDS,
    GPU_QUERY,
    HOST_PARTS,
    STAT,
    Part,
    build_script,
    cpu_percent,
    new_nonce,
    parse_cpu_samples,
    parse_df,
    parse_gpus,
    parse_host,
    parse_loadavg,
    parse_meminfo,
    parse_uptime,
    split_parts,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
H100 = FIXTURES / "nvidia_smi"
PUBLIC = FIXTURES / "nvidia_smi_public"
PROC = FIXTURES / "proc"
KIB = 1024

H100_UUID = "GPU-634ded5f-3d6f-51f5-a5b5-62c1318497cf"
DRIVER_FAILURE = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running."
)


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def project(csv_text: str, fill: dict[str, str] | None = None) -> str:
    """Answer the probe's query from a published ``--format=csv`` output, as nvidia-smi would.

    Columns are found by header name; with ``nounits`` nvidia-smi drops the `` <unit>`` that the
    header announces as ``[unit]`` and leaves ``[N/A]`` alone. Fields the published query did not
    ask for come from ``fill`` (``"row"`` means the row's position, as nvidia-smi enumerates).
    """
    lines = [line for line in csv_text.splitlines() if line.strip()]
    header = [h.strip() for h in lines[0].split(", ")]
    names = {re.sub(r" \[.*\]$", "", h): (i, re.search(r"\[(.*)\]$", h)) for i, h in enumerate(header)}
    names.setdefault("name", names.get("gpu_name", (None, None)))
    out = []
    for row_number, line in enumerate(lines[1:]):
        cells = line.split(", ")
        row = []
        for field in GPU_FIELDS:
            index, unit = names.get(field, (None, None))
            if index is None:
                value = (fill or {}).get(field, "[N/A]")
                row.append(str(row_number) if value == "row" else value)
                continue
            cell = cells[index]
            if unit and cell.endswith(f" {unit.group(1)}"):
                cell = cell.removesuffix(f" {unit.group(1)}")
            row.append(cell)
        out.append(", ".join(row))
    return "\n".join(out) + "\n"


# -- the query the probe sends -------------------------------------------------------------------


def test_gpu_query_asks_for_gpu_fields_without_header_or_units():
    assert f"--query-gpu={','.join(GPU_FIELDS)} " in GPU_QUERY
    assert GPU_QUERY.endswith("--format=csv,noheader,nounits")


def test_h100_captures_used_exactly_the_probes_field_list():
    """The captures are only evidence for the parser if they answered the probe's own query (the
    nine fields it asked for then; the power limits it adds since parse the same way)."""
    shorthand = re.search(r"`Q=([^`]+)`", read(H100 / "INDEX.md"))
    assert shorthand is not None
    assert tuple(shorthand.group(1).split(",")) == GPU_FIELDS[: probes.BASE_FIELDS]


def test_power_limit_range_is_read_when_the_wider_query_answers():
    line = read(H100 / "query_gpu_csv_noheader_nounits.txt").splitlines()[0] + ", 200.00, 700.00\n"
    (gpu,) = parse_gpus(line, 0)
    assert (gpu.power_min_w, gpu.power_max_w) == (200.0, 700.0)
    (narrow,) = parse_gpus(read(H100 / "query_gpu_csv_noheader_nounits.txt").splitlines()[0] + "\n", 0)
    assert narrow.power_min_w is None and narrow.power_limit_w == gpu.power_limit_w


# -- nvidia-smi: real H100 output ----------------------------------------------------------------


def test_h100_noheader_nounits_exact_values():
    gpus = parse_gpus(read(H100 / "query_gpu_csv_noheader_nounits.txt"), 0)
    assert gpus == (
        GpuReading(
            index=0,
            name="NVIDIA H100 80GB HBM3",
            uuid=H100_UUID,
            util_pct=0.0,
            mem_used_mib=0.0,
            mem_total_mib=81559.0,
            temp_c=33.0,
            power_w=121.16,
            power_limit_w=700.0,
        ),
    )
    assert gpus[0].mem_pct == 0.0


def test_h100_noheader_with_units_strips_the_units():
    (gpu,) = parse_gpus(read(H100 / "query_gpu_csv_noheader.txt"), 0)
    assert (gpu.util_pct, gpu.mem_used_mib, gpu.mem_total_mib) == (0.0, 0.0, 81559.0)
    assert (gpu.power_w, gpu.power_limit_w, gpu.temp_c) == (118.44, 700.0, 33.0)


def test_h100_with_header_line_still_reads_the_row():
    """A header line (``--format=csv``) is not a GPU and must not hide the row after it."""
    gpus = parse_gpus(read(H100 / "query_gpu_csv_with_process.txt"), 0)
    assert isinstance(gpus, tuple) and len(gpus) == 1
    assert (gpus[0].util_pct, gpus[0].mem_used_mib, gpus[0].power_w) == (2.0, 621.0, 85.72)
    assert gpus[0].mem_pct == pytest.approx(100 * 621 / 81559)


def test_projection_helper_reproduces_nvidia_smis_own_nounits_output():
    """``project`` of the H100 ``--format=csv`` capture equals the captured ``nounits`` row,
    apart from power.draw, which was sampled by a separate invocation."""
    projected = project(read(H100 / "query_gpu_csv.txt")).strip().split(", ")[: probes.BASE_FIELDS]
    captured = read(H100 / "query_gpu_csv_noheader_nounits.txt").strip().split(", ")
    draw = GPU_FIELDS.index("power.draw")
    assert projected[:draw] + projected[draw + 1 :] == captured[:draw] + captured[draw + 1 :]
    assert projected[draw] == "121.37"


# -- nvidia-smi: published outputs of other GPUs -------------------------------------------------


def test_consumer_rtx_2080_super_projected_from_published_capture():
    (gpu,) = parse_gpus(project(read(PUBLIC / "rtx2080super_595.71.05_idle_query_gpu_csv.txt")), 0)
    assert gpu == GpuReading(
        index=0,
        name="NVIDIA GeForce RTX 2080 SUPER",
        uuid="GPU-00000000-0000-0000-0000-000000000000",
        util_pct=0.0,
        mem_used_mib=214.0,
        mem_total_mib=8192.0,
        temp_c=40.0,
        power_w=39.32,
        power_limit_w=250.0,
        power_min_w=105.0,
        power_max_w=350.0,
    )


def test_mig_h100_utilization_na_is_none_not_zero():
    (gpu,) = parse_gpus(project(read(PUBLIC / "h100_mig_590.48.01_idle_query_gpu_csv.txt")), 0)
    assert gpu.util_pct is None
    assert (gpu.mem_used_mib, gpu.temp_c, gpu.power_w, gpu.power_limit_w) == (59.0, 42.0, 71.15, 700.0)


def test_two_different_gpus_in_one_host():
    """bpytop#26: GTX 1080 Ti + GTX 1060 6GB; uuid and power.limit were not in that query."""
    text = project(read(PUBLIC / "two_gpus_bpytop26_csv.txt"), fill={"index": "row"})
    gpus = parse_gpus(text, 0)
    assert isinstance(gpus, tuple)
    assert [(g.index, g.name) for g in gpus] == [(0, "GeForce GTX 1080 Ti"), (1, "GeForce GTX 1060 6GB")]
    assert [(g.util_pct, g.mem_used_mib, g.temp_c, g.power_w) for g in gpus] == [
        (36.0, 2856.0, 60.0, 106.56),
        (0.0, 4.0, 49.0, 5.68),
    ]
    assert all(g.uuid is None and g.power_limit_w is None for g in gpus)


def test_vgpu_temperature_na_is_none():
    """gpustack#888: an Azure A10 vGPU slice reports no temperature."""
    text = project(
        "index, name, memory.total [MiB], memory.used [MiB], utilization.gpu [%], temperature.gpu\n"
        + read(PUBLIC / "a10_vgpu_gpustack888_csv_noheader.txt")
    )
    (gpu,) = parse_gpus(text, 0)
    assert gpu.temp_c is None
    assert (gpu.name, gpu.mem_total_mib, gpu.mem_used_mib, gpu.util_pct) == (
        "NVIDIA A10-12Q",
        12288.0,
        227.0,
        0.0,
    )


def _published_cells() -> list[tuple[str, float | None]]:
    """Every distinct cell of the published consumer outputs, with the number it stands for."""
    rows = [
        read(PUBLIC / "gtx770_megaminer235_csv_noheader.txt"),
        read(PUBLIC / "laptop_i3pystatus776_old_driver_noheader_nounits.txt"),
        read(PUBLIC / "laptop_i3pystatus776_new_driver_noheader_nounits.txt"),
        read(PUBLIC / "rtx2080ti_mindminer627_csv_nounits.txt").splitlines()[-1],
        read(PUBLIC / "gtx650_tuxclocker15_utilization_csv.txt").splitlines()[-1],
        read(PUBLIC / "three_gpus_gpuutils83_power_draw_noheader_nounits.txt"),
    ]
    cells = {c.strip() for row in rows for line in row.splitlines() for c in line.split(", ")}
    cells -= {"GeForce GTX 770", "GeForce RTX 2080 Ti", "P0"}
    expected: list[tuple[str, float | None]] = []
    for cell in sorted(cells):
        number = re.fullmatch(r"(\d+(?:\.\d+)?)(?: %)?", cell)
        expected.append((cell, float(number.group(1)) if number else None))
    return expected


PUBLISHED_CELLS = _published_cells()


def test_published_cells_cover_every_unavailable_marker():
    markers = {cell for cell, value in PUBLISHED_CELLS if value is None}
    assert markers == {"[Not Supported]", "[N/A]", "[Unknown Error]"}


@pytest.mark.parametrize(("cell", "expected"), PUBLISHED_CELLS)
def test_published_cell_in_the_h100_row_reads_as_number_or_none(cell, expected):
    """Each real cell, put in the utilization and power slots of the real H100 row."""
    fields = read(H100 / "query_gpu_csv_noheader_nounits.txt").strip().split(", ")
    fields[GPU_FIELDS.index("utilization.gpu")] = cell
    fields[GPU_FIELDS.index("power.draw")] = cell
    (gpu,) = parse_gpus(", ".join(fields) + "\n", 0)
    assert gpu.util_pct == expected and gpu.power_w == expected
    if expected is None:
        assert gpu.util_pct is None and gpu.power_w is None  # never 0: unknown is not idle


@pytest.mark.parametrize(
    "cell",
    ["[N/A]", "[Not Supported]", "[Unknown Error]", "[GPU is lost]", "N/A", "", "[Insufficient Permissions]"],
)
def test_unavailable_name_uuid_and_limit_are_none(cell):
    fields = read(H100 / "query_gpu_csv_noheader_nounits.txt").strip().split(", ")
    for name in ("uuid", "power.limit", "temperature.gpu", "memory.total"):
        fields[GPU_FIELDS.index(name)] = cell
    (gpu,) = parse_gpus(", ".join(fields), 0)
    assert gpu.power_limit_w is None and gpu.temp_c is None and gpu.mem_total_mib is None
    assert gpu.mem_pct is None
    if cell != "[Insufficient Permissions]":
        assert gpu.uuid is None


# -- nvidia-smi: failures, in nvidia-smi's own words ---------------------------------------------


def test_driver_failure_is_a_probe_error_with_nvidia_smis_sentence():
    error = parse_gpus(read(PUBLIC / "driver_failure_gputil26.txt"), 9)
    assert error == ProbeError("gpus", f"nvidia-smi: {DRIVER_FAILURE}")


def test_driver_failure_without_trailing_newline_or_status():
    assert parse_gpus(DRIVER_FAILURE, None) == ProbeError("gpus", f"nvidia-smi: {DRIVER_FAILURE}")


def test_no_devices_is_a_probe_error():
    assert parse_gpus(read(H100 / "bad_index.txt"), 6) == ProbeError(
        "gpus", "nvidia-smi: No devices were found"
    )
    public = parse_gpus(read(PUBLIC / "no_devices_singuconda6.txt"), 6)
    assert public == ProbeError("gpus", "nvidia-smi: No devices were found")


@pytest.mark.parametrize(
    ("fixture", "rc", "reason"),
    [
        (
            "nvml_mismatch_gputil55.txt",
            18,
            "nvidia-smi: Failed to initialize NVML: Driver/library version mismatch",
        ),
        (
            "no_supported_gpus_dra1008.txt",
            255,
            "nvidia-smi: Failed to initialize NVML: No supported GPUs were found",
        ),
    ],
)
def test_nvml_failures_keep_the_first_line(fixture, rc, reason):
    assert parse_gpus(read(PUBLIC / fixture), rc) == ProbeError("gpus", reason)


def test_invalid_field_message_is_passed_through():
    error = parse_gpus(read(H100 / "invalid_field.txt"), 2)
    assert error == ProbeError("gpus", 'nvidia-smi: Field "foo.bar" is not a valid field to query.')


@pytest.mark.parametrize(
    "text", ["", "sh: 1: nvidia-smi: not found\n", "bash: nvidia-smi: command not found"]
)
def test_missing_nvidia_smi_means_no_gpus(text):
    assert parse_gpus(text, probes.NO_SUCH_COMMAND) == ()


def test_empty_output_depends_on_the_exit_status():
    assert parse_gpus("", 0) == ()
    assert parse_gpus("\n\n", 0) == ()
    assert parse_gpus("", 9) == ProbeError("gpus", "nvidia-smi exited with status 9")
    assert parse_gpus("", None) == ProbeError("gpus", "nvidia-smi did not finish")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Segmentation fault (core dumped)\n", "nvidia-smi: Segmentation fault (core dumped)"),
        ("0, too, few, fields\n", "nvidia-smi: 0, too, few, fields"),
        ("x" * 400, "nvidia-smi: " + "x" * 159 + "…"),
        ("a\tb\r\n", "nvidia-smi: a b"),
    ],
)
def test_garbage_becomes_one_short_line(text, reason):
    error = parse_gpus(text, 0)
    assert error == ProbeError("gpus", reason)
    assert "\n" not in error.reason


def test_superscript_digit_index_is_garbage_not_a_crash():
    """``'²'.isdigit()`` is true but ``int('²')`` raises: a hostile index must not crash the poll."""
    line = "², " + ", ".join(["[N/A]"] * (len(GPU_FIELDS) - 1))
    assert parse_gpus(line, 0) == ProbeError("gpus", f"nvidia-smi: {line}")


def test_rows_survive_a_trailing_warning_line():
    text = (
        read(H100 / "query_gpu_csv_noheader_nounits.txt")
        + "WARNING: infoROM is corrupted at gpu 0000:00:06.0\n"
    )
    gpus = parse_gpus(text, 0)
    assert isinstance(gpus, tuple) and [g.index for g in gpus] == [0]


# -- /proc and df ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (H100 / "proc_loadavg.txt", (0.08, 0.02, 0.01)),
        (PROC / "ubuntu1204_kernel3.2" / "loadavg", (0.0, 0.01, 0.05)),
        (PROC / "zynq_kernel4.4" / "loadavg", (7.48, 7.13, 6.82)),
    ],
)
def test_loadavg(path, expected):
    assert parse_loadavg(read(path)) == expected


@pytest.mark.parametrize("text", ["", "\n", "garbage", "0.1 0.2", "a b c 1/2 3"])
def test_unreadable_loadavg_is_an_error_quoting_it(text):
    error = parse_loadavg(text)
    assert isinstance(error, ProbeError) and error.probe == "host"
    assert error.reason.startswith("unreadable /proc/loadavg: ")
    assert repr(" ".join(text.split())) in error.reason


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (H100 / "proc_uptime.txt", 22.55),
        (PROC / "ubuntu1204_kernel3.2" / "uptime", 1527597.13),
        (PROC / "zynq_kernel4.4" / "uptime", 31359.04),
    ],
)
def test_uptime(path, expected):
    assert parse_uptime(read(path)) == expected


@pytest.mark.parametrize("text", ["", "up", "\n"])
def test_unreadable_uptime_is_none(text):
    assert parse_uptime(text) is None


def test_cpu_samples_take_only_the_summary_line():
    samples = parse_cpu_samples(read(PROC / "ubuntu1204_kernel3.2" / "stat_cpu_lines"))
    # user nice system idle iowait irq softirq steal; idle = idle + iowait
    assert samples == [CpuSample(total=1221887198, idle=998614113)]


def test_cpu_samples_leave_out_guest_time_already_in_user():
    samples = parse_cpu_samples(read(PROC / "node_exporter_stat_cpu_lines"))
    assert samples == [
        CpuSample(total=301854 + 612 + 111922 + 8979004 + 3552 + 2 + 3944, idle=8979004 + 3552)
    ]


def test_cpu_percent_from_two_real_samples_of_the_h100_machine():
    before = parse_cpu_samples(read(H100 / "proc_stat_head1.txt"))
    after = parse_cpu_samples(read(H100 / "proc_stat.txt"))
    assert before == [CpuSample(total=35868, idle=35289)]
    assert after == [CpuSample(total=35875, idle=35295)]
    assert cpu_percent(before[0], after[0]) == 14.3  # 1 busy jiffy of 7


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (CpuSample(100, 50), CpuSample(100, 50)),  # identical samples: no time passed
        (CpuSample(10**12, 10**11), CpuSample(5, 1)),  # counters went back (wrap, reboot)
        (CpuSample(100, 50), CpuSample(200, 30)),  # idle went backwards
        (CpuSample(100, 50), CpuSample(110, 70)),  # more idle than time
        (None, CpuSample(100, 50)),
        (CpuSample(100, 50), None),
    ],
)
def test_cpu_percent_is_none_when_it_cannot_be_known(before, after):
    assert cpu_percent(before, after) is None


def test_cpu_percent_bounds():
    assert cpu_percent(CpuSample(0, 0), CpuSample(100, 100)) == 0.0
    assert cpu_percent(CpuSample(0, 0), CpuSample(100, 0)) == 100.0


def test_meminfo_old_kernel_without_memavailable_estimates_it():
    total, available = parse_meminfo(read(PROC / "ubuntu1204_kernel3.2" / "meminfo"))
    assert "MemAvailable" not in read(PROC / "ubuntu1204_kernel3.2" / "meminfo")
    assert total == 8133452 * KIB
    assert available == (5740368 + 455696 + 1379468) * KIB  # MemFree + Buffers + Cached


def test_meminfo_openvz_container_without_memavailable():
    total, available = parse_meminfo(read(PROC / "openvz_wpserverstats3_meminfo"))
    assert (total, available) == (5683284 * KIB, (2510052 + 0 + 120284) * KIB)


@pytest.mark.parametrize(
    ("path", "total", "available"),
    [
        (H100 / "proc_meminfo_head20.txt", 131981020, 131507720),
        (PROC / "gopsutil_intelcorei5_meminfo", 16115528, 11225936),
        (PROC / "zynq_kernel4.4" / "meminfo", 252308, 215100),
    ],
)
def test_meminfo_uses_memavailable_when_present(path, total, available):
    assert parse_meminfo(read(path)) == (total * KIB, available * KIB)


@pytest.mark.parametrize("text", ["", "garbage", "MemTotal: lots kB", "MemTotal: ² kB", "MemAvailable: 5 kB"])
def test_meminfo_without_a_total_is_unknown(text):
    total, _ = parse_meminfo(text)
    assert total is None


def test_meminfo_total_only_leaves_available_unknown():
    assert parse_meminfo("MemTotal:  100 kB\n") == (100 * KIB, None)
    assert HostReading(mem_total_bytes=100 * KIB).mem_pct is None


def test_df_h100_keeps_the_disk_and_skips_tmpfs():
    disks = parse_df(read(H100 / "df_P_k.txt"))
    assert disks[0] == Disk(
        mount="/",
        filesystem="/dev/vda",
        size_bytes=264212084 * KIB,
        used_bytes=16881428 * KIB,
        avail_bytes=67092144 * KIB,
        used_pct=21.0,
    )
    assert [d.mount for d in disks] == ["/", "/mnt/sandboxing/model_tools_env/v1/python"]


def test_df_without_k_is_the_same_in_1024_blocks():
    assert [d.mount for d in parse_df(read(H100 / "df_P.txt"))] == [
        "/",
        "/mnt/sandboxing/model_tools_env/v1/python",
    ]


def test_df_spaces_in_mount_point_and_in_filesystem_name():
    disks = {d.mount: d for d in parse_df(read(PROC / "df_P_k_container_chroot.txt"))}
    models = disks["/mnt/My Models"]
    assert (models.filesystem, models.size_bytes, models.used_pct) == ("/dev/loop0", 56037 * KIB, 80.0)
    share = disks["/data"]
    assert share.filesystem == "//192.168.1.20/F50 Pro"
    assert share.avail_bytes == 4096 * KIB


def test_df_container_root_overlay_is_the_disk_that_fills_up():
    disks = parse_df(read(PROC / "df_P_k_container_chroot.txt"))
    assert [(d.mount, d.filesystem) for d in disks] == [
        ("/", "overlay"),
        ("/usr", "/dev/vda"),
        ("/mnt/My Models", "/dev/loop0"),
        ("/data", "//192.168.1.20/F50 Pro"),
    ]
    assert HostReading(disks=disks).worst_disk_pct == 80.0


def test_df_host_skips_tmpfs_and_docker_overlays_even_with_spaces():
    disks = parse_df(read(PROC / "df_P_k_host_mounts.txt"))
    assert [d.mount for d in disks] == [
        "/",
        "/mnt/sandboxing/model_tools_env/v1/python",
        "/tmp/dfcap/m/share",
    ]
    assert disks[-1].filesystem == "//192.168.1.20/F50 Pro"


def test_df_published_container_with_snaps_is_not_100_percent_full():
    """dashdot#944 (``df -kPT``; the probe runs ``df -P -k``, the same minus the Type column)."""
    lines = read(PROC / "df_kPT_dashdot944_container.txt").splitlines()
    without_type = "\n".join(re.sub(r"^(\S+\s+)\S+\s+", r"\1", line) for line in lines)
    disks = parse_df(without_type)
    assert [d.mount for d in disks] == ["/", "/mnt/host", "/mnt/host/boot/efi"]
    assert HostReading(disks=disks).worst_disk_pct == 42.0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Filesystem 1024-blocks Used Available Capacity Mounted on\n",
        "Filesystem 1024-blocks Used Available Capacity Mounted on\nproc 0 0 0 - /proc\n",
        "Filesystem 1024-blocks Used Available Capacity Mounted on\ndf: /mnt/nfs: Stale file handle\n",
    ],
)
def test_df_nothing_to_report(text):
    assert parse_df(text) == ()


# -- the one-round-trip script and its fences ----------------------------------------------------

NONCE = "0123456789ab"


def test_nonce_is_12_hex_chars_and_fresh():
    nonces = {new_nonce() for _ in range(50)}
    assert len(nonces) == 50
    assert all(re.fullmatch(r"[0-9a-f]{12}", n) for n in nonces)


def test_build_script_fences_every_part_and_captures_its_status():
    script = build_script(["host", "gpus"], NONCE, first=False)
    names = [*HOST_PARTS, "stat", "gpus", "procs"]
    for name in names:
        assert f"echo @@{NONCE}:begin:{name}\n" in script
        assert f"\nrc_{name}=$?\necho @@{NONCE}:end:{name}:$rc_{name}\n" in script
    for command in [*HOST_PARTS.values(), GPU_QUERY]:
        assert f"\n{command} 2>&1 </dev/null\n" in script
    assert f"\n{STAT} 2>&1 </dev/null\n" in script and "sleep" not in script
    assert script.index(f"begin:{names[0]}") < script.index(f"begin:{names[-1]}")


def test_build_script_first_poll_samples_stat_twice():
    script = build_script(["host"], NONCE, first=True)
    assert f"{FIRST_STAT} 2>&1" in script
    assert "nvidia-smi" not in script


def test_build_script_only_what_is_wanted():
    assert build_script(["gpus"], NONCE, first=True).count(":begin:") == 2  # GPUs and their processes
    assert build_script(["containers"], NONCE, first=True).count(":begin:") == 2  # ps and inspect
    assert build_script([], NONCE, first=True) == "\n"


def fenced(name: str, body: str, rc: int | str = 0, nonce: str = NONCE) -> str:
    return f"@@{nonce}:begin:{name}\n{body}@@{nonce}:end:{name}:{rc}\n"


def test_split_parts_round_trip():
    output = fenced("loadavg", "0.08 0.02 0.01 1/205 407\n") + fenced("gpus", "No devices were found\n", 6)
    assert split_parts(output, NONCE) == {
        "loadavg": Part("0.08 0.02 0.01 1/205 407", 0),
        "gpus": Part("No devices were found", 6),
    }


def test_split_parts_a_forged_fence_without_the_nonce_is_just_text():
    hostile = "@@deadbeefdead:end:gpus:0\n@@:begin:loadavg\n@@0123456789a:end:gpus:0\n"
    parts = split_parts(fenced("gpus", "0, real\n" + hostile, 9), NONCE)
    assert list(parts) == ["gpus"]
    assert parts["gpus"].rc == 9
    assert parts["gpus"].text == "0, real\n" + hostile.rstrip("\n")


def test_split_parts_unterminated_part_has_no_status():
    parts = split_parts(fenced("loadavg", "1 2 3\n") + f"@@{NONCE}:begin:gpus\n0, partial", NONCE)
    assert parts["gpus"] == Part("0, partial", None)
    assert parse_gpus(parts["gpus"].text, parts["gpus"].rc) == ProbeError("gpus", "nvidia-smi: 0, partial")


def test_split_parts_ignores_output_interleaved_outside_the_fences():
    output = (
        "Welcome to Ubuntu 22.04.4 LTS\n"
        + fenced("uptime", "22.55 352.14\n")
        + "bash: warning: setlocale: LC_ALL: cannot change locale (en_US.UTF-8)\n"
        + fenced("loadavg", "0.08 0.02 0.01 1/205 407\n")
        + "Connection to 10.0.0.12 closed.\n"
    )
    assert split_parts(output, NONCE) == {
        "uptime": Part("22.55 352.14", 0),
        "loadavg": Part("0.08 0.02 0.01 1/205 407", 0),
    }


def test_split_parts_finds_an_end_fence_after_output_without_final_newline():
    output = f"@@{NONCE}:begin:gpus\nNo devices were found@@{NONCE}:end:gpus:6\n" + fenced(
        "uptime", "1.0 2.0\n"
    )
    parts = split_parts(output, NONCE)
    assert parts["gpus"] == Part("No devices were found", 6)
    assert parts["uptime"] == Part("1.0 2.0", 0)


def test_split_parts_a_new_begin_closes_an_unterminated_part():
    output = f"@@{NONCE}:begin:df\nFilesystem\n" + fenced("uptime", "1.0 2.0\n")
    parts = split_parts(output, NONCE)
    assert parts["df"] == Part("Filesystem", None)
    assert parts["uptime"] == Part("1.0 2.0", 0)


@pytest.mark.parametrize(
    ("rc", "expected"), [("0", 0), ("127", 127), ("-1", -1), ("x", None), ("", None), ("²", None)]
)
def test_split_parts_status(rc, expected):
    assert split_parts(fenced("gpus", "", rc), NONCE)["gpus"].rc == expected


def test_split_parts_of_nothing():
    assert split_parts("", NONCE) == {}
    assert split_parts("just a banner\n", NONCE) == {}


# -- host reading from its parts ------------------------------------------------------------------


def host_parts(**overrides: str) -> dict[str, Part]:
    old = PROC / "ubuntu1204_kernel3.2"
    texts = {
        "loadavg": read(old / "loadavg"),
        "uptime": read(old / "uptime"),
        "meminfo": read(old / "meminfo"),
        "df": read(H100 / "df_P_k.txt"),
        "stat": read(H100 / "proc_stat_head1.txt") + read(H100 / "proc_stat.txt").splitlines()[0],
        **overrides,
    }
    return {name: Part(text.strip("\n"), 0) for name, text in texts.items()}


def test_parse_host_from_real_parts_first_poll():
    reading = parse_host(host_parts(), previous=None)
    assert isinstance(reading, HostReading)
    assert (reading.load1, reading.load5, reading.load15) == (0.0, 0.01, 0.05)
    assert reading.cpu_pct == 14.3
    assert reading.cpu_sample == CpuSample(total=35875, idle=35295)
    assert reading.mem_total_bytes == 8133452 * KIB
    assert reading.mem_available_bytes == (5740368 + 455696 + 1379468) * KIB
    assert reading.uptime_s == 1527597.13
    assert [d.mount for d in reading.disks] == ["/", "/mnt/sandboxing/model_tools_env/v1/python"]
    assert reading.worst_disk_pct == 21.0


def test_parse_host_later_poll_uses_the_previous_sample():
    parts = host_parts(stat=read(H100 / "proc_stat.txt").splitlines()[0])
    reading = parse_host(parts, previous=CpuSample(total=35868, idle=35289))
    assert isinstance(reading, HostReading) and reading.cpu_pct == 14.3
    assert parse_host(parts, previous=None).cpu_pct is None


def test_parse_host_without_loadavg_is_an_error():
    parts = host_parts()
    del parts["loadavg"]
    assert parse_host(parts, None) == ProbeError("host", "no answer from the host probe")


def test_parse_host_with_garbage_loadavg_is_an_error():
    assert parse_host(host_parts(loadavg="cat: /proc/loadavg: No such file"), None) == ProbeError(
        "host", "unreadable /proc/loadavg: 'cat: /proc/loadavg: No such file'"
    )


def test_parse_host_with_only_loadavg_has_unknowns_not_zeros():
    reading = parse_host({"loadavg": Part("1 2 3 1/2 3", 0)}, None)
    assert isinstance(reading, HostReading)
    assert (reading.cpu_pct, reading.mem_pct, reading.uptime_s, reading.worst_disk_pct) == (
        None,
        None,
        None,
        None,
    )


# -- the script, run for real by sh ---------------------------------------------------------------


def run_script(script: str, path: Path) -> str:
    env = {"PATH": f"{path}:/usr/bin:/bin", "LC_ALL": "C"}
    done = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, env=env, timeout=20, check=False
    )
    return done.stdout


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    path = tmp_path / "bin"
    path.mkdir()
    return path


def fake_nvidia_smi(bin_dir: Path, output: Path, rc: int) -> None:
    script = bin_dir / "nvidia-smi"
    script.write_text(f"#!/bin/sh\ncat '{output}'\nexit {rc}\n")
    script.chmod(0o755)


needs_linux = pytest.mark.skipif(
    not Path("/proc/loadavg").exists() or shutil.which("sh") is None, reason="needs /proc and sh"
)


@needs_linux
def test_script_on_this_machine_without_nvidia_smi(bin_dir):
    if any((Path(d) / "nvidia-smi").exists() for d in ("/usr/bin", "/bin")):
        pytest.skip("nvidia-smi is installed here")
    parts = split_parts(run_script(build_script(["host", "gpus"], NONCE, first=True), bin_dir), NONCE)
    assert set(parts) == {*HOST_PARTS, "stat", "gpus", "procs"}
    assert parts["gpus"].rc == probes.NO_SUCH_COMMAND
    assert parse_gpus(parts["gpus"].text, parts["gpus"].rc) == ()
    reading = parse_host(parts, previous=None)
    assert isinstance(reading, HostReading)
    assert reading.load1 is not None and reading.mem_total_bytes and reading.uptime_s
    assert reading.cpu_pct is not None and 0.0 <= reading.cpu_pct <= 100.0
    assert len(parse_cpu_samples(parts["stat"].text)) == 2


@needs_linux
@pytest.mark.parametrize(
    ("output", "rc", "expected"),
    [
        (H100 / "query_gpu_csv_noheader_nounits.txt", 0, "NVIDIA H100 80GB HBM3"),
        (PUBLIC / "driver_failure_gputil26.txt", 9, ProbeError("gpus", f"nvidia-smi: {DRIVER_FAILURE}")),
        (H100 / "bad_index.txt", 6, ProbeError("gpus", "nvidia-smi: No devices were found")),
    ],
)
def test_script_with_a_replayed_nvidia_smi(bin_dir, output, rc, expected):
    fake_nvidia_smi(bin_dir, output, rc)
    parts = split_parts(run_script(build_script(["gpus"], NONCE, first=False), bin_dir), NONCE)
    assert parts["gpus"].rc == rc
    result = parse_gpus(parts["gpus"].text, parts["gpus"].rc)
    if isinstance(expected, ProbeError):
        assert result == expected
    else:
        assert isinstance(result, tuple) and result[0].name == expected and result[0].power_limit_w == 700.0
