"""Host key policy: strict by default, ``accept-new`` records unknown keys, a changed key never passes.

asyncssh checks the key against known_hosts itself and asks us only about keys it does not trust.
We answer from the same file: if it already names this host, the key has *changed* (refuse, and say
so); if not, the host is *unknown* (refuse under ``strict``, record and accept under ``accept-new``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cockpit.lazy_import import lazy_import
from cockpit.model import DownReason

asyncssh = lazy_import("asyncssh")


def known_hosts_host(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


@dataclass
class HostKeyPolicy:
    path: Path
    accept_new: bool = False
    _cache: tuple[float, asyncssh.SSHKnownHosts] | None = None

    def known_hosts(self) -> asyncssh.SSHKnownHosts:
        """The file as asyncssh wants it, re-read only when it changes; a missing file is empty."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return asyncssh.import_known_hosts("")
        if self._cache is None or self._cache[0] != mtime:
            text = self.path.read_text(encoding="utf-8", errors="replace")
            self._cache = (mtime, asyncssh.import_known_hosts(text))
        return self._cache[1]

    def decide(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> DownReason | None:
        """Called for a key known_hosts does not trust: None accepts it (a new host under
        ``accept-new``, now recorded); otherwise the reason it is refused."""
        trusted = asyncssh.match_known_hosts(self.known_hosts(), host, addr, port)[0]
        if trusted:
            return DownReason.HOST_KEY_CHANGED
        if not self.accept_new:
            return DownReason.HOST_KEY_UNKNOWN
        self._record(host, port, key)
        return None

    def _record(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        line = f"{known_hosts_host(host, port)} {key.export_public_key('openssh').decode().strip()}\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())
        self._cache = None
