"""The simulated systemctl, journalctl, kill, sudo and /proc/PID/cgroup, checked against real systemd."""

from __future__ import annotations

import re
import time
from pathlib import Path

from cockpit.config import load_cluster
from cockpit.sim.commands import run_command
from cockpit.sim.services_world import ACTIVATING_S
from cockpit.sim.world import NodeWorld

T0 = 1_795_361_966.0
REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "tests" / "fixtures" / "systemd"
PROPS = (
    "Id,LoadState,ActiveState,SubState,ActiveEnterTimestamp,ActiveEnterTimestampMonotonic,"
    "InactiveEnterTimestamp,InactiveEnterTimestampMonotonic"
)


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def demo(name: str, clock: Clock) -> NodeWorld:
    return NodeWorld(load_cluster(REPO / "cluster.yaml").node(name), 7, clock)


async def sh(world: NodeWorld, script: str, user: str = "typhon") -> tuple[str, str, int]:
    return await run_command(world, script, user)


def blocks(text: str) -> list[list[str]]:
    return [b.splitlines() for b in text.split("\n\n")]


async def test_show_blocks_match_real_systemd_layout() -> None:
    w = demo("hydra-ai", Clock())
    out, err, rc = await sh(w, f"systemctl show -p {PROPS} -- tabbyapi prometheus-node-exporter")
    real = blocks((REAL / "show_utc.txt").read_text())
    ours = blocks(out)
    assert (err, rc, len(ours)) == ("", 0, 2)
    keys = lambda block: [line.split("=", 1)[0] for line in block]  # noqa: E731
    assert keys(ours[0]) == keys(real[0]), "systemd's property order, empty values kept when asked for"
    assert ours[1] == real[-1], "a unit that does not exist reads exactly as real systemd's not-found block"
    assert ours[0][:4] == [
        "Id=tabbyapi.service",
        "LoadState=loaded",
        "ActiveState=active",
        "SubState=running",
    ]
    assert re.fullmatch(r"ActiveEnterTimestamp=\w{3} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", ours[0][4])
    reversed_props = ",".join(reversed(PROPS.split(",")[:5]))
    assert (await sh(w, f"systemctl show -p {reversed_props} tabbyapi"))[0].splitlines() == ours[0][:5]


async def test_show_monotonic_agrees_with_proc_uptime() -> None:
    clock = Clock()
    w = demo("hydra-ai", clock)
    w.services.set_unit("tabbyapi", "failed", clock.t - 321)
    out, _, _ = await sh(w, f"cat /proc/uptime; systemctl show -p {PROPS} tabbyapi")
    uptime = float(out.split()[0])
    fields = dict(line.split("=", 1) for line in out.splitlines()[1:])
    for prefix in ("ActiveEnter", "InactiveEnter"):
        mono = int(fields[f"{prefix}TimestampMonotonic"]) / 1e6
        human = (
            time.mktime(time.strptime(fields[f"{prefix}Timestamp"], "%a %Y-%m-%d %H:%M:%S UTC"))
            - time.timezone
        )
        assert abs((clock.t - uptime + mono) - human) < 1.0
    assert fields["ActiveState"] == "failed" and fields["SubState"] == "failed"
    assert abs(int(fields["InactiveEnterTimestampMonotonic"]) / 1e6 - (uptime - 321)) < 1.0


async def test_invalid_names_warn_like_systemctl() -> None:
    out, _, _ = await sh(
        demo("hydra-ai", Clock()), f"systemctl show -p {PROPS} -- tabbyapi 'bad name' ollama 2>&1"
    )
    real = (REAL / "show_invalid_name.txt").read_text()
    assert out.splitlines()[0] == real.splitlines()[0]
    assert blocks(out)[1] == blocks(real)[1]


async def test_restart_needs_root_then_activates_then_runs() -> None:
    clock = Clock()
    w = demo("hydra-ai", clock)
    w.services.set_unit("tabbyapi", "failed", clock.t)
    assert await sh(w, "systemctl is-active tabbyapi") == ("failed\n", "", 3)
    assert await sh(w, "systemctl restart tabbyapi") == (
        "",
        "Failed to restart tabbyapi.service: Interactive authentication required.\n"
        "See system logs and 'systemctl status tabbyapi.service' for details.\n",
        1,
    )
    assert await sh(w, "sudo systemctl restart tabbyapi") == ("", "", 0)
    out, _, _ = await sh(w, "systemctl show -p ActiveState,SubState,MainPID tabbyapi")
    main_pid = int(re.search(r"MainPID=(\d+)", out).group(1))
    assert "ActiveState=activating\nSubState=start\n" in out and main_pid > 0
    clock.t += ACTIVATING_S + 0.5
    assert await sh(w, "systemctl is-active tabbyapi nope") == ("active\ninactive\n", "", 0)
    apps, _, _ = await sh(w, "nvidia-smi --query-compute-apps=pid --format=csv,noheader")
    assert int(apps.split()[0]) == main_pid, "the unit's main process is the GPU process nvidia-smi lists"
    assert await sh(w, "sudo systemctl restart nope") == (
        "",
        "Failed to restart nope.service: Unit nope.service not found.\n",
        5,
    )


