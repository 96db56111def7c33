"""The one explicit Kubernetes provider every platform resource goes through.

`eks`: an existing cluster looked up by name; the kubeconfig runs `aws eks get-token`
at each use, so no static credential lands in the state. `kubeconfig`: any conformant
cluster through a kubeconfig file and context.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.spec import EksCluster, KubeconfigCluster


def kubernetes_provider(cluster: EksCluster | KubeconfigCluster, parent: pulumi.Resource) -> k8s.Provider:
    if isinstance(cluster, EksCluster):
        return _eks_provider(cluster, parent)
    return k8s.Provider(
        "kubernetes",
        kubeconfig=cluster.path,
        context=cluster.context,
        opts=pulumi.ResourceOptions(parent=parent),
    )


def _eks_provider(cluster: EksCluster, parent: pulumi.Resource) -> k8s.Provider:
    aws_provider = aws.Provider("aws", region=cluster.region, opts=pulumi.ResourceOptions(parent=parent))
    found = aws.eks.get_cluster_output(name=cluster.name, opts=pulumi.InvokeOutputOptions(provider=aws_provider))
    kubeconfig = pulumi.Output.all(found.endpoint, found.certificate_authorities[0].data).apply(
        lambda values: eks_kubeconfig(cluster, endpoint=values[0], ca_data=values[1])
    )
    return k8s.Provider("kubernetes", kubeconfig=kubeconfig, opts=pulumi.ResourceOptions(parent=parent))


def eks_kubeconfig(cluster: EksCluster, endpoint: str, ca_data: str) -> str:
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", cluster.name, "--region", cluster.region, "--output", "json"],
        }
    }
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster.name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
            "users": [{"name": cluster.name, "user": user}],
            "contexts": [{"name": cluster.name, "context": {"cluster": cluster.name, "user": cluster.name}}],
            "current-context": cluster.name,
        },
        sort_keys=True,
    )
