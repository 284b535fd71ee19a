"""The ``docker`` CLI of a simulated node: ps, inspect, logs, start/stop/restart, prune, system df.

Arguments are parsed as cobra/pflag parse them (:mod:`cockpit.sim.pflag`). Output, messages and
exit codes are the CLI's, checked byte for byte against the real docker 28.2 CLI reading the same
containers (tests/tools/check_sim_docker_cli.py): 125 and a usage block for a bad flag, 1 for a
daemon error ("Error response from daemon: No such container: x"), 64 for an ``inspect`` template
that does not parse. ``{{json .}}`` keeps docker 27's keys (no ``Platform``), as Unraid 7 ships 27.
Compose lives in :mod:`cockpit.sim.docker_compose`.
"""

from __future__ import annotations

import asyncio
import time

from cockpit.sim import docker_compose, dockerstore
from cockpit.sim import dockerfmt as fmt
from cockpit.sim.applogs import Line, run_lines
from cockpit.sim.gotemplate import Template, TemplateError
from cockpit.sim.gounits import human_size
from cockpit.sim.pflag import FlagError, Spec, parse_flags
from cockpit.sim.services_world import Container, ServicesWorld
from cockpit.sim.shell import Call
from cockpit.sim.world import NodeWorld

FOLLOW_POLL_S = 1.0


USAGE = {
    "ps": "docker ps [OPTIONS]", "container ls": "docker container ls [OPTIONS]",
    "inspect": "docker inspect [OPTIONS] NAME|ID [NAME|ID...]",
    "container inspect": "docker container inspect [OPTIONS] CONTAINER [CONTAINER...]",
    "logs": "docker logs [OPTIONS] CONTAINER", "restart": "docker restart [OPTIONS] CONTAINER [CONTAINER...]",
    "stop": "docker stop [OPTIONS] CONTAINER [CONTAINER...]", "start": "docker start [OPTIONS] CONTAINER [CONTAINER...]",
    "system prune": "docker system prune [OPTIONS]", "image prune": "docker image prune [OPTIONS]",
    "builder prune": "docker builder prune", "container prune": "docker container prune [OPTIONS]",
    "system df": "docker system df [OPTIONS]",
}  # fmt: skip


def usage_error(call: Call, command: str, message: str) -> int:
    """cobra's flag error, as docker prints it (exit 125)."""
    use = USAGE.get(command, f"docker {command} [OPTIONS]")
    call.err(f"{message}\n\nUsage:  {use}\n\nRun 'docker {command} --help' for more information\n")
    return 125


def args_error(call: Call, command: str, need: str) -> int:
    """A wrong number of arguments (exit 1); "requires 1 argument" comes with "Run", the rest "See"."""
    use = USAGE.get(command.split(" ", 1)[-1] if command.startswith("container ") else command, "")
    use = USAGE.get(command, use)
    verb = "Run" if need == "1 argument" else "See"
    call.err(f"docker: 'docker {command}' requires {need}\n\nUsage:  {use}\n\n"
             f"{verb} 'docker {command} --help' for more information\n")  # fmt: skip
    return 1


def not_found(call: Call, ref: str) -> None:
    call.err(f"Error response from daemon: No such container: {ref}\n")


def _services(call: Call) -> tuple[NodeWorld, ServicesWorld, float]:
    world = call.shell.world
    now = world.advance()
    return world, world.services, now


def _bad_flag(call: Call, command: str, exc: Exception) -> int:
    return usage_error(call, command, str(exc))


# -- ps ----------------------------------------------------------------------------------------

PS_FLAGS: Spec = {"all": ("a", "bool"), "quiet": ("q", "bool"), "no-trunc": (None, "bool"),
                  "format": (None, "value"), "filter": ("f", "list"), "size": ("s", "bool"),
                  "last": ("n", "value"), "latest": ("l", "bool")}  # fmt: skip


def _matches(ctx: fmt.ContainerContext, filters: list[str]) -> bool:
    for f in filters:
        key, _, value = f.partition("=")
        fields = ctx.fields()
        if key == "status" and ctx.view.state != value:
            return False
        if key == "name" and value not in ctx.c.spec.name:
            return False
        if key == "id" and not ctx.c.id.startswith(value):
            return False
        if key == "label":
            k, eq, v = value.partition("=")
            if k not in ctx.labels or (eq and ctx.labels[k] != v):
                return False
        if key == "ancestor" and value not in fields["Image"]:
            return False
    return True


