"""Real OpenSSH ``sshd`` daemons on loopback for the integration tier.

Each :class:`SshdServer` is ``/usr/sbin/sshd -D -e -f CONFIG -p PORT`` with its own ed25519 host key,
an authorized_keys file holding the test client's key, and ``SetEnv PATH=BIN:...`` so the sessions
find a fake ``nvidia-smi`` (tests/fixtures/openssh/fake_nvidia_smi.py, behind a tiny wrapper in BIN)
before anything else, plus a ``df`` stub that runs the real df unless a test makes it hang (a dead
NFS mount). The probes' other commands (``cat /proc/...``, ``grep ... /proc/stat``) run for real.

Without ``sshd`` the tier skips on a laptop and FAILS under CI (``$CI`` set): CI must never skip it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cockpit.config import Cluster
from cockpit.engine import Engine
from cockpit.state import ClusterState, NodeState

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
FAKE_NVIDIA_SMI = REPO / "tests" / "fixtures" / "openssh" / "fake_nvidia_smi.py"
DOCKER_FIXTURES = REPO / "tests" / "fixtures" / "docker"
SYSTEMD_FIXTURES = REPO / "tests" / "fixtures" / "systemd"
SCHEMA_PATH = REPO.parent / "shared" / "contracts" / "snapshot.schema.json"
SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")
IN_CI = bool(os.environ.get("CI"))
LOOPBACK = "127.0.0.1"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ is the integration tier."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]):
    """Under CI a skip in this tier is a failure: a green run must mean the tier ran."""
    outcome = yield
    report = outcome.get_result()
    expected_failure = hasattr(report, "wasxfail")  # xfail is reported as "skipped": not a skip
    if IN_CI and report.skipped and not expected_failure and HERE in Path(str(item.path)).resolve().parents:
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped under CI=true, which is not allowed for the integration tier: {reason}"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI is set, so the integration tier must run, not skip)", pytrace=False)
    pytest.skip(reason)


def _find_sshd() -> str | None:
    for candidate in SSHD_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("sshd")
    return str(Path(found).resolve()) if found else None


def _root_locked() -> bool:
    try:
        for line in Path("/etc/shadow").read_text().splitlines():
            if line.startswith("root:"):
                return line.split(":")[1].startswith("!")
    except OSError:
        pass
    return False


@pytest.fixture(scope="session")
def openssh() -> dict[str, str]:
    """Paths of sshd and ssh-keygen; skips (laptop) or fails (CI) when they are missing."""
    sshd = _find_sshd()
    keygen = shutil.which("ssh-keygen")
    if sshd is None or keygen is None:
        _unavailable(
            "OpenSSH server not installed (need /usr/sbin/sshd and ssh-keygen: "
            "apt-get install openssh-server openssh-client)"
        )
    if os.geteuid() != 0:
        _unavailable("the OpenSSH tier runs sshd as root (privilege separation needs it)")
    if _root_locked():
        # With UsePAM no, sshd refuses every login to an account whose password starts with "!".
        _unavailable(
            "root's password is locked ('!' in /etc/shadow); allow key-only login: usermod -p '*' root"
        )
    privsep = Path("/run/sshd")
    if not privsep.is_dir():
        privsep.mkdir(mode=0o755, parents=True, exist_ok=True)
    if not FAKE_NVIDIA_SMI.is_file():
        pytest.fail(f"missing {FAKE_NVIDIA_SMI}")
    return {"sshd": sshd or "", "keygen": keygen or ""}


def keygen(tool: str, path: Path, comment: str) -> str:
    """A fresh ed25519 key pair; returns the public key line (``ssh-ed25519 AAAA... comment``)."""
    subprocess.run(
        [tool, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    return path.with_suffix(path.suffix + ".pub").read_text().strip()


@dataclass
class ClientKeys:
    authorized: Path
    authorized_pub: str
    stranger: Path
    stranger_pub: str


@pytest.fixture(scope="session")
def client_keys(openssh: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> ClientKeys:
    base = tmp_path_factory.mktemp("client")
    good = base / "id_ed25519"
    bad = base / "stranger_ed25519"
    return ClientKeys(
        good,
        keygen(openssh["keygen"], good, "cockpit-it-client"),
        bad,
        keygen(openssh["keygen"], bad, "cockpit-it-stranger"),
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    tree = _children()
    out: list[int] = []
    todo = list(tree.get(pid, []))
    while todo:
        child = todo.pop()
        out.append(child)
        todo.extend(tree.get(child, []))
    return out


def child_pids(pid: int) -> list[int]:
    return _children().get(pid, [])


def own_connections(port: int) -> list[int]:
    """Local ports of this process's ESTABLISHED TCP connections to 127.0.0.1:``port``."""
    inodes: set[str] = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = []
    for line in Path("/proc/self/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        if state != "01" or inode not in inodes:
            continue
        if int(remote.split(":")[1], 16) == port:
            ports.append(int(local.split(":")[1], 16))
    return sorted(ports)


@dataclass
class SshdServer:
    """One real sshd on 127.0.0.1; restartable, freezable, with its own fake nvidia-smi."""

    name: str
    sshd: str
    keygen: str
    root: Path
    authorized_pub: str
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    host_pub: str = ""
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.bin = self.root / "bin"
        self.state = self.root / "nvidia-smi-state"
        self.bin.mkdir(exist_ok=True)
        self.state.mkdir(exist_ok=True)
        self.log = self.root / "sshd.log"
        self.host_key = self.root / "ssh_host_ed25519_key"
        self.host_pub = keygen(self.keygen, self.host_key, f"{self.name}-host")
        self.authorized_keys = self.root / "authorized_keys"
        self.authorized_keys.write_text(self.authorized_pub + "\n")
        wrapper = self.bin / "nvidia-smi"
        wrapper.write_text(
            "#!/bin/sh\n"
            f"FAKE_NVIDIA_SMI_STATE='{self.state}' exec '{sys.executable}' -I -S '{FAKE_NVIDIA_SMI}' \"$@\"\n"
        )
        wrapper.chmod(0o755)
        self.set_nvidia_smi("ok")
        # `df` as a stale NFS mount makes it: hangs while df_mode says so, else the real df.
        real_df = shutil.which("df", path=SYSTEM_PATH) or "/bin/df"
        df_mode = self.state / "df_mode"
        stub = self.bin / "df"
        stub.write_text(
            "#!/bin/sh\n"
            "i=0\n"
            f"while [ \"$(cat '{df_mode}' 2>/dev/null)\" = hang ] && [ $i -lt 600 ]; do\n"
            "    sleep 0.1; i=$((i + 1))\n"
            "done\n"
            f"exec '{real_df}' \"$@\"\n"
        )
        stub.chmod(0o755)
        self.set_df("ok")
        self._replay_tools()
        self.config = self.root / "sshd_config"
        self.config.write_text(
            "\n".join(
                [
                    f"ListenAddress {LOOPBACK}",
                    f"HostKey {self.host_key}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "AllowTcpForwarding yes",
                    "AllowAgentForwarding no",
                    "X11Forwarding no",
                    "PrintMotd no",
                    "PrintLastLog no",
                    "UseDNS no",
                    "MaxStartups 100",
                    "MaxSessions 32",
                    "LogLevel ERROR",
                    f"SetEnv PATH={self.bin}:{SYSTEM_PATH}",
                    "",
                ]
            )
        )

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        assert self.proc is None, "already running"
        attempts = 0
        while True:
            attempts += 1
            if not self.port:
                self.port = free_port()
            with open(self.log, "ab") as log:
                self.proc = subprocess.Popen(
                    [self.sshd, "-D", "-e", "-f", str(self.config), "-p", str(self.port)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
            try:
                self._wait_ready(timeout)
                return
            except RuntimeError:
                self._reap()
                if attempts >= 3:
                    raise
                self.port = 0  # the port was taken in between: pick another

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"sshd {self.name} exited early: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=1) as sock:
                    sock.settimeout(2)
                    banner = sock.recv(256)
                    if banner.startswith(b"SSH-2.0-"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"sshd {self.name} did not answer on port {self.port}: {self.log.read_text()}")

    def _reap(self) -> None:
        if self.proc is None:
            return
        pids = [self.proc.pid, *descendants(self.proc.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for pid in pids[1:]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc = None

    def stop(self) -> None:
        """The daemon and every connection it serves (an sshd restart drops its sessions too)."""
        self.set_nvidia_smi("ok")  # lets a hanging fake nvidia-smi or df end on its own
        self.set_df("ok")
        self._reap()

    def restart(self) -> None:
        self.stop()
        self.start()

    def freeze(self) -> None:
        """SIGSTOP the listener: the kernel still completes TCP handshakes, no banner ever comes."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def connection_count(self) -> int:
        """Connections this daemon serves: it forks one child per accepted connection."""
        return len(child_pids(self.pid))

    # -- what the sessions see -------------------------------------------------------------------
    def set_nvidia_smi(self, mode: str, *, gpus: int | None = None) -> None:
        (self.state / "mode").write_text(mode + "\n")
        if gpus is not None:
            (self.state / "gpus").write_text(f"{gpus}\n")

    def set_df(self, mode: str) -> None:
        """``hang`` makes the session's ``df`` block (like a dead NFS mount); ``ok`` lets it run."""
        (self.state / "df_mode").write_text(mode + "\n")

    def _replay_tools(self) -> None:
        """``docker`` and ``systemctl`` that answer with real captured output (tests/fixtures/docker,
        systemd): this machine has neither a docker daemon nor the units, but the cockpit's probe
        must meet the real formats through a real sshd."""
        docker = self.bin / "docker"
        docker.write_text(
            "#!/bin/sh\n"
            'case "$*" in\n'
            f"  'ps -a --no-trunc --size=false --format {{{{json .}}}}') exec cat '{DOCKER_FIXTURES}/ps_json.txt' ;;\n"
            f"  'ps -aq --no-trunc') exec cut -d' ' -f1 '{DOCKER_FIXTURES}/inspect.txt' ;;\n"
            f"  'inspect --type container --format '*) exec cat '{DOCKER_FIXTURES}/inspect.txt' ;;\n"
            "esac\n"
            'echo "docker: unknown command: $*" >&2; exit 1\n'
        )
        docker.chmod(0o755)
        systemctl = self.bin / "systemctl"
        systemctl.write_text(f"#!/bin/sh\nexec cat '{SYSTEMD_FIXTURES}/show_utc.txt'\n")
        systemctl.chmod(0o755)

    def nvidia_smi_calls(self, *, gpu_queries_only: bool = True) -> list[str]:
        """The GPU queries (one per poll); every call, compute-apps included, on request."""
        path = self.state / "calls"
        calls = path.read_text().splitlines() if path.exists() else []
        return calls if not gpu_queries_only else [c for c in calls if "--query-compute-apps" not in c]

    def running_nvidia_smi(self) -> int:
        """How many fake nvidia-smi processes of this server are alive right now."""
        marker = f"FAKE_NVIDIA_SMI_STATE={self.state}".encode()
        alive = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                if str(FAKE_NVIDIA_SMI).encode() not in cmdline:
                    continue
                environ = Path(f"/proc/{entry}/environ").read_bytes()
            except OSError:
                continue
            alive += marker in environ.split(b"\0")
        return alive

    def known_hosts_line(self, public: str | None = None) -> str:
        key = " ".join((public or self.host_pub).split()[:2])
        return f"[{LOOPBACK}]:{self.port} {key}"

    def deny_client(self) -> None:
        self.authorized_keys.write_text("")


@dataclass
class Lab:
    """A test's sshd servers, its known_hosts file, and a Cluster builder for them."""

    tmp: Path
    tools: dict[str, str]
    keys: ClientKeys
    servers: list[SshdServer] = field(default_factory=list)

    @property
    def known_hosts(self) -> Path:
        return self.tmp / "known_hosts"

    def server(self, name: str, *, trusted: bool = True, gpus: int = 2) -> SshdServer:
        srv = SshdServer(
            name,
            self.tools["sshd"],
            self.tools["keygen"],
            self.tmp / f"sshd-{name}",
            self.keys.authorized_pub,
        )
        srv.set_nvidia_smi("ok", gpus=gpus)
        self.servers.append(srv)
        srv.start()
        if trusted:
            self.trust(srv)
        return srv

    def fresh_public_key(self, name: str) -> str:
        """A new ed25519 public key line, for a known_hosts entry that does not match."""
        return keygen(self.tools["keygen"], self.tmp / f"{name}_ed25519", name)

    def trust(self, srv: SshdServer, public: str | None = None) -> None:
        with open(self.known_hosts, "a") as out:
            out.write(srv.known_hosts_line(public) + "\n")

    def cluster(self, nodes: list[dict[str, Any]], **ssh: Any) -> Cluster:
        self.known_hosts.touch()
        settings: dict[str, Any] = {
            "user": "root",
            "identity_file": str(self.keys.authorized),
            "agent": False,
            "known_hosts": str(self.known_hosts),
            "config_file": None,
            "connect_timeout": 2,
            "command_timeout": 2,
        }
        settings.update(ssh)
        return Cluster.model_validate({"cluster": "it", "refresh": 1, "ssh": settings, "nodes": nodes})

    @contextlib.asynccontextmanager
    async def engine(self, cluster: Cluster, **kwargs: Any) -> AsyncIterator[Engine]:
        engine = Engine(cluster, **kwargs)
        try:
            yield engine
        finally:
            await engine.close()

    @staticmethod
    def ticker(engine: Engine) -> Ticker:
        return Ticker(engine)

    @staticmethod
    def node(state: ClusterState, name: str) -> NodeState:
        for node in state.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    own_connections = staticmethod(own_connections)
    free_port = staticmethod(free_port)

    def close(self) -> None:
        for srv in self.servers:
            srv.stop()


class Ticker:
    """Cycles on the engine's own cadence (``Engine.run``): one per ``refresh``, waiting 0.75 of it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.refresh = engine.cluster.refresh
        self.durations: list[float] = []
        self._next: float | None = None

    async def first(self) -> ClusterState:
        """The opening cycle waits for every answer (connections are being opened); not timed."""
        state = await self.engine.cycle()
        self._next = asyncio.get_running_loop().time()
        return state

    async def cycle(self) -> ClusterState:
        loop = asyncio.get_running_loop()
        if self._next is not None and self._next > loop.time():
            await asyncio.sleep(self._next - loop.time())
        start = loop.time()
        self._next = start + self.refresh
        state = await self.engine.cycle(wait=self.refresh * 0.75)
        self.durations.append(loop.time() - start)
        return state


@pytest.fixture
def lab(openssh: dict[str, str], client_keys: ClientKeys, tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path, openssh, client_keys)
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture(scope="session")
def validate_snapshot() -> Any:
    """A function that checks a snapshot document against shared/contracts/snapshot.schema.json."""
    from jsonschema import Draft202012Validator

    if not SCHEMA_PATH.is_file():
        pytest.fail(
            f"snapshot schema not found at {SCHEMA_PATH}: the shared/ checkout must sit beside the "
            "repository (…/main and …/shared)",
            pytrace=False,
        )
    schema = json.loads(SCHEMA_PATH.read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)

    def validate(document: Any) -> None:
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        assert not errors, "snapshot does not match the schema:\n" + "\n".join(
            f"  {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors
        )

    return validate
