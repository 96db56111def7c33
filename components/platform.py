"""`Platform`: composes the layers of DESIGN.md section 2, bottom to top, for one stack."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import conventions
from components.cluster import connect
from components.control_plane import ServingControlPlane, ServingControlPlaneArgs
from components.gateway import Gateway, GatewayArgs
from components.gpu_node_pool import GpuNodePool, GpuNodePoolArgs, karpenter_node_role
from components.gpu_operator import GpuOperator, GpuOperatorArgs
from components.model_cache import ModelCache, ModelCacheArgs
from components.model_warmup import ModelWarmup, ModelWarmupArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.network_policies import NetworkPolicies, NetworkPoliciesArgs
from components.plan import Plan
from components.plan.pools import PoolPlan
from components.registry_mirror import RegistryMirror, RegistryMirrorArgs
from components.secrets import ApiKeys, Secrets, SecretsArgs
from components.serving_pool import ServingPool
from components.spec import ModelSpec, PlatformSpec
from components.upstream import KNATIVE_SERVING_NAMESPACE, KOURIER_INTERNAL_SERVICE


class Platform(pulumi.ComponentResource):
    """Everything one environment stack declares; exposes `provider`, `serving_namespace`, `pools`
    (ServingPool by pool name); outputs (registered) `pool_urls`."""

    def __init__(
        self,
        name: str,
        plan: Plan,
        api_keys: ApiKeys,
        opts: pulumi.ResourceOptions | None = None,
        hub_token: pulumi.Output[str] | None = None,
    ):
        spec = plan.spec
        super().__init__(conventions.PLATFORM_COMPONENT_TYPE, name, outside_contract(spec), opts)
        self.plan = plan
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
        self.gpu_operator = (
            GpuOperator("gpu-operator", GpuOperatorArgs(plan.gpu_operator), mirrored) if plan.gpu_operator else None
        )
        self.control_plane = ServingControlPlane("control-plane", ServingControlPlaneArgs(plan.control_plane), mirrored)
        self.serving_namespace = k8s.core.v1.Namespace(
            "serving-namespace",
            metadata={
                "name": spec.namespaces.serving,
                "labels": conventions.standard_labels("llm-serving", spec.namespaces.serving, "serving"),
            },
            # The model cache claim lives here and is retain_on_delete, but deleting a
            # Namespace deletes everything in it (Kubernetes' namespace controller), claim
            # included: so a stack with a claim in it keeps the namespace on `pulumi destroy`
            # too, and the weights stay (delete both by hand; README, Model cache).
            opts=pulumi.ResourceOptions.merge(
                on_cluster, pulumi.ResourceOptions(retain_on_delete=plan.model_cache.kind == "pvc")
            ),
        )
        self.gateway = Gateway("gateway", GatewayArgs(plan.gateway), _after(on_cluster, self.control_plane))
        namespaces = [self.serving_namespace, self.gateway.namespace]
        # The local cache's download namespace comes with the control plane.
        secret_namespaces = [*namespaces, *([self.control_plane] if spec.model_cache.kind == "local" else [])]
        self.secrets = Secrets(
            "secrets", SecretsArgs(plan.secrets, api_keys, hub_token), _after(on_cluster, *secret_namespaces)
        )
        self.model_cache = ModelCache(
            "model-cache",
            ModelCacheArgs(plan.model_cache),
            _after(on_cluster, self.serving_namespace, self.control_plane),
        )
        self.model_warmup = self._model_warmup(_after(mirrored, self.serving_namespace, self.secrets, self.model_cache))
        # Kourier's policy lives in Knative's namespace, which comes with the control plane.
        policy_namespaces = [*namespaces, self.control_plane]
        self.network_policies = NetworkPolicies(
            "network-policies",
            NetworkPoliciesArgs(plan.network_policies),
            _after(on_cluster, *policy_namespaces),
        )
        # Hardware and control plane first: a pool's objects wait for the CRDs of their kinds
        # (ServingPool hands its depends_on to them) and for GPU nodes to exist.
        underneath = [
            self.serving_namespace, *self.node_pools.values(), self.gpu_operator, self.control_plane, self.secrets
        ]  # fmt: skip
        pool_opts = pulumi.ResourceOptions.merge(
            on_cluster, pulumi.ResourceOptions(depends_on=[r for r in underneath if r is not None])
        )
        self.pools = {name: self._serving_pool(pool, pool_opts) for name, pool in plan.pools.items()}
        self.monitoring = (
            Monitoring("monitoring", MonitoringArgs(plan.monitoring), on_cluster) if plan.monitoring else None
        )
        self.pool_urls: dict[str, str] = {name: pool.url for name, pool in self.pools.items()}
        self.register_outputs({"poolUrls": self.pool_urls})

    def _registry_mirror_args(self) -> RegistryMirrorArgs:
        eks = self.cluster.eks
        return RegistryMirrorArgs(
            self.plan.mirror, eks.aws_provider if eks else None, node_roles=self._gpu_node_roles()
        )

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
        if self.plan.warmup is None:
            return None
        return ModelWarmup("model-warmup", ModelWarmupArgs(self.plan.warmup, self.cluster.eks), opts)

    def _weights_of(self, model: ModelSpec) -> list[pulumi.Resource]:
        """What must be done before a pool of `model` starts GPU pods: its revision is in the cache."""
        warmup = [self.model_warmup.job_for(model)] if self.model_warmup else []
        return [*self.model_cache.ready_for(model), *warmup]

    def _serving_pool(self, pool: PoolPlan, opts: pulumi.ResourceOptions) -> ServingPool:
        return ServingPool(pool.pool.name, pool, _after(opts, *self._weights_of(pool.model)))


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
