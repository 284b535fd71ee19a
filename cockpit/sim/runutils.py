"""Commands that run or signal other processes: kill, sudo, xargs, and ``cd`` (which moves the shell).

``kill`` typed in the shell is dash's builtin (``sh: 1: kill: No such process``); run through xargs
or sudo it is procps' /bin/kill (``kill: (1234): No such process``), because neither can run a
shell builtin. xargs is GNU findutils': ``-r``, ``-I``, ``-n``, ``-0``, ``-d``, ``-t``, and its
exit statuses (123 when a command failed, 127 when it was not found). The demo's users have
passwordless sudo, so ``sudo CMD`` simply runs CMD as root.
"""

from __future__ import annotations

import posixpath
import re

from cockpit.sim import processes, procfs
from cockpit.sim.dockerfmt import working_dir
from cockpit.sim.shell import Call, CommandFn, Shell

SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "KILL": 9, "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13,
           "ALRM": 14, "TERM": 15, "CONT": 18, "STOP": 19}  # fmt: skip
SHELL_ONLY = {"cd", "export", "exit", ":", "set", "unset", "."}
DASH_KILL_USAGE = "Usage: kill [-s sigspec | -signum | -sigspec] [pid | job]... or\nkill -l [exitstatus]\n"


def signal_number(text: str) -> int | None:
    name = text.upper().removeprefix("SIG")
    if name.isdigit():
        return int(name) if int(name) < 65 else None
    return SIGNALS.get(name)


def _kill_args(argv: list[str]) -> tuple[int, list[str]] | str:
    """(signal, pids) from kill's arguments, or the bad signal's text."""
    args, sig = argv[1:], 15
    if args and args[0] == "-s" and len(args) > 1:
        args, name = args[2:], args[1]
    elif args and args[0].startswith("-") and args[0] != "--" and len(args[0]) > 1:
        args, name = args[1:], args[0][1:]
    else:
        name = ""
    if args and args[0] == "--":
        args = args[1:]
    if name:
        number = signal_number(name)
        if number is None:
            return name
        sig = number
    return sig, args


async def kill(call: Call) -> int:
    """dash's builtin kill."""
    prefix = f"sh: {call.lineno}: kill: "
    parsed = _kill_args(call.argv)
    if isinstance(parsed, str):
        call.err(f"{prefix}invalid signal number or name: {parsed}\n")
        return 2
    sig, pids = parsed
    if not pids:
        call.err(prefix + DASH_KILL_USAGE)
        return 2
    status = 0
    for text in pids:
        if not re.fullmatch(r"-?\d+", text):
            call.err(f"{prefix}Illegal number: {text}\n")
            return 2
        problem = processes.kill(call.shell.world, int(text), sig, call.shell.user)
        if problem:
            call.err(f"{prefix}{problem}\n")
            status = 1
    return status


async def bin_kill(call: Call) -> int:
    """procps-ng's /bin/kill."""
    parsed = _kill_args(call.argv)
    if isinstance(parsed, str):
        call.err(f"kill: unknown signal name {parsed}\n")
        return 1
    sig, pids = parsed
    if not pids:
        call.err("\nUsage:\n kill [options] <pid> [...]\n")
        return 1
    status = 0
    for text in pids:
        if not re.fullmatch(r"-?\d+", text):
            call.err(f"kill: failed to parse argument: '{text}'\n")
            return 1
        problem = processes.kill(call.shell.world, int(text), sig, call.shell.user)
        if problem:
            call.err(f"kill: ({text}): {problem}\n")
            status = 1
    return status


def external(shell: Shell, name: str) -> CommandFn | None:
    """The program ``name`` names on disk: what sudo, xargs and timeout can run (no builtins)."""
    base = name.rsplit("/", 1)[-1]
    if base == "kill":
        return bin_kill
    if base in SHELL_ONLY:
        return None
    return shell.resolve(shell, name)


async def sudo(call: Call) -> int:
    args, user = call.argv[1:], "root"
    while args and args[0].startswith("-") and args[0] != "--":
        flag = args.pop(0)
        if flag in ("-u", "--user") and args:
            user = args.pop(0)
        elif flag.startswith("-u") and len(flag) > 2:
            user = flag[2:]
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        call.err("usage: sudo -h | -K | -k | -V\nusage: sudo [-AbEHknPS] [-u user] [--] command [arg ...]\n")
        return 1
    fn = external(call.shell, args[0])
    if fn is None:
        call.err(f"sudo: {args[0]}: command not found\n")
        return 1
    shell = Shell(call.shell.world, user, call.shell.resolve)
    shell.vars["PWD"] = call.shell.lookup("PWD")
    return await fn(Call(args, call.stdin, call.out, call.err, shell, call.lineno))


