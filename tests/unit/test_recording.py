"""Recordings: the real engine's states against the simulator, written and read back field for field.

Equality is checked on everything the UI shows: every ClusterState field (nodes, alerts, services,
thresholds, ...) by dataclass equality, and each history series' values and points exactly as the
live state showed them when it was published (the live ring moves on afterwards).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pytest

from cockpit.actions.render import NodeTarget, Subject, render
from cockpit.actions.runner import run
from cockpit.cli import PACKAGED_DEMO
from cockpit.config import Cluster, load_cluster
from cockpit.engine import Engine
from cockpit.model import NodeStatus
from cockpit.recording import STATE_FIELDS, Recorder, Recording, RecordingError
from cockpit.sim import SimCluster
from cockpit.state import ClusterState, History, HistoryView
from tests.states import sample_state
from tests.unit.test_actions_runner import action

ROOT = Path(__file__).resolve().parents[2]
Seen = dict[tuple[Any, ...], tuple[list[Any], list[Any]]]


def demo_cluster(tmp_path: Path) -> Cluster:
    cluster = load_cluster(PACKAGED_DEMO)
    ssh = cluster.ssh.model_copy(update={"known_hosts": str(tmp_path / "known_hosts")})
    # Alerts fire at once, so a short run has alerts to record.
    thresholds = cluster.thresholds.model_copy(update={"hold_s": 0})
    return cluster.model_copy(update={"ssh": ssh, "thresholds": thresholds})


def what_it_showed(engine: Engine, state: ClusterState) -> Seen:
    """Every series as ``state`` shows it now, at publish time, before the ring moves on."""
    keys = list(engine.history._series)
    return {key: (state.history.values(*key), state.history.points(*key)) for key in keys}


def assert_same(loaded: ClusterState, original: ClusterState, seen: Seen) -> None:
    for name in STATE_FIELDS:
        assert getattr(loaded, name) == getattr(original, name), name
    assert loaded.history.upto == original.history.upto
    for key, (values, points) in seen.items():
        assert loaded.history.values(*key) == values, key
        assert loaded.history.points(*key) == points, key
        assert loaded.history.values(*key, last=5) == values[-5:], key
    for node in original.nodes:
        assert loaded.node(node.name) == node


async def record_demo(
    tmp_path: Path, cycles: int, *, history_points: int | None = None, record_from: int = 0
) -> tuple[Path, list[ClusterState], list[Seen]]:
    """Run the real engine on the simulated demo cluster, with an incident half-way."""
    sim = SimCluster(demo_cluster(tmp_path), state_dir=tmp_path / "sim", ephemeral_ports=True)
    await sim.start()
    engine = Engine(sim.effective_cluster())
    if history_points is not None:
        engine.history = History(history_points)
    path = tmp_path / "demo.jsonl.gz"
    states: list[ClusterState] = []
    seen: list[Seen] = []
    recorder = Recorder(path)
    try:
        for i in range(cycles):
            if i == cycles // 2:
                sim.set_gpu("hydra-ai", 0, temp=93)
                sim.set_container("hydra-storage", "litellm", "crash-loop")
                await sim.stop_node("vast-3070")
            state = await engine.cycle(wait=3)
            if i >= record_from:
                recorder.record(state)
                states.append(state)
                seen.append(what_it_showed(engine, state))
            await asyncio.sleep(0.15)
    finally:
        recorder.close()
        await engine.close()
        await sim.stop()
    return path, states, seen


async def test_record_then_load_gives_back_every_state_and_its_history(tmp_path: Path) -> None:
    path, states, seen = await record_demo(tmp_path, 8)
    last = states[-1]
    assert last.node("vast-3070").status is NodeStatus.DOWN
    assert last.alerts and last.services and any(n.containers for n in last.nodes)
    assert {"gpu_temp", "node_down"} <= {a.metric for a in last.alerts} and any(n.units for n in last.nodes)
    recording = Recording.load(path)
    assert len(recording) == len(states) and recording.notes == []
    assert recording.times == [s.at for s in states]
    for i in [*range(len(states)), 5, 0, 7, 2]:  # in order, then seeking back and forth
        assert_same(recording.at(i), states[i], seen[i])
    assert [s.seq for s in recording.states] == [s.seq for s in states]
    assert recording.seek(states[3].at + 0.01) == 3 and recording.seek(0) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_history_replays_as_the_live_ring_showed_it_after_it_wrapped(tmp_path: Path) -> None:
    """A 4-point ring over 8 cycles: each state showed only its last 4 points; so must replay."""
    path, states, seen = await record_demo(tmp_path, 8, history_points=4)
    recording = Recording.load(path)
    for i in reversed(range(len(states))):
        assert_same(recording.at(i), states[i], seen[i])
    cpu = seen[-1][("hydra-ai", "cpu")][0]
    assert len(cpu) == 4


async def test_recording_started_mid_run_carries_the_history_before_it(tmp_path: Path) -> None:
    path, states, seen = await record_demo(tmp_path, 6, record_from=3)
    recording = Recording.load(path)
    first = recording.at(0)
    assert len(first.history.values("hydra-ai", 0, "util")) == 4  # cycles 1-4, recorded at cycle 4
    for i in range(len(states)):
        assert_same(recording.at(i), states[i], seen[i])


def synthetic_states(n: int, *, t0: float = 1_000.0, step: float = 1.0) -> Iterator[ClusterState]:
    """Fixture states (tests/states.py) with one shared history, a cycle per ``step`` seconds,
    made one at a time as the engine makes them (the ring only ever holds the past)."""
    base = sample_state()
    history = History(451)
    for seq in range(1, n + 1):
        history.add(("hydra-ai", 0, "util"), seq, float(seq))
        history.add(("hydra-ai", "cpu"), seq, None if seq % 3 == 0 else seq / 2)
        yield replace(base, seq=seq, at=t0 + step * seq, history=HistoryView(history, seq), _index={})


def synthetic(n: int, **kw: float) -> list[ClusterState]:
    return list(synthetic_states(n, **kw))


def write(path: Path, states: list[ClusterState]) -> Path:
    with Recorder(path) as recorder:
        for state in states:
            recorder.record(state)
    return path


def lines_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def rewrite(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_bytes(gzip.compress("".join(json.dumps(o) + "\n" for o in lines).encode()))
    return path


def test_none_in_history_and_identical_states_round_trip(tmp_path: Path) -> None:
    states = synthetic(5)
    states.insert(3, states[2])  # published twice (a manual refresh): an empty patch
    recording = Recording.load(write(tmp_path / "r.gz", states))
    assert len(recording) == 6
    for loaded, original in zip(recording.states, states, strict=True):
        for name in STATE_FIELDS:
            assert getattr(loaded, name) == getattr(original, name)
        assert loaded.history.values("hydra-ai", "cpu") == original.history.values("hydra-ai", "cpu")
    assert recording.at(4).history.values("hydra-ai", "cpu") == [0.5, 1.0, None, 2.0]


def test_unknown_fields_and_kinds_are_ignored_and_missing_ones_take_defaults(tmp_path: Path) -> None:
    """What a newer cockpit may write: fields, record kinds and a format version this one lacks."""
    path = write(tmp_path / "r.gz", synthetic(3))
    lines = lines_of(path)
    lines[0]["version"] = 9
    full = lines[1]["full"]
    full["weather"] = "sunny"
    full["nodes"][0]["rack"] = "b7"
    full["nodes"][0]["host"]["psi"] = {"cpu": 1.5}
    del full["nodes"][0]["procs"]
    full["thresholds"]["gpu_fan"] = {"warning": 1, "critical": 2}
    full["thresholds"]["by_model"]["RTX 5090"]["gpu_fan"] = None
    lines.insert(2, {"kind": "annotation", "t": 1.0, "text": "rebooted hydra-ai"})
    recording = Recording.load(rewrite(path, lines))
    first = recording.at(0)
    assert first.nodes[0].procs == () and first.nodes[0].name == "hydra-ai"
    assert first.thresholds == sample_state().thresholds
    assert len(recording) == 3
    assert recording.notes == [
        f"{path}: written by a newer cockpit (format 9); showing what this one knows",
        f"{path}: skipped 1 records of a kind this cockpit does not know",
    ]


def test_a_recording_cut_mid_line_keeps_every_whole_line(tmp_path: Path) -> None:
    path = write(tmp_path / "r.gz", synthetic(6))
    plain = gzip.decompress(path.read_bytes())
    cut = plain[: plain.rindex(b"\n", 0, len(plain) - 1) + 40]  # 40 bytes into the last line
    path.write_bytes(gzip.compress(cut))
    recording = Recording.load(path)
    assert len(recording) == 5
    assert recording.notes == [
        f"{path}: the last record was cut short (the recorder stopped mid-write); ignored it"
    ]


def test_a_recorder_killed_mid_run_loses_no_flushed_cycle(tmp_path: Path) -> None:
    """A real SIGKILL: no gzip trailer, maybe a half-written block; every announced state is there."""
    path = tmp_path / "killed.gz"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from cockpit.recording import Recorder
        from tests.unit.test_recording import synthetic_states
        recorder = Recorder({str(path)!r})
        for state in synthetic_states(10_000):
            recorder.record(state)
            print(state.seq, flush=True)
            time.sleep(0.001)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    announced = 0
    while announced < 40:
        announced = int(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    recording = Recording.load(path)
    assert len(recording) >= announced
    assert recording.at(announced - 1).seq == announced
    assert recording.at(len(recording) - 1).history.values("hydra-ai", 0, "util")[-1] == len(recording)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "{path}: empty file (not a cockpit recording)"),
        (b"hello\n", "{path}:1: not JSON (Expecting value)"),
        (b'{"kind": "state", "t": 1}\n', "{path}:1: not a cockpit recording (no header line)"),
        (b"\x1f\x8b\x08\x00garbage-after-a-gzip-magic\n", "{path}:1: the compressed data is damaged here"),
    ],
)
def test_a_file_that_is_not_a_recording_is_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(RecordingError) as err:
        Recording.load(path)
    assert str(err.value) == message.format(path=path)


def test_damage_inside_is_named_by_line(tmp_path: Path) -> None:
    path = write(tmp_path / "r.gz", synthetic(4))
    lines = lines_of(path)
    text = "".join(json.dumps(o) + "\n" for o in lines[:3]) + "{oops\n" + json.dumps(lines[3]) + "\n"
    path.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(RecordingError, match=r"r\.gz:4: not JSON"):
        Recording.load(path)
    lines[1]["full"]["nodes"][1]["status"] = "exploded"
    with pytest.raises(RecordingError) as err:
        Recording.load(rewrite(path, lines))
    assert str(err.value) == (
        f"{path}:2: NodeState.status: 'exploded' is not a known NodeStatus (written by a newer cockpit?)"
    )
    del lines[1]
    with pytest.raises(RecordingError, match=r":2: a patch with no full state before it"):
        Recording.load(rewrite(path, lines))


def test_text_read_back_is_cleaned(tmp_path: Path) -> None:
    """A recording is a file someone can hand you: its strings pass the same filter as remote text."""
    path = write(tmp_path / "r.gz", synthetic(1))
    lines = lines_of(path)
    lines[1]["full"]["nodes"][0]["error"] = "evil\x1b]0;pwned\x07 title"
    state = Recording.load(rewrite(path, lines)).at(0)
    assert state.nodes[0].error == "evil title"


def test_refuses_to_overwrite_and_reports_a_full_disk(tmp_path: Path) -> None:
    path = write(tmp_path / "r.gz", synthetic(2))
    with pytest.raises(RecordingError, match="already exists"):
        Recorder(path)
    Recorder(path, overwrite=True).close()
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with pytest.raises(RecordingError, match="No space left on device"):
        Recorder("/dev/full", overwrite=True)


def test_tee_keeps_publishing_when_the_disk_fills(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    recorder = Recorder(tmp_path / "r.gz")
    published: list[int] = []
    errors: list[str] = []
    publish = recorder.tee(lambda s: published.append(s.seq), errors.append)
    states = synthetic(3)
    publish(states[0])
    recorder._gz.fileobj = open("/dev/full", "wb")  # noqa: SIM115  (the disk fills from here on)
    publish(states[1])
    publish(states[2])
    assert published == [1, 2, 3]
    assert len(errors) == 1 and "No space left on device" in errors[0]
    assert recorder.closed


async def test_actions_record_what_ran_and_what_it_printed(tmp_path: Path) -> None:
    from tests.unit.test_engine_sim import make_cluster, start_sim

    sim, cluster = await start_sim(tmp_path, make_cluster(tmp_path, ["gpu-a"]))
    from cockpit.sources.ssh import SshPool

    pool = SshPool(cluster)
    try:
        sixty = " ".join(str(i) for i in range(60))  # 60 x 60 = 3600 lines
        config = action(
            f"printf 'a\\033[2Jb\\n'; printf '%s\\n' {sixty} | xargs -I@ printf '@.%s\\n' {sixty};"
            " echo done >&2; exit 3"
        )
        invocation = render(config, Subject(node=NodeTarget.from_config(cluster.node("gpu-a"), cluster)), {})
        lines: list[tuple[str, str]] = []
        result = await run(invocation, pool, lambda s, line: lines.append((s, line)), audit=None)
    finally:
        await pool.close()
        await sim.stop()
    path = tmp_path / "r.gz"
    with Recorder(path, clock=lambda: 2_000.0) as recorder:
        recorder.record(synthetic(1)[0])
        recorder.record_action(
            invocation.action, invocation.node, invocation.display, lines, result, target=invocation.target
        )
    recording = Recording.load(path)
    [record] = recording.actions
    assert (record.t, record.action, record.node, record.command) == (
        2_000.0,
        "t",
        "gpu-a",
        invocation.display,
    )
    assert record.result is not None and record.result.outcome == "failed" and record.result.exit_status == 3
    assert record.result.summary == "failed (exit 3)"
    assert record.lines[0] == ("stdout", "ab") and record.lines[-1] == ("stderr", "done")
    assert len(record.lines) == 2000 and record.lines_dropped == 3602 - 2000
    assert record.lines[499:501] == (("stdout", "8.18"), ("stdout", "35.1"))  # first quarter, then the end
    assert recording.actions_upto(1_999.0) == [] and recording.actions_between(1_000.0, 2_000.0) == [record]


def test_demo_sizes_are_in_the_report_range(tmp_path: Path) -> None:
    """Guards the patch format: unchanged nodes cost nothing once written."""
    states = synthetic(50)
    path = write(tmp_path / "r.gz", states)
    full = len(gzip.compress(json.dumps(lines_of(path)[1]).encode()))
    per_cycle = (path.stat().st_size - full) / 49
    assert per_cycle < 120, per_cycle  # only seq, at and two history points change


async def test_record_command_writes_n_cycles_then_stops(tmp_path: Path) -> None:
    """With the demo's hooks: the simulator starts in ``prepare`` and stops in ``after_stop``."""
    from cockpit.record_cli import record_cycles
    from tests.unit.test_engine_sim import make_cluster

    cluster = make_cluster(tmp_path, ["gpu-a", "cpu-b"])
    sim = SimCluster(cluster, state_dir=tmp_path / "sim", ephemeral_ports=True)

    async def prepare() -> Cluster:
        await sim.start()
        return sim.effective_cluster()

    said: list[str] = []
    path = tmp_path / "r.gz"
    status = await record_cycles(
        cluster, path, cycles=3, prepare=prepare, after_stop=sim.stop, say=said.append
    )
    assert status == 0 and len(said) == 4 and sim.ports == {}
    assert said[0].startswith("cycle 1: ") and said[-1] == f"recorded 3 states to {path}"
    recording = Recording.load(path)
    assert [s.seq for s in recording.states] == [1, 2, 3]
    assert recording.at(2).node("gpu-a").status is NodeStatus.UP
    assert [n.name for n in recording.cluster().nodes] == ["gpu-a", "cpu-b"]


