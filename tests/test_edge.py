"""The edge under Pulumi's mock runtime: the one Gateway, one route per pool, API-key auth,
rate limits, TLS and exposure (components/gateway.py)."""

from __future__ import annotations

import pytest

from components import versions, vllm_args
from components.conventions import CLIENT_HEADER, PREDICTOR_SERVICE_PORT
from components.spec import SpecError, load_platform
from components.upstream import EKS_SCHEME_ANNOTATION
from tests.conftest import SHIPPED_STACKS, stack_config
from tools import render
from tools.mockrun import run_program
from tools.stackfile import load_stack

pytestmark = pytest.mark.program

EKS = {"kind": "eks", "name": "llm-test", "region": "eu-west-1"}
KEYS = {"alice": "alice-key-0123456789abcdef", "bob": "bob-key-0123456789abcdef"}


def objects(platform, api_keys=KEYS):
    config = {**stack_config(platform), "private-llm-serving:apiKeys": api_keys}
    return render.kubernetes_objects(run_program("test", config).resources)


def of_kind(found, kind):
    return [obj for obj in found if obj["kind"] == kind]


def named(found, kind, name):
    (obj,) = [o for o in of_kind(found, kind) if o["metadata"]["name"] == name]
    return obj


def shipped(stack):
    loaded = load_stack(stack)
    return loaded.spec, render.kubernetes_objects(run_program(stack, loaded.config).resources)


# --- one route per pool -----------------------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_pool_has_exactly_one_route_on_its_hostname_to_its_backend_and_port(stack):
    spec, found = shipped(stack)
    edge = named(found, "Gateway", spec.gateway.name)
    (https,) = edge["spec"]["listeners"]
    for pool in spec.pools:
        routes = [r for r in of_kind(found, "HTTPRoute") if pool.hostname in r["spec"]["hostnames"]]
        assert len(routes) == 1, pool.name
        (route,) = routes
        assert route["spec"]["hostnames"] == [pool.hostname]
        (parent,) = route["spec"]["parentRefs"]
        assert (parent["kind"], parent["name"], parent["sectionName"]) == (
            "Gateway",
            edge["metadata"]["name"],
            https["name"],
        )
        (rule,) = route["spec"]["rules"]
        assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/v1"}}]
        (backend,) = rule["backendRefs"]
        if pool.mode == "standard":
            # KServe's Standard-mode Service: <isvc>-predictor, port 80 to the vLLM container port.
            assert (backend["namespace"], backend["name"], backend["port"]) == (
                spec.namespaces.serving, f"{pool.name}-predictor", PREDICTOR_SERVICE_PORT
            )  # fmt: skip
            runtime = named(found, "ServingRuntime", f"{pool.name}-vllm")
            assert runtime["spec"]["containers"][0]["ports"][0]["containerPort"] == vllm_args.HTTP_PORT
        else:
            # Kourier's cluster-internal Service, which serves Knative's cluster-local routes.
            assert (backend["namespace"], backend["name"], backend["port"]) == (
                "knative-serving",
                "kourier-internal",
                80,
            )
            (rewrite,) = rule["filters"]
            host = f"{pool.name}-predictor.{spec.namespaces.serving}.svc.cluster.local"
            assert rewrite == {"type": "URLRewrite", "urlRewrite": {"hostname": host}}


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_one_gateway_fronts_every_pool(stack):
    spec, found = shipped(stack)
    assert [g["metadata"]["name"] for g in of_kind(found, "Gateway")] == [spec.gateway.name]
    assert [p["metadata"]["name"] for p in of_kind(found, "EnvoyProxy")] == [spec.gateway.name]
    routes = of_kind(found, "HTTPRoute")
    assert sorted(r["metadata"]["name"] for r in routes) == sorted(pool.name for pool in spec.pools)
    assert all(ref["name"] == spec.gateway.name for r in routes for ref in r["spec"]["parentRefs"])


def test_openai_paths_reach_the_pool_unchanged(platform):
    for route in of_kind(objects(platform), "HTTPRoute"):
        for rule in route["spec"]["rules"]:
            # Only the host may change (for Kourier); the path is never rewritten.
            assert all(set(f.get("urlRewrite", {})) == {"hostname"} for f in rule.get("filters", []))


