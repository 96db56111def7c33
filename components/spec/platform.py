"""`PlatformSpec`, the whole platform of one stack, and what the components derive from it."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from pydantic import Field, model_validator

from components.capacity import PoolCapacity, evaluate_pool
from components.catalog import GPUS
from components.images import ECR_PULL_THROUGH, Mirror, ecr_registry_host, unpinned
from components.pool_defaults import CONTEXT_CAPS
from components.spec.base import _Spec
from components.spec.cluster import (
    CLOUD_KINDS,
    KNATIVE_DEFAULT_MAX_TIMEOUT_SECONDS,
    ClusterSpec,
    ControlPlaneSpec,
    EksCluster,
    GpuOperatorSpec,
    Namespaces,
    NodePoolSpec,
    _with_node_pool_kinds,
)
from components.spec.edge import GatewaySpec
from components.spec.models import ModelSpec
from components.spec.monitoring import MonitoringSpec
from components.spec.pools import PoolSpec
from components.spec.supply_chain import (
    EcrPullThroughMirror,
    ExternalRegistryMirror,
    HubModelMirror,
    ModelCacheSpec,
    ModelMirrorSpec,
    NoRegistryMirror,
    RegistryMirrorSpec,
    S3ModelMirror,
)
from components.vllm_args import runs_eager


class PlatformSpec(_Spec):
    """The whole platform of one stack."""

    cluster: ClusterSpec
    namespaces: Namespaces = Namespaces()
    model_cache: ModelCacheSpec = ModelCacheSpec()
    registry_mirror: RegistryMirrorSpec = NoRegistryMirror()
    model_mirror: ModelMirrorSpec = HubModelMirror()
    monitoring: MonitoringSpec = MonitoringSpec()
    gateway: GatewaySpec = GatewaySpec()
    gpu_operator: GpuOperatorSpec = GpuOperatorSpec()
    control_plane: ControlPlaneSpec = ControlPlaneSpec()
    node_pools: tuple[NodePoolSpec, ...] = Field(min_length=1)
    models: tuple[ModelSpec, ...] = Field(min_length=1)
    pools: tuple[PoolSpec, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _default_node_pool_kinds(cls, data: Any) -> Any:
        return _with_node_pool_kinds(data)

    @property
    def on_eks(self) -> bool:
        return isinstance(self.cluster, EksCluster)

    @property
    def gpu_operator_device_plugin(self) -> bool:
        """Whether the GPU Operator runs its device plugin: not when every node pool is Bottlerocket,
        whose NVIDIA variant runs its own (two plugins on a node fight over nvidia.com/gpu)."""
        families = {pool.ami_family if pool.kind in CLOUD_KINDS else "other" for pool in self.node_pools}
        return families != {"bottlerocket"}

    @property
    def gpu_driver_on_host(self) -> bool:
        driver_on_host = self.gpu_operator.driver_on_host
        return self.on_eks if driver_on_host is None else driver_on_host

    @property
    def knative_max_revision_timeout_seconds(self) -> int:
        """What Knative's max-revision-timeout-seconds is on this stack's cluster."""
        knative = self.control_plane.knative
        if knative.max_revision_timeout_seconds is not None:
            return knative.max_revision_timeout_seconds
        if not knative.enabled:
            return KNATIVE_DEFAULT_MAX_TIMEOUT_SECONDS
        return max([KNATIVE_DEFAULT_MAX_TIMEOUT_SECONDS, *(p.request_timeout_seconds for p in self.knative_pools)])

    @property
    def image_mirror(self) -> Mirror:
        """What `images.mirrored` needs to turn any upstream image into the one this stack pulls."""
        mirror = self.registry_mirror
        digests = {unpinned(image): digest for image, digest in mirror.digests.items()}
        if isinstance(mirror, EcrPullThroughMirror):
            prefixes = {registry: upstream.ecr_prefix for registry, upstream in ECR_PULL_THROUGH.items()}
            prefixes.update(mirror.copied_prefixes.items())
            host = ecr_registry_host(mirror.account_id, self.registry_mirror_region)
            return Mirror(host=host, prefixes=prefixes, digests=digests)
        if isinstance(mirror, ExternalRegistryMirror):
            return Mirror(host=mirror.host, prefixes=dict(mirror.prefixes.items()), digests=digests)
        return Mirror(digests=digests)

    @property
    def cluster_region(self) -> str:
        """The EKS cluster's region; empty for other clusters."""
        return self.cluster.region if isinstance(self.cluster, EksCluster) else ""

    @property
    def registry_mirror_region(self) -> str:
        mirror = self.registry_mirror
        region = mirror.region if isinstance(mirror, EcrPullThroughMirror) else None
        return region or self.cluster_region

    @property
    def model_mirror_region(self) -> str:
        mirror = self.model_mirror
        region = mirror.region if isinstance(mirror, S3ModelMirror) else None
        return region or self.cluster_region

    @property
    def hub_token_needed(self) -> bool:
        """Whether the warm-up downloads with the hub token (secret config hfToken)."""
        mirror = self.model_mirror
        return False if isinstance(mirror, S3ModelMirror) else mirror.token

    @property
    def knative_pools(self) -> tuple[PoolSpec, ...]:
        return tuple(pool for pool in self.pools if pool.mode == "knative")

    def model(self, name: str) -> ModelSpec:
        return next(m for m in self.models if m.name == name)

    def node_pool(self, name: str) -> NodePoolSpec:
        return next(n for n in self.node_pools if n.name == name)

    @cached_property
    def capacities(self) -> dict[str, PoolCapacity]:
        """Pool name -> `pool_capacity`, evaluated once per spec: the capacity gate and the
        plan read the same figures (the spec is frozen, so they cannot go stale)."""
        return {pool.name: self._evaluate_capacity(pool) for pool in self.pools}

    def pool_capacity(self, pool: PoolSpec) -> PoolCapacity:
        """The capacity model's figures and verdict for one replica of `pool`."""
        return self.capacities[pool.name] if pool in self.pools else self._evaluate_capacity(pool)

    def _evaluate_capacity(self, pool: PoolSpec) -> PoolCapacity:
        model = self.model(pool.model)
        return evaluate_pool(
            arch=model.arch,
            gpu=GPUS[self.node_pool(pool.node_pool).gpu_key],
            tensor_parallel_size=pool.tensor_parallel_size,
            dtype=model.dtype,
            quantization=model.quantization,
            kv_cache_dtype=pool.kv_cache_dtype,
            max_model_len=pool.max_model_len,
            max_num_seqs=pool.max_num_seqs,
            max_num_batched_tokens=pool.max_num_batched_tokens,
            gpu_memory_utilization=pool.gpu_memory_utilization,
            min_concurrent_at_cap=pool.min_concurrent_at_cap,
            cuda_graphs=not runs_eager(pool.extra_args),
            measured_kv_cache_tokens=pool.measured_kv_cache_tokens,
            context_cap=CONTEXT_CAPS.get(pool.workload_class),
        )
