"""`check`'s policy gate: the policy pack's own rule objects, run over a render as the engine runs them.

Each resource of `resources.json` becomes the `ResourceValidationArgs` the engine would
build (type, name, URN, inputs as read-only props, as the SDK proxies them, numbers as
floats the way they cross gRPC); stack rules get every resource as a `PolicyResource`
with its outputs as props, as the engine gives them (a component's are what it registered
with `register_outputs`, a Kubernetes object's its inputs), plus the root
`pulumi:pulumi:Stack` whose props are the stack outputs (`outputs.json`).
The policy config file has the format of `pulumi preview --policy-pack-config`, and is
reconciled as the engine does: schema defaults, then `all`, then each rule's own entry.
"""

from __future__ import annotations

import json
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from policy.pack import PACK_ENFORCEMENT_LEVEL, POLICIES
from policy.rule import STACK_TYPE, EnforcementLevel, Rule, stack_name
from tools.render import Rendered
from tools.schemas import describe_resource
from tools.stackfile import InputError

ALL = "all"  # the config key that sets every rule's enforcement level
_LEVELS = {level.value: level for level in EnforcementLevel}
_BLOCKING = {EnforcementLevel.MANDATORY, EnforcementLevel.REMEDIATE}


@dataclass(frozen=True)
class RuleConfig:
    level: EnforcementLevel
    properties: dict[str, Any]


@dataclass(frozen=True)
class Violation:
    rule: str
    resource: str
    message: str
    level: EnforcementLevel

    @property
    def blocking(self) -> bool:
        return self.level in _BLOCKING

    def line(self) -> str:
        suffix = "" if self.blocking else f" ({self.level.value})"
        return f"{self.rule} {self.resource}: {self.message}{suffix}"


# --- policy config --------------------------------------------------------------------


def read_policy_config(path: Path | None) -> dict[str, Any]:
    """The raw JSON of a `--policy-pack-config` file ({} without one); InputError when unreadable."""
    if path is None:
        return {}
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8") or "{}")
    except OSError as error:
        raise InputError(f"{path}: cannot read the policy config: {error.strerror}") from None
    except ValueError as error:
        raise InputError(f"{path}: the policy config is not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: the policy config is a JSON object keyed by rule name (or 'all')")
    return raw


def reconcile(
    raw: Mapping[str, Any], policies: list[Rule] = POLICIES, source: str = "policy config"
) -> dict[str, RuleConfig]:
    """Each rule's enforcement level and properties after defaults, `all` and its own entry."""
    known = {policy.name for policy in policies}
    unknown = sorted(set(raw) - known - {ALL})
    if unknown:
        raise InputError(f"{source}: no rule named {', '.join(unknown)}; rules: {', '.join(sorted(known))}")
    all_level, _ = _entry(raw.get(ALL), ALL, source)
    result = {}
    for policy in policies:
        level, given = _entry(raw.get(policy.name), policy.name, source)
        properties = {**_schema_defaults(policy), **given}
        _validate_properties(policy, properties, source)
        default_level = policy.enforcement_level or PACK_ENFORCEMENT_LEVEL
        result[policy.name] = RuleConfig(level or all_level or default_level, properties)
    return result


def _entry(value: Any, name: str, source: str) -> tuple[EnforcementLevel | None, dict[str, Any]]:
    if value is None:
        return None, {}
    if isinstance(value, str):
        return _level(value, name, source), {}
    if not isinstance(value, dict):
        raise InputError(f"{source}: {name}: must be an enforcement level or an object")
    properties = {key: item for key, item in value.items() if key != "enforcementLevel"}
    level = value.get("enforcementLevel")
    return (_level(level, name, source) if level is not None else None), properties


def _level(value: Any, name: str, source: str) -> EnforcementLevel:
    if value not in _LEVELS:
        raise InputError(f"{source}: {name}: '{value}' is not an enforcement level; allowed: {', '.join(_LEVELS)}")
    return _LEVELS[value]


def _schema_defaults(policy: Rule) -> dict[str, Any]:
    schema = policy.config_schema
    properties = schema.properties if schema else {}
    return {key: spec["default"] for key, spec in properties.items() if "default" in spec}


def _validate_properties(policy: Rule, properties: dict[str, Any], source: str) -> None:
    schema = policy.config_schema
    if schema is None:
        return
    json_schema = {"type": "object", "properties": schema.properties, "required": list(schema.required or [])}
    errors = sorted(jsonschema.Draft7Validator(json_schema).iter_errors(properties), key=str)
    if errors:
        raise InputError(f"{source}: {policy.name}: " + "; ".join(error.message for error in errors))


# --- running the rules ----------------------------------------------------------------


