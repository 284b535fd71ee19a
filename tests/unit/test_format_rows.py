"""Cell text and classes: ``widgets/format.py``, the pure row renderers and the table model.

States are built by hand from the same frozen objects the engine publishes; thresholds are the
runbook's "Normal Operating Ranges" (runbook 000, mirrored in ``cockpit/rules.py``).
"""

from __future__ import annotations

import math

import pytest
from rich.cells import cell_len

from cockpit.model import Disk, GpuReading, HostReading, NodeStatus
from cockpit.state import ClusterState, History, HistoryView, NodeState
from widgets import rows
from widgets.format import BAR, NA, SPARK, age, bar, bucketed, gib, num, pct, sparkline
from widgets.table_model import CLASSES, fit

NOW = 1_763_800_000.0
GIB = 2**30


def host(cpu=20.0, mem_pct=40.0, disk_pct=50.0, load=1.5) -> HostReading:
    total = 100 * GIB  # whole percents of it are whole bytes: 70 % stays 70.0, not 69.99999
    return HostReading(
        load1=load,
        load5=load,
        load15=load,
        cpu_pct=cpu,
        mem_total_bytes=total,
        mem_available_bytes=None if mem_pct is None else int(total * (100 - mem_pct)) // 100,
        disks=() if disk_pct is None else (Disk("/", "/dev/nvme0n1p2", 10**12, 0, 0, disk_pct),),
    )


def gpu(index=0, name="NVIDIA GeForce RTX 5090", temp=50.0, power=200.0, limit=575.0, util=40.0, used=8192.0):
    return GpuReading(
        index=index,
        name=name,
        uuid=f"GPU-{index}",
        util_pct=util,
        mem_used_mib=used,
        mem_total_mib=32607.0,
        temp_c=temp,
        power_w=power,
        power_limit_w=limit,
    )


def up(name="hydra-ai", **kw) -> NodeState:
    kw.setdefault("last_ok", NOW - 0.5)
    kw.setdefault("host", host())
    kw.setdefault("gpus", (gpu(),))
    return NodeState(name=name, status=NodeStatus.UP, **kw)


def state(
    *nodes: NodeState, seq=10, refresh=2.0, history: History | None = None, cluster="hydra"
) -> ClusterState:
    return ClusterState(
        cluster=cluster,
        seq=seq,
        at=NOW,
        nodes=tuple(nodes),
        history=HistoryView(history or History(100), seq),
        refresh=refresh,
    )


def cells_by_column(row, columns=rows.NODE_COLUMNS):
    """``{column key: (text, class)}``; a cell may carry a third item, its number (for deadbands)."""
    assert len(row) == len(columns)
    for cell in row:
        assert isinstance(cell[0], str) and cell[1] in CLASSES
    return {column.key: tuple(cell[:2]) for column, cell in zip(columns, row, strict=True)}


# -- format.py ------------------------------------------------------------------------------------


def test_unknown_is_a_dash_never_zero():
    assert NA == "–"
    assert num(None) == pct(None) == gib(None) == age(None) == NA
    assert num(0.0) == "0" and pct(0.0) == "0%" and gib(0) == "0G"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.4, "0%"), (41.6, "42%"), (100.0, "100%"), (99.96, "100%")],
)
def test_pct(value, expected):
    assert pct(value) == expected


def test_num_and_gib():
    assert num(121.16, 0, "W") == "121W"
    assert num(3.25, 1) == "3.2"  # round-half-even, as format() does
    assert gib(80 * GIB) == "80G"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (0.9, "0s"),
        (59.6, "59s"),
        (60, "1m"),
        (119, "1m"),
        (3599, "59m"),
        (3600, "1h"),
        (86399, "23h"),
        (86400, "1d"),
        (86400 * 400, "400d"),
        (math.nan, NA),
        (math.inf, NA),
    ],
)
def test_age_rounds_down_to_whole_units(seconds, expected):
    assert age(seconds) == expected


