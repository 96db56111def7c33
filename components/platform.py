"""`Platform`: composes the layers of DESIGN.md section 2, bottom to top, for one stack."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import chart_images, conventions, versions
from components.cluster import connect
from components.control_plane import (
    KNATIVE_SERVING_NAMESPACE,
    KOURIER_INTERNAL_SERVICE,
    ServingControlPlane,
    ServingControlPlaneArgs,
)
from components.gateway import Gateway, GatewayArgs
from components.gpu_node_pool import GpuNodePool, GpuNodePoolArgs, karpenter_node_role
from components.gpu_operator import GpuOperator, GpuOperatorArgs
from components.model_cache import ModelCache, ModelCacheArgs, storage_uri
from components.model_warmup import ModelWarmup, ModelWarmupArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.network_policies import NetworkPolicies, NetworkPoliciesArgs
from components.registry_mirror import RegistryMirror, RegistryMirrorArgs
from components.secret_config import vllm_api_keys_name
from components.secrets import ApiKeys, Secrets, SecretsArgs
from components.serving_pool import ServingPool, ServingPoolArgs
from components.spec import ModelSpec, PlatformSpec


class Platform(pulumi.ComponentResource):
    """Everything one environment stack declares; exposes `provider`, `serving_namespace`, `pools`."""

    def __init__(
        self,
        name: str,
        spec: PlatformSpec,
        api_keys: ApiKeys,
        opts: pulumi.ResourceOptions | None = None,
        hub_token: pulumi.Output[str] | None = None,
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
        self.registry_mirror = RegistryMirror(
            "registry-mirror", self._registry_mirror_args(), pulumi.ResourceOptions(parent=self)
        )
        # Nothing pulls an image before the mirror can serve it.
        mirrored = _after(on_cluster, self.registry_mirror)
        self.gpu_operator = self._gpu_operator(mirrored) if spec.gpu_operator.enabled else None
        self.control_plane = ServingControlPlane("control-plane", ServingControlPlaneArgs(spec), mirrored)
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
        # The local cache's download namespace comes with the control plane.
        secret_namespaces = [*namespaces, *([self.control_plane] if spec.model_cache.kind == "local" else [])]
        self.secrets = Secrets(
            "secrets", SecretsArgs(spec, api_keys, hub_token), _after(on_cluster, *secret_namespaces)
        )
        self.model_cache = ModelCache(
            "model-cache", ModelCacheArgs(spec), _after(on_cluster, self.serving_namespace, self.control_plane)
        )
        self.model_warmup = self._model_warmup(_after(mirrored, self.serving_namespace, self.secrets, self.model_cache))
        # Kourier's policy lives in Knative's namespace, which comes with the control plane.
        policy_namespaces = [*namespaces, self.control_plane]
        self.network_policies = NetworkPolicies(
            "network-policies", NetworkPoliciesArgs(spec), _after(on_cluster, *policy_namespaces)
        )
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
        args = GpuOperatorArgs(
            driver_on_host=self.spec.gpu_driver_on_host,
            monitoring=self.spec.monitoring.enabled,
            device_plugin=self.spec.gpu_operator_device_plugin,
            mirror=self.registry_mirror.mirror,
        )
        return GpuOperator("gpu-operator", args, opts)

    def _registry_mirror_args(self) -> RegistryMirrorArgs:
        eks = self.cluster.eks
        return RegistryMirrorArgs(self.spec, eks.aws_provider if eks else None, node_roles=self._gpu_node_roles())

    def _gpu_node_roles(self) -> list[pulumi.Input[str]]:
        """IAM roles of the GPU nodes: the ones this stack creates and Karpenter's."""
        roles: list[pulumi.Input[str]] = []
        for node_pool in self.node_pools.values():
            if node_pool.spec.kind == "managed":
                roles.append(node_pool.node_role.name)
            elif node_pool.spec.kind == "karpenter" and self.cluster.eks:
                role = karpenter_node_role(node_pool.spec, self.cluster.eks.cluster.name)
                roles += [role] if role not in roles else []
        return roles

    def _model_warmup(self, opts: pulumi.ResourceOptions) -> ModelWarmup | None:
        """Warm-up Jobs fill a claim; KServe's own Jobs fill a local cache."""
        if self.spec.model_cache.kind != "pvc":
            return None
        image = self.registry_mirror.image(chart_images.warmup_image(self.spec))
        return ModelWarmup("model-warmup", ModelWarmupArgs(self.spec, image, self.cluster.eks), opts)

    def _weights_of(self, model: ModelSpec) -> list[pulumi.Resource]:
        """What must be done before a pool of `model` starts GPU pods: its revision is in the cache."""
        warmup = [self.model_warmup.job_for(model)] if self.model_warmup else []
        return [*self.model_cache.ready_for(model), *warmup]

    def _serving_pool(self, pool, opts: pulumi.ResourceOptions) -> ServingPool:
        args = ServingPoolArgs(
            pool=pool,
            model=self.spec.model(pool.model),
            node_pool=self.spec.node_pool(pool.node_pool),
            namespace=self.spec.namespaces.serving,
            model_cache_claim=self.spec.model_cache.claim_name,
            prometheus_url=self.spec.monitoring.prometheus_url,
            capacity=self.spec.pool_capacity(pool),
            image=self.registry_mirror.image(versions.VLLM_IMAGE),
            api_key_secret=vllm_api_keys_name(pool) if self.spec.gateway.vllm_api_key else None,
            storage_uri=storage_uri(self.spec, self.spec.model(pool.model)),
        )
        return ServingPool(pool.name, args, _after(opts, *self._weights_of(self.spec.model(pool.model))))

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
            # A pvc cache without a storage class is a claim someone else created.
            *(
                [
                    {
                        "kind": "PersistentVolumeClaim",
                        "namespace": spec.namespaces.serving,
                        "name": spec.model_cache.claim_name,
                    }
                ]
                if spec.model_cache.kind == "pvc" and spec.model_cache.storage_class_name is None
                else []
            ),
            # Without an issuer, the gateway serves a TLS Secret someone else provides.
            *(
                [{"kind": "Secret", "namespace": spec.gateway.namespace, "name": spec.gateway.tls.secret_name}]
                if spec.gateway.tls.issuer is None
                else []
            ),
            # Knative pools on the cluster's own Knative go through its Kourier.
            *(
                [{"kind": "Service", "namespace": KNATIVE_SERVING_NAMESPACE, "name": KOURIER_INTERNAL_SERVICE}]
                if spec.knative_pools and not spec.control_plane.knative.enabled
                else []
            ),
        ],
        "nodePools": [node_pool.name for node_pool in spec.node_pools],
    }
