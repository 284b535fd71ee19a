"""Text commands of the simulated shell: echo, printf, cat, head, tail, grep, wc, cut, tr.

Each takes a :class:`~cockpit.sim.shell.Call` and returns an exit status, writing through the call's
sinks. Messages and exit codes are GNU coreutils' / dash's, because scripts branch on them.
"""

from __future__ import annotations

import re

from cockpit.sim import procfs
from cockpit.sim.shell import Call

ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "r": "\r", "v": "\v"}
FORMAT_RE = re.compile(r"%([-+ #0]*)(\d+|\*)?(?:\.(\d+))?([sdiufFxXoceg%])")


def _unescape(text: str) -> tuple[str, bool]:
    """Backslash escapes as dash's echo and printf read them; True if ``\\c`` stopped output."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "c":
                return "".join(out), True
            if nxt in ESCAPES:
                out.append(ESCAPES[nxt])
                i += 2
                continue
            if nxt == "0":
                digits = re.match(r"[0-7]{0,3}", text[i + 2 :]).group(0)
                out.append(chr(int(digits or "0", 8)))
                i += 2 + len(digits)
                continue
        out.append(c)
        i += 1
    return "".join(out), False


async def echo(call: Call) -> int:
    args = call.argv[1:]
    newline = True
    if args and args[0] == "-n":
        newline, args = False, args[1:]
    text, stopped = _unescape(" ".join(args))
    call.out(text + ("\n" if newline and not stopped else ""))
    return 0


def _convert(spec: str, conv: str, arg: str, call: Call) -> tuple[str, bool]:
    """One printf conversion; False when the argument was not a number."""
    try:
        if conv == "c":
            return (spec + "s") % arg[:1], True
        if conv in "diuxXo":
            return (spec + ("d" if conv in "iu" else conv)) % int(arg or "0", 0), True
        if conv in "fFeg":
            return (spec + conv) % float(arg or "0"), True
    except ValueError:
        call.err(f"sh: {call.lineno}: printf: {arg}: expected numeric value\n")
        return (spec + ("d" if conv in "diuxXo" else conv)) % 0, False
    return (spec + "s") % arg, True


async def printf(call: Call) -> int:
    if len(call.argv) < 2:
        call.err("printf: usage: printf format [arg ...]\n")
        return 2
    fmt, args = _unescape(call.argv[1])[0], call.argv[2:]
    ok, out = True, []
    while True:
        pos, consumed, text = 0, 0, []
        for m in FORMAT_RE.finditer(fmt):
            text.append(fmt[pos : m.start()])
            pos = m.end()
            flags, width, prec, conv = m.groups()
            if conv == "%":
                text.append("%")
                continue
            arg = args[consumed] if consumed < len(args) else ""
            consumed += 1
            spec = "%" + flags + (width or "") + (f".{prec}" if prec is not None else "")
            piece, good = _convert(spec, conv, arg, call)
            text.append(piece)
            ok = ok and good
        out.append("".join(text) + fmt[pos:])
        args = args[consumed:]
        if not args or consumed == 0:
            break
    call.out("".join(out))
    return 0 if ok else 1


def _inputs(
    call: Call, files: list[str], name: str, quiet: bool = False
) -> tuple[list[tuple[str, str]], int]:
    """(label, text) for each file operand ("-" or none: stdin), reporting missing ones."""
    if not files:
        return [("(standard input)", call.stdin)], 0
    got, status = [], 0
    for path in files:
        if path == "-":
            got.append(("(standard input)", call.stdin))
            continue
        text = procfs.read(call.shell.world, path)
        if text is None:
            reason = "Is a directory" if path in procfs.DIRECTORIES else "No such file or directory"
            if not quiet:
                call.err(f"{name}: {path}: {reason}\n")
            status = 1 if name != "grep" else 2
            continue
        got.append((path, text))
    return got, status


async def cat(call: Call) -> int:
    got, status = _inputs(call, call.argv[1:], "cat")
    for _, text in got:
        call.out(text)
    return status


def _count_option(call: Call, default: int) -> tuple[int | None, list[str], bool]:
    """``-n N``, ``-nN``, ``-N`` and ``-n +N``; returns (count, files, from_start)."""
    args, count, files, plus = call.argv[1:], default, [], False
    i = 0
    while i < len(args):
        a = args[i]
        value = None
        if a == "-n" and i + 1 < len(args):
            value, i = args[i + 1], i + 1
        elif a.startswith("-n"):
            value = a[2:]
        elif re.fullmatch(r"-\d+", a):
            value = a[1:]
        else:
            files.append(a)
        if value is not None:
            plus = value.startswith("+")
            if not value.lstrip("+-").isdigit():
                call.err(f"{call.argv[0]}: invalid number of lines: \u2018{value}\u2019\n")
                return None, [], False
            count = int(value.lstrip("+-"))
        i += 1
    return count, files, plus


async def head(call: Call) -> int:
    count, files, _ = _count_option(call, 10)
    if count is None:
        return 1
    got, status = _inputs(call, files, "head")
    for label, text in got:
        if len(got) > 1:
            call.out(f"==> {label} <==\n")
        call.out("".join(text.splitlines(keepends=True)[:count]))
    return status


async def tail(call: Call) -> int:
    count, files, plus = _count_option(call, 10)
    if count is None:
        return 1
    got, status = _inputs(call, files, "tail")
    for _, text in got:
        lines = text.splitlines(keepends=True)
        picked = lines[max(0, count - 1) :] if plus else (lines[-count:] if count else [])
        call.out("".join(picked))
    return status


def bre_to_python(pattern: str) -> str:
    """GNU basic regex -> Python: ``\\+ \\? \\| \\( \\) \\{ \\}`` are the special ones there."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(nxt if nxt in "+?|(){}" else c + nxt)
            i += 2
            continue
        out.append("\\" + c if c in "+?|(){}" else c)
        i += 1
    return "".join(out)


