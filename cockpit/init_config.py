"""``cockpit init``: a starter cluster.yaml from the Host entries the operator already has.

Everyone who runs GPU boxes has them in ``~/.ssh/config`` already, jump hosts included; typing them
again into YAML is where typos come from. Each concrete alias becomes a node (HostName, User, Port,
ProxyJump kept); with the operator's consent each host is asked over SSH which of nvidia-smi,
docker and systemctl it has, to choose its probes. The file is written 0600 in a 0700 directory and
an existing one is never replaced unless asked to.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from platformdirs import user_config_dir

from cockpit.config import APP_NAME, HOST_RE, JUMP_SPEC_RE, NAME_RE, USER_RE, Cluster, load_cluster
from cockpit.model import ProbeError
from cockpit.sanitize import clean
from cockpit.ssh_config import SshHost, parse_ssh_config

TOOLS = ("nvidia-smi", "docker", "systemctl")
PROBE_COMMAND = "command -v nvidia-smi; command -v docker; command -v systemctl"
"""One name per ``command -v``: dash (Debian's sh) looks only at the first name it is given."""
Probed = Mapping[str, frozenset[str] | ProbeError]


class InitError(Exception):
    """One line for the operator."""


def default_config_path() -> Path:
    """Where :func:`cockpit.config.find_config` looks last: the XDG config dir."""
    return Path(user_config_dir(APP_NAME)) / "cluster.yaml"


# -- probing ---------------------------------------------------------------------------------------


def parse_command_v(stdout: str) -> frozenset[str]:
    """Which tools ``command -v`` found: a path ending in the name, or the bare name (a builtin
    or function). Anything else (``alias docker='podman'``, a login banner) is not the tool."""
    found = set()
    for line in stdout.splitlines():
        line = line.strip()
        name = line.rsplit("/", 1)[-1]
        if name in TOOLS and (line == name or line.startswith("/")):
            found.add(name)
    return frozenset(found)


async def probe_hosts(
    cluster: Cluster, names: Iterable[str] | None = None, *, pool: Any = None
) -> dict[str, frozenset[str] | ProbeError]:
    """Ask each node which tools it has, over the cockpit's own SSH pool (so host keys, jump hosts
    and timeouts are exactly what the cockpit will use); a node that cannot answer gets a
    ProbeError with one line."""
    from cockpit.sources.ssh import CommandFailure, ConnectFailure, SshPool

    own = pool is None
    pool = pool or SshPool(cluster)
    gate = asyncio.Semaphore(cluster.ssh.max_concurrency)
    wanted = list(names) if names is not None else [n.name for n in cluster.nodes]
    limit = (cluster.ssh.connect_timeout + 1) * 3 + cluster.ssh.command_timeout

    async def one(name: str) -> frozenset[str] | ProbeError:
        async with gate:
            try:
                async with asyncio.timeout(limit):
                    result = await pool.run(name, PROBE_COMMAND, cluster.ssh.command_timeout)
            except (ConnectFailure, CommandFailure) as exc:
                return ProbeError("init", clean(str(exc)))
            except TimeoutError:
                return ProbeError("init", f"no answer in {limit:g}s")
        if result.truncated:
            return ProbeError("init", "the answer was too long to be command -v")
        return parse_command_v(result.stdout)

    try:
        found = await asyncio.gather(*(one(name) for name in wanted))
    finally:
        if own:
            await pool.close()
    return dict(zip(wanted, found, strict=True))


def probes_for(tools: frozenset[str]) -> list[str]:
    return [
        "host",
        *(["gpus"] if "nvidia-smi" in tools else []),
        *(["containers"] if "docker" in tools else []),
    ]


# -- the starter file ------------------------------------------------------------------------------


def _yaml(value: object) -> str:
    """A scalar as YAML that reads back as exactly this value (``no``, ``1e3`` and ``a: b`` quoted)."""
    if isinstance(value, bool | int | float) or value is None:
        return json.dumps(value)
    text = str(value)
    try:
        if yaml.safe_load(text) == text and "#" not in text and not text.startswith(("'", '"')):
            return text
    except yaml.YAMLError:
        pass
    return json.dumps(text)


def _flow(items: Sequence[object]) -> str:
    return "[" + ", ".join(_yaml(i) for i in items) + "]"


class _Plan:
    """Which entries become nodes, their jumps, and what to say about those that cannot."""

    def __init__(self, hosts: Sequence[SshHost]) -> None:
        self.notes: list[str] = []
        self.by_alias = {h.alias: h for h in hosts}
        self.nodes: list[SshHost] = []
        self.same_as: dict[str, str] = {}
        """An alias for a machine already listed (``Host hydra hydra.lan``) -> the node's name:
        one machine polled twice would count its GPUs twice."""
        self.aka: dict[str, list[str]] = {}
        first: dict[tuple[object, ...], str] = {}
        for host in hosts:
            if not NAME_RE.match(host.alias):
                self.notes.append(f"{host.where}: {host.alias!r} cannot be a node name; skipped")
            elif not HOST_RE.match(host.hostname):
                self.notes.append(f"{host.where}: HostName {host.hostname!r} is not a host name; skipped")
            else:
                key = (host.hostname, host.port, host.user, host.proxy_jump, host.proxy_command)
                if key in first:
                    self.same_as[host.alias] = first[key]
                    self.aka.setdefault(first[key], []).append(host.alias)
                    continue
                first[key] = host.alias
                self.nodes.append(host)
        self.names = {h.alias for h in self.nodes}
        self.jumps = {h.alias: self._jump(h) for h in self.nodes}
        self._break_loops()

    def _jump(self, host: SshHost) -> str | None:
        if host.proxy_command:
            self.notes.append(
                f"{host.where}: {host.alias} uses ProxyCommand, which the cockpit does not run;"
                " it will connect directly"
            )
        if not host.proxy_jump:
            return None
        hops = [h.strip().removeprefix("ssh://") for h in host.proxy_jump.split(",") if h.strip()]
        spec = JUMP_SPEC_RE.match(hops[-1]) if hops else None
        if spec is None:
            self.notes.append(f"{host.where}: ProxyJump {host.proxy_jump!r} not understood; no jump kept")
            return None
        user, name, port = spec.group("user"), spec.group("host"), spec.group("port")
        name = self.same_as.get(name, name)
        via = self.by_alias.get(name)
        if (
            via is not None
            and name in self.names
            and user in (None, via.user)
            and port in (None, str(via.port))
        ):
            jump = name
        elif via is not None:
            jump = _spec(user or via.user, via.hostname, int(port) if port else via.port)
        else:
            jump = _spec(user, name, int(port) if port else None)
        if len(hops) > 1:
            earlier = ",".join(hops[:-1])
            chained = self.by_alias.get(jump)
            if chained is None or (chained.proxy_jump or "").removeprefix("ssh://") != earlier:
                self.notes.append(
                    f"{host.where}: {host.alias}: ProxyJump {host.proxy_jump}: only the last hop is kept"
                    f" (give {jump} its own jump to reach it through {earlier})"
                )
        return jump

    def _break_loops(self) -> None:
        for start in list(self.jumps):
            seen = [start]
            hop = self.jumps.get(start)
            while hop in self.jumps:
                if hop in seen:
                    self.notes.append(f"{start}: jump hosts loop ({' -> '.join([*seen, hop])}); jump dropped")
                    self.jumps[start] = None
                    break
                seen.append(hop)
                hop = self.jumps.get(hop)


def _spec(user: str | None, host: str, port: int | None) -> str:
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{user + '@' if user else ''}{host}:{port or 22}"


def starter_cluster(
    hosts: Sequence[SshHost],
    probes: Probed | None = None,
    *,
    cluster_name: str = "my-cluster",
    source: str = "~/.ssh/config",
    ssh: Mapping[str, object] | None = None,
    notes: list[str] | None = None,
) -> str:
    """cluster.yaml text, commented, that :func:`cockpit.config.load_cluster` accepts.

    ``probes`` maps a node to the tools it has (or why it could not be asked); nodes not in it keep
    the default probes. ``ssh`` replaces the ``ssh:`` settings (tests point known_hosts at the
    simulator's). Entries that cannot become nodes are explained in ``notes`` (appended to).
    """
    plan = _Plan(hosts)
    if notes is not None:
        notes.extend(plan.notes)
    probes = probes or {}
    today = dt.date.today().isoformat()
    out = [
        f"# gpu-cockpit cluster, written by `cockpit init` on {today} from {source}.",
        "# Each node is a Host entry there. Check it with: cockpit validate <this file>",
        "# Probes: host (load, CPU, memory, disks), gpus (nvidia-smi), containers (docker).",
        f"cluster: {_yaml(cluster_name)}",
        "refresh: 2",
        "",
        "ssh:",
    ]
    settings: dict[str, object] = {
        "known_hosts": "~/.ssh/known_hosts",
        "host_key_policy": "strict",
        "config_file": source,
    }
    settings.update(ssh or {})
    out.append("  # Host keys are checked against known_hosts; an unknown key is refused, never accepted.")
    for key, value in settings.items():
        if key == "config_file":
            out.append(
                "  # Read by the cockpit's SSH client too (IdentityFile, ...). It connects to the host:"
            )
            out.append("  # of each node below, so options under a Host alias apply only if they match it.")
        out.append(f"  {key}: {_yaml(value)}")
    identities = sorted({f for h in plan.nodes for f in h.identity_files})
    if identities and "identity_file" not in settings:
        out.append("  # Keys named by IdentityFile; uncomment if ssh-agent does not hold them:")
        out.append(f"  # identity_file: {_flow(identities)}")
    out += ["", "nodes:"]
    for host in plan.nodes:
        out += _node_lines(host, plan.jumps.get(host.alias), probes.get(host.alias), plan.notes)
        if host.alias in plan.aka:
            out.append(f"    # also named {', '.join(plan.aka[host.alias])} in {source}")
    if plan.notes:
        out += ["", "# Notes from reading the SSH config:"]
        out += [f"#   {clean(note, limit=300)}" for note in plan.notes]
    return "\n".join(out) + "\n"


def _node_lines(
    host: SshHost, jump: str | None, probed: frozenset[str] | ProbeError | None, notes: list[str]
) -> list[str]:
    lines = [f"  - name: {_yaml(host.alias)}", f"    host: {_yaml(host.hostname)}"]
    if host.port is not None:
        lines.append(f"    port: {host.port}")
    if host.user is not None:
        if USER_RE.match(host.user):
            lines.append(f"    user: {_yaml(host.user)}")
        else:
            notes.append(
                f"{host.where}: User {host.user!r} is not a login name the cockpit accepts; left out"
            )
    if jump is not None:
        lines.append(f"    jump: {_yaml(jump)}")
    if isinstance(probed, ProbeError):
        lines.append(f"    # not probed ({clean(probed.reason, limit=200)}): default probes")
    elif probed is None:
        lines.append("    # not probed: default probes (host, gpus, containers)")
    else:
        found = ", ".join(t for t in TOOLS if t in probed) or "none of nvidia-smi, docker, systemctl"
        lines.append(f"    probes: {_flow(probes_for(probed))}  # found: {found}")
        if "systemctl" in probed:
            lines.append("    # units: [ollama]  # systemd runs here: list the units to watch")
    return lines


def cluster_from_text(text: str) -> Cluster:
    """Validate starter text exactly as the cockpit will load it (raises ConfigError)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cluster.yaml"
        path.write_text(text, encoding="utf-8")
        return load_cluster(path)


# -- writing ---------------------------------------------------------------------------------------


def write_config(path: str | os.PathLike[str], text: str, *, overwrite: bool) -> Path | None:
    """Write ``text`` to ``path`` (0600; a new directory is made 0700). An existing file is kept
    unless ``overwrite``; then it is first copied to ``PATH.bak``, which is returned."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InitError(f"{path} already exists; not replacing it (use --force to replace it)")
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    backup = None
    if path.exists():
        backup = path.with_name(path.name + ".bak")
        _write_new(backup, path.read_bytes(), replace=True)
    _write_new(path, text.encode(), replace=overwrite)
    return backup


def _write_new(path: Path, data: bytes, *, replace: bool) -> None:
    """Written to a temporary name and then moved into place, so a crash leaves the old file or
    the new one, never half of one; without ``replace``, a file that appeared meanwhile wins."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise InitError(
                    f"{path} already exists; not replacing it (use --force to replace it)"
                ) from None
            os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# -- the whole command -----------------------------------------------------------------------------


async def run_init(
    *,
    ssh_config: Path,
    dest: Path,
    probe: bool | None,
    force: bool,
    ask: Callable[[str], bool],
    say: Callable[[str], None],
    cluster_name: str = "my-cluster",
    ssh: Mapping[str, object] | None = None,
    ssh_dir: Path | None = None,
    prober: Callable[[Cluster], Awaitable[Probed]] | None = None,
) -> int:
    """``cockpit init``: read, ask, probe, write. ``probe``: True (--yes), False, or None to ask.
    Returns the exit status; every problem is said in one line."""
    try:
        config = parse_ssh_config(ssh_config, ssh_dir=ssh_dir)
    except OSError as exc:
        say(f"cockpit init: cannot read {ssh_config}: {exc.strerror or exc}")
        return 2
    for note in config.notes:
        say(note)
    hosts = config.hosts()
    if not hosts:
        say(f"cockpit init: no Host entries without wildcards in {ssh_config}; nothing to write")
        return 1
    overwrite = force
    if dest.exists() and not force:
        if not ask(f"{dest} exists. Replace it (the old one is kept as {dest.name}.bak)?"):
            say(f"cockpit init: kept {dest}; nothing written")
            return 1
        overwrite = True
    source = str(ssh_config)
    notes: list[str] = []
    text = starter_cluster(hosts, cluster_name=cluster_name, source=source, ssh=ssh, notes=notes)
    for note in notes:
        say(note)
    probed: Probed = {}
    cluster = cluster_from_text(text)
    names = [n.name for n in cluster.nodes]
    if probe is None:
        probe = ask(f"Connect to {len(names)} hosts over SSH to look for nvidia-smi, docker and systemctl?")
    if probe:
        probed = await (prober or probe_hosts)(cluster)
        for name in names:
            result = probed.get(name)
            if isinstance(result, ProbeError):
                say(f"{name}: not probed: {result.reason}")
            elif result is not None:
                say(f"{name}: {', '.join(t for t in TOOLS if t in result) or 'none of the tools'}")
        text = starter_cluster(hosts, probed, cluster_name=cluster_name, source=source, ssh=ssh)
        cluster_from_text(text)
    try:
        backup = write_config(dest, text, overwrite=overwrite)
    except (InitError, OSError) as exc:
        say(f"cockpit init: {exc if isinstance(exc, InitError) else exc.strerror or exc}")
        return 1
    if backup is not None:
        say(f"kept the old file as {backup}")
    say(f"wrote {dest} ({len(names)} nodes); check it with: cockpit validate {dest}")
    return 0
