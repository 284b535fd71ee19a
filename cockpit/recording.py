"""Recordings: every state the engine published and every action run, as gzip'd JSON lines.

A post-mortem needs what the operator saw at the time, not what the nodes say now. One file is one
gzip stream of lines, each a JSON object with a ``kind``: ``header`` first, then ``state`` lines
(the first carries the whole state; each later one only the patch from the one before, plus the
history points added since) and ``action`` lines (one finished action with its output).

Every line is sync-flushed as it is written, so a crash loses at most the line being written, and
the reader ignores a last line cut short. Fields are written by name and read back through the
dataclasses' type hints (:mod:`cockpit.record_codec`), so files stay readable as fields are added.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from cockpit import __version__
from cockpit.config import Cluster
from cockpit.record_codec import UNCHANGED, delta, encode
from cockpit.recording_format import (
    FORMAT,
    STATE_FIELDS,
    VERSION,
    ActionOutcome,
    ActionRecord,
    RecordingError,
)
from cockpit.recording_read import Recording, ReplayHistory
from cockpit.sanitize import clean
from cockpit.state import ClusterState, History, SeriesKey

MAX_ACTION_LINES = 2000
"""Output lines kept per action: the first quarter and the last three quarters (errors come last)."""
MAX_LINE = 8192
Publish = Callable[[ClusterState], Any]


# -- writing ---------------------------------------------------------------------------------------


def _rings(history: History) -> Iterable[tuple[SeriesKey, Sequence[tuple[int, float | None]]]]:
    """Every series of the live history. History offers no public iteration yet, and copying the
    rings through :meth:`History.points` each cycle would cost more than the cycle."""
    return history._series.items()


class Recorder:
    """Appends states and actions to a new recording file (mode 0600: it holds cluster details).

    Refuses an existing file unless ``overwrite``: a recording is evidence, and the incident it
    holds must not vanish because a command was run twice.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        clock: Callable[[], float] = time.time,
        compresslevel: int = 6,
        cluster: Cluster | None = None,
    ) -> None:
        self.path = Path(path)
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
        try:
            fd = os.open(self.path, flags, 0o600)
        except FileExistsError:
            raise RecordingError(
                f"{self.path}: already exists; a recording is never replaced unless asked (--force)"
            ) from None
        except OSError as exc:
            raise RecordingError(f"{self.path}: {exc.strerror or exc}") from None
        self._clock = clock
        self._raw = os.fdopen(fd, "wb")
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, compresslevel=compresslevel)
        self.closed = False
        self.states = 0
        self.actions = 0
        self._prev: ClusterState | None = None
        self._history: History | None = None
        self._sent: dict[SeriesKey, int] = {}
        self._ids: dict[SeriesKey, int] = {}
        header = {
            "kind": "header",
            "format": FORMAT,
            "version": VERSION,
            "t": clock(),
            "cockpit": __version__,
        }
        if cluster is not None:
            header["config"] = config_summary(cluster)
        self._write(header)

    @property
    def bytes_written(self) -> int:
        """Compressed bytes on disk so far."""
        return self._raw.tell() if not self._raw.closed else self.path.stat().st_size

    def record(self, state: ClusterState) -> None:
        """Append one state; raises :class:`RecordingError` if the file cannot be written."""
        try:
            self._record(state)
        except TypeError as exc:  # a field type encode() does not know: stop, do not crash the engine
            raise RecordingError(f"{self.path}: cannot record this state: {exc}") from None
        self.states += 1

    def _record(self, state: ClusterState) -> None:
        history = state.history.history
        line: dict[str, Any] = {"kind": "state", "t": state.at, "seq": state.seq}
        prev = self._prev
        if prev is None or history is not self._history:
            # A new engine (or the first state): a whole tree, and the history starts over.
            self._history = history
            self._sent.clear()
            self._ids.clear()
            line["full"] = {name: encode(getattr(state, name)) for name in STATE_FIELDS}
            line["history"] = {"capacity": history.capacity}
        else:
            patch = {}
            for name in STATE_FIELDS:
                change = delta(getattr(prev, name), getattr(state, name))
                if change is not UNCHANGED:
                    patch[name] = change
            if patch:
                line["patch"] = patch
        self._add_points(line, state)
        self._write(line)
        self._prev = state

    def record_action(
        self,
        action: str,
        node: str | None,
        command: str,
        lines: Iterable[tuple[str, str]] | LineKeeper,
        result: object,
        *,
        target: str | None = None,
        started: float | None = None,
    ) -> None:
        """Append one finished action. ``command`` is the invocation's ``display`` (already
        redacted); ``lines`` are the runner's ``(stream, line)`` pairs (already cleaned and
        redacted), best collected by a :class:`LineKeeper`; ``result`` is the runner's Result,
        or just its summary text."""
        keeper = lines if isinstance(lines, LineKeeper) else LineKeeper()
        if keeper is not lines:
            for stream, text in lines:
                keeper(stream, text)
        kept = [(clean(s, limit=16), clean(t, limit=MAX_LINE)) for s, t in keeper.lines]
        dropped = keeper.dropped
        record = ActionRecord(
            t=self._clock(),
            action=action,
            node=node,
            command=command,
            lines=tuple(kept),
            result=_outcome(result),
            target=target,
            started=started,
            lines_dropped=dropped,
        )
        self._write({"kind": "action", **encode(record)})
        self.actions += 1

    def tee(self, publish: Publish, on_error: Callable[[str], None] | None = None) -> Publish:
        """``publish`` that records each state first; on a write error, recording stops (told once
        to ``on_error``) and publishing goes on: a full disk must not blind the cockpit."""

        def record_then_publish(state: ClusterState) -> Any:
            if not self.closed:
                try:
                    self.record(state)
                except RecordingError as exc:
                    self.close()
                    if on_error is None:
                        raise
                    on_error(str(exc))
            return publish(state)

        return record_then_publish

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            self._gz.close()
        except OSError:
            pass
        finally:
            self._raw.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add_points(self, line: dict[str, Any], state: ClusterState) -> None:
        """History points added since the last line: ``h`` holds ``[id, value, ...]`` at this
        line's seq, ``hx`` any others ``[id, seq, value]``, ``hk`` the keys of new ids."""
        upto = state.history.upto
        assert self._history is not None
        flat: list[Any] = []
        other: list[list[Any]] = []
        keys: list[list[Any]] = []
        sent_at, ids = self._sent, self._ids
        for key, ring in _rings(self._history):
            if not ring:
                continue
            sent = sent_at.get(key, -1)
            last_seq, last_value = ring[-1]
            if last_seq <= sent:
                continue
            sid = ids.get(key)
            if sid is None:
                sid = ids[key] = len(ids)
                keys.append([sid, encode(list(key))])
            if last_seq == upto and (len(ring) < 2 or ring[-2][0] <= sent):
                flat += (sid, last_value)  # the usual case: one new point, at this cycle
                sent_at[key] = upto
                continue
            fresh = [(s, v) for s, v in ring if sent < s <= upto]
            for s, v in fresh:
                if s == upto:
                    flat += (sid, v)
                else:
                    other.append([sid, s, v])
            if fresh:
                sent_at[key] = fresh[-1][0]
        if keys:
            line["hk"] = keys
        if flat:
            line["h"] = flat
        if other:
            line["hx"] = other

    def _write(self, obj: dict[str, Any]) -> None:
        if self.closed:
            raise RecordingError(f"{self.path}: the recording is closed")
        data = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
        try:
            self._gz.write(data)
            self._gz.flush(zlib.Z_SYNC_FLUSH)
        except OSError as exc:
            raise RecordingError(f"{self.path}: cannot write: {exc.strerror or exc}") from None


