"""`Gateway` built alone from its slice (components/plan/edge.py) under the mock runtime: the
edge objects it creates, where, what each pool's route goes to, and its outputs."""

from __future__ import annotations

import copy

import pulumi
import pytest

from components.conventions import CLIENT_HEADER
from components.gateway import Gateway, GatewayArgs
from components.plan.edge import GatewayPlan, plan_gateway
from components.spec import load_platform
from components.upstream import EKS_SCHEME_ANNOTATION
from tests.conftest import BASE_PLATFORM
from tools.mockrun import record

pytestmark = pytest.mark.unit

COMPONENT = "llmserving:edge:Gateway"
EKS = {"kind": "eks", "name": "llm-test", "region": "eu-west-1"}
MIRROR = {
    "kind": "external",
    "host": "harbor.example.internal",
    "prefixes": {
        "docker.io": "dockerhub-proxy",
        "ghcr.io": "ghcr-proxy",
        "quay.io": "quay-proxy",
        "nvcr.io": "nvcr-proxy",
        "registry.k8s.io": "k8s-proxy",
        "gcr.io": "gcr-proxy",
    },
}


def spec_of(**changes):
    return load_platform({**copy.deepcopy(BASE_PLATFORM), **changes}, "test", capacity_gate=False)


def built(plan: GatewayPlan):
    """The component's own record and its objects by (kind, name), plus the stack outputs
    the build exported (the address and the DNS records, as program.py exports them)."""

    def build():
        gateway = Gateway("gateway", GatewayArgs(plan))
        pulumi.export("address", gateway.address)
        pulumi.export("dnsRecords", gateway.dns_records)

    recording = record(build)
    (component,) = [r for r in recording.resources if r["type"] == COMPONENT]
    found = {(r["type"].rsplit(":", 1)[-1], r["name"]): r for r in recording.resources if r["type"] != COMPONENT}
    return component, found, recording.outputs


def test_the_plan_holds_what_the_edge_reads():
    plan = plan_gateway(spec_of())
    assert (plan.gateway.name, plan.gateway.namespace) == ("llm-gateway", "llm-gateway")
    assert [pool.name for pool in plan.pools] == ["chat", "batch"]
    assert plan.serving_namespace == "llm-serving"
    assert plan.hostnames == {"chat": "chat.example.com", "batch": "batch.example.com"}
    # Only the batch pool is a Knative pool: Kourier picks its route by this host.
    assert plan.knative_route_hosts == {"batch": "batch-predictor.llm-serving.svc.cluster.local"}
    assert plan.has_knative_pools
    assert plan.chart_values == {}  # no mirror: the chart's own images
    service = plan.proxy["provider"]["kubernetes"]["envoyService"]
    assert service == {"name": "llm-gateway", "type": "ClusterIP"}  # nothing keeps a load balancer internal


def test_on_eks_the_plan_asks_for_an_internal_nlb():
    service = plan_gateway(spec_of(cluster=EKS)).proxy["provider"]["kubernetes"]["envoyService"]
    assert service["type"] == "LoadBalancer"
    assert service["annotations"][EKS_SCHEME_ANNOTATION] == "internal"


def test_a_mirror_reaches_the_chart_values_and_the_proxy_image():
    plan = plan_gateway(spec_of(registryMirror=MIRROR))
    assert plan.chart_values["global"]["images"]["envoyGateway"]["image"].startswith("harbor.example.internal/")
    container = plan.proxy["provider"]["kubernetes"]["envoyDeployment"]["container"]
    assert container["imageRepository"].startswith("harbor.example.internal/dockerhub-proxy/")


def test_the_component_alone_creates_the_edge_objects():
    component, found, _ = built(plan_gateway(spec_of()))
    assert component["outputs"] == {
        "hostnames": {"chat": "chat.example.com", "batch": "batch.example.com"},
        "tlsSecret": "llm-gateway/llm-gateway-tls",
    }
    kinds = {kind for kind, _ in found}
    assert {"Namespace", "GatewayClass", "EnvoyProxy", "Gateway", "SecurityPolicy", "HTTPRoute"} <= kinds
    assert {name for kind, name in found if kind == "HTTPRoute"} == {"chat-route", "batch-route"}
    assert {name for kind, name in found if kind == "BackendTrafficPolicy"} == {"chat-traffic", "batch-traffic"}
    # A grant for the Standard pool's predictor Service, one for Kourier; no issuer, no Certificate.
    assert {name for kind, name in found if kind == "ReferenceGrant"} == {"chat-grant", "kourier-grant"}
    assert "Certificate" not in kinds
    assert found[("Namespace", "llm-gateway-namespace")]["inputs"]["metadata"]["name"] == "llm-gateway"
    assert found[("Chart", "envoy-gateway")]["inputs"]["namespace"] == "llm-gateway"
    gateway = found[("Gateway", "llm-gateway")]["inputs"]
    assert gateway["metadata"]["namespace"] == "llm-gateway"
    assert gateway["spec"]["listeners"][0]["tls"]["certificateRefs"] == [{"kind": "Secret", "name": "llm-gateway-tls"}]
    assert found[("ReferenceGrant", "chat-grant")]["inputs"]["metadata"]["namespace"] == "llm-serving"
    assert found[("ReferenceGrant", "kourier-grant")]["inputs"]["metadata"]["namespace"] == "knative-serving"
    auth = found[("SecurityPolicy", "api-key-auth")]["inputs"]["spec"]["apiKeyAuth"]
    assert auth["credentialRefs"][0]["name"] == "llm-gateway-api-keys"
    assert auth["forwardClientIDHeader"] == CLIENT_HEADER


def test_each_route_goes_to_its_pool():
    _, found, _ = built(plan_gateway(spec_of()))
    chat = found[("HTTPRoute", "chat-route")]["inputs"]["spec"]
    assert chat["hostnames"] == ["chat.example.com"]
    (rule,) = chat["rules"]
    assert rule["backendRefs"] == [
        {"group": "", "kind": "Service", "name": "chat-predictor", "namespace": "llm-serving", "port": 80}
    ]
    assert rule["timeouts"] == {"request": "120s"}
    (rule,) = found[("HTTPRoute", "batch-route")]["inputs"]["spec"]["rules"]
    assert rule["backendRefs"][0]["name"] == "kourier-internal"
    assert rule["filters"] == [
        {"type": "URLRewrite", "urlRewrite": {"hostname": "batch-predictor.llm-serving.svc.cluster.local"}}
    ]


def test_without_an_address_the_dns_records_wait_for_one():
    _, _, outputs = built(plan_gateway(spec_of()))
    assert outputs["address"] is None
    assert outputs["dnsRecords"] == {
        "chat": {"name": "chat.example.com", "type": None, "value": None},
        "batch": {"name": "batch.example.com", "type": None, "value": None},
    }
