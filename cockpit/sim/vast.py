"""A Vast.ai-compatible REST API on loopback: instances, prices, idle GPUs, and the API's failures.

Routes and bodies follow the real API as the ``vastai`` client uses it (vast-ai/vast-cli
``vastai/api/instances.py``) and docs.vast.ai's API reference: ``GET /api/v0/instances/`` ->
``{"instances_found": n, "instances": [...]}`` with full instance rows; ``GET /api/v1/instances/``
paged by ``limit``/``after_token`` with ``next_token``; ``PUT /api/v0/instances/{id}/`` with
``{"state": "stopped"|"running"}`` or ``{"label": ...}``; ``DELETE /api/v0/instances/{id}/``. Auth is
``Authorization: Bearer KEY`` or the ``api_key`` query parameter, as the real client sends both.

Modes (:meth:`VastApiSim.set_mode`): ``ok``; ``unauthorized`` (401 ``{"success": false, ...}``);
``rate-limited`` (429 ``{"detail": "API requests too frequent endpoint threshold=..."}``, with
``Retry-After`` only if asked for: the real API sends none); ``error`` (500 with the framework's
HTML page); ``bad-json`` (a 200 cut short); ``slow``; ``down``; ``v0-gone`` (v0 answers 410, as a
later API might). Scenarios (:func:`demo_instances`): ``ok`` (12 instances, $6.7/h, one idle),
``cost-spike`` (five 2x H100 added, six idle, over $30/h); ``not-joining`` and ``partition`` rent
the same fleet as ``ok`` (those scenarios live in the mesh, :mod:`cockpit.sim.p2p`).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cockpit.sim.api_server import ApiSim, json_answer
from cockpit.sim.http import Request
from cockpit.sim.http_answers import Answer
from cockpit.sim.server import SimError

MODES = ("ok", "unauthorized", "rate-limited", "error", "bad-json", "slow", "down", "v0-gone")
SCENARIOS = ("ok", "cost-spike", "not-joining", "partition")
SIM_API_KEY = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
"""The demo account's key (a Vast key is 64 hex digits); the demo exports it as VAST_API_KEY."""
_INSTANCE_PATH = re.compile(r"^/api/v0/instances/(\d{1,12})/?$")
DJANGO_500 = b"<h1>Server Error (500)</h1>"


