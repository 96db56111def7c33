"""Building rules: a check is a generator of messages; this turns it into a rule of the pack.

Each rule carries its description, default enforcement level, remediation text and, where
a threshold belongs to the user, a config schema whose `default` is the value the rule uses
when no policy config sets it (the engine fills the same defaults in).

Nothing here imports Pulumi: `python -m tools check --from` runs these rules over a render
with no Pulumi package loaded. `policy/crossguard.py` turns them into the policy SDK's
objects for the engine (`pulumi preview --policy-pack`). The argument types are protocols
named after the SDK classes they describe; the SDK's own objects satisfy them, and so do
the plain ones `tools/policy_gate.py` builds.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

# The root resource; its props, as stack policies see them, are the stack outputs.
STACK_TYPE = "pulumi:pulumi:Stack"


class EnforcementLevel(enum.StrEnum):
    """The engine's enforcement levels, by the names policy config files use
    (pulumi-policy sdk/python/lib/pulumi_policy/policy.py EnforcementLevel)."""

    ADVISORY = "advisory"
    MANDATORY = "mandatory"
    REMEDIATE = "remediate"
    DISABLED = "disabled"


@dataclass(frozen=True)
class PolicyConfigSchema:
    """A rule's config: JSON-schema `properties` (each with its `default`) and `required`."""

    properties: Mapping[str, Mapping[str, Any]]
    required: Sequence[str] | None = None


class PolicyResource(Protocol):
    """What a stack rule reads of each resource of the stack."""

    @property
    def resource_type(self) -> str: ...
    @property
    def props(self) -> Mapping[str, Any]: ...
    @property
    def urn(self) -> str: ...
    @property
    def name(self) -> str: ...


class ResourceValidationArgs(PolicyResource, Protocol):
    """What a resource rule reads of one resource."""

    @property
    def stack_tags(self) -> Mapping[str, str]: ...
    def get_config(self) -> Mapping[str, Any]: ...


class StackValidationArgs(Protocol):
    """What a stack rule reads of the whole stack."""

    @property
    def resources(self) -> Sequence[PolicyResource]: ...
    def get_config(self) -> Mapping[str, Any]: ...


ResourceCheck = Callable[[ResourceValidationArgs], Iterator[str]]
# A stack check yields (message, urn of the resource at fault, or None for the stack).
StackCheck = Callable[[StackValidationArgs], Iterator[tuple[str, str | None]]]
ReportViolation = Callable[..., None]  # (message, urn=None), as the SDK calls it


@dataclass(frozen=True)
class Rule:
    """One rule of the pack, with the attribute names of the SDK's policies."""

    name: str
    description: str
    validate: Callable[[Any, ReportViolation], None]
    enforcement_level: EnforcementLevel
    config_schema: PolicyConfigSchema | None
    remediation_steps: str
    scope: Literal["resource", "stack"]


def resource_rule(name: str, description: str, check: ResourceCheck, remediation: str, **options: Any) -> Rule:
    """A rule judging each resource alone; `options`: `level` (default mandatory) and `config`
    (a PolicyConfigSchema)."""
    validate = _reporting(check, with_urn=False)
    return Rule(**_policy_fields(name, description, validate, remediation, **options), scope="resource")


def stack_rule(name: str, description: str, check: StackCheck, remediation: str, **options: Any) -> Rule:
    """A rule judging the whole stack; `options` as for `resource_rule`."""
    validate = _reporting(check, with_urn=True)
    return Rule(**_policy_fields(name, description, validate, remediation, **options), scope="stack")


def _reporting(check: Callable[[Any], Iterator[Any]], with_urn: bool) -> Callable[[Any, ReportViolation], None]:
    def validate(args: Any, report_violation: ReportViolation) -> None:
        for item in check(args):
            message, urn = item if with_urn else (item, None)
            report_violation(message, urn)

    return validate


def _policy_fields(
    name: str,
    description: str,
    validate: Callable[[Any, ReportViolation], None],
    remediation: str,
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
    config: PolicyConfigSchema | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "validate": validate,
        "enforcement_level": level,
        "config_schema": config,
        "remediation_steps": remediation,
    }


def string_list_config(
    key: str, description: str, default: tuple[str, ...] = (), allowed: tuple[str, ...] | None = None
) -> PolicyConfigSchema:
    """A rule config of one list of strings (from `allowed`, when given)."""
    items: dict[str, Any] = {"type": "string", **({"enum": list(allowed)} if allowed else {})}
    return PolicyConfigSchema(
        properties={key: {"type": "array", "items": items, "default": list(default), "description": description}}
    )


def setting(args: ResourceValidationArgs | StackValidationArgs, schema: PolicyConfigSchema, key: str) -> Any:
    """The configured value of `key`, or its schema default."""
    config = args.get_config()
    return config[key] if key in config else schema.properties[key]["default"]


def stack_output(args: StackValidationArgs, key: str) -> Any:
    """A stack output, as stack policies see it (the root Stack's props), or None."""
    stack = next((r for r in args.resources if r.resource_type == STACK_TYPE), None)
    return stack.props.get(key) if stack is not None else None


def stack_name(urn: str) -> str:
    """The stack part of `urn:pulumi:<stack>::<project>::...`."""
    return urn.split("::", 1)[0].rpartition(":")[2]


# Stacks held to production rules unless a rule's `productionStacks` config says otherwise;
# a stack tagged environment=production (or prod) counts too.
PRODUCTION_STACKS = ("prod", "production")


def production_stacks_config(description: str) -> PolicyConfigSchema:
    return string_list_config(
        "productionStacks", f"{description} (a stack tagged environment=production counts too).", PRODUCTION_STACKS
    )


def in_production(args: ResourceValidationArgs, schema: PolicyConfigSchema) -> bool:
    """Whether the resource's stack is a production stack, by `schema`'s `productionStacks`."""
    tagged = str(args.stack_tags.get("environment", "")).lower() in PRODUCTION_STACKS
    return tagged or stack_name(args.urn) in setting(args, schema, "productionStacks")
