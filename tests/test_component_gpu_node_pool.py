"""`GpuNodePool` built alone, under the mock runtime: the node contract it registers, and
the cloud objects of each kind."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pytest

from components import conventions
from components.cluster import EksAccess
from components.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from components.spec import EksCluster, NodePoolSpec
from tools.mockrun import Recording, record

pytestmark = pytest.mark.unit

COMPONENT_TYPE = "llmserving:hardware:GpuNodePool"
CLUSTER = EksCluster(kind="eks", name="llm-test", region="us-east-1")


def build(node_pool: NodePoolSpec, on_eks: bool) -> Recording:
    def program() -> None:
        eks = None
        if on_eks:
            provider = aws.Provider("aws", region=CLUSTER.region)
            found = aws.eks.get_cluster_output(name=CLUSTER.name, opts=pulumi.InvokeOutputOptions(provider=provider))
            eks = EksAccess(CLUSTER, provider, found)
        GpuNodePool(node_pool.name, GpuNodePoolArgs(node_pool, eks))

    return record(program)


def node_pool(**fields) -> NodePoolSpec:
    return NodePoolSpec.model_validate({"name": "gpu-l40s", "instanceType": "g6e.xlarge", **fields})


@pytest.mark.parametrize("kind", ["existing", "managed", "karpenter"])
def test_every_kind_registers_the_node_contract(kind):
    pool = node_pool(kind=kind)
    component = build(pool, on_eks=kind != "existing").only(COMPONENT_TYPE)
    assert component["outputs"] == {
        "kind": kind,
        "labels": conventions.gpu_node_labels(pool.name, pool.gpu_key),
        "taint": conventions.gpu_taint(),
    }


def test_existing_nodes_get_nothing_created():
    assert [r["type"] for r in build(node_pool(kind="existing"), on_eks=False).resources] == [COMPONENT_TYPE]


def test_a_managed_pool_is_an_eks_node_group_with_its_own_role_and_launch_template():
    recording = build(node_pool(kind="managed", scaling={"min": 0, "desired": 1, "max": 2}), on_eks=True)
    group = recording.only("aws:eks/nodeGroup:NodeGroup")["inputs"]
    assert group["clusterName"] == CLUSTER.name and group["labels"] == conventions.gpu_node_labels("gpu-l40s", "l40s")
    assert recording.of_type("aws:iam/role:Role") and recording.of_type("aws:ec2/launchTemplate:LaunchTemplate")


def test_a_karpenter_pool_is_a_node_pool_and_its_node_class():
    recording = build(node_pool(kind="karpenter", amiVersion="v20260810"), on_eks=True)
    assert recording.only("kubernetes:karpenter.sh/v1:NodePool")
    assert recording.only("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")
