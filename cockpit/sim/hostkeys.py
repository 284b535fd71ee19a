"""Host keys of the simulated nodes and the known_hosts file that lets the cockpit trust them.

The demo keeps host-key checking *strict*: each node gets an ed25519 key generated once and kept
under ``<state>/hostkeys`` (0600 files in 0700 folders), and its public half is written to the
cluster's ``ssh.known_hosts`` in OpenSSH format. Our lines carry a ``gpu-cockpit-sim:<node>``
comment so a restart replaces them (ports may change) without touching anyone else's entries.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import asyncssh

TAG = "gpu-cockpit-sim:"


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable by the owner only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def load_or_create(path: Path) -> asyncssh.SSHKey:
    """The ed25519 key stored at ``path``, generated and saved (0600) on first use."""
    if path.exists():
        return asyncssh.read_private_key(str(path))
    private_dir(path.parent)
    key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{TAG}{path.stem}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".key")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key.export_private_key("openssh"))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return key


def host_pattern(host: str, port: int) -> str:
    """How OpenSSH and asyncssh name ``host:port`` in known_hosts."""
    return host if port == 22 else f"[{host}]:{port}"


def public_line(key: asyncssh.SSHKey) -> str:
    """``ssh-ed25519 AAAA...`` without the comment."""
    algo, blob = key.export_public_key("openssh").decode().split()[:2]
    return f"{algo} {blob}"


def write_known_hosts(path: Path, entries: dict[str, tuple[str, asyncssh.SSHKey]]) -> None:
    """Set the lines for ``{node: (host pattern, key)}``, keeping every other line of the file.

    A line is ours when it carries our tag for that node or names the same host pattern; both are
    replaced, so a node that moved port leaves no stale trust behind.
    """
    private_dir(path.parent)
    patterns = {pattern for pattern, _ in entries.values()}
    tags = {f"{TAG}{node}" for node in entries}
    kept = []
    if path.exists():
        for line in path.read_text().splitlines():
            fields = line.split()
            ours = fields and not line.lstrip().startswith("#")
            if ours and (fields[-1] in tags or fields[0] in patterns):
                continue
            kept.append(line)
    ours = [f"{pattern} {public_line(key)} {TAG}{node}" for node, (pattern, key) in entries.items()]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".known_hosts-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("".join(line + "\n" for line in kept + ours))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