@pytest.mark.parametrize(
    ("fraction", "width", "expected"),
    [
        (None, 5, "     "),
        (0.0, 5, "     "),
        (1.0, 5, "█████"),
        (0.5, 4, "██  "),
        (0.1, 4, "▍   "),  # 3.2 eighths of a 4-cell bar
        (2.0, 3, "███"),
        (-1.0, 3, "   "),
        (math.nan, 3, "███"),
        (0.999, 2, "██"),
    ],
)
def test_bar(fraction, width, expected):
    assert bar(fraction, width) == expected


@pytest.mark.parametrize("width", [1, 2, 9, 20])
def test_bar_is_always_exactly_its_width(width):
    for step in range(0, 101):
        text = bar(step / 100, width)
        assert len(text) == width and set(text) <= set(BAR)


def test_sparkline_levels_and_gaps():
    assert sparkline([0, 50, 100], 5, 0, 100) == "  ▁▅█"
    assert sparkline([None, 100], 2, 0, 100) == " █"
    assert sparkline([-10, 1000], 2, 30, 90) == "▁█"  # clamped to the scale
    assert sparkline(list(range(30)), 4, 0, 29) == SPARK[6] + SPARK[7] * 3  # the last 4 only
    assert sparkline([5, 5], 2, 5, 5) == "▁▁"  # a flat scale does not divide by zero
    assert sparkline([], 3, 0, 1) == "   "


def test_bucketed_takes_the_max_of_each_aligned_bucket():
    points = [(0, 1.0), (1, 5.0), (2, 3.0), (3, None), (4, 2.0)]
    assert bucketed(points, 2) == [5.0, 3.0, 2.0]
    assert bucketed([(6, None), (7, None)], 2) == [None]
    assert bucketed(points, 0) == [1.0, 5.0, 3.0, None, 2.0]
    assert bucketed([], 15) == []
    assert bucketed([(14, 9.0), (15, 1.0)], 15) == [9.0, 1.0]  # aligned on cycle numbers, not on the start


def test_a_new_point_in_the_same_bucket_changes_at_most_the_last_character():
    per, width = 15, 20
    series = [(seq, float((seq * 37) % 101)) for seq in range(200, 200 + 15 * 30)]
    changes_elsewhere = 0
    for n in range(1, len(series)):
        before = sparkline(bucketed(series[:n], per), width, 0, 100)
        after = sparkline(bucketed(series[: n + 1], per), width, 0, 100)
        if series[n][0] // per == series[n - 1][0] // per:
            assert before[:-1] == after[:-1]
        elif before[:-1] != after[:-1]:
            changes_elsewhere += 1
    assert changes_elsewhere > 0  # a new bucket does shift the line: the property above is not vacuous


# -- rows.py: nodes -------------------------------------------------------------------------------


def test_down_node_shows_its_reason_and_dashes():
    node = NodeState(
        name="vast-3070",
        status=NodeStatus.DOWN,
        error="connection refused",
        last_ok=NOW - 90,
        tags=("rented",),
    )
    cells = cells_by_column(rows.node_row(node, state(node)))
    assert cells["node"] == ("vast-3070", "down")
    assert cells["status"] == ("DOWN", "down")
    assert cells["age"] == ("1m", "down")
    for key in ("load", "cpu", "mem", "disk", "gpus", "hot", "power"):
        assert cells[key] == (NA, "muted")
    assert cells["info"] == ("connection refused", "down")


def test_down_node_never_seen_and_hostile_error():
    node = NodeState(name="x", status=NodeStatus.DOWN, error="\x1b]0;pwned\x07host key changed\x1b[2J")
    cells = cells_by_column(rows.node_row(node, state(node)))
    assert cells["age"] == (NA, "muted")
    assert cells["info"] == ("host key changed", "down")
    assert cells_by_column(rows.node_row(NodeState("y", NodeStatus.DOWN), state()))["info"] == (
        "down",
        "down",
    )


def test_fresh_up_node():
    node = up(host=host(cpu=41.0, mem_pct=62.0, disk_pct=55.0, load=3.24), tags=("inference", "nixos"))
    cells = cells_by_column(rows.node_row(node, state(node)))
    assert cells["node"] == ("hydra-ai", "")
    assert cells["status"] == ("up", "ok")
    assert cells["age"] == ("now", "muted")
    assert cells["load"] == ("3.2", "")
    assert cells["cpu"] == ("41%", "ok")
    assert cells["mem"] == ("62%", "ok")
    assert cells["disk"] == ("55%", "ok")
    assert cells["gpus"] == ("1", "")
    assert cells["hot"] == ("50°C", "ok")
    assert cells["power"] == ("200W", "")
    assert cells["info"] == ("inference nixos", "muted")