@dataclass
class SimInstance:
    """One rented instance the simulator plays; :meth:`row` is what the API returns for it."""

    id: int
    label: str | None
    gpu_name: str
    num_gpus: int
    dph_base: float
    """$/h for the GPUs, all of them together."""
    busy: float
    """Mean GPU utilization it plays, percent (0-3 for an idle one)."""
    status: str = "running"
    start_date: float = 0.0
    machine_id: int = 0
    gpu_ram_mib: int = 24576
    disk_gb: float = 50.0
    storage_cost: float = 0.15
    """$ per GB-month, as Vast lists it."""
    ssh_host: str = "ssh5.vast.ai"
    ssh_port: int = 10000
    public_ipaddr: str = "198.51.100.10"
    geolocation: str = "US"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def disk_usd_h(self) -> float:
        return self.storage_cost * self.disk_gb / (30 * 24)

    def util(self, now: float) -> float | None:
        if self.status != "running":
            return None
        wobble = (
            4.0 * math.sin(now / 37.0 + self.id % 97)
            if self.busy > 10
            else abs(math.sin(now / 53.0 + self.id))
        )
        return round(min(100.0, max(0.0, self.busy + wobble)), 1)

    def row(self, now: float) -> dict[str, Any]:
        running = self.status == "running"
        disk_h = self.disk_usd_h
        dph_total = self.dph_base + disk_h
        cost = {"gpuCostPerHour": self.dph_base, "diskHour": disk_h, "totalHour": dph_total,
                "discountTotalHour": 0, "discountedTotalPerHour": dph_total}  # fmt: skip
        held = (
            cost
            if running
            else {**cost, "gpuCostPerHour": 0, "totalHour": disk_h, "discountedTotalPerHour": disk_h}
        )
        util = self.util(now)
        row = {
            "id": self.id, "actual_status": self.status, "cur_state": self.status,
            "next_state": self.status, "intended_status": self.status, "label": self.label,
            "template_id": None, "template_hash_id": None, "template_name": None,
            "image_uuid": "pytorch/pytorch:2.4.0-cuda12.4-cudnn9-devel", "image_args": [],
            "image_runtype": "ssh ssh_proxy", "extra_env": [["TZ", "UTC"]], "onstart": "bash /root/onstart.sh",
            "jupyter_token": f"{self.id:064x}", "status_msg": "success, running pytorch/pytorch_2.4.0/ssh"
            if running else "Stopped by user", "public_ipaddr": self.public_ipaddr,
            "local_ipaddrs": "10.0.0.5 172.17.0.1 \n", "ssh_host": self.ssh_host,
            "ssh_idx": re.sub(r"\D", "", self.ssh_host) or "5", "ssh_port": self.ssh_port,
            "machine_dir_ssh_port": self.ssh_port + 7000, "machine_id": self.machine_id,
            "bundle_id": self.id // 10, "start_date": self.start_date, "end_date": self.start_date + 90 * 86400,
            "uptime_mins": round((now - self.start_date) / 60, 2) if running else None,
            "duration": now - self.start_date, "cpu_arch": "amd64", "cpu_cores": 32,
            "cpu_cores_effective": 8.0 * self.num_gpus, "cpu_name": "AMD EPYC 7543 32-Core Processor",
            "cpu_ram": 64000 * self.num_gpus, "cpu_util": round(util / 3, 1) if util is not None else 0,
            "mem_limit": None, "mem_usage": None, "vmem_usage": None, "gpu_name": self.gpu_name,
            "gpu_arch": "nvidia", "gpu_totalram": self.gpu_ram_mib * self.num_gpus, "gpu_ram": self.gpu_ram_mib,
            "gpu_util": util, "gpu_temp": round(35 + (util or 0) * 0.45, 1) if running else None,
            "gpu_frac": 1.0, "gpu_lanes": 16, "gpu_mem_bw": 760.3, "bw_nvlink": 0,
            "disk_name": "Samsung SSD 980 PRO 2TB", "disk_space": self.disk_gb, "disk_bw": 2310.5,
            "disk_util": 0.12, "disk_usage": 0.31, "direct_port_count": 10, "direct_port_start": 40100,
            "direct_port_end": 40109, "ports": {}, "static_ip": False, "geolocation": self.geolocation,
            "verification": "verified", "rentable": True, "host_id": 100000 + self.machine_id % 997,
            "hosting_type": 0, "min_bid": round(self.dph_base * 0.4, 4), "is_bid": False,
            "dph_base": self.dph_base, "dph_total": dph_total, "dlperf": 18.4 * self.num_gpus,
            "dlperf_per_dphtotal": 18.4 * self.num_gpus / dph_total, "flops_per_dphtotal": 35.6 / dph_total,
            "total_flops": 35.6 * self.num_gpus, "score": 17.9, "reliability2": 0.9962, "os_version": 22.04,
            "mobo_name": "ROMED8-2T", "pci_gen": 4, "pcie_bw": 24.7, "num_gpus": self.num_gpus,
            "logo": "/static/logos/vastai_small2.png", "webpage": None, "search": cost, "instance": held,
            "storage_cost": self.storage_cost, "storage_total_cost": disk_h,
            "vram_costperhour": self.dph_base / (self.gpu_ram_mib * self.num_gpus), "credit_balance": None,
            "credit_discount": None, "credit_discount_max": 0.4, "client_run_time": 1.1,
            "host_run_time": 2592000, "external": False, "time_remaining": "", "time_remaining_isbid": "",
        }  # fmt: skip
        row.update(self.extra)
        return row


