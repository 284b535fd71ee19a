"""Containers and systemd units of one node at run time: states, how they move, which pid is whose.

Every change is stored as the moment it happened (a crash loop's first death, a restart) and the
state at any later time is a pure function of those moments and the clock: a frozen clock freezes
the services and a stepped one moves them the same way on every run. A crash-looping container
follows dockerd's restart manager (100 ms delay doubling to one minute, RestartCount rising); a
started ``Type=notify`` unit is "activating" for a few seconds before it is active.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from cockpit.sim.gounits import human_duration
from cockpit.sim.noise import hash01, hash_hex, name_key
from cockpit.sim.services_catalog import ContainerSpec, NodeServices, unit_id, unit_spec
from cockpit.sim.services_state import (
    ACTIVATING_S,
    BACKOFF_FIRST,
    CLEAN_SIGNALS,
    CONTAINER_MODES,
    KEEP_RUNS,
    UNIT_STATES,
    Container,
    ContainerView,
    Run,
    Unit,
    loop_runs,
)

__all__ = ["ACTIVATING_S", "Container", "ContainerView", "Run", "ServicesWorld", "Unit", "loop_runs"]


class ServicesWorld:
    """The containers and units of one node; ``pid_for(unit, gen)`` lets the GPU side name the
    main pid of a unit that owns GPU processes, so nvidia-smi and systemctl agree."""

    def __init__(
        self,
        services: NodeServices,
        key: int,
        boot: float,
        now: float,
        *,
        cgroupfs: bool = False,
        pid_for: Callable[[str, int], int | None] = lambda unit, gen: None,
    ) -> None:
        self.key = key
        self.docker = services.docker
        self.cgroupfs = cgroupfs
        self.pid_for = pid_for
        self._watchers: list[Callable[[str, str], None]] = []
        self._seen: dict[str, str] = {}
        self.store: object | None = None
        """Docker's images and build cache, made on first use by :mod:`cockpit.sim.dockerstore`."""
        self.containers: dict[str, Container] = {}
        for i, spec in enumerate(services.containers):
            self._add_container(spec, i, boot, now, services.states.get(spec.name, "ok"))
        self.units: dict[str, Unit] = {}
        for uid, state in services.units.items():
            self.units[uid] = self._initial_unit(uid, state, boot, now)

    # -- containers ----------------------------------------------------------------------------

    def _add_container(self, spec: ContainerSpec, i: int, boot: float, now: float, mode: str) -> None:
        k = name_key(spec.project or spec.name)
        created = boot - 86400 * (3 + 30 * hash01(self.key, k, 1)) + 0.4 * i
        c = Container(
            spec, hash_hex(64, self.key, name_key(spec.name)), float(int(created)), "ok", boot + 21 + 0.3 * i
        )
        self.containers[spec.name] = c
        if mode != "ok":
            self.set_container(spec.name, mode, now - 600 - 5400 * hash01(self.key, name_key(spec.name), 2))

    def container_pid(self, c: Container, gen: int) -> int:
        return 2000 + int(3_000_000 * hash01(self.key, name_key(c.spec.name), 7, gen))

    def find(self, ref: str) -> Container | None:
        """By name, full id or unique id prefix, as dockerd resolves a reference."""
        if ref in self.containers:
            return self.containers[ref]
        hits = [c for c in self.containers.values() if ref and c.id.startswith(ref.lower())]
        return hits[0] if len(hits) == 1 else None

    def view(self, c: Container, now: float) -> ContainerView:
        """What ``docker ps``/``inspect`` report for ``c`` at ``now``."""
        started = c.runs[-1].start if c.runs else c.since
        if c.mode == "ok":
            up = now - c.since
            health = ("healthy" if up >= 30 else "starting") if c.spec.healthcheck else None
            return ContainerView("running", _up(up, health), self.container_pid(c, c.gen), 0,
                                 c.restart_count, c.since, None, health)  # fmt: skip
        if c.mode == "crash-loop":
            n, runs, last_death = loop_runs(c.since, now)
            count = c.restart_count + n
            if runs and runs[-1][1] > now:
                start = runs[-1][0]
                health = "starting" if c.spec.healthcheck else None
                pid = self.container_pid(c, c.gen + n)
                return ContainerView(
                    "running", _up(now - start, health), pid, 1, count, start, last_death, health
                )
            start = runs[-1][0] if runs else started
            status = f"Restarting (1) {human_duration(now - last_death)} ago"
            return ContainerView("restarting", status, 0, 1, count, start, last_death, None)
        return ContainerView("exited", f"Exited ({c.exit_code}) {human_duration(now - c.since)} ago", 0,
                             c.exit_code, c.restart_count, started, c.since, None)  # fmt: skip

    def container_runs(self, c: Container, now: float) -> list[Run]:
        """Every recent life of the container's main process, oldest first (for its logs)."""
        runs = list(c.runs)
        if c.mode == "ok":
            runs.append(Run(c.since, None, self.container_pid(c, c.gen)))
        elif c.mode == "crash-loop":
            n, attempts, _ = loop_runs(c.since, now)
            first = n - len(attempts)
            for j, (start, death) in enumerate(attempts):
                pid = self.container_pid(c, c.gen + first + j + 1)
                runs.append(
                    Run(start, death if death <= now else None, pid, "crash" if death <= now else "crashing")
                )
        return runs[-KEEP_RUNS:]

    def _end_run(self, c: Container, now: float, outcome: str) -> None:
        """Record the current life (or a crash loop's attempts) as history."""
        if c.mode == "ok":
            c.runs.append(Run(c.since, now, self.container_pid(c, c.gen), outcome))
        elif c.mode == "crash-loop":
            n, attempts, _ = loop_runs(c.since, now)
            first = n - len(attempts)
            for j, (start, death) in enumerate(attempts):
                pid = self.container_pid(c, c.gen + first + j + 1)
                c.runs.append(Run(start, min(death, now), pid, "crash" if death <= now else outcome))
            c.restart_count, c.gen = c.restart_count + n, c.gen + n
        del c.runs[:-KEEP_RUNS]

    def set_container(self, name: str, mode: str, now: float) -> None:
        """Put a container in ok / crash-loop / exited / stopped from ``now`` on."""
        if mode not in CONTAINER_MODES:
            raise ValueError(f"container state must be one of {', '.join(CONTAINER_MODES)}, not {mode!r}")
        c = self.containers[name]
        if mode == c.mode:
            return
        if mode == "ok":
            self.start(c, now, reset=True)
            return
        if c.mode in ("ok", "crash-loop"):
            self._end_run(c, now, {"crash-loop": "crash", "exited": "signal-9"}.get(mode, "stop"))
        c.mode, c.since = mode, now
        c.exit_code = {"crash-loop": 1, "exited": 137, "stopped": 0}[mode]

    def start(self, c: Container, now: float, *, reset: bool = True) -> None:
        """``docker start``/``restart``: a fresh run; a manual start resets RestartCount."""
        if c.mode in ("ok", "crash-loop"):
            self._end_run(c, now, "stop")
        c.mode, c.since, c.gen = "ok", now, c.gen + 1
        if reset:
            c.restart_count = 0

    def stop(self, c: Container, now: float) -> None:
        if c.mode in ("ok", "crash-loop"):
            self._end_run(c, now, "stop")
            c.mode, c.since, c.exit_code = "stopped", now, 0

    def kill_container(self, c: Container, signal: int, now: float) -> None:
        """Its main process got ``signal``: dockerd's unless-stopped policy starts it again."""
        if c.mode != "ok":
            return
        self._end_run(c, now, f"signal-{signal}")
        c.mode, c.since, c.gen = "ok", now + BACKOFF_FIRST, c.gen + 1
        c.restart_count += 1

    def remove(self, c: Container) -> None:
        del self.containers[c.spec.name]

    def cgroup(self, c: Container) -> str:
        return f"/docker/{c.id}" if self.cgroupfs else f"/system.slice/docker-{c.id}.scope"

    # -- units ---------------------------------------------------------------------------------

    def _initial_unit(self, uid: str, state: str, boot: float, now: float) -> Unit:
        spec = unit_spec(uid)
        h = name_key(uid)
        u = Unit(uid, spec, "inactive")
        start = boot + 4 + 8 * hash01(self.key, h, 1)
        load = 18 + 20 * hash01(self.key, h, 2) if spec.notify else 0.2
        u.inactive_exit, u.active_enter, u.state = start, start + load, "active"
        u.runs.append(Run(start, None, self.main_pid(u), ready=start + load))
        self.units[uid] = u  # set_unit below must act on this unit, not create another
        if state != "active":
            self.set_unit(uid, state, now - 300 - 3300 * hash01(self.key, h, 3))
        return self.units[uid]

    def unit(self, name: str) -> Unit | None:
        return self.units.get(unit_id(name))

    def main_pid(self, u: Unit) -> int:
        if u.state in ("inactive", "failed"):
            return 0
        gpu_pid = self.pid_for(u.id, u.gen)
        return gpu_pid or 900 + int(40_000 * hash01(self.key, name_key(u.id), 5, u.gen))

    def sync(self, now: float) -> None:
        """Finish activations whose time has come, then tell watchers what changed since last time."""
        for u in self.units.values():
            if u.state == "activating" and not u.pinned and u.ready_at is not None and now >= u.ready_at:
                u.state, u.active_enter = "active", u.ready_at
        if not self._watchers:
            return
        states = self.states()
        changed = {k: v for k, v in states.items() if self._seen.get(k) != v}
        self._seen = states
        for key, state in changed.items():
            for fn in self._watchers:
                fn(key, state)

    def states(self) -> dict[str, str]:
        """``unit:ID`` -> active state and ``container:NAME`` -> ok/crash-loop/exited/stopped."""
        out = {f"unit:{uid}": u.state for uid, u in self.units.items()}
        return out | {f"container:{name}": c.mode for name, c in self.containers.items()}

    def watch(self, fn: Callable[[str, str], None]) -> None:
        """Call ``fn(key, state)`` (keys as in :meth:`states`) whenever a unit or container changes
        state; the simulated HTTP services can follow the processes that serve them this way."""
        self._watchers.append(fn)
        self._seen = self.states()

    def _end_unit(self, u: Unit, now: float, outcome: str) -> None:
        if u.runs and u.runs[-1].end is None:
            last = u.runs[-1]
            u.runs[-1] = Run(last.start, now, last.pid, outcome, last.ready)
        if u.state in ("active", "activating"):
            u.active_exit = now if u.state == "active" else u.active_exit
        u.inactive_enter = now
        del u.runs[:-KEEP_RUNS]

    def start_unit(self, u: Unit, now: float, *, pinned: bool = False) -> None:
        if u.state in ("active", "activating"):
            return
        u.gen += 1
        u.inactive_exit, u.pinned, u.result, u.exec_code, u.exec_status = now, pinned, "success", 0, 0
        u.ready_at = None if pinned else now + (ACTIVATING_S if u.spec.notify else 0.0)
        u.state = "activating" if (pinned or u.spec.notify) else "active"
        if u.state == "active":
            u.active_enter = now
        u.runs.append(Run(now, None, self.main_pid(u), ready=u.ready_at))

    def stop_unit(self, u: Unit, now: float) -> None:
        if u.state in ("active", "activating"):
            self._end_unit(u, now, "stop")
            u.exec_code, u.exec_status = 2, 15
        u.state, u.pinned = "inactive", False

    def restart_unit(self, u: Unit, now: float) -> None:
        self.stop_unit(u, now)
        self.start_unit(u, now)

    def kill_unit(self, u: Unit, signal: int, now: float) -> None:
        """Its main process got ``signal``: a clean signal stops it, any other fails it."""
        self._end_unit(u, now, f"signal-{signal}")
        u.exec_code, u.exec_status, u.pinned = 2, signal, False
        u.state = "inactive" if signal in CLEAN_SIGNALS else "failed"
        u.result = "success" if signal in CLEAN_SIGNALS else "signal"

    def set_unit(self, name: str, state: str, now: float) -> None:
        """Put a unit in active / failed / activating (held until restarted) / inactive."""
        if state not in UNIT_STATES:
            raise ValueError(f"unit state must be one of {', '.join(UNIT_STATES)}, not {state!r}")
        uid = unit_id(name)
        u = self.units.get(uid)
        if u is None:
            u = self.units[uid] = Unit(uid, unit_spec(uid), "inactive")
        if state == "inactive":
            self.stop_unit(u, now)
        elif state == "failed":
            if u.state not in ("active", "activating"):
                self.start_unit(u, now - 1.0)  # it was started again and died at once
            self._end_unit(u, now, "crash")
            u.state, u.pinned, u.result, u.exec_code, u.exec_status = "failed", False, "exit-code", 1, 1
        elif state == "activating":
            self.stop_unit(u, now)
            self.start_unit(u, now, pinned=True)
        elif u.state != "active":
            self.stop_unit(u, now)
            self.start_unit(u, now)
            u.state, u.active_enter, u.ready_at = "active", now, now
            u.runs[-1] = Run(now, None, u.runs[-1].pid, ready=now)

    # -- processes -----------------------------------------------------------------------------

    def main_processes(self, now: float) -> dict[int, tuple[str, str, str]]:
        """pid -> (kind, name, cgroup) for every running container and unit main process."""
        procs: dict[int, tuple[str, str, str]] = {}
        for c in self.containers.values():
            pid = self.view(c, now).pid
            if pid:
                procs[pid] = ("container", c.spec.name, self.cgroup(c))
        for u in self.units.values():
            pid = self.main_pid(u)
            if pid:
                procs[pid] = ("unit", u.id, f"/system.slice/{u.id}")
        return procs

    def gpu_containers(self, index: int, now: float) -> list[tuple[Container, int]]:
        """(container, pid) of running containers holding a context on GPU ``index``."""
        out = []
        for c in self.containers.values():
            if c.spec.gpu == index and c.mode == "ok" and now >= c.since:
                out.append((c, self.container_pid(c, c.gen)))
        return out


def _up(seconds: float, health: str | None) -> str:
    text = f"Up {human_duration(math.floor(seconds))}"
    if health == "starting":
        return text + " (health: starting)"
    return f"{text} ({health})" if health else text