def test_up_node_older_than_one_and_a_half_cycles_shows_its_age():
    node = up(last_ok=NOW - 3.5)
    assert cells_by_column(rows.node_row(node, state(node, refresh=2.0)))["age"] == ("3s", "ok")


def test_stale_node_classes():
    node = NodeState(
        name="lambda-h100",
        status=NodeStatus.STALE,
        error="timeout",
        last_ok=NOW - 42,
        host=host(),
        gpus=(gpu(name="NVIDIA H100 80GB HBM3", limit=700.0),),
    )
    cells = cells_by_column(rows.node_row(node, state(node)))
    assert cells["node"] == ("lambda-h100", "stale")
    assert cells["status"] == ("stale", "stale")
    assert cells["age"] == ("42s", "stale")
    assert cells["info"] == ("timeout", "stale")
    gpu_cells = cells_by_column(rows.gpu_row(node, node.gpus[0], state(node)), rows.GPU_COLUMNS)
    for key in ("node", "util", "mem", "temp", "power"):
        assert gpu_cells[key][1] == "stale"


def test_up_node_with_an_error_is_a_warning():
    node = up(error="df: /mnt/nfs: Stale file handle")
    assert cells_by_column(rows.node_row(node, state(node)))["info"] == (
        "df: /mnt/nfs: Stale file handle",
        "warning",
    )


def test_gpu_count_cell():
    no_probe = up(name="hydra-storage", gpus=(), has_gpu_probe=False)
    broken = up(name="b", gpus=(), gpu_error="nvidia-smi: No devices were found")
    none = up(name="c", gpus=())
    two = up(name="d", gpus=(gpu(0), gpu(1)))
    assert cells_by_column(rows.node_row(no_probe, state(no_probe)))["gpus"] == (NA, "muted")
    broken_cells = cells_by_column(rows.node_row(broken, state(broken)))
    assert broken_cells["gpus"] == ("ERR", "critical")
    assert broken_cells["info"] == ("nvidia-smi: No devices were found", "muted")
    assert cells_by_column(rows.node_row(none, state(none)))["gpus"] == ("0", "")
    assert cells_by_column(rows.node_row(two, state(two)))["gpus"] == ("2", "")


def test_unknown_host_values_are_dashes_not_zeros():
    node = up(host=HostReading(load1=None), gpus=(gpu(temp=None, power=None),))
    cells = cells_by_column(rows.node_row(node, state(node)))
    for key in ("load", "cpu", "mem", "disk", "hot", "power"):
        assert cells[key][0] == NA
    assert cells["cpu"][1] == "muted" and cells["hot"][1] == "muted"


@pytest.mark.parametrize(
    ("temp", "cls"),
    [
        (69.0, "ok"),
        (69.9, "ok"),
        (70.0, "warning"),
        (80.0, "warning"),
        (80.5, "critical"),
        (81.0, "critical"),
    ],
)
def test_gpu_temperature_severity(temp, cls):
    node = up(gpus=(gpu(temp=temp),))
    assert cells_by_column(rows.node_row(node, state(node)))["hot"][1] == cls
    assert cells_by_column(rows.gpu_row(node, node.gpus[0], state(node)), rows.GPU_COLUMNS)["temp"][1] == cls


def test_hottest_gpu_decides_the_node_cell():
    node = up(gpus=(gpu(0, temp=45.0), gpu(1, temp=None), gpu(2, temp=83.0)))
    assert cells_by_column(rows.node_row(node, state(node)))["hot"] == ("83°C", "critical")