async def test_status_and_journal() -> None:
    clock = Clock()
    w = demo("hydra-ai", clock)
    out, _, rc = await sh(w, "systemctl status tabbyapi")
    lines = out.splitlines()
    assert rc == 0 and lines[0] == "● tabbyapi.service - TabbyAPI inference server"
    assert lines[1] == "     Loaded: loaded (/etc/systemd/system/tabbyapi.service; enabled; preset: enabled)"
    assert re.fullmatch(r"     Active: active \(running\) since \w{3} [\d-]+ [\d:]+ UTC; .+ ago", lines[2])
    assert await sh(w, "systemctl status nope") == ("", "Unit nope.service could not be found.\n", 4)
    w.services.set_unit("tabbyapi", "failed", clock.t)
    clock.t += 90
    out, _, rc = await sh(w, "systemctl status tabbyapi")
    assert rc == 3 and out.startswith("× tabbyapi.service")
    assert "     Active: failed (Result: exit-code) since " in out and out.splitlines()[2].endswith(
        "; 1min 30s ago"
    )
    assert "   Main PID: " in out and "(code=exited, status=1/FAILURE)" in out
    journal, _, rc = await sh(w, "journalctl -u tabbyapi -n 20 --no-pager")
    short = re.compile(r"^\w{3} \d\d \d\d:\d\d:\d\d hydra-ai (tabbyapi|systemd)\[\d+\]: ")
    assert rc == 0 and all(short.match(line) for line in journal.splitlines())
    assert "RuntimeError: CUDA error: out of memory" in journal
    assert journal.splitlines()[-3:] == [
        re.sub(r"\]: .*", "]: ", journal.splitlines()[-3])
        + "tabbyapi.service: Main process exited, code=exited, status=1/FAILURE",
        re.sub(r"\]: .*", "]: ", journal.splitlines()[-2])
        + "tabbyapi.service: Failed with result 'exit-code'.",
        journal.splitlines()[-1],
    ]
    assert "Consumed" in journal.splitlines()[-1]
    assert await sh(w, "journalctl -u nope --no-pager") == ("-- No entries --\n", "", 0)


async def test_not_systemd_nodes() -> None:
    clock = Clock()
    real = (REAL / "not_booted.txt").read_text()
    assert await sh(demo("vast-3070", clock), f"systemctl show -p {PROPS} -- tabbyapi", "root") == (
        "",
        real,
        1,
    )
    assert await sh(demo("hydra-storage", clock), "systemctl is-active docker", "root") == (
        "", "sh: 1: systemctl: not found\n", 127)  # fmt: skip


async def test_kill_dash_builtin_procps_via_xargs_and_cgroups() -> None:
    clock = Clock()
    w = demo("hydra-ai", clock)
    assert await sh(w, "kill 4194000") == ("", "sh: 1: kill: No such process\n", 1)
    assert await sh(w, "kill -FOO 1") == ("", "sh: 1: kill: invalid signal number or name: FOO\n", 2)
    assert await sh(w, "echo 4194000 | xargs kill") == ("", "kill: (4194000): No such process\n", 123)
    pids, _, _ = await sh(w, "nvidia-smi --query-compute-apps=pid --format=csv,noheader")
    host, container = (int(p) for p in pids.split())
    cg, _, _ = await sh(w, f"cat /proc/{host}/cgroup /proc/{host}/comm")
    assert cg == "0::/system.slice/tabbyapi.service\npython3\n"
    out, err, rc = await sh(
        w, "nvidia-smi --query-compute-apps=pid --format=csv,noheader | xargs -I {} kill {}"
    )
    assert (out, err, rc) == ("", f"kill: ({container}): Operation not permitted\n", 123)
    assert await sh(w, "systemctl is-active tabbyapi") == ("inactive\n", "", 3), "SIGTERM: a clean stop"
    left, _, _ = await sh(w, "nvidia-smi --query-compute-apps=pid --format=csv,noheader")
    assert left == f"{container}\n", "the killed process freed its GPU memory"
    vast = demo("vast-5090-a", clock)
    pid = (await sh(vast, "nvidia-smi --query-compute-apps=pid --format=csv,noheader -i 0", "root"))[
        0
    ].strip()
    assert (await sh(vast, f"cat /proc/{pid}/cgroup", "root"))[0] == "0::/\n", "inside vast's own container"
    lam = demo("lambda-h100", clock)
    pid = (await sh(lam, "nvidia-smi --query-compute-apps=pid --format=csv,noheader", "ubuntu"))[0].strip()
    assert re.fullmatch(
        r"0::/user\.slice/user-1000\.slice/session-\d+\.scope\n",
        (await sh(lam, f"cat /proc/{pid}/cgroup"))[0],
    )
    assert await sh(lam, f"kill -9 {pid}", "ubuntu") == ("", "", 0)
    assert (await sh(lam, "nvidia-smi --query-compute-apps=pid --format=csv,noheader"))[0] == ""


