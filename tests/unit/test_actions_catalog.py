"""The catalog: built-ins from the runbooks, config entries merged over them, read-only as a gate."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from cockpit.actions.catalog import BUILTINS, ActionConflict, Catalog, ReadOnlyError, merge
from cockpit.actions.render import NodeTarget, Subject
from cockpit.actions.runner import run, run_bulk
from cockpit.actions.schema import ActionConfig

NODE = Subject(node=NodeTarget("gpu-a", "127.0.0.1", "root"))
CATALOG_SOURCE = Path(__file__).resolve().parents[2] / "cockpit" / "actions" / "catalog.py"


def entry(**fields: Any) -> ActionConfig:
    return ActionConfig.model_validate(
        {"scope": "container", "danger": "disruptive", "command": "true", **fields}
    )


def test_builtins_cover_the_issue_and_each_cites_its_runbook() -> None:
    names = {a.name for a in BUILTINS}
    assert {
        "unit-restart", "unit-stop", "unit-start", "unit-logs", "container-restart", "container-stop",
        "container-start", "container-logs", "compose-restart", "gpu-power-limit", "gpu-kill-processes",
        "docker-system-prune", "docker-image-prune", "docker-builder-prune", "logs-truncate",
        "drop-caches", "node-reboot",
    } <= names  # fmt: skip
    source = CATALOG_SOURCE.read_text()
    for action in BUILTINS:
        before = source[: source.index(f'name="{action.name}"')].rsplit("_action(", 1)[0]
        lines = before.rstrip().split("\n")
        comments = []
        while lines and lines[-1].strip().startswith("#"):
            comments.append(lines.pop().strip())
        assert re.search(r'# 00[0-4] "', "\n".join(comments)), f"{action.name} cites no runbook section"
    assert len(merge([])) == len(BUILTINS), "no built-in collides with another"
    for action in BUILTINS:
        if "logs" in action.name and action.name not in ("logs-truncate", "pod-logs-previous"):
            assert action.timeout is None and action.danger == "safe", "following logs runs until cancelled"


def test_a_new_action_is_added() -> None:
    mine = entry(name="restart-all", key="A", command="docker restart $(docker ps -q)")
    merged = merge([mine])
    assert merged[-1] is mine and len(merged) == len(BUILTINS) + 1


def test_duplicate_key_in_a_scope_is_an_error_naming_both() -> None:
    with pytest.raises(ActionConflict) as info:
        merge([entry(name="bounce", key="r")])
    assert info.value.loc == ("actions", 0, "key")
    assert info.value.message == (
        "key 'r' in scope container is already used by built-in container-restart "
        "(set override: true to replace it)"
    )
    merge([entry(name="bounce", key="r", scope="node")])  # the same key in another scope is fine


def test_duplicate_name_is_an_error() -> None:
    with pytest.raises(ActionConflict, match="name 'container-restart' is already used by built-in"):
        merge([entry(name="container-restart")])


def test_override_replaces_the_builtin() -> None:
    mine = entry(name="container-restart", key="r", override=True, command="docker restart -t 30 {container}")
    merged = merge([mine])
    assert [a for a in merged if a.name == "container-restart"] == [mine]
    by_key = merge([entry(name="bounce", key="r", override=True)])
    assert "container-restart" not in {a.name for a in by_key}


def test_override_of_nothing_and_clashes_between_config_entries_are_errors() -> None:
    with pytest.raises(
        ActionConflict, match="override: true but no built-in action is named 'nothing'"
    ) as info:
        merge([entry(name="nothing", override=True)])
    assert info.value.loc == ("actions", 0, "override")
    with pytest.raises(ActionConflict) as clash:
        merge([entry(name="one", key="x"), entry(name="two", key="x", override=True)])
    assert clash.value.loc == ("actions", 1, "key")
    assert "already used by actions[0] (one)" in clash.value.message


def test_read_only_hides_and_refuses_every_action_that_is_not_safe() -> None:
    catalog = Catalog.from_config(read_only=True)
    assert {a.danger for a in catalog.visible()} == {"safe"}
    assert {a.name for a in catalog.visible("unit")} == {"unit-logs"}
    assert catalog.by_key("unit", "r") is None and catalog.by_key("unit", "l") is not None
    with pytest.raises(ReadOnlyError, match=r"read-only mode: 'node-reboot' is destructive and will not run"):
        catalog.get("node-reboot")
    with pytest.raises(ReadOnlyError):
        catalog.render(next(a for a in BUILTINS if a.name == "drop-caches"), NODE)
    assert catalog.render("node-ping", NODE).argv == ("ping", "-c", "3", "127.0.0.1")
    writable = Catalog.from_config()
    assert writable.by_key("unit", "r") is not None
    assert writable.render("node-reboot", NODE).command == "systemctl reboot"


async def test_the_runner_refuses_too_when_read_only() -> None:
    """Past the catalog (an invocation built some other way), the runner is the second gate."""
    inv = Catalog.from_config().render("node-reboot", NODE)
    with pytest.raises(ReadOnlyError):
        await run(inv, None, lambda *_: None, audit=None, read_only=True)
    with pytest.raises(ReadOnlyError):
        await run_bulk([inv], None, lambda *_: None, concurrency=1, audit=None, read_only=True)
    with pytest.raises(KeyError, match="no action named 'nope'"):
        Catalog.from_config().get("nope")
