"""A small POSIX-sh subset, so that whatever a probe sends is *interpreted* as dash would run it.

The cockpit's probes are shell scripts; the simulator must not recognise them by their exact text
(a changed probe would silently meet canned output). :mod:`cockpit.sim.shparse` tokenises with
``shlex`` and builds a syntax tree; this module runs it: ``$VAR`` and ``$?`` expanded at run time,
``&&``/``||``, pipelines (stages run one after another on text), redirections, ``if``/``for``/
groups, and the commands of :mod:`cockpit.sim.commands`. Errors read as dash prints them
(``sh: 1: foo: not found``, exit 127) because parsers and operators recognise them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from cockpit.sim import procfs
from cockpit.sim.shparse import (
    QVAR,
    UNPLACE,
    UVAR,
    AndOr,
    For,
    Group,
    If,
    Node,
    Pipeline,
    Redirect,
    ShellSyntaxError,
    Simple,
    parse,
)
from cockpit.sim.world import NodeWorld

__all__ = ["Call", "CommandFn", "ExitScript", "Shell", "ShellSyntaxError", "Sink"]
Sink = Callable[[str], None]
MARK_RE = re.compile("([\x01\x03])([^\x02\x04]*)[\x02\x04]")
ASSIGN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


class ExitScript(Exception):
    """``exit N`` ends the whole script with status N."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(slots=True)
class Call:
    """What a command gets: its argv, stdin text, output sinks and the shell it runs in."""

    argv: list[str]
    stdin: str
    out: Sink
    err: Sink
    shell: Shell
    lineno: int = 1


CommandFn = Callable[[Call], Awaitable[int]]
Resolver = Callable[["Shell", str], CommandFn | None]


