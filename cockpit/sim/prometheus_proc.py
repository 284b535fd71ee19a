"""A real ``prometheus`` server on loopback, scraping the simulator's exporters (tests, benchmark, demo).

The binary is the operator's (Debian's ``prometheus`` package installs /usr/bin/prometheus); this only
writes its config (JSON, which its YAML parser reads), gives it a throw-away TSDB directory and a
loopback port, waits until it answers ``/-/ready``, and stops it with SIGTERM (SIGKILL after a grace).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cockpit.sim.server import SimError

CANDIDATES = ("/usr/bin/prometheus", "/usr/local/bin/prometheus", "/bin/prometheus")


def find_prometheus() -> str | None:
    for path in CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("prometheus")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class PrometheusProcess:
    """``prometheus --config.file=... --storage.tsdb.path=... --web.listen-address=127.0.0.1:PORT``."""

    def __init__(
        self,
        config: dict[str, Any],
        workdir: str | Path,
        *,
        binary: str | None = None,
        port: int = 0,
        rules: dict[str, Any] | None = None,
    ) -> None:
        found = binary or find_prometheus()
        if found is None:
            raise SimError("prometheus is not installed (apt-get install prometheus)")
        self.binary = found
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.config = dict(config)
        self.rules = rules
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "prometheus.log"

    def start(self, timeout: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = dict(self.config)
        if self.rules is not None:
            rules_file = self.workdir / "rules.json"
            rules_file.write_text(json.dumps(self.rules))
            config["rule_files"] = [str(rules_file)]
        config_file = self.workdir / "prometheus.json"
        config_file.write_text(json.dumps(config, indent=1))
        args = [
            self.binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=2h",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, preexec_fn=_die_with_parent
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SimError(f"prometheus exited early: {self.log.read_text()[-2000:]}")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer,
            ):
                if answer.status == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise SimError(f"prometheus did not become ready on port {self.port}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def rss_bytes(self) -> int | None:
        if self.proc is None:
            return None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def __enter__(self) -> PrometheusProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _die_with_parent() -> None:
    """Linux: the demo's Prometheus gets SIGTERM when the cockpit dies, even by SIGKILL or a closed
    tmux pane, instead of living on as an orphan holding its port and its data directory."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
