"""The cluster layer under Pulumi's mock runtime: GPU node pools, GPU Operator, control plane,
their ordering and the one Kubernetes provider."""

from __future__ import annotations

import re

import pytest

from components import conventions, versions
from tests.conftest import SCHEMAS_DIR, stack_config
from tools.mockrun import run_program
from tools.schemas import SchemaRegistry
from tools.stackfile import load_stack

pytestmark = pytest.mark.program

EKS = {"kind": "eks", "name": "llm-test", "region": "eu-west-1"}
CHART = "kubernetes:helm.sh/v4:Chart"
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
RUNTIME = "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime"
KARPENTER_NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
EC2_NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
KNATIVE_SERVING = "kubernetes:operator.knative.dev/v1beta1:KnativeServing"


@pytest.fixture
def requests(monkeypatch):
    """Every RegisterResource request, by (type, name): what the engine would receive."""
    from tools import mockrun

    seen = {}
    register = mockrun._RecordingMonitor.RegisterResource

    def spy(self, request):
        response = register(self, request)
        seen[(request.type, request.name)] = (request, response.urn)
        return response

    monkeypatch.setattr(mockrun._RecordingMonitor, "RegisterResource", spy)
    return seen


def registered(platform, stack="test"):
    recording = run_program(stack, stack_config(platform))
    return {(r["type"], r["name"]): r for r in recording.resources}


def inputs(resources, resource_type, name):
    return resources[(resource_type, name)]["inputs"]


def of_type(resources, resource_type):
    return [r for (t, _), r in resources.items() if t == resource_type]


def on_eks(platform, **node_pool):
    platform["cluster"] = dict(EKS)
    platform["nodePools"][0].update(node_pool)
    return platform


def karpenter(platform, **node_pool):
    return on_eks(platform, kind="karpenter", amiVersion="v20260810", scaling={"max": 3}, **node_pool)


# -- managed node groups -------------------------------------------------------------


def test_eks_node_pools_default_to_managed_node_groups(platform):
    group = inputs(registered(on_eks(platform)), NODE_GROUP, "gpu-h100")
    assert group["clusterName"] == "llm-test"
    assert group["nodeGroupName"] == "gpu-h100"
    assert group["amiType"] == "AL2023_x86_64_NVIDIA"
    assert group["capacityType"] == "ON_DEMAND"
    assert group["instanceTypes"] == ["p5.48xlarge"]
    assert group["updateConfig"] == {"maxUnavailable": 1}


