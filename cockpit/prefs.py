"""What the cockpit remembers between sessions (the theme, command history), in the XDG state dir.

Small JSON, written atomically (a crash mid-write must not lose the old file) with 0600 in a 0700
dir: command history can name hosts and containers, which is nobody else's business.
A missing or damaged file is simply an empty memory; remembering is a convenience, never a reason
for the cockpit not to start.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from platformdirs import user_state_dir

from cockpit.config import APP_NAME


def state_dir() -> Path:
    return Path(os.environ.get("COCKPIT_STATE_DIR") or user_state_dir(APP_NAME))


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make sure only we can enter it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    return path


class Prefs:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_dir() / "prefs.json"
        self._data: dict[str, Any] = self._load()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.remember(key, value)
        self.save()

    def remember(self, key: str, value: Any) -> None:
        """In memory only; :meth:`save` writes it (the app does so in a thread)."""
        with self._lock:
            self._data[key] = value

    def save(self) -> None:
        """Write what is remembered. Safe from a thread: on a busy disk (Prometheus's own WAL on
        the same jump host) one write was measured at 1.3 s, and the loop must not wait for it."""
        with self._lock:
            text = json.dumps(self._data)
        with self._write_lock:
            try:
                private_dir(self.path.parent)
                tmp = self.path.with_suffix(".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(text)
                os.replace(tmp, self.path)
            except OSError:
                pass  # a read-only home still gets a working cockpit
