"""Judging health answers: the products' real bodies (tests/fixtures/http_services) in, one line out."""

from __future__ import annotations

import errno
import re
import socket
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cockpit.config import Expect, ServiceConfig
from cockpit.sources.http import describe
from cockpit.sources.http_checks import display_url, judge, target_url, value_at

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "http_services"
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


def _service(kind: str = "http", expect: Expect | None = None) -> ServiceConfig:
    return ServiceConfig(name="svc", url="http://127.0.0.1:1", kind=kind, expect=expect)  # type: ignore[arg-type]


def _body(name: str) -> bytes:
    return b"" if name == "-" else (FIXTURES / name).read_bytes()


@pytest.mark.parametrize(
    ("kind", "path", "status", "fixture", "detail"),
    [
        ("tabbyapi", "/v1/model", 200, "tabbyapi_v1_model.json", "model Llama-3.3-70B-Instruct-exl2-4.0bpw"),
        ("tabbyapi", "/v1/models", 200, "tabbyapi_v1_models.json", "1 model"),
        ("tabbyapi", "/health", 200, "tabbyapi_health.json", "healthy"),
        ("ollama", "/api/tags", 200, "ollama_api_tags.json", "3 models"),
        ("ollama", "/api/ps", 200, "ollama_api_ps.json", "1 loaded"),
        ("ollama", "/api/version", 200, "ollama_api_version.json", "version 0.5.7"),
        ("ollama", "/", 200, "ollama_root.txt", None),
        ("litellm", "/health", 200, "litellm_health.json", "2/2 endpoints healthy"),
        ("litellm", "/health/liveliness", 200, "litellm_liveliness.json", "alive"),
        ("litellm", "/health/readiness", 200, "litellm_readiness.json", "ready, db connected"),
        ("grafana", "/api/health", 200, "grafana_api_health.json", "version 11.4.0"),
        ("grafana", "/api/health", 200, "grafana_api_health_hidden_version.json", "database ok"),
        ("prometheus", "/-/healthy", 200, "prometheus_healthy.txt", "healthy"),
        ("prometheus", "/-/ready", 200, "prometheus_ready.txt", "ready"),
        ("open-webui", "/health", 200, "open_webui_health.json", "healthy"),
        ("triton", "/v2/health/ready", 200, "-", "ready"),
        ("triton", "/v2/health/live", 200, "-", "live"),
        ("triton", "/v2", 200, "triton_v2.json", "version 2.52.0"),
    ],
)
def test_healthy_answers(kind: str, path: str, status: int, fixture: str, detail: str | None) -> None:
    verdict = judge(_service(kind), path, status, JSON, _body(fixture), 0.01)
    assert (verdict.ok, verdict.detail, verdict.error) == (True, detail, None)


@pytest.mark.parametrize(
    ("kind", "path", "status", "ctype", "fixture", "error"),
    [
        ("tabbyapi", "/v1/model", 503, JSON, "tabbyapi_v1_model_no_model_503.json",
         "HTTP 503: No models are currently loaded."),
        ("tabbyapi", "/health", 503, JSON, "tabbyapi_health_unhealthy_503.json",
         "HTTP 503: unhealthy: CUDA out of memory. Tried to allocate 2.00 GiB"),
        ("tabbyapi", "/v1/model", 200, JSON, "fastapi_404.json", "model id is empty"),
        ("tabbyapi", "/v1/model", 404, JSON, "fastapi_404.json", "HTTP 404: Not Found"),
        ("tabbyapi", "/v1/model", 502, "text/html", "nginx_502.html", "HTTP 502: 502 Bad Gateway"),
        ("tabbyapi", "/v1/model", 200, "text/html", "nginx_502.html", "not JSON"),
        ("ollama", "/api/tags", 200, JSON, "ollama_api_tags_empty.json", "no models (ollama pull one)"),
        ("ollama", "/api/tags", 503, JSON, "ollama_busy_503.json",
         "HTTP 503: server busy, please try again.  maximum pending requests exceeded"),
        ("ollama", "/api/tags", 200, JSON, "ollama_api_version.json", "no 'models' list in the answer"),
        ("litellm", "/health", 200, JSON, "litellm_health_unhealthy.json",
         "1 of 2 endpoints unhealthy (openai/Llama-3.3-70B-Instruct-exl2-4.0bpw)"),
        ("litellm", "/health", 200, JSON, "litellm_health_no_counts.json",
         "1 of 3 endpoints unhealthy (azure/gpt-35-turbo)"),
        ("litellm", "/health", 401, JSON, "litellm_401.json",
         "HTTP 401: needs an API key (probe /health/liveliness instead)"),
        ("http", "/health", 401, JSON, "litellm_401.json", "HTTP 401: Authentication Error, No api key passed in."),
        ("grafana", "/api/health", 503, "application/json; charset=UTF-8", "grafana_api_health_failing_503.json",
         "HTTP 503: database failing"),
        ("prometheus", "/-/ready", 503, TEXT, "prometheus_not_ready_503.txt", "HTTP 503: Service Unavailable"),
        ("prometheus", "/-/healthy", 200, "text/html", "nginx_502.html", "unexpected answer: '<html> <head><title>502 Bad Gateway</ti…'"),
        ("open-webui", "/health", 200, JSON, "litellm_liveliness.json", "not a JSON object"),
        ("triton", "/v2/health/ready", 400, JSON, "-", "not ready (HTTP 400)"),
        ("triton", "/v2/health/live", 400, JSON, "-", "not live (HTTP 400)"),
    ],
)  # fmt: skip
def test_unhealthy_answers_say_why_in_one_line(
    kind: str, path: str, status: int, ctype: str, fixture: str, error: str
) -> None:
    verdict = judge(_service(kind), path, status, ctype, _body(fixture), 0.01)
    assert not verdict.ok
    assert verdict.error == error
    assert "\n" not in error


