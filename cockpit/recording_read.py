"""Reading a recording back: every state rebuilt, with a history that replays as it was shown.

States are decoded when first asked for, from the nearest of the full trees kept every
:data:`CHECKPOINT_EVERY` states plus the patches after it, so an hour of a 200-node cluster loads in
seconds and seeks in milliseconds. Public names are re-exported by :mod:`cockpit.recording`.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import json
import math
import os
import typing
import zlib
from array import array
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

from cockpit.config import Cluster
from cockpit.record_codec import CodecError, apply, decoder, model_from_json
from cockpit.recording_format import FORMAT, STATE_FIELDS, VERSION, ActionRecord, RecordingError
from cockpit.sanitize import clean
from cockpit.state import ClusterState, History, HistoryView, NodeState, SeriesKey

CHECKPOINT_EVERY = 64
"""States between two full trees the reader keeps: seeking applies at most this many patches."""
DECODED_CACHE = 16


class ReplayHistory(History):
    """Every point of a recording, so any state can be shown again, in any order.

    The live history is a ring: by the time an operator seeks back, the points an early state
    showed are gone. Here all points are kept (compactly: ``None`` is stored as NaN) and a view
    at ``upto`` shows the last ``capacity`` points up to it: exactly what the ring held then.
    """

    def __init__(self, points: int) -> None:
        super().__init__(points)
        self._seqs: dict[SeriesKey, array[int]] = {}
        self._vals: dict[SeriesKey, array[float]] = {}

    def add(self, key: SeriesKey, seq: int, value: float | None) -> None:
        seqs = self._seqs.get(key)
        if seqs is None:
            seqs = self._seqs[key] = array("q")
            self._vals[key] = array("d")
        stored = math.nan if value is None else float(value)
        if not seqs or seqs[-1] <= seq:
            seqs.append(seq)
            self._vals[key].append(stored)
        else:
            at = bisect.bisect_right(seqs, seq)
            seqs.insert(at, seq)
            self._vals[key].insert(at, stored)

    def _span(self, key: SeriesKey, upto: int, last: int | None) -> tuple[int, int]:
        seqs = self._seqs.get(key)
        if not seqs:
            return 0, 0
        hi = bisect.bisect_right(seqs, upto)
        lo = max(0, hi - self.capacity)
        if last:
            lo = max(lo, hi - last)
        return lo, hi

    def values(self, key: SeriesKey, upto: int, last: int | None = None) -> list[float | None]:
        lo, hi = self._span(key, upto, last)
        return [None if v != v else v for v in self._vals[key][lo:hi]] if hi > lo else []

    def points(self, key: SeriesKey, upto: int) -> list[tuple[int, float | None]]:
        lo, hi = self._span(key, upto, None)
        if hi <= lo:
            return []
        vals = self._vals[key]
        return [(self._seqs[key][i], None if vals[i] != vals[i] else vals[i]) for i in range(lo, hi)]

    def keys(self) -> list[SeriesKey]:
        return list(self._seqs)

    def __len__(self) -> int:
        return len(self._seqs)


class _StateList(Sequence[ClusterState]):
    """The recording's states, decoded when first asked for (an hour of 200 nodes is 1800 states)."""

    def __init__(self, recording: Recording) -> None:
        self._recording = recording

    def __len__(self) -> int:
        return len(self._recording._times)

    @overload
    def __getitem__(self, index: int) -> ClusterState: ...
    @overload
    def __getitem__(self, index: slice) -> list[ClusterState]: ...
    def __getitem__(self, index: int | slice) -> ClusterState | list[ClusterState]:
        if isinstance(index, slice):
            return [self._recording.at(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._recording.at(index)

    def __iter__(self) -> Iterator[ClusterState]:
        for i in range(len(self)):
            yield self._recording.at(i)


class Recording:
    """A loaded recording: :attr:`states` (rebuilt, with their history), :attr:`actions`, and
    :attr:`notes` (one line each: what was skipped and why, to tell the operator once)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.header: dict[str, Any] = {}
        self.actions: list[ActionRecord] = []
        self.notes: list[str] = []
        self.states: Sequence[ClusterState] = _StateList(self)
        self._times: list[float] = []
        self._seek_times: list[float] = []
        self._lines: list[int] = []
        self._raw: list[str | None] = []
        self._histories: list[ReplayHistory] = []
        self._checkpoints: dict[int, dict[str, Any]] = {}
        self._checkpoint_list: list[int] = []
        self._cursor: tuple[int, dict[str, Any]] | None = None
        self._cache: OrderedDict[int, ClusterState] = OrderedDict()
        self._memo: dict[int, tuple[Any, Any]] = {}
        self._tree: dict[str, Any] | None = None
        self._history: ReplayHistory | None = None
        self._ids: dict[int, SeriesKey] = {}
        self._unknown = 0

    # -- loading ---------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recording:
        """Read a whole recording; raises :class:`RecordingError` (``FILE:LINE: why``) if it is
        not one or is damaged before its end. A last line cut short is dropped, with a note."""
        recording = cls(Path(path))
        lines = recording._read_lines()
        for lineno, raw in enumerate(lines, 1):
            if raw.strip():
                recording._parse_line(lineno, raw)
        if not recording.header:
            raise RecordingError(f"{recording.path}: empty file (not a cockpit recording)")
        if recording._unknown:
            recording.notes.append(
                f"{recording.path}: skipped {recording._unknown} records of a kind this cockpit does not know"
            )
        if recording._tree is not None:
            # Decoding problems surface now, naming the line, not mid-replay.
            last = (len(recording._times) - 1, recording._tree)
            recording.at(0)
            recording._cursor = last
            recording.at(last[0])
        return recording

    def _read_lines(self) -> list[str]:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise RecordingError(f"{self.path}: {exc.strerror or exc}") from None
        if data[:2] == b"\x1f\x8b":
            data = self._gunzip(data)
        chunks = data.split(b"\n")
        if chunks[-1]:
            self.notes.append(
                f"{self.path}: the last record was cut short (the recorder stopped mid-write); ignored it"
            )
        lines = []
        for lineno, chunk in enumerate(chunks[:-1], 1):
            try:
                lines.append(chunk.decode("utf-8"))
            except UnicodeDecodeError:
                raise RecordingError(f"{self.path}:{lineno}: not UTF-8 text") from None
        return lines

    def _gunzip(self, data: bytes) -> bytes:
        """All gzip members, tolerating an unfinished last one (the writer was killed)."""
        out: list[bytes] = []
        rest = data
        while rest:
            inflater = zlib.decompressobj(wbits=31)
            try:
                out.append(inflater.decompress(rest))
            except zlib.error:
                line = b"".join(out).count(b"\n") + 1
                raise RecordingError(f"{self.path}:{line}: the compressed data is damaged here") from None
            if not inflater.eof:
                break
            rest = inflater.unused_data
            if rest and rest[:2] != b"\x1f\x8b":
                if rest.strip(b"\0"):
                    self.notes.append(f"{self.path}: ignored {len(rest)} bytes of trailing garbage")
                break
        return b"".join(out)

    def _error(self, lineno: int, why: str) -> RecordingError:
        return RecordingError(f"{self.path}:{lineno}: {why}")

    def _parse_line(self, lineno: int, raw: str) -> None:
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            msg = getattr(exc, "msg", str(exc))
            raise self._error(lineno, f"not JSON ({msg})") from None
        if not isinstance(obj, dict):
            raise self._error(lineno, "expected a JSON object")
        kind = obj.get("kind")
        if not self.header:
            if kind != "header" or obj.get("format") != FORMAT:
                raise self._error(lineno, "not a cockpit recording (no header line)")
            self.header = obj
            version = obj.get("version")
            if isinstance(version, int) and version > VERSION:
                self.notes.append(
                    f"{self.path}: written by a newer cockpit (format {version}); showing what this one knows"
                )
            return
        try:
            if kind == "state":
                self._add_state(lineno, obj, raw)
            elif kind == "action":
                self._add_action(obj)
            elif kind != "header":
                self._unknown += 1
        except CodecError as exc:
            raise self._error(lineno, str(exc)) from None

    def _add_state(self, lineno: int, obj: dict[str, Any], raw: str) -> None:
        t = obj.get("t")
        if type(t) not in (int, float) or not math.isfinite(t):
            raise CodecError("a state without a time")
        index = len(self._times)
        if "full" in obj:
            tree = obj["full"]
            if not isinstance(tree, dict):
                raise CodecError("a full state must be an object")
            self._checkpoints[index] = tree
            self._checkpoint_list.append(index)
            self._raw.append(None)
        elif self._tree is None:
            raise CodecError("a patch with no full state before it")
        else:
            tree = apply(self._tree, obj["patch"]) if "patch" in obj else self._tree
            self._raw.append(raw if "patch" in obj else None)
            if index % CHECKPOINT_EVERY == 0:
                self._checkpoints[index] = tree
                self._checkpoint_list.append(index)
        if not isinstance(tree.get("seq"), int):
            raise CodecError("a state without a seq")
        self._tree = tree
        if "history" in obj or self._history is None:
            spec = obj.get("history") or {}
            capacity = spec.get("capacity") if isinstance(spec, dict) else None
            self._history = ReplayHistory(capacity if type(capacity) is int else 451)
            self._ids = {}
        self._add_points(obj, tree["seq"])
        self._times.append(float(t))
        self._seek_times.append(max(float(t), self._seek_times[-1]) if self._seek_times else float(t))
        self._lines.append(lineno)
        self._histories.append(self._history)

    def _add_points(self, obj: dict[str, Any], seq: int) -> None:
        assert self._history is not None
        for item in _as_list(obj.get("hk", [])):
            if not (isinstance(item, list) and len(item) == 2 and type(item[0]) is int):
                raise CodecError("a history key must be [id, key]")
            parts = _as_list(item[1])
            if not all(type(p) in (str, int) for p in parts):
                raise CodecError("a history key holds only names and numbers")
            self._ids[item[0]] = tuple(clean(p) if isinstance(p, str) else p for p in parts)
        flat = _as_list(obj.get("h", []))
        if len(flat) % 2:
            raise CodecError("history points must come in [id, value] pairs")
        for i in range(0, len(flat), 2):
            self._history.add(self._series(flat[i]), seq, _number(flat[i + 1]))
        for item in _as_list(obj.get("hx", [])):
            if not (isinstance(item, list) and len(item) == 3 and type(item[1]) is int):
                raise CodecError("an earlier history point must be [id, seq, value]")
            self._history.add(self._series(item[0]), item[1], _number(item[2]))

    def _series(self, sid: Any) -> SeriesKey:
        key = self._ids.get(sid) if type(sid) is int else None
        if key is None:
            raise CodecError(f"history series {sid!r} was never declared")
        return key

    def _add_action(self, obj: dict[str, Any]) -> None:
        record = _ACTION(obj)
        self.actions.append(record)

    # -- access ----------------------------------------------------------------------------------

    def cluster(self) -> Cluster:
        """A read-only Cluster for the app's screens: the recorded config summary, or, for a file
        without one (or one this version cannot read), what the first state shows."""
        config = self.header.get("config")
        if isinstance(config, dict):
            try:
                cluster = model_from_json(Cluster, {**config, "read_only": True})
                assert isinstance(cluster, Cluster)
                return cluster
            except CodecError as exc:
                self.notes.append(
                    f"{self.path}: the recorded config is not usable here ({exc}); using the states"
                )
        first = self.at(0) if self._times else None
        nodes = (
            [{"name": n.name, "host": "replay.invalid", "tags": list(n.tags)} for n in first.nodes]
            if first
            else []
        )
        try:
            return Cluster.model_validate(
                {
                    "cluster": first.cluster if first else "replay",
                    "refresh": first.refresh if first else 2.0,
                    "thresholds": first.thresholds if first else {},
                    "nodes": nodes or [{"name": "none", "host": "replay.invalid"}],
                    "read_only": True,
                }
            )
        except ValueError as exc:
            raise RecordingError(
                f"{self.path}: cannot show these states: {str(exc).splitlines()[0]}"
            ) from None

    def __len__(self) -> int:
        return len(self._times)

    @property
    def times(self) -> Sequence[float]:
        """Each state's time (``state.at``), as recorded."""
        return self._times

    @property
    def start(self) -> float:
        return self._times[0] if self._times else 0.0

    @property
    def end(self) -> float:
        return self._seek_times[-1] if self._seek_times else 0.0

    @property
    def duration(self) -> float:
        return self.end - self.start

    def at(self, index: int) -> ClusterState:
        """State number ``index`` (0-based), decoded and cached; raises IndexError outside."""
        if not 0 <= index < len(self._times):
            raise IndexError(index)
        state = self._cache.get(index)
        if state is not None:
            self._cache.move_to_end(index)
            return state
        tree = self._tree_at(index)
        try:
            state = self._decode(tree, index)
        except CodecError as exc:
            raise self._error(self._lines[index], str(exc)) from None
        self._cache[index] = state
        if len(self._cache) > DECODED_CACHE:
            self._cache.popitem(last=False)
        return state

    def seek(self, t: float) -> int:
        """Index of the last state recorded at or before ``t`` (the first one if none was)."""
        if not self._times:
            raise IndexError("the recording holds no state")
        return max(0, bisect.bisect_right(self._seek_times, t) - 1)

    def actions_between(self, after: float, upto: float) -> list[ActionRecord]:
        """Actions that ended in ``(after, upto]``: what a forward step crossed."""
        return [a for a in self.actions if after < a.t <= upto]

    def actions_upto(self, t: float) -> list[ActionRecord]:
        return [a for a in self.actions if a.t <= t]

    def _tree_at(self, index: int) -> dict[str, Any]:
        start = self._checkpoint_list[bisect.bisect_right(self._checkpoint_list, index) - 1]
        tree = self._checkpoints[start]
        if self._cursor is not None and start <= self._cursor[0] <= index:
            start, tree = self._cursor
        for i in range(start + 1, index + 1):
            raw = self._raw[i]
            if raw is not None:
                tree = apply(tree, json.loads(raw)["patch"])
        self._cursor = (index, tree)
        return tree

    def _decode(self, tree: dict[str, Any], index: int) -> ClusterState:
        """Nodes unchanged since the last decode are reused as they are (the tree shares them)."""
        memo: dict[int, tuple[Any, Any]] = {}
        values: dict[str, Any] = {}
        for name in STATE_FIELDS:
            if name not in tree:
                continue
            raw = tree[name]
            if name in ("nodes", "thresholds"):
                items = _as_list(raw) if name == "nodes" else [raw]
                out = []
                for item in items:
                    hit = self._memo.get(id(item))
                    if hit is None or hit[0] is not item:
                        hit = (item, _FIELD[name](item))
                    memo[id(item)] = hit
                    out.append(hit[1])
                values[name] = tuple(out) if name == "nodes" else out[0]
            else:
                try:
                    values[name] = _FIELD[name](raw)
                except CodecError as exc:
                    raise CodecError(f"ClusterState.{name}: {exc}") from None
        self._memo = memo
        for required in ("cluster", "seq", "at", "nodes"):
            if required not in values:
                raise CodecError(f"ClusterState: no {required}")
        history = self._histories[index]
        return ClusterState(history=HistoryView(history, values["seq"]), **values)


def _as_list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise CodecError("expected a list")
    return value


def _number(value: Any) -> float | None:
    if value is None or type(value) in (int, float):
        return value
    raise CodecError(f"a history value must be a number or null, not {type(value).__name__}")


class _Fields(dict[str, Any]):
    """ClusterState's field decoders, built on first use: a field type this reader cannot rebuild
    must fail the recording that holds one, not the import of this module."""

    def __missing__(self, name: str) -> Any:
        found = self[name] = decoder(NodeState) if name == "nodes" else decoder(_state_hints()[name])
        return found


@functools.cache
def _state_hints() -> dict[str, Any]:
    try:
        return typing.get_type_hints(ClusterState)
    except Exception:  # resolve one field at a time instead
        return {f.name: f.type for f in dataclasses.fields(ClusterState)}


_FIELD = _Fields()
_ACTION = decoder(ActionRecord)