REPLAY_NODE_FIELDS = {"name", "host", "port", "user", "jump", "tags", "gpu_model", "probes", "units"}
REPLAY_SERVICE_FIELDS = {
    "name",
    "url",
    "kind",
    "node",
    "unit",
    "container",
    "expect",
    "timeout",
    "depends_on",
}


def config_summary(cluster: Cluster) -> dict[str, Any]:
    """What a replay needs of the config to draw its screens (node tags, services and their
    dependencies); no SSH settings, secrets, actions or simulator settings."""
    return cluster.model_dump(
        mode="json",
        include={
            "cluster": True,
            "refresh": True,
            "thresholds": True,
            "nodes": {"__all__": REPLAY_NODE_FIELDS},
            "services": {"__all__": REPLAY_SERVICE_FIELDS},
        },
    )


class LineKeeper:
    """A runner line sink that keeps what a recording will keep, in bounded memory: an action that
    follows a log until cancelled must not grow without end."""

    def __init__(self, limit: int = MAX_ACTION_LINES) -> None:
        self.head: list[tuple[str, str]] = []
        self.tail: deque[tuple[str, str]] = deque(maxlen=limit - limit // 4)
        self._head_size = limit // 4
        self.dropped = 0

    def __call__(self, stream: str, line: str) -> None:
        if len(self.head) < self._head_size:
            self.head.append((stream, line))
            return
        if len(self.tail) == self.tail.maxlen:
            self.dropped += 1
        self.tail.append((stream, line))

    @property
    def lines(self) -> list[tuple[str, str]]:
        return [*self.head, *self.tail]


def _outcome(result: object) -> ActionOutcome | None:
    if result is None:
        return None
    if isinstance(result, str):
        return ActionOutcome(outcome=clean(result), summary=clean(result))
    outcome = getattr(result, "outcome", None)
    summary = getattr(result, "summary", None)
    return ActionOutcome(
        outcome=str(getattr(outcome, "value", outcome) or "unknown"),
        exit_status=getattr(result, "exit_status", None),
        duration_s=getattr(result, "duration_s", None),
        error=getattr(result, "error", None),
        summary=str(summary) if summary is not None else "",
    )


__all__ = [
    "FORMAT",
    "STATE_FIELDS",
    "VERSION",
    "ActionOutcome",
    "ActionRecord",
    "LineKeeper",
    "Recorder",
    "Recording",
    "RecordingError",
    "ReplayHistory",
    "config_summary",
]
