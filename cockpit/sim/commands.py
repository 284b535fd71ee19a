"""The simulated node's ``PATH``: which command names exist and the function behind each.

A name resolves to a coroutine taking a :class:`~cockpit.sim.shell.Call`; ``None`` means the shell
prints dash's ``not found`` (exit 127). ``nvidia-smi`` exists only where the node's fault switch
says the binary is installed, so a node set to ``missing`` fails exactly like a host without it;
likewise docker only where the node runs containers, ``docker-compose`` only on Unraid (its
Compose Manager plugin), no systemctl or journalctl on Unraid, whose init is not systemd, and
``kubectl`` only on the node named by ``kube.via_node`` (the one with a kubeconfig).
"""

from __future__ import annotations

from cockpit.sim import docker, runutils, systemd, sysutils, textutils
from cockpit.sim.kubectl import kubectl
from cockpit.sim.nvidia_smi import node_has_smi, nvidia_smi
from cockpit.sim.shell import CommandFn, Shell
from cockpit.sim.world import NodeWorld

COMMANDS: dict[str, CommandFn] = {
    **textutils.COMMANDS, **sysutils.COMMANDS, **runutils.COMMANDS, "nvidia-smi": nvidia_smi,
    "docker": docker.docker, "docker-compose": docker.docker_compose_v1,
    "systemctl": systemd.systemctl, "journalctl": systemd.journalctl, "kubectl": kubectl,
}  # fmt: skip
BIN_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")


def resolve(shell: Shell, name: str) -> CommandFn | None:
    """The command ``name`` runs on this node, or None if it is not installed."""
    if "/" in name:
        folder, _, base = name.rpartition("/")
        if folder not in BIN_DIRS:
            return None
        name = base
    world = shell.world
    if name == "nvidia-smi" and not node_has_smi(world):
        return None
    if name == "docker" and not world.services.docker:
        return None
    if name == "docker-compose" and not (world.services.docker and world.init == "sysv"):
        return None
    if name in ("systemctl", "journalctl") and world.init == "sysv":
        return None
    if name == "kubectl" and getattr(world, "kube", None) is None:
        return None
    return COMMANDS.get(name)


async def run_command(world: NodeWorld, script: str, user: str = "root") -> tuple[str, str, int]:
    """Run ``script`` on a node's world without SSH: (stdout, stderr, exit status).

    Handy for parser tests that want realistic output from a scripted machine.
    """
    out: list[str] = []
    err: list[str] = []
    status = await Shell(world, user, resolve).run(script, out.append, err.append)
    return "".join(out), "".join(err), status