async def ps(call: Call, args: list[str], command: str = "ps") -> int:
    opts, _ = parse_flags(args, PS_FLAGS)
    world, services, now = _services(call)
    trunc = not opts.get("no-trunc")
    ctxs = [
        fmt.ContainerContext(c, services.view(c, now), now, trunc, world.key, not world.systemd)
        for c in sorted(services.containers.values(), key=lambda c: -c.created)
    ]
    limit = 1 if opts.get("latest") else int(str(opts.get("last", "-1")) or -1)
    if limit < 0 and not opts.get("all"):
        ctxs = [x for x in ctxs if x.view.running]
    ctxs = [x for x in ctxs if _matches(x, opts.get("filter", []))]  # type: ignore[arg-type]
    ctxs = ctxs[:limit] if limit >= 0 else ctxs
    source = str(opts.get("format", ""))
    if opts.get("quiet"):
        source = "{{.ID}}"
    elif source in ("", "table"):
        source = fmt.DEFAULT_TABLE + ("\t{{.Size}}" if opts.get("size") else "")
    elif source == "json":
        source = "{{json .}}"
    table = source.startswith("table")
    body = (source[5:] if table else source).strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    try:
        tpl = Template(body)
    except TemplateError as exc:
        call.err(f"failed to parse template: {exc}\n")
        return 1
    try:
        rows = [tpl.execute(x) for x in ctxs]
    except TemplateError as exc:
        call.err(f"failed to execute template: {exc}\n")
        return 1
    if table:
        header = _safe(Template(body, fmt.HEADER_FUNCS), fmt.HeaderContext())
        call.out(fmt.tabwrite("".join(f"{r}\n" for r in [header, *rows]).splitlines()))
    else:
        call.out("".join(f"{r}\n" for r in rows))
    return 0


def _safe(tpl: Template, data: object) -> str:
    try:
        return tpl.execute(data)
    except TemplateError:
        return ""


# -- inspect -----------------------------------------------------------------------------------


async def inspect(call: Call, args: list[str], kind: str | None = None) -> int:
    opts, refs = parse_flags(args, {"format": ("f", "value"), "type": (None, "value"), "size": ("s", "bool")})
    if not refs:
        return args_error(
            call, "container inspect" if kind == "container" else "inspect", "at least 1 argument"
        )
    kind = kind or str(opts.get("type", "")) or None
    world, services, now = _services(call)
    source = str(opts.get("format", ""))
    try:
        tpl = Template(source) if source not in ("", "json") else None
    except TemplateError as exc:
        call.err(f"template parsing error: {exc}\n")
        return 64
    errors, found, out = [], [], []
    for ref in refs:
        c = services.find(ref)
        if c is None:
            errors.append(f"Error response from daemon: No such container: {ref}" if kind == "container"
                          else f"Error: No such object: {ref}")  # fmt: skip
            continue
        obj = fmt.inspect_object(c, services.view(c, now), world.key, not world.systemd)
        found.append(obj)
        if tpl is not None:
            try:
                out.append(tpl.execute(obj) + "\n")
            except TemplateError as exc:
                errors.append(f"template parsing error: {exc}")
    if tpl is None:
        call.out(fmt.inspect_json(found) if source == "" else "[" + ",".join(map(fmt.go_json, found)) + "]\n")
    else:
        call.out("".join(out) or "\n")
    if errors:
        call.err("\n".join(errors) + "\n")
    return 1 if errors else 0


# -- start / stop / restart --------------------------------------------------------------------


async def lifecycle(call: Call, verb: str, args: list[str]) -> int:
    flags: Spec = {"time": ("t", "value"), "signal": ("s", "value"), "timeout": (None, "value")}
    if verb == "start":
        flags = {"attach": ("a", "bool"), "interactive": ("i", "bool")}
    _, refs = parse_flags(args, flags)
    if not refs:
        return args_error(call, verb, "at least 1 argument")
    _, services, now = _services(call)
    failed = False
    for ref in refs:
        c = services.find(ref)
        if c is None:
            not_found(call, ref)
            failed = True
            continue
        if verb == "stop":
            services.stop(c, now)
        elif verb == "restart" or c.mode != "ok":
            services.start(c, now)
        call.out(f"{ref}\n")
    call.shell.world.advance()
    return 1 if failed else 0


