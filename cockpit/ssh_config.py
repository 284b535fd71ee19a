"""The ``Host`` entries of an OpenSSH client config, each resolved the way ``ssh -G`` resolves it.

Why our own reader rather than asyncssh's: asyncssh resolves the options for one host it is about to
connect to; it cannot list the entries, and it evaluates ``Match`` against this machine. ``cockpit
init`` needs the list. Resolution follows ssh_config(5): for each keyword the first value obtained
wins, reading in file order every block whose ``Host`` patterns match (``*``, ``?``, ``!negation``);
``Include`` is read in place (relative paths from ``~/.ssh``). ``Match`` blocks are skipped, with a
note. The tests check every resolved field against real ``ssh -G`` output.
"""

from __future__ import annotations

import glob
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

MAX_INCLUDE_DEPTH = 16
"""OpenSSH's own limit on nested Include."""


@dataclass(frozen=True, slots=True)
class SshHost:
    """One alias as ssh would connect to it; ``None`` where the config says nothing."""

    alias: str
    hostname: str
    """HostName with ``%h`` expanded; the alias itself when unset."""
    user: str | None = None
    port: int | None = None
    proxy_jump: str | None = None
    """The ProxyJump value as written (``none`` read as no jump)."""
    proxy_command: str | None = None
    identity_files: tuple[str, ...] = ()
    where: str = ""
    """``FILE:LINE`` of the Host line that named the alias."""


@dataclass(frozen=True, slots=True)
class _Option:
    patterns: tuple[str, ...] | None
    """The Host patterns of its block; None before the first Host (applies to every host)."""
    keyword: str
    args: tuple[str, ...]
    where: str


@dataclass
class SshConfig:
    options: list[_Option] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    """Concrete aliases (no wildcard, not negated) in the order first named -> where."""
    notes: list[str] = field(default_factory=list)

    def resolve(self, alias: str) -> SshHost:
        first: dict[str, tuple[tuple[str, ...], str]] = {}
        identities: list[str] = []
        for option in self.options:
            if option.patterns is not None and not host_matches(alias, option.patterns):
                continue
            if option.keyword == "identityfile":
                identities.extend(option.args[:1])
            elif option.keyword not in first:
                first[option.keyword] = (option.args, option.where)
        hostname = alias
        if "hostname" in first:
            args, where = first["hostname"]
            hostname = self._expand(args[0], alias, where) if args else alias
        user = first.get("user", ((None,), ""))[0][0] if "user" in first else None
        port = self._port(*first["port"]) if "port" in first else None
        jump = first.get("proxyjump", ((None,), ""))[0][0] if "proxyjump" in first else None
        command = " ".join(first["proxycommand"][0]) if "proxycommand" in first else None
        return SshHost(
            alias=alias,
            hostname=hostname,
            user=user,
            port=port,
            proxy_jump=None if jump is None or jump.lower() == "none" else jump,
            proxy_command=None if command is None or command.lower() == "none" else command,
            identity_files=tuple(identities),
            where=self.aliases.get(alias, ""),
        )

    def hosts(self) -> list[SshHost]:
        return [self.resolve(alias) for alias in self.aliases]

    def _expand(self, value: str, alias: str, where: str) -> str:
        """``%h`` (the alias) and ``%%``; any other token cannot be known here."""
        out = re.sub(r"%(.)", lambda m: {"h": alias, "%": "%"}.get(m.group(1), m.group(0)), value)
        if "%" in out.replace("%%", ""):
            self.notes.append(
                f"{where}: HostName {value!r} uses a token only ssh can expand; using it as written"
            )
        return out

    def _port(self, args: tuple[str, ...], where: str) -> int | None:
        text = args[0] if args else ""
        if text.isdigit() and 1 <= int(text) <= 65535:
            return int(text)
        self.notes.append(f"{where}: Port {text!r} is not a port number; ignored")
        return None


def host_matches(alias: str, patterns: tuple[str, ...]) -> bool:
    """ssh's Host rule: some pattern matches and no negated one does (case-sensitive)."""
    matched = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if _wildcard(pattern[1:] if negated else pattern).fullmatch(alias):
            if negated:
                return False
            matched = True
    return matched


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _wildcard(pattern: str) -> re.Pattern[str]:
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        compiled = _PATTERNS[pattern] = re.compile(body, re.DOTALL)
    return compiled


def parse_ssh_config(path: str | Path, *, ssh_dir: str | Path | None = None) -> SshConfig:
    """Read ``path`` and what it includes; a file that cannot be read becomes a note, not an error,
    except ``path`` itself (OSError)."""
    config = SshConfig()
    base = Path(ssh_dir) if ssh_dir is not None else Path("~/.ssh").expanduser()
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    _read(config, text, str(path), base, None, 0)
    return config


_KEYWORD = re.compile(r"\s*([^\s=]+)(?:\s*=\s*|\s+|$)(.*)$")


def _split(line: str) -> tuple[str, list[str]] | None:
    """``Keyword args`` or ``Keyword=args``; arguments may be quoted, ``#`` starts a comment."""
    match = _KEYWORD.match(line)
    if match is None:
        return None
    lexer = shlex.shlex(match.group(2), posix=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    return match.group(1).lower(), list(lexer)


def _read(
    config: SshConfig,
    text: str,
    name: str,
    base: Path,
    block: tuple[str, ...] | bool | None,
    depth: int,
) -> tuple[str, ...] | bool | None:
    """Read one file in the block context ``block`` (False: inside a skipped Match). Returns the
    context at the end of the file; the caller restores its own after an Include, as ssh does."""
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{name}:{lineno}"
        try:
            parsed = _split(stripped)
        except ValueError:
            config.notes.append(f"{where}: unbalanced quotes; line skipped")
            continue
        if parsed is None:
            continue
        keyword, args = parsed
        if keyword == "host":
            block = tuple(args)
            for pattern in args:
                if not any(c in pattern for c in "*?!") and pattern not in config.aliases:
                    config.aliases[pattern] = where
        elif keyword == "match":
            block = False
            config.notes.append(f"{where}: Match block skipped (the cockpit reads Host blocks only)")
        elif keyword == "include":
            if depth >= MAX_INCLUDE_DEPTH:
                config.notes.append(f"{where}: Include nested too deep; skipped")
                continue
            for pattern in args:
                _include(config, pattern, where, base, block, depth)
        elif not isinstance(block, bool):
            config.options.append(_Option(block, keyword, tuple(args), where))
    return block


def _include(
    config: SshConfig, pattern: str, where: str, base: Path, block: tuple[str, ...] | bool | None, depth: int
) -> None:
    expanded = Path(pattern).expanduser()
    full = expanded if expanded.is_absolute() else base / expanded
    matches = sorted(glob.glob(str(full)))
    if not matches:
        config.notes.append(f"{where}: Include {pattern} matched no file")
    for found in matches:
        try:
            text = Path(found).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            config.notes.append(f"{where}: cannot read {found}: {exc.strerror or exc}")
            continue
        _read(config, text, found, base, block, depth + 1)
