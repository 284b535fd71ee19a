"""What each simulated app writes to its log: startup banners, request lines, crash tracebacks.

``docker logs`` and ``journalctl`` show these. Lines are a pure function of the app's runs (see
:class:`~cockpit.sim.services_world.Run`), the node's key and the clock: a run prints its startup
banner, then request or housekeeping lines on seconds picked by hashing, then a traceback if it
crashed or its shutdown lines if it was stopped. The wording copies each project's real output
(uvicorn, Go slog and gin, PostgreSQL, Redis, Qdrant, Grafana, Prometheus).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from cockpit.sim.noise import hash01, name_key
from cockpit.sim.services_world import Run

WINDOW_S = 3600.0
"""Request lines older than this are gone (log rotation); startup and crash lines are kept."""

UVICORN_UP = (
    "INFO:     Started server process [{pid}]", "INFO:     Waiting for application startup.",
    "INFO:     Application startup complete.",
    "INFO:     Uvicorn running on http://0.0.0.0:{port} (Press CTRL+C to quit)",
)  # fmt: skip
UVICORN_DOWN = (
    "INFO:     Shutting down", "INFO:     Waiting for application shutdown.",
    "INFO:     Application shutdown complete.", "INFO:     Finished server process [{pid}]",
)  # fmt: skip
CUDA_OOM = (
    "Traceback (most recent call last):",
    '  File "{main}", line 88, in <module>',
    "    model = load_model(settings)",
    '  File "/usr/local/lib/python3.11/site-packages/torch/nn/modules/module.py", line 1340, in convert',
    "    return t.to(device, dtype if t.is_floating_point() or t.is_complex() else None, non_blocking)",
    "RuntimeError: CUDA error: out of memory",
    "CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace "
    "below might be incorrect.",
    "For debugging consider passing CUDA_LAUNCH_BLOCKING=1",
    "Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.",
)
PG = "{pg} [{pid}]"
REDIS = "1:M {redis}"


@dataclass(frozen=True, slots=True)
class Profile:
    """An app's log: ``rate`` request lines per second; a periodic entry may hold several lines."""

    stream: str
    startup: tuple[str, ...]
    periodic: tuple[str, ...]
    rate: float
    crash: tuple[str, ...]
    shutdown: tuple[str, ...] = ()
    port: int = 8080
    main: str = "/app/main.py"


