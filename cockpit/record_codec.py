"""Frozen readings <-> plain JSON values, and the patch from one JSON value to the next.

Why type-driven decoding instead of pickle: a recording outlives the code that wrote it. Fields are
written by name and read back through the dataclasses' own type hints, so a field added later is
ignored by older readers and a field missing from an older file takes its default. Patches exist
because deflate only sees 32 KiB back: for a large cluster one state is far bigger than that, so
consecutive states barely compress against each other unless only what changed is written.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections import abc
from collections.abc import Callable
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from cockpit.sanitize import clean

Decoder = Callable[[Any], Any]
NoneType = type(None)
TEXT_LIMIT = 4096
"""Longest string read back: longer than any reading the cockpit keeps, short of a flood."""


class CodecError(ValueError):
    """A value that does not fit its field; the message is one line naming the field."""


# -- encoding --------------------------------------------------------------------------------------


def encode(value: Any) -> Any:
    """A JSON-ready value: dataclasses by field name (private fields skipped), enums by value,
    tuples and sets as lists, pydantic models by their JSON dump."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: encode(getattr(value, name)) for name in _field_names(type(value))}
    if isinstance(value, tuple | list):
        return [encode(v) for v in value]
    if isinstance(value, frozenset | set):
        return sorted((encode(v) for v in value), key=repr)
    if isinstance(value, abc.Mapping):
        return {_json_key(k): encode(v) for k, v in value.items()}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, str | int | float):  # subclasses of the scalars
        return value
    raise TypeError(f"cannot record a {type(value).__name__}")


def _json_key(key: Any) -> str:
    if isinstance(key, enum.Enum):
        return str(key.value)
    if type(key) in (str, int, float):
        return str(key)
    raise TypeError(f"cannot record a {type(key).__name__} mapping key")


_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls) if not f.name.startswith("_"))
    return names


# -- decoding --------------------------------------------------------------------------------------

_DECODERS: dict[object, Decoder] = {}


