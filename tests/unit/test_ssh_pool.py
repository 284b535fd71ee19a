"""The SSH pool's pure parts: failure classification and reconnect backoff."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import asyncssh
import pytest

from cockpit.config import Cluster
from cockpit.model import DownReason
from cockpit.sources.ssh import ConnectFailure, SshPool, Target, _classify, _Entry


def _entry() -> _Entry:
    return _Entry(Target(key="n", host="gpu-1.example", port=2222, user=None, jump=None))


@pytest.mark.parametrize(
    ("exc", "reason", "detail"),
    [
        (ConnectionRefusedError(), DownReason.REFUSED, "port 2222"),
        (TimeoutError(), DownReason.TIMEOUT, "no SSH handshake in time"),
        (socket.gaierror(-2, "Name or service not known"), DownReason.DNS, "cannot resolve gpu-1.example"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), DownReason.UNREACHABLE, "No route to host"),
        (asyncssh.PermissionDenied("Permission denied"), DownReason.AUTH, "Permission denied"),
        (asyncssh.ConnectionLost("reset"), DownReason.DISCONNECTED, "reset"),
        (
            asyncssh.HostKeyNotVerifiable("x"),
            DownReason.HOST_KEY_UNKNOWN,
            "refusing to connect (check known_hosts)",
        ),
    ],
)
def test_failures_are_named_for_the_operator(exc: BaseException, reason: DownReason, detail: str) -> None:
    failure = _classify(exc, _entry(), 2222)
    assert failure.reason is reason
    assert failure.detail == detail


def test_a_refused_host_key_keeps_its_reason() -> None:
    entry = _entry()
    entry.host_key_refusal = DownReason.HOST_KEY_CHANGED
    assert _classify(asyncssh.HostKeyNotVerifiable("x"), entry, 22).reason is DownReason.HOST_KEY_CHANGED


def test_backoff_grows_with_jitter_and_is_capped(tmp_path: Path) -> None:
    cluster = Cluster.model_validate(
        {
            "cluster": "t",
            "refresh": 2,
            "ssh": {"known_hosts": str(tmp_path / "kh")},
            "nodes": [{"name": "n", "host": "127.0.0.1"}],
        }
    )
    now = [100.0]
    rolls = iter([1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    pool = SshPool(cluster, clock=lambda: now[0], rng=lambda: next(rolls))
    entry = pool._entries["n"]
    delays = []
    for _ in range(6):
        pool._back_off(entry, ConnectFailure(DownReason.REFUSED))
        delays.append(round(entry.retry_at - now[0], 3))
    # 0.5, 1, 2, then capped at reconnect_max = refresh = 2 s; the last roll takes half.
    assert delays == [0.5, 1.0, 2.0, 2.0, 2.0, 1.0]
    assert pool.retry_in("n") == pytest.approx(1.0)


def test_polls_closer_than_a_jiffy_keep_the_last_cpu_percent(tmp_path: Path) -> None:
    from cockpit.engine import Engine
    from cockpit.model import CpuSample, HostReading

    cluster = Cluster.model_validate(
        {
            "cluster": "t",
            "ssh": {"known_hosts": str(tmp_path / "kh")},
            "nodes": [{"name": "n", "host": "127.0.0.1"}],
        }
    )
    engine = Engine(cluster)
    first = engine._with_cpu("n", HostReading(cpu_pct=37.5, cpu_sample=CpuSample(1000, 600)), None)
    assert first.cpu_pct == 37.5
    same = engine._with_cpu("n", HostReading(cpu_pct=None, cpu_sample=CpuSample(1000, 600)), first.cpu_sample)
    assert same.cpu_pct == 37.5
    assert engine._cpu["n"] == CpuSample(1000, 600)
    later = engine._with_cpu(
        "n", HostReading(cpu_pct=50.0, cpu_sample=CpuSample(1200, 700)), first.cpu_sample
    )
    assert later.cpu_pct == 50.0 and engine._cpu["n"] == CpuSample(1200, 700)


def test_after_a_reboot_cpu_counters_start_again(tmp_path: Path) -> None:
    from cockpit.engine import Engine
    from cockpit.model import CpuSample, HostReading

    cluster = Cluster.model_validate(
        {
            "cluster": "t",
            "ssh": {"known_hosts": str(tmp_path / "kh")},
            "nodes": [{"name": "n", "host": "127.0.0.1"}],
        }
    )
    engine = Engine(cluster)
    before = engine._with_cpu("n", HostReading(cpu_pct=50.0, cpu_sample=CpuSample(10**8, 5 * 10**7)), None)
    rebooted = engine._with_cpu(
        "n", HostReading(cpu_pct=None, cpu_sample=CpuSample(5000, 4000)), before.cpu_sample
    )
    assert rebooted.cpu_pct is None, "no CPU % across a reboot"
    assert engine._cpu["n"] == CpuSample(5000, 4000), "the new counters become the reference"
