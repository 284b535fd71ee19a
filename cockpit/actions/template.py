"""Command templates read the way ``sh`` will read them, so a value can never land inside quotes.

``{container}`` is replaced by ``shlex.quote(value)``. That is safe only where the shell sees the
text unquoted: inside ``'...'`` or ``"..."`` the quote marks of the value would end the operator's
own quotes. So the template is scanned once, with sh's quoting rules, when the config is loaded:
a placeholder (or a ``${env:VAR}`` secret) inside quotes or after a here-document is an error, as is
an unknown ``{name}`` outside them (a typo such as ``{contianer}`` would otherwise run literally).
Quoting protects the template's syntax, not what the template does with a value: a template that
hands one to ``eval`` or ``sh -c`` runs it as code, by the config author's own choice. The scan also notes
whether the command is one simple command (no ``; | & < > ( )`` or newline outside quotes, no
``$`` or backquote outside single quotes): only such a command can take a plain ``sudo -n`` prefix
or run locally without a shell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from cockpit.secrets import SecretRef

SUBJECT_FIELDS = (
    "node",
    "host",
    "user",
    "gpu",
    "pids",
    "container",
    "project",
    "stack_dir",
    "unit",
    "service",
    "kubectl",
    "pod",
    "namespace",
    "deployment",
)
"""Every ``{name}`` a template may use besides ``{input.NAME}``; which ones a scope offers is in
:data:`cockpit.actions.schema.SCOPE_FIELDS`."""
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}")
_SECRET = re.compile(r"\$\{(?:env|file):[^}]+\}")
_OPERATORS = frozenset(";|&<>()`\n")


class TemplateError(ValueError):
    """One line saying what is wrong with a template and how to write it instead."""


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str
    """``container``, ``gpu``, ... or ``input.watts``."""

    @property
    def input_name(self) -> str | None:
        return self.name.removeprefix("input.") if self.name.startswith("input.") else None


@dataclass(frozen=True, slots=True)
class Secret:
    ref: SecretRef


Part = str | Placeholder | Secret


@dataclass(frozen=True, slots=True)
class Template:
    parts: tuple[Part, ...]
    simple: bool
    """One simple command: no operator or newline outside quotes, no ``$``/backquote outside ``'...'``."""
    shell_syntax: str | None
    """The first shell operator found outside quotes (for a local action's error), if any."""

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(p for p in self.parts if isinstance(p, Placeholder))

    @property
    def secrets(self) -> tuple[SecretRef, ...]:
        return tuple(p.ref for p in self.parts if isinstance(p, Secret))


def _known(name: str) -> bool:
    return name in SUBJECT_FIELDS or name.startswith("input.")


@lru_cache(maxsize=512)
def parse(text: str) -> Template:
    """Split ``text`` into literal text, placeholders and secrets; raises :class:`TemplateError`."""
    if "\x00" in text:
        raise TemplateError("the command contains a NUL character")
    parts: list[Part] = []
    literal: list[str] = []
    quote = ""  # "", "'" or '"'
    operator: str | None = None
    heredoc = False
    i = 0

    def flush() -> None:
        if literal:
            parts.append("".join(literal))
            literal.clear()

    while i < len(text):
        ch = text[i]
        if quote == "'":
            placeholder = _PLACEHOLDER.match(text, i) if ch == "{" else None
            if placeholder and _known(placeholder.group(1)):
                raise TemplateError(
                    f"{placeholder.group(0)} is inside single quotes, where it would run as that text"
                    " (put it outside quotes: its value is quoted for you)"
                )
            literal.append(ch)
            quote = "" if ch == "'" else quote
            i += 1
            continue
        secret = _SECRET.match(text, i) if ch == "$" else None
        placeholder = _PLACEHOLDER.match(text, i) if ch == "{" else None
        if quote == '"':
            if secret or (placeholder and _known(placeholder.group(1))):
                found = (secret or placeholder).group(0)  # type: ignore[union-attr]
                raise TemplateError(
                    f"{found} is inside double quotes (put it outside quotes: its value is quoted for you)"
                )
            if ch == "\\" and i + 1 < len(text):
                literal.append(text[i : i + 2])
                i += 2
                continue
            if operator is None and ch in "$`":
                operator = ch
            quote = "" if ch == '"' else quote
            literal.append(ch)
            i += 1
            continue
        if ch == "\\" and i + 1 < len(text):
            literal.append(text[i : i + 2])
            i += 2
            continue
        if ch == "$" and text[i + 1 : i + 2] in ("'", '"'):
            raise TemplateError(
                f"bash's {text[i : i + 2]}...{text[i + 1]} quoting is not understood here (use plain quotes)"
            )
        if (secret or (placeholder and _known(placeholder.group(1)))) and heredoc:
            found = (secret or placeholder).group(0)  # type: ignore[union-attr]
            raise TemplateError(
                f"{found} follows a here-document (<<), whose body the shell expands even inside"
                " quotes (pass the value as an argument instead)"
            )
        if secret:
            ref = SecretRef.parse(secret.group(0))
            assert ref is not None
            flush()
            parts.append(Secret(ref))
            i = secret.end()
            continue
        if placeholder and not (literal and literal[-1].endswith("$")):
            name = placeholder.group(1)
            if not _known(name):
                names = ", ".join(f"{{{n}}}" for n in SUBJECT_FIELDS)
                raise TemplateError(
                    f"unknown placeholder {{{name}}} (expected one of {names} or {{input.NAME}};"
                    " quote it to mean the text itself)"
                )
            flush()
            parts.append(Placeholder(name))
            i = placeholder.end()
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "<" and text.startswith("<<", i):
            heredoc = True
            operator = operator or "<"
        elif operator is None and (ch in _OPERATORS or ch == "$"):
            operator = "newline" if ch == "\n" else ch
        literal.append(ch)
        i += 1
    if quote:
        raise TemplateError(f"the command has an unclosed {quote} quote")
    flush()
    return Template(tuple(parts), simple=operator is None, shell_syntax=operator)
