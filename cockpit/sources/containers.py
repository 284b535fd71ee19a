"""Docker containers from ``docker ps`` JSON lines, plus restart counts from ``docker inspect``.

Two commands, two fenced parts of the poll: ``DOCKER_PS`` lists every container, one JSON object
per line (keys as the docker CLI prints them; ``Labels`` is one ``k=v,k=v`` string, values may
hold commas; docker before 20.10 has no ``State``; 28.x adds ``"Platform":null``). ``DOCKER_INSPECT``
adds what ``ps`` lacks: ``RestartCount`` and the last exit code.

``--size=false`` matters: ``{{json .}}`` mentions ``.Size``, so without it the CLI asks the daemon
for ``size=1``, which walks every container's writable layer on every poll.
``docker inspect --type container`` skips the image/volume/network fallback lookups, and its
input is ``docker ps -aq`` with errors discarded: the daemon's "Cannot connect" text must never
become arguments to ``inspect`` (``DOCKER_PS`` already reports it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace

from cockpit.model import Container, ProbeError
from cockpit.sanitize import clean

PROBE = "containers"
DOCKER_PS = "docker ps -a --no-trunc --size=false --format '{{json .}}'"
DOCKER_INSPECT = (
    "docker ps -aq --no-trunc 2>/dev/null"
    " | xargs -r docker inspect --type container --format '{{.Id}} {{.RestartCount}} {{.State.ExitCode}}'"
)
NO_SUCH_COMMAND = 127
TIMED_OUT = 124
COMPOSE_PROJECT = "com.docker.compose.project"

_NOT_INSTALLED = re.compile(r"\bdocker: (?:command )?not found\b|\bdocker: No such file or directory")
_DAEMON_DOWN = re.compile(r"Cannot connect to the Docker daemon at (\S+?)\.? Is the docker daemon running\?")
_DENIED = re.compile(r"permission denied while trying to connect to the Docker daemon socket at (\S+):\s")
_INSPECT_LINE = re.compile(r"^([0-9a-f]{12,64}) (\d+) (-?\d+)$")
_EXIT_STATUS = re.compile(r"^(?:Exited|Restarting) \((-?\d+)\)")
# A label key as docker and compose write them: reverse-DNS-ish, no spaces. A comma inside a value
# is followed by text that does not look like "key=", which is how the joined string is split back.
_LABEL_START = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*=")


def _one_line(text: str, limit: int = 160) -> str:
    return clean(" ".join(text.split()), limit=limit)


def parse_labels(text: str) -> dict[str, str]:
    """``k=v,k=v`` back into a dict; a piece that does not start a new ``key=`` belongs to the value
    before it ("description=A privacy-respecting, hackable metasearch engine.")."""
    labels: dict[str, str] = {}
    key: str | None = None
    for piece in text.split(","):
        match = _LABEL_START.match(piece)
        if match:
            key = piece[: match.end() - 1]
            labels[key] = piece[match.end() :]
        elif key is not None:
            labels[key] += "," + piece
    return labels


_DOCKER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}")
"""The names docker itself accepts for a container (its ``RestrictedNamePattern``)."""
_DOCKER_ID = re.compile(r"[0-9a-f]{12,64}")


def _text(value: object) -> str:
    """A JSON value as display text: docker writes strings, but ``Platform`` is ``null`` and a
    docker-compatible CLI (podman) writes lists and numbers."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={_text(v)}" for k, v in value.items())
    return str(value)


def _name(value: object) -> str:
    """With ``--no-trunc`` a linked container lists every name ("web,other/alias"); the one without
    a slash is its own."""
    names = value if isinstance(value, list) else _text(value).split(",")
    names = [_text(n).lstrip("/") for n in names if _text(n)]
    own = [n for n in names if "/" not in n]
    return (own or names or [""])[0]


def _exit_code(status: str) -> int | None:
    match = _EXIT_STATUS.match(status)
    return int(match.group(1)) if match else None


def _container(line: str) -> Container | None:
    try:
        row = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(row, dict):
        return None
    cid = _text(row.get("ID", row.get("Id", ""))).strip()
    name = _name(row.get("Names", ""))
    if not cid or not name:
        return None
    raw_labels = row.get("Labels", "")
    labels = (
        {str(k): _text(v) for k, v in raw_labels.items()}
        if isinstance(raw_labels, dict)
        else parse_labels(_text(raw_labels))
    )
    project = labels.get(COMPOSE_PROJECT) or None
    status = clean(_text(row.get("Status", "")))
    created = clean(_text(row.get("CreatedAt", ""))) or None
    ref = name if _DOCKER_NAME.fullmatch(name) else (cid if _DOCKER_ID.fullmatch(cid) else "")
    return Container(
        id=clean(cid, limit=128),
        ref=ref,
        name=clean(name),
        image=clean(_text(row.get("Image", ""))),
        state=clean(_text(row.get("State", ""))).lower(),
        status=status,
        created=created,
        ports=clean(_text(row.get("Ports", ""))),
        project=clean(project) if project else None,
        exit_code=_exit_code(status),
    )


