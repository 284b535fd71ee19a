"""The golden-signals and pods views: a signal is coloured by its own alert, not its neighbours'."""

from __future__ import annotations

from dataclasses import replace

from cockpit.model import Alert
from cockpit.scale_model import ScaleView
from cockpit.sources.kube import Pod
from cockpit.sources.prom_model import PromReading, Signal
from tests.states import sample_state
from widgets.scale_rows import pod_rows, signal_rows


def test_signals_take_the_severity_of_their_own_alert() -> None:
    subject = "vllm:llama@gpu-head"
    prom = PromReading(at=0.0, signals=(Signal("ttft_p95_s", subject, 3.2), Signal("kv_cache", subject, 0.4)))
    alert = Alert("warning", subject, "ttft_p95_s", f"{subject}: TTFT p95 3.2 s > 2 s")
    state = replace(sample_state(), scale=ScaleView(prom=prom), alerts=(alert,), _index={})
    rows = {row.key[0]: row.cells for row in signal_rows(state)}
    assert rows["ttft_p95_s"][3] == ("warning", "warning") and rows["ttft_p95_s"][2][0] == "3.20s"
    assert rows["kv_cache"][3] == ("ok", "ok") and rows["kv_cache"][2][0] == "40%"
    assert next(iter(rows)) == "ttft_p95_s", "what alerts comes first"


def test_pods_unhealthy_first_with_why() -> None:
    pods = (
        Pod("ml", "web-1", "Running", "Running", 1, 1, 0),
        Pod("ml", "trainer-0", "Running", "Running", 0, 1, 3, gpus=1, cuda_oom="CUDA out of memory"),
    )
    state = replace(sample_state(), scale=ScaleView(pods=pods), _index={})
    rows = pod_rows(state)
    assert rows[0].key == ("ml", "trainer-0") and rows[0].cells[-1][0] == "CUDA out of memory"
    assert rows[0].cells[1][1] == "critical"
