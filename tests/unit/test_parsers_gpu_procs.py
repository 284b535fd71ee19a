"""GPU compute processes and their containers: nvidia-smi's compute-apps CSV and /proc/PID/cgroup.

Fixtures: ``tests/fixtures/nvidia_smi`` (this project's H100 captures, the exact ``COMPUTE_APPS``
query) and ``tests/fixtures/gpu_procs`` (a published Windows/WDDM capture, cgroup files published
by others, a real ``grep -H`` answer; ``INDEX.md`` names each source).
"""

from __future__ import annotations

import os
import random
import re
import shlex
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cockpit.model import GpuProcess, ProbeError
from cockpit.sources.gpu_procs import (
    COMPUTE_APPS,
    MAX_PIDS,
    cgroup_command,
    container_id_of,
    parse_cgroups,
    parse_compute_apps,
    with_containers,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
H100 = FIXTURES / "nvidia_smi"
PROCS = FIXTURES / "gpu_procs"
CGROUP = PROCS / "cgroup"
H100_UUID = "GPU-634ded5f-3d6f-51f5-a5b5-62c1318497cf"
FUZZ = settings(
    max_examples=int(os.environ.get("COCKPIT_FUZZ_EXAMPLES", 200)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def project(csv_text: str) -> str:
    """Answer ``COMPUTE_APPS`` from a published ``--format=csv`` capture of more fields, the way
    nvidia-smi would: columns by header name, ``nounits`` drops " MiB", ``[N/A]`` stays. The process
    name column is found by counting fields from both ends, since names are not quoted."""
    lines = [line for line in csv_text.splitlines() if line.strip()]
    header = [h.strip() for h in lines[0].split(", ")]
    name_at = header.index("process_name")
    after = len(header) - name_at - 1
    rows = []
    for line in lines[1:]:
        cells = line.split(", ")
        before, name, rest = cells[:name_at], ", ".join(cells[name_at : len(cells) - after]), cells[-after:]
        row = dict(zip(header, [*before, name, *rest], strict=True))
        memory = row["used_gpu_memory [MiB]"].removesuffix(" MiB")
        rows.append(f"{row['pid']}, {row['process_name']}, {memory}, {row['gpu_uuid']}")
    return "\n".join(rows) + "\n"


def test_the_query_is_the_captured_one():
    assert f"=== CMD: {COMPUTE_APPS}\n" in read(H100 / "captures_all.txt")


def test_a_torch_process_on_the_h100():
    (proc,) = parse_compute_apps(read(H100 / "compute_apps_csv_noheader_nounits.txt"), 0)  # type: ignore[misc]
    assert proc == GpuProcess(pid=660, name="python3", used_mib=612.0, gpu_uuid=H100_UUID)


def test_an_idle_gpu_prints_nothing():
    assert parse_compute_apps(read(H100 / "compute_apps_empty_csv_noheader_nounits.txt"), 0) == ()
    assert parse_compute_apps("", 0) == ()
    assert parse_compute_apps("No running processes found\n", 0) == ()


def test_with_units_and_header_too():
    """If the format ever loses ``noheader,nounits`` the rows still read the same."""
    (proc,) = parse_compute_apps(read(H100 / "compute_apps_csv.txt"), 0)  # type: ignore[misc]
    assert (proc.pid, proc.name, proc.used_mib, proc.gpu_uuid) == (660, "python3", 104.0, H100_UUID)


def test_wddm_memory_is_unknown_and_names_keep_their_spaces():
    text = project(read(PROCS / "windows_wddm_rtx2080super_610.62_compute_apps_csv.txt"))
    procs = parse_compute_apps(text, 0)
    assert isinstance(procs, tuple) and len(procs) == 6
    assert all(p.used_mib is None for p in procs)  # "[N/A]": unknown, never 0
    assert all(p.gpu_uuid == "GPU-00000000-0000-0000-0000-000000000000" for p in procs)
    names = {p.pid: p.name for p in procs}
    assert names[17648] == r"C:\Program Files\NVIDIA Corporation\NVIDIA App\CEF\NVIDIA Overlay.exe"
    assert names[17840].startswith(r"C:\Program Files (x86)\Microsoft")


def test_a_name_with_commas_is_read_outside_in():
    text = f"4242, /usr/bin/vllm, with comma, serve, 1536, {H100_UUID}\n"
    (proc,) = parse_compute_apps(text, 0)  # type: ignore[misc]
    assert (proc.pid, proc.name, proc.used_mib, proc.gpu_uuid) == (
        4242,
        "/usr/bin/vllm, with comma, serve",
        1536.0,
        H100_UUID,
    )


def test_hostile_names_are_cleaned():
    (proc,) = parse_compute_apps(f"7, evil\x1b]0;title\x07\u202eexe, 10, {H100_UUID}\n", 0)  # type: ignore[misc]
    assert proc.name == "evilexe"


def test_failures():
    assert parse_compute_apps("/bin/sh: 1: nvidia-smi: not found\n", 127) == ()
    bad_index = read(H100 / "bad_index.txt")
    assert parse_compute_apps(bad_index, 6) == ProbeError("gpu_procs", "nvidia-smi: No devices were found")
    assert parse_compute_apps("", 124) == ProbeError("gpu_procs", "nvidia-smi timed out (a hung driver?)")
    assert parse_compute_apps("", 9) == ProbeError("gpu_procs", "nvidia-smi exited with status 9")
    mixed = f"garbage line\n660, python3, 612, {H100_UUID}\n"
    assert len(parse_compute_apps(mixed, 0)) == 1  # type: ignore[arg-type]


def test_cgroup_command():
    assert cgroup_command([]) is None
    command = cgroup_command([660, 12, 660, -1, 0])
    assert command == "grep -H '' /proc/12/cgroup /proc/660/cgroup 2>/dev/null"
    assert shlex.split(command)[:2] == ["grep", "-H"]
    big = cgroup_command(range(1, 5000))
    assert big is not None and big.count("/proc/") == MAX_PIDS


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "docker_v1_hybrid_ctrsploit280.cgroup",
            "2403ccfe427f1dc7b6120dccb9ac58c2f8456950380d587a9f33ea7f00dd303d",
        ),
        (
            "docker_v1_partial_moby33352.cgroup",
            "5dace3de0735f73d2b5048f12d41a71741a02e49668de921fdae62f7e65dc498",
        ),
        (
            "docker_v1_systemd_driver_containerd285.cgroup",
            "b33dda97580e721a69fa81742190341f858ea809ec4a9d74a8cfd411b0ee7c26",
        ),
        (
            "docker_v2_systemd_driver.cgroup",
            "e23ce43dcbe0feef12bc0199df6bf45d0a6f1c2b3e4d5f60718293a4b5c6d7e8",
        ),
        (
            "k8s_v1_cgroupfs_container_info.cgroup",
            "34dc0b5e626f2c5c4c5170e34b10e7654ce36f0fcd532739f4445baabea03376",
        ),
        (
            "k8s_v1_containerd_colon_otel4507.cgroup",
            "ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459",
        ),
        ("k8s_v1_crio_runc4620.cgroup", "5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c"),
        (
            "k8s_v2_systemd_containerd_nri227.cgroup",
            "a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e",
        ),
        (
            "podman_v1_machine_slice_podman10602.cgroup",
            "2521e906f0a0c758c3a7dc4fd68c197e32e96abb4b36807d0b0ede6d014a7c24",
        ),
        (
            "podman_v2_container_podman20423.cgroup",
            "cf21d19260ace8544fe8b769fc2638bf2c0873dfbfff0b6253f0569b26a1d5eb",
        ),
        ("host_user_session_v2.cgroup", None),
    ],
)
def test_container_id_of_each_runtime(name, expected):
    assert container_id_of(read(CGROUP / name).splitlines()) == expected


