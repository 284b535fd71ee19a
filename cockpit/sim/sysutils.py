"""System commands of the simulated shell: df, free, uptime, uname, sleep, command -v and friends.

Output formats are the real tools' (GNU coreutils df, procps-ng free and uptime), column widths
included, computed from the node's world at the moment the command runs.
"""

from __future__ import annotations

import asyncio
import math
import time

from cockpit.sim import procfs
from cockpit.sim.runutils import external, known_dirs
from cockpit.sim.shell import Call, ExitScript
from cockpit.sim.world import DiskState

BUILTINS = {"echo", "printf", "true", "false", "command", "exit", "export", "cd", ":", "test", "["}
DF_MIN_WIDTH = {"source": 14, "type": 4, "size": 5, "used": 5, "avail": 5, "pcent": 4}


def human_df(kib: int) -> str:
    """GNU ``-h``: powers of 1024, rounded up, one decimal below 10."""
    value, units = kib * 1024.0, ["", "K", "M", "G", "T", "P", "E"]
    if value == 0:
        return "0"
    i = 0
    while value >= 1024 and i < len(units) - 1:
        value /= 1024
        i += 1
    if i == 0:
        return str(math.ceil(value))
    if value < 10:
        tenths = math.ceil(value * 10 - 1e-9) / 10
        if tenths < 10:
            return f"{tenths:.1f}{units[i]}"
        value = tenths
    whole = math.ceil(value - 1e-9)
    if whole >= 1024 and i < len(units) - 1:
        return f"1.0{units[i + 1]}"
    return f"{whole}{units[i]}"


def _pct(d: DiskState) -> str:
    denom = d.used + d.avail
    return "-" if denom == 0 else f"{math.ceil(d.used * 100 / denom)}%"


def _df_select(call: Call, disks: list[DiskState], paths: list[str]) -> list[DiskState] | None:
    picked = []
    for path in paths:
        if not path.startswith("/"):
            path = call.shell.lookup("PWD").rstrip("/") + "/" + path
        mounts = [d for d in disks if path == d.mount or path.startswith(d.mount.rstrip("/") + "/")]
        if not mounts:
            call.err(f"df: {path}: No such file or directory\n")
            return None
        picked.append(max(mounts, key=lambda d: len(d.mount)))
    return picked


async def df(call: Call) -> int:
    flags = {c for a in call.argv[1:] if a.startswith("-") for c in a[1:]}
    paths = [a for a in call.argv[1:] if not a.startswith("-")]
    world = call.shell.world
    disks = world.disks(world.advance())
    if paths:
        disks = _df_select(call, disks, paths)
        if disks is None:
            return 1
    call.out(format_df(disks, posix="P" in flags, human="h" in flags, typed="T" in flags))
    return 0


def format_df(disks: list[DiskState], *, posix: bool, human: bool, typed: bool = False) -> str:
    """GNU df's table: each column as wide as its widest cell (with df's minimums), one space apart;
    text columns left-aligned, numbers right-aligned, the mount point last and unpadded."""
    size = "Size" if human else ("1024-blocks" if posix else "1K-blocks")
    header = {"source": "Filesystem", "type": "Type", "size": size, "used": "Used",
              "avail": "Avail" if human else "Available", "pcent": "Capacity" if posix else "Use%",
              "target": "Mounted on"}  # fmt: skip
    num = human_df if human else str
    rows = [
        {"source": d.filesystem, "type": "tmpfs" if d.filesystem == "tmpfs" else "ext4",
         "size": num(d.blocks), "used": num(d.used), "avail": num(d.avail), "pcent": _pct(d),
         "target": d.mount}
        for d in disks
    ]  # fmt: skip
    cols = ["source", *(["type"] if typed else []), "size", "used", "avail", "pcent", "target"]
    width = {c: max([DF_MIN_WIDTH.get(c, 0), len(header[c])] + [len(r[c]) for r in rows]) for c in cols}
    lines = []
    for row in [header, *rows]:
        cells = [
            row[c]
            if c == "target"
            else row[c].ljust(width[c])
            if c in ("source", "type")
            else row[c].rjust(width[c])
            for c in cols
        ]
        lines.append(" ".join(cells) + "\n")
    return "".join(lines)


def human_free(kib: int) -> str:
    """procps-ng ``free -h``: Ki/Mi/Gi/Ti, one rounded decimal below 10, else truncated; ``0B``."""
    value = kib * 1024.0
    if value < 1024:
        return f"{int(value)}B"
    for unit in ("Ki", "Mi", "Gi", "Ti", "Pi"):
        value /= 1024
        if value < 1024 or unit == "Pi":
            return f"{value:.1f}{unit}" if value < 10 else f"{int(value)}{unit}"
    raise AssertionError("unreachable")