def decoder(tp: object) -> Decoder:
    """The function turning JSON back into ``tp``; built once per type."""
    found = _DECODERS.get(tp)
    if found is None:
        found = _DECODERS[tp] = _build(tp)
    return found


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _build(tp: object) -> Decoder:
    origin = get_origin(tp)
    args = get_args(tp)
    if tp is Any:
        return lambda v: v
    if origin in (Union, types.UnionType):
        return _union(args)
    if origin is Literal:
        return _literal(args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _sequence(decoder(args[0]), tuple)
        parts = [decoder(a) for a in args]
        return lambda v: tuple(d(x) for d, x in zip(parts, _list(v), strict=True))
    if origin in (frozenset, set, abc.Set):
        return _sequence(decoder(args[0]), frozenset)
    if origin is list:
        return _sequence(decoder(args[0]), list)
    if origin is abc.Sequence:
        return _sequence(decoder(args[0]), tuple)
    if origin in (dict, abc.Mapping, abc.MutableMapping):
        key, inner = _key(args[0]), decoder(args[1])
        return lambda v: {key(k): inner(x) for k, x in _dict(v).items()}
    if isinstance(tp, type):
        if dataclasses.is_dataclass(tp):
            return _dataclass(tp)
        if issubclass(tp, enum.Enum):
            return _enum(tp)
        if issubclass(tp, BaseModel):
            return lambda v: model_from_json(tp, v)
        if tp is float:
            return _float
        if tp is str:
            return _text
        if tp in (int, bool):
            return _scalar(tp)
    return _unsupported(tp)


def _unsupported(tp: object) -> Decoder:
    """A type this reader cannot rebuild: an error when (and only if) a recording holds one."""

    def read(value: Any) -> Any:
        if value is None:
            return None  # nothing to rebuild (most new fields are optional)
        raise CodecError(f"cannot read a {tp!r} back")

    return read


def _key(tp: object) -> Decoder:
    """JSON object keys are strings: turn them back into the mapping's key type."""
    if tp is str or tp is Any:
        return _text
    if tp is int or tp is float:

        def number(key: str) -> Any:
            try:
                return tp(key)  # type: ignore[operator]
            except ValueError:
                raise CodecError(f"{key!r} is not a {tp.__name__} key") from None  # type: ignore[union-attr]

        return number
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum(tp)
    return _unsupported(tp)


def _literal(options: tuple[Any, ...]) -> Decoder:
    def read(value: Any) -> Any:
        if value not in options or type(value) not in {type(o) for o in options}:
            raise CodecError(f"{value!r} is not one of {', '.join(map(repr, options))}")
        return value

    return read


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise CodecError(f"expected a list, got {_kind(value)}")
    return value


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CodecError(f"expected an object, got {_kind(value)}")
    return value


def _sequence(inner: Decoder, make: Callable[[Any], Any]) -> Decoder:
    return lambda v: make(inner(x) for x in _list(v))


def _float(value: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise CodecError(f"expected a number, got {_kind(value)}")


def _text(value: Any) -> str:
    """Strings come back through :func:`clean`: a recording is a file someone may hand you."""
    if type(value) is not str:
        raise CodecError(f"expected str, got {_kind(value)}")
    return clean(value, limit=TEXT_LIMIT)


def _scalar(tp: type) -> Decoder:
    def check(value: Any) -> Any:
        if type(value) is not tp:
            raise CodecError(f"expected {tp.__name__}, got {_kind(value)}")
        return value

    return check


def _enum(tp: type[enum.Enum]) -> Decoder:
    def read(value: Any) -> enum.Enum:
        try:
            return tp(value)
        except ValueError:
            raise CodecError(
                f"{value!r} is not a known {tp.__name__} (written by a newer cockpit?)"
            ) from None

    return read


def _union(args: tuple[Any, ...]) -> Decoder:
    optional = NoneType in args
    arms = [a for a in args if a is not NoneType]
    if len(arms) == 1:
        only = decoder(arms[0])
        return lambda v: None if v is None and optional else only(v)
    # Several arms: pick by the JSON type (readings never mix two object types in one field).
    by_json: dict[type, Decoder] = {}
    for arm in arms:
        if arm is float:
            by_json.setdefault(float, _float)
            by_json.setdefault(int, _float)
        elif arm is str:
            by_json[str] = _text
        elif arm in (int, bool):
            by_json[arm] = _scalar(arm)
        else:
            sequence = get_origin(arm) in (tuple, list, frozenset, set)
            by_json.setdefault(list if sequence else dict, decoder(arm))

    def read(value: Any) -> Any:
        if value is None and optional:
            return None
        chosen = by_json.get(type(value))
        if chosen is None:
            raise CodecError(f"unexpected {_kind(value)}")
        return chosen(value)

    return read


def _dataclass(cls: type) -> Decoder:
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:  # a hint this process cannot resolve: fail on use, not on import
        return _unsupported(f"{cls.__name__} ({type(exc).__name__}: {exc})")
    plan = [(f.name, decoder(hints[f.name])) for f in dataclasses.fields(cls) if f.name in _decodable(cls)]

    def read(value: Any) -> Any:
        data = _dict(value)
        kwargs: dict[str, Any] = {}
        for name, field_decoder in plan:
            if name in data:
                try:
                    kwargs[name] = field_decoder(data[name])
                except CodecError as exc:
                    raise CodecError(f"{cls.__name__}.{name}: {exc}") from None
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise CodecError(f"{cls.__name__}: {exc}") from None

    return read


_SKIP: dict[type, frozenset[str]] = {}


def skip_fields(cls: type, names: set[str]) -> None:
    """Fields of ``cls`` never written or read (the state's live history view)."""
    _SKIP[cls] = frozenset(names)


def _decodable(cls: type) -> set[str]:
    return {n for n in _field_names(cls) if n not in _SKIP.get(cls, frozenset())}


def model_from_json(model: type[BaseModel], value: Any) -> BaseModel:
    """A pydantic model from a recorded dump, keeping only fields this version knows (the config
    models forbid extra keys, and a newer cockpit may have added some)."""
    try:
        return model.model_validate(_known_only(model, _dict(value)))
    except ValueError as exc:
        first = str(exc).splitlines()
        raise CodecError(f"{model.__name__}: {first[1] if len(first) > 1 else first[0]}") from None


def _known_only(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name not in data:
            continue
        out[name] = _prune(info.annotation, data[name])
    return out


def _prune(tp: Any, value: Any) -> Any:
    if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(value, dict):
        return _known_only(tp, value)
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        for arm in get_args(tp):
            if isinstance(arm, type) and issubclass(arm, BaseModel) and isinstance(value, dict):
                return _known_only(arm, value)
    if origin is dict and isinstance(value, dict):
        inner = get_args(tp)[1]
        return {k: _prune(inner, v) for k, v in value.items()}
    if origin is list and isinstance(value, list):
        inner = get_args(tp)[0]
        return [_prune(inner, v) for v in value]
    return value


# -- patches ---------------------------------------------------------------------------------------
# A patch says how one JSON value becomes the next:
#   a number, string, true/false or null   replace with it
#   {field: patch, ...}                      change some fields of an object
#   ["r", value]                             replace with value (a list or an object)
#   ["l", length, [[i, patch], ...]]         change some items of a list, now ``length`` long

_SCALARS = (str, int, float, bool, type(None))


def delta(old: Any, new: Any) -> Any:
    """The patch turning ``encode(old)`` into ``encode(new)``, or ``UNCHANGED``.

    Computed on the frozen objects, not on their JSON: dataclass equality runs at C speed, and only
    what changed is ever encoded, which keeps a 200-node cycle at a few milliseconds.
    """
    if old is new:
        return UNCHANGED
    kind = type(new)
    if type(old) is kind:
        if kind in _SCALARS or isinstance(new, enum.Enum):
            return UNCHANGED if old == new else encode(new)
        if kind is tuple or kind is list:
            if old == new:
                return UNCHANGED
            items = []
            for i, value in enumerate(new):
                patch = delta(old[i], value) if i < len(old) else _replace(value)
                if patch is not UNCHANGED:
                    items.append([i, patch])
            if new and old and (len(old) == len(new) or 2 * len(items) <= len(new)):
                return ["l", len(new), items]
        elif dataclasses.is_dataclass(new):
            if old == new:
                return UNCHANGED
            fields = {}
            for name in _field_names(kind):
                a, b = getattr(old, name), getattr(new, name)
                if a is b:
                    continue
                if type(a) is type(b) and type(b) in _SCALARS:  # most fields: inline, no call
                    if a != b:
                        fields[name] = b
                    continue
                patch = delta(a, b)
                if patch is not UNCHANGED:
                    fields[name] = patch
            return fields or UNCHANGED
        elif old == new:
            return UNCHANGED
    return _replace(new)


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = _Unchanged()


def _replace(value: Any) -> Any:
    encoded = encode(value)
    return ["r", encoded] if isinstance(encoded, dict | list) else encoded


def apply(old: Any, patch: Any) -> Any:
    """``old`` with ``patch`` applied; unchanged parts are shared, never copied or mutated, so
    every state read from a recording can keep its own tree."""
    if isinstance(patch, dict):
        if not isinstance(old, dict):
            raise CodecError(f"an object patch does not fit a {_kind(old)}")
        out = dict(old)
        for key, sub in patch.items():
            out[key] = apply(old.get(key), sub) if isinstance(sub, dict | list) else sub
        return out
    if not isinstance(patch, list):
        return patch
    tag = patch[0] if patch else None
    if tag == "r" and len(patch) == 2:
        return patch[1]
    if tag == "l" and isinstance(old, list) and len(patch) == 3 and type(patch[1]) is int:
        length = patch[1]
        out = list(old[:length]) + [None] * max(0, length - len(old))
        for item in _list(patch[2]):
            if not (isinstance(item, list) and len(item) == 2 and type(item[0]) is int):
                raise CodecError("a list patch item must be [index, patch]")
            index, sub = item
            if not 0 <= index < length:
                raise CodecError(f"list patch index {index} is outside 0..{length - 1}")
            out[index] = apply(out[index], sub)
        return out
    raise CodecError(f"a {tag!r} patch does not fit a {_kind(old)}")
