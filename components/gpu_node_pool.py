"""`GpuNodePool`: the GPU nodes one `nodePools[]` entry describes (DESIGN.md section 2, hardware).

Every kind gives its nodes the same contract, from components/conventions.py: the labels
`llmserving.io/node-pool=<name>` and `llmserving.io/gpu=<gpu>`, and the
`nvidia.com/gpu=true:NoSchedule` taint. Serving pools select and tolerate exactly these.

- `managed`: an EKS managed node group on an NVIDIA AMI, with its own node IAM role and a
  launch template (encrypted disk, IMDSv2 only).
- `karpenter`: a Karpenter `NodePool` and `EC2NodeClass` (Karpenter is already installed).
- `existing`: no resources; the nodes are labelled and tainted outside this stack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
from pulumi_kubernetes.apiextensions import CustomResource

from components import conventions, upstream
from components.cluster import EksAccess, aws_partition
from components.spec import NodePoolSpec

AMI_TYPES = {"al2023": "AL2023_x86_64_NVIDIA", "bottlerocket": "BOTTLEROCKET_x86_64_NVIDIA"}
MANAGED_CAPACITY_TYPES = {"onDemand": "ON_DEMAND", "spot": "SPOT", "capacityBlock": "CAPACITY_BLOCK"}
KARPENTER_CAPACITY_TYPES = {"onDemand": "on-demand", "spot": "spot", "capacityBlock": "reserved"}
NODE_ROLE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryPullOnly",
    # The VPC CNI runs with the node's role unless the cluster gave it its own (IRSA/Pod Identity).
    "AmazonEKS_CNI_Policy",
)
# Bottlerocket keeps the OS on a small root volume and images on the data volume.
BOTTLEROCKET_OS_DISK_GIB = 4


@dataclass(frozen=True)
class GpuNodePoolArgs:
    node_pool: NodePoolSpec
    eks: EksAccess | None = None


class GpuNodePool(pulumi.ComponentResource):
    """One GPU node pool; exposes `labels`, `taint`, and the cloud resources of its kind."""

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:hardware:GpuNodePool", name, None, opts)
        node_pool = args.node_pool
        self.spec = node_pool
        self.kind: str = node_pool.kind
        self.labels: dict[str, str] = conventions.gpu_node_labels(node_pool.name, node_pool.gpu_key)
        self.taint: dict[str, str] = conventions.gpu_taint()
        self.node_group: aws.eks.NodeGroup | None = None
        self.node_class: CustomResource | None = None
        self.karpenter_node_pool: CustomResource | None = None
        if node_pool.kind == "managed":
            self._managed(name, node_pool, _required(args.eks, node_pool))
        elif node_pool.kind == "karpenter":
            self._karpenter(name, node_pool, _required(args.eks, node_pool))
        self.register_outputs({"kind": self.kind, "labels": self.labels, "taint": self.taint})

    # -- managed ---------------------------------------------------------------------

    def _managed(self, name: str, node_pool: NodePoolSpec, eks: EksAccess) -> None:
        on_aws = pulumi.ResourceOptions(parent=self, provider=eks.aws_provider)
        tags = aws_tags(node_pool)
        self.node_role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=json.dumps(_EC2_ASSUME_ROLE),
            description=f"GPU nodes of node pool {node_pool.name}",
            tags=tags,
            opts=on_aws,
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-{policy.lower().replace('_', '-')}",
                role=self.node_role.name,
                policy_arn=f"arn:{aws_partition(eks.cluster.region)}:iam::aws:policy/{policy}",
                opts=on_aws,
            )
            for policy in NODE_ROLE_POLICIES
        ]
        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-launch-template", **launch_template_args(node_pool, tags), opts=on_aws
        )
        self.node_group = aws.eks.NodeGroup(
            name,
            **node_group_args(node_pool, eks, self.node_role.arn, self.launch_template, tags),
            opts=pulumi.ResourceOptions.merge(
                on_aws,
                pulumi.ResourceOptions(
                    # Nodes that start before their role has its policies never join the cluster.
                    depends_on=attachments,
                    # Whatever scales the group (Cluster Autoscaler) owns the current size.
                    ignore_changes=["scalingConfig.desiredSize"],
                ),
            ),
        )

    # -- karpenter -------------------------------------------------------------------

    def _karpenter(self, name: str, node_pool: NodePoolSpec, eks: EksAccess) -> None:
        metadata = {
            "name": node_pool.name,
            "labels": conventions.standard_labels("gpu-node-pool", node_pool.name, "hardware"),
        }
        self.node_class = CustomResource(
            f"{name}-node-class",
            api_version="karpenter.k8s.aws/v1",
            kind="EC2NodeClass",
            metadata=metadata,
            spec=ec2_node_class_spec(node_pool, eks),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.karpenter_node_pool = CustomResource(
            f"{name}-karpenter-node-pool",
            api_version="karpenter.sh/v1",
            kind="NodePool",
            metadata=metadata,
            spec=karpenter_node_pool_spec(node_pool, self.labels, self.taint),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.node_class]),
        )


def _required(eks: EksAccess | None, node_pool: NodePoolSpec) -> EksAccess:
    if eks is None:  # spec validation rejects this first; a direct caller gets a clear message
        raise ValueError(f"node pool {node_pool.name}: kind {node_pool.kind} needs an eks cluster")
    return eks


_EC2_ASSUME_ROLE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def aws_tags(node_pool: NodePoolSpec) -> dict[str, str]:
    return {conventions.NODE_POOL_LABEL: node_pool.name, "app.kubernetes.io/part-of": conventions.PART_OF}


def node_disks(node_pool: NodePoolSpec) -> list[tuple[str, int]]:
    """(device, GiB) of every volume a node gets, all of them encrypted."""
    if node_pool.ami_family == "bottlerocket":
        return [("/dev/xvda", BOTTLEROCKET_OS_DISK_GIB), ("/dev/xvdb", node_pool.disk_size_gib)]
    return [("/dev/xvda", node_pool.disk_size_gib)]


def launch_template_args(node_pool: NodePoolSpec, tags: dict[str, str]) -> dict[str, Any]:
    args: dict[str, Any] = {
        "block_device_mappings": [
            aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name=device,
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=size, volume_type="gp3", encrypted="true", delete_on_termination="true"
                ),
            )
            for device, size in node_disks(node_pool)
        ],
        # IMDSv2 only, one hop: containers cannot reach the node role's credentials.
        "metadata_options": aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
        ),
        "update_default_version": True,
        "tags": tags,
        "tag_specifications": [aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type="instance", tags=tags)],
    }
    if node_pool.capacity_type == "capacityBlock":
        # A capacity block is bound through the launch template, which then names the type.
        args["instance_type"] = node_pool.instance_type
        args["instance_market_options"] = aws.ec2.LaunchTemplateInstanceMarketOptionsArgs(market_type="capacity-block")
        args["capacity_reservation_specification"] = aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs(
            capacity_reservation_target=aws.ec2.LaunchTemplateCapacityReservationSpecificationCapacityReservationTargetArgs(
                capacity_reservation_id=node_pool.capacity_reservation_id
            )
        )
    return args


def node_group_args(
    node_pool: NodePoolSpec,
    eks: EksAccess,
    node_role_arn: pulumi.Input[str],
    launch_template: aws.ec2.LaunchTemplate,
    tags: dict[str, str],
) -> dict[str, Any]:
    scaling = node_pool.scaling
    taint = conventions.gpu_taint()
    args: dict[str, Any] = {
        "cluster_name": eks.cluster.name,
        "node_group_name": node_pool.name,
        "node_role_arn": node_role_arn,
        "subnet_ids": list(node_pool.subnet_ids) or eks.subnet_ids,
        "ami_type": AMI_TYPES[node_pool.ami_family],
        "capacity_type": MANAGED_CAPACITY_TYPES[node_pool.capacity_type],
        "scaling_config": aws.eks.NodeGroupScalingConfigArgs(
            min_size=scaling.min,
            max_size=scaling.max,
            desired_size=scaling.min if scaling.desired is None else scaling.desired,
        ),
        # One GPU node at a time: each one drains serving pods that take minutes to reload.
        "update_config": aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
        "labels": conventions.gpu_node_labels(node_pool.name, node_pool.gpu_key),
        "taints": [
            aws.eks.NodeGroupTaintArgs(
                key=taint["key"], value=taint["value"], effect=upstream.EKS_TAINT_EFFECTS[taint["effect"]]
            )
        ],
        "launch_template": aws.eks.NodeGroupLaunchTemplateArgs(
            id=launch_template.id, version=launch_template.latest_version.apply(str)
        ),
        "tags": tags,
    }
    if node_pool.capacity_type != "capacityBlock":
        args["instance_types"] = [node_pool.instance_type]
    return args


# -- karpenter ---------------------------------------------------------------------------


def karpenter_node_role(node_pool: NodePoolSpec, cluster_name: str) -> str:
    return node_pool.karpenter.node_role or f"KarpenterNodeRole-{cluster_name}"


def ec2_node_class_spec(node_pool: NodePoolSpec, eks: EksAccess) -> dict[str, Any]:
    subnet_ids = pulumi.Output.from_input(list(node_pool.subnet_ids) or eks.subnet_ids)
    spec: dict[str, Any] = {
        # An EKS-optimized alias resolves to the NVIDIA variant on GPU instance types.
        "amiSelectorTerms": [{"alias": f"{node_pool.ami_family}@{node_pool.ami_version}"}],
        "role": karpenter_node_role(node_pool, eks.cluster.name),
        "subnetSelectorTerms": subnet_ids.apply(lambda ids: [{"id": subnet} for subnet in ids]),
        "securityGroupSelectorTerms": [{"id": eks.security_group_id}],
        "blockDeviceMappings": [
            {
                "deviceName": device,
                "ebs": {"volumeSize": f"{size}Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True},
            }
            for device, size in node_disks(node_pool)
        ],
        "metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1},
        "tags": aws_tags(node_pool),
    }
    if node_pool.capacity_type == "capacityBlock":
        spec["capacityReservationSelectorTerms"] = [{"id": node_pool.capacity_reservation_id}]
    return spec


def karpenter_node_pool_spec(node_pool: NodePoolSpec, labels: dict[str, str], taint: dict[str, str]) -> dict[str, Any]:
    return {
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": node_pool.name},
                "requirements": [
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [node_pool.instance_type]},
                    {
                        "key": "karpenter.sh/capacity-type",
                        "operator": "In",
                        "values": [KARPENTER_CAPACITY_TYPES[node_pool.capacity_type]],
                    },
                ],
                "taints": [taint],
                "expireAfter": node_pool.karpenter.expire_after,
            },
        },
        # Bounds GPUs, not nodes, so the limit holds whatever instance type Karpenter picks.
        "limits": {conventions.GPU_RESOURCE: str(node_pool.scaling.max * node_pool.gpus_per_node)},
        "disruption": {
            # Only empty nodes are removed: consolidating an underused GPU node would evict a
            # serving pod that reloads its weights for minutes elsewhere.
            "consolidationPolicy": "WhenEmpty",
            "consolidateAfter": node_pool.karpenter.consolidate_after,
            # At most one GPU node goes at a time, for drift (a new AMI pin) as for emptiness.
            "budgets": [{"nodes": "1"}],
        },
    }