async def test_record_command_leaves_no_empty_file_when_the_demo_cannot_start(tmp_path: Path) -> None:
    from cockpit.record_cli import record_cycles
    from cockpit.sim.server import SimError

    async def prepare() -> Cluster:
        raise SimError("cannot listen on 127.0.0.1:22201: address already in use")

    path = tmp_path / "r.gz"
    with pytest.raises(SimError):
        await record_cycles(sample_cluster(), path, cycles=3, prepare=prepare, say=lambda line: None)
    assert not path.exists()


def sample_cluster() -> Cluster:
    return Cluster.model_validate({"cluster": "t", "nodes": [{"name": "a", "host": "127.0.0.1"}]})


def test_the_recorded_config_gives_replay_its_services_and_nothing_secret(tmp_path: Path) -> None:
    cluster = load_cluster(PACKAGED_DEMO)
    path = tmp_path / "r.gz"
    with Recorder(path, cluster=cluster) as recorder:
        recorder.record(synthetic(1)[0])
    header = lines_of(path)[0]["config"]
    assert set(header) == {"cluster", "refresh", "thresholds", "nodes", "services"}
    lines = lines_of(path)
    lines[0]["config"]["nodes"][0]["rack"] = "b7"  # a field from a newer cockpit
    replayed = Recording.load(rewrite(path, lines)).cluster()
    assert replayed.read_only and not replayed.actions and replayed.ssh.user is None
    assert [s.depends_on for s in replayed.services] == [s.depends_on for s in cluster.services]
    assert [(n.name, n.tags, n.jump) for n in replayed.nodes] == [
        (n.name, n.tags, n.jump) for n in cluster.nodes
    ]
    del lines[0]["config"]
    fallback = Recording.load(rewrite(path, lines)).cluster()
    assert fallback.read_only and [n.name for n in fallback.nodes] == [n.name for n in sample_state().nodes]
    assert fallback.cluster == "hydra-demo"


