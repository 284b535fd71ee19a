"""Docker containers: ``docker ps`` JSON lines and ``docker inspect`` restart counts, parsed.

Fixtures: ``tests/fixtures/docker`` (the real docker CLI 28.2.2 answering a stub Engine API, and
``docker ps --format json`` lines published by others; ``INDEX.md`` names each source).
"""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cockpit.model import Container, ProbeError
from cockpit.sources.containers import (
    DOCKER_INSPECT,
    DOCKER_PS,
    crash_looping,
    parse_containers,
    parse_inspect,
    parse_labels,
    parse_ps,
    restart_counts,
)

DOCKER = Path(__file__).resolve().parents[1] / "fixtures" / "docker"
FUZZ = settings(
    max_examples=int(os.environ.get("COCKPIT_FUZZ_EXAMPLES", 200)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # what a terminal obeys; clean() leaves none
QDRANT = "5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
COMFYUI = "e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70"
LITELLM = "3f1a9c2b77de0c5b0e7d5e1f0a4f6a1c9b8e7d6c5b4a39281706f5e4d3c2b1a0"


def read(name: str) -> str:
    return (DOCKER / name).read_text(encoding="utf-8")


def hydra() -> tuple[Container, ...]:
    result = parse_containers(read("ps_json.txt"), 0, read("inspect.txt"), 0)
    assert isinstance(result, tuple)
    return result


def by_name(containers: tuple[Container, ...]) -> dict[str, Container]:
    return {c.name: c for c in containers}


def test_the_commands_are_the_captured_ones():
    log = read("captures_all.txt")
    assert f"=== CMD {DOCKER_PS}\n" in log
    assert f"=== CMD {DOCKER_INSPECT}\n" in log
    assert "--size=false" in DOCKER_PS  # or the daemon computes every container's size each poll


def test_a_compose_stack_with_every_state():
    containers = by_name(hydra())
    assert len(containers) == 9
    litellm = containers["hydra-stack-litellm-1"]
    assert litellm.id == LITELLM
    assert litellm.project == "hydra-stack"
    assert litellm.state == "running" and litellm.status == "Up 3 days (healthy)"
    assert litellm.image == "ghcr.io/berriai/litellm:main-v1.52.0"
    assert litellm.ports == "0.0.0.0:4000->4000/tcp, [::]:4000->4000/tcp"  # \u003e decoded
    assert litellm.created == "2026-11-10 17:44:54 +0000 UTC"
    assert litellm.restart_count == 0 and litellm.exit_code is None
    assert {c.state for c in containers.values()} == {"running", "restarting", "paused", "exited", "created"}
    assert containers["comfyui"].project is None  # an Unraid template container, no compose labels
    assert containers["hydra-stack-backup-run-4f2a1c"].project == "hydra-stack"  # a one-off `compose run`


def test_a_restarting_container_has_its_count_and_last_exit_code():
    qdrant = by_name(hydra())["hydra-stack-qdrant-1"]
    assert qdrant.restarting
    assert qdrant.restart_count == 37
    assert qdrant.exit_code == 101


def test_exit_codes_of_stopped_containers():
    containers = by_name(hydra())
    assert containers["comfyui"].exit_code == 137  # OOM-killed or `docker kill`
    assert containers["comfyui"].restart_count == 2
    assert containers["wizardly_mclean"].exit_code == 0
    assert containers["hydra-stack-langfuse-1"].exit_code is None  # running: its last exit is history


def test_exit_code_from_status_when_inspect_is_missing():
    containers = parse_containers(read("ps_json.txt"), 0, "", 127)
    assert isinstance(containers, tuple)
    found = by_name(containers)
    assert found["comfyui"].exit_code == 137
    assert found["hydra-stack-qdrant-1"].exit_code == 101  # "Restarting (101) 14 seconds ago"
    assert all(c.restart_count is None for c in containers)


def test_a_container_removed_between_ps_and_inspect():
    counts = parse_inspect(read("inspect_one_gone.txt") + read("inspect_one_gone.stderr.txt"))
    assert counts == {LITELLM: (0, 0)}


def test_labels_with_commas_in_values_from_a_published_compose_stack():
    containers = parse_containers(read("public_olivetin_searxng_compose_restarting.txt"), 0)
    assert isinstance(containers, tuple)
    found = by_name(containers)
    assert {c.project for c in containers} == {"searxng", "it-tools"}
    caddy = found["caddy-searxng"]
    assert caddy.restarting and caddy.state == "restarting"
    assert caddy.exit_code == 1 and caddy.restart_count is None
    assert found["searxng"].id == "62dfc39caa40"  # published without --no-trunc
    line = read("public_olivetin_searxng_compose_restarting.txt").splitlines()[1]
    labels = parse_labels(json.loads(line)["Labels"])
    assert labels["description"] == "A privacy-respecting, hackable metasearch engine."
    assert labels["maintainer"] == "searxng <https://github.com/searxng/searxng>"
    assert labels["com.docker.compose.depends_on"] == ""
    assert labels["com.docker.compose.project"] == "searxng"


def test_old_docker_without_state():
    containers = parse_containers(read("public_golang_playground_no_state.txt"), 0)
    assert isinstance(containers, tuple) and len(containers) == 2
    assert all(c.state == "" and c.status == "Up 7 seconds" for c in containers)
    assert not any(c.restarting for c in containers)
    old_restarting = json.dumps({"ID": "abc", "Names": "x", "Status": "Restarting (2) 3 seconds ago"})
    (only,) = parse_containers(old_restarting, 0)  # type: ignore[misc]
    assert only.restarting and only.exit_code == 2


def test_the_docker_docs_example_line():
    (nginx,) = parse_containers(read("public_docker_docs_ps_format_json.txt"), 0)  # type: ignore[misc]
    assert nginx.name == "boring_keldysh" and nginx.state == "running" and nginx.ports == "80/tcp"


def test_no_docker_is_no_containers_not_an_error():
    assert parse_containers(read("not_installed_dash.txt"), 127) == ()
    assert parse_containers(read("not_installed_bash.txt"), 127) == ()
    assert parse_containers(read("not_installed_dash.txt"), None) == ()  # the fence lost its rc


def test_daemon_down_is_one_line():
    result = parse_containers(read("daemon_down.txt"), 1, "", 0)
    assert result == ProbeError(
        "containers", "Docker daemon not running (cannot connect to unix:///var/run/docker.sock)"
    )


def test_permission_denied_is_one_line():
    result = parse_containers(read("permission_denied.txt"), 1)
    assert isinstance(result, ProbeError)
    assert result.reason.startswith("permission denied on the Docker socket unix:///tmp/capture-docker.sock")
    assert "\n" not in result.reason and len(result.reason) < 120


def test_an_empty_host_and_other_failures():
    assert parse_containers("", 0) == ()
    assert parse_containers("", None) == ProbeError("containers", "docker ps did not finish")
    assert parse_containers("", 124) == ProbeError("containers", "docker ps timed out (a hung daemon?)")
    assert parse_containers("", 3) == ProbeError("containers", "docker ps exited with status 3")


def test_malformed_lines_are_skipped_and_counted():
    good = read("ps_json.txt").splitlines()
    mixed = "\n".join(
        ["WARNING: Error loading config file: /root/.docker/config.json", good[0], "{broken", "[]"]
    )
    rows, bad = parse_ps(mixed)
    assert [c.name for c in rows] == ["hydra-stack-litellm-1"] and bad == 3
    everything_bad = parse_containers('{broken\n{"ID": 1}\n', 0)
    assert isinstance(everything_bad, ProbeError)
    assert everything_bad.reason.startswith("docker ps: 2 unreadable line(s): {broken")


def test_hostile_text_is_cleaned():
    line = json.dumps(
        {
            "ID": "a" * 64,
            "Names": "evil\x1b]0;pwned\x07name",
            "Image": "img\x1b[2J",
            "State": "running",
            "Status": "Up\u202e 2 hours",
            "Labels": "com.docker.compose.project=\x1b[31mred",
            "Ports": "",
        }
    )
    (c,) = parse_containers(line, 0)  # type: ignore[misc]
    assert c.name == "evilname" and c.image == "img" and c.status == "Up 2 hours" and c.project == "red"
    # Shown as "evilname", acted on by its id: `docker restart evilname` could hit another container.
    assert c.ref == "a" * 64


def test_a_container_is_acted_on_by_name_only_when_docker_could_have_made_that_name():
    def ref(name: str, cid: str = "b" * 64) -> str | None:
        line = json.dumps({"ID": cid, "Names": name, "Image": "i", "State": "running", "Status": "Up"})
        (c,) = parse_containers(line, 0)  # type: ignore[misc]
        return c.ref

    assert ref("hydra-stack_litellm.1") == "hydra-stack_litellm.1"
    assert ref("web\x1b[0m") == "b" * 64
    assert ref("-rf") == "b" * 64 and ref("web app") == "b" * 64
    assert ref("web\x1b[0m", cid="$(reboot)") == ""


def test_podman_style_lists_and_maps_are_read_too():
    line = json.dumps(
        {
            "Id": "b" * 64,
            "Names": ["web"],
            "Image": "nginx",
            "State": "running",
            "Status": "Up 2 hours",
            "Labels": {"com.docker.compose.project": "shop"},
            "Ports": None,
        }
    )
    (c,) = parse_containers(line, 0)  # type: ignore[misc]
    assert (c.id, c.name, c.project, c.ports) == ("b" * 64, "web", "shop", "")


def test_a_linked_container_is_named_by_its_own_name():
    line = json.dumps({"ID": "c" * 64, "Names": "db,web/db_alias", "Status": "Up"})
    (c,) = parse_containers(line, 0)  # type: ignore[misc]
    assert c.name == "db"


def test_crash_looping_rule():
    first = hydra()
    previous = restart_counts(first)
    assert previous[QDRANT] == 37
    assert crash_looping({}, first) == {QDRANT}  # restarting now; no history needed
    # Next poll: qdrant's loop is between restarts (Up a few seconds), comfyui was brought back once.
    later = [
        Container(QDRANT, "hydra-stack-qdrant-1", "q", "running", "Up 2 seconds", restart_count=38),
        Container(COMFYUI, "comfyui", "c", "running", "Up 1 second", restart_count=3),
        Container(LITELLM, "hydra-stack-litellm-1", "l", "running", "Up 3 days", restart_count=0),
        Container("f" * 64, "new-one", "n", "running", "Up 1 second", restart_count=5),
    ]
    assert crash_looping(previous, later) == {QDRANT, COMFYUI}
    # The same counts again: nothing rose, nothing is restarting.
    assert crash_looping(restart_counts(later), later) == frozenset()


def _mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(0, 4)):
        if not text:
            break
        at = rng.randint(0, len(text))
        cut = rng.randint(0, 8)
        text = (
            text[:at]
            + rng.choice(["", "\n", ",", '"', "{", "}", "\\", "\x1b[2J", "=", "\u202e"])
            + text[at + cut :]
        )
    return text


REAL = [read(n) for n in ("ps_json.txt", "public_olivetin_searxng_compose_restarting.txt", "daemon_down.txt")]


@FUZZ
@given(st.integers(0, 2**32), st.one_of(st.none(), st.integers(-5, 300)), st.text(max_size=200))
def test_fuzz_parse_containers_never_raises(seed, rc, noise):
    rng = random.Random(seed)
    ps = _mutate(rng, rng.choice(REAL)) + noise
    inspect = _mutate(rng, read("inspect.txt")) + noise
    result = parse_containers(ps, rc, inspect, rc)
    if isinstance(result, ProbeError):
        assert result.reason and "\n" not in result.reason
    else:
        assert all(isinstance(c, Container) and c.id and c.name for c in result)
        for c in result:
            assert not CONTROLS.search(c.name + c.image + c.status + c.state + c.ports)


@FUZZ
@given(st.text(max_size=300), st.dictionaries(st.text(max_size=70), st.integers(0, 100), max_size=5))
def test_fuzz_labels_and_crash_loop_never_raise(text, previous):
    assert isinstance(parse_labels(text), dict)
    containers = parse_containers(text, 0)
    if isinstance(containers, tuple):
        assert crash_looping(previous, containers) <= {c.id for c in containers}
