"""Simulated hardware: deterministic from the seed, moving with a fake clock, /proc formats."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cockpit.config import Cluster
from cockpit.sim.commands import run_command
from cockpit.sim.sysutils import format_df
from cockpit.sim.world import DiskState, NodeWorld

T0 = 1_795_361_966.0


class FakeClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def make(clock: FakeClock, seed: int = 7, name: str = "n1", **sim: object) -> NodeWorld:
    node = {"name": name, "host": "127.0.0.1", "port": 2222, "tags": ["rented"], "sim": sim}
    cluster = Cluster.model_validate({"cluster": "t", "nodes": [node]})
    return NodeWorld(cluster.nodes[0], seed=seed, clock=clock)


def stat_cpu(text: str) -> list[int]:
    first = text.splitlines()[0].split()
    assert first[0] == "cpu"
    return [int(x) for x in first[1:]]


async def test_same_seed_and_clock_give_the_same_machine() -> None:
    a, b = make(FakeClock()), make(FakeClock())
    script = (
        "cat /proc/stat /proc/loadavg /proc/meminfo; nvidia-smi -L;"
        "nvidia-smi --query-gpu=power.draw,temperature.gpu --format=csv"
    )
    assert (await run_command(a, script))[0] == (await run_command(b, script))[0]
    other = make(FakeClock(), seed=8)
    assert (await run_command(other, script))[0] != (await run_command(a, script))[0]


async def test_proc_stat_has_ten_counters_that_grow_with_time() -> None:
    clock = FakeClock()
    w = make(clock, cpus=4, busy=0.5)
    before = stat_cpu((await run_command(w, "cat /proc/stat"))[0])
    assert len(before) == 10
    clock.t += 60
    text = (await run_command(w, "cat /proc/stat"))[0]
    after = stat_cpu(text)
    assert all(b >= a for a, b in zip(before, after, strict=True))
    elapsed = sum(after) - sum(before)
    assert abs(elapsed - 4 * 100 * 60) <= 4 * 2, "cpus x USER_HZ x seconds"
    busy = elapsed - (after[3] - before[3]) - (after[4] - before[4])
    assert 0.2 < busy / elapsed < 0.8
    per_cpu = [ln for ln in text.splitlines() if ln.startswith("cpu") and ln[3] != " "]
    assert [ln.split()[0] for ln in per_cpu] == ["cpu0", "cpu1", "cpu2", "cpu3"]
    assert [sum(col) for col in zip(*(map(int, ln.split()[1:]) for ln in per_cpu), strict=True)] == after
    for key in ("intr", "ctxt", "btime", "processes", "procs_running", "procs_blocked", "softirq"):
        assert any(ln.startswith(key + " ") for ln in text.splitlines()), key


async def test_busier_nodes_burn_more_cpu() -> None:
    clock = FakeClock()
    idle, busy = make(clock, busy=0.05), make(clock, busy=0.95)
    first = [stat_cpu((await run_command(w, "head -1 /proc/stat"))[0]) for w in (idle, busy)]
    clock.t += 30
    second = [stat_cpu((await run_command(w, "head -1 /proc/stat"))[0]) for w in (idle, busy)]
    idle_share = [(b[3] - a[3]) / (sum(b) - sum(a)) for a, b in zip(first, second, strict=True)]
    assert idle_share[0] > 0.8 > 0.3 > idle_share[1]


async def test_loadavg_and_uptime_move_with_the_clock() -> None:
    clock = FakeClock()
    w = make(clock, cpus=16, busy=0.9)
    up0 = float((await run_command(w, "cat /proc/uptime"))[0].split()[0])
    load0 = (await run_command(w, "cat /proc/loadavg"))[0]
    clock.t += 125.5
    up1 = float((await run_command(w, "cat /proc/uptime"))[0].split()[0])
    load1 = (await run_command(w, "cat /proc/loadavg"))[0]
    assert up1 - up0 == pytest.approx(125.5, abs=0.01)
    assert load1 != load0
    assert 5 < float(load1.split()[0]) < 20


async def test_meminfo_is_complete_and_consistent() -> None:
    w = make(FakeClock(), mem_gib=128)
    text = (await run_command(w, "cat /proc/meminfo"))[0]
    values = {ln.split(":")[0]: int(ln.split()[1]) for ln in text.splitlines()}
    for key in ("MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapTotal", "SwapFree",
                "Shmem", "SReclaimable", "HugePages_Total", "DirectMap1G"):  # fmt: skip
        assert key in values
    assert values["MemTotal"] == int(128 * 1024 * 1024 * 0.985)
    assert values["MemFree"] < values["MemAvailable"] < values["MemTotal"]
    assert text.splitlines()[0] == f"MemTotal:       {values['MemTotal']:>8} kB"


async def test_gpu_values_wander_over_time() -> None:
    clock = FakeClock()
    w = make(clock, gpus=["NVIDIA GeForce RTX 4090"], busy=0.6)
    seen = set()
    for _ in range(6):
        clock.t += 20
        out = (
            await run_command(w, "nvidia-smi --query-gpu=utilization.gpu,power.draw --format=csv,noheader")
        )[0]
        seen.add(out)
    assert len(seen) > 3


async def test_temperature_follows_power() -> None:
    clock = FakeClock()
    w = make(clock, gpus=["NVIDIA GeForce RTX 5090"], busy=0.3)
    w.set_gpu(0, util=0)
    clock.t += 300
    w.advance()
    cool_t, cool_p = w.gpus[0].temp, w.gpus[0].power
    w.set_gpu(0, util=100)
    assert w.gpus[0].power > 500 and w.gpus[0].temp == pytest.approx(cool_t), "power jumps, heat lags"
    clock.t += 10
    w.advance()
    warming = w.gpus[0].temp
    clock.t += 300
    w.advance()
    assert cool_t < warming < w.gpus[0].temp
    assert w.gpus[0].temp > cool_t + 25
    assert cool_p < 0.16 * 575


async def test_overrides_pin_and_release() -> None:
    clock = FakeClock()
    w = make(clock, gpus=["NVIDIA H100 80GB HBM3"], busy=0.8)
    w.set_gpu(0, temp=93.4, mem_used=1234)
    clock.t += 50
    out = (await run_command(w, "nvidia-smi --query-gpu=temperature.gpu,memory.used --format=csv,noheader"))[
        0
    ]
    assert out == "93, 1234 MiB\n"
    w.set_gpu(0, temp=None)
    clock.t += 200
    w.advance()
    assert w.gpus[0].temp != pytest.approx(93.4)
    with pytest.raises(TypeError):
        w.set_gpu(0, fan=3)


async def test_disk_override_shows_in_df() -> None:
    w = make(FakeClock(), disks=[{"mount": "/", "size_gib": 64, "used_pct": 41}])
    w.set_disk("/", 97)
    out = (await run_command(w, "df -P /"))[0].splitlines()
    assert out[1].split()[4] == "97%"
    assert out[1].split()[0] == "/dev/nvme0n1p2"


def test_large_clock_jump_is_bounded() -> None:
    clock = FakeClock()
    w = make(clock, cpus=2, busy=0.5)
    before = sum(w.cpu_jiffies(clock()))
    clock.t += 10 * 86400
    w.advance()
    after = sum(w.cpu_jiffies(clock()))
    assert after - before == pytest.approx(2 * 100 * 10 * 86400, rel=1e-3)


FIX = Path(__file__).resolve().parents[1] / "fixtures" / "nvidia_smi"


@pytest.mark.parametrize(
    "capture",
    ["nvidia_smi/df_P.txt", "proc/df_P_k_host_mounts.txt", "proc/df_P_k_container_chroot.txt"],
)
def test_df_layout_reproduces_real_gnu_df_captures(capture: str) -> None:
    real = (FIX.parent / capture).read_text()
    disks = []
    for line in real.splitlines()[1:]:
        m = re.fullmatch(r"(.*?) +(\d+) +(\d+) +(\d+) +\d+% (.*)", line)
        assert m, line
        fs, blocks, used, avail, mount = m.groups()
        disks.append(DiskState(fs, mount, int(blocks), int(used), int(avail)))
    assert format_df(disks, posix=True, human=False) == real


async def test_proc_files_follow_the_real_layout() -> None:
    w = make(FakeClock(), cpus=16, mem_gib=128)
    ours = (await run_command(w, "cat /proc/meminfo"))[0].splitlines()
    real = (FIX / "proc_meminfo_head20.txt").read_text().splitlines()
    assert [ln.split(":")[0] for ln in ours[:20]] == [ln.split(":")[0] for ln in real]
    for mine, theirs in zip(ours[:20], real, strict=True):
        if len(theirs.split()[1]) <= 8 and len(mine.split()[1]) <= 8:
            assert len(mine) == len(theirs), (mine, theirs)
    stat = (await run_command(w, "cat /proc/stat"))[0].splitlines()
    real_stat = (FIX / "proc_stat.txt").read_text().splitlines()
    assert [ln.split()[0] for ln in stat] == [ln.split()[0] for ln in real_stat]
    assert stat[0].startswith("cpu  ") and real_stat[0].startswith("cpu  ")
    shape = re.compile(r"\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+/\d+ \d+\n")
    assert shape.fullmatch((await run_command(w, "cat /proc/loadavg"))[0])
    assert shape.fullmatch((FIX / "proc_loadavg.txt").read_text())
    up = re.compile(r"\d+\.\d\d \d+\.\d\d\n")
    assert up.fullmatch((await run_command(w, "cat /proc/uptime"))[0])
    assert up.fullmatch((FIX / "proc_uptime.txt").read_text())


async def test_every_proc_stat_counter_is_monotonic_across_second_boundaries() -> None:
    clock = FakeClock(T0 + 0.5)
    w = make(clock, cpus=32, busy=0.6)
    prev_agg: list[int] | None = None
    prev_rows: list[list[int]] | None = None
    for step in range(3000):
        agg = w.cpu_jiffies(w.advance())
        if prev_agg is not None:
            assert all(b >= a for a, b in zip(prev_agg, agg, strict=True)), (step, prev_agg, agg)
        prev_agg = agg
        if step % 100 == 0:
            text = (await run_command(w, "cat /proc/stat"))[0]
            rows = [[int(x) for x in ln.split()[1:]] for ln in text.splitlines() if ln.startswith("cpu")]
            for before, after in zip(prev_rows or rows, rows, strict=True):
                assert all(b >= a for a, b in zip(before, after, strict=True)), (before, after)
            prev_rows = rows
        clock.t += 0.0173