def parse_ps(text: str) -> tuple[tuple[Container, ...], int]:
    """Every readable line of ``DOCKER_PS`` output, and how many non-blank lines were not."""
    rows: list[Container] = []
    bad = 0
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        container = _container(stripped) if stripped.startswith("{") else None
        if container is None:
            bad += 1
        else:
            rows.append(container)
    return tuple(rows), bad


def parse_inspect(text: str) -> dict[str, tuple[int, int]]:
    """Full id -> (RestartCount, ExitCode) from ``DOCKER_INSPECT``; error lines (a container removed
    between ``ps`` and ``inspect``: "Error response from daemon: No such container") are skipped."""
    found: dict[str, tuple[int, int]] = {}
    for line in text.splitlines():
        match = _INSPECT_LINE.match(line.strip())
        if match:
            found[match.group(1)] = (int(match.group(2)), int(match.group(3)))
    return found


def _error(text: str, rc: int | None) -> ProbeError | None:
    """Why ``docker ps`` said nothing useful, in a line an operator recognises; None if it did."""
    if rc == TIMED_OUT:
        return ProbeError(PROBE, "docker ps timed out (a hung daemon?)")
    down = _DAEMON_DOWN.search(text)
    if down:
        return ProbeError(
            PROBE, f"Docker daemon not running (cannot connect to {clean(down.group(1), limit=80)})"
        )
    denied = _DENIED.search(text)
    if denied:
        where = clean(denied.group(1), limit=80)
        return ProbeError(
            PROBE, f"permission denied on the Docker socket {where} (user not in the docker group?)"
        )
    return None


def _with_inspect(container: Container, counts: Mapping[str, tuple[int, int]]) -> Container:
    match = counts.get(container.id)
    if match is None and len(container.id) < 64:  # old CLIs or a shortened id: match by prefix
        match = next((v for k, v in counts.items() if k.startswith(container.id)), None)
    if match is None:
        return container
    restarts, exit_code = match
    stopped = container.state in ("exited", "dead", "restarting") or container.status.startswith(
        ("Exited", "Restarting")
    )
    return replace(container, restart_count=restarts, exit_code=exit_code if stopped else container.exit_code)


def parse_containers(
    ps_text: str, ps_rc: int | None, inspect_text: str = "", inspect_rc: int | None = None
) -> tuple[Container, ...] | ProbeError:
    """The containers of one node, or why they could not be listed.

    No docker at all (rc 127) is not an error: the node simply runs no containers. A daemon that is
    down or a socket we may not open is. ``inspect`` is best effort: without it restart counts are
    None and exit codes come from the Status text ("Exited (137) 3 minutes ago").
    """
    if ps_rc == NO_SUCH_COMMAND:
        return ()
    containers, bad = parse_ps(ps_text)
    if not containers:
        if _NOT_INSTALLED.search(ps_text):
            return ()
        problem = _error(ps_text, ps_rc)
        if problem is not None:
            return problem
        if bad:
            first = next(line for line in ps_text.splitlines() if line.strip())
            return ProbeError(PROBE, f"docker ps: {bad} unreadable line(s): {_one_line(first)}")
        if ps_rc is None:
            return ProbeError(PROBE, "docker ps did not finish")
        if ps_rc != 0:
            return ProbeError(PROBE, f"docker ps exited with status {ps_rc}")
        return ()
    counts = parse_inspect(inspect_text) if inspect_rc != NO_SUCH_COMMAND else {}
    return tuple(_with_inspect(c, counts) for c in containers)


def restart_counts(containers: Iterable[Container]) -> dict[str, int]:
    """What the engine keeps between polls to call :func:`crash_looping` on the next one."""
    return {c.id: c.restart_count for c in containers if c.restart_count is not None}


def crash_looping(previous: Mapping[str, int], containers: Iterable[Container]) -> frozenset[str]:
    """Ids of containers that are crash-looping now.

    The rule: docker says the container is restarting (State ``restarting`` or Status
    "Restarting (N) ..."), or its RestartCount rose since the previous reading of the same id.
    RestartCount counts only restarts by the restart policy (not ``docker restart``), so a rise means
    the process died and docker brought it back; a rise between two polls also catches a loop too
    fast for a poll to see the ``restarting`` state. A container seen for the first time has no
    previous count and is judged on its state alone; a recreated one has a new id, so a reset count
    never looks like a rise.
    """
    looping = set()
    for c in containers:
        before = previous.get(c.id)
        rose = before is not None and c.restart_count is not None and c.restart_count > before
        if c.restarting or rose:
            looping.add(c.id)
    return frozenset(looping)
