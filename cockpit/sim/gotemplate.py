"""Go ``text/template``, the subset docker's ``--format`` uses, with Go's own error messages.

Supported: text and ``{{ }}`` actions with ``{{-``/``-}}`` trimming; field chains (``.State.Status``),
``$`` and range/with variables, string/number/bool literals, parenthesised pipelines, ``|``; the
``if``/``else``/``range``/``with``/``end`` blocks; docker's functions (json, join, split, lower,
upper, title, pad, truncate) and Go's builtins (index, len, print, printf, println, eq, ne, lt, le,
gt, ge, and, or, not). Values print as Go's ``%v`` does (``map[k:v]``, ``[a b]``, ``true``,
``<no value>``). Data is plain dicts and lists (docker inspect's JSON) or a :class:`GoStruct`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

TOKEN_RE = re.compile(
    r'\s+|(?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)|(?P<var>\$\w*(?:\.\w+)*)|(?P<field>(?:\.\w+)+|\.)'
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<decl>:=|=)|(?P<punct>[|(),])|(?P<ident>[A-Za-z_]\w*(?:\.\w+)*)"
)
KEYWORDS = ("if", "else", "end", "range", "with")


class TemplateError(Exception):
    """A parse or execution error, worded as Go words it (``template: :1:2: executing ...``)."""


class GoStruct:
    """A typed value: fields answer through :meth:`go_field`; ``go_type`` names it in errors."""

    go_type = "struct"

    def go_field(self, name: str, args: list[object]) -> object:
        raise KeyError(name)

    def go_json(self) -> str | None:
        """Its JSON as Go's encoder writes it, or None to encode it as a plain value."""
        return None


Word = tuple[str, object, int, str]
"""(kind, value, position in the source, source text) of one operand."""


@dataclass(slots=True)
class Cmd:
    """One command of a pipeline: a field/variable/literal/function name and its arguments."""

    words: list[Word]
    pos: int
    text: str


@dataclass(slots=True)
class Pipe:
    cmds: list[Cmd]
    decl: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Block:
    kind: str
    pipe: Pipe | None
    body: list[object] = field(default_factory=list)
    orelse: list[object] = field(default_factory=list)


def go_str(value: object) -> str:
    """``fmt``'s ``%v`` for the values a template meets."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}" if value != int(value) or abs(value) >= 1e21 else str(int(value))
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_str(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    return str(value)


def go_json(value: object, escape_html: bool = False) -> str:
    """encoding/json's compact output; ``escape_html`` as json.Marshal (not an Encoder) does."""
    if isinstance(value, GoStruct) and (raw := value.go_json()) is not None:
        return raw
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if escape_html:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text


def _truth(v: object) -> bool:
    return bool(v) if not isinstance(v, GoStruct) else True


def _cmp(op: Callable[[object, object], bool]) -> Callable[..., bool]:
    def run(a: object, *rest: object) -> bool:
        return all(op(a, b) for b in rest) if op is _eq else op(a, rest[0])  # type: ignore[index]

    return run


def _eq(a: object, b: object) -> bool:
    return a == b


def _index(item: object, *keys: object) -> object:
    for key in keys:
        if isinstance(item, dict):
            item = item.get(key)  # a missing key gives the zero value, as Go's index does
        elif isinstance(item, list | tuple | str):
            if not isinstance(key, int) or not 0 <= key < len(item):
                raise IndexError(f"index out of range: {key}")
            item = item[key]
        else:
            raise TypeError(f"can't index item of type {_go_type(item)}")
    return item


def _and(*args: object) -> object:
    return next((a for a in args if not _truth(a)), args[-1])


def _or(*args: object) -> object:
    return next((a for a in args if _truth(a)), args[-1])


FUNCS: dict[str, Callable[..., object]] = {
    "json": lambda v: go_json(v),
    "join": lambda items, sep: sep.join(go_str(i) for i in items),
    "split": lambda s, sep: s.split(sep),
    "lower": lambda s: go_str(s).lower(),
    "upper": lambda s: go_str(s).upper(),
    "title": lambda s: re.sub(r"\b([a-z])", lambda m: m.group(1).upper(), go_str(s)),
    "pad": lambda s, a, b: s if s == "" else " " * a + s + " " * b,
    "truncate": lambda s, n: s if len(s) < n else s[:n],
    "len": lambda v: len(v),  # type: ignore[arg-type]
    "print": lambda *a: "".join(go_str(x) for x in a),
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "printf": lambda fmt, *a: re.sub(r"%[-+ #0]*\d*(?:\.\d+)?[vsdqt]", "{}", fmt).format(*map(go_str, a)),
    "eq": _cmp(_eq),
    "ne": _cmp(lambda a, b: a != b),
    "lt": _cmp(lambda a, b: a < b),  # type: ignore[operator]
    "le": _cmp(lambda a, b: a <= b),  # type: ignore[operator]
    "gt": _cmp(lambda a, b: a > b),  # type: ignore[operator]
    "ge": _cmp(lambda a, b: a >= b),  # type: ignore[operator]
    "not": lambda v: not _truth(v),
    "index": _index,
    "and": _and,
    "or": _or,
}


