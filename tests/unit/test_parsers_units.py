"""systemd units: one ``systemctl show`` answer, parsed into Units in the configured order.

Fixtures: ``tests/fixtures/systemd`` (real systemd 252 and systemctl, captured by
``capture_systemctl.sh``; each ``NAME.meta`` holds the exit status and the node's uptime and clock
around the call, so ``since`` can be checked against the human timestamps).
"""

from __future__ import annotations

import os
import random
import shlex
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cockpit.model import ProbeError, Unit
from cockpit.sources.units import (
    PROPERTIES,
    parse_blocks,
    parse_human_timestamp,
    parse_units,
    systemctl_show,
    unit_id,
)

SYSTEMD = Path(__file__).resolve().parents[1] / "fixtures" / "systemd"
FUZZ = settings(
    max_examples=int(os.environ.get("COCKPIT_FUZZ_EXAMPLES", 200)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
WANTED = [
    "tabbyapi",
    "ollama",
    "litellm.service",
    "comfyui",
    "gpu-setup",
    "open-webui",
    "grafana-agent",
    "prometheus-node-exporter",
]


def capture(name: str) -> tuple[str, int, float, float]:
    """(output, rc, uptime, epoch) of one capture; the clocks are the ones read just before it."""
    meta = dict(line.split("=", 1) for line in (SYSTEMD / f"{name}.meta").read_text().splitlines())
    text = (SYSTEMD / f"{name}.txt").read_text(encoding="utf-8")
    return text, int(meta["rc"]), float(meta["uptime_before"].split()[0]), float(meta["epoch_before"])


def units(name: str, wanted: list[str], *, with_uptime: bool = True) -> tuple[Unit, ...]:
    text, rc, uptime, now = capture(name)
    result = parse_units(text, rc, wanted, uptime if with_uptime else None, now)
    assert isinstance(result, tuple)
    return result


def test_the_command_asks_what_the_captures_asked():
    script = (SYSTEMD / "capture_systemctl.sh").read_text()
    assert f"PROPS={','.join(PROPERTIES)}\n" in script
    assert systemctl_show(["tabbyapi", "ollama"]) == (
        f"systemctl show -p {','.join(PROPERTIES)} -- tabbyapi ollama"
    )


def test_names_are_quoted_for_the_shell():
    command = systemctl_show(["tabbyapi", "bad name", "x;rm -rf /", "-h"])
    assert shlex.split(command)[-4:] == ["tabbyapi", "bad name", "x;rm -rf /", "-h"]
    assert " -- " in command  # "-h" stays a unit name
    with pytest.raises(ValueError):
        systemctl_show([])  # `systemctl show` alone describes the manager, not a unit


def test_every_state_in_the_wanted_order():
    found = units("show_utc", WANTED)
    assert [u.name for u in found] == WANTED  # as configured: "tabbyapi", not "tabbyapi.service"
    states = {u.name: (u.load, u.active, u.sub) for u in found}
    assert states == {
        "tabbyapi": ("loaded", "active", "running"),
        "ollama": ("loaded", "failed", "failed"),
        "litellm.service": ("loaded", "activating", "auto-restart"),
        "comfyui": ("loaded", "activating", "start-pre"),
        "gpu-setup": ("loaded", "active", "exited"),
        "open-webui": ("loaded", "inactive", "dead"),
        "grafana-agent": ("loaded", "inactive", "dead"),
        "prometheus-node-exporter": ("not-found", "inactive", "dead"),
    }


def test_since_from_monotonic_agrees_with_the_human_timestamps():
    from_clock = {u.name: u.since for u in units("show_utc", WANTED)}
    from_text = {u.name: u.since for u in units("show_utc", WANTED, with_uptime=False)}
    assert from_clock.keys() == from_text.keys()
    for name, since in from_clock.items():
        if from_text[name] is None:
            assert since is None, name
            continue
        # The text has whole seconds and /proc/uptime two decimals: within a second and a bit.
        assert since is not None and abs(since - from_text[name]) < 1.1, name
    never = {"comfyui", "open-webui", "prometheus-node-exporter"}  # no timestamps at all
    assert {n for n, s in from_clock.items() if s is None} == never


def test_since_is_the_right_edge_for_each_state():
    text, _, uptime, now = capture("show_utc")
    blocks = {b["Id"]: b for b in parse_blocks(text)}
    found = {u.name: u for u in units("show_utc", WANTED)}

    def at(unit_id: str, key: str) -> float:
        return now - uptime + int(blocks[unit_id][key]) / 1e6

    assert found["tabbyapi"].since == pytest.approx(at("tabbyapi.service", "ActiveEnterTimestampMonotonic"))
    # failed and auto-restart: when it died, not when it last started
    assert found["ollama"].since == pytest.approx(at("ollama.service", "InactiveEnterTimestampMonotonic"))
    assert found["litellm.service"].since == pytest.approx(
        at("litellm.service", "InactiveEnterTimestampMonotonic")
    )
    assert found["grafana-agent"].since == pytest.approx(
        at("grafana-agent.service", "InactiveEnterTimestampMonotonic")
    )
    assert found["ollama"].since < now and found["tabbyapi"].since < found["ollama"].since


def test_the_same_instant_in_every_time_zone():
    utc = units("show_utc", ["tabbyapi"], with_uptime=False)[0].since
    new_york = units("show_new_york", ["tabbyapi"], with_uptime=False)[0].since  # "12:46:53 EST"
    sao_paulo = units("show_sao_paulo", ["tabbyapi"], with_uptime=False)[0].since  # "14:46:53 -03"
    assert utc is not None and utc == new_york == sao_paulo
    # "IST" is India, Ireland or Israel: unknown, so no guess...
    assert units("show_kolkata", ["tabbyapi"], with_uptime=False)[0].since is None
    # ...while the monotonic clock does not care.
    kolkata = units("show_kolkata", ["tabbyapi"])[0].since
    assert kolkata is not None and abs(kolkata - utc) < 1.1


def test_human_timestamps():
    assert parse_human_timestamp("Sun 2026-11-22 17:40:30 UTC") == 1795369230.0
    assert parse_human_timestamp("Sun 2026-11-22 23:10:30 +0530") == 1795369230.0
    assert parse_human_timestamp("Sun 2026-11-22 18:40:30 CET") == 1795369230.0
    for unknown in ("", "n/a", "Sun 2026-11-22 17:40:30 IST", "Sun 2026-11-22 17:40:30", "garbage"):
        assert parse_human_timestamp(unknown) is None
    assert parse_human_timestamp("Sun 2026-13-45 17:40:30 UTC") is None


def test_an_uptime_that_cannot_hold_the_stamp_falls_back_to_the_text():
    text, rc, _, now = capture("show_utc")
    (tabby,) = parse_units(text.split("\n\n")[0], rc, ["tabbyapi"], 3.0, now)  # type: ignore[misc]
    assert tabby.since == parse_human_timestamp("Sun 2026-11-22 17:46:53 UTC")


def test_an_invalid_name_keeps_its_place():
    text, rc, uptime, now = capture("show_invalid_name")
    assert text.startswith('Invalid unit name "bad name"')  # the warning line before the blocks
    found = parse_units(text, rc, ["tabbyapi", "bad name", "ollama"], uptime, now)
    assert isinstance(found, tuple)
    assert [(u.name, u.load, u.active) for u in found] == [
        ("tabbyapi", "loaded", "active"),
        ("bad name", "not-found", "inactive"),
        ("ollama", "loaded", "failed"),
    ]


def test_properties_in_systemd_order_not_ours():
    text, rc, uptime, now = capture("show_p_reversed")
    assert text.splitlines()[0] == "Id=tabbyapi.service"
    (tabby,) = parse_units(text, rc, ["tabbyapi"], uptime, now)  # type: ignore[misc]
    assert (tabby.load, tabby.active, tabby.sub) == ("loaded", "active", "running")


def test_a_full_show_is_read_too():
    (litellm,) = units("show_one_unit_all_props", ["litellm"])
    assert (litellm.active, litellm.sub) == ("activating", "auto-restart")


def test_unanswered_names_read_unknown_and_ids_match_when_counts_differ():
    text, rc, uptime, now = capture("show_utc")
    two_blocks = "\n\n".join(text.split("\n\n")[:2])  # tabbyapi and ollama only
    found = parse_units(two_blocks, rc, ["ollama", "nvidia-persistenced", "tabbyapi"], uptime, now)
    assert isinstance(found, tuple)
    assert [(u.name, u.active, u.load) for u in found] == [
        ("ollama", "failed", "loaded"),
        ("nvidia-persistenced", "unknown", "unknown"),
        ("tabbyapi", "active", "loaded"),
    ]
    assert unit_id("tabbyapi") == "tabbyapi.service" and unit_id("docker.socket") == "docker.socket"


def test_no_systemctl_is_no_units():
    text, rc, uptime, now = capture("not_installed_dash")
    assert rc == 127 and "systemctl: not found" in text
    assert parse_units(text, rc, ["tabbyapi"], uptime, now) == ()


def test_systemd_not_running_is_an_error():
    text, rc, uptime, now = capture("not_booted")
    assert rc == 1
    assert parse_units(text, rc, ["tabbyapi"], uptime, now) == ProbeError(
        "units", "systemd is not running on this node (PID 1 is not systemd)"
    )


def test_other_failures_are_one_line():
    assert parse_units("Failed to connect to bus: No such file or directory\n", 1, ["a"], None, 0.0) == (
        ProbeError("units", "systemctl: Failed to connect to bus: No such file or directory")
    )
    assert parse_units("", None, ["a"], None, 0.0) == ProbeError("units", "systemctl did not finish")
    assert parse_units("", 124, ["a"], None, 0.0) == ProbeError("units", "systemctl timed out")
    assert parse_units("anything", 0, [], None, 0.0) == ()


def _mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(0, 5)):
        if not text:
            break
        at = rng.randint(0, len(text))
        cut = rng.randint(0, 10)
        piece = rng.choice(["", "\n", "\n\n", "=", "Id=x.service", "99999999999999999999999", "\x1b[2J", "-"])
        text = text[:at] + piece + text[at + cut :]
    return text


REAL = [capture(n)[0] for n in ("show_utc", "show_invalid_name", "show_sao_paulo", "not_booted")]


@FUZZ
@given(
    st.integers(0, 2**32),
    st.one_of(st.none(), st.integers(-5, 300)),
    st.lists(st.text(max_size=12), max_size=5),
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    st.text(max_size=100),
)
def test_fuzz_parse_units_never_raises(seed, rc, wanted, uptime, noise):
    rng = random.Random(seed)
    text = _mutate(rng, rng.choice(REAL)) + noise
    result = parse_units(text, rc, wanted, uptime, 1795369600.0)
    if isinstance(result, ProbeError):
        assert result.reason and "\n" not in result.reason
    else:
        assert [u.name for u in result] == (wanted if rc != 127 else [])[: len(result)]
        assert all(isinstance(u, Unit) and u.active for u in result)