@pytest.mark.parametrize(
    ("key", "field", "values"),
    [
        ("cpu", "cpu", [(59.0, "ok"), (60.0, "warning"), (80.0, "warning"), (81.0, "critical")]),
        ("mem", "mem_pct", [(69.0, "ok"), (70.0, "warning"), (85.0, "warning"), (86.0, "critical")]),
        ("disk", "disk_pct", [(79.0, "ok"), (80.0, "warning"), (90.0, "warning"), (91.0, "critical")]),
    ],
)
def test_host_severity_from_the_runbook_ranges(key, field, values):
    for value, cls in values:
        node = up(host=host(**{field: value}))
        assert cells_by_column(rows.node_row(node, state(node)))[key][1] == cls, (key, value)


@pytest.mark.parametrize(
    ("name", "limit", "draws"),
    [
        (
            "NVIDIA GeForce RTX 5090",
            575.0,
            [(399, "ok"), (400, "warning"), (450, "warning"), (451, "critical")],
        ),
        (
            "NVIDIA GeForce RTX 4090",
            450.0,
            [(279, "ok"), (280, "warning"), (300, "warning"), (301, "critical")],
        ),
        (
            "NVIDIA H100 80GB HBM3",
            700.0,
            [(629, "ok"), (630, "warning"), (679, "warning"), (680, "critical")],
        ),
        (
            "NVIDIA GeForce RTX 5070 Ti",
            300.0,
            [(269, "ok"), (270, "warning"), (291, "warning"), (292, "critical")],
        ),
        ("NVIDIA GeForce RTX 3070", None, [(220, "muted"), (None, "muted")]),
    ],
)
def test_gpu_power_severity(name, limit, draws):
    for draw, cls in draws:
        node = up(gpus=(gpu(name=name, power=draw, limit=limit),))
        cell = cells_by_column(rows.gpu_row(node, node.gpus[0], state(node)), rows.GPU_COLUMNS)["power"]
        assert cell[1] == cls, (name, draw)


def test_power_text():
    def power(draw, limit):
        node = up(gpus=(gpu(power=draw, limit=limit),))
        return cells_by_column(rows.gpu_row(node, node.gpus[0], state(node)), rows.GPU_COLUMNS)["power"][0]

    assert power(455.2, 575.0) == "455/575W"
    assert power(455.2, None) == "455W"
    assert power(None, 575.0) == f"{NA}/575W"
    assert power(None, None) == NA


def test_gpu_row_cells():
    node = up(gpus=(gpu(util=97.0, temp=86.0, power=455.0, used=20000.0, name="NVIDIA GeForce RTX 5090"),))
    cells = cells_by_column(rows.gpu_row(node, node.gpus[0], state(node)), rows.GPU_COLUMNS)
    assert cells["node"] == ("hydra-ai", "")
    assert cells["gpu"] == ("0", "")
    assert cells["name"] == ("RTX 5090", "muted")
    assert cells["util"] == (bar(0.97, 9) + " " + " 97%", "info")
    assert cells["mem"] == ("19.5/32G", "")
    assert cells["temp"] == ("86°C", "critical")
    assert cells["power"] == ("455/575W", "critical")  # above the RTX 5090 450 W critical line
    assert cells["util_hist"] == (" " * rows.SPARK_WIDTH, "info")


def test_gpu_row_unknown_memory_and_utilization():
    node = up(gpus=(GpuReading(index=3),))
    cells = cells_by_column(rows.gpu_row(node, node.gpus[0], state(node)), rows.GPU_COLUMNS)
    assert cells["util"] == (" " * 9 + " " + "   " + NA, "info")
    assert cells["mem"] == (NA, "muted")
    assert cells["name"] == (NA, "muted")


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("NVIDIA GeForce RTX 5090", "RTX 5090"),
        ("NVIDIA H100 80GB HBM3", "H100 80GB HBM3"),
        ("Tesla V100-SXM2-16GB", "Tesla V100-SXM2-16GB"),
        ("NVIDIA \x1b[31mA100", "A100"),
        (None, NA),
    ],
)
def test_short_gpu_name(name, short):
    assert rows.short_gpu_name(name) == short