_FLEET = (
    # id, label, GPU, count, $/h for the GPUs, busy %; labels are vast_p2p_sync.py's node_id_map names.
    (28844365, "vast-3070-24cpu", "RTX 3070", 1, 0.07, 88.0),
    (28844370, "vast-2060s-22cpu", "RTX 2060S", 1, 0.05, 81.0),
    (28844401, "vast-l40s", "L40S", 1, 0.55, 93.0),
    (28889766, "vast-3060ti-64cpu", "RTX 3060 Ti", 1, 0.08, 76.0),
    (28889768, "vast-3090-64cpu", "RTX 3090", 1, 0.20, 91.0),
    (28889941, "vast-4080s-2x", "RTX 4080S", 2, 0.34, 86.0),
    (28890015, "vast-2080ti", "RTX 2080 Ti", 1, 0.10, 1.0),
    (28918740, "vast-3060x4", "RTX 3060", 4, 0.24, 79.0),
    (28918742, "vast-a40", "A40", 1, 0.32, 84.0),
    (28920043, "vast-5070-4x-new", "RTX 5070", 4, 0.48, 90.0),
    (28925166, "vast-5090", "RTX 5090", 1, 0.45, 95.0),
    (28928169, "vast-8x5090", "RTX 5090", 8, 3.60, 97.0),
)
_SPIKE = tuple(
    (29100001 + n, f"vast-h100-{n + 1}", "H100 SXM", 2, 4.80, 2.0 if n else 92.0) for n in range(5)
)
NOT_JOINING_LABEL = "vast-a40"
"""The instance that runs but never joins the mesh in the ``not-joining`` scenario."""


def demo_instances(scenario: str = "ok", now: float | None = None) -> list[SimInstance]:
    """The demo fleet for a scenario; deterministic but for ``now``."""
    if scenario not in SCENARIOS:
        raise SimError(f"vast scenario must be one of {', '.join(SCENARIOS)}, not {scenario!r}")
    now = time.time() if now is None else now
    rows = _FLEET + (_SPIKE if scenario == "cost-spike" else ())
    out = []
    for n, (ident, label, gpu, count, price, busy) in enumerate(rows):
        if scenario == "cost-spike" and label in ("vast-3090-64cpu", "vast-l40s"):
            busy = 2.0
        out.append(
            SimInstance(
                id=ident, label=label, gpu_name=gpu, num_gpus=count, dph_base=price, busy=busy,
                start_date=now - 86400 * (1 + n % 9) - 3600 * n, machine_id=14000 + 37 * n,
                gpu_ram_mib=81559 if "H100" in gpu else 24576, ssh_host=f"ssh{1 + n % 9}.vast.ai",
                ssh_port=10000 + ident % 50000, public_ipaddr=f"198.51.100.{10 + n}",
            )
        )  # fmt: skip
    return out


def _token(last_id: int) -> str:
    """A v1 ``next_token``: base64 of ``{"values": {"id": N}}``, as in docs.vast.ai's example."""
    return base64.b64encode(json.dumps({"values": {"id": last_id}}).encode()).decode()


def _after(token: str) -> int | None:
    try:
        doc = json.loads(base64.b64decode(token, validate=True))
        return int(doc["values"]["id"])
    except (ValueError, TypeError, KeyError, binascii.Error):
        return None