async def free(call: Call) -> int:
    flags = {c for a in call.argv[1:] if a.startswith("-") and not a.startswith("--") for c in a[1:]}
    world = call.shell.world
    m = world.memory_kb(world.advance())
    slab_reclaimable = int(m["total"] * 0.006)
    buff_cache = m["buffers"] + m["cached"] + slab_reclaimable
    used = m["total"] - m["available"]
    swap_used = m["swap_total"] - m["swap_free"]
    if "h" in flags:
        fmt = human_free
    else:
        div = {"b": 1 / 1024, "m": 1024, "g": 1024 * 1024}.get(next((f for f in "bmg" if f in flags), "k"), 1)

        def fmt(kib: int) -> str:
            return str(int(kib / div))

    heads = ["total", "used", "free", "shared", "buff/cache", "available"]
    lines = [" " * 8 + "".join(f"{h:>12}" for h in heads)]
    mem = [m["total"], used, m["free"], m["shmem"], buff_cache, m["available"]]
    lines.append(f"{'Mem:':<8}" + "".join(f"{fmt(v):>12}" for v in mem))
    swap = [m["swap_total"], swap_used, m["swap_free"]]
    lines.append(f"{'Swap:':<8}" + "".join(f"{fmt(v):>12}" for v in swap))
    if "t" in flags:
        tot = [m["total"] + m["swap_total"], used + swap_used, m["free"] + m["swap_free"]]
        lines.append(f"{'Total:':<8}" + "".join(f"{fmt(v):>12}" for v in tot))
    call.out("\n".join(lines) + "\n")
    return 0


async def uptime(call: Call) -> int:
    world = call.shell.world
    now = world.advance()
    up = int(world.uptime(now))
    days, rem = divmod(up, 86400)
    hours, minutes = rem // 3600, rem % 3600 // 60
    if "-p" in call.argv or "--pretty" in call.argv:
        parts = [f"{days} day{'s' * (days != 1)}"] if days else []
        parts += [f"{hours} hour{'s' * (hours != 1)}"] if hours else []
        parts.append(f"{minutes} minute{'s' * (minutes != 1)}")
        call.out("up " + ", ".join(parts) + "\n")
        return 0
    if "-s" in call.argv or "--since" in call.argv:
        call.out(time.strftime("%Y-%m-%d %H:%M:%S\n", time.localtime(world.boot_time)))
        return 0
    text = time.strftime(" %H:%M:%S up ", time.localtime(now))
    text += f"{days} day{'s' if days != 1 else ''}, " if days else ""
    text += f"{hours:2d}:{minutes:02d}, " if hours else f"{minutes} min, "
    l1, l5, l15 = world.load
    call.out(text + f" 0 user,  load average: {l1:.2f}, {l5:.2f}, {l15:.2f}\n")
    return 0


async def uname(call: Call) -> int:
    world = call.shell.world
    release = procfs.kernel_release(world)
    built = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(world.boot_time - 86400 * 30))
    fields = {"s": "Linux", "n": world.node.name, "r": release,
              "v": f"#1 SMP PREEMPT_DYNAMIC {built}", "m": "x86_64", "p": "x86_64",
              "i": "x86_64", "o": "GNU/Linux"}  # fmt: skip
    flags = "".join(a[1:] for a in call.argv[1:] if a.startswith("-")) or "s"
    if "a" in flags:
        flags = "snrvmpio"
    call.out(" ".join(fields[f] for f in "snrvmpio" if f in flags) + "\n")
    return 0


async def sleep(call: Call) -> int:
    total = 0.0
    for arg in call.argv[1:]:
        scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(arg[-1:])
        try:
            total += float(arg[:-1] if scale else arg) * (scale or 1)
        except ValueError:
            call.err(
                f"sleep: invalid time interval \u2018{arg}\u2019\nTry 'sleep --help' for more information.\n"
            )
            return 1
    if len(call.argv) < 2:
        call.err("sleep: missing operand\n")
        return 1
    await asyncio.sleep(total)
    return 0


def _duration(text: str) -> float | None:
    scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(text[-1:])
    try:
        return float(text[:-1] if scale else text) * (scale or 1)
    except ValueError:
        return None


async def timeout(call: Call) -> int:
    """GNU coreutils ``timeout [-k DUR] [-s SIG] DURATION COMMAND...``: 124 when time runs out."""
    args = call.argv[1:]
    while args and args[0].startswith("-") and args[0] != "-":
        flag = args.pop(0)
        if flag in ("-k", "-s", "--kill-after", "--signal") and args:
            args.pop(0)
    if len(args) < 2:
        call.err("timeout: missing operand\nTry 'timeout --help' for more information.\n")
        return 125
    limit = _duration(args[0])
    if limit is None:
        call.err(f"timeout: invalid time interval \u2018{args[0]}\u2019\n")
        return 125
    target = external(call.shell, args[1])
    if target is None:
        call.err(f"timeout: failed to run command \u2018{args[1]}\u2019: No such file or directory\n")
        return 127
    inner = Call(args[1:], call.stdin, call.out, call.err, call.shell, call.lineno)
    try:
        # asyncio.timeout, not wait_for: no extra task, so a quick command does not yield and
        # its output leaves in the same packet as its neighbours'.
        async with asyncio.timeout(limit):
            return await target(inner)
    except TimeoutError:
        return 124