class Shell:
    """One ``sh -c`` invocation's state: variables, ``$?``, the user, the node's world."""

    def __init__(self, world: NodeWorld, user: str, resolve: Resolver) -> None:
        self.world = world
        self.user = user
        self.resolve = resolve
        home = "/root" if user == "root" else f"/home/{user}"
        self.vars: dict[str, str] = {
            "HOME": home, "USER": user, "LOGNAME": user, "SHELL": "/bin/sh",
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PWD": home,
        }  # fmt: skip
        self.status = 0

    def lookup(self, name: str) -> str:
        if name == "?":
            return str(self.status)
        if name == "$":
            return "4242"
        if name == "#":
            return "0"
        if name == "0":
            return "sh"
        return self.vars.get(name, "")

    def expand(self, word: str) -> list[str]:
        """One word -> fields: quoted ``$X`` stays one piece; unquoted ones split on blanks."""
        if QVAR not in word and UVAR not in word:
            return [word.translate(UNPLACE)]
        fields: list[list] = [["", False]]  # [text, solid]: a solid field survives being empty
        pos = 0
        for m in MARK_RE.finditer(word):
            if m.start() > pos:
                fields[-1][0] += word[pos : m.start()]
                fields[-1][1] = True
            value, pos = self.lookup(m.group(2)), m.end()
            if m.group(1) == QVAR:
                fields[-1][0] += value
                fields[-1][1] = True
                continue
            parts = value.split()
            if value[:1].isspace():
                fields.append(["", False])
            if parts:
                fields[-1][0] += parts[0]
                fields.extend([p, False] for p in parts[1:])
                if value[-1].isspace():
                    fields.append(["", False])
        if pos < len(word):
            fields[-1][0] += word[pos:]
            fields[-1][1] = True
        return [text.translate(UNPLACE) for text, solid in fields if text or solid]

    async def run(self, script: str, out: Sink, err: Sink) -> int:
        """Run a whole script, streaming each command's output; returns the last status."""
        try:
            tree = parse(script)
        except ShellSyntaxError as exc:
            err(f"sh: {exc.lineno}: Syntax error: {exc}\n")
            return 2
        try:
            await self._list(tree, "", out, err)
        except ExitScript as stop:
            self.status = stop.status
        return self.status

    async def _list(self, items: Sequence[AndOr], stdin: str, out: Sink, err: Sink) -> int:
        for andor in items:
            self.status = await self._pipeline(andor.first, stdin, out, err)
            for op, pipe in andor.rest:
                if (op == "&&") == (self.status == 0):
                    self.status = await self._pipeline(pipe, stdin, out, err)
        return self.status

    async def _pipeline(self, pipe: Pipeline, stdin: str, out: Sink, err: Sink) -> int:
        data, status = stdin, 0
        last = len(pipe.commands) - 1
        for i, node in enumerate(pipe.commands):
            chunks: list[str] = []
            status = await self._node(node, data, out if i == last else chunks.append, err)
            data = "".join(chunks)
        return int(status == 0) if pipe.negate else status

    async def _node(self, node: Node, stdin: str, out: Sink, err: Sink) -> int:
        redirected = self._redirect(node.redirects, node.lineno, stdin, out, err)
        if isinstance(redirected, int):
            return redirected
        stdin, out, err = redirected
        if isinstance(node, Simple):
            return await self._simple(node, stdin, out, err)
        if isinstance(node, If):
            for cond, body in node.branches:
                if await self._list(cond, stdin, out, err) == 0:
                    return await self._list(body, stdin, out, err)
            return await self._list(node.orelse, stdin, out, err) if node.orelse else 0
        if isinstance(node, For):
            status = 0
            for value in [f for w in node.words for f in self.expand(w)]:
                self.vars[node.name] = value
                status = await self._list(node.body, stdin, out, err)
            return status
        assert isinstance(node, Group)
        if not node.subshell:
            return await self._list(node.body, stdin, out, err)
        saved = dict(self.vars)
        try:
            return await self._list(node.body, stdin, out, err)
        except ExitScript as stop:
            return stop.status
        finally:
            self.vars = saved

    async def _simple(self, cmd: Simple, stdin: str, out: Sink, err: Sink) -> int:
        words = [f for w in cmd.words for f in self.expand(w)]
        assignments = []
        while words and ASSIGN_RE.match(words[0]):
            assignments.append(words.pop(0).partition("="))
        if not words:
            self.vars.update({name: value for name, _, value in assignments})
            return 0
        fn = self.resolve(self, words[0])
        if fn is None:
            err(f"sh: {cmd.lineno}: {words[0]}: not found\n")
            return 127
        return await fn(Call(words, stdin, out, err, self, cmd.lineno))

    def _redirect(
        self, redirects: list[Redirect], lineno: int, stdin: str, out: Sink, err: Sink
    ) -> tuple[str, Sink, Sink] | int:
        """Apply redirections left to right: (stdin, stdout sink, stderr sink), or an exit status."""
        if not redirects:
            return stdin, out, err
        fds: dict[int, Sink] = {1: out, 2: err}
        prefix = f"sh: {lineno}: "
        for r in redirects:
            target = " ".join(self.expand(r.target))
            if r.op in (">&", "<&"):
                if target == "-":
                    fds[r.fd] = _discard
                elif target.isdigit() and int(target) in fds:
                    fds[r.fd] = fds[int(target)]
                else:
                    err(f"{prefix}{target}: Bad file descriptor\n")
                    return 2
            elif r.op == "<":
                content = "" if target == "/dev/null" else procfs.read(self.world, target)
                if content is None:
                    err(f"{prefix}cannot open {target}: No such file\n")
                    return 2
                stdin = content
            elif target == "/dev/null":
                fds[r.fd] = _discard
            elif target in ("/dev/stdout", "/dev/stderr"):
                fds[r.fd] = fds[1 if target.endswith("out") else 2]
            else:
                folder = target.rsplit("/", 1)[0] or "/"
                known = folder in procfs.DIRECTORIES or not target.startswith("/")
                reason = "Permission denied" if known else "Directory nonexistent"
                err(f"{prefix}cannot create {target}: {reason}\n")
                return 2
        return stdin, fds[1], fds[2]


def _discard(_text: str) -> None:
    return None
