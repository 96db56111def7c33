"""The one explicit Kubernetes provider every platform resource goes through.

`eks`: an existing cluster looked up by name; the kubeconfig runs `aws eks get-token`
at each use, so no static credential lands in the state. `kubeconfig`: any conformant
cluster through a kubeconfig file and context.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.spec import EksCluster, KubeconfigCluster


@dataclass(frozen=True)
class EksAccess:
    """What node pools need from the looked-up EKS cluster."""

    cluster: EksCluster
    aws_provider: aws.Provider
    found: pulumi.Output[aws.eks.GetClusterResult]

    @property
    def subnet_ids(self) -> pulumi.Output[list[str]]:
        return self.found.vpc_config.subnet_ids

    @property
    def security_group_id(self) -> pulumi.Output[str]:
        """The cluster security group EKS creates: nodes in it reach the control plane and each other."""
        return self.found.vpc_config.cluster_security_group_id


@dataclass(frozen=True)
class ClusterAccess:
    provider: k8s.Provider
    eks: EksAccess | None = None


def connect(cluster: EksCluster | KubeconfigCluster, parent: pulumi.Resource) -> ClusterAccess:
    if isinstance(cluster, EksCluster):
        return _connect_eks(cluster, parent)
    provider = k8s.Provider(
        "kubernetes",
        kubeconfig=cluster.path,
        context=cluster.context,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return ClusterAccess(provider)


def _connect_eks(cluster: EksCluster, parent: pulumi.Resource) -> ClusterAccess:
    aws_provider = aws.Provider("aws", region=cluster.region, opts=pulumi.ResourceOptions(parent=parent))
    found = aws.eks.get_cluster_output(name=cluster.name, opts=pulumi.InvokeOutputOptions(provider=aws_provider))
    kubeconfig = pulumi.Output.all(found.endpoint, found.certificate_authorities[0].data).apply(
        lambda values: eks_kubeconfig(cluster, endpoint=values[0], ca_data=values[1])
    )
    provider = k8s.Provider("kubernetes", kubeconfig=kubeconfig, opts=pulumi.ResourceOptions(parent=parent))
    return ClusterAccess(provider, EksAccess(cluster, aws_provider, found))


def eks_kubeconfig(cluster: EksCluster, endpoint: str, ca_data: str) -> str:
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": [
                "eks",
                "get-token",
                "--cluster-name",
                cluster.name,
                "--region",
                cluster.region,
                "--output",
                "json",
            ],
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": cluster.name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}
            ],
            "users": [{"name": cluster.name, "user": user}],
            "contexts": [{"name": cluster.name, "context": {"cluster": cluster.name, "user": cluster.name}}],
            "current-context": cluster.name,
        },
        sort_keys=True,
    )


def aws_partition(region: str) -> str:
    """The ARN partition of a region: AWS-managed policy ARNs differ in China and GovCloud."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
