"""Building rules: a check is a generator of messages; this turns it into a CrossGuard policy.

Each rule carries its description, default enforcement level, remediation text and, where
a threshold belongs to the user, a `PolicyConfigSchema` whose `default` is the value the
rule uses when no policy config sets it (the engine fills the same defaults in).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

# The root resource; its props, as stack policies see them, are the stack outputs.
STACK_TYPE = "pulumi:pulumi:Stack"

ResourceCheck = Callable[[ResourceValidationArgs], Iterator[str]]
# A stack check yields (message, urn of the resource at fault, or None for the stack).
StackCheck = Callable[[StackValidationArgs], Iterator[tuple[str, str | None]]]


def resource_rule(
    name: str, description: str, check: ResourceCheck, remediation: str, **options: Any
) -> ResourceValidationPolicy:
    """A resource policy; `options`: `level` (default mandatory) and `config` (a PolicyConfigSchema)."""
    validate = _reporting(check, with_urn=False)
    return ResourceValidationPolicy(**_policy_fields(name, description, validate, remediation, **options))


def stack_rule(
    name: str, description: str, check: StackCheck, remediation: str, **options: Any
) -> StackValidationPolicy:
    """A stack policy; `options` as for `resource_rule`."""
    validate = _reporting(check, with_urn=True)
    return StackValidationPolicy(**_policy_fields(name, description, validate, remediation, **options))


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
