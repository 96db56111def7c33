"""Cross-reference checks: each catches its minimal broken fixture; the shipped stacks pass.

Fixtures start from a real render of `dev` (a Standard chat pool, a Knative batch pool,
monitoring) and add or break one thing each.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SHIPPED_STACKS
from tools import render, xref
from tools.__main__ import main
from tools.inventory import contract_node_pool
from tools.render import Rendered
from tools.stackfile import load_stack

pytestmark = pytest.mark.program

NS = "llm-serving"
CHAT = f"serving.kserve.io/v1beta1/InferenceService {NS}/chat predictor"
BATCH = f"serving.kserve.io/v1beta1/InferenceService {NS}/batch predictor"
GATEWAY_NS = "llm-gateway"


@pytest.fixture(scope="module")
def dev() -> Rendered:
    return render.render(load_stack("dev"))


def with_objects(base: Rendered, *objects: dict[str, Any], resources: list | None = None) -> Rendered:
    return Rendered(
        manifests=[*copy.deepcopy(base.manifests), *copy.deepcopy(objects)],
        resources=copy.deepcopy(base.resources) + (resources or []),
        outputs=base.outputs,
        capacity=base.capacity,
    )


def edited(base: Rendered, kind: str, name: str, edit) -> Rendered:
    result = with_objects(base)
    edit(next(o for o in result.manifests if o["kind"] == kind and o["metadata"]["name"] == name))
    return result


def lines(rendered: Rendered, check: str) -> list[str]:
    return [line for line in xref.findings(rendered) if line.startswith(f"xref-{check} ")]


def meta(name: str, namespace: str = NS, **labels: str) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, **({"labels": labels} if labels else {})}


def deployment(name: str, labels: dict[str, str], ports: list[dict], **pod_fields) -> dict[str, Any]:
    container = {"name": "app", "image": "example/app:1", "ports": ports, **pod_fields.pop("container", {})}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name),
        "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {"containers": [container], **pod_fields}}},
    }  # fmt: skip


def service(name: str, selector: dict[str, str], ports: list[dict], namespace: str = NS) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, namespace),
        "spec": {"selector": selector, "ports": ports},
    }


def route_edit(edit):
    """Edit the chat HTTPRoute the Gateway component declares."""
    return lambda route: edit(route["spec"])


CHAT_ROUTE = f"gateway.networking.k8s.io/v1/HTTPRoute {GATEWAY_NS}/chat"
BATCH_ROUTE = f"gateway.networking.k8s.io/v1/HTTPRoute {GATEWAY_NS}/batch"


# --- the shipped stacks -------------------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_shipped_stacks_pass_every_cross_reference_check(stack):
    assert xref.findings(render.render(load_stack(stack))) == []


# --- Service -> pods ---------------------------------------------------------------------


def test_service_selecting_declared_pods_by_port_name_passes(dev):
    app = deployment("app", {"app": "x"}, [{"name": "web", "containerPort": 8000}])
    assert (
        lines(with_objects(dev, app, service("app", {"app": "x"}, [{"port": 80, "targetPort": "web"}])), "service")
        == []
    )


def test_service_whose_selector_matches_no_pod(dev):
    app = deployment("app", {"app": "x"}, [{"name": "web", "containerPort": 8000}])
    found = lines(with_objects(dev, app, service("app", {"app": "y"}, [{"port": 80}])), "service")
    assert found == [
        f"xref-service v1/Service {NS}/app: selector app=y matches no pod we declare or KServe generates in {NS}"
    ]


def test_service_target_port_no_container_exposes(dev):
    app = deployment("app", {"app": "x"}, [{"name": "web", "containerPort": 8000}])
    found = lines(
        with_objects(dev, app, service("app", {"app": "x"}, [{"name": "http", "port": 80, "targetPort": 8080}])),
        "service",
    )
    assert found == [
        f"xref-service v1/Service {NS}/app: port http targets 8080/TCP, which no selected pod exposes (web:8000/TCP)"
    ]


def test_service_may_select_kserve_predictor_pods(dev):
    labels = {"serving.kserve.io/inferenceservice": "chat", "component": "predictor"}
    assert (
        lines(with_objects(dev, service("chat-metrics", labels, [{"port": 8080, "targetPort": "http1"}])), "service")
        == []
    )


# --- routes -------------------------------------------------------------------------------


def _backend(spec):
    return spec["rules"][0]["backendRefs"][0]


def test_route_to_missing_service_port(dev):
    broken = edited(dev, "HTTPRoute", "chat", route_edit(lambda spec: _backend(spec).update(port=8080)))
    assert lines(broken, "route") == [
        f"xref-route {CHAT_ROUTE}: backendRef names port 8080 of Service {NS}/chat-predictor, which has ports 80"
    ]


def test_route_to_missing_service(dev):
    broken = edited(dev, "HTTPRoute", "chat", route_edit(lambda spec: _backend(spec).update(name="chat")))
    found = lines(broken, "route")
    assert (
        f"xref-route {CHAT_ROUTE}: backendRef names Service {NS}/chat, which we neither declare nor KServe generates"
        in found
    )


def test_route_to_a_listener_the_gateway_lacks(dev):
    broken = edited(dev, "HTTPRoute", "chat", route_edit(lambda spec: spec["parentRefs"][0].update(sectionName="http")))
    assert lines(broken, "route") == [
        f"xref-route {CHAT_ROUTE}: parentRef sectionName http matches no listener of Gateway {GATEWAY_NS}/llm-gateway (listeners: https:443)"
    ]


def test_route_to_an_undeclared_gateway(dev):
    broken = edited(dev, "HTTPRoute", "chat", route_edit(lambda spec: spec["parentRefs"][0].update(name="edge")))
    assert lines(broken, "route") == [
        f"xref-route {CHAT_ROUTE}: parentRef names Gateway {GATEWAY_NS}/edge, which the stack neither declares nor names as pre-existing"
    ]


def test_route_from_a_namespace_the_listener_does_not_admit(dev):
    def only_serving_namespace(gateway):
        gateway["spec"]["listeners"][0]["allowedRoutes"]["namespaces"] = {
            "from": "Selector", "selector": {"matchLabels": {"kubernetes.io/metadata.name": NS}}
        }  # fmt: skip

    found = lines(edited(dev, "Gateway", "llm-gateway", only_serving_namespace), "route")
    assert len(found) == 2 and all(f"admits routes from namespace {GATEWAY_NS}" in line for line in found), found


def test_cross_namespace_backend_needs_a_reference_grant(dev):
    without_grant = with_objects(dev)
    without_grant.manifests[:] = [o for o in without_grant.manifests if o["kind"] != "ReferenceGrant"]
    assert lines(without_grant, "route") == [
        f"xref-route {BATCH_ROUTE}: backendRef to Service knative-serving/kourier-internal crosses namespaces without a ReferenceGrant in knative-serving",
        f"xref-route {CHAT_ROUTE}: backendRef to Service {NS}/chat-predictor crosses namespaces without a ReferenceGrant in {NS}",
    ]


def test_a_route_to_kourier_must_name_a_knative_route_host(dev):
    def unchanged_host(route):
        route["spec"]["rules"][0].pop("filters")

    def other_pools_host(route):
        route["spec"]["rules"][0]["filters"][0]["urlRewrite"]["hostname"] = f"chat-predictor.{NS}.svc.cluster.local"

    known = f"(cluster-local hosts: batch-predictor.{NS}.svc.cluster.local)"
    assert lines(edited(dev, "HTTPRoute", "batch", unchanged_host), "route") == [
        f"xref-route {BATCH_ROUTE}: sends to Kourier with host unchanged, which no Knative route has {known}"
    ]
    assert lines(edited(dev, "HTTPRoute", "batch", other_pools_host), "route") == [
        f"xref-route {BATCH_ROUTE}: sends to Kourier with host chat-predictor.{NS}.svc.cluster.local, which no Knative route has {known}"
    ]


def test_without_kourier_enabled_its_service_does_not_exist(dev):
    broken = edited(
        dev, "KnativeServing", "knative-serving", lambda o: o["spec"]["ingress"]["kourier"].update(enabled=False)
    )
    found = lines(broken, "route")
    assert found == [
        f"xref-route {BATCH_ROUTE}: backendRef names Service knative-serving/kourier-internal, which we neither declare nor KServe generates"
    ]


def test_reference_grant_for_another_service_does_not_count(dev):
    broken = edited(
        dev,
        "ReferenceGrant",
        "chat-from-llm-gateway",
        lambda grant: grant["spec"]["to"][0].update(name="batch-predictor"),
    )
    assert len(lines(broken, "route")) == 1


# --- GPU pods -> node pools ---------------------------------------------------------------


def test_toleration_that_misses_the_gpu_taint(dev):
    broken = edited(
        dev, "InferenceService", "chat", lambda o: o["spec"]["predictor"]["tolerations"][0].update(key="gpu")
    )
    found = lines(broken, "gpu-node-pool")
    expected = f"xref-gpu-node-pool {CHAT}: tolerations do not cover the taint nvidia.com/gpu=true:NoSchedule of node pool 'gpu-l40s' ("
    assert len(found) == 1 and found[0].startswith(expected), found


def test_gpu_pod_on_an_undeclared_node_pool(dev):
    broken = edited(
        dev,
        "InferenceService",
        "batch",
        lambda o: o["spec"]["predictor"]["nodeSelector"].update({"llmserving.io/node-pool": "gpu-a100"}),
    )
    assert lines(broken, "gpu-node-pool") == [
        f"xref-gpu-node-pool {BATCH}: selects node pool 'gpu-a100', which the stack does not declare (node pools: gpu-l40s)"
    ]


def test_gpu_pod_without_a_node_pool_selector(dev):
    broken = edited(dev, "InferenceService", "batch", lambda o: o["spec"]["predictor"].pop("nodeSelector"))
    assert lines(broken, "gpu-node-pool") == [
        f"xref-gpu-node-pool {BATCH}: requests nvidia.com/gpu but its nodeSelector names no node pool (llmserving.io/node-pool)"
    ]


def test_node_selector_label_the_node_pool_does_not_carry(dev):
    broken = edited(
        dev,
        "InferenceService",
        "chat",
        lambda o: o["spec"]["predictor"]["nodeSelector"].update({"llmserving.io/gpu": "h100-80gb"}),
    )
    found = lines(broken, "gpu-node-pool")
    assert (
        len(found) == 1 and "nodeSelector llmserving.io/gpu=h100-80gb does not match node pool 'gpu-l40s'" in found[0]
    )


def test_karpenter_node_pool_taints_are_read_from_the_manifest(dev):
    node_pool = {
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "gpu-spot"},
        "spec": {"template": {"metadata": {"labels": {"llmserving.io/node-pool": "gpu-spot"}},
                              "spec": {"taints": [{"key": "dedicated", "value": "llm", "effect": "NoSchedule"}]}}},
    }  # fmt: skip
    broken = edited(
        with_objects(dev, node_pool),
        "InferenceService",
        "chat",
        lambda o: o["spec"]["predictor"]["nodeSelector"].update({"llmserving.io/node-pool": "gpu-spot"}),
    )
    assert lines(broken, "gpu-node-pool") == [
        f"xref-gpu-node-pool {CHAT}: tolerations do not cover the taint dedicated=llm:NoSchedule of node pool 'gpu-spot' (karpenter.sh/v1/NodePool gpu-spot)"
    ]


def test_existing_nodes_follow_the_node_pool_contract():
    pool = contract_node_pool("gpu-a100")
    assert pool.labels == {"llmserving.io/node-pool": "gpu-a100"} and not pool.labels_known
    assert xref.tolerates([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}], pool.taints[0])
    assert not xref.tolerates([{"key": "nvidia.com/gpu", "operator": "Equal", "value": "yes"}], pool.taints[0])


# --- references ---------------------------------------------------------------------------


def _env(isvc, *entries):
    isvc["spec"]["predictor"]["model"]["env"].extend(entries)


def test_secret_reference_to_an_undeclared_secret(dev):
    entry = {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "vllm-api-key", "key": "key"}}}
    broken = edited(dev, "InferenceService", "chat", lambda o: _env(o, entry))
    assert lines(broken, "ref") == [
        f"xref-ref {CHAT}: needs Secret {NS}/vllm-api-key, which the stack neither declares nor names as pre-existing"
    ]


def test_config_map_key_that_the_config_map_lacks(dev):
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("vllm"), "data": {"chat-template": "x"}}
    entry = {"name": "TEMPLATE", "valueFrom": {"configMapKeyRef": {"name": "vllm", "key": "template"}}}
    broken = edited(with_objects(dev, config), "InferenceService", "chat", lambda o: _env(o, entry))
    assert lines(broken, "ref") == [
        f"xref-ref {CHAT}: needs key 'template' of ConfigMap {NS}/vllm, which has keys chat-template"
    ]


def test_optional_and_declared_references_pass(dev):
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": meta("vllm-api-key"), "data": "[secret]"}
    entries = (
        {"name": "A", "valueFrom": {"secretKeyRef": {"name": "vllm-api-key", "key": "key"}}},
        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "key", "optional": True}}},
    )
    assert (
        lines(edited(with_objects(dev, secret), "InferenceService", "chat", lambda o: _env(o, *entries)), "ref") == []
    )


def test_storage_uri_on_an_undeclared_claim(dev):
    def point_elsewhere(isvc):
        model = isvc["spec"]["predictor"]["model"]
        model["storageUri"] = model["storageUri"].replace("pvc://model-cache/", "pvc://models/")

    assert lines(edited(dev, "InferenceService", "batch", point_elsewhere), "ref") == [
        f"xref-ref serving.kserve.io/v1beta1/InferenceService {NS}/batch: needs PersistentVolumeClaim {NS}/models, which the stack neither declares nor names as pre-existing"
    ]


def test_the_model_cache_claim_is_pre_existing_only_through_the_platform_contract(dev):
    without_contract = with_objects(dev)
    for resource in without_contract.resources:
        if resource["type"] == "llmserving:platform:Platform":
            resource["inputs"]["preExisting"] = []
    # dev creates its claim: take that away too, so only the contract could have named it.
    without_contract.manifests[:] = [m for m in without_contract.manifests if m["kind"] != "PersistentVolumeClaim"]
    found = lines(without_contract, "ref")
    # Both pools' storageUri and the warm-up Job's volume.
    assert len(found) == 3 and all("needs PersistentVolumeClaim llm-serving/model-cache" in line for line in found)


def test_runtime_reference_to_an_undeclared_serving_runtime(dev):
    broken = edited(dev, "InferenceService", "chat", lambda o: o["spec"]["predictor"]["model"].update(runtime="vllm"))
    assert (
        f"xref-ref serving.kserve.io/v1beta1/InferenceService {NS}/chat: needs ServingRuntime {NS}/vllm, which the stack neither declares nor names as pre-existing"
        in lines(broken, "ref")
    )


# --- NetworkPolicies ------------------------------------------------------------------------


def without(base: Rendered, kind: str, name: str) -> Rendered:
    result = with_objects(base)
    result.manifests[:] = [o for o in result.manifests if (o["kind"], o["metadata"]["name"]) != (kind, name)]
    return result


def policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta(name), "spec": spec}


POOL_PODS = {"matchLabels": {"app.kubernetes.io/component": "serving-pool"}}


def test_policies_without_dns_egress_cut_the_pools_off(dev):
    found = lines(without(dev, "NetworkPolicy", "dns-egress"), "netpol")
    assert sorted(found) == [
        f"xref-netpol {BATCH}: no NetworkPolicy rule allows pool to DNS (port dns/UDP)",
        f"xref-netpol {CHAT}: no NetworkPolicy rule allows pool to DNS (port dns/UDP)",
    ]


def test_missing_gateway_allow_blocks_the_route(dev):
    broken = edited(dev, "NetworkPolicy", "chat-ingress", lambda p: p["spec"]["ingress"].pop(0))
    found = lines(broken, "netpol")
    assert len(found) == 1 and found[0].startswith(
        f"xref-netpol {CHAT}: no NetworkPolicy rule allows gateway to pool"
    ), found


def test_missing_activator_allow_blocks_the_knative_pool(dev):
    broken = edited(dev, "NetworkPolicy", "batch-ingress", lambda p: p["spec"]["ingress"][0]["from"].pop(1))
    assert lines(broken, "netpol") == [
        f"xref-netpol {BATCH}: no NetworkPolicy rule allows activator to Knative pool (port queue-port/TCP)"
    ]


def test_missing_kourier_allow_blocks_the_knative_pool(dev):
    broken = edited(dev, "NetworkPolicy", "batch-ingress", lambda p: p["spec"]["ingress"][0]["from"].pop(0))
    assert lines(broken, "netpol") == [
        f"xref-netpol {BATCH}: no NetworkPolicy rule allows Kourier to Knative pool (port queue-port/TCP)"
    ]


def test_kourier_closed_to_the_edge_blocks_the_knative_route(dev):
    broken = edited(dev, "NetworkPolicy", "kourier-gateway-ingress", lambda p: p["spec"]["ingress"].pop(0))
    (found,) = lines(broken, "netpol")
    assert "no NetworkPolicy rule allows gateway to pool" in found and "-> Kourier gateway of" in found, found


def test_missing_prometheus_allow_blocks_scraping(dev):
    broken = edited(dev, "NetworkPolicy", "chat-ingress", lambda p: p["spec"]["ingress"].pop(1))
    found = lines(broken, "netpol")
    assert len(found) == 1 and found[0].startswith(
        f"xref-netpol {CHAT}: no NetworkPolicy rule allows Prometheus to metrics"
    ), found


def test_policy_rules_must_select_real_pods_and_ports(dev):
    broken = [
        policy("nobody", {"podSelector": {"matchLabels": {"app": "ghost"}}, "ingress": [{}]}),
        policy("wrong-port", {"podSelector": POOL_PODS, "ingress": [{"ports": [{"port": 9999}]}]}),
        policy(
            "wrong-peer",
            {"podSelector": POOL_PODS, "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "ghost"}}}]}]},
        ),
    ]
    found = lines(with_objects(dev, *broken), "netpol")
    assert found == [
        f"xref-netpol networking.k8s.io/v1/NetworkPolicy {NS}/nobody: podSelector app=ghost selects no pod in {NS}",
        f"xref-netpol networking.k8s.io/v1/NetworkPolicy {NS}/wrong-port: ingress[0] port 9999/TCP is not a port of the pods it applies to",
        f"xref-netpol networking.k8s.io/v1/NetworkPolicy {NS}/wrong-peer: ingress[0] peer podSelector app=ghost selects no pod we declare, KServe generates or the platform runs",
    ]


# --- monitors -------------------------------------------------------------------------------


def test_pod_monitor_that_selects_nothing(dev):
    broken = edited(
        dev, "PodMonitor", "llm-serving-vllm", lambda o: o["spec"]["selector"].update(matchLabels={"app": "ghost"})
    )
    found = lines(broken, "monitor")
    assert len(found) == 1 and "selector app=ghost selects no pod we declare or KServe generates" in found[0]


def test_pod_monitor_endpoint_port_no_pod_has(dev):
    broken = edited(
        dev, "PodMonitor", "llm-serving-vllm", lambda o: o["spec"]["podMetricsEndpoints"].append({"port": "metrics"})
    )
    found = lines(broken, "monitor")
    assert len(found) == 1 and found[0].endswith("endpoint port metrics is not a port of any selected pod")


def service_monitor(port: str) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": meta("chat"),
        "spec": {"selector": {"matchLabels": {"serving.kserve.io/inferenceservice": "chat"}}, "endpoints": [{"port": port}]},
    }  # fmt: skip


def test_service_monitor_on_the_predictor_service(dev):
    assert lines(with_objects(dev, service_monitor("http1")), "monitor") == []
    found = lines(with_objects(dev, service_monitor("metrics")), "monitor")
    assert found == [
        f"xref-monitor monitoring.coreos.com/v1/ServiceMonitor {NS}/chat: endpoint port metrics is not a port of any selected Service"
    ]


# --- the command line ------------------------------------------------------------------------


def _render_dev(capsys, out_dir):
    assert main(["render", "dev", "--out", str(out_dir)]) == 0
    capsys.readouterr()
    return out_dir / "manifests.yaml"


def test_check_from_catches_a_changed_toleration_key(capsys, tmp_path):
    manifests = _render_dev(capsys, tmp_path)
    documents = list(yaml.safe_load_all(manifests.read_text()))
    isvc = next(d for d in documents if d["kind"] == "InferenceService" and d["metadata"]["name"] == "chat")
    isvc["spec"]["predictor"]["tolerations"][0]["key"] = "nvidia.com/gpu-shared"
    manifests.write_text(yaml.safe_dump_all(documents))
    code = main(["check", "--from", str(tmp_path)])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    found = [line for line in out if line.startswith("xref-")]
    expected = f"xref-gpu-node-pool {CHAT}: tolerations do not cover the taint nvidia.com/gpu=true:NoSchedule of node pool 'gpu-l40s' ("
    assert len(found) == 1 and found[0].startswith(expected), out


def test_check_from_catches_a_route_to_a_missing_service_port(capsys, tmp_path):
    manifests = _render_dev(capsys, tmp_path)
    documents = list(yaml.safe_load_all(manifests.read_text()))
    route = next(d for d in documents if d["kind"] == "HTTPRoute" and d["metadata"]["name"] == "chat")
    _backend(route["spec"])["port"] = 8080
    manifests.write_text(yaml.safe_dump_all(documents))
    code = main(["check", "--from", str(tmp_path)])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert [line for line in out if line.startswith("xref-")] == [
        f"xref-route {CHAT_ROUTE}: backendRef names port 8080 of Service {NS}/chat-predictor, which has ports 80"
    ]


def test_knative_pools_on_the_clusters_own_knative_go_through_its_kourier(tmp_path):
    config = yaml.safe_load((Path(__file__).parent.parent / "stacks" / "Pulumi.dev.yaml").read_text())
    knative = {"enabled": False, "maxRevisionTimeoutSeconds": 1800}  # the batch pool's cold start fits
    config["config"]["private-llm-serving:platform"]["controlPlane"] = {"knative": knative}
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump(config))
    rendered = render.render(load_stack("dev", str(path)))
    assert not [o for o in rendered.manifests if o["kind"] == "KnativeServing"]
    # Kourier is named as pre-existing, so the route and the NetworkPolicy rules still resolve.
    assert [line for line in xref.findings(rendered) if line.startswith(("xref-route", "xref-netpol"))] == []
    broken = edited(rendered, "NetworkPolicy", "batch-ingress", lambda p: p["spec"]["ingress"][0]["from"].pop(0))
    assert lines(broken, "netpol") == [
        f"xref-netpol {BATCH}: no NetworkPolicy rule allows Kourier to Knative pool (port queue-port/TCP)"
    ]
