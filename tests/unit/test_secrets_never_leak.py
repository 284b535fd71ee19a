"""A secret referenced as ``${env:…}`` is used, and never shown or recorded anywhere.

End to end against the simulator on loopback: the SSH key's passphrase and an action's token come
from the environment; the action echoes its token on stdout and stderr and fails. Then everything
the cockpit shows or writes is searched for the values: the screen (every step, as exported by
Textual), the log pane, notifications, the audit file, ``cockpit audit``, the snapshot JSON, the
CLI's output and errors, log records at DEBUG level, and the crash output Textual prints when the
app dies mid-action. A literal secret in cluster.yaml is refused with exit 2 and one line that says
how to reference it, without the value.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncssh
import pytest
import yaml
from rich.console import Console
from textual.worker import WorkerFailed

from cockpit.app import CockpitApp, Options
from cockpit.config import Cluster
from cockpit.engine import Engine
from cockpit.model import NodeStatus
from cockpit.sim import SimCluster
from cockpit.snapshot import snapshot_json
from screens.action_menu import ActionMenu
from screens.confirm import ConfirmScreen
from widgets.live_table import LiveTable
from widgets.log_pane import LogPane

TOKEN = "tok3n-Zq7xV9-never-shown"
PASSPHRASE = "pa55-Kw2yL8-never-shown"
SECRETS = (TOKEN, PASSPHRASE)
ENV = {"COCKPIT_LEAK_TOKEN": TOKEN, "COCKPIT_LEAK_PASS": PASSPHRASE}
LEAKY = {
    "name": "leaky",
    "key": "z",
    "scope": "node",
    "danger": "safe",
    "description": "echo the token",
    "command": "echo token=${env:COCKPIT_LEAK_TOKEN}; echo ${env:COCKPIT_LEAK_TOKEN} >&2; exit 3",
}
LOCAL = {
    "name": "leaky-local",
    "key": "y",
    "scope": "node",
    "danger": "safe",
    "run_on": "local",
    "description": "echo the token here",
    "command": "echo local=${env:COCKPIT_LEAK_TOKEN}",
}


def assert_clean(where: str, text: str | bytes) -> None:
    data = text if isinstance(text, str) else text.decode("utf-8", "replace")
    for secret in SECRETS:
        assert secret not in data, f"a secret value appeared in {where}"
        assert secret[:12] not in data, f"part of a secret value appeared in {where}"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


def _config(tmp_path: Path, key_path: Path) -> dict[str, Any]:
    return {
        "cluster": "leak",
        "refresh": 1,
        "ssh": {
            "user": "ops",
            "identity_file": str(key_path),
            "passphrase": "${env:COCKPIT_LEAK_PASS}",
            "known_hosts": str(tmp_path / "known_hosts"),
            "config_file": None,
            "agent": False,
            "connect_timeout": 5,
            "command_timeout": 5,
        },
        "nodes": [
            {"name": "box", "host": "127.0.0.1", "port": 1, "sim": {"gpus": ["NVIDIA GeForce RTX 4090"]}},
            {"name": "other", "host": "127.0.0.1", "port": 1},
        ],
        "actions": [LEAKY, LOCAL],
    }


@pytest.fixture
async def sim(env: None, tmp_path: Path):
    """The simulator, with public-key auth by a key that needs the passphrase."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp_path / "id_ed25519"
    # PKCS#8 (PBES2): asyncssh decrypts it without bcrypt; see the ssh-keygen test below.
    key_path.write_bytes(
        key.export_private_key(
            "pkcs8-pem", passphrase=PASSPHRASE, cipher_name="aes256-cbc", hash_name="sha256", pbe_version=2
        )
    )
    key_path.chmod(0o600)
    cluster = Cluster.model_validate(_config(tmp_path, key_path))
    sim = SimCluster(cluster, state_dir=tmp_path / "sim", ephemeral_ports=True, authorized_keys=key)
    await sim.start()
    yield sim
    await sim.stop()


def _write_config(tmp_path: Path, cluster: Cluster) -> Path:
    data = cluster.model_dump(mode="json", exclude_none=True)
    data.pop("source", None)
    data["ssh"]["passphrase"] = "${env:COCKPIT_LEAK_PASS}"
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