def _as_engine_sees(value: Any) -> Any:
    """Properties cross gRPC as protobuf Struct values, every number a float, and the SDK
    hands them to rules read-only (pulumi_policy/proxy.py): mappings and sequences, no dicts
    or lists to change."""
    if isinstance(value, dict):
        return types.MappingProxyType({key: _as_engine_sees(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_as_engine_sees(item) for item in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


@dataclass(frozen=True)
class _Resource:
    """One resource as a rule sees it (policy.rule's ResourceValidationArgs and PolicyResource)."""

    urn: str
    resource_type: str
    name: str
    parent: str | None
    props: Mapping[str, Any]  # engine-shaped, read-only
    description: str
    config: Mapping[str, Any] = field(default_factory=dict)
    # A render carries no stack tags: production is known by the stack's name alone.
    stack_tags: Mapping[str, str] = field(default_factory=dict)

    def get_config(self) -> Mapping[str, Any]:
        return self.config


@dataclass(frozen=True)
class _Stack:
    """The whole stack as a stack rule sees it (policy.rule's StackValidationArgs)."""

    resources: Sequence[_Resource]
    config: Mapping[str, Any]

    def get_config(self) -> Mapping[str, Any]:
        return self.config


def _resources(rendered: Rendered, props: str = "inputs") -> list[_Resource]:
    """Every resource with its `inputs`, or its `outputs` where it recorded them (components)."""
    return [
        _Resource(
            r["urn"],
            r["type"],
            r["name"],
            r.get("parent"),
            _as_engine_sees(r.get(props, r["inputs"])),
            _describe(r["type"], r["name"], r["inputs"]),
        )  # fmt: skip
        for r in rendered.resources
    ]


def _stack_resource(rendered: Rendered) -> _Resource:
    """The root stack as stack rules see it: its props are the stack outputs."""
    stack_urn, stack = _stack_urn(rendered.resources[0]["urn"]) if rendered.resources else ("", "")
    outputs = _as_engine_sees(rendered.outputs)
    return _Resource(stack_urn, STACK_TYPE, stack_urn.rpartition("::")[2], None, outputs, f"stack {stack}")


def _stack_urn(any_urn: str) -> tuple[str, str]:
    stack = stack_name(any_urn)
    project = any_urn.split("::")[1]
    return f"urn:pulumi:{stack}::{project}::{STACK_TYPE}::{project}-{stack}", stack


def _describe(resource_type: str, name: str, inputs: Any) -> str:
    is_object = isinstance(inputs, dict) and "kind" in inputs and "apiVersion" in inputs
    if resource_type.startswith("kubernetes:") and is_object:
        return describe_resource(inputs)
    return f"{resource_type} {name}"


def _collect(
    policy: Rule, args: Any, default_resource: str, by_urn: Mapping[str, str], level: EnforcementLevel
) -> list[Violation]:
    found: list[Violation] = []

    def report_violation(message: str, urn: str | None = None) -> None:
        found.append(Violation(policy.name, by_urn.get(urn or "", default_resource), message, level))

    policy.validate(args, report_violation)
    return found


def violations(rendered: Rendered, config: Mapping[str, RuleConfig] | None = None) -> list[Violation]:
    """Every violation of every enabled rule, in pack order, then by resource."""
    # `check` asks for the blocking and the advisory lines of the same render in turn.
    if _last and _last[0] is rendered and _last[1] is config:
        return _last[2]
    found = _violations(rendered, config or reconcile({}))
    _last[:] = [rendered, config, found]
    return found


_last: list[Any] = []  # [rendered, config, violations] of the latest run; holds them, so `is` stays meaningful


def _violations(rendered: Rendered, config: Mapping[str, RuleConfig]) -> list[Violation]:
    resources, stack = _resources(rendered), _stack_resource(rendered)
    stack_view = [*_resources(rendered, "outputs"), stack]
    by_urn = {r.urn: r.description for r in [*resources, stack]}
    found: list[Violation] = []
    for policy in POLICIES:
        rule = config[policy.name]
        if rule.level == EnforcementLevel.DISABLED:
            continue
        if policy.scope == "resource":
            for r in resources:
                args = _Resource(r.urn, r.resource_type, r.name, r.parent, r.props, r.description, rule.properties)
                found += _collect(policy, args, r.description, by_urn, rule.level)
        else:
            found += _collect(policy, _Stack(stack_view, rule.properties), stack.description, by_urn, rule.level)
    order = {policy.name: index for index, policy in enumerate(POLICIES)}
    return sorted(set(found), key=lambda v: (order[v.rule], v.resource, v.message))


def findings(rendered: Rendered, config: Mapping[str, RuleConfig] | None = None) -> list[str]:
    """Lines of the violations that fail the check (mandatory, or remediate as the engine treats it)."""
    return [v.line() for v in violations(rendered, config) if v.blocking]


def advisories(rendered: Rendered, config: Mapping[str, RuleConfig] | None = None) -> list[str]:
    """Lines of advisory violations: printed, exit code unaffected."""
    return [v.line() for v in violations(rendered, config) if not v.blocking]
