"""Stack config of the cluster layer: node pool kinds and their rules, GPU Operator and
control plane switches."""

from __future__ import annotations

import pytest

from components.spec import load_platform
from tests.test_spec import SOURCE, only_problem, problems

pytestmark = pytest.mark.program

EKS = {"kind": "eks", "name": "llm-test", "region": "us-east-1"}
KEY = "stacks/Pulumi.test.yaml: private-llm-serving:platform"


def on_eks(platform, **node_pool):
    platform["cluster"] = dict(EKS)
    platform["nodePools"][0].update(node_pool)
    return platform


def test_node_pool_kind_defaults_to_the_cluster(platform):
    assert load_platform(platform, SOURCE).node_pools[0].kind == "existing"
    assert load_platform(on_eks(platform), SOURCE).node_pools[0].kind == "managed"


@pytest.mark.parametrize("stack,kind", [("dev", "karpenter"), ("prod", "managed"), ("onprem", "existing")])
def test_shipped_stacks_node_pool_kinds(stack, kind):
    from tools.stackfile import load_stack

    assert [n.kind for n in load_stack(stack).spec.node_pools] == [kind]


@pytest.mark.parametrize("kind", ["managed", "karpenter"])
def test_a_kubeconfig_cluster_cannot_create_nodes(platform, kind):
    platform["nodePools"][0]["kind"] = kind
    if kind == "karpenter":
        platform["nodePools"][0]["amiVersion"] = "v20260810"
    assert only_problem(platform) == (
        f"{KEY}.nodePools[0].kind: '{kind}' creates AWS resources and needs an eks cluster; "
        "a kubeconfig cluster allows: existing"
    )


def test_cloud_node_pools_need_an_instance_type(platform):
    on_eks(platform, instanceType=None, gpu="h100-80gb", gpuCount=8)
    assert (
        only_problem(platform)
        == f"{KEY}.nodePools[0].instanceType: required for kind managed: the EC2 instance type to launch"
    )


def test_existing_nodes_take_no_cloud_settings(platform):
    platform["nodePools"][0].update(diskSizeGib=300, scaling={"max": 2})
    assert problems(platform) == [
        f"{KEY}.nodePools[0].diskSizeGib: applies to managed and karpenter node pools only",
        f"{KEY}.nodePools[0].scaling: applies to managed and karpenter node pools only",
    ]


def test_karpenter_settings_only_on_karpenter_pools(platform):
    on_eks(platform, amiVersion="v20260810", karpenter={"consolidateAfter": "5m"})
    assert problems(platform) == [
        f"{KEY}.nodePools[0].amiVersion: applies to karpenter node pools only",
        f"{KEY}.nodePools[0].karpenter: applies to karpenter node pools only",
    ]


def test_karpenter_pins_its_ami_and_takes_only_a_maximum(platform):
    on_eks(platform, kind="karpenter", scaling={"min": 1, "max": 2})
    assert problems(platform) == [
        f"{KEY}.nodePools[0].scaling.min: Karpenter launches nodes for pending pods; only scaling.max (the limit) applies",
        f"{KEY}.nodePools[0].amiVersion: required for karpenter node pools: pin an AMI release (e.g. v20260810), "
        "or 'latest' to take every release (each one replaces the nodes)",
    ]


def test_capacity_block_needs_its_reservation(platform):
    on_eks(platform, capacityType="capacityBlock")
    assert only_problem(platform) == (
        f"{KEY}.nodePools[0].capacityReservationId: required with capacityType capacityBlock: the cr-... id of the block"
    )
    platform["nodePools"][0].update(capacityType="spot", capacityReservationId="cr-0abc")
    assert (
        only_problem(platform)
        == f"{KEY}.nodePools[0].capacityReservationId: applies with capacityType capacityBlock only"
    )


@pytest.mark.parametrize(
    "scaling,message",
    [
        ({"min": 3, "max": 2}, "scaling.min: 3 is above scaling.max (2)"),
        ({"min": 1, "desired": 4, "max": 2}, "scaling.desired: 4 is outside scaling.min..max (1..2)"),
    ],
)
def test_managed_scaling_is_ordered(platform, scaling, message):
    on_eks(platform, scaling=scaling)
    assert only_problem(platform) == f"{KEY}.nodePools[0].{message}"


def test_field_patterns(platform):
    on_eks(platform, subnetIds=["sn-1"], capacityReservationId="reservation")
    lines = problems(platform)
    assert any(".nodePools[0].subnetIds[0]: String should match pattern" in line for line in lines)
    assert any(".nodePools[0].capacityReservationId: String should match pattern" in line for line in lines)


def test_gpu_driver_on_host_defaults_to_the_cluster(platform):
    assert load_platform(platform, SOURCE).gpu_driver_on_host is False
    assert load_platform(on_eks(platform), SOURCE).gpu_driver_on_host is True
    platform["gpuOperator"] = {"driverOnHost": False}
    assert load_platform(platform, SOURCE).gpu_driver_on_host is False


def test_control_plane_switches_default_on_and_reject_unknown_pieces(platform):
    spec = load_platform(platform, SOURCE)
    switches = spec.control_plane
    assert all(piece.enabled for piece in (switches.cert_manager, switches.knative, switches.kserve, switches.keda))
    platform["controlPlane"] = {"istio": {"enabled": False}}
    assert "controlPlane.istio: unknown field; allowed: certManager, keda, knative, kserve" in only_problem(platform)


def test_bottlerocket_cannot_share_the_gpu_operator_with_other_node_pools(platform):
    on_eks(platform, amiFamily="bottlerocket")
    platform["nodePools"].append({"name": "gpu-l40s", "instanceType": "g6e.2xlarge"})
    message = only_problem(platform)
    assert message.startswith(f"{KEY}.nodePools[0].amiFamily: Bottlerocket runs its own NVIDIA device plugin")
    platform["gpuOperator"] = {"enabled": False}
    assert load_platform(platform, SOURCE).gpu_operator_device_plugin is True  # unused: no operator


def test_bottlerocket_keeps_its_driver(platform):
    on_eks(platform, amiFamily="bottlerocket")
    platform["gpuOperator"] = {"driverOnHost": False}
    assert only_problem(platform).startswith(f"{KEY}.gpuOperator.driverOnHost: Bottlerocket ships the NVIDIA driver")