async def command(call: Call) -> int:
    args = call.argv[1:]
    if args and args[0] in ("-v", "-V"):
        status = 0
        for name in args[1:]:
            if call.shell.resolve(call.shell, name) is None:
                status = 127
            elif name in BUILTINS or "/" in name:
                call.out(f"{name}\n")
            else:
                call.out(f"/usr/bin/{name}\n")
        return status
    if not args:
        return 0
    fn = call.shell.resolve(call.shell, args[0])
    if fn is None:
        call.err(f"sh: {call.lineno}: {args[0]}: not found\n")
        return 127
    call.argv = args
    return await fn(call)


async def true(call: Call) -> int:
    return 0


async def false(call: Call) -> int:
    return 1


async def exit_(call: Call) -> int:
    arg = call.argv[1] if len(call.argv) > 1 else str(call.shell.status)
    if not arg.isdigit():
        call.err(f"sh: {call.lineno}: exit: Illegal number: {arg}\n")
        raise ExitScript(2)
    raise ExitScript(int(arg) & 255)


async def export(call: Call) -> int:
    for arg in call.argv[1:]:
        name, eq, value = arg.partition("=")
        if eq:
            call.shell.vars[name] = value
    return 0


async def hostname(call: Call) -> int:
    call.out(call.shell.world.node.name + "\n")
    return 0


async def nproc(call: Call) -> int:
    call.out(f"{call.shell.world.cpus}\n")
    return 0


async def whoami(call: Call) -> int:
    call.out(call.shell.user + "\n")
    return 0


async def id_(call: Call) -> int:
    user = call.shell.user
    uid = 0 if user == "root" else 1000
    flags = "".join(a[1:] for a in call.argv[1:] if a.startswith("-"))
    if "u" in flags or "g" in flags:
        call.out((user if "n" in flags else str(uid)) + "\n")
    else:
        call.out(f"uid={uid}({user}) gid={uid}({user}) groups={uid}({user})\n")
    return 0


async def date(call: Call) -> int:
    now = call.shell.world.advance()
    fmt = next((a[1:] for a in call.argv[1:] if a.startswith("+")), "%a %b %e %H:%M:%S UTC %Y")
    fmt = fmt.replace("%s", str(int(now))).replace("%N", f"{int(now % 1 * 1e9):09d}")
    call.out(time.strftime(fmt, time.gmtime(now)) + "\n")
    return 0


def _file_test(call: Call, op: str, path: str) -> bool:
    """``-e -f -d -x -r -s`` against the node's virtual files and installed binaries."""
    is_dir = (
        path == "/" or path.rstrip("/") in procfs.DIRECTORIES or path.rstrip("/") in known_dirs(call.shell)
    )
    is_bin = "/" in path and call.shell.resolve(call.shell, path) is not None
    is_file = path in procfs.FILES or is_bin
    return {"-d": is_dir, "-x": is_bin or is_dir, "-f": is_file}.get(op, is_file or is_dir)


def _test_expr(call: Call, args: list[str]) -> bool:
    """POSIX ``test`` for the forms scripts use: ``!``, ``-a``/``-o``, unary and binary tests."""
    if "-o" in args:
        i = args.index("-o")
        return _test_expr(call, args[:i]) or _test_expr(call, args[i + 1 :])
    if "-a" in args:
        i = args.index("-a")
        return _test_expr(call, args[:i]) and _test_expr(call, args[i + 1 :])
    if args and args[0] == "!":
        return not _test_expr(call, args[1:])
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, value = args
        if op in ("-n", "-z"):
            return (value != "") == (op == "-n")
        return _file_test(call, op, value)
    if len(args) == 3:
        left, op, right = args
        if op in ("=", "!="):
            return (left == right) == (op == "=")
        numbers = {"-eq": int.__eq__, "-ne": int.__ne__, "-gt": int.__gt__, "-ge": int.__ge__,
                   "-lt": int.__lt__, "-le": int.__le__}  # fmt: skip
        if op in numbers:
            for value in (left, right):
                if not value.strip().lstrip("-").isdigit():
                    raise ValueError(f"Illegal number: {value}")
            return numbers[op](int(left), int(right))
    return bool(args)


async def test(call: Call) -> int:
    args = call.argv[1:]
    if call.argv[0] == "[":
        if not args or args[-1] != "]":
            call.err(f"sh: {call.lineno}: [: missing ]\n")
            return 2
        args = args[:-1]
    try:
        return 0 if _test_expr(call, args) else 1
    except ValueError as exc:
        call.err(f"sh: {call.lineno}: {call.argv[0]}: {exc}\n")
        return 2


COMMANDS = {
    "df": df, "free": free, "uptime": uptime, "uname": uname, "sleep": sleep,
    "command": command, "true": true, "false": false, ":": true, "exit": exit_,
    "export": export, "hostname": hostname, "nproc": nproc, "whoami": whoami,
    "id": id_, "date": date, "test": test, "[": test, "timeout": timeout,
}  # fmt: skip
