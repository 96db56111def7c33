"""NetworkPolicies: default deny in every serving namespace, and allow rules whose selectors
and ports match the pods and ports they are meant for (components/network_policies.py)."""

from __future__ import annotations

import pytest

from components import vllm_args
from components.conventions import selects
from components.plan.isolation import serving_namespaces
from components.upstream import QUEUE_PROXY_METRICS_PORT, QUEUE_PROXY_PORT
from tests.conftest import SHIPPED_STACKS
from tests.test_edge import named, objects, of_kind, shipped
from tools.inventory import PodGroup, Port, build
from tools.netpol import ACTIVATOR, allowed, kourier_gateways, prometheus

pytestmark = pytest.mark.program

KNATIVE = "knative-serving"


def policies_in(found, namespace):
    return [p for p in of_kind(found, "NetworkPolicy") if p["metadata"]["namespace"] == namespace]


def pod_labels(found, pool):
    """The labels KServe puts on a pool's pods: the InferenceService's predictor labels."""
    return named(found, "InferenceService", pool)["spec"]["predictor"]["labels"]


def proxy_labels(gateway):
    return {
        "gateway.envoyproxy.io/owning-gateway-name": gateway["metadata"]["name"],
        "gateway.envoyproxy.io/owning-gateway-namespace": gateway["metadata"]["namespace"],
    }


def in_namespace(namespace):
    return {"matchLabels": {"kubernetes.io/metadata.name": namespace}}


# The labels prometheus-operator gives its Prometheus pods (not the rest of their namespace).
PROMETHEUS_PODS = {"app.kubernetes.io/name": "prometheus", "app.kubernetes.io/managed-by": "prometheus-operator"}


def prometheus_in(namespace):
    return {"namespaceSelector": in_namespace(namespace), "podSelector": {"matchLabels": PROMETHEUS_PODS}}