def test_line_keeper_keeps_head_and_tail_in_bounded_memory() -> None:
    from cockpit.recording import LineKeeper

    keeper = LineKeeper(limit=8)
    for i in range(100):
        keeper("stdout", str(i))
    assert [t for _, t in keeper.lines] == ["0", "1", "94", "95", "96", "97", "98", "99"]
    assert keeper.dropped == 92


@dataclass(frozen=True, slots=True)
class _Newer:
    """Field types a later reading may bring (the fleet view has an idle-seconds-per-GPU map)."""

    idle_for: Mapping[int, float] | None = None
    mode: Literal["p2p", "relay"] = "p2p"
    peers: Sequence[str] = ()
    by_status: dict[NodeStatus, int] = field(default_factory=dict)


def test_codec_reads_back_mappings_with_number_keys_literals_and_sequences() -> None:
    from cockpit.record_codec import CodecError, decoder, delta, encode

    value = _Newer({0: 12.5, 3: 0.0}, "relay", ("a", "b"), {NodeStatus.UP: 2})
    assert encode(value) == {
        "idle_for": {"0": 12.5, "3": 0.0},
        "mode": "relay",
        "peers": ["a", "b"],
        "by_status": {"up": 2},
    }
    assert decoder(_Newer)(json.loads(json.dumps(encode(value)))) == value
    assert delta(_Newer(), value) == {
        "idle_for": ["r", {"0": 12.5, "3": 0.0}],
        "mode": "relay",
        "peers": ["r", ["a", "b"]],
        "by_status": ["r", {"up": 2}],
    }
    with pytest.raises(CodecError, match="'x' is not a int key"):
        decoder(_Newer)({"idle_for": {"x": 1.0}})
    with pytest.raises(CodecError, match="is not one of 'p2p', 'relay'"):
        decoder(_Newer)({"mode": "carrier-pigeon"})
