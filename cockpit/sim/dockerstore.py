"""Docker's disk on a simulated node: images (used, unused, dangling) and build cache.

``docker system df`` reads it and the prune commands empty it, giving the space back to the node's
docker mount (so ``df`` drops after ``docker system prune -af``, as it does on a real machine).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cockpit.sim.noise import hash01, hash_hex, name_key
from cockpit.sim.services_world import ServicesWorld

EXTRA_IMAGES = (
    "nvcr.io/nvidia/pytorch:24.10-py3",
    "ollama/ollama:0.4.2",
    "ghcr.io/open-webui/open-webui:0.3.35",
)


@dataclass(slots=True)
class Image:
    ref: str
    """``repo:tag``, or "" for a dangling image."""
    id: str
    size: int
    layers: tuple[str, ...]


@dataclass(slots=True)
class Store:
    unused: list[Image] = field(default_factory=list)
    cache: list[tuple[str, int]] = field(default_factory=list)
    used_bytes: int = 0
    used_count: int = 0
    volumes_bytes: int = 0


def _older(ref: str, step: int) -> str:
    """A tag a little before ``ref``'s: its rightmost number that can go down by ``step`` does."""
    repo, _, tag = ref.rpartition(":")
    for m in reversed(list(re.finditer(r"\d+", tag))):
        if int(m.group()) >= step:
            return f"{repo}:{tag[: m.start()]}{int(m.group()) - step}{tag[m.end() :]}"
    return f"{repo}:main" if step == 1 else f"{repo}:dev"


def store(services: ServicesWorld) -> Store:
    """The node's docker store, made deterministically from its key on first use."""
    if isinstance(services.store, Store):
        return services.store
    key = services.key
    s = Store()
    images = sorted({c.spec.image for c in services.containers.values()})
    for ref in images:
        h = name_key(ref)
        s.used_bytes += int(8e7 + 2.2e9 * hash01(key, h, 1))
        for step in range(1, 2 + int(2 * hash01(key, h, 2))):
            s.unused.append(_image(_older(ref, step), key, h + step))
    if not images:
        s.unused += [_image(ref, key, name_key(ref)) for ref in EXTRA_IMAGES[: 1 + int(3 * hash01(key, 4))]]
    s.unused += [_image("", key, 900 + i) for i in range(int(6 * hash01(key, 5)))]
    s.used_count = len(images)
    s.volumes_bytes = sum(int(5e7 + 9e8 * hash01(key, name_key(v), 3))
                          for c in services.containers.values() for v, _ in c.spec.volumes)  # fmt: skip
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    for i in range(int(8 + 30 * hash01(key, 6))):
        ident = "".join(alphabet[int(36 * hash01(key, 7, i, j))] for j in range(25))
        s.cache.append((ident, int(1e6 + 3e8 * hash01(key, 8, i) ** 3)))
    services.store = s
    return s


def _image(ref: str, key: int, h: int) -> Image:
    size = int(4e7 + (1.6e10 if "pytorch" in ref else 2.5e9) * hash01(key, h, 9))
    layers = tuple(hash_hex(64, key, h, 20 + i) for i in range(2 + int(4 * hash01(key, h, 10))))
    return Image(ref, hash_hex(64, key, h, 12), size, layers)


def prune_images(s: Store, everything: bool) -> tuple[list[str], int]:
    """``docker image prune [-a]``: the report lines and bytes freed; dangling only without -a."""
    gone = [im for im in s.unused if everything or not im.ref]
    s.unused = [im for im in s.unused if im not in gone]
    lines = []
    for im in gone:
        if im.ref:
            lines += [f"untagged: {im.ref}", f"untagged: {im.ref.rpartition(':')[0]}@sha256:{im.layers[-1]}"]
        lines += [f"deleted: sha256:{im.id}"] + [f"deleted: sha256:{layer}" for layer in im.layers]
    return lines, sum(im.size for im in gone)


def prune_cache(s: Store) -> tuple[list[str], int]:
    gone, s.cache = s.cache, []
    return [ident for ident, _ in gone], sum(size for _, size in gone)