def test_a_redirect_counts_as_up_for_dns_but_not_for_http() -> None:
    assert judge(_service("dns"), "/", 302, "", b"", 0.01).ok
    assert judge(_service("http"), "/", 302, "", b"", 0.01).error == "HTTP 302"


def test_expect_json_path_replaces_the_kind_check() -> None:
    expect = Expect(json_path="data.0.id")
    verdict = judge(
        _service("tabbyapi", expect), "/v1/models", 200, JSON, _body("tabbyapi_v1_models.json"), 0.1
    )
    assert (verdict.ok, verdict.detail) == (True, "data.0.id 'Llama-3.3-70B-Instruct-exl2-4.0bpw'")


@pytest.mark.parametrize(
    ("expect", "status", "fixture", "error"),
    [
        (Expect(json_path="database", equals="ok", status=[200, 503]), 503,
         "grafana_api_health_failing_503.json", "database is 'failing' (expected 'ok')"),
        (Expect(json_path="models", min_items=5), 200, "ollama_api_tags.json",
         "models has 3 items (expected at least 5)"),
        (Expect(json_path="models.9.name"), 200, "ollama_api_tags.json", "models.9.name is missing"),
        (Expect(json_path="models"), 200, "ollama_api_tags_empty.json", "models is empty"),
        (Expect(json_path="status", equals=1), 200, "open_webui_health.json", "status is true (expected 1)"),
        (Expect(json_path="status"), 200, "prometheus_healthy.txt", "not JSON"),
        (Expect(status=204), 200, "prometheus_healthy.txt", "HTTP 200: Prometheus Server is Healthy."),
    ],
)  # fmt: skip
def test_expect_failures(expect: Expect, status: int, fixture: str, error: str) -> None:
    verdict = judge(_service("http", expect), "/x", status, JSON, _body(fixture), 0.1)
    assert (verdict.ok, verdict.error) == (False, error)


def test_equals_true_is_not_one() -> None:
    ok = judge(
        _service("http", Expect(json_path="status", equals=True)), "/health", 200, JSON, b'{"status":true}', 0
    )
    assert ok.ok


def test_too_slow_keeps_the_detail() -> None:
    expect = Expect(max_latency_s=5)
    verdict = judge(
        _service("tabbyapi", expect), "/v1/model", 200, JSON, _body("tabbyapi_v1_model.json"), 6.2
    )
    assert (verdict.ok, verdict.error) == (False, "slow: 6.2s > 5s")
    assert verdict.detail == "model Llama-3.3-70B-Instruct-exl2-4.0bpw"


def test_remote_text_is_sanitized() -> None:
    body = b'{"id":"\\u001b]0;owned\\u0007Llama\\u001b[2J-70B","object":"model"}'
    verdict = judge(_service("tabbyapi"), "/v1/model", 200, JSON, body, 0.1)
    assert verdict.detail == "model Llama-70B"
    error = judge(
        _service("ollama"), "/api/tags", 500, JSON, b'{"error":"\x1b[31mboom\x1b[0m' + b"x" * 500 + b'"}', 0.1
    )
    assert error.error is not None and "\x1b" not in error.error and len(error.error) < 120