def test_cross_namespace_backends_are_granted(platform):
    found = objects(platform)
    grants = {g["metadata"]["namespace"]: g for g in of_kind(found, "ReferenceGrant")}
    assert set(grants) == {"llm-serving", "knative-serving"}
    for grant in grants.values():
        assert grant["spec"]["from"] == [
            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "llm-gateway"}
        ]
    assert grants["llm-serving"]["spec"]["to"] == [{"group": "", "kind": "Service", "name": "chat-predictor"}]
    assert grants["knative-serving"]["spec"]["to"] == [{"group": "", "kind": "Service", "name": "kourier-internal"}]


def test_request_timeouts_follow_the_class_and_wait_out_a_cold_start(platform):
    found = objects(platform)
    timeouts = {
        r["metadata"]["name"]: r["spec"]["rules"][0]["timeouts"]["request"] for r in of_kind(found, "HTTPRoute")
    }
    # chat: its 120 s; batch scales to zero: its 600 s plus the 1200 s startup budget.
    assert timeouts == {"chat": "120s", "batch": "1800s"}
    policies = of_kind(found, "BackendTrafficPolicy")
    idle = {p["metadata"]["name"]: p["spec"]["timeout"]["http"]["streamIdleTimeout"] for p in policies}
    assert idle == {"chat": "120s", "batch": "1800s"}


def test_a_warm_knative_pool_waits_only_its_own_timeout(platform):
    platform["pools"][1]["replicas"] = {"min": 1, "max": 2}
    route = named(objects(platform), "HTTPRoute", "batch")
    assert route["spec"]["rules"][0]["timeouts"]["request"] == "600s"


# --- auth -----------------------------------------------------------------------------------


def test_api_key_auth_covers_the_whole_edge_gateway_with_the_keys_secret(platform):
    found = objects(platform)
    (policy,) = [p for p in of_kind(found, "SecurityPolicy") if "apiKeyAuth" in p["spec"]]
    assert policy["spec"]["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "llm-gateway"}
    ]
    auth = policy["spec"]["apiKeyAuth"]
    # OpenAI SDKs send Authorization: Bearer <key>; Envoy's api_key_auth strips "Bearer ".
    assert auth["extractFrom"] == [{"headers": ["Authorization"]}]
    assert auth["forwardClientIDHeader"] == CLIENT_HEADER
    assert auth["sanitize"] is True  # vLLM does not check keys here, so none reaches it
    (ref,) = auth["credentialRefs"]
    secret = named(found, "Secret", ref["name"])
    assert secret["metadata"]["namespace"] == policy["metadata"]["namespace"]
    assert set(secret["stringData"]) == set(KEYS)


def test_the_key_reaches_vllm_only_when_vllm_checks_it(platform):
    platform["gateway"] = {"vllmApiKey": True}
    (policy,) = [p for p in of_kind(objects(platform), "SecurityPolicy") if "apiKeyAuth" in p["spec"]]
    assert policy["spec"]["apiKeyAuth"]["sanitize"] is False


def test_a_pool_allowlist_admits_only_its_clients(platform):
    platform["pools"][0]["clients"] = ["bob"]
    found = objects(platform)
    allowlist = named(found, "SecurityPolicy", "chat-clients")
    assert allowlist["spec"]["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "chat"}
    ]
    assert allowlist["spec"]["mergeType"] == "StrategicMerge"
    authorization = allowlist["spec"]["authorization"]
    assert authorization["defaultAction"] == "Deny"
    assert authorization["rules"][0]["principal"] == {"headers": [{"name": CLIENT_HEADER, "values": ["bob"]}]}
    assert not [p for p in of_kind(found, "SecurityPolicy") if p["metadata"]["name"] == "batch-clients"]


# --- rate limits ----------------------------------------------------------------------------


