"""A simulated vLLM server (and its Ray Serve replica) on one node: the metrics its /metrics page shows.

vLLM exports through Python's prometheus_client, so values print as ``1234.0`` and every sample's
labels come sorted by name (``{le="0.5",model_name="..."}``). Gauges follow the node's GPU load; counters and the TTFT histogram are integrated
between renders, so ``rate()`` and ``histogram_quantile()`` in a real Prometheus give believable
answers. Scenario hooks pin the KV-cache use, the queue, the TTFT p95 and replica health.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from cockpit.sim.noise import hash01, smooth_noise
from cockpit.sim.promtext import family, py_float, sample
from cockpit.sim.world import NodeWorld

TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""vLLM's bucket bounds for ``vllm:time_to_first_token_seconds`` (0.6 series)."""
TTFT_SIGMA = 0.5
Z95 = 1.6449
MAX_STEP_S = 600.0
PINNABLE = ("kv_cache", "waiting", "running", "ttft_p95_s", "healthy")
LATENCY_BUCKETS_MS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 300.0, 400.0, 500.0, 1000.0, 2000.0,
                      5000.0, 10000.0, 60000.0, 120000.0, 300000.0, 600000.0)  # fmt: skip
"""Ray Serve's DEFAULT_LATENCY_BUCKET_MS, the bounds of ``ray_serve_deployment_processing_latency_ms``."""
TOKEN_TIME_S = 0.02
"""Seconds per generated token: with ~210 tokens a request, a replica spends ~4 s on one."""
SERVE = (("application", "llm"), ("deployment", "VLLMDeployment"))


