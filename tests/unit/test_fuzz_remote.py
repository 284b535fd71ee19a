"""Property tests: the workload parsers, the HTTP judge, the typed-query parser and the audit reader
never raise on hostile or broken input, and what they keep for display is clean.

Inputs are mutations of the real captures (tests/fixtures/docker, systemd, gpu_procs,
http_services): deleted, duplicated and spliced lines, hostile bytes inserted. ``COCKPIT_FUZZ_EXAMPLES``
raises the example count (default 80 per test); ``COCKPIT_NIGHTLY=1`` makes it 2,000.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cockpit.actions.audit import parse_since, read_records
from cockpit.config import ServiceConfig
from cockpit.model import ProbeError
from cockpit.query import parse_lenient, parse_query
from cockpit.sources.containers import parse_containers
from cockpit.sources.gpu_procs import parse_cgroups, parse_compute_apps
from cockpit.sources.http_checks import judge
from cockpit.sources.units import parse_units

DEFAULT = 2_000 if os.environ.get("COCKPIT_NIGHTLY") == "1" else 80
FUZZ = settings(
    max_examples=int(os.environ.get("COCKPIT_FUZZ_EXAMPLES", DEFAULT)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ESCAPES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
HOSTILE = ["\x1b]0;pwned\x07", "\x1b[2J", "[bold red]x[/]", "[/]", "\x00", "\udcff", "\u202e", "\x9b2J",
           '"', "\\", "{", "}", ",", ", ", "=", "\n", "\t", "[N/A]", "-1", "9" * 30, "nan", "é"]  # fmt: skip


def _lines(*globs: str) -> list[str]:
    found = []
    for pattern in globs:
        for path in sorted(FIXTURES.glob(pattern)):
            found += [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return found or ["x"]


DOCKER = _lines("docker/*.txt")
SYSTEMD = _lines("systemd/*.txt", "systemd_status/*.txt")
PROCS = _lines("gpu_procs/*.txt", "gpu_procs/cgroup/*")
BODIES = sorted(p.read_bytes() for p in (FIXTURES / "http_services").iterdir() if p.suffix != ".md")


def mutated(lines: list[str]) -> st.SearchStrategy[str]:
    line = st.one_of(
        st.sampled_from(lines),
        st.builds(
            lambda ln, at, junk: ln[:at] + junk + ln[at:],
            st.sampled_from(lines),
            st.integers(0, 400),
            st.sampled_from(HOSTILE),
        ),
        st.text(max_size=60),
    )
    return st.lists(line, max_size=25).map("\n".join)


rcs = st.sampled_from([None, 0, 1, 2, 124, 125, 127, 255, -1])


def assert_clean(text: str | None) -> None:
    if text:
        assert not ESCAPES.search(text), repr(text)
        assert "\x1b" not in text and "\n" not in text


@FUZZ
@given(ps=mutated(DOCKER), ps_rc=rcs, inspect=mutated(DOCKER), inspect_rc=rcs)
def test_containers_never_raise(ps: str, ps_rc: int | None, inspect: str, inspect_rc: int | None) -> None:
    found = parse_containers(ps, ps_rc, inspect, inspect_rc)
    if isinstance(found, ProbeError):
        assert_clean(found.reason)
        return
    for c in found:
        for value in (c.id, c.name, c.image, c.state, c.status, c.ports, c.project):
            assert_clean(value)


@FUZZ
@given(
    text=mutated(SYSTEMD),
    rc=rcs,
    wanted=st.lists(st.sampled_from(["ollama", "tabbyapi.service", "x"]), max_size=3),
)
def test_units_never_raise(text: str, rc: int | None, wanted: list[str]) -> None:
    found = parse_units(text, rc, wanted, 1000.0, 1_763_800_000.0)
    if isinstance(found, ProbeError):
        assert_clean(found.reason)
        return
    assert [u.name for u in found] in (wanted, []), "one per wanted name (none without systemctl)"
    for u in found:
        assert_clean(u.active)
        assert_clean(u.sub)


@FUZZ
@given(text=mutated(PROCS), rc=rcs, cgroups=mutated(PROCS))
def test_gpu_processes_never_raise(text: str, rc: int | None, cgroups: str) -> None:
    found = parse_compute_apps(text, rc)
    if isinstance(found, ProbeError):
        assert_clean(found.reason)
    else:
        for p in found:
            assert_clean(p.name)
    parse_cgroups(cgroups)


SERVICES = [
    ServiceConfig(name=f"s-{kind}", url="http://127.0.0.1:1/", kind=kind)
    for kind in ("http", "tabbyapi", "ollama", "litellm", "grafana", "prometheus", "open-webui", "triton")
]


@FUZZ
@given(
    service=st.sampled_from(SERVICES),
    path=st.sampled_from(["/", "/health", "/api/tags", "/api/ps", "/api/version", "/v1/model", "/-/ready"]),
    status=st.sampled_from([200, 204, 301, 400, 401, 404, 500, 502, 503]),
    ctype=st.sampled_from(["application/json", "text/html", "text/plain", "", "text/html\x1b]0;x\x07"]),
    body=st.one_of(
        st.sampled_from(BODIES),
        st.builds(
            lambda b, at, junk: b[:at] + junk + b[at:],
            st.sampled_from(BODIES),
            st.integers(0, 300),
            st.sampled_from([h.encode("utf-8", "surrogateescape") for h in HOSTILE]),
        ),
        st.binary(max_size=200),
    ),
)
def test_http_judge_never_raises(
    service: ServiceConfig, path: str, status: int, ctype: str, body: bytes
) -> None:
    verdict = judge(service, path, status, ctype, body, 0.05)
    assert_clean(verdict.detail)
    assert_clean(verdict.error)


@FUZZ
@given(
    text=st.one_of(st.text(max_size=60), mutated(["gpu>80", "status:down", "!hydra", "tag:h100 temp>=70"]))
)
def test_typed_queries_never_raise(text: str) -> None:
    parse_query(text)
    _, error = parse_lenient(text)
    assert error is None or "\n" not in str(error)


@FUZZ
@given(text=st.text(max_size=40))
def test_since_is_a_date_or_one_line_error(text: str) -> None:
    try:
        parse_since(text)
    except ValueError as exc:
        assert "\n" not in str(exc)


@FUZZ
@given(
    lines=st.lists(
        st.one_of(st.text(max_size=80), st.just('{"event":"start","id":1,"time":"2025-01-01T00:00:00"}')),
        max_size=10,
    )
)
def test_audit_reader_skips_what_it_cannot_read(lines: list[str], tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape"))
    for record in read_records(path):
        assert isinstance(record, dict)
