"""Pydantic's validation errors rewritten as "what is wrong (what was expected)".

Pydantic's own messages ("Input should be a valid integer, unable to parse string as an integer")
are written for programmers; these name the operator's value and what the field takes.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

from cockpit.yaml_source import Loc, format_loc


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
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


def _num(value: Any) -> str:
    """``1.0`` -> ``1``: limits read as the operator would write them."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def clean_loc(root: type[BaseModel], loc: tuple[Any, ...], data: Any) -> Loc:
    """Drop the union-member labels pydantic puts in ``loc`` (``identity_file.str``).

    A part is kept when it is a key of the operator's data or a field of the model at that point;
    anything else names a type, not a place in the file.
    """
    out: list[str | int] = []
    current = data
    for part in loc:
        if isinstance(part, int):
            out.append(part)
            current = current[part] if isinstance(current, list) and 0 <= part < len(current) else None
            continue
        in_data = isinstance(current, dict) and part in current
        owner = model_at(root, tuple(out))
        if in_data or (owner is not None and part in owner.model_fields):
            out.append(part)
            current = current.get(part) if isinstance(current, dict) else None
    return tuple(out)


_TYPE_WORDS = {
    "string_type": ("text", "a string"),
    "list_type": ("a list", "a list"),
    "dict_type": ("a mapping", "a mapping"),
    "model_type": ("a mapping", "a mapping"),
    "int_type": ("a whole number", "an integer"),
    "int_parsing": ("a whole number", "an integer"),
    "float_type": ("a number", "a number"),
    "float_parsing": ("a number", "a number"),
    "bool_type": ("true or false", "a boolean"),
    "bool_parsing": ("true or false", "a boolean"),
}


def describe_errors(errors: list[dict[str, Any]], root: type[BaseModel], data: Any) -> tuple[Loc, str]:
    """The one error worth showing, with its place in the file and its sentence.

    Union fields (``identity_file: str | list[str]``) fail once per member: the deepest error under
    the first one wins (``identity_file[0]``), and failures of every member at one place merge into
    ``5 is not text or a list (expected a string or a list)``.
    """
    cleaned = [{**err, "loc": clean_loc(root, tuple(err["loc"]), data)} for err in errors]
    first = cleaned[0]
    loc = first["loc"]
    under = [e for e in cleaned if e["loc"][: len(loc)] == loc]
    deepest = max(under, key=lambda e: len(e["loc"]))
    if len(deepest["loc"]) > len(loc):
        return deepest["loc"], describe_error(deepest, root)
    here = [e for e in under if e["loc"] == loc]
    kinds = [_TYPE_WORDS[e["type"]] for e in here if e["type"] in _TYPE_WORDS]
    if len(here) > 1 and len(kinds) == len(here):
        nots = list(dict.fromkeys(k[0] for k in kinds))
        wants = list(dict.fromkeys(k[1] for k in kinds))
        return loc, (
            f"{_show(first.get('input'))} is not {' or '.join(nots)} (expected {' or '.join(wants)})"
        )
    return loc, describe_error(first, root)


def describe_error(err: dict[str, Any], root: type[BaseModel]) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    loc = tuple(err["loc"])
    if kind == "missing":
        parent = format_loc(loc[:-1])
        where = f"in {parent}" if parent else "at the top level"
        return f"required field is missing (expected {loc[-1]}: {where})"
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
        return f"{_show(value)} is too small (expected at least {_num(ctx['ge'])})"
    if kind == "greater_than":
        return f"{_show(value)} is too small (expected more than {_num(ctx['gt'])})"
    if kind == "less_than_equal":
        return f"{_show(value)} is too large (expected at most {_num(ctx['le'])})"
    if kind == "less_than":
        return f"{_show(value)} is too large (expected less than {_num(ctx['lt'])})"
    if kind == "too_short":
        least = ctx.get("min_length")
        items = "item" if least == 1 else "items"
        what = "the list is empty" if ctx.get("actual_length") == 0 else f"{_show(value)} is too short"
        return f"{what} (expected at least {least} {items})"
    if kind == "literal_error":
        return f"{_show(value)} is not allowed (expected {ctx.get('expected')})"
    if kind == "union_tag_invalid":
        return f"{_show(value)} is not allowed (expected {ctx.get('expected_tags')})"
    message = str(err.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message
