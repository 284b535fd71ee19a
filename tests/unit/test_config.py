"""cluster.yaml loading: every mistake is one line, ``PATH:LINE:COL: field.path: what (expected)``.

The table below is the contract an operator reads at 3 a.m.: each malformed file and the exact line
it must produce. Secrets are references (``${env:VAR}``, ``${file:PATH}``) and never printed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cockpit import cli
from cockpit.config import Cluster, expand_path, find_config, load_cluster
from cockpit.secrets import REDACTED, SecretError, SecretRef, is_secret_like, redact
from cockpit.yaml_source import ConfigError, format_loc, parse_yaml

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "tests" / "fixtures" / "configs"
NODE = "nodes:\n  - {name: a, host: h}\n"
SECRET = "hunter2"

# (id, file contents, the exact error after "PATH:")
MALFORMED = [
    (
        "unclosed-bracket",
        "cluster: c\nnodes: [{name: a, host: h}\n",
        "3:1: invalid YAML: expected ',' or ']', but got '<stream end>' "
        "(in the flow sequence that starts at 2:8)",
    ),
    (
        "unclosed-quote",
        "cluster: 'c\n" + NODE,
        "4:1: invalid YAML: found unexpected end of stream "
        "(expected the quoted scalar that starts at 1:10 to end)",
    ),
    (
        "bad-indentation",
        "cluster: c\n  refresh: 2\n" + NODE,
        "2:10: invalid YAML: mapping values are not allowed here "
        "(expected one key: value per line at a steady indent; quote text with ': ')",
    ),
    (
        "tab-indentation",
        "cluster: c\nnodes:\n\t- {name: a, host: h}\n",
        "3:1: invalid YAML: a tab where indentation or a value starts "
        "(expected spaces: YAML never indents with tabs)",
    ),
    (
        "two-documents",
        "cluster: c\n" + NODE + "---\ncluster: d\n",
        "4:1: invalid YAML: expected a single document in the stream, but found another document",
    ),
    (
        "nul-byte",
        "cluster: c\x00\n" + NODE,
        "1:11: invalid YAML: control character U+0000 (expected printable text)",
    ),
    ("empty-file", "", "1:1: the file is empty (expected a mapping with cluster and nodes)"),
    ("only-comments", "# TODO\n", "1:1: the file is empty (expected a mapping with cluster and nodes)"),
    (
        "top-level-list",
        "- cluster: c\n",
        "1:1: the top level is a list (expected a mapping with cluster and nodes)",
    ),
    ("top-level-text", "hello\n", "1:1: the top level is text (expected a mapping with cluster and nodes)"),
    ("missing-cluster", NODE, "1:1: cluster: required field is missing (expected cluster: at the top level)"),
    (
        "missing-nodes",
        "cluster: c\n",
        "1:1: nodes: required field is missing (expected nodes: at the top level)",
    ),
    (
        "empty-nodes",
        "cluster: c\nnodes: []\n",
        "2:8: nodes: the list is empty (expected at least 1 item, or prometheus.discover)",
    ),
    (
        "unknown-top-level-key",
        "cluster: c\nclsuter: x\n" + NODE,
        "2:1: clsuter: unknown field (expected one of: cluster, refresh, workload_refresh, ssh, nodes, thresholds, services, p2p, vast, cost, fleet_thresholds, prometheus, panels, kube, nvml, actions, read_only, keys, sim)",
    ),
    (
        "unknown-node-key",
        "cluster: c\nnodes:\n  - name: a\n    host: h\n    hostname: x\n",
        "5:5: nodes[0].hostname: unknown field "
        "(expected one of: name, host, port, user, jump, tags, gpu_model, probes, units, stacks, sim)",
    ),
    (
        "unknown-sim-key",
        "cluster: c\nnodes:\n  - name: a\n    host: h\n    sim: {gpu: [x]}\n",
        "5:11: nodes[0].sim.gpu: unknown field "
        "(expected one of: gpus, cpus, mem_gib, disks, nvidia_smi, busy, containers, units)",
    ),
    (
        "port-70000",
        "cluster: c\nnodes:\n  - {name: a, host: h, port: 70000}\n",
        "3:30: nodes[0].port: 70000 is too large (expected at most 65535)",
    ),
    (
        "port-abc",
        "cluster: c\nnodes:\n  - {name: a, host: h, port: abc}\n",
        "3:30: nodes[0].port: 'abc' is not a whole number (expected an integer)",
    ),
    (
        "port-yes",
        "cluster: c\nnodes:\n  - {name: a, host: h, port: yes}\n",
        "3:30: nodes[0].port: true is not a whole number (expected an integer)",
    ),
    (
        "port-zero",
        "cluster: c\nssh: {port: 0}\n" + NODE,
        "2:13: ssh.port: 0 is too small (expected at least 1)",
    ),
    (
        "refresh-half",
        "cluster: c\nrefresh: 0.5\n" + NODE,
        "2:10: refresh: 0.5 is too small (expected at least 1)",
    ),
    (
        "refresh-word",
        "cluster: c\nrefresh: fast\n" + NODE,
        "2:10: refresh: 'fast' is not a number (expected a number)",
    ),
    (
        "host-key-policy",
        "cluster: c\nssh:\n  host_key_policy: trust-all\n" + NODE,
        "3:20: ssh.host_key_policy: 'trust-all' is not allowed (expected 'strict' or 'accept-new')",
    ),
    (
        "duplicate-node-names",
        "cluster: c\nnodes:\n  - {name: gpu1, host: h}\n  - {name: gpu1, host: h2}\n",
        "4:12: nodes[1].name: 'gpu1' is already the name of nodes[0] (expected unique names)",
    ),
    (
        "duplicate-yaml-key",
        "cluster: c\nrefresh: 2\nrefresh: 5\n" + NODE,
        "3:1: refresh: duplicate key, first written on line 2 (expected each key once)",
    ),
    (
        "duplicate-nested-key",
        "cluster: c\nnodes:\n  - name: a\n    host: h\n    host: g\n",
        "5:5: nodes[0].host: duplicate key, first written on line 4 (expected each key once)",
    ),
    (
        "jump-to-unknown-node",
        "cluster: c\nnodes:\n  - {name: a, host: h, jump: bastion}\n",
        "3:30: nodes[0].jump: 'bastion' is not a node name (expected a node name or user@host:port)",
    ),
    (
        "jump-loop",
        "cluster: c\nnodes:\n  - {name: a, host: h, jump: b}\n  - {name: b, host: h, jump: c}\n"
        "  - {name: c, host: h, jump: a}\n",
        "3:30: nodes[0].jump: jump hosts form a loop: a -> b -> c -> a "
        "(expected a chain that ends at a node without jump)",
    ),
    (
        "jump-through-itself",
        "cluster: c\nnodes:\n  - {name: a, host: h, jump: a}\n",
        "3:30: nodes[0].jump: a node cannot be its own jump host "
        "(expected another node's name or user@host:port)",
    ),
    (
        "jump-port",
        "cluster: c\nnodes:\n  - {name: a, host: h, jump: 'ops@bastion:70000'}\n",
        "3:30: nodes[0].jump: 'ops@bastion:70000' has port 70000 (expected a port from 1 to 65535)",
    ),
    (
        "literal-passphrase",
        f"cluster: c\nssh: {{passphrase: {SECRET}}}\n" + NODE,
        "2:19: ssh.passphrase: a literal secret is not allowed in a config file "
        "(expected ${env:VAR} or ${file:PATH})",
    ),
    (
        "literal-api-token",
        f"cluster: c\napi_token: {SECRET}\n" + NODE,
        "2:12: api_token: a literal secret is not allowed in a config file "
        "(expected ${env:VAR} or ${file:PATH})",
    ),
    (
        "literal-password-on-node",
        f"cluster: c\nnodes:\n  - {{name: a, host: h, password: '{SECRET}'}}\n",
        "3:34: nodes[0].password: a literal secret is not allowed in a config file "
        "(expected ${env:VAR} or ${file:PATH})",
    ),
    (
        "negative-timeout",
        "cluster: c\nssh:\n  command_timeout: -5\n" + NODE,
        "3:20: ssh.command_timeout: -5 is too small (expected more than 0)",
    ),
    (
        "bad-unit-name",
        'cluster: c\nnodes:\n  - name: a\n    host: h\n    units: ["ollama; rm -rf /"]\n',
        "5:13: nodes[0].units[0]: 'ollama; rm -rf /' is not a valid systemd unit name "
        "(expected a unit such as ollama or nginx.service)",
    ),
    (
        "node-name-with-spaces",
        "cluster: c\nnodes:\n  - {name: gpu node 1, host: h}\n",
        "3:12: nodes[0].name: 'gpu node 1' is not a valid name "
        "(expected letters, digits, '.', '_' or '-', at most 63, starting with a letter or digit)",
    ),
    (
        "user-with-space",
        "cluster: c\nnodes:\n  - {name: a, host: h, user: john smith}\n",
        "3:30: nodes[0].user: 'john smith' is not a valid user name "
        "(expected a login name such as ubuntu: letters, digits, '.', '_' or '-')",
    ),
    (
        "host-with-space",
        "cluster: c\nnodes:\n  - {name: a, host: 'h h'}\n",
        "3:21: nodes[0].host: 'h h' is not a valid host name or address "
        "(expected a DNS name or an IP address, no spaces)",
    ),
    (
        "host-missing",
        "cluster: c\nnodes:\n  - name: a\n",
        "3:5: nodes[0].host: required field is missing (expected host: in nodes[0])",
    ),
    (
        "nodes-not-a-list",
        "cluster: c\nnodes:\n  a: {host: h}\n",
        "3:3: nodes: a mapping is not a list (expected a list)",
    ),
    (
        "node-not-a-mapping",
        "cluster: c\nnodes:\n  - a\n",
        "3:5: nodes[0]: 'a' is not a mapping "
        "(expected a mapping with name, host, port, user, jump, tags, gpu_model, probes, units, stacks, sim)",
    ),
    (
        "ssh-not-a-mapping",
        "cluster: c\nssh: root\n" + NODE,
        "2:6: ssh: 'root' is not a mapping (expected a mapping with user, port, identity_file, passphrase, "
        "known_hosts, host_key_policy, config_file, agent, connect_timeout, command_timeout, "
        "max_concurrency, reconnect_max)",
    ),
    (
        "tags-not-a-list",
        "cluster: c\nnodes:\n  - {name: a, host: h, tags: gpu}\n",
        "3:30: nodes[0].tags: 'gpu' is not a list (expected a list)",
    ),
    (
        "unknown-probe",
        "cluster: c\nnodes:\n  - {name: a, host: h, probes: [host, disk]}\n",
        "3:39: nodes[0].probes[1]: 'disk' is not allowed (expected 'host', 'gpus' or 'containers')",
    ),
    (
        "identity-file-number",
        "cluster: c\nssh: {identity_file: 5}\n" + NODE,
        "2:22: ssh.identity_file: 5 is not text or a list (expected a string or a list)",
    ),
    (
        "identity-file-list-with-number",
        "cluster: c\nssh:\n  identity_file: [~/.ssh/id, 5]\n" + NODE,
        "3:30: ssh.identity_file[1]: 5 is not text (expected a string)",
    ),
    (
        "sim-nvidia-smi-mode",
        "cluster: c\nnodes:\n  - name: a\n    host: h\n    sim: {nvidia_smi: flaky}\n",
        "5:23: nodes[0].sim.nvidia_smi: 'flaky' is not allowed "
        "(expected 'ok', 'missing', 'driver-error' or 'no-devices')",
    ),
    (
        "sim-busy-above-1",
        "cluster: c\nnodes:\n  - name: a\n    host: h\n    sim: {busy: 1.5}\n",
        "5:17: nodes[0].sim.busy: 1.5 is too large (expected at most 1)",
    ),
    (
        "sim-disk-size-zero",
        "cluster: c\nnodes:\n  - name: a\n    host: h\n    sim:\n      disks:\n"
        "        - {mount: /, size_gib: 0, used_pct: 5}\n",
        "7:32: nodes[0].sim.disks[0].size_gib: 0 is too small (expected more than 0)",
    ),
    (
        "sim-seed-word",
        "cluster: c\nsim: {seed: lucky}\n" + NODE,
        "2:13: sim.seed: 'lucky' is not a whole number (expected an integer)",
    ),
    (
        "alias-of-its-own-parent",
        "cluster: c\nnodes: &n [*n]\n",
        "2:8: nodes[0]: an alias refers to its own parent (expected a finite value)",
    ),
    (
        "list-as-key",
        "cluster: c\n[a, b]: 1\n" + NODE,
        "2:1: a key is a list (expected a plain name such as host)",
    ),
    (
        "newline-in-unknown-key",
        'cluster: c\n"bad\\nname": 1\n' + NODE,
        "2:1: 'bad\\nname': unknown field (expected one of: cluster, refresh, workload_refresh, ssh, nodes, thresholds, services, p2p, vast, cost, fleet_thresholds, prometheus, panels, kube, nvml, actions, read_only, keys, sim)",
    ),
]


def write(tmp_path: Path, text: str, name: str = "cluster.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"), [(t, e) for _, t, e in MALFORMED], ids=[i for i, _, _ in MALFORMED]
)
def test_malformed_config_gives_exactly_one_line(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_cluster(path)
    assert caught.value.line == f"{path}:{expected}"
    assert str(caught.value) == caught.value.line
    assert "\n" not in caught.value.line and caught.value.line.isprintable()


def test_the_table_is_big_enough_and_every_message_says_what_was_expected():
    assert len(MALFORMED) >= 20
    for _, _, expected in MALFORMED:
        line, col, _ = expected.split(":", 2)
        assert line.isdigit() and col.isdigit()
        assert "(expected " in expected or ", but " in expected


@pytest.mark.parametrize("case", [c for c in MALFORMED if SECRET in c[1]], ids=lambda c: c[0])
def test_literal_secret_is_never_echoed(tmp_path, case):
    _, text, _ = case
    with pytest.raises(ConfigError) as caught:
        load_cluster(write(tmp_path, text))
    assert SECRET not in caught.value.line
    assert SECRET not in repr(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        f"cluster: c\nssh: {{passphrase: {SECRET}}}\n" + NODE,
        f"cluster: c\nssh: {{passphrase: [{SECRET}]}}\n" + NODE,
    ],
)
def test_literal_secret_value_is_not_in_the_exception_chain(tmp_path, text):
    """A logged traceback must not carry a chained pydantic error that quotes the value."""
    with pytest.raises(ConfigError) as caught:
        load_cluster(write(tmp_path, text))
    assert SECRET not in caught.value.line
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("cluster: c\nnodes: [\n", "invalid YAML"),
        ("a: &a [*a, *a]\nb: *a\n", "alias"),
        ("cluster: c\nnodes:\n  - {name: a, host: h, port: 99999999999999999999999}\n", "too large"),
        ("cluster: 2024-01-01\n" + NODE, "is not text"),
        ("cluster: c\n~: 1\n" + NODE, "2:1: a key is empty (expected a plain name such as host)"),
        ("cluster: c\n{a: 1}: 1\n" + NODE, "2:1: a key is a mapping (expected a plain name such as host)"),
        ("cluster: c\n2024-01-01: 1\n" + NODE, "2:1: a key is a date (expected a plain name such as host)"),
    ],
)
def test_other_mistakes_are_config_errors_too(tmp_path, text, problem):
    with pytest.raises(ConfigError) as caught:
        load_cluster(write(tmp_path, text))
    assert problem in caught.value.line


def test_billion_laughs_stops_early(tmp_path):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    with pytest.raises(ConfigError) as caught:
        load_cluster(write(tmp_path, "\n".join(levels) + "\n"))
    assert "more than 100000 values (expected a cluster description)" in caught.value.line


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda p: None, "{p}: no such file"),
        (lambda p: p.mkdir(), "{p}: is a directory, not a file"),
        (lambda p: p.write_bytes(b"cluster: caf\xe9\n"), "{p}: not UTF-8 text (byte 12)"),
    ],
    ids=["missing", "directory", "latin-1"],
)
def test_unreadable_files(tmp_path, setup, expected):
    path = tmp_path / "cluster.yaml"
    setup(path)
    with pytest.raises(ConfigError) as caught:
        load_cluster(path)
    assert caught.value.line == expected.format(p=path)


def test_config_error_escapes_control_characters():
    assert ConfigError("a\nb\x1b[2J").line == "a\\nb\\x1b[2J"


def test_format_loc_quotes_keys_that_are_not_plain_words():
    assert format_loc(("nodes", 2, "port")) == "nodes[2].port"
    assert format_loc(("a b", "c.d", "")) == "'a b'.'c.d'.''"


def test_unknown_field_points_at_the_key_not_the_value(tmp_path):
    path = write(tmp_path, "cluster: c\nssh:\n  user: ubuntu\n  pasword: x\n" + NODE)
    with pytest.raises(ConfigError) as caught:
        load_cluster(path)
    assert caught.value.line.startswith(
        f"{path}:4:3: ssh.pasword: unknown field (expected one of: user, port,"
    )


# -- valid configurations -------------------------------------------------------------------------


def test_repository_cluster_yaml_loads():
    cluster = load_cluster(REPO / "cluster.yaml")
    assert cluster.cluster == "hydra-demo"
    assert [n.name for n in cluster.nodes] == [
        "hydra-ai",
        "hydra-compute",
        "hydra-storage",
        "vast-5090-a",
        "vast-3070",
        "lambda-h100",
    ]
    assert cluster.node("lambda-h100").jump == "hydra-ai"
    assert cluster.node("hydra-storage").probes == ["host", "containers"]
    assert cluster.reconnect_max == cluster.refresh
    assert cluster.source == str(REPO / "cluster.yaml")


def test_config_with_references_loads_and_keeps_them_as_references(monkeypatch):
    monkeypatch.setenv("COCKPIT_TEST_PASSPHRASE", SECRET)
    cluster = load_cluster(CONFIGS / "valid_secrets.yaml")
    passphrase = cluster.ssh.passphrase
    assert passphrase == SecretRef("env", "COCKPIT_TEST_PASSPHRASE")
    assert passphrase.reveal() == SECRET
    for shown in (repr(cluster), str(cluster), cluster.model_dump_json(), repr(passphrase), f"{passphrase}"):
        assert SECRET not in shown
    assert "${env:COCKPIT_TEST_PASSPHRASE}" in repr(cluster)
    assert cluster.ssh.identity_file == ["~/.ssh/id_ed25519", "~/.ssh/id_rsa_legacy"]
    assert cluster.ssh.host_key_policy == "accept-new" and cluster.ssh.connect_timeout == 2.5
    assert cluster.node("bastion").port == 2222 and cluster.node("bastion").probes == ["host"]
    assert cluster.node("gpu-a").jump == "bastion"
    assert cluster.node("gpu-a").units == ["ollama", "nvidia-persistenced.service"]
    assert cluster.node("gpu-b").jump == "ops@198.51.100.7:22" and cluster.node("gpu-b").host == "10.0.0.12"


def test_config_loads_without_the_secret_being_set(monkeypatch):
    """References are resolved when used, so validating a file never needs the secret."""
    monkeypatch.delenv("COCKPIT_TEST_PASSPHRASE", raising=False)
    cluster = load_cluster(CONFIGS / "valid_secrets.yaml")
    with pytest.raises(SecretError) as caught:
        cluster.ssh.passphrase.reveal()
    assert str(caught.value) == (
        "environment variable COCKPIT_TEST_PASSPHRASE is not set (for ${env:COCKPIT_TEST_PASSPHRASE})"
    )


def test_file_reference(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    cluster = load_cluster(CONFIGS / "valid_file_secret.yaml")
    ref = cluster.ssh.passphrase
    assert str(ref) == "${file:~/.config/gpu-cockpit/passphrase}"
    with pytest.raises(SecretError) as caught:
        ref.reveal()
    assert (
        str(caught.value) == "cannot read ${file:~/.config/gpu-cockpit/passphrase}: No such file or directory"
    )
    secret_file = tmp_path / ".config" / "gpu-cockpit" / "passphrase"
    secret_file.parent.mkdir(parents=True)
    secret_file.write_text(SECRET + "\n")
    assert ref.reveal() == SECRET
    assert SECRET not in repr(cluster)


def test_port_may_be_quoted_and_identity_file_may_be_one_path(tmp_path):
    path = write(
        tmp_path, "cluster: c\nssh: {identity_file: ~/.ssh/id}\nnodes:\n  - {name: a, host: h, port: '22'}\n"
    )
    cluster = load_cluster(path)
    assert cluster.node("a").port == 22 and cluster.ssh.identity_file == "~/.ssh/id"


def test_cluster_is_frozen():
    cluster = load_cluster(REPO / "cluster.yaml")
    with pytest.raises(ValueError):
        cluster.refresh = 9  # type: ignore[misc]


def test_expand_path_cache_and_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert (
        expand_path("{cache}/demo/known_hosts") == tmp_path / "cache" / "gpu-cockpit" / "demo" / "known_hosts"
    )
    assert expand_path("~/.ssh/config") == tmp_path / ".ssh" / "config"


# -- secret references ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${env:VAST_API_KEY}", SecretRef("env", "VAST_API_KEY")),
        ("  ${file:~/.vast_key}  ", SecretRef("file", "~/.vast_key")),
        ("${ENV:X}", None),
        ("${env:}", None),
        ("$VAST_API_KEY", None),
        ("hunter2", None),
        ("${env:A}${env:B}", None),
    ],
)
def test_secret_reference_syntax(text, expected):
    assert SecretRef.parse(text) == expected


def test_secret_ref_repr_never_reveals(monkeypatch):
    monkeypatch.setenv("COCKPIT_TOKEN", SECRET)
    ref = SecretRef("env", "COCKPIT_TOKEN")
    assert repr(ref) == str(ref) == "${env:COCKPIT_TOKEN}"
    assert repr([ref]) == "[${env:COCKPIT_TOKEN}]"
    assert ref.reveal() == SECRET


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("api_token", True),
        ("passphrase", True),
        ("vast_api_key", True),
        ("db_password", True),
        ("client_secret", True),
        ("identity_file", False),
        ("known_hosts", False),
        ("host_key_policy", False),
        ("host", False),
        ("user", False),
    ],
)
def test_secret_like_keys(key, secret):
    assert is_secret_like(key) is secret


def test_redact_replaces_every_revealed_value():
    assert redact(f"curl -H 'Authorization: {SECRET}' {SECRET}", [SECRET, ""]) == (
        f"curl -H 'Authorization: {REDACTED}' {REDACTED}"
    )


# -- where the config is found --------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("COCKPIT_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return tmp_path


def test_find_config_explicit_wins(clean_env, monkeypatch):
    monkeypatch.setenv("COCKPIT_CONFIG", "/from/env.yaml")
    (clean_env / "work" / "cluster.yaml").write_text("x")
    assert find_config("/explicit.yaml") == Path("/explicit.yaml")


def test_find_config_env_before_cwd(clean_env, monkeypatch):
    monkeypatch.setenv("COCKPIT_CONFIG", "/from/env.yaml")
    (clean_env / "work" / "cluster.yaml").write_text("x")
    assert find_config(None) == Path("/from/env.yaml")


def test_find_config_cwd_before_xdg(clean_env):
    (clean_env / "work" / "cluster.yaml").write_text("x")
    xdg = clean_env / "xdg" / "gpu-cockpit" / "cluster.yaml"
    xdg.parent.mkdir(parents=True)
    xdg.write_text("x")
    assert find_config(None) == Path("cluster.yaml")


def test_find_config_xdg_last(clean_env):
    xdg = clean_env / "xdg" / "gpu-cockpit" / "cluster.yaml"
    xdg.parent.mkdir(parents=True)
    xdg.write_text("x")
    assert find_config(None) == xdg


def test_find_config_nothing_found_says_every_place(clean_env):
    with pytest.raises(ConfigError) as caught:
        find_config(None)
    xdg = clean_env / "xdg" / "gpu-cockpit" / "cluster.yaml"
    assert caught.value.line == (
        f"no config found: pass --config, set COCKPIT_CONFIG, or create ./cluster.yaml or {xdg}"
    )


# -- cockpit validate -----------------------------------------------------------------------------


def test_validate_ok(capsys):
    assert cli.main(["validate", str(REPO / "cluster.yaml")]) == 0
    out, err = capsys.readouterr()
    assert out == f"{REPO / 'cluster.yaml'}: ok (6 nodes)\n"
    assert err == ""


BY_ID = {case_id: (text, expected) for case_id, text, expected in MALFORMED}


@pytest.mark.parametrize(
    "case_id", ["unclosed-bracket", "unknown-node-key", "literal-passphrase", "jump-loop"]
)
def test_validate_error_is_one_line_on_stderr_and_status_2(tmp_path, capsys, case_id):
    text, expected = BY_ID[case_id]
    path = write(tmp_path, text)
    assert cli.main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"{path}:{expected}\n"
    assert "Traceback" not in err and SECRET not in err


def test_validate_missing_file(tmp_path, capsys):
    assert cli.main(["validate", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err == f"{tmp_path / 'nope.yaml'}: no such file\n"


def test_loaded_cluster_type():
    assert isinstance(load_cluster(REPO / "cluster.yaml"), Cluster)


def test_parse_yaml_positions_are_one_based():
    doc = parse_yaml("cluster: c\nnodes:\n  - name: a\n    host: h\n", "f.yaml")
    assert doc.where(("nodes", 0, "host")) == (4, 11)
    assert doc.where(("nodes", 0, "port")) == (3, 5)  # a missing key: its mapping's position
    assert doc.key_positions[("nodes", 0, "host")] == (4, 5)
