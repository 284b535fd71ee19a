"""Deterministic hashing and value noise: everything the simulator varies comes from here.

The same seed and the same clock readings must give the same machine, so nothing in the simulator
uses a global RNG; it hashes (seed, name, time bucket) instead. Python's ``hash()`` is salted per
process, hence :func:`name_key`.
"""

from __future__ import annotations

import math
import zlib

MASK64 = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64 finaliser: a fast, well-spread integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def hash01(*parts: int) -> float:
    """A deterministic uniform number in [0, 1) from integers."""
    h = 0
    for part in parts:
        h = _mix(h ^ (part & MASK64))
    return (h >> 11) / float(1 << 53)


def hash_hex(length: int, *parts: int) -> str:
    """``length`` lowercase hex digits (container ids, image digests) from integers."""
    out, i = [], 0
    while len(out) * 16 < length:
        out.append(f"{_mix(int(hash01(*parts, i) * (1 << 53)) ^ i):016x}")
        i += 1
    return "".join(out)[:length]


def smooth_noise(key: int, t: float, period: float) -> float:
    """Value noise in [-1, 1] that changes smoothly over about ``period`` seconds."""
    x = t / period
    k = math.floor(x)
    f = x - k
    a, b = hash01(key, k), hash01(key, k + 1)
    s = f * f * (3.0 - 2.0 * f)
    return 2.0 * (a + (b - a) * s) - 1.0


def name_key(text: str) -> int:
    """A stable integer for a name (``hash()`` is salted per process)."""
    return zlib.crc32(text.encode())