class Template:
    """A parsed template; :meth:`execute` renders it against one value."""

    def __init__(self, source: str, funcs: dict[str, Callable[..., object]] | None = None) -> None:
        self.source = source
        self.funcs = {**FUNCS, **(funcs or {})}
        self.nodes = self._parse()

    # -- parsing -------------------------------------------------------------------------------

    def _line(self, pos: int) -> int:
        return self.source.count("\n", 0, pos) + 1

    def _fail(self, pos: int, msg: str) -> TemplateError:
        return TemplateError(f"template: :{self._line(pos)}: {msg}")

    def _parse(self) -> list[object]:
        src, pos = self.source, 0
        root: list[object] = []
        stack: list[tuple[Block, list[object]]] = []
        out = root
        while True:
            start = src.find("{{", pos)
            if start < 0:
                out.append(src[pos:])
                break
            end = src.find("}}", start + 2)
            if end < 0:
                raise self._fail(start, "unclosed action")
            inner_start, inner_end = start + 2, end
            text = src[pos:start]
            if src.startswith("{{- ", start) or src.startswith("{{-\t", start):
                text, inner_start = text.rstrip(), start + 3
            trim_after = src[end - 2 : end] in (" -", "\t-")
            if trim_after:
                inner_end = end - 2
            out.append(text)
            pos = end + 2
            if trim_after:
                pos = len(src) - len(src[pos:].lstrip())
            body = src[inner_start:inner_end]
            if body.strip().startswith("/*"):
                continue
            words = body.split(None, 1)
            head = words[0] if words else ""
            if head in ("if", "range", "with"):
                block = Block(head, self._pipe(body[body.index(head) + len(head) :], inner_start))
                out.append(block)
                stack.append((block, out))
                out = block.body
            elif head == "else":
                if not stack:
                    raise self._fail(start, "unexpected {{else}}")
                out = stack[-1][0].orelse
            elif head == "end":
                if not stack:
                    raise self._fail(start, "unexpected {{end}}")
                out = stack.pop()[1]
            else:
                out.append(self._pipe(body, inner_start))
        if stack:
            raise self._fail(len(src), f"unexpected EOF in {stack[-1][0].kind}")
        return root

    def _pipe(self, text: str, base: int) -> Pipe:
        tokens: list[tuple[str, str, int]] = []
        i = 0
        while i < len(text):
            m = TOKEN_RE.match(text, i)
            if m is None:
                raise self._fail(base + i, f"unexpected {text[i]!r} in command")
            if m.lastgroup:
                tokens.append((m.lastgroup, m.group(), base + i))
            i = m.end()
        pipe = Pipe([])
        if len(tokens) >= 2 and tokens[0][0] == "var" and tokens[1][0] == "decl":
            pipe.decl, tokens = [tokens[0][1]], tokens[2:]
        elif len(tokens) >= 4 and tokens[1][1] == "," and tokens[3][0] == "decl":
            pipe.decl, tokens = [tokens[0][1], tokens[2][1]], tokens[4:]
        self._commands(tokens, pipe)
        if not pipe.cmds:
            raise self._fail(base, "missing value for command")
        return pipe

    def _commands(self, tokens: list[tuple[str, str, int]], pipe: Pipe) -> None:
        i = 0
        words: list[Word] = []
        start = tokens[0][2] if tokens else 0
        while i < len(tokens):
            kind, text, pos = tokens[i]
            if text == "|":
                pipe.cmds.append(Cmd(words, start, self._span(start, pos)))
                words, start = [], tokens[i + 1][2] if i + 1 < len(tokens) else pos
            elif text == "(":
                depth, j = 1, i + 1
                while j < len(tokens) and depth:
                    depth += {"(": 1, ")": -1}.get(tokens[j][1], 0)
                    j += 1
                if depth:
                    raise self._fail(pos, "unclosed left paren")
                inner = Pipe([])
                self._commands(tokens[i + 1 : j - 1], inner)
                chain = ""
                if j < len(tokens) and tokens[j][0] == "field" and tokens[j][2] == tokens[j - 1][2] + 1:
                    chain, j = tokens[j][1], j + 1
                end = tokens[j - 1][2] + len(tokens[j - 1][1])
                words.append(("paren", (inner, chain), pos, self.source[pos:end]))
                i = j
                continue
            elif text == ")":
                raise self._fail(pos, "unexpected right paren")
            elif kind == "ident" and text.split(".")[0] not in ("true", "false", "nil"):
                name = text.split(".")[0]
                if name not in self.funcs or name in KEYWORDS:
                    raise self._fail(pos, f'function "{name}" not defined')
                words.append(("func", name, pos, text))
            elif kind == "ident":
                words.append(("lit", {"true": True, "false": False, "nil": None}[text], pos, text))
            elif kind == "str":
                words.append(("lit", text[1:-1] if text[0] == "`" else json.loads(text), pos, text))
            elif kind == "num":
                words.append(("lit", float(text) if "." in text else int(text), pos, text))
            else:
                words.append((kind, text, pos, text))
            i += 1
        if words:
            pipe.cmds.append(Cmd(words, start, self._span(start, tokens[-1][2] + len(tokens[-1][1]))))

    def _span(self, start: int, end: int) -> str:
        return self.source[start:end].strip().rstrip("|").strip()

    # -- execution -----------------------------------------------------------------------------

    def execute(self, data: object) -> str:
        out: list[str] = []
        self._run(self.nodes, data, {"$": data}, out)
        return "".join(out)

    def _run(self, nodes: list[object], dot: object, env: dict[str, object], out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
            elif isinstance(node, Pipe):
                value = self._pipe_value(node, dot, env)
                if not node.decl:
                    out.append(go_str(value))
            else:
                assert isinstance(node, Block) and node.pipe is not None
                value = self._pipe_value(node.pipe, dot, env, declare=node.kind != "range")
                if node.kind == "range":
                    items = list(value.items()) if isinstance(value, dict) else list(enumerate(value or []))  # type: ignore[arg-type]
                    if isinstance(value, dict):
                        items.sort()
                    for k, v in items:
                        scope = dict(env)
                        if len(node.pipe.decl) == 2:
                            scope[node.pipe.decl[0]], scope[node.pipe.decl[1]] = k, v
                        elif node.pipe.decl:
                            scope[node.pipe.decl[0]] = v
                        self._run(node.body, v, scope, out)
                    if not items:
                        self._run(node.orelse, dot, env, out)
                elif _truth(value):
                    self._run(node.body, value if node.kind == "with" else dot, env, out)
                else:
                    self._run(node.orelse, dot, env, out)

    def _pipe_value(self, pipe: Pipe, dot: object, env: dict[str, object], declare: bool = True) -> object:
        value: object = None
        for i, cmd in enumerate(pipe.cmds):
            value = self._cmd(cmd, dot, env, [value] if i else [])
        if pipe.decl and declare:
            env[pipe.decl[0]] = value
        return value

    def _error(self, pos: int, text: str, msg: str) -> TemplateError:
        line = self._line(pos)
        col = pos - (self.source.rfind("\n", 0, pos) + 1)
        return TemplateError(f'template: :{line}:{col}: executing "" at <{text}>: {msg}')

    def _cmd(self, cmd: Cmd, dot: object, env: dict[str, object], piped: list[object]) -> object:
        head, rest = cmd.words[0], cmd.words[1:]
        args = [self._word(w, dot, env) for w in rest] + piped
        if head[0] == "func":
            try:
                return self.funcs[str(head[1])](*args)
            except (TypeError, ValueError, IndexError, KeyError, AttributeError) as exc:
                raise self._error(cmd.pos, cmd.text, f"error calling {head[1]}: {exc}") from None
        if args and head[0] not in ("field", "var", "paren"):
            raise self._error(cmd.pos, cmd.text, f"can't give argument to non-function {head[3]}")
        return self._word(head, dot, env, args)

    def _word(
        self, word: Word, dot: object, env: dict[str, object], args: list[object] | None = None
    ) -> object:
        kind, value, pos, text = word
        if kind == "lit":
            return value
        if kind == "func":
            return self.funcs[str(value)]()
        if kind == "paren":
            inner, chain = value  # type: ignore[misc]
            base = self._pipe_value(inner, dot, env)
            return self._chain(pos, text, base, chain.split(".")[1:], args or [])
        parts = str(value).split(".")
        # Go's parser gives a chain (.A.B, $x.A) the position of its second element
        epos = pos + len(parts[0]) + (len(parts[1]) + 1 if kind == "field" and len(parts) > 2 else 0)
        if kind == "var":
            if parts[0] not in env:
                raise self._error(pos, text, f"undefined variable: {parts[0]}")
            return self._chain(epos if len(parts) > 1 else pos, text, env[parts[0]], parts[1:], args or [])
        names = [] if value == "." else parts[1:]
        return self._chain(epos if len(names) > 1 else pos, text, dot, names, args or [])

    def _chain(self, pos: int, text: str, value: object, names: list[str], args: list[object]) -> object:
        for i, name in enumerate(names):
            last = i == len(names) - 1
            if isinstance(value, GoStruct):
                try:
                    value = value.go_field(name, args if last else [])
                except KeyError:
                    raise self._error(
                        pos, text, f"can't evaluate field {name} in type {value.go_type}"
                    ) from None
            elif isinstance(value, dict):
                if name not in value:
                    raise self._error(pos, text, f'map has no entry for key "{name}"')
                value = value[name]
            elif value is None:
                raise self._error(pos, text, f"nil pointer evaluating interface {{}}.{name}")
            else:
                raise self._error(pos, text, f"can't evaluate field {name} in type {_go_type(value)}")
        return value


def _go_type(value: object) -> str:
    return {bool: "bool", int: "int", float: "float64", str: "string", list: "[]interface {}"}.get(
        type(value), "interface {}"
    )
