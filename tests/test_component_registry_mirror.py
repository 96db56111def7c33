"""`RegistryMirror` built alone from its plan slice, under the mock runtime, and
`plan_mirror` on a small spec."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from components import versions
from components.images import ECR_PULL_THROUGH
from components.plan.mirror import MirrorPlan, PullThroughRule, plan_mirror
from components.registry_mirror import IMPORT_ACTIONS, RegistryMirror, RegistryMirrorArgs
from components.spec import load_platform
from tests.conftest import BASE_PLATFORM
from tools.mockrun import Recording, record

pytestmark = pytest.mark.unit

COMPONENT_TYPE = "llmserving:supplychain:RegistryMirror"
RULE_TYPE = "aws:ecr/pullThroughCacheRule:PullThroughCacheRule"
POLICY_TYPE = "aws:iam/rolePolicy:RolePolicy"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
HOST = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
SECRET = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ecr-pullthroughcache"
ECR_MIRROR = {
    "kind": "ecr-pull-through",
    "accountId": ACCOUNT,
    "credentialArns": {"docker.io": f"{SECRET}/docker-hub", "ghcr.io": f"{SECRET}/github"},
    "copiedPrefixes": {"nvcr.io": "nvcr", "gcr.io": "gcr"},
    "nodeRoles": ["system-nodes"],
}


def plan_of(**platform: Any) -> MirrorPlan:
    config = copy.deepcopy(BASE_PLATFORM)
    config.update(platform)
    return plan_mirror(load_platform(config, "test", capacity_gate=False))


def ecr_plan() -> MirrorPlan:
    return plan_of(cluster={"kind": "eks", "name": "llm-test", "region": REGION}, registryMirror=ECR_MIRROR)


def build(plan: MirrorPlan, node_roles: list[str] | None = None) -> Recording:
    return record(lambda: RegistryMirror("registry-mirror", RegistryMirrorArgs(plan, node_roles=node_roles or [])))


def test_without_a_mirror_the_plan_creates_nothing():
    plan = plan_of()
    assert (plan.kind, plan.mirror.host, plan.pull_through) == ("none", None, None)


def test_the_plan_names_one_rule_per_cacheable_upstream_the_stack_pulls_from():
    plan = ecr_plan()
    assert plan.kind == "ecr-pull-through"
    assert plan.mirror.host == HOST
    cache = plan.pull_through
    assert cache is not None
    assert (cache.account_id, cache.region, cache.node_roles) == (ACCOUNT, REGION, ("system-nodes",))
    rules = {rule.registry: rule for rule in cache.rules}
    # nvcr.io (GPU Operator) and gcr.io (Knative) have no pull-through cache: copied instead.
    assert not {"nvcr.io", "gcr.io"} & set(rules)
    assert rules["docker.io"] == PullThroughRule(
        "docker.io", "docker-hub", "registry-1.docker.io", f"{SECRET}/docker-hub"
    )
    assert rules["ghcr.io"].credential_arn == f"{SECRET}/github"
    assert rules["registry.k8s.io"] == PullThroughRule("registry.k8s.io", "k8s", "registry.k8s.io")
    assert [rule.registry for rule in cache.rules] == sorted(rules)


def test_without_a_mirror_it_creates_nothing_and_maps_images_to_themselves():
    recording = record(lambda: _check_image_mapping(plan_of(), "docker.io/vllm/vllm-openai"))
    assert [r["type"] for r in recording.resources] == [COMPONENT_TYPE]
    assert recording.only(COMPONENT_TYPE)["outputs"] == {"kind": "none", "host": ""}


def _check_image_mapping(plan: MirrorPlan, repository: str) -> None:
    mirror = RegistryMirror("registry-mirror", RegistryMirrorArgs(plan))
    assert (mirror.kind, mirror.host) == (plan.kind, plan.mirror.host or "")
    assert mirror.image(versions.VLLM_IMAGE) == f"{repository}:{versions.VLLM_IMAGE.rsplit(':', 1)[1]}"


def test_an_ecr_mirror_maps_images_into_the_private_registry():
    record(lambda: _check_image_mapping(ecr_plan(), f"{HOST}/docker-hub/vllm/vllm-openai"))


def test_an_ecr_mirror_creates_its_rules_and_import_rights_for_every_node_role():
    plan = ecr_plan()
    assert plan.pull_through is not None
    recording = build(plan, node_roles=["gpu-nodes"])
    parent = recording.only(COMPONENT_TYPE)["urn"]
    rules = recording.of_type(RULE_TYPE)
    assert sorted(rules) == sorted(f"pull-through-{rule.ecr_prefix}" for rule in plan.pull_through.rules)
    docker_hub = rules["pull-through-docker-hub"]["inputs"]
    assert docker_hub == {
        "ecrRepositoryPrefix": "docker-hub",
        "upstreamRegistryUrl": ECR_PULL_THROUGH["docker.io"].url,
        "credentialArn": f"{SECRET}/docker-hub",
        "region": REGION,
    }
    assert "credentialArn" not in rules["pull-through-quay"]["inputs"]
    policies = recording.of_type(POLICY_TYPE)
    # The GPU nodes' roles first, then the spec's other node roles, in order.
    assert {name: p["inputs"]["role"] for name, p in policies.items()} == {
        "pull-through-import-0": "gpu-nodes",
        "pull-through-import-1": "system-nodes",
    }
    (statement,) = json.loads(policies["pull-through-import-0"]["inputs"]["policy"])["Statement"]
    assert statement["Action"] == IMPORT_ACTIONS
    assert statement["Resource"] == [
        f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{rule.ecr_prefix}/*" for rule in plan.pull_through.rules
    ]
    assert {r["parent"] for r in [*rules.values(), *policies.values()]} == {parent}
    assert recording.only(COMPONENT_TYPE)["outputs"] == {"kind": "ecr-pull-through", "host": HOST}