def test_node_group_carries_the_node_contract(platform):
    group = inputs(registered(on_eks(platform)), NODE_GROUP, "gpu-h100")
    assert group["labels"] == {"llmserving.io/node-pool": "gpu-h100", "llmserving.io/gpu": "h100-80gb"}
    assert group["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]


def test_node_group_scaling_and_subnets(platform):
    on_eks(platform, scaling={"min": 1, "max": 3})
    group = inputs(registered(platform), NODE_GROUP, "gpu-h100")
    assert group["scalingConfig"] == {"minSize": 1, "desiredSize": 1, "maxSize": 3}
    assert group["subnetIds"] == ["subnet-0mock1a", "subnet-0mock1b"]  # the looked-up cluster's
    platform["nodePools"][0].update(scaling={"min": 1, "desired": 2, "max": 3}, subnetIds=["subnet-0abc"])
    group = inputs(registered(platform), NODE_GROUP, "gpu-h100")
    assert group["scalingConfig"] == {"minSize": 1, "desiredSize": 2, "maxSize": 3}
    assert group["subnetIds"] == ["subnet-0abc"]


def test_launch_template_encrypts_the_disk_and_requires_imdsv2(platform):
    resources = registered(on_eks(platform, diskSizeGib=500))
    template = inputs(resources, LAUNCH_TEMPLATE, "gpu-h100-launch-template")
    assert template["blockDeviceMappings"] == [
        {
            "deviceName": "/dev/xvda",
            "ebs": {"volumeSize": 500, "volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true"},
        }
    ]
    assert template["metadataOptions"] == {
        "httpEndpoint": "enabled",
        "httpTokens": "required",
        "httpPutResponseHopLimit": 1,
    }
    group = inputs(resources, NODE_GROUP, "gpu-h100")
    assert group["launchTemplate"] == {"id": "gpu-h100-launch-template-id", "version": "1"}


def test_node_role_has_the_eks_node_policies(platform, requests):
    resources = registered(on_eks(platform))
    role = inputs(resources, "aws:iam/role:Role", "gpu-h100-node-role")
    assert '"Service": "ec2.amazonaws.com"' in role["assumeRolePolicy"]
    attached = {
        a["inputs"]["policyArn"] for a in of_type(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    }
    assert attached == {
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    }
    assert inputs(resources, NODE_GROUP, "gpu-h100")["nodeRoleArn"].endswith(":role/gpu-h100-node-role")
    # Nodes that start before their role has its policies never join.
    attachment_urns = {a["urn"] for a in of_type(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    request, _ = requests[(NODE_GROUP, "gpu-h100")]
    assert attachment_urns <= set(request.dependencies)


def test_policy_arns_follow_the_partition(platform):
    platform["cluster"] = {"kind": "eks", "name": "llm-gov", "region": "us-gov-west-1"}
    resources = registered(platform)
    arns = {a["inputs"]["policyArn"] for a in of_type(resources, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert all(arn.startswith("arn:aws-us-gov:iam::aws:policy/") for arn in arns)


def test_bottlerocket_spot_node_group(platform):
    resources = registered(on_eks(platform, amiFamily="bottlerocket", capacityType="spot", diskSizeGib=300))
    group = inputs(resources, NODE_GROUP, "gpu-h100")
    assert (group["amiType"], group["capacityType"]) == ("BOTTLEROCKET_x86_64_NVIDIA", "SPOT")
    disks = inputs(resources, LAUNCH_TEMPLATE, "gpu-h100-launch-template")["blockDeviceMappings"]
    assert [(d["deviceName"], d["ebs"]["volumeSize"], d["ebs"]["encrypted"]) for d in disks] == [
        ("/dev/xvda", 4, "true"), ("/dev/xvdb", 300, "true")
    ]  # fmt: skip


def test_capacity_block_goes_through_the_launch_template(platform):
    on_eks(
        platform, capacityType="capacityBlock", capacityReservationId="cr-02168da1478b509e0", subnetIds=["subnet-0az1"]
    )
    resources = registered(platform)
    group = inputs(resources, NODE_GROUP, "gpu-h100")
    assert group["capacityType"] == "CAPACITY_BLOCK"
    assert "instanceTypes" not in group
    template = inputs(resources, LAUNCH_TEMPLATE, "gpu-h100-launch-template")
    assert template["instanceType"] == "p5.48xlarge"
    assert template["instanceMarketOptions"] == {"marketType": "capacity-block"}
    assert template["capacityReservationSpecification"] == {
        "capacityReservationTarget": {"capacityReservationId": "cr-02168da1478b509e0"}
    }


# -- karpenter -----------------------------------------------------------------------


def test_karpenter_node_pool(platform):
    resources = registered(karpenter(platform))
    spec = inputs(resources, KARPENTER_NODE_POOL, "gpu-h100-karpenter-node-pool")["spec"]
    template = spec["template"]
    assert template["metadata"]["labels"] == conventions.gpu_node_labels("gpu-h100", "h100-80gb")
    assert template["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
    assert template["spec"]["nodeClassRef"] == {
        "group": "karpenter.k8s.aws",
        "kind": "EC2NodeClass",
        "name": "gpu-h100",
    }
    assert {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["p5.48xlarge"]} in (
        template["spec"]["requirements"]
    )
    assert {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]} in (
        template["spec"]["requirements"]
    )
    assert spec["limits"] == {"nvidia.com/gpu": "24"}  # 3 nodes x 8 GPUs


def test_karpenter_does_not_evict_busy_gpu_nodes(platform):
    spec = inputs(registered(karpenter(platform)), KARPENTER_NODE_POOL, "gpu-h100-karpenter-node-pool")["spec"]
    assert spec["disruption"] == {
        "consolidationPolicy": "WhenEmpty",
        "consolidateAfter": "15m",
        "budgets": [{"nodes": "1"}],
    }
    assert spec["template"]["spec"]["expireAfter"] == "Never"


def test_ec2_node_class(platform):
    resources = registered(karpenter(platform, diskSizeGib=400))
    spec = inputs(resources, EC2_NODE_CLASS, "gpu-h100-node-class")["spec"]
    assert spec["amiSelectorTerms"] == [{"alias": "al2023@v20260810"}]
    assert spec["role"] == "KarpenterNodeRole-llm-test"
    assert spec["subnetSelectorTerms"] == [{"id": "subnet-0mock1a"}, {"id": "subnet-0mock1b"}]
    assert spec["securityGroupSelectorTerms"] == [{"id": "sg-0mockcluster"}]
    assert spec["blockDeviceMappings"] == [
        {
            "deviceName": "/dev/xvda",
            "ebs": {"volumeSize": "400Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True},
        }
    ]
    assert spec["metadataOptions"]["httpTokens"] == "required"
    # Karpenter itself creates the instances: no AWS resource of ours.
    assert not [t for (t, _) in resources if t.startswith("aws:")]


def test_karpenter_capacity_block_is_reserved_capacity(platform):
    karpenter(
        platform, capacityType="capacityBlock", capacityReservationId="cr-0abc", karpenter={"nodeRole": "gpu-nodes"}
    )
    resources = registered(platform)
    node_class = inputs(resources, EC2_NODE_CLASS, "gpu-h100-node-class")["spec"]
    assert node_class["capacityReservationSelectorTerms"] == [{"id": "cr-0abc"}]
    assert node_class["role"] == "gpu-nodes"
    requirements = inputs(resources, KARPENTER_NODE_POOL, "gpu-h100-karpenter-node-pool")["spec"]["template"]["spec"]
    assert {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["reserved"]} in requirements[
        "requirements"
    ]


@pytest.mark.parametrize("extra", [{}, {"amiFamily": "bottlerocket", "capacityType": "spot"}])
def test_karpenter_objects_pass_the_upstream_schemas(platform, extra):
    resources = registered(karpenter(platform, **extra))
    registry = SchemaRegistry(SCHEMAS_DIR)
    for resource_type, name in (
        (KARPENTER_NODE_POOL, "gpu-h100-karpenter-node-pool"),
        (EC2_NODE_CLASS, "gpu-h100-node-class"),
    ):
        assert registry.validate_object(inputs(resources, resource_type, name)) == []


# -- one node contract ---------------------------------------------------------------


def tolerates(toleration, taint):
    value_matches = toleration["operator"] == "Exists" or toleration.get("value") == taint["value"]
    return toleration["key"] == taint["key"] and toleration["effect"] == taint["effect"] and value_matches


@pytest.mark.parametrize("kind", ["managed", "karpenter"])
def test_serving_pools_select_and_tolerate_the_nodes_node_pools_make(platform, kind):
    resources = registered(karpenter(platform) if kind == "karpenter" else on_eks(platform))
    if kind == "managed":
        group = inputs(resources, NODE_GROUP, "gpu-h100")
        labels = group["labels"]
        taints = [{**t, "effect": {"NO_SCHEDULE": "NoSchedule"}[t["effect"]]} for t in group["taints"]]
    else:
        template = inputs(resources, KARPENTER_NODE_POOL, "gpu-h100-karpenter-node-pool")["spec"]["template"]
        labels, taints = template["metadata"]["labels"], template["spec"]["taints"]
    for pool in ("chat", "batch"):
        predictor = inputs(resources, ISVC, pool)["spec"]["predictor"]
        assert predictor["nodeSelector"].items() <= labels.items()
        assert all(any(tolerates(t, taint) for t in predictor["tolerations"]) for taint in taints)


def test_existing_node_contract_is_the_serving_pools_selector_and_toleration():
    labels = conventions.gpu_node_labels("gpu-a100", "a100-80gb")
    assert conventions.gpu_node_selector("gpu-a100").items() <= labels.items()
    assert any(tolerates(t, conventions.gpu_taint()) for t in conventions.gpu_tolerations())


def test_onprem_declares_no_aws_resource_at_all():
    stack = load_stack("onprem")
    resources = run_program("onprem", stack.config).resources
    assert not [r["type"] for r in resources if r["type"].startswith("aws:") or r["type"] == "pulumi:providers:aws"]
    node_pools = [r for r in resources if r["type"] == "llmserving:hardware:GpuNodePool"]
    assert [(r["name"], [c for c in resources if c["parent"] == r["urn"]]) for r in node_pools] == [("gpu-a100", [])]


# -- GPU Operator --------------------------------------------------------------------


def gpu_operator_values(resources):
    return inputs(resources, CHART, "gpu-operator")["values"]


def test_gpu_operator_on_eks_nvidia_amis_leaves_driver_and_toolkit_to_the_node(platform):
    chart = inputs(registered(on_eks(platform)), CHART, "gpu-operator")
    assert (chart["chart"], chart["version"], chart["namespace"]) == ("gpu-operator", "v26.7.0", "gpu-operator")
    assert chart["repositoryOpts"] == {"repo": "https://helm.ngc.nvidia.com/nvidia"}
    values = chart["values"]
    assert values["driver"] == {"enabled": False} and values["toolkit"] == {"enabled": False}
    assert values["devicePlugin"] == {"enabled": True} and values["gfd"] == {"enabled": True}
    monitor = {"enabled": True, "additionalLabels": {"release": "kube-prometheus-stack"}}
    assert values["dcgmExporter"] == {"enabled": True, "serviceMonitor": monitor}
    assert values["daemonsets"]["tolerations"] == conventions.gpu_tolerations()


def test_bottlerocket_nodes_keep_their_own_device_plugin(platform):
    values = gpu_operator_values(registered(on_eks(platform, amiFamily="bottlerocket")))
    assert values["devicePlugin"] == {"enabled": False}
    assert values["gfd"] == {"enabled": True} and values["dcgmExporter"]["enabled"] is True


def test_gpu_operator_installs_the_driver_on_other_clusters_and_follows_monitoring(platform):
    platform["monitoring"] = {"enabled": False}
    values = gpu_operator_values(registered(platform))
    assert values["driver"] == {"enabled": True} and values["toolkit"] == {"enabled": True}
    assert values["dcgmExporter"]["serviceMonitor"] == {"enabled": False}
    platform["gpuOperator"] = {"driverOnHost": True}
    assert gpu_operator_values(registered(platform))["driver"] == {"enabled": False}


def test_gpu_operator_namespace_admits_privileged_operands(platform):
    namespace = inputs(registered(platform), "kubernetes:core/v1:Namespace", "gpu-operator-namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


# -- control plane -------------------------------------------------------------------

EXPECTED_CHARTS = {
    "gpu-operator": versions.GPU_OPERATOR_CHART,
    "cert-manager": versions.CERT_MANAGER_CHART,
    "knative-operator": versions.KNATIVE_OPERATOR_CHART,
    "kserve-crd": versions.KSERVE_CRD_CHART,
    "kserve": versions.KSERVE_CHART,
    "keda": versions.KEDA_CHART,
}


@pytest.mark.parametrize("stack", ["dev", "prod", "onprem"])
def test_every_chart_is_pinned_to_an_exact_version(stack):
    resources = run_program(stack, load_stack(stack).config).resources
    charts = {r["name"]: r["inputs"] for r in resources if r["type"] == CHART}
    assert set(charts) >= set(EXPECTED_CHARTS)
    for name, chart in charts.items():
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", chart["version"]), name
    for name, pinned in EXPECTED_CHARTS.items():
        assert charts[name]["version"] == pinned.version
        assert charts[name]["chart"] in (pinned.name, f"{pinned.repo}/{pinned.name}")


def test_kserve_charts_come_from_the_oci_registry(platform):
    resources = registered(platform)
    assert inputs(resources, CHART, "kserve-crd")["chart"] == "oci://ghcr.io/kserve/charts/kserve-crd"
    assert inputs(resources, CHART, "kserve")["chart"] == "oci://ghcr.io/kserve/charts/kserve-resources"


def test_kserve_defaults_and_gateway(platform):
    values = inputs(registered(platform), CHART, "kserve")["values"]["kserve"]["controller"]
    assert values["deploymentMode"] == "Standard"
    assert values["gateway"]["disableIngressCreation"] is True
    assert values["gateway"]["disableIstioVirtualHost"] is True
    assert values["gateway"]["ingressGateway"] == {"kserveGateway": "llm-gateway/llm-gateway"}


def test_cert_manager_installs_its_crds(platform):
    values = inputs(registered(platform), CHART, "cert-manager")["values"]
    assert values["crds"] == {"enabled": True, "keep": True}


def test_knative_serving_routes_through_a_cluster_internal_kourier(platform):
    platform["gateway"] = {"replicas": 3}
    serving = inputs(registered(platform), KNATIVE_SERVING, "knative-serving")
    assert serving["metadata"]["namespace"] == "knative-serving"
    spec = serving["spec"]
    assert spec["version"] == "1.23.0"
    # No load balancer: the operator's default for Kourier would be one, bypassing the edge.
    assert spec["ingress"] == {"kourier": {"enabled": True, "service-type": "ClusterIP"}}
    assert spec["config"]["network"] == {"ingress-class": "kourier.ingress.networking.knative.dev"}
    # Every Knative route is cluster-local: only the edge reaches it.
    assert spec["config"]["domain"] == {"svc.cluster.local": ""}
    assert "gateway" not in spec["config"]
    assert spec["workloads"] == [{"name": "3scale-kourier-gateway", "replicas": 3}]


def test_knative_features_timeouts_and_scale_to_zero(platform):
    platform["pools"][1].update(timeoutSeconds=900, startupTimeoutSeconds=1800)
    config = inputs(registered(platform), KNATIVE_SERVING, "knative-serving")["spec"]["config"]
    assert config["features"] == {
        "kubernetes.podspec-nodeselector": "enabled",
        "kubernetes.podspec-tolerations": "enabled",
        "kubernetes.podspec-persistent-volume-claim": "enabled",
    }
    # The batch pool scales to zero: the activator counts its cold start against the same timeout.
    assert config["defaults"] == {"max-revision-timeout-seconds": "2700"}
    # A revision whose GPU pod is still loading weights must not be failed by Knative: on
    # existing nodes the startup budget plus the image pull.
    assert config["deployment"] == {"progress-deadline": "2100s"}
    assert config["autoscaler"]["enable-scale-to-zero"] == "true"
    # The batch pool may scale to zero, so its revisions may start with none.
    assert config["autoscaler"]["allow-zero-initial-scale"] == "true"


def test_every_piece_can_be_switched_off(platform):
    platform["gpuOperator"] = {"enabled": False}
    platform["controlPlane"] = {piece: {"enabled": False} for piece in ("certManager", "knative", "kserve", "keda")}
    platform["controlPlane"]["knative"]["maxRevisionTimeoutSeconds"] = 1800  # the batch pool's cold start fits
    resources = registered(platform)
    assert not [r for r in of_type(resources, CHART) if r["name"] in EXPECTED_CHARTS]
    assert not of_type(resources, KNATIVE_SERVING)
    assert (ISVC, "chat") in resources


def test_kserve_without_our_cert_manager_or_knative(platform, requests):
    platform["controlPlane"] = {
        "certManager": {"enabled": False},
        "knative": {"enabled": False, "maxRevisionTimeoutSeconds": 1800},
    }
    resources = registered(platform)
    request, _ = requests[(CHART, "kserve")]
    assert set(request.dependencies) >= {resources[(CHART, "kserve-crd")]["urn"]}
    assert not of_type(resources, KNATIVE_SERVING)


# -- ordering and provider -----------------------------------------------------------


def dependencies(requests, resource_type, name):
    request, _ = requests[(resource_type, name)]
    return set(request.dependencies)


def urn(requests, resource_type, name):
    return requests[(resource_type, name)][1]


def test_custom_resources_wait_for_the_charts_that_install_their_crds(platform, requests):
    registered(platform)
    assert urn(requests, CHART, "knative-operator") in dependencies(requests, KNATIVE_SERVING, "knative-serving")
    kserve_charts = {urn(requests, CHART, "kserve-crd"), urn(requests, CHART, "kserve")}
    for pool in ("chat", "batch"):
        assert kserve_charts <= dependencies(requests, ISVC, pool)
        assert kserve_charts <= dependencies(requests, RUNTIME, f"{pool}-runtime")


def test_kserve_waits_for_its_crds_cert_manager_and_knative(platform, requests):
    registered(platform)
    assert {
        urn(requests, CHART, "kserve-crd"),
        urn(requests, CHART, "cert-manager"),
        urn(requests, KNATIVE_SERVING, "knative-serving"),
    } <= dependencies(requests, CHART, "kserve")


def test_hardware_and_control_plane_come_before_pools(platform, requests):
    registered(karpenter(platform))
    before = {
        urn(requests, CHART, "gpu-operator"),
        urn(requests, CHART, "keda"),
        urn(requests, KNATIVE_SERVING, "knative-serving"),
        urn(requests, KARPENTER_NODE_POOL, "gpu-h100-karpenter-node-pool"),
        urn(requests, "kubernetes:core/v1:Namespace", "serving-namespace"),
    }
    assert before <= dependencies(requests, ISVC, "chat")


def test_every_kubernetes_resource_goes_through_the_platform_provider(platform, requests):
    registered(karpenter(platform))
    provider_urn = urn(requests, "pulumi:providers:kubernetes", "kubernetes")
    kubernetes = {key: request for key, (request, _) in requests.items() if key[0].startswith("kubernetes:")}
    assert {key[0] for key in kubernetes} >= {CHART, ISVC, KARPENTER_NODE_POOL, "kubernetes:core/v1:Namespace"}
    for key, request in kubernetes.items():
        provider = request.provider or request.providers.get("kubernetes", "")
        assert provider.startswith(f"{provider_urn}::"), key
