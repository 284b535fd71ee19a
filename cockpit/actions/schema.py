"""The ``actions:`` entries of cluster.yaml, checked when the file is loaded, not when a key is pressed.

A mistake in an action (a placeholder its scope cannot fill, a value inside quotes, a destructive
action without confirmation) must stop the cockpit at start with ``file:line``, never surface as a
wrong command at 3 a.m. The built-in catalog is made of the same model, so it passes the same checks.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from cockpit.actions.template import TemplateError, parse
from cockpit.config import Name, Strict

Scope = Literal["cluster", "node", "gpu", "container", "unit", "service", "pod"]
Danger = Literal["safe", "disruptive", "destructive"]
GpuBound = Literal["gpu.min_power_limit", "gpu.max_power_limit"]
NODE_FIELDS = ("node", "host", "user")
SCOPE_FIELDS: dict[str, tuple[str, ...]] = {
    "cluster": (),
    "node": NODE_FIELDS,
    "gpu": (*NODE_FIELDS, "gpu", "pids"),
    "container": (*NODE_FIELDS, "container", "project", "stack_dir"),
    "unit": (*NODE_FIELDS, "unit"),
    "service": (*NODE_FIELDS, "service", "unit", "container"),
    "pod": (*NODE_FIELDS, "kubectl", "pod", "namespace", "deployment"),
}
"""What a subject of each scope can fill in; a cluster action run on nodes also gets the node's.
A pod's ``{kubectl}`` is kubectl with the ``kube:`` section's kubeconfig and context; its node is
``kube.via_node`` (empty when kubectl runs here)."""
NODE_BOUND: frozenset[str] = frozenset({"node", "gpu", "container", "unit", "service"})
"""Scopes whose subjects live on a node, so their actions need one whatever ``run_on`` says."""
KEY_RE = re.compile(r"^(?:(?:ctrl|shift|alt|meta)\+)*(?:[a-z0-9_]{1,24}|[A-Z])$")
INPUT_RE = re.compile(r"^[a-z_][a-z0-9_]{0,31}$")


def _bad(message: str) -> PydanticCustomError:
    return PydanticCustomError("bad_value", message)


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise _bad("a boolean is not a number")
    return value


def _key(value: str) -> str:
    if not KEY_RE.match(value):
        raise _bad(f"{value!r} is not a key (expected a key name such as r, R, f5 or ctrl+r)")
    return value


Number = Annotated[float, BeforeValidator(_not_bool)]
Key = Annotated[str, BeforeValidator(lambda v: _key(v) if isinstance(v, str) else v)]


class InputSpec(Strict):
    """A value the operator types before the action runs (``watts`` for a power limit)."""

    name: str
    type: Literal["int", "float", "str", "choice"] = "str"
    min: Number | GpuBound | None = None
    """A number, or ``gpu.min_power_limit`` (the GPU's own limit, read from the node)."""
    max: Number | GpuBound | None = None
    choices: list[str | int | float] | None = None
    default: str | int | float | None = None
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not INPUT_RE.match(value):
            raise _bad(f"{value!r} is not an input name (expected lower case letters, digits and '_')")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> InputSpec:
        numeric = self.type in ("int", "float")
        if (self.min is not None or self.max is not None) and not numeric:
            raise _bad(f"input {self.name}: min and max apply to int and float inputs only")
        if isinstance(self.min, float) and isinstance(self.max, float) and self.min > self.max:
            raise _bad(f"input {self.name}: min {self.min:g} is above max {self.max:g}")
        if self.type == "choice" and not self.choices:
            raise _bad(f"input {self.name}: a choice input needs choices (expected a list of values)")
        if self.type != "choice" and self.choices:
            raise _bad(f"input {self.name}: choices apply to type: choice only")
        if self.default is not None and self.type == "int" and isinstance(self.default, float):
            raise _bad(f"input {self.name}: default {self.default:g} is not a whole number")
        if isinstance(self.default, float) and not math.isfinite(self.default):
            raise _bad(f"input {self.name}: default must be a finite number")
        choices = [str(c) for c in self.choices or ()]
        if self.type == "choice" and self.default is not None and str(self.default) not in choices:
            raise _bad(f"input {self.name}: default {self.default!r} is not one of the choices")
        return self


class ActionConfig(Strict):
    """One action: what it acts on, the command it renders, where it runs and how dangerous it is.

    Field order matters: ``command`` is checked against ``scope``, ``run_on`` and ``inputs``, which
    pydantic validates first because they are declared first.
    """

    name: Name
    key: Key | None = None
    """Key that runs it on a selected row of its scope (unique within the scope)."""
    description: str = ""
    scope: Scope
    run_on: Literal["node", "local"] = "node"
    sudo: bool = False
    """Prefix ``sudo -n`` (never prompts) unless the node's SSH user is root."""
    danger: Danger
    inputs: list[InputSpec] = []
    command: str = Field(min_length=1, max_length=4096)
    confirm: bool | None = None
    """None: ask unless safe. Destructive actions always ask (with the target's name typed back)."""
    timeout: float | None = Field(300.0, gt=0, le=86400)
    """Seconds before the command is stopped; null for actions that follow until cancelled."""
    concurrency: int = Field(8, ge=1, le=1024)
    """At most this many nodes at once when run on several."""
    override: bool = False
    """Replace the built-in action with the same name or the same key in the same scope."""

    @field_validator("inputs")
    @classmethod
    def _unique_inputs(cls, value: list[InputSpec]) -> list[InputSpec]:
        seen: set[str] = set()
        for spec in value:
            if spec.name in seen:
                raise _bad(f"input {spec.name!r} is declared twice (expected unique input names)")
            seen.add(spec.name)
        return value

    @field_validator("command")
    @classmethod
    def _command(cls, value: str, info: ValidationInfo) -> str:
        data = info.data
        if "scope" not in data or "run_on" not in data or "inputs" not in data:
            return value  # their own errors are reported instead
        try:
            template = parse(value)
        except TemplateError as exc:
            raise _bad(str(exc)) from None
        scope, run_on = data["scope"], data["run_on"]
        offered = set(SCOPE_FIELDS[scope])
        if scope == "cluster" and run_on == "node":
            offered |= set(NODE_FIELDS)
        declared = {spec.name for spec in data["inputs"]}
        for placeholder in template.placeholders:
            wanted = placeholder.input_name
            if wanted is not None:
                if wanted not in declared:
                    raise _bad(f"{{input.{wanted}}} is not a declared input (expected one of inputs)")
            elif placeholder.name not in offered:
                names = ", ".join(f"{{{n}}}" for n in SCOPE_FIELDS[scope]) or "none"
                raise _bad(f"{{{placeholder.name}}} is not available in scope {scope} (available: {names})")
        if run_on == "local" and template.shell_syntax is not None:
            raise _bad(
                f"run_on: local runs without a shell, so {template.shell_syntax!r} would be passed as"
                " text (write the shell yourself: sh -c '...' sh {x})"
            )
        return value

    @model_validator(mode="after")
    def _confirmed(self) -> ActionConfig:
        if self.danger == "destructive" and self.confirm is False:
            raise _bad("a destructive action cannot skip confirmation (expected confirm: true or no confirm)")
        return self

    @property
    def needs_confirm(self) -> bool:
        return self.confirm if self.confirm is not None else self.danger != "safe"
