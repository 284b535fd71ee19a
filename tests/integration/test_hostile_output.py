"""Hostile remote output, in a real tmux running the real ``cockpit`` CLI.

The simulated cluster (tests/fixtures/simctl/simctl.py --hostile, its own process) puts terminal
escapes (OSC title changes, ``ESC [2J``, scroll regions, OSC 8 hyperlinks, 8-bit C1 forms), Rich
markup (``[bold red]x[/]``, ``[/]``, ``[link=…]``), invalid UTF-8, NUL and a 1 MB line into every
remote text the cockpit shows: container names and statuses, unit sub-states, GPU process names,
nvidia-smi's error text, ``docker logs`` lines, HTTP bodies, titles, versions and headers.

After every step: the pane title is still the one we set (no OSC reached tmux), the first screen
line is still the summary and the last the footer (nothing cleared or scrolled), no payload word
("pwned") is on screen, and the cockpit process is alive.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from bench.leaks import SimCtl

pytestmark = pytest.mark.integration

COLS, ROWS = 160, 50
TITLE = "cockpit-hostile-sentinel"
CLUSTER = {
    "cluster": "hostile",
    "refresh": 1,
    "ssh": {"config_file": None, "agent": False, "connect_timeout": 5, "command_timeout": 5},
    "nodes": [
        {
            "name": "evil",
            "host": "127.0.0.1",
            "port": 1,
            "units": ["tabbyapi"],
            "sim": {
                "gpus": ["NVIDIA GeForce RTX 4090"],
                "containers": [
                    {"name": "alpha", "image": "evil:1", "gpu": 0},
                    {"name": "beta", "image": "evil:2", "state": "crash-loop"},
                    {"name": "delta", "image": "evil:3", "gpu": 0},
                    {"name": "gamma", "image": "logs:1"},
                ],
            },
        },
        {"name": "evil-gpu", "host": "127.0.0.1", "port": 1, "sim": {"nvidia_smi": "driver-error"}},
        {"name": "calm", "host": "127.0.0.1", "port": 1, "sim": {"gpus": ["NVIDIA H100 80GB HBM3"]}},
    ],
}


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The hostile simulator, and a cluster.yaml pointing at it."""
    if not shutil.which("tmux"):
        pytest.fail("tmux is needed for the hostile-output tests (apt-get install tmux)", pytrace=False)
    tmp = tmp_path_factory.mktemp("hostile")
    config = {**CLUSTER, "ssh": {**CLUSTER["ssh"], "known_hosts": str(tmp / "known_hosts")}}
    sim = SimCtl(config, tmp / "sim", hostile=True)
    try:
        data = sim.cluster.model_dump(mode="json", exclude_none=True)
        data.pop("source", None)
        path = tmp / "cluster.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        yield path
    finally:
        sim.close()


