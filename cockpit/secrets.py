"""Secret references: ``${env:VAR}`` and ``${file:PATH}``, never literal values in cluster.yaml.

A :class:`SecretRef` prints as its reference, never as its value, so it can travel through logs,
``repr`` and snapshots safely; only :meth:`SecretRef.reveal` reads the value, at the moment of use.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

REFERENCE = re.compile(r"^\$\{(env|file):([^}]+)\}$")
SECRET_LIKE_KEY = re.compile(r"(key|token|password|passwd|secret|passphrase|credential)", re.I)
NOT_SECRET_KEYS = frozenset(
    {"identity_file", "known_hosts", "host_key_policy", "keys", "key", "api_key_file"}
)
REDACTED = "«redacted»"


class SecretError(Exception):
    """A reference that cannot be resolved; the message names the reference, never a value."""


@dataclass(frozen=True, slots=True)
class SecretRef:
    kind: str
    name: str

    @classmethod
    def parse(cls, text: str) -> SecretRef | None:
        match = REFERENCE.match(text.strip())
        return cls(match.group(1), match.group(2)) if match else None

    def __str__(self) -> str:
        return f"${{{self.kind}:{self.name}}}"

    __repr__ = __str__

    def reveal(self) -> str:
        if self.kind == "env":
            value = os.environ.get(self.name)
            if value is None:
                raise SecretError(f"environment variable {self.name} is not set (for {self})")
            return value
        try:
            return Path(self.name).expanduser().read_text(encoding="utf-8").rstrip("\n")
        except OSError as exc:
            raise SecretError(f"cannot read {self}: {exc.strerror or exc}") from None


def is_secret_like(key: str) -> bool:
    """Field names whose values are secrets by their name (``api_key``, ``token``, ...)."""
    return key not in NOT_SECRET_KEYS and bool(SECRET_LIKE_KEY.search(key))


def redact(text: str, secrets: list[str]) -> str:
    """Replace every revealed secret value in ``text`` before it is shown or recorded."""
    for value in secrets:
        if value:
            text = text.replace(value, REDACTED)
    return text
