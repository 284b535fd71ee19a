"""YAML with positions: plain Python values plus where each one was written.

Operators fix config errors from the message alone, so every error must say ``file:line:col``.
PyYAML's composer keeps marks on its nodes; we walk that tree once and keep a map from the value's
path (``("nodes", 2, "port")``) to its 1-based line and column. Duplicate keys, which PyYAML would
silently collapse (losing the first value), are an error here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Loc = tuple[str | int, ...]


class ConfigError(Exception):
    """A configuration problem, already formatted as one line an operator can act on."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


@dataclass(frozen=True, slots=True)
class Positioned:
    """Parsed YAML data and the position of every key and value in it."""

    data: Any
    path: str
    positions: dict[Loc, tuple[int, int]]

    def where(self, loc: Loc) -> tuple[int, int]:
        """The position of ``loc``, or of its nearest written ancestor (a missing key's parent)."""
        probe = tuple(loc)
        while probe:
            if probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return self.positions.get((), (1, 1))

    def error(self, loc: Loc, message: str) -> ConfigError:
        line, col = self.where(loc)
        field = format_loc(loc)
        prefix = f"{self.path}:{line}:{col}: "
        return ConfigError(prefix + (f"{field}: {message}" if field else message))


def format_loc(loc: Loc) -> str:
    """``("nodes", 2, "port")`` -> ``nodes[2].port``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


_SCALAR_LOADER = yaml.SafeLoader("")


def _build(node: yaml.Node, loc: Loc, positions: dict[Loc, tuple[int, int]], path: str) -> Any:
    positions[loc] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        _SCALAR_LOADER.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = _SCALAR_LOADER.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) or key is None:
                line, col = _mark(key_node)
                raise ConfigError(f"{path}:{line}:{col}: keys must be plain names")
            key = str(key)
            if key in out:
                line, col = _mark(key_node)
                field = format_loc((*loc, key))
                raise ConfigError(f"{path}:{line}:{col}: {field}: duplicate key (each key once)")
            child = (*loc, key)
            out[key] = _build(value_node, child, positions, path)
            positions[child] = _mark(value_node)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*loc, i), positions, path) for i, item in enumerate(node.value)]
    return _SCALAR_LOADER.construct_object(node, deep=True)


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


def parse_yaml(text: str, shown: str) -> Positioned:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}: " if mark else ""
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise ConfigError(f"{shown}:{where}invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{shown}: invalid YAML: {' '.join(str(exc).split())}") from None
    if root is None:
        raise ConfigError(f"{shown}:1:1: the file is empty (expected a mapping with cluster and nodes)")
    positions: dict[Loc, tuple[int, int]] = {}
    try:
        data = _build(root, (), positions, shown)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ConfigError(f"{shown}:{line}:{col}: invalid YAML: {exc.problem}") from None
    if not isinstance(data, dict):
        line, col = positions[()]
        raise ConfigError(
            f"{shown}:{line}:{col}: the top level is a {type(data).__name__} "
            "(expected a mapping with cluster and nodes)"
        )
    return Positioned(data=data, path=shown, positions=positions)