def test_not_a_container():
    assert container_id_of(["0::/system.slice/containerd.service"]) is None
    assert container_id_of(["0::/system.slice/docker.service"]) is None
    assert container_id_of(["4:memory:/process_api/9d06ccd45b0bf3fa744f53e3c3cb5a04"]) is None  # 32 hex
    conmon = "0::/machine.slice/libpod-conmon-" + "a" * 64 + ".scope"
    assert container_id_of([conmon]) is None  # podman's monitor runs on the host
    assert container_id_of(["0::/docker/" + "a" * 65]) is None  # not an id's length
    assert container_id_of(["0::/"]) is None  # inside a cgroup namespace nothing shows


def test_grep_h_output_of_a_real_machine():
    text = read(PROCS / "grep_H_build_machine.txt")
    assert parse_cgroups(text) == {1: None, 32254: None}  # both host processes; 999999 was gone


def as_grep(files: dict[int, str]) -> str:
    """What ``grep -H ''`` prints for these files: each line prefixed by its path and a colon."""
    return "".join(
        f"/proc/{pid}/cgroup:{line}\n" for pid, text in files.items() for line in text.splitlines()
    )


def test_parse_cgroups_and_attach_containers():
    files = {
        660: read(CGROUP / "docker_v2_systemd_driver.cgroup"),
        700: read(CGROUP / "k8s_v1_containerd_colon_otel4507.cgroup"),
        800: read(CGROUP / "host_user_session_v2.cgroup"),
    }
    mapping = parse_cgroups(as_grep(files) + "grep: /proc/900/cgroup: No such file or directory\n")
    assert mapping == {
        660: "e23ce43dcbe0feef12bc0199df6bf45d0a6f1c2b3e4d5f60718293a4b5c6d7e8",
        700: "ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459",
        800: None,
    }
    procs = [GpuProcess(pid, "python3", 10.0, H100_UUID) for pid in (660, 800, 900)]
    attached = with_containers(procs, mapping)
    assert [p.container_id for p in attached] == [mapping[660], None, None]
    assert 900 not in mapping  # gone between nvidia-smi and grep: unknown, not "host"


