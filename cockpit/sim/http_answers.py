"""What each simulated product answers, healthy or not, in the product's own words and shapes.

The bodies follow the products' source: TabbyAPI's ``ModelCard`` and FastAPI's ``{"detail": ...}``
errors (endpoints/core, common/model.py), Ollama's ``ListModelResponse`` and gin's 404 text
(api/types.go), LiteLLM's ``/health`` with ``healthy_count`` (proxy/health_endpoints), Grafana's
pretty-printed ``/api/health`` with ``"database": "failing"`` and 503 (pkg/api), Prometheus's
``/-/healthy`` text (web/web.go), Open WebUI's ``{"status": true}``, Triton's empty 200/400 on
``/v2/health/ready`` (src/http_server.cc). A probe that changes still meets what the product says.

The states that change answers are ``error`` (each product's real failure) and ``bad-json`` (a body
cut short, as a dying proxy sends it). ``down`` and ``slow`` are the server's business.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
TABBY_MODEL = "Llama-3.3-70B-Instruct-exl2-4.0bpw"
OLLAMA_MODELS = (
    (
        "llama3.2:3b",
        "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        2019393189,
        "3.2B",
        "llama",
    ),
    (
        "gemma2:9b",
        "ff02c3702f322b9e075e9568332d96c0a7028002f1a5a056e0a6784320a4db0b",
        5443152417,
        "9.2B",
        "gemma2",
    ),
    (
        "nomic-embed-text:latest",
        "0a109f422b47e3a30ba2b10eca18548e944e8a23073ee3f3e947efcf3c45e59f",
        274302450,
        "137M",
        "nomic-bert",
    ),
)
TRITON_MODELS = ("densenet_onnx", "text_recognition")


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer: status, body and its content type, and any extra headers."""

    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Backend:
    """An LLM endpoint behind the simulated LiteLLM (another simulated service), and its health."""

    model: str
    api_base: str
    healthy: bool


SERVER_HEADER = {"tabbyapi": "uvicorn", "litellm": "uvicorn", "open-webui": "uvicorn"}
"""The FastAPI products run under uvicorn, which says so; Go servers (Ollama, Grafana, Prometheus)
and Triton's libevhtp send no Server header."""


def answer(
    kind: str, method: str, path: str, state: str, backends: Callable[[], list[Backend]] | None = None
) -> Answer:
    """The answer of a ``kind`` service in ``state`` to ``method path``."""
    if kind == "litellm":
        return _litellm(method, path, state, backends() if backends else [])
    return _KINDS.get(kind, _generic)(method, path, state)


