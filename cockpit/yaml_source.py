"""YAML with positions: plain Python values plus where each one was written.

Operators fix config errors from the message alone, so every error must say ``file:line:col``.
PyYAML's composer keeps marks on its nodes; we walk that tree once and keep a map from the value's
path (``("nodes", 2, "port")``) to its 1-based line and column. Duplicate keys, which PyYAML would
silently collapse (losing the first value), are an error here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Loc = tuple[str | int, ...]
MAX_VALUES = 100_000
"""More values than any cluster.yaml has: aliases of aliases ("billion laughs") stop here."""


def _printable(text: str) -> str:
    """Escape what would break the one-line promise (newlines) or reach the terminal (ESC)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ConfigError(Exception):
    """A configuration problem, already formatted as one line an operator can act on."""

    def __init__(self, line: str) -> None:
        line = _printable(line)
        super().__init__(line)
        self.line = line


@dataclass(frozen=True, slots=True)
class Positioned:
    """Parsed YAML data and the position of every key and value in it."""

    data: Any
    path: str
    positions: dict[Loc, tuple[int, int]]
    key_positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    """Where the key of each mapping entry was written (an unknown field is its key, not its value)."""

    def where(self, loc: Loc) -> tuple[int, int]:
        """The position of ``loc``, or of its nearest written ancestor (a missing key's parent)."""
        probe = tuple(loc)
        while probe:
            if probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return self.positions.get((), (1, 1))

    def error(self, loc: Loc, message: str, *, at_key: bool = False) -> ConfigError:
        key_at = self.key_positions.get(tuple(loc)) if at_key else None
        line, col = key_at or self.where(loc)
        field = format_loc(loc)
        prefix = f"{self.path}:{line}:{col}: "
        return ConfigError(prefix + (f"{field}: {message}" if field else message))


def format_loc(loc: Loc) -> str:
    """``("nodes", 2, "port")`` -> ``nodes[2].port``; a key that is not a plain word is quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = str(part)
            if not name or not name.isprintable() or any(c in name for c in " .[]"):
                name = repr(name)
            out += f".{name}" if out else name
    return out


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


_SCALAR_LOADER = yaml.SafeLoader("")


@dataclass
class _Walk:
    """State of one walk over a composed document."""

    path: str
    positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    open: set[int] = field(default_factory=set)
    """Nodes being built right now: meeting one again is an alias of its own ancestor."""
    count: int = 0

    def fail(self, node: yaml.Node, loc: Loc, message: str) -> ConfigError:
        line, col = _mark(node)
        field_path = format_loc(loc)
        return ConfigError(
            f"{self.path}:{line}:{col}: " + (f"{field_path}: " if field_path else "") + message
        )


def _build(node: yaml.Node, loc: Loc, walk: _Walk) -> Any:
    walk.count += 1
    if walk.count > MAX_VALUES:
        raise walk.fail(node, loc, f"more than {MAX_VALUES} values (expected a cluster description)")
    walk.positions[loc] = _mark(node)
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        if id(node) in walk.open:
            raise walk.fail(node, loc, "an alias refers to its own parent (expected a finite value)")
        walk.open.add(id(node))
        try:
            return _build_collection(node, loc, walk)
        finally:
            walk.open.discard(id(node))
    return _SCALAR_LOADER.construct_object(node, deep=True)


def _build_collection(node: yaml.MappingNode | yaml.SequenceNode, loc: Loc, walk: _Walk) -> Any:
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*loc, i), walk) for i, item in enumerate(node.value)]
    out: dict[Any, Any] = {}
    _SCALAR_LOADER.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = (
            _SCALAR_LOADER.construct_object(key_node, deep=True)
            if isinstance(key_node, yaml.ScalarNode)
            else None
        )
        if not isinstance(key, str | int | float | bool):
            kind = {yaml.SequenceNode: "a list", yaml.MappingNode: "a mapping"}.get(type(key_node))
            kind = kind or ("empty" if key is None else f"a {type(key).__name__}")
            raise walk.fail(key_node, loc, f"a key is {kind} (expected a plain name such as host)")
        key = str(key)
        child = (*loc, key)
        if key in out:
            first = walk.key_positions[child][0]
            raise walk.fail(
                key_node, child, f"duplicate key, first written on line {first} (expected each key once)"
            )
        walk.key_positions[child] = _mark(key_node)
        out[key] = _build(value_node, child, walk)
        walk.positions[child] = _mark(value_node)
    return out


def load_yaml(path: Path) -> Positioned:
    """Read and parse ``path``; every failure is a one-line :class:`ConfigError`."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{shown}: is a directory, not a file") from None
    except PermissionError:
        raise ConfigError(f"{shown}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{shown}: not UTF-8 text (byte {exc.start})") from None
    return parse_yaml(text, shown)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _syntax_message(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's problem, plus where the construct it was reading began (an unclosed ``[``)."""
    problem = _one_line(exc.problem or exc.context or "invalid YAML")
    context = _one_line(exc.context or "")
    if "'\\t'" in problem:
        return "a tab where indentation or a value starts (expected spaces: YAML never indents with tabs)"
    if context and problem.startswith("but "):
        return f"{context}, {problem}"
    if problem == "mapping values are not allowed here":
        return f"{problem} (expected one key: value per line at a steady indent; quote text with ': ')"
    mark, start = exc.problem_mark, exc.context_mark
    moved = mark is None or (start is not None and (start.line, start.column) != (mark.line, mark.column))
    if context and start is not None and moved:
        what = context.removeprefix("while parsing ").removeprefix("while scanning ").removeprefix("a ")
        where = f"the {what} that starts at {start.line + 1}:{start.column + 1}"
        says_expected = re.search(r"\bexpected\b", problem)
        return f"{problem} (in {where})" if says_expected else f"{problem} (expected {where} to end)"
    if "<stream end>" in problem:
        return f"{problem} (expected the file to go on: is a bracket or a quote left open?)"
    return problem


def parse_yaml(text: str, shown: str) -> Positioned:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise ConfigError(
            f"{shown}: invalid YAML: nested too deeply (expected a config, not a puzzle)"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}: " if mark else " "
        raise ConfigError(f"{shown}:{where}invalid YAML: {_syntax_message(exc)}") from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise ConfigError(
            f"{shown}:{line}:{col}: invalid YAML: control character U+{code:04X} (expected printable text)"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{shown}: invalid YAML: {_one_line(exc)}") from None
    if root is None:
        raise ConfigError(f"{shown}:1:1: the file is empty (expected a mapping with cluster and nodes)")
    walk = _Walk(shown)
    try:
        data = _build(root, (), walk)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ConfigError(f"{shown}:{line}:{col}: invalid YAML: {_one_line(exc.problem)}") from None
    except RecursionError:
        raise ConfigError(
            f"{shown}: invalid YAML: nested too deeply (expected a config, not a puzzle)"
        ) from None
    finally:
        # The shared loader caches every node it constructs; drop them with this document.
        _SCALAR_LOADER.constructed_objects.clear()
        _SCALAR_LOADER.recursive_objects.clear()
    if not isinstance(data, dict):
        line, col = walk.positions[()]
        kind = {list: "a list", str: "text"}.get(type(data), f"a {type(data).__name__}")
        raise ConfigError(
            f"{shown}:{line}:{col}: the top level is {kind} (expected a mapping with cluster and nodes)"
        )
    return Positioned(data=data, path=shown, positions=walk.positions, key_positions=walk.key_positions)
