"""The virtual files of a simulated node (/proc/*, /etc/*), rendered from its world on each read.

Formats follow the Linux kernel's own printers (column widths included), checked against captures in
tests/fixtures, so a parser that works here works on a real machine and the other way round.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from cockpit.sim import processes
from cockpit.sim.world import NodeWorld, hash01

OS_RELEASE = {
    "nixos": 'NAME=NixOS\nID=nixos\nVERSION="24.11 (Vicuna)"\nVERSION_ID="24.11"\n'
    'PRETTY_NAME="NixOS 24.11 (Vicuna)"\nHOME_URL="https://nixos.org/"\n',
    "unraid": 'NAME=Slackware\nID=slackware\nVERSION="15.0+"\nVERSION_ID=15.0\n'
    'PRETTY_NAME="Unraid OS 7.0 x86_64"\n',
    "": 'PRETTY_NAME="Ubuntu 22.04.5 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\n'
    'VERSION="22.04.5 LTS (Jammy Jellyfish)"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\n'
    'HOME_URL="https://www.ubuntu.com/"\nUBUNTU_CODENAME=jammy\n',
}
KERNELS = {"nixos": "6.6.63", "unraid": "6.12.24-Unraid", "": "6.8.0-49-generic"}


def distro(world: NodeWorld) -> str:
    """The os-release key for a node, from its tags."""
    for tag in ("nixos", "unraid"):
        if tag in world.node.tags:
            return tag
    return ""


def kernel_release(world: NodeWorld) -> str:
    return KERNELS[distro(world)]


def loadavg(world: NodeWorld, now: float) -> str:
    l1, l5, l15 = world.load
    running = 1 + int(min(world.cpus, l1 * 0.3))
    total = 180 + int(world.cpus * 6 + 200 * hash01(world.key, 71))
    return f"{l1:.2f} {l5:.2f} {l15:.2f} {running}/{total} {world.last_pid}\n"


def uptime(world: NodeWorld, now: float) -> str:
    up = world.uptime(now)
    idle = world.cpu_jiffies(now)[3] / 100.0
    return f"{up:.2f} {idle:.2f}\n"


def stat(world: NodeWorld, now: float) -> str:
    """/proc/stat: the cpu line is the sum of the per-cpu lines, as the kernel prints it."""
    agg = world.cpu_jiffies(now)
    n = world.cpus
    rows = [
        [int(v * (idle if f == 3 else busy)) for f, v in enumerate(agg)] for busy, idle in world.cpu_shares
    ]
    total = [sum(col) for col in zip(*rows, strict=True)]
    lines = ["cpu  " + " ".join(map(str, total))]
    lines += [f"cpu{i} " + " ".join(map(str, row)) for i, row in enumerate(rows)]
    up = world.uptime(now)
    intr = int(up * (900 + 80 * n))
    irqs = [0, 9, 0, 0, 10, 0, intr // 7, 0, intr // 9, 0, intr // 40] + [0] * 53
    irqs[0] = intr - sum(irqs)
    lines.append("intr " + str(intr) + " " + " ".join(map(str, irqs)))
    lines.append(f"ctxt {int(up * (1500 + 400 * n))}")
    lines.append(f"btime {int(world.boot_time)}")
    lines.append(f"processes {world.last_pid + 300}")
    lines.append(f"procs_running {1 + int(min(n, world.load[0] * 0.3))}")
    lines.append("procs_blocked 0")
    soft = int(up * 300 * n)
    parts = [0, soft // 9, 1, soft // 60, soft // 8, 0, 2, soft // 4, 0]
    parts.append(soft - sum(parts))
    lines.append("softirq " + str(soft) + " " + " ".join(map(str, parts)))
    return "\n".join(lines) + "\n"


def meminfo(world: NodeWorld, now: float) -> str:
    m = world.memory_kb(now)
    total, free, avail = m["total"], m["free"], m["available"]
    cached, buffers, shmem = m["cached"], m["buffers"], m["shmem"]
    anon = max(0, total - avail - shmem)
    slab = int(total * 0.012)
    rows = [
        ("MemTotal", total), ("MemFree", free), ("MemAvailable", avail), ("Buffers", buffers),
        ("Cached", cached), ("SwapCached", 0), ("Active", anon // 2 + cached // 3),
        ("Inactive", anon // 2 + cached * 2 // 3), ("Active(anon)", anon // 2),
        ("Inactive(anon)", anon // 2), ("Active(file)", cached // 3),
        ("Inactive(file)", cached * 2 // 3), ("Unevictable", 8240), ("Mlocked", 6572),
        ("SwapTotal", m["swap_total"]), ("SwapFree", m["swap_free"]), ("Zswap", 0),
        ("Zswapped", 0), ("Dirty", 1272), ("Writeback", 0), ("AnonPages", anon),
        ("Mapped", cached // 5), ("Shmem", shmem), ("KReclaimable", slab // 2), ("Slab", slab),
        ("SReclaimable", slab // 2), ("SUnreclaim", slab - slab // 2),
        ("KernelStack", 16 * world.cpus * 64), ("PageTables", anon // 500),
        ("SecPageTables", 0), ("NFS_Unstable", 0), ("Bounce", 0), ("WritebackTmp", 0),
        ("CommitLimit", total // 2 + m["swap_total"]), ("Committed_AS", anon + anon // 3),
        ("VmallocTotal", 34359738367), ("VmallocUsed", 180000 + world.cpus * 1000),
        ("VmallocChunk", 0), ("Percpu", world.cpus * 1600), ("HardwareCorrupted", 0),
        ("AnonHugePages", anon // 8), ("ShmemHugePages", 0), ("ShmemPmdMapped", 0),
        ("FileHugePages", 0), ("FilePmdMapped", 0), ("Unaccepted", 0),
    ]  # fmt: skip
    lines = [f"{k + ':':<16}{v:>8} kB" for k, v in rows]
    for k in ("HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp"):
        lines.append(f"{k + ':':<16}{0:>8}")
    lines.append(f"{'Hugepagesize:':<16}{2048:>8} kB")
    lines.append(f"{'Hugetlb:':<16}{0:>8} kB")
    direct = total + 2 * 1024 * 1024
    lines.append(f"{'DirectMap4k:':<16}{612 * 1024:>8} kB")
    lines.append(f"{'DirectMap2M:':<16}{direct // 8:>8} kB")
    lines.append(f"{'DirectMap1G:':<16}{direct - direct // 8:>8} kB")
    return "\n".join(lines) + "\n"


def cpuinfo(world: NodeWorld, now: float) -> str:
    blocks = []
    for i in range(world.cpus):
        blocks.append(
            f"processor\t: {i}\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\n"
            f"model name\t: AMD EPYC 7543 32-Core Processor\ncpu MHz\t\t: 2800.000\n"
            f"cache size\t: 512 KB\nphysical id\t: 0\nsiblings\t: {world.cpus}\n"
            f"core id\t\t: {i}\ncpu cores\t: {world.cpus}\n"
            "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov sse sse2 "
            "ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm avx avx2\n"
        )
    return "\n".join(blocks) + "\n"


def hostname(world: NodeWorld, now: float) -> str:
    return world.node.name + "\n"


def os_release(world: NodeWorld, now: float) -> str:
    return OS_RELEASE[distro(world)]


def proc_version(world: NodeWorld, now: float) -> str:
    return (
        f"Linux version {kernel_release(world)} (builder@sim) (gcc 13.3.0) #1 SMP PREEMPT_DYNAMIC "
        f"{time.strftime('%a %b %d %H:%M:%S UTC %Y', time.gmtime(world.boot_time - 86400 * 30))}\n"
    )


FILES: dict[str, Callable[[NodeWorld, float], str]] = {
    "/proc/loadavg": loadavg,
    "/proc/uptime": uptime,
    "/proc/stat": stat,
    "/proc/meminfo": meminfo,
    "/proc/cpuinfo": cpuinfo,
    "/proc/version": proc_version,
    "/etc/hostname": hostname,
    "/etc/os-release": os_release,
}
DIRECTORIES = {"/", "/proc", "/etc", "/tmp", "/root", "/home", "/dev", "/usr", "/usr/bin", "/bin"}


PID_FILE_RE = re.compile(r"^/proc/(\d+)/(cgroup|comm)$")


def pid_file(world: NodeWorld, pid: int, name: str) -> str | None:
    """/proc/PID/cgroup (one cgroup v2 line, ``0::PATH``) or /proc/PID/comm of a process we know."""
    found = processes.process(world, pid)
    if found is None:
        return None
    comm, cgroup = found
    return f"0::{cgroup}\n" if name == "cgroup" else f"{comm}\n"


def read(world: NodeWorld, path: str) -> str | None:
    """A virtual file's content now, or ``None`` if there is no such file."""
    if m := PID_FILE_RE.match(path):
        return pid_file(world, int(m.group(1)), m.group(2))
    render = FILES.get(path)
    if render is None:
        return None
    return render(world, world.advance())
