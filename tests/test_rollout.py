"""components/rollout.py: each Standard pool's Deployment strategy from what its node pool holds."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components.rollout import IN_PLACE, SURGE, rollout_for, rollout_problems
from components.spec import load_platform
from components.spec.errors import SpecError
from tests.conftest import BASE_PLATFORM

pytestmark = pytest.mark.unit


def spec_of(node_pool: dict[str, Any], chat_replicas: dict[str, int], batch_replicas: dict[str, int] | None = None):
    config = copy.deepcopy(BASE_PLATFORM)
    config["cluster"] = {"kind": "eks", "name": "test", "region": "us-east-1"}
    config["nodePools"] = [{"name": "gpu-h100", **node_pool}]
    config["pools"][0]["replicas"] = chat_replicas
    config["pools"][1]["replicas"] = batch_replicas or {"min": 0, "max": 1}
    return load_platform(config, "test", capacity_gate=False)


def chat(spec):
    return spec.pools[0]


def test_a_node_pool_with_room_for_one_more_pod_surges():
    # One 8-GPU node: chat 4 + batch 1 at most, 3 GPUs spare.
    spec = spec_of({"instanceType": "p5.48xlarge", "kind": "managed", "scaling": {"max": 1}}, {"min": 1, "max": 4})
    assert rollout_for(spec, chat(spec)) == SURGE
    assert SURGE.strategy() == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    assert list(rollout_problems(spec)) == []


def test_a_full_node_pool_replaces_in_place_when_chat_keeps_a_warm_replica():
    spec = spec_of({"instanceType": "p5.48xlarge", "kind": "managed", "scaling": {"max": 1}}, {"min": 2, "max": 7})
    assert rollout_for(spec, chat(spec)) == IN_PLACE
    assert IN_PLACE.strategy()["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    assert list(rollout_problems(spec)) == []


def test_a_chat_pool_that_no_rollout_can_keep_serving_is_rejected():
    spec = spec_of({"instanceType": "p5.48xlarge", "kind": "managed", "scaling": {"max": 1}}, {"min": 1, "max": 7})
    ((path, message),) = rollout_problems(spec)
    assert path == "pools[0].replicas.min"
    assert "0 GPUs spare" in message and "set replicas.min to 2 or more" in message


def test_the_capacity_gate_rejects_it_naming_the_stack_file():
    config = copy.deepcopy(BASE_PLATFORM)
    config["cluster"] = {"kind": "eks", "name": "test", "region": "us-east-1"}
    config["nodePools"][0].update(kind="managed", scaling={"max": 1})
    config["pools"][0]["replicas"] = {"min": 1, "max": 6}  # 6 + 2 batch on one 8-GPU node
    with pytest.raises(SpecError) as raised:
        load_platform(config, "stacks/Pulumi.x.yaml")
    assert "stacks/Pulumi.x.yaml" in str(raised.value) and "pools[0].replicas.min" in str(raised.value)


def test_existing_nodes_of_unknown_number_surge_and_are_never_rejected():
    spec = spec_of({"instanceType": "p5.48xlarge", "kind": "existing"}, {"min": 1, "max": 64})
    assert rollout_for(spec, chat(spec)) == SURGE
    assert list(rollout_problems(spec)) == []