PROFILES: dict[str, Profile] = {
    "tabbyapi": Profile(
        "stderr",
        ("INFO:     ExllamaV2 version: 0.2.4",
         "INFO:     Loading model: /var/lib/tabbyapi/models/Qwen2.5-32B-Instruct-exl2-4.65bpw",
         "INFO:     Model successfully loaded.", "INFO:     Starting OAI API",
         "INFO:     Chat completions: http://0.0.0.0:5000/v1/chat/completions", *UVICORN_UP),
        ('INFO:     {lan}:{cport} - "POST /v1/chat/completions HTTP/1.1" 200\n'
         "INFO:     Metrics (ID: {hex32}): {gen} tokens generated in {secs} seconds (Queue: 0.0 s, "
         "Process: {cached} cached tokens and {new} new tokens at {pps} T/s, Generate: {tps} T/s, "
         "Context: {ctx} tokens)",
         'INFO:     {lan}:{cport} - "GET /v1/model HTTP/1.1" 200',
         'INFO:     {lan}:{cport} - "GET /health HTTP/1.1" 200'),
        0.4, CUDA_OOM, UVICORN_DOWN, 5000, "/var/lib/tabbyapi/main.py",
    ),
    "ollama": Profile(
        "stderr",
        ('time={iso3} level=INFO source=images.go:753 msg="total blobs: 42"',
         'time={iso3} level=INFO source=routes.go:1310 msg="Listening on [::]:11434 (version 0.5.7)"',
         'time={iso3} level=INFO source=gpu.go:226 msg="looking for compatible GPUs"',
         'time={iso3} level=INFO source=types.go:131 msg="inference compute" library=cuda variant=v12 '
         'compute=8.9 driver=12.8 name="NVIDIA GeForce RTX 4090" total="23.6 GiB" available="23.2 GiB"'),
        ('[GIN] {gin} | 200 | {lat:>13} | {lan:>15} | POST     "/api/chat"',
         '[GIN] {gin} | 200 | {ulat:>13} | {lan:>15} | GET      "/api/tags"'),
        0.5,
        ('time={iso3} level=ERROR source=sched.go:455 msg="error loading llama server" '
         'error="llama runner process has terminated: cudaMalloc failed: out of memory"',
         "Error: llama runner process has terminated: cudaMalloc failed: out of memory"),
    ),
    "litellm": Profile(
        "stderr",
        ("INFO:     Started server process [{pid}]", "INFO:     Waiting for application startup.",
         "LiteLLM: Proxy initialized with Config, Set models:", "    qwen2.5-32b", "    llama3.1-8b",
         "INFO:     Application startup complete.",
         "INFO:     Uvicorn running on http://0.0.0.0:4000 (Press CTRL+C to quit)"),
        ('INFO:     {lan}:{cport} - "POST /v1/chat/completions HTTP/1.1" 200 OK',
         'INFO:     127.0.0.1:{cport} - "GET /health/liveliness HTTP/1.1" 200 OK',
         'INFO:     {lan}:{cport} - "GET /v1/models HTTP/1.1" 200 OK'),
        0.7,
        ("ERROR:    Traceback (most recent call last):",
         '  File "/usr/local/lib/python3.11/site-packages/litellm/proxy/proxy_server.py", line 3064, '
         "in startup_event",
         "    await prisma_client.connect()",
         "httpx.ConnectError: [Errno 111] Connection refused",
         "ERROR:    Application startup failed. Exiting."),
        UVICORN_DOWN, 4000,
    ),
    "open-webui": Profile(
        "stderr",
        ("Loading WEBUI_SECRET_KEY from file, not provided as an environment variable.",
         "CUDA is enabled, appending LD_LIBRARY_PATH to include torch/cudnn & cublas libraries.",
         *UVICORN_UP),
        ('INFO:     {lan}:{cport} - "GET /api/v1/chats/?page=1 HTTP/1.1" 200 OK',
         'INFO:     {lan}:{cport} - "GET /_app/version.json HTTP/1.1" 200 OK',
         'INFO:     {lan}:{cport} - "POST /api/chat/completions HTTP/1.1" 200 OK'),
        0.5, CUDA_OOM, UVICORN_DOWN, 8080, "/app/backend/open_webui/main.py",
    ),
    "postgres": Profile(
        "stderr",
        (PG + " LOG:  starting PostgreSQL 16.6 on x86_64-pc-linux-musl, compiled by gcc (Alpine 14.2.0) "
         "14.2.0, 64-bit",
         PG + ' LOG:  listening on IPv4 address "0.0.0.0", port 5432',
         PG + ' LOG:  listening on IPv6 address "::", port 5432',
         PG + ' LOG:  listening on Unix socket "/var/run/postgresql/.s.PGSQL.5432"',
         PG + " LOG:  database system is ready to accept connections"),
        ("{pg} [25] LOG:  checkpoint starting: time\n{pg} [25] LOG:  checkpoint complete: wrote {gen} "
         "buffers (0.{n}%); 0 WAL file(s) added, 0 removed, 0 recycled; write={secs} s, sync=0.004 s, "
         "total={secs} s; sync files={n}, longest=0.002 s, average=0.001 s; distance={ctx} kB, "
         "estimate={ctx} kB; lsn=0/{hex8}, redo lsn=0/{hex8}",),
        1 / 300,
        (PG + ' FATAL:  could not write lock file "postmaster.pid": No space left on device',),
        (PG + " LOG:  received fast shutdown request", PG + " LOG:  aborting any active transactions",
         PG + " LOG:  database system is shut down"),
    ),
    "redis": Profile(
        "stdout",
        ("1:C {redis} # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo",
         "1:C {redis} # Redis version=7.4.1, bits=64, commit=00000000, modified=0, pid=1, just started",
         REDIS + " * monotonic clock: POSIX clock_gettime", REDIS + " * Running mode=standalone, port=6379.",
         REDIS + " * Server initialized", REDIS + " * Ready to accept connections tcp"),
        (REDIS + " * 100 changes in 300 seconds. Saving...\n" + REDIS + " * Background saving started by "
         "pid {n}\n{n}:C {redis} * DB saved on disk\n" + REDIS + " * Background saving terminated with success",),
        1 / 300,
        (REDIS + " # Can't open or create append-only dir appendonlydir: Permission denied",),
        ("1:signal-handler ({epoch}) Received SIGTERM scheduling shutdown...",
         REDIS + " # User requested shutdown...", REDIS + " * Saving the final RDB snapshot before exiting.",
         REDIS + " * DB saved on disk", REDIS + " # Redis is now ready to exit, bye bye..."),
    ),
    "qdrant": Profile(
        "stdout",
        ("{iso6}  INFO storage::content_manager::consensus::persistent: Loading raft state from "
         "./storage/raft_state.json",
         "{iso6}  INFO qdrant: Distributed mode disabled", "{iso6}  INFO qdrant::actix: TLS disabled for REST API",
         "{iso6}  INFO qdrant::actix: Qdrant HTTP listening on 6333",
         "{iso6}  INFO qdrant::tonic: Qdrant gRPC listening on 6334"),
        ('{iso6}  INFO actix_web::middleware::logger: {ip} "POST /collections/memory/points/search '
         'HTTP/1.1" 200 {size} "-" "qdrant-client/1.12.1 python/3.11.10" 0.00{n}',
         '{iso6}  INFO actix_web::middleware::logger: {ip} "GET /collections HTTP/1.1" 200 {size} "-" '
         '"python-httpx/0.27.2" 0.000{n}'),
        0.2,
        ("{iso6} ERROR qdrant::startup: Panic occurred in file lib/collection/src/shards/local_shard/mod.rs "
         'at line 312: Failed to load local shard "./storage/collections/memory/0": Service internal error: '
         "RocksDB open error: IO error: No space left on device",),
    ),
    "grafana": Profile(
        "stdout",
        ('logger=settings t={iso9} level=info msg="Starting Grafana" version=11.3.0 commit=d9455ff7db '
         "branch=HEAD compiled={iso9}",
         'logger=sqlstore t={iso9} level=info msg="Connecting to DB" dbtype=sqlite3',
         'logger=http.server t={iso9} level=info msg="HTTP Server Listen" address=[::]:3000 protocol=http '
         "subUrl= socket="),
        ('logger=context userId=1 orgId=1 uname=admin t={iso9} level=info msg="Request Completed" '
         "method=GET path=/api/ds/query status=200 remote_addr={lan} time_ms={n} duration={lat} size={size} "
         "referer= handler=/api/ds/query status_source=server",
         'logger=cleanup t={iso9} level=info msg="Completed cleanup jobs" duration={lat}'),
        0.3,
        ('logger=sqlstore t={iso9} level=error msg="Failed to open database" error="database is locked"',),
    ),
    "prometheus": Profile(
        "stderr",
        ('ts={iso3} caller=main.go:601 level=info msg="Starting Prometheus Server" mode=server '
         'version="(version=2.55.0, branch=HEAD, revision=91d80252c3e528728b0f88d254dd720f6be07cb8)"',
         'ts={iso3} caller=web.go:571 level=info component=web msg="Start listening for connections" '
         "address=0.0.0.0:9090",
         'ts={iso3} caller=main.go:1161 level=info msg="Server is ready to receive web requests."'),
        ('ts={iso3} caller=head.go:1355 level=info component=tsdb msg="Head GC completed" '
         "caller=truncateMemory duration={lat}",),
        1 / 600,
        ('ts={iso3} caller=main.go:1154 level=error err="opening storage failed: lock DB directory: '
         'resource temporarily unavailable"',),
    ),
    "sshd": Profile(
        "stderr", ("Server listening on 0.0.0.0 port 22.", "Server listening on :: port 22."),
        ("Accepted publickey for typhon from {lan} port {cport} ssh2: ED25519 SHA256:{hex32}",),
        1 / 120, ("fatal: Cannot bind any address.",),
    ),
    "dockerd": Profile(
        "stderr", ('time="{iso9}" level=info msg="API listen on /run/docker.sock"',),
        ('time="{iso9}" level=info msg="ignoring event" container={hex32} module=libcontainerd '
         'namespace=moby topic=/tasks/delete type="*events.TaskDelete"',),
        1 / 900, ('failed to start daemon: error initializing graphdriver: no space left on device',),
    ),
}  # fmt: skip
GENERIC = Profile("stdout", ("starting",), ("heartbeat ok",), 1 / 60, ("fatal: exiting with status 1",))


