"""Property tests: hostile or broken input never crashes a parser, the config loader or the sanitizer.

``COCKPIT_FUZZ_EXAMPLES`` raises the example count for a long local run (default 200 per test).
"""

from __future__ import annotations

import os
import re
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from cockpit.config import Cluster, load_cluster
from cockpit.model import CpuSample, Disk, GpuReading, HostReading, ProbeError
from cockpit.sanitize import clean
from cockpit.sources.probes import (
    GPU_FIELDS,
    Part,
    cpu_percent,
    parse_cpu_samples,
    parse_df,
    parse_gpus,
    parse_host,
    parse_loadavg,
    parse_meminfo,
    parse_uptime,
    split_parts,
)
from cockpit.yaml_source import ConfigError
from widgets.format import bar, bucketed, sparkline
from widgets.table_model import fit

FUZZ = settings(
    max_examples=int(os.environ.get("COCKPIT_FUZZ_EXAMPLES", 200)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
NONCE = "5eed5eed5eed"


def _real_lines() -> list[str]:
    """Lines of the real captures: mutations of these reach deeper than random text."""
    files = [
        "nvidia_smi/query_gpu_csv_noheader_nounits.txt",
        "nvidia_smi/query_gpu_csv.txt",
        "nvidia_smi/bad_index.txt",
        "nvidia_smi/proc_loadavg.txt",
        "nvidia_smi/proc_meminfo_head20.txt",
        "nvidia_smi/proc_stat_head1.txt",
        "nvidia_smi/df_P_k.txt",
        "nvidia_smi_public/driver_failure_gputil26.txt",
        "nvidia_smi_public/gtx770_megaminer235_csv_noheader.txt",
        "proc/df_P_k_container_chroot.txt",
        "proc/ubuntu1204_kernel3.2/meminfo",
        "proc/ubuntu1204_kernel3.2/stat_cpu_lines",
    ]
    return [line for name in files for line in (FIXTURES / name).read_text().splitlines() if line]


REAL_LINES = _real_lines()
TRICKY = [
    "[N/A]",
    "[Not Supported]",
    ", ",
    "%",
    " kB",
    "²",
    "٣",
    "-",
    ".",
    "nan",
    "inf",
    "1e309",
    "\t",
    "\x00",
]
tokens = st.one_of(
    st.sampled_from(REAL_LINES),
    st.sampled_from(TRICKY),
    st.text(alphabet=string.digits + " ,.%:-/[]\n", max_size=30),
    st.text(max_size=20),
)


@st.composite
def mutated(draw) -> str:
    """Real lines and tricky pieces, joined, then cut and spliced at random places."""
    text = "\n".join(draw(st.lists(tokens, max_size=8)))
    for _ in range(draw(st.integers(0, 3))):
        if not text:
            break
        at = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 5))
        text = text[:at] + draw(st.sampled_from(["", *TRICKY])) + text[at + cut :]
    return text


FIELD = st.one_of(
    st.sampled_from(TRICKY), st.text(alphabet=string.digits + ".[]NA/ %", max_size=6), st.text(max_size=4)
)


@st.composite
def shaped(draw) -> str:
    """Lines with the right shape and wrong contents: CSV rows of about GPU_FIELDS' width,
    ``Key: value kB`` meminfo lines, ``cpu`` lines and df rows."""
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["csv", "meminfo", "stat", "df"]))
        fields = draw(st.lists(FIELD, min_size=len(GPU_FIELDS) - 1, max_size=len(GPU_FIELDS) + 1))
        if kind == "csv":
            index = draw(st.sampled_from(["0", "7", "²", "٣", "-1", "[N/A]", "", " 3"]))
            lines.append(", ".join([index, *fields[: len(GPU_FIELDS) - 1]]))
        elif kind == "meminfo":
            lines.append(
                f"{draw(st.sampled_from(['MemTotal', 'MemFree', 'MemAvailable', 'Cached']))}: {fields[0]} kB"
            )
        elif kind == "stat":
            lines.append("cpu  " + " ".join(fields))
        else:
            lines.append(" ".join(fields[:5]) + "% /" + fields[5])
    return "\n".join(lines)


any_text = st.one_of(st.text(), mutated(), shaped())


