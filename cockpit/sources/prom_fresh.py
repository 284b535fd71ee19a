"""Between full reads, ask Prometheus again only about the targets it scraped since the last read.

At 2,000 nodes scraped every 15 to 30 s and read every 2 s, most of what a full read returns is the
samples the last read already returned. Each scrape stamps every sample of its target with the
scrape's time, and ``up`` gets one too, so ``timestamp(up) > since`` names the targets with new
samples; the fast per-target queries (:data:`prom_queries.FRESH_KEYS`) are then narrowed with an
``instance`` matcher to those, and each answer replaces only those targets' kept series (a target
that answered nothing has lost its series). Prometheus evaluates and encodes a few hundred targets
instead of 6,000, and we decode and map as many.

``since`` is the evaluation time of the last read (Prometheus's clock: ours may be skewed), less the
slowest scrape's duration and a second: a sample is stamped when its scrape starts but visible only
when it ends, so a scrape under way at the last read is read again now rather than missed.

Delta reads are used only while every fast series names a target ``up`` knows (checked on each full
read): series from federation or recording rules carry an ``instance`` no scrape of this Prometheus
refreshes, and would never be read again. Full reads still come at start, every
:data:`FULL_EVERY_S`, when the freshness queries fail, or when most targets are fresh anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cockpit.sources.prom_map import Series
from cockpit.sources.prom_queries import FRESH_KEYS

Board = tuple[Any, Any]
"""A dcgm-exporter series' (node label value, ``gpu`` label value)."""
MAX_FRESH_SHARE = 0.5
"""Past this share of targets a narrowed query costs Prometheus about what a full one does."""
FULL_EVERY_S = 600.0
"""A full read this often all the same: a net under anything a delta read could miss."""
MARGIN_S = 1.0
"""Beyond the slowest scrape: the scrape's samples are committed after its duration is measured."""


class FreshTargets:
    """Per fast query, the series kept per target, and which targets the next read must ask about."""

    def __init__(self) -> None:
        self.kept: dict[str, dict[str, list[Series] | dict[Board, float | None]]] = {}
        """Per fast query, per target (its ``instance``): its series, or for GPU values its boards."""
        self._boards_of: dict[str, dict[Board, float | None]] = {}
        self._board_keys: dict[Board, Board] = {}
        self.since: float | None = None
        self.usable = False
        """Every fast series named a target of ``up`` at the last full read."""
        self.max_share = MAX_FRESH_SHARE
        self._full_at: float | None = None

    def full_due(self, at: float) -> bool:
        """Whether this read (at our clock's ``at``) must be a full one."""
        return not self.usable or self._full_at is None or at - self._full_at >= FULL_EVERY_S

    def matcher(self, instances: list[str] | None, up: list[Series]) -> str | None:
        """The ``instance`` matcher for this read's narrowed queries, ``''`` when no target is
        fresh, or None for a full read (``instances``: :func:`fresh_instances`, None when the
        question failed)."""
        if not self.usable or instances is None:
            return None
        targets = {_instance(labels) for labels, _ in up}
        if len(instances) > self.max_share * len(targets) or any("`" in i for i in instances):
            return None
        # A raw (backtick) string: RE2 takes an escaped punctuation mark as itself, and nothing in
        # a raw string is a PromQL escape.
        return f"instance=~`{'|'.join(_escape(i) for i in instances)}`" if instances else ""

    def merge(
        self, key: str, answer: list[Series] | None, matcher: str | None, fresh: Iterable[str]
    ) -> list[Series]:
        """This read's series for ``key``: a full answer replaces everything; a narrowed one
        replaces the fresh targets' series; a failed one (None) keeps what was there."""
        kept = self.kept.setdefault(key, {})
        if answer is not None:
            by_target: dict[str, list[Series]] = {}
            for series in answer:
                by_target.setdefault(_instance(series[0]) or "", []).append(series)
            if matcher is None:
                kept.clear()
            else:
                for target in fresh:
                    kept.pop(target, None)
            kept.update(by_target)  # type: ignore[arg-type]
        return [series for target in kept.values() for series in target]  # type: ignore[misc]

    def digest_boards(self, answer: list[Series], label: str) -> dict[str, dict[Board, float | None]]:
        """A GPU value's answer as ``instance -> {(label value, gpu): value}``, done as it arrives so
        its label dicts die with the JSON document: a full read's four answers are 64,000 series,
        ~50 MB while all four were held until the last arrived. Board keys are shared by the four."""
        canonical = self._board_keys
        by_target: dict[str, dict[Board, float | None]] = {}
        for labels, value in answer:
            try:
                raw = (labels.get(label), labels.get("gpu"))
                board = canonical.setdefault(raw, raw)
            except TypeError:  # an unhashable label value from a hostile answer
                continue
            by_target.setdefault(_instance(labels) or "", {})[board] = value
        return by_target

    def merge_boards(
        self,
        key: str,
        by_target: Mapping[str, dict[Board, float | None]] | None,
        matcher: str | None,
        fresh: Iterable[str],
    ) -> dict[Board, float | None]:
        """As :meth:`merge`, for a GPU value's :meth:`digest_boards`: kept as ``(label value, gpu)
        -> value`` rather than as the answer's series (16,000 boards x 4 values of label dicts were
        ~40 MB of RSS). Returns every board's value."""
        kept = self.kept.setdefault(key, {})
        merged = self._boards_of.setdefault(key, {})
        if by_target is not None:
            if matcher is None:
                kept.clear()
                merged.clear()
            else:
                for target in fresh:
                    for board in kept.pop(target, {}):  # type: ignore[union-attr]
                        merged.pop(board, None)
            for target, boards in by_target.items():
                kept[target] = boards  # type: ignore[assignment]
                merged.update(boards)
            if len(self._board_keys) > 4 * len(merged) + 1024:  # boards that went away
                self._board_keys = {b: b for b in merged}
        return merged

    def after_read(self, scrape: Any, full: bool, up: list[Series], at: float = 0.0) -> None:
        """Where the next read starts from (``scrape``: the parsed ``max(scrape_duration_seconds)``
        answer with its evaluation time), and, after a full read, whether delta reads are safe."""
        evaluated, slowest = scrape if isinstance(scrape, tuple) else (None, None)
        self.since = None if evaluated is None else evaluated - (slowest or 0.0) - MARGIN_S
        if full:
            self._full_at = at
            targets = {_instance(labels) for labels, _ in up}
            self.usable = self.since is not None and all(
                name in targets for key in FRESH_KEYS for name in self.kept.get(key, {})
            )


def fresh_instances(fresh: Any) -> list[str] | None:
    """The targets a parsed ``timestamp(up) > since`` answer names, sorted, once each; None when
    the answer is not a list of series (the question failed)."""
    if not isinstance(fresh, list):
        return None
    return sorted({i for labels, _ in fresh if (i := _instance(labels)) is not None})


def _instance(labels: Mapping[str, Any]) -> str | None:
    value = labels.get("instance")
    return value if isinstance(value, str) else None


_SPECIAL = frozenset("\\.+*?()|[]{}^$")


def _escape(text: str) -> str:
    return "".join(f"\\{c}" if c in _SPECIAL else c for c in text)