def _json(doc: Any, status: int = 200, *, state: str = "ok") -> Answer:
    """JSON as FastAPI and Go's encoder write it (compact); ``bad-json`` cuts it in half."""
    body = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    if state == "bad-json" and status == 200:
        body = body[: max(1, len(body) // 2)]
    return Answer(status, body, JSON)


def _text(text: str, status: int = 200, content_type: str = TEXT, **extra: str) -> Answer:
    return Answer(status, text.encode(), content_type, tuple(extra.items()))


def _redirect(location: str, status: int = 302) -> Answer:
    return Answer(status, b"", None, (("Location", location),))


def _fastapi_404() -> Answer:
    return _json({"detail": "Not Found"}, 404)


# -- TabbyAPI ---------------------------------------------------------------------------------


def _tabbyapi(method: str, path: str, state: str) -> Answer:
    created = int(time.time())
    card = {"id": TABBY_MODEL, "object": "model", "created": created, "owned_by": "tabbyAPI"}
    if path == "/v1/model":
        if state == "error":
            return _json({"detail": "No models are currently loaded."}, 503)
        params = {
            "max_seq_len": 32768, "rope_scale": 1.0, "rope_alpha": 1.0, "cache_size": 32768,
            "cache_mode": "Q4", "chunk_size": 2048, "prompt_template": "llama3",
            "num_experts_per_token": None, "draft": None,
        }  # fmt: skip
        logging = {"log_prompt": False, "log_generation_params": False, "log_requests": False}
        return _json({**card, "logging": logging, "parameters": params}, state=state)
    if path in ("/v1/models", "/v1/model/list"):
        data = [] if state == "error" else [{**card, "logging": None, "parameters": None}]
        return _json({"object": "list", "data": data}, state=state)
    if path == "/health":
        if state == "error":
            issue = {"time": _utc_now(), "description": "CUDA out of memory. Tried to allocate 2.00 GiB"}
            return _json({"status": "unhealthy", "issues": [issue]}, 503)
        return _json({"status": "healthy", "issues": []}, state=state)
    return _fastapi_404()


# -- Ollama -----------------------------------------------------------------------------------


def _ollama(method: str, path: str, state: str) -> Answer:
    if path in ("/", ""):
        return _text("Ollama is running")
    if state == "error" and path.startswith("/api/"):
        return _json({"error": "server busy, please try again.  maximum pending requests exceeded"}, 503)
    if path == "/api/tags":
        return _json({"models": [_ollama_model(m) for m in OLLAMA_MODELS]}, state=state)
    if path == "/api/version":
        return _json({"version": "0.5.7"}, state=state)
    if path == "/api/ps":
        loaded = {**_ollama_model(OLLAMA_MODELS[0]), "expires_at": _local_iso(time.time() + 300)}
        loaded["size_vram"] = loaded["size"]
        del loaded["modified_at"]
        return _json({"models": [loaded]}, state=state)
    return _text("404 page not found", 404)


def _ollama_model(spec: tuple[str, str, int, str, str]) -> dict[str, Any]:
    name, digest, size, params, family = spec
    details = {
        "parent_model": "", "format": "gguf", "family": family, "families": [family],
        "parameter_size": params, "quantization_level": "F16" if "embed" in name else "Q4_K_M",
    }  # fmt: skip
    modified = _local_iso(time.time() - 86400 * 12)
    return {
        "name": name,
        "model": name,
        "modified_at": modified,
        "size": size,
        "digest": digest,
        "details": details,
    }


# -- LiteLLM ----------------------------------------------------------------------------------


def _litellm(method: str, path: str, state: str, backends: list[Backend]) -> Answer:
    if path in ("/health/liveliness", "/health/liveness"):
        return _json("I'm alive!", state=state)
    if path == "/health/readiness":
        if state == "error":
            reason = "Service Unhealthy (Can't reach database server at `postgres:5432`)"
            return _json({"detail": reason}, 503)
        ready = {"status": "connected", "db": "connected", "cache": None, "litellm_version": "1.55.8",
                 "success_callbacks": ["sync_deployment_callback_on_success"]}  # fmt: skip
        return _json(ready, state=state)
    if path == "/health":
        if not backends:
            backends = [Backend("ollama/llama3.2:3b", "http://127.0.0.1:11434", True)]
        healthy = [
            {"model": b.model, "api_base": b.api_base} for b in backends if b.healthy and state != "error"
        ]
        unhealthy = [
            {"model": b.model, "api_base": b.api_base,
             "error": "litellm.APIConnectionError: APIConnectionError: OpenAIException - Connection error."}
            for b in backends if not (b.healthy and state != "error")
        ]  # fmt: skip
        doc = {"healthy_endpoints": healthy, "unhealthy_endpoints": unhealthy,
               "healthy_count": len(healthy), "unhealthy_count": len(unhealthy)}  # fmt: skip
        return _json(doc, state=state)
    if path == "/":
        return _json("LiteLLM: RUNNING", state=state)
    return _fastapi_404()


# -- Grafana ----------------------------------------------------------------------------------

_GRAFANA_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "deny"),
    ("X-Xss-Protection", "1; mode=block"),
)


