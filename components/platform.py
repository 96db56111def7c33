"""`Platform`: composes the layers of DESIGN.md section 2, bottom to top, for one stack."""

from __future__ import annotations

from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from components import conventions
from components.cluster import connect
from components.control_plane import ServingControlPlane, ServingControlPlaneArgs
from components.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from components.gateway import Gateway, GatewayArgs
from components.gpu_operator import GpuOperator, GpuOperatorArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.network_policies import NetworkPolicies, NetworkPoliciesArgs
from components.secrets import ApiKeys, Secrets, SecretsArgs, vllm_api_keys_name
from components.serving_pool import ServingPool, ServingPoolArgs
from components.spec import PlatformSpec


class Platform(pulumi.ComponentResource):
    """Everything one environment stack declares; exposes `provider`, `serving_namespace`, `pools`."""

    def __init__(
        self, name: str, spec: PlatformSpec, api_keys: ApiKeys, opts: Optional[pulumi.ResourceOptions] = None
    ):
        super().__init__("llmserving:platform:Platform", name, outside_contract(spec), opts)
        self.spec = spec
        self.cluster = connect(spec.cluster, parent=self)
        self.provider = self.cluster.provider
        on_cluster = pulumi.ResourceOptions(parent=self, provider=self.provider)
        self.node_pools = {
            node_pool.name: GpuNodePool(node_pool.name, GpuNodePoolArgs(node_pool, self.cluster.eks), on_cluster)
            for node_pool in spec.node_pools
        }
        self.gpu_operator = self._gpu_operator(on_cluster) if spec.gpu_operator.enabled else None
        self.control_plane = ServingControlPlane("control-plane", ServingControlPlaneArgs(spec), on_cluster)
        self.serving_namespace = k8s.core.v1.Namespace(
            "serving-namespace",
            metadata={
                "name": spec.namespaces.serving,
                "labels": conventions.standard_labels("llm-serving", spec.namespaces.serving, "serving"),
            },
            opts=on_cluster,
        )
        self.gateway = Gateway("gateway", GatewayArgs(spec), _after(on_cluster, self.control_plane))
        namespaces = [self.serving_namespace, self.gateway.namespace]
        self.secrets = Secrets("secrets", SecretsArgs(spec, api_keys), _after(on_cluster, *namespaces))
        self.network_policies = NetworkPolicies("network-policies", NetworkPoliciesArgs(spec), _after(on_cluster, *namespaces))
        # Hardware and control plane first: a pool's objects wait for the CRDs of their kinds
        # (ServingPool hands its depends_on to them) and for GPU nodes to exist.
        underneath = [
            self.serving_namespace, *self.node_pools.values(), self.gpu_operator, self.control_plane, self.secrets
        ]  # fmt: skip
        pool_opts = pulumi.ResourceOptions.merge(
            on_cluster, pulumi.ResourceOptions(depends_on=[r for r in underneath if r is not None])
        )
        self.pools = {pool.name: self._serving_pool(pool, pool_opts) for pool in spec.pools}
        self.monitoring = self._monitoring(on_cluster) if spec.monitoring.enabled else None
        self.register_outputs({"pools": {name: pool.url for name, pool in self.pools.items()}})

    def _gpu_operator(self, opts: pulumi.ResourceOptions) -> GpuOperator:
        args = GpuOperatorArgs(driver_on_host=self.spec.gpu_driver_on_host, monitoring=self.spec.monitoring.enabled)
        return GpuOperator("gpu-operator", args, opts)

    def _serving_pool(self, pool, opts: pulumi.ResourceOptions) -> ServingPool:
        args = ServingPoolArgs(
            pool=pool,
            model=self.spec.model(pool.model),
            node_pool=self.spec.node_pool(pool.node_pool),
            namespace=self.spec.namespaces.serving,
            model_cache_claim=self.spec.model_cache.claim_name,
            prometheus_url=self.spec.monitoring.prometheus_url,
            capacity=self.spec.pool_capacity(pool),
            api_key_secret=vllm_api_keys_name(pool) if self.spec.gateway.vllm_api_key else None,
        )
        return ServingPool(pool.name, args, opts)

    def _monitoring(self, opts: pulumi.ResourceOptions) -> Monitoring:
        args = MonitoringArgs(
            spec=self.spec.monitoring, serving_namespace=self.spec.namespaces.serving, pools=self.spec.pools
        )
        return Monitoring("monitoring", args, opts)


def _after(opts: pulumi.ResourceOptions, *resources: pulumi.Resource) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(resources)))


def outside_contract(spec: PlatformSpec) -> dict[str, Any]:
    """What the stack relies on but does not create, recorded as the Platform's inputs so
    that `python -m tools check` can tell a pre-existing object from a dangling reference."""
    return {
        "preExisting": [
            {"kind": "PersistentVolumeClaim", "namespace": spec.namespaces.serving, "name": spec.model_cache.claim_name},
            # Without an issuer, the gateway serves a TLS Secret someone else provides.
            *([{"kind": "Secret", "namespace": spec.gateway.namespace, "name": spec.gateway.tls.secret_name}]
              if spec.gateway.tls.issuer is None else []),
        ],
        "nodePools": [node_pool.name for node_pool in spec.node_pools],
    }