@dataclass(frozen=True, slots=True)
class Line:
    t: float
    stream: str
    text: str
    pid: int


def profile(app: str) -> Profile:
    return PROFILES.get(app, GENERIC)


def _fields(t: float, seed: int, pid: int, port: int, main: str) -> dict[str, object]:
    """Values a template may use; a local RNG seeded from the hash keeps them reproducible."""
    rnd = random.Random(seed)
    tm, frac = time.gmtime(t), t % 1
    day = time.strftime("%Y-%m-%d", tm)
    clock = time.strftime("%H:%M:%S", tm)
    gen = rnd.randint(40, 900)
    tps = rnd.uniform(38, 61)
    ms = rnd.uniform(0.4, 2500)
    return {
        "iso3": f"{day}T{clock}.{int(frac * 1e3):03d}Z", "iso6": f"{day}T{clock}.{int(frac * 1e6):06d}Z",
        "iso9": f"{day}T{clock}.{int(frac * 1e9):09d}Z", "pg": f"{day} {clock}.{int(frac * 1e3):03d} UTC",
        "redis": time.strftime("%d %b %Y ", tm) + f"{clock}.{int(frac * 1e3):03d}",
        "gin": time.strftime("%Y/%m/%d - ", tm) + clock, "epoch": int(t),
        "lan": f"192.168.1.{rnd.choice((50, 203, 244, 250))}", "ip": f"172.18.0.{rnd.randint(2, 9)}",
        "cport": rnd.randint(32768, 60999), "hex32": f"{rnd.getrandbits(128):032x}",
        "hex8": f"{rnd.getrandbits(32):08X}", "gen": gen, "secs": f"{gen / tps:.2f}", "tps": f"{tps:.2f}",
        "cached": rnd.randint(0, 4000), "new": rnd.randint(20, 900), "pps": f"{rnd.uniform(900, 2400):.2f}",
        "ctx": rnd.randint(600, 9000), "n": rnd.randint(1, 9), "size": rnd.randint(90, 4000),
        "lat": f"{ms:.6f}ms" if ms < 1000 else f"{ms / 1000:.6f}s", "ulat": f"{rnd.uniform(20, 900):.1f}µs",
        "pid": pid, "port": port, "main": main,
    }  # fmt: skip