async def _until(pilot: Any, check: Any, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.05)


def _log_text(app: CockpitApp) -> str:
    return "\n".join(line.text for line in app.dashboard.query_one(LogPane).log.lines)


async def _run_action(app: CockpitApp, pilot: Any, key: str, screens: list[str]) -> str:
    table = app.dashboard.query_one("#nodes", LiveTable)
    table.focus()
    while table.cursor_key != "box":
        await pilot.press("j")
    await pilot.press("a")
    assert isinstance(app.screen, ActionMenu)
    screens.append(app.export_screenshot())
    await pilot.press(key)
    assert isinstance(app.screen, ConfirmScreen)
    screens.append(app.export_screenshot())
    before = _log_text(app).count("──")
    await pilot.press("tab", "enter")
    await _until(pilot, lambda: not app.actions.running and _log_text(app).count("──") > before)
    screens.append(app.export_screenshot())
    return _log_text(app)


async def test_env_secrets_never_reach_screen_logs_audit_or_snapshot(
    sim: SimCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    audit = tmp_path / "audit.jsonl"
    app = CockpitApp(sim.effective_cluster(), Options(audit_path=audit))
    screens: list[str] = []
    notes: list[str] = []
    async with app.run_test(size=(140, 45)) as pilot:
        original_notify = app.notify

        def notify(message: str, *args: Any, **kwargs: Any) -> None:
            notes.append(str(message))
            original_notify(message, *args, **kwargs)

        app.notify = notify  # type: ignore[method-assign]
        await _until(
            pilot, lambda: app.dashboard.state and app.dashboard.state.node("box").status is NodeStatus.UP
        )
        screens.append(app.export_screenshot())
        remote = await _run_action(app, pilot, "z", screens)
        local = await _run_action(app, pilot, "y", screens)
        state = app.dashboard.state
    assert "token=«redacted»" in remote and "failed (exit 3)" in remote, remote
    assert "local=«redacted»" in local, local
    for i, svg in enumerate(screens):
        assert_clean(f"screen {i}", svg)
    assert_clean("the log pane", local)
    assert_clean("notifications", "\n".join(notes))
    assert_clean("the audit file", audit.read_bytes())
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [r["event"] for r in records] == ["start", "end", "start", "end"]
    assert "«redacted»" in records[0]["command"]
    assert state is not None
    assert_clean("the snapshot JSON", json.dumps(snapshot_json(state)))
    shown_by_default = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert_clean("log records", "\n".join(f"{r.name} {r.getMessage()}" for r in shown_by_default))

    cli = [sys.executable, "-m", "cockpit.cli"]
    shown = subprocess.run([*cli, "audit", "--file", str(audit)], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and "leaky" in shown.stdout, shown.stderr
    assert_clean("cockpit audit", shown.stdout + shown.stderr)


async def test_cli_outputs_never_carry_the_secret(sim: SimCluster, tmp_path: Path) -> None:
    path = _write_config(tmp_path, sim.effective_cluster())
    env = {**os.environ, "COCKPIT_STATE_DIR": str(tmp_path / "state")}
    cli = [sys.executable, "-m", "cockpit.cli"]
    for args in (["validate", str(path)], ["snapshot", "--config", str(path), "--format", "table"]):
        proc = await asyncio.create_subprocess_exec(
            *cli, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        assert_clean(f"cockpit {args[0]} output", out + err)
    # A wrong passphrase: the node is down, and the reason names the reference, not a value.
    env["COCKPIT_LEAK_PASS"] = "wrong-" + PASSPHRASE
    proc = await asyncio.create_subprocess_exec(
        *cli, "snapshot", "--config", str(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    document = json.loads(out)
    assert all(n["status"] == "down" for n in document["nodes"]), document["nodes"]
    assert_clean("a failed login's reason", out + err)


async def test_debug_logging_carries_no_secret(sim: SimCluster, caplog: pytest.LogCaptureFixture) -> None:
    from cockpit.actions.render import NodeTarget, Subject, render
    from cockpit.actions.runner import run
    from cockpit.actions.schema import ActionConfig
    from cockpit.sources.ssh import SshPool

    caplog.set_level(logging.DEBUG)
    cluster = sim.effective_cluster()
    pool = SshPool(cluster)
    lines: list[str] = []
    try:
        target = NodeTarget.from_config(cluster.node("box"), cluster)
        inv = render(ActionConfig.model_validate(LEAKY), Subject(node=target), {})
        result = await run(inv, pool, lambda stream, line: lines.append(line), audit=None)
    finally:
        await pool.close()
    assert result.exit_status == 3 and "token=«redacted»" in lines, lines
    client = [r for r in caplog.records if not r.name.startswith("cockpit.sim")]
    assert_clean("DEBUG log records", "\n".join(f"{r.name} {r.getMessage()}" for r in client))


async def test_crash_output_mid_action_carries_no_secret(
    sim: SimCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """A bug in the UI while an action's output arrives: the app dies; what it prints must be clean.
    Textual prints its crash traceback with the frames' locals, so this is a real risk."""

    def broken(self: LogPane, stream: str, text: str) -> None:
        raise RuntimeError("a bug in the log pane")

    app = CockpitApp(sim.effective_cluster(), Options(audit_path=tmp_path / "audit.jsonl"))
    with pytest.raises(WorkerFailed):
        async with app.run_test(size=(140, 45)) as pilot:
            await _until(
                pilot, lambda: app.dashboard.state and app.dashboard.state.node("box").status is NodeStatus.UP
            )
            monkeypatch.setattr(LogPane, "line", broken)
            table = app.dashboard.query_one("#nodes", LiveTable)
            table.focus()
            while table.cursor_key != "box":
                await pilot.press("j")
            await pilot.press("a", "z", "tab", "enter")
            await _until(pilot, lambda: app._exception is not None, timeout=10)
    captured = capfd.readouterr()  # what the app printed as it died
    console = Console(record=True, width=160, force_terminal=False)
    for renderable in app._exit_renderables:  # and anything it still meant to print
        console.print(renderable)
    printed = captured.out + captured.err + console.export_text()
    assert "a bug in the log pane" in printed, printed[-2000:]
    assert_clean("crash output", printed)


@pytest.mark.parametrize(
    ("where", "yaml_text"),
    [
        ("ssh.passphrase", "ssh:\n  passphrase: hunter2-literal-Qx\n"),
        ("ssh.api_token", "ssh:\n  api_token: hunter2-literal-Qx\n"),
        ("nodes.0.password", None),
    ],
)
def test_a_literal_secret_is_refused_without_echoing_it(
    tmp_path: Path, where: str, yaml_text: str | None
) -> None:
    nodes = "nodes:\n  - name: a\n    host: 127.0.0.1\n"
    if yaml_text is None:
        body = "cluster: lit\nnodes:\n  - name: a\n    host: 127.0.0.1\n    password: hunter2-literal-Qx\n"
    else:
        body = f"cluster: lit\n{yaml_text}{nodes}"
    path = tmp_path / "cluster.yaml"
    path.write_text(body)
    proc = subprocess.run(
        [sys.executable, "-m", "cockpit.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "hunter2" not in proc.stderr
    assert "${env:" in lines[0] and "${file:" in lines[0], lines[0]
    assert str(path) in lines[0] and where.split(".")[-1] in lines[0], lines[0]


async def test_passphrase_unlocks_an_ssh_keygen_key(env: None, tmp_path: Path) -> None:
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.skip("ssh-keygen not installed")
    key_path = tmp_path / "id_ed25519"
    subprocess.run(
        [keygen, "-q", "-t", "ed25519", "-N", PASSPHRASE, "-C", "leak", "-f", str(key_path)],
        check=True,
        capture_output=True,
    )
    cluster = Cluster.model_validate(_config(tmp_path, key_path))
    public = key_path.with_suffix(".pub")
    async with SimCluster(
        cluster, state_dir=tmp_path / "sim", ephemeral_ports=True, authorized_keys=public
    ) as sim:
        engine = Engine(sim.effective_cluster())
        try:
            state = await engine.cycle()
        finally:
            await engine.close()
    box = state.node("box")
    assert box is not None and box.status is NodeStatus.UP, box.error if box else None
    assert_clean("the node's error", str(box.error))
