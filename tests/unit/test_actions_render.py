"""Templates, the actions: schema and rendering: what the operator confirms is exactly what runs.

The quoting properties run the rendered command through the real ``/bin/sh`` (dash) with ``printf
'%s\\0'`` as an argv printer, so "cannot break out of quoting" is checked by a shell, not by us.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cockpit.actions.catalog import BUILTINS
from cockpit.actions.render import GpuTarget, NodeTarget, RenderError, Subject, render
from cockpit.actions.schema import ActionConfig
from cockpit.actions.template import Placeholder, Secret, TemplateError, parse
from cockpit.secrets import REDACTED

SH = "/bin/sh"
TYPHON = NodeTarget("hydra-ai", "192.168.1.250", "typhon")
ROOT = NodeTarget("hydra-storage", "192.168.1.244", "root")
NASTY = list("'\"\\$`;|&<>(){}*?[]~#!% \t-=x\u00e9\u2603")
texts = st.one_of(st.text(), st.text(alphabet=st.sampled_from(NASTY), min_size=1, max_size=30))
QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def action(**fields: Any) -> ActionConfig:
    return ActionConfig.model_validate({"name": "t", "scope": "node", "danger": "safe", **fields})


def builtin(name: str) -> ActionConfig:
    return next(a for a in BUILTINS if a.name == name)


def sh_argv(command: str) -> list[str]:
    """What ``printf '%s\\0' ARGS`` printed under the real /bin/sh: the arguments the shell built."""
    out = subprocess.run([SH, "-c", command], capture_output=True, check=True, timeout=10).stdout
    return [part.decode() for part in out.split(b"\0")[:-1]]


def _rejected(value: str) -> bool:
    return value == "" or value.startswith("-") or bool(re.search(r"[\x00-\x1f\x7f-\x9f]", value))


# -- templates ------------------------------------------------------------------------------------
def test_template_parts_and_simplicity() -> None:
    t = parse("docker logs {container} --tail 100 -f")
    assert t.parts == ("docker logs ", Placeholder("container"), " --tail 100 -f") and t.simple
    assert not parse("cd {stack_dir} && docker compose restart").simple
    assert parse("find . -exec truncate -s 0 {} +").placeholders == ()
    assert parse("awk '{print $1}' /proc/loadavg").simple, "single-quoted text is the command's own"
    assert parse("echo ${HOME}").placeholders == (), "${VAR} is the shell's, not a placeholder"
    secret = parse('curl -H "Authorization: Bearer "${env:LITELLM_KEY} http://x')
    assert next(p for p in secret.parts if isinstance(p, Secret)).ref.name == "LITELLM_KEY"


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("docker restart '{container}'", "inside single quotes"),
        ('docker restart "{container}"', "inside double quotes"),
        ('curl -H "Bearer ${env:KEY}"', "inside double quotes"),
        ("docker restart {contianer}", "unknown placeholder {contianer}"),
        ("echo 'unclosed", "unclosed ' quote"),
        ("cat <<EOF\n{container}\nEOF", "follows a here-document"),
        ("echo $'a\\'b' {container}", "bash's $'...' quoting is not understood"),
    ],
)
def test_template_errors(template: str, words: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(words)):
        parse(template)


# -- schema ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"command": "docker restart {container}"}, "{container} is not available in scope node"),
        ({"command": "nvidia-smi -pl {input.watts}"}, "{input.watts} is not a declared input"),
        ({"run_on": "local", "command": "ping {host} | head"}, "run_on: local runs without a shell"),
        ({"danger": "destructive", "confirm": False, "command": "true"}, "cannot skip confirmation"),
        ({"key": "ctrl+R!", "command": "true"}, "is not a key"),
        (
            {
                "inputs": [{"name": "n", "type": "choice", "choices": ["a"], "default": "b"}],
                "command": "true",
            },
            "default 'b' is not one of the choices",
        ),
        ({"inputs": [{"name": "n", "type": "str", "min": 1}], "command": "true"}, "min and max apply"),
        ({"inputs": [{"name": "n"}, {"name": "n"}], "command": "true"}, "declared twice"),
        ({"command": "echo '{node}'"}, "inside single quotes"),
    ],
)
def test_schema_errors_name_the_problem(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as info:
        action(**fields)
    assert words in str(info.value)


def test_cluster_action_on_nodes_may_use_node_fields() -> None:
    assert action(scope="cluster", command="uptime; echo {node}").scope == "cluster"
    with pytest.raises(ValidationError, match="not available in scope cluster"):
        action(scope="cluster", run_on="local", command="echo {node}")


def test_confirmation_defaults_follow_danger() -> None:
    assert not action(command="true").needs_confirm
    assert action(danger="disruptive", command="true").needs_confirm
    assert action(danger="destructive", command="true").needs_confirm


# -- rendering the built-ins ----------------------------------------------------------------------
def test_builtins_render_the_runbook_commands() -> None:
    unit = Subject(node=TYPHON, unit="tabbyapi")
    assert render(builtin("unit-restart"), unit, {}).display == "sudo -n systemctl restart tabbyapi"
    assert render(builtin("unit-logs"), unit, {}).display == "journalctl -u tabbyapi -f --no-pager -n 100"
    stack = Subject(
        node=ROOT, container="litellm", project="hydra-stack", stack_dir="/mnt/user/appdata/hydra-stack"
    )
    inv = render(builtin("compose-restart"), stack, {})
    assert inv.command == "cd /mnt/user/appdata/hydra-stack && docker compose -p hydra-stack restart"
    assert inv.node == "hydra-storage" and inv.user == "root" and inv.target == "litellm"
    drop = render(builtin("drop-caches"), Subject(node=TYPHON), {})
    assert drop.command == "sudo -n sh -c 'sync && echo 3 > /proc/sys/vm/drop_caches'" and drop.sudo
    assert render(builtin("drop-caches"), Subject(node=ROOT), {}).command.startswith("sync && ")
    ping = render(builtin("node-ping"), Subject(node=TYPHON), {})
    assert ping.argv == ("ping", "-c", "3", "192.168.1.250") and ping.run_on == "local"


def test_power_limit_is_checked_against_the_gpus_own_limits() -> None:
    gpu = Subject(node=TYPHON, gpu=GpuTarget(1, min_power_w=150.0, max_power_w=600.0))
    limit = builtin("gpu-power-limit")
    assert render(limit, gpu, {"watts": "350"}).command == "sudo -n nvidia-smi -i 1 -pl 350"
    with pytest.raises(RenderError, match=r"^watts: 900 is above the GPU's max power limit 600 W$"):
        render(limit, gpu, {"watts": 900})
    with pytest.raises(RenderError, match=r"^watts: 100 is below the GPU's min power limit 150 W$"):
        render(limit, gpu, {"watts": "100"})
    with pytest.raises(RenderError, match=r"^watts: '350; reboot' is not a whole number$"):
        render(limit, gpu, {"watts": "350; reboot"})
    with pytest.raises(RenderError, match=r"^watts: a value is required$"):
        render(limit, gpu, {})
    unknown = Subject(node=TYPHON, gpu=GpuTarget(0))
    with pytest.raises(RenderError, match="was not read from the node"):
        render(limit, unknown, {"watts": 300})


def test_kill_uses_the_pids_read_and_refuses_without_them() -> None:
    kill = builtin("gpu-kill-processes")
    inv = render(kill, Subject(node=TYPHON, gpu=GpuTarget(0, pids=(4242, 977))), {})
    assert inv.command == "sudo -n kill 4242 977" and inv.danger == "destructive" and inv.confirm
    assert inv.target == "hydra-ai/gpu0"
    with pytest.raises(RenderError, match="nothing to kill"):
        render(kill, Subject(node=TYPHON, gpu=GpuTarget(0)), {})


@pytest.mark.parametrize(
    ("subject", "words"),
    [
        (Subject(node=ROOT, container="-rf"), "starts with '-'"),
        (Subject(node=ROOT, container="web\x1b]0;pwned\x07"), "control characters"),
        (Subject(node=ROOT), "acts on a container, and none was given"),
        (Subject(container="web"), "runs on a node, and none was given"),
    ],
)
def test_hostile_or_missing_subjects_are_refused(subject: Subject, words: str) -> None:
    with pytest.raises(RenderError, match=re.escape(words)):
        render(builtin("container-restart"), subject, {})


def test_compose_without_a_stack_dir_says_so() -> None:
    with pytest.raises(RenderError, match="stack_dir: no stack directory is configured"):
        render(builtin("compose-restart"), Subject(node=ROOT, container="web", project="p"), {})


def test_inputs_are_typed_and_unknown_ones_refused() -> None:
    truncate = builtin("logs-truncate")
    inv = render(truncate, Subject(node=ROOT), {"size_mb": "50"})
    assert inv.inputs == {"path": "/mnt/user/appdata", "size_mb": 50}
    assert inv.command == "find /mnt/user/appdata -type f -name '*.log' -size +50M -exec truncate -s 0 {} +"
    with pytest.raises(RenderError, match=r"^size_mb: 0 is below the minimum 1$"):
        render(truncate, Subject(node=ROOT), {"size_mb": 0})
    with pytest.raises(RenderError, match=r"^colour: not an input of logs-truncate"):
        render(truncate, Subject(node=ROOT), {"colour": "red"})
    with pytest.raises(RenderError, match="control characters"):
        render(truncate, Subject(node=ROOT), {"path": "/var/log\n/etc"})


def test_secrets_run_but_are_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    token = 'sk-it\'s a "secret" $(reboot)'
    monkeypatch.setenv("COCKPIT_TEST_TOKEN", token)
    curl = action(
        danger="disruptive",
        sudo=True,
        command="curl -s -H Authorization:\\ Bearer\\ ${env:COCKPIT_TEST_TOKEN} http://127.0.0.1:4000/health",
    )
    inv = render(curl, Subject(node=TYPHON), {})
    assert inv.secrets == (token,)
    assert shlex.split(inv.command)[5] == f"Authorization: Bearer {token}"
    assert token not in inv.display and "secret" not in inv.display and REDACTED in inv.display
    assert token not in repr(inv) and "secret" not in repr(inv)
    monkeypatch.delenv("COCKPIT_TEST_TOKEN")
    with pytest.raises(RenderError, match=r"environment variable COCKPIT_TEST_TOKEN is not set"):
        render(curl, Subject(node=TYPHON), {})


# -- quoting, checked by a real shell -------------------------------------------------------------
PRINT_ALL = ActionConfig.model_validate(
    {
        "name": "argv",
        "scope": "service",
        "danger": "safe",
        "inputs": [{"name": "text", "type": "str"}],
        "command": "printf '%s\\0' {service} {unit} {container} {input.text} {node}",
    }
)


@QUICK
@given(container=texts, unit=texts, service=texts, text=texts)
def test_no_value_breaks_out_of_quoting_in_sh(container: str, unit: str, service: str, text: str) -> None:
    subject = Subject(node=TYPHON, container=container, unit=unit, service=service)
    try:
        inv = render(PRINT_ALL, subject, {"text": text})
    except RenderError:
        names_bad = _rejected(container) or _rejected(unit) or _rejected(service)
        assert names_bad or re.search(r"[\x00-\x1f\x7f-\x9f]", text)
        return
    assert sh_argv(inv.command) == [service, unit, container, text, "hydra-ai"]


@QUICK
@given(container=texts, text=texts)
def test_quoting_survives_the_sudo_sh_c_wrapper(container: str, text: str) -> None:
    """A compound command under sudo is quoted twice (``sudo -n sh -c '...'``): still exact."""
    compound = ActionConfig.model_validate(
        {
            "name": "wrapped",
            "scope": "container",
            "danger": "disruptive",
            "sudo": True,
            "inputs": [{"name": "text", "type": "str"}],
            "command": "true && printf '%s\\0' {container} {input.text}",
        }
    )
    try:
        inv = render(compound, Subject(node=TYPHON, container=container), {"text": text})
    except RenderError:
        assert _rejected(container) or re.search(r"[\x00-\x1f\x7f-\x9f]", text)
        return
    assert inv.command.startswith("sudo -n sh -c ")
    assert sh_argv(inv.command.removeprefix("sudo -n ")) == [container, text]


@QUICK
@given(text=texts)
def test_local_argv_is_the_values_without_any_shell(text: str) -> None:
    echo = ActionConfig.model_validate(
        {
            "name": "local",
            "scope": "cluster",
            "run_on": "local",
            "danger": "safe",
            "inputs": [{"name": "text", "type": "str"}],
            "command": "printf %s {input.text} x{input.text}y",
        }
    )
    try:
        inv = render(echo, Subject(), {"text": text})
    except RenderError:
        assert re.search(r"[\x00-\x1f\x7f-\x9f]", text)
        return
    assert inv.argv == ("printf", "%s", text, f"x{text}y")


TOKENS = [*NASTY, "{container}", "{input.x}", "${env:K}", "<<", "\n", "{}", "{nope}"]


@QUICK
@given(template=st.lists(st.sampled_from(TOKENS), max_size=30).map("".join))
def test_any_template_parses_losslessly_or_says_why_in_one_line(template: str) -> None:
    try:
        parsed = parse(template)
    except TemplateError as exc:
        assert "\n" not in str(exc)
        return
    rebuilt = "".join(
        p if isinstance(p, str) else f"{{{p.name}}}" if isinstance(p, Placeholder) else str(p.ref)
        for p in parsed.parts
    )
    assert rebuilt == template


def test_a_menu_offers_only_what_the_subject_can_fill() -> None:
    from cockpit.actions.render import applies

    pod = Subject(pod="trainer-0", namespace="ml")
    assert applies(builtin("pod-delete"), pod)
    assert not applies(builtin("deployment-scale"), pod)  # a StatefulSet's pod: no Deployment
    assert applies(builtin("deployment-scale"), Subject(pod="vllm-1", namespace="ml", deployment="vllm"))
    assert not applies(builtin("compose-restart"), Subject(node=ROOT, container="web"))
    assert applies(builtin("container-restart"), Subject(node=ROOT, container="web"))
