"""The engine's view of the pack: policy/crossguard.py turns every plain rule into the policy
SDK's object with the same name, level, config schema and remediation, and a rule run on the
SDK's own argument objects reports what `tools check` reports."""

from __future__ import annotations

import pulumi_policy
import pytest

from policy import crossguard
from policy.pack import POLICIES
from policy.rules import engine
from tests.policy_cases import violations, vllm_deployment

pytestmark = pytest.mark.unit


def test_every_rule_becomes_the_sdk_policy_of_its_scope():
    for rule, policy in zip(POLICIES, crossguard.policies(POLICIES), strict=True):
        expected = {"resource": pulumi_policy.ResourceValidationPolicy, "stack": pulumi_policy.StackValidationPolicy}
        assert isinstance(policy, expected[rule.scope]), rule.name
        assert (policy.name, policy.description, policy.remediation_steps) == (
            rule.name, rule.description, rule.remediation_steps,
        )  # fmt: skip
        assert policy.enforcement_level.value == rule.enforcement_level.value
        if rule.config_schema is None:
            assert policy.config_schema is None
        else:
            assert policy.config_schema.properties == {k: dict(v) for k, v in rule.config_schema.properties.items()}


def test_a_rule_judges_the_sdks_own_arguments_as_it_judges_a_render():
    resource = vllm_deployment("--port", "8000")  # no --max-model-len
    sdk_args = pulumi_policy.ResourceValidationArgs(
        resource["type"], resource["inputs"], resource["urn"], resource["name"], None, None, {}
    )
    reported: list[str] = []
    crossguard.policy(engine.CONTEXT_CAP_REQUIRED).validate(
        sdk_args, lambda message, urn=None: reported.append(message)
    )
    assert reported and reported == violations(engine.CONTEXT_CAP_REQUIRED.name, resource)