STATUS = REPO / "tests" / "fixtures" / "systemd_status"


def captured(name: str) -> tuple[str, int]:
    rc = int((STATUS / f"{name}.meta").read_text().split("=")[1])
    return (STATUS / f"{name}.txt").read_text(), rc


def labels(text: str) -> list[str]:
    """The status block's left column (``Loaded``, ``Active``, ``Main PID``...), up to the tree."""
    return [
        line.split(":")[0] for line in text.splitlines()[1:] if ": " in line and not line.startswith(" " * 13)
    ]


async def test_status_reads_like_real_systemd_252() -> None:
    clock = Clock()
    w = demo("hydra-ai", clock)
    pid = (await sh(w, "nvidia-smi --query-compute-apps=pid --format=csv,noheader -i 0"))[0].split()[0]
    await sh(w, f"kill -9 {pid}")
    clock.t += 0.5
    ours, _, rc = await sh(w, "systemctl status -n 0 tabbyapi")
    real, real_rc = captured("status_killed")
    assert rc == real_rc and ours.startswith("× tabbyapi.service - TabbyAPI inference server\n")
    assert labels(ours)[:5] == labels(real)
    assert re.search(r"     Active: failed \(Result: signal\) since .*; 500ms ago\n", ours)
    assert (
        f"   Main PID: {pid} (code=killed, signal=KILL)\n" in ours
        and "(code=killed, signal=KILL)\n   Main" in ours
    )
    w.services.set_unit("tabbyapi", "failed", clock.t)
    real, _ = captured("status_failed")
    ours, _, _ = await sh(w, "systemctl status -n 0 tabbyapi")
    assert labels(ours)[:5] == labels(real) and ours.count("(code=exited, status=1/FAILURE)") == 2
    w.services.set_unit("tabbyapi", "activating", clock.t - 2)
    real, real_rc = captured("status_activating")
    ours, _, rc = await sh(w, "systemctl status -n 0 tabbyapi")
    assert rc == real_rc and set(labels(real)) <= set(labels(ours))
    assert "     Active: activating (start) since " in ours and ours.splitlines()[2].endswith("; 2s ago")
    assert re.search(r"\n             └─\d+ /nix/store/\S+/bin/python3 ", ours)


async def test_errors_and_states_match_real_systemctl() -> None:
    w = demo("hydra-ai", Clock())
    w.services.set_unit("ollama", "failed", w.advance())
    w.services.set_unit("slow", "activating", w.advance())
    w.services.set_unit("tabbyapi", "failed", w.advance())
    for name, script in [
        ("status_missing", "systemctl status nope"),
        ("is_active", "systemctl is-active tabbyapi ollama slow nope"),
        ("restart_missing", "sudo systemctl restart nope"),
        ("show_mangled", "systemctl show -p Id 'bad name' x/y 2>&1"),
        ("bad_option", "systemctl --foo"),
    ]:
        out, err, rc = await sh(w, script)
        assert (out + err, rc) == captured(name), name


async def test_watchers_hear_state_changes() -> None:
    clock = Clock()
    w = demo("hydra-ai", clock)
    heard: list[tuple[str, str]] = []
    w.services.watch(lambda key, state: heard.append((key, state)))
    await sh(w, "sudo systemctl stop tabbyapi; docker stop open-webui", "root")
    clock.t += 1
    await sh(w, "sudo systemctl start tabbyapi")
    clock.t += ACTIVATING_S
    await sh(w, "true; cat /proc/uptime")
    assert heard == [("unit:tabbyapi.service", "inactive"), ("container:open-webui", "stopped"),
                     ("unit:tabbyapi.service", "activating"), ("unit:tabbyapi.service", "active")]  # fmt: skip