def _items(text: str, opts: dict[str, str]) -> list[str]:
    """xargs' input items: lines with -I, NUL/DELIM-separated with -0/-d, else quoted words."""
    if "0" in opts or "d" in opts:
        sep = "\0" if "0" in opts else opts["d"].encode().decode("unicode_escape")
        parts = text.split(sep)
        return parts[:-1] if parts and parts[-1] in ("", "\n") else parts
    if "I" in opts:
        return [ln.strip(" \t") for ln in text.splitlines() if ln.strip(" \t")]
    return [
        m.group(1) or m.group(2) or m.group(3) for m in re.finditer(r"'([^']*)'|\"([^\"]*)\"|(\S+)", text)
    ]


async def xargs(call: Call) -> int:
    args, opts = call.argv[1:], {}
    while args and args[0].startswith("-") and args[0] != "-":
        flag = args.pop(0)
        if flag == "--":
            break
        if flag in ("-r", "--no-run-if-empty", "-0", "--null", "-t", "--verbose"):
            opts[{"--no-run-if-empty": "r", "--null": "0", "--verbose": "t"}.get(flag, flag[1])] = ""
        elif flag[1] in "IndLP" and len(flag) > 2:
            opts[flag[1]] = flag[2:]
        elif flag[1] in "IndLP" and args:
            opts[flag[1]] = args.pop(0)
        elif flag.startswith("-i"):
            opts["I"] = flag[2:] or "{}"
        else:
            call.err(f"xargs: invalid option -- '{flag.lstrip('-')[:1]}'\n")
            return 1
    command = args or ["echo"]
    items = _items(call.stdin, opts)
    if "I" in opts:
        runs = [[a.replace(opts["I"], item) for a in command] for item in items]
    else:
        per = int(opts.get("n") or opts.get("L") or 0) or max(1, len(items))
        runs = [command + items[i : i + per] for i in range(0, len(items), per)]
        if not runs and "r" not in opts:
            runs = [command]
    fn = external(call.shell, command[0])
    if fn is None and runs:
        call.err(f"xargs: {command[0]}: No such file or directory\n")
        return 127
    status = 0
    for argv in runs:
        if "t" in opts:
            call.err(" ".join(argv) + "\n")
        rc = await fn(Call(argv, "", call.out, call.err, call.shell, call.lineno))  # type: ignore[misc]
        if rc == 255:
            call.err(f"xargs: {command[0]}: exited with status 255; aborting\n")
            return 124
        if 1 <= rc <= 125:
            status = 123
    return status


def known_dirs(shell: Shell) -> set[str]:
    """Directories ``cd`` can enter: the usual tree, mounts, homes, compose projects."""
    world = shell.world
    dirs = set(procfs.DIRECTORIES) | {"/mnt", "/opt", "/var", "/var/lib", "/var/log", "/var/lib/docker",
                                      "/etc/systemd", "/etc/systemd/system", shell.lookup("HOME")}  # fmt: skip
    dirs |= {d.mount for d in world.disks(world.advance())}
    for c in world.services.containers.values():
        if c.spec.project:
            path = working_dir(c.spec, not world.systemd)
            while path not in ("", "/"):
                dirs.add(path)
                path = posixpath.dirname(path)
    return dirs


async def cd(call: Call) -> int:
    shell = call.shell
    target = call.argv[1] if len(call.argv) > 1 else shell.lookup("HOME")
    if target == "-":
        target = shell.vars.get("OLDPWD", shell.lookup("PWD"))
    path = posixpath.normpath(posixpath.join(shell.lookup("PWD"), target))
    path = "/" + path.lstrip("/")
    if path not in known_dirs(shell):
        call.err(f"sh: {call.lineno}: cd: can't cd to {target}\n")
        return 2
    shell.vars["OLDPWD"], shell.vars["PWD"] = shell.lookup("PWD"), path
    return 0


COMMANDS = {"kill": kill, "sudo": sudo, "xargs": xargs, "cd": cd}
