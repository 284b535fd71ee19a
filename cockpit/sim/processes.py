"""Processes of a simulated node by pid: what /proc/PID shows, and what ``kill`` does to them.

A pid belongs to a GPU process (the node's own inference service, a login session's job, or a
container's main process) or to a unit's or container's main process. Killing a unit's process
stops it (SIGTERM) or fails it (SIGKILL); a container's comes back, as dockerd's unless-stopped
policy restarts it; a session's is simply gone. Root owns containers: others get EPERM.
"""

from __future__ import annotations

from cockpit.sim.world import NodeWorld


def process(world: NodeWorld, pid: int) -> tuple[str, str] | None:
    """(comm, cgroup path) of a process we simulate, or None if there is no such pid."""
    now = world.advance()
    for gpu in world.gpus:
        for app in gpu.apps:
            if app.pid == pid and app.owner:
                return app.name.rsplit("/", 1)[-1][:15], app.cgroup
    found = world.services.main_processes(now).get(pid)
    if found is not None:
        kind, name, cgroup = found
        if kind == "container":
            return world.services.containers[name].spec.proc[:15], cgroup
        return world.services.units[name].spec.identifier[:15], cgroup
    if pid == 1:
        return ("systemd", "/init.scope") if world.systemd else ("init", "/")
    return None


def kill(world: NodeWorld, pid: int, signal: int, user: str) -> str | None:
    """Deliver ``signal`` to ``pid`` as ``user``: None, or the errno text kill(2) would give."""
    now = world.advance()
    owner = next((a.owner for g in world.gpus for a in g.apps if a.pid == pid), None)
    if owner is None:
        found = world.services.main_processes(now).get(pid)
        owner = f"{found[0]}:{found[1]}" if found else ("init:" if pid == 1 else None)
    if owner is None:
        return "No such process"
    kind, _, name = owner.partition(":")
    if user != "root" and kind in ("container", "init"):
        return "Operation not permitted"
    if signal == 0 or kind == "init":
        return None
    if kind == "container":
        world.services.kill_container(world.services.containers[name], signal, now)
    elif kind == "unit":
        world.services.kill_unit(world.services.units[name], signal, now)
    elif kind == "session":
        world.killed_sessions.add(int(name))
    else:
        for gpu in world.gpus:
            gpu.apps = [a for a in gpu.apps if a.pid != pid]
    world.sync_apps(now)
    return None