def _mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(0, 5)):
        if not text:
            break
        at = rng.randint(0, len(text))
        cut = rng.randint(0, 10)
        text = (
            text[:at]
            + rng.choice(["", "\n", ", ", ":", "/", "[N/A]", "-1", "\x1b[2J", "a" * 64])
            + text[at + cut :]
        )
    return text


REAL_APPS = [
    read(H100 / "compute_apps_csv_noheader_nounits.txt"),
    project(read(PROCS / "windows_wddm_rtx2080super_610.62_compute_apps_csv.txt")),
    read(H100 / "bad_index.txt"),
]
REAL_CGROUPS = [as_grep({i + 1: read(p)}) for i, p in enumerate(sorted(CGROUP.iterdir()))]
HEX64 = re.compile(r"^[0-9a-f]{64}$")
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@FUZZ
@given(st.integers(0, 2**32), st.one_of(st.none(), st.integers(-5, 300)), st.text(max_size=120))
def test_fuzz_compute_apps_never_raises(seed, rc, noise):
    rng = random.Random(seed)
    result = parse_compute_apps(_mutate(rng, rng.choice(REAL_APPS)) + noise, rc)
    if isinstance(result, ProbeError):
        assert result.reason and "\n" not in result.reason
    else:
        for proc in result:
            assert proc.pid >= 0 and not CONTROLS.search(proc.name)
            assert proc.used_mib is None or proc.used_mib >= 0


@FUZZ
@given(st.integers(0, 2**32), st.text(max_size=120), st.lists(st.integers(-10, 2**40), max_size=6))
def test_fuzz_cgroups_never_raise(seed, noise, pids):
    rng = random.Random(seed)
    mapping = parse_cgroups(_mutate(rng, rng.choice(REAL_CGROUPS)) + noise)
    assert all(v is None or HEX64.match(v) for v in mapping.values())
    command = cgroup_command(pids)
    assert command is None or command.startswith("grep -H '' /proc/")
