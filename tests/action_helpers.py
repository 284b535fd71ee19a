"""What the runner tests share (simulator tier and OpenSSH tier): a sink that waits for a line, and
a throwaway node action."""

from __future__ import annotations

import asyncio
from typing import Any

from cockpit.actions.schema import ActionConfig


class Lines:
    """A sink that keeps what it was given and can wait for a line."""

    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []
        self._seen = asyncio.Event()

    def __call__(self, stream: str, line: str) -> None:
        self.got.append((stream, line))
        self._seen.set()

    def of(self, stream: str) -> list[str]:
        return [line for s, line in self.got if s == stream]

    async def wait_for(self, text: str, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not any(text in line for _, line in self.got):
                self._seen.clear()
                await self._seen.wait()


def action(command: str, **fields: Any) -> ActionConfig:
    """A safe node action running ``command``; ``fields`` override any part of it."""
    return ActionConfig.model_validate(
        {"name": "t", "scope": "node", "danger": "safe", "command": command, **fields}
    )