def _emit(p: Profile, templates: tuple[str, ...], t0: float, step: float, key: int, pid: int) -> list[Line]:
    out: list[Line] = []
    for i, tpl in enumerate(templates):
        t = t0 + i * step
        seed = int(hash01(key, int(t * 1000)) * (1 << 53))
        for text in tpl.format_map(_fields(t, seed, pid, p.port, p.main)).split("\n"):
            out.append(Line(t, p.stream, text, pid))
    return out


def run_lines(app: str, runs: list[Run], now: float, key: int, *, inner_pid: int | None = None) -> list[Line]:
    """Every line the app wrote over ``runs`` up to ``now``, oldest first. ``inner_pid`` is the pid
    the app sees for itself (1 inside a container) where it differs from the host's."""
    p = profile(app)
    k = key ^ name_key(app)
    out: list[Line] = []
    for run in runs:
        pid = inner_pid if inner_pid is not None else run.pid
        end = now if run.end is None else min(run.end, now)
        doomed = run.outcome in ("crash", "crashing") and (run.end or now) - run.start < 10
        startup = p.startup[: max(1, len(p.startup) // 2)] if doomed else p.startup
        boot = _emit(p, startup, run.start + 0.05, 0.013, k, pid)
        out += [ln for ln in boot if ln.t <= end]
        first = int(max(run.start + 1.0, now - WINDOW_S, run.start))
        for s in range(first, int(end) if not doomed else first):
            if hash01(k, s) < p.rate:
                tpl = p.periodic[int(hash01(k, s, 1) * len(p.periodic))]
                out += _emit(p, (tpl,), s + hash01(k, s, 2) * 0.9, 0.0, k, pid)
        if run.end is not None and run.end <= now:
            tail = p.crash if run.outcome == "crash" else p.shutdown if run.outcome == "stop" else ()
            out += _emit(p, tail, run.end - 0.002 * len(tail), 0.002, k, pid)
    return out
