"""Pydantic's validation errors rewritten as "what is wrong (what was expected)".

Pydantic's own messages ("Input should be a valid integer, unable to parse string as an integer")
are written for programmers; these name the operator's value and what the field takes.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    return text if len(text) <= 40 else text[:37] + "..."


def _strip_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _strip_optional(args[0])
    if origin is typing.Annotated:
        return _strip_optional(typing.get_args(annotation)[0])
    return annotation


def model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the field at ``loc`` (for listing the fields it accepts)."""
    current: Any = root
    for part in loc:
        current = _strip_optional(current)
        if isinstance(part, int):
            args = typing.get_args(current)
            if not args:
                return None
            current = args[0]
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return current
        current = field.annotation
    current = _strip_optional(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _fields_of(model: type[BaseModel] | None) -> str:
    if model is None:
        return ""
    names = [n for n, f in model.model_fields.items() if not f.exclude]
    return ", ".join(names)


def describe_error(err: dict[str, Any], root: type[BaseModel]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    loc = tuple(err["loc"])
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        owner = model_at(root, loc[:-1])
        return f"unknown field (expected one of: {_fields_of(owner)})"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{_show(value)} is not a whole number (expected an integer)"
    if kind in ("float_parsing", "float_type"):
        return f"{_show(value)} is not a number (expected a number)"
    if kind in ("bool_parsing", "bool_type"):
        return f"{_show(value)} is not true or false (expected a boolean)"
    if kind in ("string_type",):
        return f"{_show(value)} is not text (expected a string)"
    if kind == "list_type":
        return f"{_show(value)} is not a list (expected a list)"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        owner = model_at(root, loc)
        fields = _fields_of(owner)
        return f"{_show(value)} is not a mapping (expected a mapping" + (
            f" with {fields})" if fields else ")"
        )
    if kind == "greater_than_equal":
        return f"{_show(value)} is too small (expected at least {ctx['ge']})"
    if kind == "greater_than":
        return f"{_show(value)} is too small (expected more than {ctx['gt']})"
    if kind == "less_than_equal":
        return f"{_show(value)} is too large (expected at most {ctx['le']})"
    if kind == "less_than":
        return f"{_show(value)} is too large (expected less than {ctx['lt']})"
    if kind == "too_short":
        return f"{_show(value)} is too short (expected at least {ctx.get('min_length')} item)"
    if kind == "literal_error":
        return f"{_show(value)} is not allowed (expected {ctx.get('expected')})"
    if kind == "union_tag_invalid":
        return f"{_show(value)} is not allowed (expected {ctx.get('expected_tags')})"
    message = str(err.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message
