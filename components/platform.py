"""`Platform`: composes the layers of DESIGN.md section 2, bottom to top, for one stack."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components import conventions
from components.cluster import kubernetes_provider
from components.serving_pool import ServingPool, ServingPoolArgs
from components.spec import PlatformSpec


class Platform(pulumi.ComponentResource):
    """Everything one environment stack declares; exposes `provider`, `serving_namespace`, `pools`."""

    def __init__(self, name: str, spec: PlatformSpec, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("llmserving:platform:Platform", name, None, opts)
        self.spec = spec
        self.provider = kubernetes_provider(spec.cluster, parent=self)
        on_cluster = pulumi.ResourceOptions(parent=self, provider=self.provider)
        self.serving_namespace = k8s.core.v1.Namespace(
            "serving-namespace",
            metadata={
                "name": spec.namespaces.serving,
                "labels": conventions.standard_labels("llm-serving", spec.namespaces.serving, "serving"),
            },
            opts=on_cluster,
        )
        pool_opts = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=[self.serving_namespace]))
        self.pools = {pool.name: self._serving_pool(pool, pool_opts) for pool in spec.pools}
        self.register_outputs({"pools": {name: pool.url for name, pool in self.pools.items()}})

    def _serving_pool(self, pool, opts: pulumi.ResourceOptions) -> ServingPool:
        args = ServingPoolArgs(
            pool=pool,
            model=self.spec.model(pool.model),
            node_pool=self.spec.node_pool(pool.node_pool),
            namespace=self.spec.namespaces.serving,
            model_cache_claim=self.spec.model_cache.claim_name,
            prometheus_url=self.spec.monitoring.prometheus_url,
            capacity=self.spec.pool_capacity(pool),
        )
        return ServingPool(pool.name, args, opts)