def test_gpu_history_sparkline_from_the_state():
    history = History(200)
    for seq in range(1, 61):
        history.add(("hydra-ai", 0, "util"), seq, 100.0 if seq > 45 else 0.0)
        history.add(("hydra-ai", 0, "temp"), seq, 90.0)
    node = up()
    cells = cells_by_column(
        rows.gpu_row(node, node.gpus[0], state(node, seq=60, history=history)), rows.GPU_COLUMNS
    )
    # refresh 2 s, 30 s a character: 15 cycles a bucket. At cycle 60 bucket 4 is still filling,
    # so completed buckets 0..3 are drawn, the last one (cycles 45..59) at 100 %.
    assert cells["util_hist"][0] == " " * (rows.SPARK_WIDTH - 4) + "▁▁▁" + "█"
    assert cells["temp_hist"][0].strip() == "█" * 4
    earlier = cells_by_column(
        rows.gpu_row(node, node.gpus[0], state(node, seq=30, history=history)), rows.GPU_COLUMNS
    )
    assert earlier["util_hist"][0] == " " * (rows.SPARK_WIDTH - 2) + "▁▁"  # a state shows only its own cycles


def test_node_rows_and_gpu_rows_keys():
    a, b = up("a", gpus=(gpu(0), gpu(1))), up("b", gpus=())
    current = state(a, b)
    assert [row.key for row in rows.node_rows(current)] == ["a", "b"]
    assert [row.key for row in rows.gpu_rows(current)] == [("a", 0), ("a", 1)]
    assert rows.gpu_rows(current)[0].fields["temp_c"] == gpu(0).temp_c


def test_hostile_node_name_is_cleaned():
    node = up(name="evil\x1b]0;pwned\x07")
    assert cells_by_column(rows.node_row(node, state(node)))["node"][0] == "evil"


# -- rows.py: summary -----------------------------------------------------------------------------


def test_summary_counts():
    nodes = [
        up("a", gpus=(gpu(0, temp=86.0, power=455.0), gpu(1, temp=40.0, power=22.0))),
        up("b", gpus=(gpu(0, temp=None, power=None),)),
        up("c", gpus=(), has_gpu_probe=False),
        NodeState("d", NodeStatus.STALE, last_ok=NOW - 30, gpus=(gpu(0, temp=50.0, power=301.0),)),
        NodeState("e", NodeStatus.DOWN, error="timeout"),
    ]
    parts = rows.summary(state(*nodes, cluster="hydra\x1b[2J")).split("  ·  ")
    assert parts[:4] == ["hydra", "no alerts", "5 nodes: 3 up, 1 stale, 1 down", "4 GPUs"]
    assert parts[-2:] == ["hottest 86°C", "every 2s"]
    (power,) = parts[4:-2]
    watts = float(power.split()[0]) * (1000 if power.endswith(" kW") else 1)
    assert power.endswith("W") and abs(watts - (455 + 22 + 301)) <= 5  # unknown draws are not 0, not summed


def test_summary_without_gpus_has_no_power_or_heat():
    line = rows.summary(state(up("a", gpus=()), refresh=2.5))
    assert line == "hydra  ·  no alerts  ·  1 nodes: 1 up, 0 stale, 0 down  ·  0 GPUs  ·  every 2.5s"


def test_summary_counts_alerts_first() -> None:
    from dataclasses import replace

    from cockpit.model import Alert

    alerts = (Alert("critical", "a", "node_down", "a: down"), Alert("warning", "b", "cpu", "b: CPU 65%"))
    line = rows.summary(replace(state(up("a", gpus=())), alerts=alerts, _index={}))
    assert line.split("  ·  ")[1] == "2 alerts (1 critical)"


# -- table_model.py -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "width", "align", "expected"),
    [
        ("abc", 5, "left", "abc  "),
        ("abc", 5, "right", "  abc"),
        ("abcdef", 4, "left", "abc…"),
        ("abcdef", 4, "right", "abc…"),
        ("abcdef", 1, "left", "a"),
        ("", 3, "left", "   "),
        ("日本語", 4, "left", "日 …"),  # a wide character never splits: a space fills its half
        ("日本語", 6, "right", "日本語"),
    ],
)
def test_fit(text, width, align, expected):
    out = fit(text, width, align)
    assert out == expected
    assert cell_len(out) == width


def test_fit_never_overflows_with_wide_characters():
    for width in range(2, 12):
        assert cell_len(fit("日本語のプロセス名", width, "left")) == width