@FUZZ
@given(any_text, st.one_of(st.none(), st.integers(-5, 300)))
def test_parse_gpus_returns_readings_or_one_line_error(text, rc):
    result = parse_gpus(text, rc)
    if isinstance(result, ProbeError):
        assert result.probe == "gpus" and "\n" not in result.reason and result.reason
    else:
        assert isinstance(result, tuple) and all(isinstance(g, GpuReading) for g in result)
        for gpu in result:
            assert gpu.index >= 0


@FUZZ
@given(any_text)
def test_host_parsers_never_raise(text):
    load = parse_loadavg(text)
    assert isinstance(load, ProbeError) or (isinstance(load, tuple) and len(load) == 3)
    if isinstance(load, ProbeError):
        assert "\n" not in load.reason
    uptime = parse_uptime(text)
    assert uptime is None or isinstance(uptime, float)
    assert all(isinstance(s, CpuSample) for s in parse_cpu_samples(text))
    total, available = parse_meminfo(text)
    assert total is None or isinstance(total, int)
    assert available is None or isinstance(available, int)
    disks = parse_df(text)
    assert all(isinstance(d, Disk) and d.mount for d in disks)


@FUZZ
@given(st.dictionaries(st.sampled_from(["loadavg", "uptime", "meminfo", "stat", "df"]), any_text))
def test_parse_host_never_raises(texts):
    parts = {name: Part(text, 0) for name, text in texts.items()}
    result = parse_host(parts, previous=CpuSample(10, 5))
    assert isinstance(result, HostReading | ProbeError)


@FUZZ
@given(
    st.one_of(st.none(), st.builds(CpuSample, st.integers(), st.integers())),
    st.builds(CpuSample, st.integers(), st.integers()),
)
def test_cpu_percent_is_a_percentage_or_unknown(before, after):
    value = cpu_percent(before, after)
    assert value is None or 0.0 <= value <= 100.0


def _fence_noise() -> st.SearchStrategy[str]:
    forged = st.sampled_from(
        [
            "@@deadbeefdead:end:gpus:0",
            "@@:begin:df",
            f"@@{NONCE[:-1]}:end:x:1",
            f"@{NONCE}:begin:x",
            "@@" + NONCE.upper() + ":end:gpus:0",
        ]
    )
    safe = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
    return st.one_of(forged, safe)


@FUZZ
@given(
    st.lists(st.one_of(_fence_noise(), st.sampled_from([f"@@{NONCE}:begin:gpus", f"@@{NONCE}:end:gpus:0"])))
)
def test_split_parts_never_raises(lines):
    parts = split_parts("\n".join(lines), NONCE)
    for name, part in parts.items():
        assert isinstance(name, str) and isinstance(part.text, str)
        assert part.rc is None or isinstance(part.rc, int)


LINE = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",), blacklist_characters="\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
    ),
    max_size=30,
).filter(lambda line: f"@@{NONCE}" not in line)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[a-z_]{1,8}", fullmatch=True), st.lists(LINE, max_size=4), st.integers(-1, 255)
        ),
        max_size=5,
        unique_by=lambda part: part[0],
    ),
    st.lists(LINE, max_size=3),
    st.booleans(),
)
def test_split_parts_round_trip_with_noise_between_parts(parts, noise, last_line_unterminated):
    chunks = []
    for name, lines, rc in parts:
        body = "".join(f"{line}\n" for line in lines)
        if last_line_unterminated and lines and lines[-1]:
            body = body[:-1]  # the command's output did not end with a newline
        chunks.append(f"@@{NONCE}:begin:{name}\n{body}@@{NONCE}:end:{name}:{rc}\n")
        chunks.append("".join(f"{line}\n" for line in noise))
    result = split_parts("".join(chunks), NONCE)
    assert result == {name: Part("\n".join(lines), rc) for name, lines, rc in parts}


# -- cluster.yaml ---------------------------------------------------------------------------------

KEYS = [
    "cluster", "nodes", "name", "host", "port", "user", "jump", "tags", "ssh", "refresh", "sim", "units",
    "probes", "identity_file", "passphrase", "api_token", "host_key_policy", "gpus", "busy", "disks", "x y",
]  # fmt: skip
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.sampled_from(["a", "h", "gpu-1", "${env:X}", "${file:~/k}", "strict", "host", "ops@b:22", "", "🚀"]),
    st.text(max_size=12),
)
YAMLISH = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=5),
    ),
    max_leaves=25,
)