async def grep(call: Call) -> int:
    opts, args, i = set(), call.argv[1:], 0
    patterns: list[str] = []
    while i < len(args) and args[i].startswith("-") and len(args[i]) > 1:
        a = args[i]
        if a == "--":
            i += 1
            break
        if a == "-e" and i + 1 < len(args):
            patterns.append(args[i + 1])
            i += 2
            continue
        opts.update(a[1:])
        i += 1
    rest = args[i:]
    if not patterns:
        if not rest:
            call.err("Usage: grep [OPTION]... PATTERNS [FILE]...\n")
            return 2
        patterns, rest = [rest[0]], rest[1:]
    if "F" in opts:
        source = "|".join(re.escape(p) for p in patterns)
    else:
        source = "|".join(p if "E" in opts else bre_to_python(p) for p in patterns)
    if "w" in opts:
        source = rf"\b(?:{source})\b"
    try:
        regex = re.compile(source, re.IGNORECASE if "i" in opts else 0)
    except re.error:
        call.err("grep: Invalid regular expression\n")
        return 2
    got, status = _inputs(call, rest, "grep", quiet="s" in opts)
    matched = False
    named = "H" in opts or (len(rest) > 1 and "h" not in opts)
    for label, text in got:
        prefix = f"{label}:" if named else ""
        hits = [
            (n, ln) for n, ln in enumerate(text.splitlines(), 1) if bool(regex.search(ln)) != ("v" in opts)
        ]
        matched = matched or bool(hits)
        if "q" in opts:
            continue
        if "c" in opts:
            call.out(f"{prefix}{len(hits)}\n")
        elif hits:
            call.out("".join(f"{prefix}{f'{n}:' if 'n' in opts else ''}{ln}\n" for n, ln in hits))
    if status:
        return 0 if matched and "q" in opts else 2
    return 0 if matched else 1


async def wc(call: Call) -> int:
    flags = "".join(a[1:] for a in call.argv[1:] if a.startswith("-") and len(a) > 1) or "lwc"
    files = [a for a in call.argv[1:] if not a.startswith("-") or a == "-"]
    got, status = _inputs(call, files, "wc")
    for label, text in got:
        counts = {"l": text.count("\n"), "w": len(text.split()), "c": len(text.encode())}
        picked = [counts[f] for f in "lwc" if f in flags]
        if len(picked) == 1 and not files:
            call.out(f"{picked[0]}\n")
            continue
        width = 7 if not files else 1 if label.startswith("/proc/") else len(str(len(text.encode())))
        cells = " ".join(f"{n:>{width}}" for n in picked)
        call.out(f"{cells} {label}\n" if files else f"{cells}\n")
    return status


def _ranges(spec: str) -> list[tuple[int, int]]:
    out = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        start = int(lo) if lo else 1
        out.append((start, (int(hi) if hi else 1 << 30) if "-" in part else start))
    return out


async def cut(call: Call) -> int:
    args, delim, fields, chars, files = call.argv[1:], "\t", None, None, []
    i = 0
    while i < len(args):
        a = args[i]
        for flag in ("-d", "-f", "-c"):
            if a.startswith(flag):
                value = a[2:] or (args[i + 1] if i + 1 < len(args) else "")
                i += 0 if a[2:] else 1
                if flag == "-d":
                    delim = value[:1]
                elif flag == "-f":
                    fields = value
                else:
                    chars = value
                break
        else:
            files.append(a)
        i += 1
    if fields is None and chars is None:
        call.err("cut: you must specify a list of bytes, characters, or fields\n")
        return 1
    spans = _ranges(fields or chars or "")
    got, status = _inputs(call, files, "cut")
    for _, text in got:
        for line in text.splitlines():
            if chars is not None:
                call.out("".join(c for n, c in enumerate(line, 1) if _inside(n, spans)) + "\n")
            elif delim not in line:
                call.out(line + "\n")
            else:
                parts = line.split(delim)
                picked = [p for n, p in enumerate(parts, 1) if _inside(n, spans)]
                call.out(delim.join(picked) + "\n")
    return status


def _inside(n: int, spans: list[tuple[int, int]]) -> bool:
    return any(lo <= n <= hi for lo, hi in spans)


async def tr(call: Call) -> int:
    args = call.argv[1:]
    if args and args[0] == "-d" and len(args) == 2:
        drop = set(_expand_set(args[1]))
        call.out("".join(c for c in call.stdin if c not in drop))
        return 0
    if len(args) == 2:
        src, dst = _expand_set(args[0]), _expand_set(args[1])
        dst += dst[-1:] * (len(src) - len(dst))
        call.out(call.stdin.translate(str.maketrans(src, dst[: len(src)])))
        return 0
    call.err("tr: missing operand\n")
    return 1


def _expand_set(spec: str) -> str:
    spec = _unescape(spec)[0]
    return re.sub(r"(.)-(.)", lambda m: "".join(map(chr, range(ord(m[1]), ord(m[2]) + 1))), spec)


COMMANDS = {
    "echo": echo, "printf": printf, "cat": cat, "head": head, "tail": tail, "grep": grep,
    "wc": wc, "cut": cut, "tr": tr,
}  # fmt: skip