def rules_for(policy, port):
    return [rule for rule in policy["spec"]["ingress"] if {"protocol": "TCP", "port": port} in rule.get("ports", [])]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_serving_namespace_denies_ingress_and_egress_by_default(stack):
    spec, found = shipped(stack)
    for namespace in serving_namespaces(spec):
        # Every pod selected, no allow rule: only other policies' rules let anything through.
        deny = [p for p in policies_in(found, namespace) if set(p["spec"]) == {"podSelector", "policyTypes"}]
        assert [p["spec"]["podSelector"] for p in deny] == [{}], namespace
        assert [p["spec"]["policyTypes"] for p in deny] == [["Ingress", "Egress"]], namespace


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_egress_from_the_serving_namespace_goes_only_to_cluster_dns(stack):
    spec, found = shipped(stack)
    # The warm-up Jobs' way out to the model mirror is theirs alone (tests/test_supply_chain.py).
    serving = [p for p in policies_in(found, spec.namespaces.serving) if p["metadata"]["name"] != "model-warmup-egress"]
    egress = [rule for p in serving for rule in p["spec"].get("egress", [])]
    assert egress == [
        {
            "to": [
                {
                    "namespaceSelector": in_namespace("kube-system"),
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }
    ]


def test_a_standard_pool_admits_the_edge_proxies_and_prometheus_on_the_vllm_port(platform):
    found = objects(platform)
    policy = named(found, "NetworkPolicy", "chat-ingress")
    assert selects(policy["spec"]["podSelector"], pod_labels(found, "chat"))
    assert not selects(policy["spec"]["podSelector"], pod_labels(found, "batch"))
    runtime_port = named(found, "ServingRuntime", "chat-vllm")["spec"]["containers"][0]["ports"][0]["containerPort"]
    assert runtime_port == vllm_args.HTTP_PORT
    edge = named(found, "Gateway", "llm-gateway")
    sources = [peer for rule in rules_for(policy, runtime_port) for peer in rule["from"]]
    assert sources == [
        {"namespaceSelector": in_namespace("llm-gateway"), "podSelector": {"matchLabels": proxy_labels(edge)}},
        prometheus_in("monitoring"),
    ]
    assert len(policy["spec"]["ingress"]) == 2


def test_a_knative_pool_admits_kourier_and_the_activator_on_the_queue_proxy_port(platform):
    found = objects(platform)
    policy = named(found, "NetworkPolicy", "batch-ingress")
    assert selects(policy["spec"]["podSelector"], pod_labels(found, "batch"))
    (front,) = rules_for(policy, QUEUE_PROXY_PORT)
    # Upstream labels: net-kourier's gateway pods and Knative Serving's activator.
    assert front["from"] == [
        {"namespaceSelector": in_namespace(KNATIVE), "podSelector": {"matchLabels": {"app": "3scale-kourier-gateway"}}},
        {"namespaceSelector": in_namespace(KNATIVE), "podSelector": {"matchLabels": {"app": "activator"}}},
    ]
    (autoscaler,) = rules_for(policy, QUEUE_PROXY_METRICS_PORT)
    assert autoscaler["from"] == [{"namespaceSelector": in_namespace(KNATIVE)}]
    (scrape,) = rules_for(policy, vllm_args.HTTP_PORT)
    assert scrape["from"] == [prometheus_in("monitoring")]


def test_prometheus_namespace_follows_the_monitoring_spec(platform):
    platform["monitoring"] = {"namespace": "observability"}
    policy = named(objects(platform), "NetworkPolicy", "chat-ingress")
    prometheus = [prometheus_in("observability")]
    (scrape,) = [rule for rule in policy["spec"]["ingress"] if rule["from"] == prometheus]
    assert scrape["ports"] == [{"protocol": "TCP", "port": vllm_args.HTTP_PORT}]


def test_kourier_admits_only_the_edge_knative_and_prometheus(platform):
    found = objects(platform)
    policy = named(found, "NetworkPolicy", "kourier-gateway-ingress")
    assert policy["metadata"]["namespace"] == KNATIVE
    # Upstream labels and ports: net-kourier's gateway pods, cluster-local listener, metrics.
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app": "3scale-kourier-gateway"}}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    edge = named(found, "Gateway", "llm-gateway")
    assert policy["spec"]["ingress"] == [
        {"from": [{"namespaceSelector": in_namespace("llm-gateway"), "podSelector": {"matchLabels": proxy_labels(edge)}}],
         "ports": [{"protocol": "TCP", "port": 8081}]},
        {"from": [{"namespaceSelector": in_namespace(KNATIVE)}]},
        {"from": [prometheus_in("monitoring")], "ports": [{"protocol": "TCP", "port": 9000}]},
    ]  # fmt: skip


def test_the_activator_admits_only_knative_and_prometheus(platform):
    policy = named(objects(platform), "NetworkPolicy", "activator-ingress")
    assert policy["metadata"]["namespace"] == KNATIVE
    # Upstream label and metrics port: knative/serving config/core/deployments/activator.yaml.
    assert policy["spec"]["podSelector"] == {"matchLabels": {"app": "activator"}}
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["ingress"] == [
        {"from": [{"namespaceSelector": in_namespace(KNATIVE)}]},
        {"from": [prometheus_in("monitoring")], "ports": [{"protocol": "TCP", "port": 9090}]},
    ]


def test_the_edge_proxies_open_only_the_listener_port_to_clients(platform):
    found = objects(platform)
    policy = named(found, "NetworkPolicy", "edge-proxy-ingress")
    edge = named(found, "Gateway", "llm-gateway")
    assert policy["metadata"]["namespace"] == "llm-gateway"
    assert policy["spec"]["podSelector"] == {"matchLabels": proxy_labels(edge)}
    # Envoy Gateway runs a listener port below 1024 at +10000 on the proxies; 19001 is its stats port.
    (listener,) = edge["spec"]["listeners"]
    assert policy["spec"]["ingress"] == [
        {"ports": [{"protocol": "TCP", "port": listener["port"] + 10000}]},
        {"from": [prometheus_in("monitoring")], "ports": [{"protocol": "TCP", "port": 19001}]},
    ]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_no_pod_but_the_fronts_reaches_a_serving_port(stack):
    """Issue 15 item 5: vLLM answers /invocations, /tokenize and /detokenize without its key, so
    only the gateway's proxies, Knative's activator and Kourier, and Prometheus's own pods may
    reach a pool's serving port; every other pod of the monitoring namespace may not."""
    spec, found = shipped(stack)
    inventory = build(found, [])
    policies = list(inventory.objects("NetworkPolicy"))
    grafana = PodGroup(
        "grafana", spec.monitoring.namespace, {"app.kubernetes.io/name": "grafana"}, (), {}, external=True
    )
    stranger = PodGroup("a pod", "default", {"app": "x"}, (), {}, external=True)
    for pool in spec.pools:
        target = next(p for p in inventory.pods if p.source.endswith(f"/{pool.name} predictor"))
        serving = Port(None, vllm_args.HTTP_PORT)
        assert allowed(inventory, policies, prometheus(spec.monitoring.namespace), target, serving)
        for outsider in (grafana, stranger):
            for port in (serving, Port(None, QUEUE_PROXY_PORT)):
                assert not allowed(inventory, policies, outsider, target, port), (pool.name, outsider.source)
        if pool.mode == "knative":
            assert allowed(inventory, policies, ACTIVATOR, target, Port(None, QUEUE_PROXY_PORT))
            for kourier in kourier_gateways(inventory):
                assert not allowed(inventory, policies, stranger, kourier, Port(None, 8081))
            assert not allowed(inventory, policies, stranger, ACTIVATOR, Port(None, 8012))


def test_the_clusters_own_kourier_is_left_to_its_owner(platform):
    platform["controlPlane"] = {"knative": {"enabled": False, "maxRevisionTimeoutSeconds": 1800}}
    assert not [p for p in of_kind(objects(platform), "NetworkPolicy") if p["metadata"]["namespace"] == KNATIVE]


def test_without_knative_pools_no_knative_rules(platform):
    platform["pools"] = platform["pools"][:1]
    found = objects(platform)
    names = sorted(p["metadata"]["name"] for p in of_kind(found, "NetworkPolicy"))
    assert names == ["chat-ingress", "default-deny", "dns-egress", "edge-proxy-ingress", "model-warmup-egress"]


def test_policies_carry_our_labels(platform):
    for policy in of_kind(objects(platform), "NetworkPolicy"):
        assert policy["metadata"]["labels"]["app.kubernetes.io/part-of"] == "private-llm-serving"


def test_a_local_cache_isolates_kserves_download_jobs(platform):
    platform["modelCache"] = {"kind": "local", "size": "100Gi"}
    found = objects(platform)
    local = {p["metadata"]["name"]: p["spec"] for p in policies_in(found, "kserve-localmodel-jobs")}
    assert set(local) == {"default-deny", "dns-egress", "model-download-egress"}
    assert local["model-download-egress"] == {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}],
    }
    # KServe's Jobs fill the cache, so no warm-up Job and no warm-up egress in the serving namespace.
    assert "model-warmup-egress" not in {p["metadata"]["name"] for p in policies_in(found, "llm-serving")}
