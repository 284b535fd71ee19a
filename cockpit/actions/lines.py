"""Output as it arrives, turned into lines fit to show: the runner's half of "remote text is hostile".

Bytes are decoded incrementally (a UTF-8 character split across two SSH packets stays whole), split
on newlines, cut at :data:`MAX_LINE` (a binary blob or a minified JSON log has no newline to wait
for), stripped of terminal escapes by :func:`cockpit.sanitize.clean`, and revealed secrets are
redacted before any line reaches the sink.
"""

from __future__ import annotations

import codecs
from collections.abc import Awaitable, Callable, Sequence

from cockpit.sanitize import clean
from cockpit.secrets import redact

LineSink = Callable[[str, str], None]
"""Called with ``("stdout" | "stderr", line)`` for each line, in the order the lines arrive."""
MAX_LINE = 8192


class Lines:
    """Bytes in, clean lines out: split on newlines, decoded, secrets redacted, escapes stripped."""

    def __init__(self, stream: str, sink: LineSink, secrets: Sequence[str]) -> None:
        self.stream = stream
        self.sink = sink
        self.secrets = list(secrets)
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.partial = ""
        self.bytes = 0
        self.intercept: Callable[[str], bool] | None = None
        """Sees each line first; True keeps it from the sink (the runner's PID line)."""

    def feed(self, data: bytes) -> None:
        self.bytes += len(data)
        text = self.partial + self.decoder.decode(data)
        *lines, self.partial = text.split("\n")
        for line in lines:
            self._emit(line)
        while len(self.partial) > MAX_LINE:
            self._emit(self.partial[:MAX_LINE])
            self.partial = self.partial[MAX_LINE:]

    def finish(self) -> None:
        text = self.partial + self.decoder.decode(b"", final=True)
        self.partial = ""
        if text:
            self._emit(text)

    def _emit(self, line: str) -> None:
        line = line.removesuffix("\r")
        if self.intercept is not None and self.intercept(line):
            self.bytes -= len(line.encode()) + 1
            return
        self.sink(self.stream, clean(redact(line, self.secrets), limit=MAX_LINE))


async def pump(read: Callable[[int], Awaitable[bytes]], lines: Lines) -> None:
    while data := await read(65536):
        lines.feed(data)
    lines.finish()