# -- logs --------------------------------------------------------------------------------------

LOG_FLAGS: Spec = {"follow": ("f", "bool"), "tail": ("n", "value"), "timestamps": ("t", "bool"),
                   "since": (None, "value"), "until": (None, "value"), "details": (None, "bool")}  # fmt: skip


def container_lines(world: NodeWorld, c: Container, now: float) -> list[Line]:
    runs = world.services.container_runs(c, now)
    return run_lines(c.spec.app, runs, now, world.key, inner_pid=1)


def _write(call: Call, lines: list[Line], stamps: bool) -> None:
    for ln in lines:
        prefix = ""
        if stamps:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ln.t)) + f".{int(ln.t % 1 * 1e9):09d}Z "
        (call.err if ln.stream == "stderr" else call.out)(f"{prefix}{ln.text}\n")


async def logs(call: Call, args: list[str]) -> int:
    opts, refs = parse_flags(args, LOG_FLAGS)
    if len(refs) != 1:
        return args_error(call, "logs", "1 argument")
    world, services, now = _services(call)
    c = services.find(refs[0])
    if c is None:
        not_found(call, refs[0])
        return 1
    tail = str(opts.get("tail", "all"))
    lines = container_lines(world, c, now)
    if tail != "all":
        if not tail.lstrip("-").isdigit():
            call.err(f'invalid value for "tail": "{tail}"\n')  # docker treats junk as "all" on old daemons
            return 1
        lines = lines[-int(tail) :] if int(tail) > 0 else [] if int(tail) == 0 else lines
    stamps = bool(opts.get("timestamps"))
    _write(call, lines, stamps)
    if not opts.get("follow") or not services.view(c, now).running:
        return 0
    last = now
    while True:
        await asyncio.sleep(FOLLOW_POLL_S)
        later = world.advance()
        if later <= last:
            continue
        _write(call, [ln for ln in container_lines(world, c, later) if last < ln.t <= later], stamps)
        last = later


# -- prune, system df --------------------------------------------------------------------------


def _warning(what: str, everything: bool) -> str:
    """The confirmation each prune asks for, worded as the docker CLI words it."""
    if what == "system":
        items = ["all stopped containers", "all networks not used by at least one container",
                 "all images without at least one container associated to them" if everything else "all dangling images",
                 "all build cache" if everything else "unused build cache"]  # fmt: skip
        return (
            "WARNING! This will remove:\n"
            + "".join(f"  - {i}\n" for i in items)
            + "\nAre you sure you want to continue?"
        )
    if what == "build cache":
        return f"WARNING! This will remove all {'' if everything else 'dangling '}build cache. Are you sure you want to continue?"
    target = {"containers": "all stopped containers", "images": "all images without at least one container "
              "associated to them" if everything else "all dangling images"}[what]  # fmt: skip
    return f"WARNING! This will remove {target}.\nAre you sure you want to continue?"