def _grafana(method: str, path: str, state: str) -> Answer:
    if path == "/api/health":
        doc = {"commit": "8a2e0d3bca0e0f2c4c6a5f0e0a2b0f4b0f3c1e2d", "database": "ok", "version": "11.4.0"}
        status = 200
        if state == "error":
            doc["database"], status = "failing", 503
        body = json.dumps(doc, indent=2, sort_keys=True).encode()  # simplejson EncodePretty
        if state == "bad-json":
            body = body[: len(body) // 2]
        return Answer(status, body, "application/json; charset=UTF-8", _GRAFANA_HEADERS)
    if path == "/":
        return _redirect("/login")
    if path == "/login":
        return _text(_page("Grafana"), content_type=HTML)
    return Answer(404, b'{"message":"Not found"}', JSON, _GRAFANA_HEADERS)


# -- Prometheus -------------------------------------------------------------------------------


def _prometheus(method: str, path: str, state: str) -> Answer:
    if path in ("/-/healthy", "/-/ready"):
        if state == "error":
            return _text("Service Unavailable", 503)
        if state == "bad-json":
            return _text(_page("Welcome to nginx!"), content_type=HTML)
        word = "Healthy" if path == "/-/healthy" else "Ready"
        return _text(f"Prometheus Server is {word}.\n")
    if path == "/":
        return _redirect("/query")
    return _text("404 page not found\n", 404)


# -- Open WebUI -------------------------------------------------------------------------------


def _open_webui(method: str, path: str, state: str) -> Answer:
    if state == "error":
        return _text("Internal Server Error", 500)  # uvicorn's answer to an unhandled exception
    if path in ("/health", "/health/db"):
        return _json({"status": True}, state=state)
    if path == "/api/version":
        return _json({"version": "0.5.4"}, state=state)
    return _text(_page("Open WebUI"), content_type=HTML)  # the SPA answers every other path


# -- Triton -----------------------------------------------------------------------------------


def _triton(method: str, path: str, state: str) -> Answer:
    ready = state != "error"
    if path == "/v2/health/live":
        return Answer(200)
    if path == "/v2/health/ready":
        return Answer(200 if ready else 400)  # Triton: empty body either way
    if path == "/v2":
        extensions = ["classification", "sequence", "model_repository", "model_repository(unload_dependents)",
                      "schedule_policy", "model_configuration", "system_shared_memory", "cuda_shared_memory",
                      "binary_tensor_data", "parameters", "statistics", "trace", "logging"]  # fmt: skip
        return _json({"name": "triton", "version": "2.52.0", "extensions": extensions}, state=state)
    if path == "/v2/repository/index" and method == "POST":
        index = [
            {"name": m, "version": "1", "state": "READY" if ready else "UNAVAILABLE"} for m in TRITON_MODELS
        ]
        return _json(index, state=state)
    for model in TRITON_MODELS:
        base = f"/v2/models/{model}"
        if path == f"{base}/ready":
            return Answer(200 if ready else 400)
        if path == base:
            if not ready:
                return _json({"error": f"Request for unknown model: '{model}' is not found"}, 400)
            meta = {"name": model, "versions": ["1"], "platform": "onnxruntime_onnx",
                    "inputs": [{"name": "data_0", "datatype": "FP32", "shape": [3, 224, 224]}],
                    "outputs": [{"name": "fc6_1", "datatype": "FP32", "shape": [1000, 1, 1]}]}  # fmt: skip
            return _json(meta, state=state)
    return _json({"error": "Not Found"}, 400)


# -- AdGuard Home (dns) and anything else -----------------------------------------------------


def _dns(method: str, path: str, state: str) -> Answer:
    if state == "error":
        return _text("Internal Server Error", 500)
    if path == "/":
        return _redirect("/login.html")
    if path == "/login.html":
        return _text(_page("Login"), content_type=HTML)
    return _text("404 page not found\n", 404)


def _generic(method: str, path: str, state: str) -> Answer:
    if state == "error":
        return _json({"status": "error", "message": "upstream unavailable"}, 503)
    return _json({"status": "ok"}, state=state)


_KINDS: dict[str, Callable[[str, str, str], Answer]] = {
    "tabbyapi": _tabbyapi,
    "ollama": _ollama,
    "grafana": _grafana,
    "prometheus": _prometheus,
    "open-webui": _open_webui,
    "triton": _triton,
    "dns": _dns,
}


def _page(title: str) -> str:
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8" />\n'
        f'<title>{title}</title>\n</head>\n<body>\n<div id="root"></div>\n</body>\n</html>\n'
    )


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000000Z"


def _local_iso(epoch: float) -> str:
    """Go's RFC 3339 with nanoseconds and the local offset, as Ollama writes ``modified_at``."""
    local = time.localtime(epoch)
    offset = local.tm_gmtoff
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    zone = "Z" if offset == 0 else f"{sign}{hours:02d}:{minutes:02d}"
    nanos = int((epoch % 1) * 1e9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + f".{nanos:09d}" + zone
