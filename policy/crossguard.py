"""The pack's rules as the policy SDK's objects, for the Pulumi engine (`policy/__main__.py`).

The only module of the pack that imports Pulumi: the rules themselves are plain (policy/rule.py)
so that `python -m tools check --from` judges a render with no Pulumi package loaded. The
SDK hands `validate` its own ResourceValidationArgs/StackValidationArgs, which have every
attribute the rules read (pulumi-policy sdk/python/lib/pulumi_policy/policy.py).
"""

from __future__ import annotations

import pulumi_policy

from policy.rule import EnforcementLevel, Rule

_POLICY_CLASSES = {
    "resource": pulumi_policy.ResourceValidationPolicy,
    "stack": pulumi_policy.StackValidationPolicy,
}


def enforcement_level(level: EnforcementLevel) -> pulumi_policy.EnforcementLevel:
    return pulumi_policy.EnforcementLevel(level.value)


def policy(rule: Rule) -> pulumi_policy.Policy:
    schema = rule.config_schema
    config_schema = (
        pulumi_policy.PolicyConfigSchema(
            properties={key: dict(spec) for key, spec in schema.properties.items()},
            required=list(schema.required) if schema.required else None,
        )
        if schema is not None
        else None
    )
    policy_class = _POLICY_CLASSES[rule.scope]
    return policy_class(
        name=rule.name,
        description=rule.description,
        validate=rule.validate,
        enforcement_level=enforcement_level(rule.enforcement_level),
        config_schema=config_schema,
        remediation_steps=rule.remediation_steps,
    )


def policies(rules: list[Rule]) -> list[pulumi_policy.Policy]:
    return [policy(rule) for rule in rules]