def test_each_route_has_a_per_client_rate_limit_from_its_pool(platform):
    platform["pools"][0]["requestsPerMinute"] = 90
    found = objects(platform)
    limits = {}
    for route in of_kind(found, "HTTPRoute"):
        target = {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": route["metadata"]["name"]}
        (policy,) = [p for p in of_kind(found, "BackendTrafficPolicy") if target in p["spec"]["targetRefs"]]
        assert policy["metadata"]["namespace"] == route["metadata"]["namespace"]  # policies target local routes
        (rule,) = policy["spec"]["rateLimit"]["local"]["rules"]
        # One bucket per client: the header api_key_auth sets from the authenticated key.
        assert rule["clientSelectors"] == [{"headers": [{"name": CLIENT_HEADER, "type": "Distinct"}]}]
        limits[route["metadata"]["name"]] = rule["limit"]
    # Each of the gateway.replicas (2) proxies counts on its own: each allows half.
    assert limits == {"chat": {"requests": 45, "unit": "Minute"}, "batch": {"requests": 30, "unit": "Minute"}}


def test_the_proxies_together_allow_exactly_the_pools_limit(platform):
    platform["gateway"] = {**platform.get("gateway", {}), "replicas": 3}
    platform["pools"][0]["requestsPerMinute"] = 90
    platform["pools"][1]["requestsPerMinute"] = 30
    found = objects(platform)
    (proxy,) = of_kind(found, "EnvoyProxy")
    replicas = proxy["spec"]["provider"]["kubernetes"]["envoyDeployment"]["replicas"]
    assert replicas == 3 and "envoyHpa" not in proxy["spec"]["provider"]["kubernetes"]  # fixed: no autoscaler
    for policy in of_kind(found, "BackendTrafficPolicy"):
        (rule,) = policy["spec"]["rateLimit"]["local"]["rules"]
        pool = policy["spec"]["targetRefs"][0]["name"]
        assert rule["limit"]["requests"] * replicas == {"chat": 90, "batch": 30}[pool]


def test_a_limit_the_proxies_cannot_share_evenly_is_rejected(platform):
    platform["pools"][0]["requestsPerMinute"] = 91
    with pytest.raises(
        SpecError, match=r"pools\[0\]\.requestsPerMinute: 91 is not a multiple of gateway.replicas \(2\)"
    ):
        load_platform(platform, "test")


def test_a_client_cannot_name_itself(platform):
    # The allowlist and the rate limit key on CLIENT_HEADER: the proxies drop any the client
    # sent before routing, and api_key_auth then sets it from the key.
    found = objects(platform)
    (policy,) = of_kind(found, "ClientTrafficPolicy")
    assert policy["spec"]["headers"] == {"earlyRequestHeaders": {"remove": [CLIENT_HEADER]}}
    (gateway,) = of_kind(found, "Gateway")
    assert policy["spec"]["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gateway["metadata"]["name"]}
    ]
    (auth,) = [p for p in of_kind(found, "SecurityPolicy") if "apiKeyAuth" in p["spec"]]
    assert auth["spec"]["apiKeyAuth"]["forwardClientIDHeader"] == CLIENT_HEADER


# --- exposure -------------------------------------------------------------------------------


def services_exposed(found):
    declared = [(s["metadata"]["name"], s["spec"].get("type", "ClusterIP")) for s in of_kind(found, "Service")]
    # Envoy Gateway creates each Gateway's Service as its EnvoyProxy says.
    proxies = [(p["metadata"]["name"], proxy_service(p)["type"]) for p in of_kind(found, "EnvoyProxy")]
    return [(name, kind) for name, kind in declared + proxies if kind in ("LoadBalancer", "NodePort")]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_no_load_balancer_or_node_port_besides_the_gateway(stack):
    spec, found = shipped(stack)
    assert services_exposed(found) == [(spec.gateway.name, "LoadBalancer")]
    # The Knative Operator would give Kourier a LoadBalancer by default.
    (serving,) = of_kind(found, "KnativeServing")
    assert serving["spec"]["ingress"] == {"kourier": {"enabled": True, "service-type": "ClusterIP"}}


def proxy_service(envoy_proxy):
    return envoy_proxy["spec"]["provider"]["kubernetes"]["envoyService"]


def edge_service(found):
    return proxy_service(named(found, "EnvoyProxy", "llm-gateway"))


def test_eks_gets_an_internal_nlb_unless_told_otherwise(platform):
    platform["cluster"] = dict(EKS)
    assert edge_service(objects(platform))["annotations"][EKS_SCHEME_ANNOTATION] == "internal"
    platform["gateway"] = {"internetFacing": True}
    assert edge_service(objects(platform))["annotations"][EKS_SCHEME_ANNOTATION] == "internet-facing"


def test_other_clusters_get_a_load_balancer_only_behind_source_ranges(platform):
    assert edge_service(objects(platform)) == {"name": "llm-gateway", "type": "ClusterIP"}
    platform["gateway"] = {"sourceRanges": ["10.0.0.0/8"]}
    service = edge_service(objects(platform))
    assert (service["type"], service["loadBalancerSourceRanges"]) == ("LoadBalancer", ["10.0.0.0/8"])


def test_the_envoy_gateway_chart_is_pinned_into_the_gateway_namespace(platform):
    resources = run_program("test", {**stack_config(platform), "private-llm-serving:apiKeys": KEYS}).resources
    (chart,) = [r for r in resources if r["type"] == "kubernetes:helm.sh/v4:Chart" and r["name"] == "envoy-gateway"]
    assert chart["inputs"]["chart"] == "oci://docker.io/envoyproxy/gateway-helm"
    assert chart["inputs"]["version"] == versions.ENVOY_GATEWAY_VERSION
    assert chart["inputs"]["namespace"] == "llm-gateway"


# --- TLS ------------------------------------------------------------------------------------


def test_an_issuer_certifies_every_pool_hostname_for_the_https_listener(platform):
    platform["gateway"] = {"tls": {"issuer": {"kind": "ClusterIssuer", "name": "corp-ca"}, "secretName": "edge-tls"}}
    found = objects(platform)
    (certificate,) = of_kind(found, "Certificate")
    assert certificate["spec"]["dnsNames"] == ["batch.example.com", "chat.example.com"]
    assert certificate["spec"]["issuerRef"] == {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "corp-ca"}
    (listener,) = named(found, "Gateway", "llm-gateway")["spec"]["listeners"]
    assert listener["protocol"] == "HTTPS" and listener["tls"]["mode"] == "Terminate"
    assert listener["tls"]["certificateRefs"] == [{"kind": "Secret", "name": certificate["spec"]["secretName"]}]


def test_without_an_issuer_the_tls_secret_is_named_as_pre_existing(platform):
    resources = run_program("test", {**stack_config(platform), "private-llm-serving:apiKeys": KEYS}).resources
    assert not [r for r in resources if r["type"].endswith(":Certificate")]
    (platform_resource,) = [r for r in resources if r["type"] == "llmserving:platform:Platform"]
    tls_secret = {"kind": "Secret", "namespace": "llm-gateway", "name": "llm-gateway-tls"}
    assert tls_secret in platform_resource["inputs"]["preExisting"]


def test_without_knative_pools_nothing_reaches_kourier(platform):
    platform["pools"] = platform["pools"][:1]
    found = objects(platform)
    assert [g["metadata"]["namespace"] for g in of_kind(found, "ReferenceGrant")] == ["llm-serving"]
    assert all("filters" not in r["spec"]["rules"][0] for r in of_kind(found, "HTTPRoute"))


# --- spec rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gateway", "path", "message"),
    [
        (
            {"serviceAnnotations": {EKS_SCHEME_ANNOTATION: "internet-facing"}},
            f"gateway.serviceAnnotations.{EKS_SCHEME_ANNOTATION}",
            "internetFacing",
        ),
        ({"serviceType": "ClusterIP", "sourceRanges": ["10.0.0.0/8"]}, "gateway.serviceType", "no load balancer"),
        ({"sourceRanges": ["10.0.0.1/8"]}, "gateway.sourceRanges[0]", "CIDR"),
    ],
)
def test_gateway_spec_problems_name_the_path(platform, gateway, path, message):
    platform["gateway"] = gateway
    with pytest.raises(SpecError) as error:
        load_platform(platform, "stack.yaml")
    (problem,) = error.value.problems
    assert problem[0] == path and message in problem[1]


def test_a_client_listed_twice_is_rejected(platform):
    platform["pools"][0]["clients"] = ["alice", "alice"]
    with pytest.raises(SpecError) as error:
        load_platform(platform, "stack.yaml")
    assert error.value.problems == [("pools[0].clients[1]", "'alice' is listed twice")]


def test_one_reference_grant_per_standard_pool_scales_past_the_to_list_cap(platform):
    # A grant's spec.to holds at most 16 entries; one grant per pool never reaches it.
    from tests.conftest import stack_config
    from tools.mockrun import run_program

    template = platform["pools"][0]
    platform["pools"] = [{**template, "name": f"chat{i}", "hostname": f"chat{i}.example.com"} for i in range(20)]
    resources = run_program("t", stack_config(platform)).resources
    grants = [r["inputs"] for r in resources if r["type"].endswith(":ReferenceGrant")]
    assert len(grants) == 20
    assert all(len(grant["spec"]["to"]) == 1 for grant in grants)
