"""Parsing for the simulated sh: text -> ``shlex`` tokens -> a small syntax tree.

Supported: lists (``;``, newline, ``&``), ``&&``/``||``, pipelines with ``!``, redirections
(``>``, ``>>``, ``<``, ``N>&M``), ``if/elif/else/fi``, ``for NAME in ...; do ...; done``, ``{ ...; }``
and ``( ... )``. Errors use dash's wording (``Syntax error: "fi" unexpected``).

``shlex`` removes quotes, so quoting is settled in a pre-pass first: quoted or escaped operator
characters become private placeholders (``grep '|'`` stays a word), ``$NAME`` becomes a marker that
remembers whether it was inside double quotes (expanded at run time, after ``$?`` is known),
comments are dropped, and an fd number glued to a redirection (``2>``) is tagged, because
``shlex`` cannot tell ``2>x`` from ``2 >x``.
"""

from __future__ import annotations

import functools
import re
import shlex
from dataclasses import dataclass, field

OPERATOR_CHARS = ";&|<>()\n"
PLACEHOLDER = {c: chr(0xE000 + i) for i, c in enumerate(OPERATOR_CHARS)}
UNPLACE = str.maketrans({v: k for k, v in PLACEHOLDER.items()})
REDIRS = (">", ">>", ">&", "<", "<&")
OPERATORS = ("&&", "||", ">>", ">&", "<&", ";", "&", "|", ">", "<", "(", ")", "\n")
SEPARATORS = (";", "&", "\n")
RESERVED = ("then", "elif", "else", "fi", "do", "done", "}")
QVAR, QEND, UVAR, UEND, FD_TAG = "\x01", "\x02", "\x03", "\x04", "\x05"
VAR_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*|[?$#0-9])\}|([A-Za-z_][A-Za-z0-9_]*|[?$#0-9])")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ShellSyntaxError(Exception):
    """The script cannot be parsed; the message is dash's wording after ``Syntax error: ``."""

    def __init__(self, message: str, lineno: int = 1) -> None:
        super().__init__(message)
        self.lineno = lineno


@dataclass(slots=True)
class Redirect:
    fd: int
    op: str
    target: str


@dataclass(slots=True)
class Simple:
    words: list[str]
    redirects: list[Redirect]
    lineno: int


@dataclass(slots=True)
class If:
    branches: list[tuple[list[AndOr], list[AndOr]]]
    orelse: list[AndOr] | None
    redirects: list[Redirect]
    lineno: int


@dataclass(slots=True)
class For:
    name: str
    words: list[str]
    body: list[AndOr]
    redirects: list[Redirect]
    lineno: int


@dataclass(slots=True)
class Group:
    body: list[AndOr]
    subshell: bool
    redirects: list[Redirect]
    lineno: int


Node = Simple | If | For | Group


@dataclass(slots=True)
class Pipeline:
    commands: list[Node]
    negate: bool = False


@dataclass(slots=True)
class AndOr:
    first: Pipeline
    rest: list[tuple[str, Pipeline]] = field(default_factory=list)


def _premark(script: str) -> str:
    """Settle what ``shlex`` cannot see: quoted operators, ``$`` expansions, comments, fd tags."""
    out: list[str] = []
    i, n, quote = 0, len(script), ""
    while i < n:
        c = script[i]
        word_start = i == 0 or script[i - 1] in " \t\r" + OPERATOR_CHARS
        if quote == "'":
            out.append(PLACEHOLDER.get(c, c))
            quote = "" if c == "'" else quote
        elif c == "\\" and i + 1 < n:
            nxt = script[i + 1]
            if nxt != "\n":
                keep = "" if (not quote or nxt in '$"\\`') else "\\"
                out.append(keep + ("\\" + nxt if nxt in "\"'\\" else PLACEHOLDER.get(nxt, nxt)))
            i += 2
            continue
        elif c == "$" and (m := VAR_RE.match(script, i + 1)):
            name = m.group(1) or m.group(2)
            out.append((QVAR + name + QEND) if quote else (UVAR + name + UEND))
            i = m.end()
            continue
        elif quote == '"':
            out.append(PLACEHOLDER.get(c, c))
            quote = "" if c == '"' else quote
        elif c in "'\"":
            out.append(c)
            quote = c
        elif c == "#" and word_start:
            while i < n and script[i] != "\n":
                i += 1
            continue
        elif c.isdigit() and word_start and i + 1 < n and script[i + 1] in "<>":
            out.append(FD_TAG + c)
        else:
            out.append(c)
        i += 1
    if quote:
        raise ShellSyntaxError("Unterminated quoted string", script.count("\n") + 1)
    return "".join(out)


def tokenize(script: str) -> list[str]:
    """Words (still holding markers) and operators, each operator its own token."""
    lexer = shlex.shlex(_premark(script), posix=True, punctuation_chars=OPERATOR_CHARS)
    lexer.whitespace, lexer.commenters, lexer.whitespace_split = " \t\r", "", True
    tokens: list[str] = []
    try:
        while (tok := lexer.get_token()) is not None:
            if tok and all(ch in OPERATOR_CHARS for ch in tok):
                while tok:
                    op = next(o for o in OPERATORS if tok.startswith(o))
                    tokens.append(op)
                    tok = tok[len(op) :]
            else:
                tokens.append(tok)
    except ValueError as exc:
        raise ShellSyntaxError("Unterminated quoted string") from exc
    return tokens


def _unexpected(tok: str | None) -> str:
    if tok is None:
        return "end of file unexpected"
    return "newline unexpected" if tok == "\n" else f'"{tok}" unexpected'


class _Parser:
    """Recursive descent over the token list; ``line`` follows the newlines consumed."""

    def __init__(self, tokens: list[str]) -> None:
        self.toks, self.pos, self.line = tokens, 0, 1

    def peek(self) -> str | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> str:
        tok = self.toks[self.pos]
        self.pos += 1
        self.line += tok == "\n"
        return tok

    def fail(self, expecting: str | None = None) -> ShellSyntaxError:
        suffix = f' (expecting "{expecting}")' if expecting else ""
        return ShellSyntaxError(_unexpected(self.peek()) + suffix, self.line)

    def expect(self, word: str) -> None:
        if self.peek() != word:
            raise self.fail(word)
        self.take()

    def skip_newlines(self) -> None:
        while self.peek() == "\n":
            self.take()

    def list_(self, stop: tuple[str, ...]) -> list[AndOr]:
        items: list[AndOr] = []
        self.skip_newlines()
        while (tok := self.peek()) is not None and tok not in stop:
            items.append(self.and_or(stop))
            tok = self.peek()
            if tok in SEPARATORS:
                self.take()
                self.skip_newlines()
            elif tok is not None and tok not in stop:
                raise self.fail()
        return items

    def and_or(self, stop: tuple[str, ...]) -> AndOr:
        node = AndOr(self.pipeline(stop))
        while self.peek() in ("&&", "||"):
            op = self.take()
            self.skip_newlines()
            node.rest.append((op, self.pipeline(stop)))
        return node

    def pipeline(self, stop: tuple[str, ...]) -> Pipeline:
        negate = self.peek() == "!"
        if negate:
            self.take()
        pipe = Pipeline([self.command(stop)], negate)
        while self.peek() == "|":
            self.take()
            self.skip_newlines()
            pipe.commands.append(self.command(stop))
        return pipe

    def command(self, stop: tuple[str, ...]) -> Node:
        tok, line = self.peek(), self.line
        if tok == "if":
            node: Node = self.if_(line)
        elif tok == "for":
            node = self.for_(line)
        elif tok in ("{", "("):
            self.take()
            closer = "}" if tok == "{" else ")"
            body = self.list_((closer,))
            if not body:
                raise self.fail()
            self.expect(closer)
            node = Group(body, tok == "(", [], line)
        elif tok is None or tok in RESERVED or (tok in OPERATORS and tok not in REDIRS):
            raise self.fail()
        else:
            return self.simple(line)
        node.redirects = self.redirects([])
        return node

    def if_(self, line: int) -> If:
        self.take()
        branches, orelse = [], None
        while True:
            cond = self.list_(("then",))
            self.expect("then")
            body = self.list_(("elif", "else", "fi"))
            if not cond or not body:
                raise self.fail()
            branches.append((cond, body))
            if self.peek() not in ("elif", "else", "fi"):
                raise self.fail("fi")
            word = self.take()
            if word == "elif":
                continue
            if word == "else":
                orelse = self.list_(("fi",))
                self.expect("fi")
            return If(branches, orelse, [], line)

    def for_(self, line: int) -> For:
        self.take()
        name = self.peek()
        if name is None or not NAME_RE.match(name):
            raise self.fail()
        self.take()
        words: list[str] = []
        if self.peek() == "in":
            self.take()
            while (tok := self.peek()) is not None and tok not in OPERATORS:
                words.append(self.take())
        if self.peek() in (";", "\n"):
            self.take()
        self.skip_newlines()
        self.expect("do")
        body = self.list_(("done",))
        self.expect("done")
        return For(name, words, body, [], line)

    def redirects(self, into: list[Redirect], words: list[str] | None = None) -> list[Redirect]:
        """Redirections (and, for simple commands, words) up to the next operator."""
        while (tok := self.peek()) is not None and (tok not in OPERATORS or tok in REDIRS):
            fd = None
            if tok.startswith(FD_TAG) and self.pos + 1 < len(self.toks) and self.toks[self.pos + 1] in REDIRS:
                fd = int(self.take()[1:])
                tok = self.toks[self.pos]
            if tok in REDIRS:
                self.take()
                target = self.peek()
                if target is None or target in OPERATORS:
                    raise self.fail()
                into.append(Redirect((0 if tok[0] == "<" else 1) if fd is None else fd, tok, self.take()))
            elif words is None:
                raise self.fail()
            else:
                words.append(self.take().replace(FD_TAG, ""))
        return into

    def simple(self, line: int) -> Simple:
        node = Simple([], [], line)
        self.redirects(node.redirects, node.words)
        return node


@functools.lru_cache(maxsize=512)
def parse(script: str) -> tuple[AndOr, ...]:
    """The script as and-or lists; raises :class:`ShellSyntaxError`.

    Cached: hundreds of simulated nodes receive the same probe text every refresh, and the tree
    is never mutated by the executor, so parsing once per distinct script is enough.
    """
    parser = _Parser(tokenize(script))
    items = parser.list_(())
    if parser.peek() is not None:
        raise parser.fail()
    return tuple(items)
