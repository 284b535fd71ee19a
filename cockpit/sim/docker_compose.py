"""``docker compose`` (and ``docker-compose``) on a simulated node: restart, stop, start, ps.

The project is ``-p NAME`` or, as compose does, the current directory's name when that directory
holds the project (``cd /mnt/user/appdata/hydra-stack && docker-compose restart``). Progress goes
to stderr in compose's plain (non-TTY) form: ``" Container litellm  Restarting"`` then
``" Container litellm  Started"`` (pflag's empty Text leaves the two spaces).
"""

from __future__ import annotations

import re

from cockpit.sim import dockerfmt as fmt
from cockpit.sim.pflag import Spec, parse_flags
from cockpit.sim.services_world import Container
from cockpit.sim.shell import Call

GLOBAL: Spec = {"project-name": ("p", "value"), "file": ("f", "list"), "project-directory": (None, "value"),
                "ansi": (None, "value"), "progress": (None, "value"), "env-file": (None, "list"),
                "profile": (None, "list")}  # fmt: skip
EVENTS = {
    "restart": ("Restarting", "Started"),
    "stop": ("Stopping", "Stopped"),
    "start": ("Starting", "Started"),
}


def _split_global(args: list[str]) -> tuple[list[str], list[str]]:
    """Compose's own flags come before the subcommand; everything after belongs to it."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name = args[i].lstrip("-").split("=")[0]
        takes = any(name in (long, short) for long, (short, _) in GLOBAL.items())
        i += 2 if takes and "=" not in args[i] and len(args[i].lstrip("-")) <= len(name) else 1
    return args[:i], args[i:]


def project_name(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "", text.lower())


async def compose(call: Call, args: list[str], shown: str) -> int:
    head, rest = _split_global(args)
    opts, _ = parse_flags(head, GLOBAL)
    world = call.shell.world
    now = world.advance()
    services = world.services
    unraid = not world.systemd
    cwd = str(opts.get("project-directory") or call.shell.lookup("PWD")).rstrip("/") or "/"
    name = str(opts.get("project-name") or project_name(cwd.rsplit("/", 1)[-1]))
    members = [c for c in services.containers.values() if c.spec.project == name]
    if not rest:
        call.out(
            f"\nUsage:  {shown} [OPTIONS] COMMAND\n\nDefine and run multi-container applications with Docker\n"
        )
        return 0
    if not members or ("project-name" not in opts and fmt.working_dir(members[0].spec, unraid) != cwd):
        call.err("no configuration file provided: not found\n")
        return 1
    sub, sub_args = rest[0], rest[1:]
    if sub == "ps":
        return await _ps(call, members, now, sub_args)
    if sub not in EVENTS:
        call.err(f'unknown docker command: "compose {sub}"\n')
        return 1
    _, wanted = parse_flags(sub_args, {"timeout": ("t", "value"), "no-deps": (None, "bool")})
    unknown = [s for s in wanted if s not in {c.spec.service for c in members}]
    if unknown:
        call.err(f"no such service: {unknown[0]}\n")
        return 1
    for c in sorted(members, key=lambda c: c.created):
        if wanted and c.spec.service not in wanted:
            continue
        _act(call, sub, c, now)
    world.advance()
    return 0


def _act(call: Call, sub: str, c: Container, now: float) -> None:
    services = call.shell.world.services
    working, done = EVENTS[sub]
    if sub == "start" and c.mode == "ok":
        return
    call.err(f" Container {c.spec.name}  {working}\n")
    if sub == "stop":
        services.stop(c, now)
    else:
        services.start(c, now)
    call.err(f" Container {c.spec.name}  {done}\n")


async def _ps(call: Call, members: list[Container], now: float, args: list[str]) -> int:
    opts, _ = parse_flags(args, {"all": ("a", "bool"), "quiet": ("q", "bool"), "format": (None, "value")})
    world = call.shell.world
    rows = []
    for c in sorted(members, key=lambda c: c.spec.name):
        view = world.services.view(c, now)
        if view.running or opts.get("all"):
            rows.append(fmt.ContainerContext(c, view, now, True, world.key, not world.systemd))
    if opts.get("quiet"):
        call.out("".join(f"{r.c.id}\n" for r in rows))
        return 0
    lines = ["NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS"]
    for r in rows:
        f = r.fields()
        lines.append("\t".join((f["Names"], f["Image"], f["Command"], r.c.spec.service or "", f["RunningFor"],
                                f["Status"], f["Ports"])))  # fmt: skip
    call.out(fmt.tabwrite(lines))
    return 0