@st.composite
def yaml_text(draw) -> str:
    doc = draw(st.one_of(YAMLISH, st.fixed_dictionaries({"cluster": SCALARS, "nodes": YAMLISH})))
    text = yaml.safe_dump(doc, allow_unicode=True, default_flow_style=draw(st.booleans()))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(text)))
        text = (
            text[:at]
            + draw(st.sampled_from(["", "\t", ":", "- ", "&a ", "*a", "[", "{", "'", "\n  "]))
            + text[at:]
        )
    return text


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-configs")


@FUZZ
@given(st.one_of(yaml_text(), st.text(max_size=200)))
def test_load_cluster_returns_a_cluster_or_one_config_error(config_dir, text):
    path = config_dir / "cluster.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        cluster = load_cluster(path)
    except ConfigError as error:
        assert error.line.startswith(f"{path}:")
        assert "\n" not in error.line and error.line.isprintable()
        assert "Traceback" not in error.line
    else:
        assert isinstance(cluster, Cluster) and cluster.nodes


SECRET_KEYS = ["passphrase", "api_token", "password", "vast_api_key", "client_secret", "auth_token"]


@FUZZ
@given(
    st.sampled_from(SECRET_KEYS),
    st.from_regex(r"[A-Za-z0-9_+/=-]{6,24}", fullmatch=True),
    st.sampled_from(["top", "ssh", "node"]),
)
def test_a_literal_secret_is_refused_without_being_echoed(config_dir, key, value, where):
    assume(not value.startswith("${"))
    marker = f"Zq{value}"
    doc: dict = {"cluster": "c", "ssh": {"user": "ubuntu"}, "nodes": [{"name": "a", "host": "h"}]}
    target = {"top": doc, "ssh": doc["ssh"], "node": doc["nodes"][0]}[where]
    target[key] = marker
    path = config_dir / "secret.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_cluster(path)
    assert marker not in caught.value.line
    assert "literal secret" in caught.value.line


# -- the sanitizer and cell helpers ---------------------------------------------------------------

ESCAPE_PIECES = st.sampled_from(
    [
        "\x1b",
        "\x1b[",
        "\x1b]",
        "\x1bP",
        "\x1b\\",
        "\x07",
        "\x9b",
        "\x9d",
        "\x9c",
        "0;",
        "2J",
        "31m",
        "8;;",
        "\r",
        "\ufffd",
    ]
)
hostile = st.one_of(st.text(), st.lists(st.one_of(ESCAPE_PIECES, st.text(max_size=5))).map("".join))


@FUZZ
@given(hostile, st.integers(1, 600))
def test_clean_leaves_no_control_character(text, limit):
    out = clean(text, limit=limit)
    assert not CONTROLS.search(out)
    assert len(out) <= limit
    assert clean(out, limit=limit) == out  # already clean text is left alone


@FUZZ
@given(hostile, st.integers(2, 40), st.sampled_from(["left", "right"]))
def test_fit_of_clean_text_fills_exactly_its_width(text, width, align):
    out = fit(clean(text), width, align)
    assert cell_len(out) == width


@FUZZ
@given(
    st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), max_size=60),
    st.integers(1, 30),
    st.floats(-100, 100),
    st.floats(-100, 100),
)
def test_sparkline_and_bar_always_fill_their_width(values, width, low, high):
    assert len(sparkline(values, width, low, high)) == width
    fraction = values[0] if values else None
    assert len(bar(fraction, width)) == width


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, 10**6), st.one_of(st.none(), st.floats(-1e6, 1e6))), max_size=50),
    st.integers(0, 40),
)
def test_bucketed_has_one_value_per_bucket_run(points, per):
    points = sorted(points, key=lambda p: p[0])
    out = bucketed(points, per)
    buckets = [seq // max(1, per) for seq, _ in points]
    runs = sum(1 for i, b in enumerate(buckets) if i == 0 or b != buckets[i - 1])
    assert len(out) == runs
    known = [v for _, v in points if v is not None]
    assert all(v is None or v in known for v in out)


def test_gpu_fields_line_of_the_right_length_is_parsed_not_rejected():
    """A sanity anchor for the fuzzers above: a well-formed line of [N/A]s is a GPU with unknowns."""
    (gpu,) = parse_gpus("0, " + ", ".join(["[N/A]"] * (len(GPU_FIELDS) - 1)), 0)
    assert gpu == GpuReading(index=0)