class Pane:
    """One tmux session running ``cockpit --config PATH``."""

    def __init__(self, config: Path, state: Path) -> None:
        self.session = f"hostile-{time.monotonic_ns()}"
        command = (
            f"sleep 0.5; exec {shlex.quote(sys.executable)} -m cockpit.cli "
            f"--config {shlex.quote(str(config))} --no-mouse --refresh 1"
        )
        tmux(
            "new-session", "-d", "-s", self.session, "-x", str(COLS), "-y", str(ROWS),
            "-e", "TERM=tmux-256color", "-e", f"COCKPIT_STATE_DIR={state}", command,
        )  # fmt: skip
        tmux("set-option", "-t", self.session, "remain-on-exit", "on")
        tmux("select-pane", "-t", self.session, "-T", TITLE)
        self.steps: list[str] = []

    def screen(self) -> list[str]:
        return tmux("capture-pane", "-p", "-t", self.session).splitlines()

    def text(self) -> str:
        return "\n".join(self.screen())

    def keys(self, *keys: str, literal: bool = False) -> None:
        """Each key on its own, with time for the cockpit to act on it (focus moves between them)."""
        for key in [" ".join(keys)] if literal else keys:
            tmux("send-keys", "-t", self.session, *(["-l"] if literal else []), key)
            time.sleep(0.3)

    def dead(self) -> bool:
        return tmux("display", "-p", "-t", self.session, "#{pane_dead}").strip() == "1"

    def wait(self, check: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if check(text):
                return text
            if self.dead() or time.monotonic() > deadline:
                raise AssertionError(f"{what}: not seen (dead={self.dead()}); screen:\n{text}")
            time.sleep(0.1)

    def assert_sane(self, step: str, top: str = "hostile") -> None:
        """Title untouched, summary (or node header) on top, footer at the bottom, nothing of the
        payloads shown."""
        self.steps.append(step)
        title = tmux("display", "-p", "-t", self.session, "#{pane_title}").strip()
        lines = self.screen()
        text = "\n".join(lines)
        assert not self.dead(), f"{step}: the cockpit died; screen:\n{text}"
        assert title == TITLE, f"{step}: the pane title changed to {title!r}"
        assert lines and lines[0].lstrip().startswith(top) and "  ·  " in lines[0], (
            f"{step}: the first line is no longer the summary:\n{text}"
        )
        assert len(lines) == ROWS and ("Quit" in lines[-1] or "^p" in lines[-1]), (
            f"{step}: the last line is no longer the footer:\n{text}"
        )
        assert "pwned" not in text, f"{step}: a payload's text reached the screen:\n{text}"

    def close(self) -> None:
        tmux("kill-session", "-t", self.session)


@pytest.fixture
def pane(hostile: Path, tmp_path: Path) -> Iterator[Pane]:
    p = Pane(hostile, tmp_path / "state")
    try:
        p.wait(lambda s: "3 nodes: 3 up" in s, "every node up", timeout=40)
        yield p
    finally:
        p.close()


def test_hostile_text_everywhere_leaves_the_terminal_alone(pane: Pane) -> None:
    pane.assert_sane("dashboard")
    time.sleep(2.5)  # a few cycles of hostile data redrawn
    pane.assert_sane("dashboard after 2 cycles")

    pane.keys("c")
    text = pane.wait(lambda s: "alpha-" in s, "containers of node evil")
    assert "[/]" in text, "markup from a container status must show as text, not be parsed"
    pane.assert_sane("containers")

    pane.keys("u")
    text = pane.wait(lambda s: "tabbyapi" in s, "units")
    assert "run[/]" in text, "a unit's sub-state must show as text"
    pane.assert_sane("units")

    pane.keys("s")
    pane.wait(lambda s: "evil-json" in s and "evil-big" in s, "services")
    time.sleep(2.5)
    pane.assert_sane("services")

    pane.keys("g")
    pane.wait(lambda s: "RTX 4090" in s, "gpus")
    pane.assert_sane("gpus")

    # The node detail of `evil`: its GPU processes carry the payloads in their names.
    pane.keys("n", "/")
    pane.keys("evil", literal=True)
    pane.keys("Enter", "Enter")
    pane.wait(lambda s: "proc" in s and "evil  ·  up" in s and "^p" in s.splitlines()[-1], "detail of evil")
    pane.assert_sane("node detail", top="evil  ·  up")
    pane.keys("Escape")
    pane.wait(lambda s: "Nodes" in s and "evil  ·  up" not in s, "back on the dashboard")
    pane.keys("Escape")  # clear the node filter

    # docker logs of gamma: escapes, markup, bad UTF-8, NUL and a 1 MB line, streamed.
    pane.keys("c", "/")
    pane.keys("gamma", literal=True)
    pane.keys("Enter")
    pane.wait(lambda s: "gamma" in s, "gamma row")
    pane.keys("a", "l")
    pane.wait(lambda s: "docker logs gamma" in s, "confirm screen")
    pane.keys("Tab", "Enter")
    pane.wait(lambda s: "markup[bold red]x[/]" in s, "hostile log lines in the log pane")
    time.sleep(3)
    pane.assert_sane("log pane streaming")
    pane.keys("C-c")
    pane.wait(lambda s: "cancelled" in s, "the follow cancelled")
    pane.assert_sane("after cancel")


def test_node_detail_of_a_node_whose_error_has_markup(pane: Pane) -> None:
    pane.keys("n", "/")
    pane.keys("evil-gpu", literal=True)
    pane.keys("Enter", "Enter")
    time.sleep(2)
    pane.assert_sane("node detail of evil-gpu", top="evil-gpu")


def test_filter_text_with_markup_is_typed_safely(pane: Pane) -> None:
    pane.keys("n", "/")
    pane.keys("[/] [link=x]", literal=True)
    time.sleep(1)
    pane.keys("Enter")
    time.sleep(1)
    pane.assert_sane("filter typed with markup")