class VastApiSim(ApiSim):
    """The simulated API; ``instances`` are live objects (stop and destroy change them)."""

    def __init__(
        self,
        instances: Iterable[SimInstance],
        *,
        api_key: str = SIM_API_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        mode: str = "ok",
        retry_after: str | None = None,
        clock: Callable[[], float] = time.time,
        slow_s: float = 3.0,
    ) -> None:
        super().__init__("vast-api", host=host, port=port, slow_s=slow_s)
        self.instances = {i.id: i for i in instances}
        self.api_key = api_key
        self.retry_after = retry_after
        self.clock = clock
        self.mode = "ok"
        self._pending_mode = mode
        self.calls: list[tuple[str, str, Any]] = []
        """(method, path, JSON body) of every authorized change, for tests."""
        self.last_request: Request | None = None

    async def start(self) -> None:
        await super().start()
        await self.set_mode(self._pending_mode)

    async def set_mode(self, mode: str, *, retry_after: str | None = None) -> None:
        if mode not in MODES:
            raise SimError(f"vast mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.mode = mode
        if retry_after is not None:
            self.retry_after = retry_after
        await self.set_state(mode if mode in ("down", "slow") else "ok")

    def set_scenario(self, scenario: str) -> None:
        self.instances = {i.id: i for i in demo_instances(scenario, self.clock())}

    def _authorized(self, request: Request) -> bool:
        bearer = request.headers.get("authorization", "")
        return bearer == f"Bearer {self.api_key}" or request.query.get("api_key") == self.api_key

    def respond(self, request: Request) -> Answer:
        self.last_request = request
        if not request.path.startswith("/api/"):
            return Answer(404, b"<h1>Not Found</h1><p>The requested resource was not found on this server.</p>",
                          "text/html")  # fmt: skip
        if self.mode == "unauthorized" or not self._authorized(request):
            return json_answer(
                {"success": False, "error": "invalid_user_key", "msg": "Invalid user key."}, 401
            )
        if self.mode == "rate-limited":
            headers = (("Retry-After", self.retry_after),) if self.retry_after else ()
            return json_answer(
                {"detail": "API requests too frequent endpoint threshold=3.0"}, 429, headers=headers
            )
        if self.mode == "error":
            return Answer(500, DJANGO_500, "text/html")
        reply = self._route(request)
        if self.mode == "bad-json" and reply.status == 200:
            return Answer(200, reply.body[: max(1, len(reply.body) // 2)], reply.content_type)
        return reply

    def _route(self, request: Request) -> Answer:
        path = request.path if request.path.endswith("/") else request.path + "/"
        now = self.clock()
        if path == "/api/v0/instances/" and request.method == "GET":
            if self.mode == "v0-gone":
                return json_answer({"success": False, "error": "gone", "msg": "Use /api/v1/instances/."}, 410)
            rows = [i.row(now) for i in sorted(self.instances.values(), key=lambda i: i.id)]
            return json_answer({"instances_found": len(rows), "instances": rows})
        if path == "/api/v1/instances/" and request.method == "GET":
            return self._page(request, now)
        match = _INSTANCE_PATH.match(path)
        if match is None:
            return json_answer({"success": False, "error": "not_found", "msg": "Unknown endpoint."}, 404)
        ident = int(match.group(1))
        inst = self.instances.get(ident)
        if inst is None:
            return json_answer(
                {"success": False, "error": "no_such_instance", "msg": f"Instance {ident} not found."}, 404
            )
        if request.method == "GET":
            return json_answer({"instances": inst.row(now)})
        body = request.json()
        if request.method == "DELETE":
            del self.instances[ident]
            self.calls.append(("DELETE", path, body))
            return json_answer({"success": True})
        if request.method == "PUT" and isinstance(body, dict):
            state = body.get("state")
            if state in ("stopped", "running"):
                inst.status = state
            elif "label" in body and isinstance(body["label"], str):
                inst.label = body["label"]
            else:
                return json_answer(
                    {"success": False, "error": "invalid_args", "msg": "Expected state or label."}, 400
                )
            self.calls.append(("PUT", path, body))
            return json_answer({"success": True})
        return json_answer({"success": False, "error": "invalid_args", "msg": "Bad request body."}, 400)

    def _page(self, request: Request, now: float) -> Answer:
        try:
            limit = max(1, min(int(request.query.get("limit", "25")), 1000))
        except ValueError:
            return json_answer(
                {"success": False, "error": "invalid_args", "msg": "limit must be a number."}, 400
            )
        after = _after(request.query["after_token"]) if "after_token" in request.query else 0
        if after is None:
            return json_answer({"success": False, "error": "invalid_args", "msg": "Bad after_token."}, 400)
        ordered = [i for i in sorted(self.instances.values(), key=lambda i: i.id) if i.id > after]
        page, rest = ordered[:limit], ordered[limit:]
        labels: dict[str, int] = {}
        for inst in self.instances.values():
            labels[inst.label or ""] = labels.get(inst.label or "", 0) + 1
        return json_answer(
            {
                "success": True,
                "instances_found": len(page),
                "total_instances": len(self.instances),
                "label_counts": labels,
                "next_token": _token(page[-1].id) if rest and page else None,
                "instances": [i.row(now) for i in page],
            }
        )
