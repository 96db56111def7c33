"""`NetworkPolicies` built alone from its slice (components/plan/isolation.py) under the mock
runtime: the policies it creates, where, and what they select."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from components.network_policies import NetworkPolicies, NetworkPoliciesArgs
from components.plan.isolation import NetworkPoliciesPlan, WarmupEgressPlan, plan_network_policies
from components.spec import load_platform
from tests.conftest import BASE_PLATFORM
from tools.mockrun import record

pytestmark = pytest.mark.unit

COMPONENT = "llmserving:guardrails:NetworkPolicies"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def spec_of(**changes):
    return load_platform({**copy.deepcopy(BASE_PLATFORM), **changes}, "test", capacity_gate=False)


def built(plan: NetworkPoliciesPlan):
    recording = record(lambda: NetworkPolicies("network-policies", NetworkPoliciesArgs(plan)))
    policies = {r["name"]: r for r in recording.resources if r["type"] == POLICY}
    (component,) = [r for r in recording.resources if r["type"] == COMPONENT]
    return component, policies


def test_the_plan_holds_what_the_policies_read():
    plan = plan_network_policies(spec_of())
    assert plan.serving_namespace == "llm-serving"
    assert plan.namespaces == ("llm-serving",)
    assert [pool.name for pool in plan.pools] == ["chat", "batch"]
    assert (plan.gateway_name, plan.gateway_namespace) == ("llm-gateway", "llm-gateway")
    assert plan.prometheus_namespace == "monitoring"
    assert plan.kourier_ingress  # the batch pool is a Knative pool, on the Knative we install
    assert plan.warmup_egress == WarmupEgressPlan(mirror_port=443, pod_identity_agent=False)


def test_a_hub_mirror_opens_its_endpoint_port():
    mirror = {"kind": "hub-mirror", "endpoint": "https://hf.example.internal:8443"}
    assert plan_network_policies(spec_of(modelMirror=mirror)).warmup_egress == WarmupEgressPlan(8443, False)


def test_the_component_alone_creates_every_policy_in_its_namespace():
    component, policies = built(plan_network_policies(spec_of()))
    assert component["outputs"] == {"namespaces": ["llm-serving"]}
    assert set(policies) == {
        "llm-serving-default-deny",
        "llm-serving-dns-egress",
        "llm-serving-chat-ingress",
        "llm-serving-batch-ingress",
        "knative-serving-kourier-gateway-ingress",
        "knative-serving-activator-ingress",
        "llm-gateway-edge-proxy-ingress",
        "llm-serving-model-warmup-egress",
    }
    assert all(policy["parent"] == component["urn"] for policy in policies.values())
    namespaces = {name: policy["inputs"]["metadata"]["namespace"] for name, policy in policies.items()}
    assert namespaces["knative-serving-kourier-gateway-ingress"] == "knative-serving"
    assert namespaces["knative-serving-activator-ingress"] == "knative-serving"
    assert namespaces["llm-gateway-edge-proxy-ingress"] == "llm-gateway"
    assert {ns for name, ns in namespaces.items() if name.startswith("llm-serving")} == {"llm-serving"}
    deny = policies["llm-serving-default-deny"]["inputs"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_pool_ingress_selects_the_pools_pods_and_their_fronts():
    _, policies = built(plan_network_policies(spec_of()))
    chat = policies["llm-serving-chat-ingress"]["inputs"]["spec"]
    assert chat["podSelector"] == {
        "matchLabels": {"llmserving.io/pool": "chat", "app.kubernetes.io/component": "serving-pool"}
    }
    (edge, scrape) = chat["ingress"]
    assert edge["from"][0]["podSelector"]["matchLabels"] == {
        "gateway.envoyproxy.io/owning-gateway-name": "llm-gateway",
        "gateway.envoyproxy.io/owning-gateway-namespace": "llm-gateway",
    }
    # Prometheus's own pods, not every pod of its namespace.
    assert scrape["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "prometheus",
                    "app.kubernetes.io/managed-by": "prometheus-operator",
                }
            },
        }
    ]
    batch = policies["llm-serving-batch-ingress"]["inputs"]["spec"]
    assert [rule["ports"][0]["port"] for rule in batch["ingress"]] == [8012, 9090, 8080]


def test_warmup_egress_reaches_the_mirror_and_for_s3_the_pod_identity_agent():
    plan = dataclasses.replace(plan_network_policies(spec_of()), warmup_egress=WarmupEgressPlan(443, True))
    _, policies = built(plan)
    egress = policies["llm-serving-model-warmup-egress"]["inputs"]["spec"]
    assert egress["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/name": "model-warmup", "app.kubernetes.io/component": "model-cache"}
    }
    assert [(rule["to"][0]["ipBlock"]["cidr"], rule["ports"][0]["port"]) for rule in egress["egress"]] == [
        ("0.0.0.0/0", 443),
        ("169.254.170.23/32", 80),
    ]


def test_without_warmup_jobs_or_our_knative_those_policies_are_left_out():
    plan = dataclasses.replace(plan_network_policies(spec_of()), kourier_ingress=False, warmup_egress=None)
    _, policies = built(plan)
    assert "knative-serving-kourier-gateway-ingress" not in policies
    assert "llm-serving-model-warmup-egress" not in policies