def _free(world: NodeWorld, freed: int) -> None:
    if freed:
        world.free_disk(world.docker_mount(), freed // 1024)


async def prune(call: Call, what: str, args: list[str]) -> int:
    flags: Spec = {
        "force": ("f", "bool"),
        "all": ("a", "bool"),
        "filter": (None, "list"),
        "volumes": (None, "bool"),
    }
    opts, _ = parse_flags(args, flags)
    world, services, now = _services(call)
    if not opts.get("force"):
        call.out(_warning(what, bool(opts.get("all"))) + " [y/N] ")
        if not call.stdin.strip().lower().startswith("y"):
            return 0  # cancelled: docker says nothing more and exits 0
    s = dockerstore.store(services)
    sections, freed = [], 0
    if what in ("system", "containers"):
        gone = [c for c in services.containers.values() if not services.view(c, now).running]
        for c in gone:
            services.remove(c)
        if gone:
            sections.append("Deleted Containers:\n" + "".join(f"{c.id}\n" for c in gone))
    if what in ("system", "images"):
        lines, size = dockerstore.prune_images(s, bool(opts.get("all")))
        freed += size
        if lines:
            sections.append("Deleted Images:\n" + "".join(f"{ln}\n" for ln in lines))
    if what in ("system", "build cache"):
        ids, size = dockerstore.prune_cache(s)
        freed += size
        if ids:
            sections.append("Deleted build cache objects:\n" + "".join(f"{i}\n" for i in ids))
    _free(world, freed)
    call.out("".join(f"{sec}\n" for sec in sections) + f"Total reclaimed space: {human_size(freed)}\n")
    return 0


async def system_df(call: Call) -> int:
    _, services, now = _services(call)
    s = dockerstore.store(services)
    unused = sum(im.size for im in s.unused)
    total = s.used_bytes + unused
    cache = sum(size for _, size in s.cache)
    running = sum(1 for c in services.containers.values() if services.view(c, now).running)
    vols = sum(len(c.spec.volumes) for c in services.containers.values())
    rows = [
        "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE",
        f"Images\t{s.used_count + len(s.unused)}\t{s.used_count}\t{human_size(total)}\t"
        f"{human_size(unused)} ({int(unused * 100 / total) if total else 0}%)",
        f"Containers\t{len(services.containers)}\t{running}\t{human_size(len(services.containers) * 191_000)}\t0B (0%)",
        f"Local Volumes\t{vols}\t{vols}\t{human_size(s.volumes_bytes)}\t0B (0%)",
        f"Build Cache\t{len(s.cache)}\t0\t{human_size(cache)}\t{human_size(cache)}",
    ]
    call.out(fmt.tabwrite(rows))
    return 0


# -- the command -------------------------------------------------------------------------------

GLOBAL_VALUE_FLAGS = ("-H", "--host", "-c", "--context", "-l", "--log-level", "--config")
VERBS = ("ps", "inspect", "logs", "restart", "stop", "start")
MANAGEMENT = {
    ("container", "ls"): "ps", ("container", "list"): "ps", ("container", "ps"): "ps",
    ("container", "inspect"): "inspect", ("container", "logs"): "logs", ("container", "restart"): "restart",
    ("container", "stop"): "stop", ("container", "start"): "start", ("container", "prune"): "prune containers",
    ("image", "prune"): "prune images", ("builder", "prune"): "prune build cache",
    ("buildx", "prune"): "prune build cache", ("system", "prune"): "prune system", ("system", "df"): "df",
}  # fmt: skip


async def docker(call: Call) -> int:
    """Entry point for ``docker ...``."""
    args = call.argv[1:]
    while args and (args[0] in GLOBAL_VALUE_FLAGS or args[0] in ("-D", "--debug")):
        args = args[2:] if args[0] in GLOBAL_VALUE_FLAGS else args[1:]
    if not args:
        call.out("\nUsage:  docker [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers\n")
        return 0
    head, rest = args[0], args[1:]
    if head == "compose":
        return await docker_compose.compose(call, rest, "docker compose")
    verb, shown = head, head
    if rest and (head, rest[0]) in MANAGEMENT:
        verb, shown, rest = MANAGEMENT[(head, rest[0])], f"{head} {rest[0]}", rest[1:]
    elif verb not in VERBS:
        call.err(f"docker: '{' '.join(args[:1])}' is not a docker command.\nSee 'docker --help'\n")
        return 1
    try:
        if verb == "ps":
            return await ps(call, rest)
        if verb == "inspect":
            return await inspect(call, rest, "container" if head == "container" else None)
        if verb == "logs":
            return await logs(call, rest)
        if verb == "df":
            return await system_df(call)
        if verb.startswith("prune "):
            return await prune(call, verb[6:], rest)
        return await lifecycle(call, verb, rest)
    except FlagError as exc:
        return _bad_flag(call, shown, exc)


async def docker_compose_v1(call: Call) -> int:
    """``docker-compose``: the compose v2 binary under its old name (Unraid's Compose Manager)."""
    try:
        return await docker_compose.compose(call, call.argv[1:], "docker-compose")
    except FlagError as exc:
        call.err(f"{exc}\n")
        return 1
