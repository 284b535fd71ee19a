"""The ``:`` command table and the command line's history, without Textual.

Names follow k9s: a view is reached by its plural name or a short alias (``:no``, ``:co``), and
the same table feeds completion, ``resolve_command`` and the help screen.
"""

from __future__ import annotations

from collections.abc import Iterable

COMMANDS: dict[str, tuple[str, ...]] = {
    "nodes": ("no", "node"),
    "gpus": ("gpu",),
    "containers": ("co", "docker"),
    "services": ("svc",),
    "units": ("un", "systemd"),
    "alerts": ("al",),
    "log": ("logs",),
    "peers": ("p2p", "mesh"),
    "instances": ("vast", "in"),
    "cost": ("$",),
    "signals": ("golden", "vllm"),
    "pods": ("po", "k8s"),
    "quit": ("q",),
}
"""Command name -> its aliases, in the order completion offers them."""

_BY_WORD = {word: name for name, aliases in COMMANDS.items() for word in (name, *aliases)}

HISTORY_SIZE = 50


def resolve_command(text: str) -> str | None:
    """The command named by the first word of ``text`` (``":co web"`` -> ``"containers"``), or None."""
    words = text.strip().removeprefix(":").split()
    return _BY_WORD.get(words[0].casefold()) if words else None


def complete_command(prefix: str, extra: Iterable[str] = ()) -> str | None:
    """The first of ``extra`` (history, newest first), command names, then aliases that extends
    ``prefix``; the command word only, arguments are not guessed."""
    wanted = prefix.casefold()
    if not wanted:
        return None
    words = (*extra, *COMMANDS, *(a for aliases in COMMANDS.values() for a in aliases))
    for word in words:
        if word.casefold().startswith(wanted) and len(word) > len(prefix):
            return word
    return None


class InputHistory:
    """The last ``size`` submitted lines, newest last; walking it keeps the line being typed.

    ``older()``/``newer()`` return the text to show; walking past the newest returns the draft
    the operator had typed before pressing up, so a stray up arrow loses nothing."""

    def __init__(self, entries: Iterable[str] = (), size: int = HISTORY_SIZE) -> None:
        self.size = size
        self._entries: list[str] = []
        for entry in entries:
            self.add(entry)
        self._at: int | None = None
        self._draft = ""

    @property
    def entries(self) -> list[str]:
        """Oldest first, as the lead persists them."""
        return list(self._entries)

    def newest_first(self) -> list[str]:
        return self._entries[::-1]

    def add(self, line: str) -> None:
        """Remember ``line`` as the newest (a repeat moves to the end rather than duplicating)."""
        line = line.strip()
        self.reset()
        if not line:
            return
        if line in self._entries:
            self._entries.remove(line)
        self._entries.append(line)
        del self._entries[: -self.size]

    def reset(self) -> None:
        self._at = None
        self._draft = ""

    def older(self, current: str) -> str | None:
        """The entry before the one shown (None when there is none: leave the text alone)."""
        if not self._entries:
            return None
        if self._at is None:
            self._draft = current
            self._at = len(self._entries)
        if self._at == 0:
            return None
        self._at -= 1
        return self._entries[self._at]

    def newer(self) -> str | None:
        """The entry after the one shown, then the draft; None when not walking the history."""
        if self._at is None:
            return None
        self._at += 1
        if self._at >= len(self._entries):
            draft = self._draft
            self.reset()
            return draft
        return self._entries[self._at]