@pytest.mark.parametrize(
    ("url", "kind", "target"),
    [
        ("http://127.0.0.1:5000", "tabbyapi", "http://127.0.0.1:5000/v1/model"),
        ("http://127.0.0.1:5000/", "tabbyapi", "http://127.0.0.1:5000/v1/model"),
        ("http://127.0.0.1:5000/health", "tabbyapi", "http://127.0.0.1:5000/health"),
        ("http://192.168.1.203:11434", "ollama", "http://192.168.1.203:11434/api/tags"),
        ("http://192.168.1.244:4000", "litellm", "http://192.168.1.244:4000/health"),
        ("http://192.168.1.244:3003", "grafana", "http://192.168.1.244:3003/api/health"),
        ("http://192.168.1.244:9090", "prometheus", "http://192.168.1.244:9090/-/healthy"),
        ("http://192.168.1.250:3000", "open-webui", "http://192.168.1.250:3000/health"),
        ("https://gpu.example.org", "triton", "https://gpu.example.org/v2/health/ready"),
        ("http://h:8000", "http", "http://h:8000/"),
        ("http://h:8000?x=1", "http", "http://h:8000/?x=1"),
        ("http://h:53", "dns", "http://h:53/"),
    ],
)
def test_the_kind_supplies_the_path(url: str, kind: str, target: str) -> None:
    service = ServiceConfig(name="s", url=url, kind=kind)  # type: ignore[arg-type]
    assert target_url(service) == target


def test_display_url_drops_credentials() -> None:
    assert display_url("http://admin:hunter2@127.0.0.1:3003/api/health") == "http://127.0.0.1:3003/api/health"


def test_value_at_walks_lists_and_objects() -> None:
    assert value_at({"data": [{"id": "m"}]}, "data.0.id") == "m"
    assert value_at({"data": [1, 2]}, "data.-1") == 2


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (httpx.ConnectError("x"), "cannot connect: x"),
        (httpx.ConnectTimeout("x"), "connect timeout after 5s"),
        (httpx.ReadTimeout("x"), "timeout after 5s"),
        (httpx.PoolTimeout("x"), "timeout after 5s waiting for a free connection"),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."),
         "connection closed before any answer"),
        (httpx.RemoteProtocolError("peer closed connection without sending complete message body: received 3 bytes"),
         "connection closed mid-response"),
    ],
)  # fmt: skip
def test_transport_failures_are_named(exc: httpx.HTTPError, text: str) -> None:
    assert describe(exc, 5.0) == text


@pytest.mark.parametrize(
    ("cause", "text"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "connection refused"),
        (socket.gaierror(-2, "Name or service not known"), "DNS lookup failed"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "unreachable"),
        (OSError("All connection attempts failed"), "cannot connect: All connection attempts failed"),
    ],
)
def test_connect_errors_follow_their_causes(cause: OSError, text: str) -> None:
    exc = httpx.ConnectError(str(cause))
    exc.__cause__ = cause
    assert describe(exc, 5.0) == text


def test_a_refusal_inside_an_exception_group_is_found() -> None:
    """anyio tries every address of a name and raises one OSError from a group of refusals."""
    inner = OSError("All connection attempts failed")
    inner.__cause__ = ExceptionGroup(
        "", [ConnectionRefusedError(111, "refused"), ConnectionRefusedError(111, "x")]
    )
    exc = httpx.ConnectError("All connection attempts failed")
    exc.__cause__ = inner
    assert describe(exc, 5.0) == "connection refused"


CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
KINDS = ["http", "tabbyapi", "ollama", "litellm", "grafana", "prometheus", "open-webui", "triton", "dns"]
PATHS = ["/", "/v1/model", "/v1/models", "/health", "/api/tags", "/api/ps", "/api/version", "/health/readiness",
         "/api/health", "/-/healthy", "/-/ready", "/v2/health/ready", "/v2"]  # fmt: skip


@settings(max_examples=int(__import__("os").environ.get("COCKPIT_FUZZ_EXAMPLES", "200")))
@given(
    kind=st.sampled_from(KINDS),
    path=st.sampled_from(PATHS),
    status=st.sampled_from([200, 204, 301, 400, 401, 404, 500, 503]),
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
            ),
            max_leaves=20,
        ).map(lambda doc: __import__("json").dumps(doc).encode()),
    ),
)
def test_no_body_crashes_the_judge(kind: str, path: str, status: int, body: bytes) -> None:
    verdict = judge(_service(kind), path, status, JSON, body, 0.1)
    for text in (verdict.detail, verdict.error):
        assert text is None or (not CONTROLS.search(text) and len(text) < 200)
    assert verdict.ok or verdict.error


def test_deeply_nested_json_is_not_a_crash() -> None:
    assert judge(_service("tabbyapi"), "/v1/model", 200, JSON, b"[" * 100_000, 0.1).error == "not JSON"
