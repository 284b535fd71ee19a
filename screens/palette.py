"""Command palette (ctrl+p) entries for the cockpit's views and commands, read as "noun: verb".

The provider knows nothing of the app: it lists what a callable returns each time the palette
opens, so the app decides what exists now (a view only when its source is configured, "marks:
clear" only when rows are marked) and each entry carries the callable that does it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from textual.command import DiscoveryHit, Hit, Hits, Provider

from cockpit.commands import COMMANDS


@dataclass(frozen=True, slots=True)
class PaletteCommand:
    noun: str
    verb: str
    run: Callable[[], object]
    help: str = ""

    @property
    def title(self) -> str:
        return f"{self.noun}: {self.verb}"


def view_commands(views: Iterable[str], open_view: Callable[[str], object]) -> list[PaletteCommand]:
    """ "view: nodes" and friends for each of ``views`` (pass only those the app can show)."""

    def opener(name: str) -> Callable[[], object]:
        return lambda: open_view(name)

    out = []
    for name in views:
        words = ", ".join(f":{word}" for word in (name, *COMMANDS.get(name, ())))
        out.append(PaletteCommand("view", name, opener(name), f"also {words}"))
    return out


def palette_provider(commands: Callable[[], Iterable[PaletteCommand]]) -> type[Provider]:
    """A Provider class listing ``commands()``; register it in ``App.COMMANDS``."""

    class CockpitCommands(Provider):
        async def discover(self) -> Hits:
            for command in commands():
                yield DiscoveryHit(command.title, command.run, help=command.help)

        async def search(self, query: str) -> Hits:
            matcher = self.matcher(query)
            for command in commands():
                score = matcher.match(command.title)
                if score > 0:
                    yield Hit(
                        score, matcher.highlight(command.title), command.run, command.title, command.help
                    )

    return CockpitCommands