@dataclass(slots=True)
class Inference:
    """One node's vLLM engine and Ray Serve replica; :meth:`render` advances it to ``now``."""

    world: NodeWorld
    model: str = ""
    last: float | None = None
    buckets: list[float] = field(default_factory=lambda: [0.0] * (len(TTFT_BUCKETS) + 1))
    ttft_sum: float = 0.0
    prompt_tokens: float = 0.0
    generation_tokens: float = 0.0
    replica_starts: float = 1.0
    router_requests: float = 0.0
    latency_buckets: list[float] = field(default_factory=lambda: [0.0] * (len(LATENCY_BUCKETS_MS) + 1))
    latency_sum_ms: float = 0.0
    overrides: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        big = any(g.spec.datacenter for g in self.world.gpus)
        self.model = "meta-llama/Llama-3.1-70B-Instruct" if big else "Qwen/Qwen2.5-7B-Instruct"

    def set(self, **values: float | None) -> None:
        for name, value in values.items():
            if name not in PINNABLE:
                raise TypeError(
                    f"set_vllm got an unknown value {name!r} (expected one of {', '.join(PINNABLE)})"
                )
            if value is None:
                self.overrides.pop(name, None)
            else:
                self.overrides[name] = float(value)

    # -- the weather ---------------------------------------------------------------------------

    def load(self, now: float) -> float:
        gpus = self.world.gpus
        return sum(g.util for g in gpus) / (100.0 * len(gpus)) if gpus else 0.0

    def kv_cache(self, now: float) -> float:
        if "kv_cache" in self.overrides:
            return self.overrides["kv_cache"]
        x = 0.15 + 0.45 * self.load(now) + 0.08 * smooth_noise(self.world.key ^ 71, now, 30)
        return round(min(0.99, max(0.0, x)), 4)

    def running(self, now: float) -> float:
        if "running" in self.overrides:
            return self.overrides["running"]
        return float(int(1 + 24 * self.load(now) * (0.8 + 0.4 * hash01(self.world.key, 72, int(now) // 5))))

    def waiting(self, now: float) -> float:
        return self.overrides.get("waiting", 0.0)

    def healthy(self) -> bool:
        return self.overrides.get("healthy", 1.0) >= 0.5

    def ttft_median(self, now: float) -> float:
        if "ttft_p95_s" in self.overrides:
            return self.overrides["ttft_p95_s"] / math.exp(Z95 * TTFT_SIGMA)
        return 0.05 + 0.25 * self.kv_cache(now) ** 3

    # -- integration ---------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        if self.last is None:
            # Start as a server that has been up for an hour at today's pace.
            self.last = now - 3600.0
        dt = min(MAX_STEP_S, max(0.0, now - self.last))
        self.last = max(self.last, now)
        if dt == 0 or not self.healthy():
            if not self.healthy():
                self.replica_starts += dt / 30.0  # Serve restarts a dead replica every ~30 s
            return
        rate = 0.5 + 6.0 * self.load(now)
        requests = rate * dt
        median = self.ttft_median(now)
        for i, bound in enumerate(TTFT_BUCKETS):
            self.buckets[i] += requests * _lognormal_cdf(bound, median)
        self.buckets[-1] += requests
        self.ttft_sum += requests * median * math.exp(TTFT_SIGMA**2 / 2)
        self.prompt_tokens += requests * 850
        self.generation_tokens += requests * 210
        self.router_requests += requests
        latency_ms = 1000.0 * (median + 210 * TOKEN_TIME_S)
        for i, bound in enumerate(LATENCY_BUCKETS_MS):
            self.latency_buckets[i] += requests * _lognormal_cdf(bound, latency_ms)
        self.latency_buckets[-1] += requests
        self.latency_sum_ms += requests * latency_ms * math.exp(TTFT_SIGMA**2 / 2)

    # -- the page ------------------------------------------------------------------------------

    def render(self, now: float) -> str:
        self.advance(now)
        model = (("model_name", self.model),)
        out = []
        if self.healthy():
            out += _vllm_families(self, now, model)
        replica = f"VLLMDeployment#{self.world.node.name}"
        labels = (*SERVE, ("replica", replica))
        out += _serve_families(self, labels)
        out.append(family("ray_serve_deployment_replica_healthy",
                          "Tracks whether this deployment replica is healthy. 1 means healthy, 0 means unhealthy.",
                          "gauge", [sample("ray_serve_deployment_replica_healthy", labels,
                                           py_float(1.0 if self.healthy() else 0.0))]))  # fmt: skip
        out.append(family("ray_serve_deployment_replica_starts_total",
                          "The number of times this replica has been started.", "counter",
                          [sample("ray_serve_deployment_replica_starts_total", labels,
                                  py_float(float(int(self.replica_starts))))]))  # fmt: skip
        return "".join(out)


def _vllm_families(sim: Inference, now: float, model: tuple[tuple[str, str], ...]) -> list[str]:
    gauge = [
        ("vllm:num_requests_running", "Number of requests currently running on GPU.", sim.running(now)),
        ("vllm:num_requests_waiting", "Number of requests waiting to be processed.", sim.waiting(now)),
        ("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.", sim.kv_cache(now)),
    ]
    out = [family(name, text, "gauge", [sample(name, model, py_float(v))]) for name, text, v in gauge]
    for name, text, value in (
        ("vllm:prompt_tokens_total", "Number of prefill tokens processed.", sim.prompt_tokens),
        ("vllm:generation_tokens_total", "Number of generation tokens processed.", sim.generation_tokens),
    ):
        out.append(family(name, text, "counter", [sample(name, model, py_float(float(int(value))))]))
    name = "vllm:time_to_first_token_seconds"
    rows = []
    for bound, count in zip((*TTFT_BUCKETS, math.inf), sim.buckets, strict=True):
        labels = (("le", py_float(bound)), *model)
        rows.append(sample(f"{name}_bucket", labels, py_float(float(int(count)))))
    rows.append(sample(f"{name}_count", model, py_float(float(int(sim.buckets[-1])))))
    rows.append(sample(f"{name}_sum", model, py_float(round(sim.ttft_sum, 6))))
    out.append(family(name, "Histogram of time to first token in seconds.", "histogram", rows))
    return out


def _serve_families(sim: Inference, labels: tuple[tuple[str, str], ...]) -> list[str]:
    """Ray Serve's request counter and processing-latency histogram (runbook 004's request rate and
    p95 latency queries), as Ray's exporter prints them: Python floats."""
    name = "ray_serve_num_router_requests_total"
    routed = (*SERVE, ("route", "/v1"))
    out = [family(name, "The number of requests processed by the router.", "counter",
                  [sample(name, routed, py_float(float(int(sim.router_requests))))])]  # fmt: skip
    name = "ray_serve_deployment_processing_latency_ms"
    rows = []
    for bound, count in zip((*LATENCY_BUCKETS_MS, math.inf), sim.latency_buckets, strict=True):
        rows.append(sample(f"{name}_bucket", (*labels, ("le", py_float(bound))), py_float(float(int(count)))))
    rows.append(sample(f"{name}_count", labels, py_float(float(int(sim.latency_buckets[-1])))))
    rows.append(sample(f"{name}_sum", labels, py_float(round(sim.latency_sum_ms, 3))))
    out.append(family(name, "The latency for queries to be processed.", "histogram", rows))
    return out


def _lognormal_cdf(x: float, median: float) -> float:
    if x <= 0:
        return 0.0
    return 0.5 * (1.0 + math.erf(math.log(x / median) / (TTFT_SIGMA * math.sqrt(2.0))))
