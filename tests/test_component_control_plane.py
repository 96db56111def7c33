"""`ServingControlPlane` built alone from its plan slice, under the mock runtime, and
`plan_control_plane` on a small spec."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from components import upstream, versions
from components.control_plane import ServingControlPlane, ServingControlPlaneArgs
from components.plan.control_plane import ControlPlanePlan, plan_control_plane
from components.spec import load_platform
from tests.conftest import BASE_PLATFORM
from tools.mockrun import Recording, record

pytestmark = pytest.mark.unit

COMPONENT_TYPE = "llmserving:controlplane:ServingControlPlane"
CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
KNATIVE_SERVING_TYPE = "kubernetes:operator.knative.dev/v1beta1:KnativeServing"
ALL_CHARTS = {
    versions.CERT_MANAGER_CHART.name: versions.CERT_MANAGER_CHART.version,
    versions.KNATIVE_OPERATOR_CHART.name: versions.KNATIVE_OPERATOR_CHART.version,
    versions.KSERVE_CRD_CHART.name: versions.KSERVE_CRD_CHART.version,
    versions.KSERVE_CHART.name: versions.KSERVE_CHART.version,
    versions.KEDA_CHART.name: versions.KEDA_CHART.version,
}


def plan_of(**platform: Any) -> ControlPlanePlan:
    config = copy.deepcopy(BASE_PLATFORM)
    config.update(platform)
    return plan_control_plane(load_platform(config, "test", capacity_gate=False))


def chat_pools_only() -> list[dict[str, Any]]:
    return [copy.deepcopy(pool) for pool in BASE_PLATFORM["pools"] if pool["class"] == "chat"]


def build(plan: ControlPlanePlan) -> Recording:
    return record(lambda: ServingControlPlane("control-plane", ServingControlPlaneArgs(plan)))


def test_the_plan_holds_what_the_control_plane_reads():
    spec = load_platform(copy.deepcopy(BASE_PLATFORM), "test", capacity_gate=False)
    plan = plan_control_plane(spec)
    (batch,) = spec.knative_pools
    assert plan.switches == spec.control_plane
    assert plan.mirror == spec.image_mirror
    assert plan.kserve_gateway == "llm-gateway/llm-gateway"
    assert plan.kourier_gateway_replicas == spec.gateway.replicas == 2
    assert plan.knative_max_revision_timeout_seconds == spec.knative_max_revision_timeout_seconds
    # The slowest Knative pool's start-up, plus the margin, or Knative's default if longer.
    assert plan.knative_progress_deadline_seconds == max(600, batch.startup_timeout_seconds + 300)
    assert (plan.local_model_cache, plan.local_model_path) == (False, "/mnt/models")


def test_without_knative_pools_the_progress_deadline_is_knatives_default():
    plan = plan_of(pools=chat_pools_only())
    assert plan.knative_progress_deadline_seconds == upstream.KNATIVE_DEFAULT_PROGRESS_DEADLINE_SECONDS


def test_it_installs_every_piece_in_its_namespace_and_registers_the_charts():
    recording = build(plan_of())
    parent = recording.only(COMPONENT_TYPE)["urn"]
    namespaces = recording.of_type(NAMESPACE_TYPE)
    assert sorted(ns["inputs"]["metadata"]["name"] for ns in namespaces.values()) == [
        "cert-manager", "keda", "knative-operator", "knative-serving", "kserve"
    ]  # fmt: skip
    charts = recording.of_type(CHART_TYPE)
    assert {name: chart["inputs"]["version"] for name, chart in charts.items()} == {
        "cert-manager": versions.CERT_MANAGER_CHART.version,
        "knative-operator": versions.KNATIVE_OPERATOR_CHART.version,
        "kserve-crd": versions.KSERVE_CRD_CHART.version,
        "kserve": versions.KSERVE_CHART.version,
        "keda": versions.KEDA_CHART.version,
    }
    assert charts["kserve"]["inputs"]["namespace"] == "kserve"
    assert all(r["parent"] == parent for r in recording.resources if r["urn"] != parent)
    assert recording.only(COMPONENT_TYPE)["outputs"] == {"installed": ALL_CHARTS}


def test_kserve_starts_after_keda_and_after_knative_serving_is_ready():
    # KServe decides once, at start-up, whether to watch Knative Services and ScaledObjects.
    recording = build(plan_of())
    charts = recording.of_type(CHART_TYPE)
    serving = recording.only(KNATIVE_SERVING_TYPE)
    assert serving["inputs"]["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready"}
    waits_for = recording.dependencies[charts["kserve"]["urn"]]
    assert {serving["urn"], charts["keda"]["urn"], charts["cert-manager"]["urn"]} <= set(waits_for)


HARBOR = {
    "kind": "external",
    "host": "harbor.example.internal",
    "prefixes": {
        r: r.split(".")[0] for r in ("docker.io", "gcr.io", "ghcr.io", "nvcr.io", "quay.io", "registry.k8s.io")
    },
}


def test_knative_skips_tag_resolution_for_the_registry_its_pools_pull_from():
    # Knative resolves tags with its own credentials, which a private mirror does not give it.
    spec = knative_spec(build(plan_of(registryMirror=HARBOR)))
    assert spec["config"]["deployment"]["registries-skipping-tag-resolving"] == (
        "kind.local,ko.local,dev.local,harbor.example.internal"
    )


def test_an_image_pinned_by_digest_needs_no_skipped_registry():
    digest = "sha256:" + "a" * 64
    mirror = {**HARBOR, "digests": {versions.VLLM_IMAGE: digest}}
    spec = knative_spec(build(plan_of(registryMirror=mirror)))
    assert "registries-skipping-tag-resolving" not in spec["config"]["deployment"]
    assert plan_of(registryMirror=HARBOR, pools=chat_pools_only()).knative_tag_registries == ()


def test_the_operators_post_install_jobs_pull_through_the_mirror():
    # knative/operator 1.23.0 4-serving-post-install-jobs.yaml: containers `migrate`, `cleanup`.
    override = knative_spec(build(plan_of(registryMirror=HARBOR)))["registry"]["override"]
    assert override["cleanup"] == (
        f"harbor.example.internal/gcr/knative-releases/knative.dev/serving/pkg/cleanup/cmd/cleanup:{versions.KNATIVE_VERSION}"
    )
    assert all(image.startswith("harbor.example.internal/") for image in override.values())


def test_the_progress_deadline_leaves_time_to_launch_a_gpu_node_where_nodes_come_on_demand():
    on_eks = {"cluster": {"kind": "eks", "name": "test", "region": "us-east-1"}}
    for kind, margin in (("existing", 300), ("managed", 900), ("karpenter", 900)):
        node_pools = [{**BASE_PLATFORM["nodePools"][0], "kind": kind}]
        if kind == "karpenter":
            node_pools[0]["amiVersion"] = "v20260810"
        plan = plan_of(**(on_eks if kind != "existing" else {}), nodePools=node_pools)
        batch = load_platform(copy.deepcopy(BASE_PLATFORM), "test", capacity_gate=False).knative_pools[0]
        assert plan.knative_progress_deadline_seconds == max(600, batch.startup_timeout_seconds + margin), kind


def test_a_pool_that_may_scale_to_zero_lets_its_revisions_start_at_zero():
    autoscaler = knative_spec(build(plan_of()))["config"]["autoscaler"]
    assert autoscaler["allow-zero-initial-scale"] == "true"
    pools = [copy.deepcopy(p) for p in BASE_PLATFORM["pools"]]
    pools[1]["replicas"] = {"min": 1, "max": 2}
    autoscaler = knative_spec(build(plan_of(pools=pools)))["config"]["autoscaler"]
    assert "allow-zero-initial-scale" not in autoscaler


def knative_spec(recording: Recording) -> dict[str, Any]:
    return recording.only(KNATIVE_SERVING_TYPE)["inputs"]["spec"]


def test_kserve_points_at_the_edge_gateway_and_leaves_its_routes_to_us():
    charts = build(plan_of(gateway={"name": "edge", "namespace": "ingress"})).of_type(CHART_TYPE)
    gateway = charts["kserve"]["inputs"]["values"]["kserve"]["controller"]["gateway"]
    assert gateway["ingressGateway"] == {"kserveGateway": "ingress/edge"}
    assert gateway["disableIngressCreation"] is True


def test_knative_serving_keeps_kourier_cluster_local_and_as_redundant_as_the_edge():
    recording = build(plan_of(gateway={"replicas": 3}))
    serving = recording.of_type(KNATIVE_SERVING_TYPE)["knative-serving"]["inputs"]
    assert serving["metadata"]["namespace"] == upstream.KNATIVE_SERVING_NAMESPACE
    spec = serving["spec"]
    assert spec["ingress"] == {"kourier": {"enabled": True, "service-type": "ClusterIP"}}
    assert spec["config"]["network"] == {"ingress-class": upstream.KOURIER_INGRESS_CLASS}
    assert spec["config"]["domain"] == {upstream.CLUSTER_LOCAL_DOMAIN: ""}
    assert spec["workloads"] == [{"name": upstream.KOURIER_GATEWAY_DEPLOYMENT, "replicas": 3}]


def test_a_local_model_cache_adds_kserves_local_model_charts_and_job_namespace():
    recording = build(plan_of(modelCache={"kind": "local", "size": "500Gi", "localPath": "/data/models"}))
    namespaces = {ns["inputs"]["metadata"]["name"] for ns in recording.of_type(NAMESPACE_TYPE).values()}
    assert upstream.LOCAL_MODEL_JOB_NAMESPACE in namespaces
    charts = recording.of_type(CHART_TYPE)
    localmodel = charts["kserve-localmodel"]["inputs"]["values"]["kserve"]["localmodel"]
    assert localmodel["jobNamespace"] == upstream.LOCAL_MODEL_JOB_NAMESPACE
    assert localmodel["agent"]["hostPath"] == "/data/models"
    assert charts["kserve"]["inputs"]["values"]["kserve"]["localmodel"]["enabled"] is True
    assert set(recording.only(COMPONENT_TYPE)["outputs"]["installed"]) == {
        *ALL_CHARTS,
        versions.KSERVE_LOCALMODEL_CRD_CHART.name,
        versions.KSERVE_LOCALMODEL_CHART.name,
    }


def test_with_every_piece_switched_off_it_creates_nothing():
    off = {"enabled": False}
    switches = {"certManager": off, "knative": off, "kserve": off, "keda": off}
    # Knative pools need Knative on the cluster to have a max revision timeout to check against.
    recording = build(plan_of(controlPlane=switches, pools=chat_pools_only()))
    assert [r["type"] for r in recording.resources] == [COMPONENT_TYPE]
    assert recording.only(COMPONENT_TYPE)["outputs"] == {"installed": {}}
