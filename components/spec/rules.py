"""The rules that need more than one area of the config: names that must be unique,
references between pools, models and node pools, the GPU Operator against the node pools'
AMIs, the supply chain against what the stack deploys, and the capacity gate."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic.alias_generators import to_camel

from components import upstream
from components.catalog import ARCHITECTURES, INSTANCE_TYPES, Architecture
from components.images import ECR_PULL_THROUGH, parse, unpinned
from components.model_cache_size import model_cache_error
from components.rollout import rollout_problems
from components.spec.base import Problem, host_port_problem, quantity_bytes
from components.spec.cluster import CLOUD_KINDS, NodePoolSpec, node_pool_problems
from components.spec.edge import gateway_problems
from components.spec.images import platform_images
from components.spec.models import ModelSpec, model_problems
from components.spec.platform import PlatformSpec
from components.spec.pools import PoolSpec, pool_problems
from components.spec.supply_chain import (
    _CACHE_FIELD_KINDS,
    EcrPullThroughMirror,
    ExternalRegistryMirror,
    HubModelMirror,
    S3ModelMirror,
    host_path_problem,
)


def cross_field_problems(spec: PlatformSpec) -> Iterator[Problem]:
    yield from _unique_names(spec)
    yield from _namespace_problems(spec)
    for index, node_pool in enumerate(spec.node_pools):
        yield from node_pool_problems(f"nodePools[{index}]", node_pool, on_eks=spec.on_eks)
    yield from _device_plugin_problems(spec)
    for index, model in enumerate(spec.models):
        yield from model_problems(f"models[{index}]", model)
    yield from gateway_problems(spec.gateway)
    for index, pool in enumerate(spec.pools):
        yield from _pool_problems(spec, f"pools[{index}]", pool)
    yield from _registry_mirror_problems(spec)
    yield from _model_supply_problems(spec)


def _unique_names(spec: PlatformSpec) -> Iterator[Problem]:
    for section, items, attr in (
        ("nodePools", spec.node_pools, "name"),
        ("models", spec.models, "name"),
        ("pools", spec.pools, "name"),
        ("pools", spec.pools, "hostname"),
    ):
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            value = getattr(item, attr)
            if value in seen:
                yield f"{section}[{index}].{attr}", f"'{value}' is already used by {section}[{seen[value]}]"
            seen.setdefault(value, index)


def _device_plugin_problems(spec: PlatformSpec) -> Iterator[Problem]:
    """Bottlerocket's NVIDIA variant runs its own device plugin; the GPU Operator's can be left
    out only cluster-wide, so Bottlerocket cannot share a cluster with other GPU nodes."""
    bottlerocket = [
        index
        for index, pool in enumerate(spec.node_pools)
        if pool.kind in CLOUD_KINDS and pool.ami_family == "bottlerocket"
    ]
    if not spec.gpu_operator.enabled or not bottlerocket:
        return
    if not spec.gpu_driver_on_host:
        yield (
            "gpuOperator.driverOnHost",
            "Bottlerocket ships the NVIDIA driver and toolkit on a read-only OS, where the operator cannot install "
            "them; leave driverOnHost unset or true",
        )
    if not spec.gpu_operator_device_plugin:
        return
    for index, node_pool in enumerate(spec.node_pools):
        if node_pool.kind in CLOUD_KINDS and node_pool.ami_family == "bottlerocket":
            yield (
                f"nodePools[{index}].amiFamily",
                "Bottlerocket runs its own NVIDIA device plugin, and the GPU Operator's runs for the other node "
                "pools too: give every GPU node pool amiFamily bottlerocket (the operator then leaves its plugin "
                "out) or none, or set gpuOperator.enabled: false",
            )


# --- pools against their models, node pools and Knative -------------------------------


def _pool_problems(spec: PlatformSpec, path: str, pool: PoolSpec) -> Iterator[Problem]:
    yield from pool_problems(path, pool)
    if pool.requests_per_minute % spec.gateway.replicas:
        yield (
            f"{path}.requestsPerMinute",
            f"{pool.requests_per_minute} is not a multiple of gateway.replicas ({spec.gateway.replicas}): "
            "each proxy enforces an equal whole share of it (components/gateway.py per_proxy_limit)",
        )
    yield from _knative_timeout_problems(spec, path, pool)
    model = next((m for m in spec.models if m.name == pool.model), None)
    node_pool = next((n for n in spec.node_pools if n.name == pool.node_pool), None)
    if model is None:
        yield f"{path}.model", f"'{pool.model}' is not a model name; defined: {_names(spec.models)}"
    elif isinstance(model.architecture, Architecture) or model.architecture in ARCHITECTURES:
        limit = model.arch.max_context
        if pool.max_model_len > limit:
            yield f"{path}.maxModelLen", f"{pool.max_model_len} is above the maximum context of {model.name} ({limit})"
    if node_pool is None:
        yield f"{path}.nodePool", f"'{pool.node_pool}' is not a node pool name; defined: {_names(spec.node_pools)}"
    elif _resolvable(node_pool) and node_pool.gpus_per_node % pool.tensor_parallel_size:
        yield (
            f"{path}.tensorParallelSize",
            f"{pool.tensor_parallel_size} does not divide the {node_pool.gpus_per_node} GPUs "
            f"of a '{node_pool.name}' node",
        )
    elif _resolvable(node_pool) and node_pool.kind in CLOUD_KINDS:
        gpus = node_pool.scaling.max * node_pool.gpus_per_node
        if pool.replicas.max * pool.tensor_parallel_size > gpus:
            yield (
                f"{path}.replicas.max",
                f"{pool.replicas.max} replicas of {pool.tensor_parallel_size} GPU(s) need more than the {gpus} GPUs "
                f"node pool '{node_pool.name}' can hold (scaling.max {node_pool.scaling.max} x "
                f"{node_pool.gpus_per_node}); raise its scaling.max or lower replicas.max",
            )


def _memory_problems(path: str, pool: PoolSpec, model: ModelSpec) -> Iterator[Problem]:
    """A pod's memory holds at least its GPUs' share of the checkpoint: vLLM reads the weights
    through host memory on their way to the GPUs, and a smaller limit is OOM-killed at start."""
    shard = model.checkpoint_bytes / pool.tensor_parallel_size
    if quantity_bytes(pool.memory_request) < shard:
        yield (
            f"{path}.memory",
            f"{pool.memory_request} is below the {shard / 2**30:.1f} GiB of weights each pod loads through host "
            f"memory ({model.name} over {pool.tensor_parallel_size} GPU(s)); the pod would be OOM-killed at start",
        )


# Namespaces every cluster has for its own use: the platform's objects never go there.
_CLUSTER_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def _namespace_problems(spec: PlatformSpec) -> Iterator[Problem]:
    """The serving, gateway and monitoring namespaces are three separate ones, none of the
    cluster's own: each gets its own NetworkPolicies, and one shared namespace would let the
    pods of one reach the others' ports as neighbours."""
    owners = [
        ("namespaces.serving", spec.namespaces.serving),
        ("gateway.namespace", spec.gateway.namespace),
        ("monitoring.namespace", spec.monitoring.namespace),
    ]
    for index, (path, namespace) in enumerate(owners):
        if namespace in _CLUSTER_NAMESPACES:
            yield path, f"'{namespace}' is one of the cluster's own namespaces; name one for the platform"
            continue
        earlier = next((other for other, taken in owners[:index] if taken == namespace), None)
        if earlier is not None:
            yield path, f"'{namespace}' is already {earlier}; give each its own namespace"


def _resolvable(node_pool: NodePoolSpec) -> bool:
    if node_pool.instance_type is not None:
        return node_pool.instance_type in INSTANCE_TYPES
    return node_pool.gpu_count is not None


def _names(items: tuple[Any, ...]) -> str:
    return ", ".join(item.name for item in items)


def _knative_timeout_problems(spec: PlatformSpec, path: str, pool: PoolSpec) -> Iterator[Problem]:
    accepted = pool.accepted_risks.knative_proxy_restart is not None
    acceptance = f"{path}.acceptedRisks.knativeProxyRestart"
    if pool.mode != "knative":
        if accepted:
            yield acceptance, "a standard pool has no Knative proxy in front of it; remove it"
        return
    limit = spec.knative_max_revision_timeout_seconds
    scales_from_zero = pool.request_timeout_seconds != pool.timeout_seconds
    total = (
        f"{pool.request_timeout_seconds} (timeoutSeconds {pool.timeout_seconds} + startupTimeoutSeconds "
        f"{pool.startup_timeout_seconds}, as the pool scales from zero)"
        if scales_from_zero else str(pool.timeout_seconds)
    )  # fmt: skip
    if pool.request_timeout_seconds > limit:
        yield (
            f"{path}.timeoutSeconds",
            f"{total} is above Knative's max-revision-timeout-seconds on this cluster ({limit}); "
            "raise controlPlane.knative.maxRevisionTimeoutSeconds, or use standard mode",
        )
    drain = upstream.KNATIVE_PROXY_DRAIN_SECONDS
    if pool.request_timeout_seconds > drain and not accepted:
        yield (
            f"{path}.mode",
            f"a Knative pool's requests pass through Knative's proxies, which drain for less than its request "
            f"timeout {total} when they restart: Kourier's gateway {upstream.KOURIER_GATEWAY_DRAIN_SECONDS} s "
            f"(terminationGracePeriodSeconds {upstream.KOURIER_GATEWAY_TERMINATION_GRACE_SECONDS}), the activator "
            f"{upstream.KNATIVE_ACTIVATOR_TERMINATION_GRACE_SECONDS} s, and the Knative Operator can raise neither, "
            "so a Knative upgrade, a node drain or Kourier's autoscaler scaling down cuts the requests they carry. "
            "Use standard mode (its path, the edge proxies and vLLM, drains for the pool's timeout), or accept "
            "the risk with its reason in acceptedRisks.knativeProxyRestart",
        )
    elif accepted and pool.request_timeout_seconds <= drain:
        yield (
            acceptance,
            f"the request timeout ({total} s) fits the Knative proxies' drain ({drain} s), so there is no "
            "such risk to accept; remove it",
        )


# --- supply chain against what the stack deploys --------------------------------------


def _registry_mirror_problems(spec: PlatformSpec) -> Iterator[Problem]:
    mirror = spec.registry_mirror
    used = _images_by_registry(spec)
    if isinstance(mirror, EcrPullThroughMirror):
        yield from _ecr_problems(spec, mirror, used)
    elif isinstance(mirror, ExternalRegistryMirror):
        port_problem = host_port_problem(mirror.host)
        if port_problem:
            yield "registryMirror.host", port_problem
        for registry in sorted(set(used) - set(mirror.prefixes)):
            yield f"registryMirror.prefixes.{registry}", f"required: this stack pulls {_examples(used[registry])}"
    known = {unpinned(image) for image in platform_images(spec) if parse(image).tag}
    for image in sorted(mirror.digests):
        if unpinned(image) not in known:
            yield (
                f"registryMirror.digests.{image}",
                "not a tagged image this stack deploys; name it as its chart or pod does upstream",
            )


def _ecr_problems(spec: PlatformSpec, mirror: EcrPullThroughMirror, used: dict[str, list[str]]) -> Iterator[Problem]:
    if not spec.on_eks:
        yield (
            "registryMirror.kind",
            "'ecr-pull-through' creates ECR rules and needs an eks cluster; a kubeconfig cluster allows: external, none",
        )
    for registry in sorted(mirror.credential_arns):
        upstream = ECR_PULL_THROUGH.get(registry)
        if upstream is None or not upstream.needs_credentials:
            yield f"registryMirror.credentialArns.{registry}", "ECR takes credentials only for docker.io and ghcr.io"
    for registry in sorted(set(mirror.copied_prefixes) & set(ECR_PULL_THROUGH)):
        yield f"registryMirror.copiedPrefixes.{registry}", "ECR caches it through a rule; copy only nvcr.io and gcr.io"
    yield from _ecr_unmirrored_problems(mirror, used)


def _ecr_unmirrored_problems(mirror: EcrPullThroughMirror, used: dict[str, list[str]]) -> Iterator[Problem]:
    """Upstreams this stack pulls from that the ECR mirror has neither a usable rule nor a copy for."""
    for registry, found in sorted(used.items()):
        upstream = ECR_PULL_THROUGH.get(registry)
        if upstream is None and registry not in mirror.copied_prefixes:
            yield (
                f"registryMirror.copiedPrefixes.{registry}",
                f"required: ECR has no pull-through cache for {registry}; name the ECR prefix your image copy job "
                f"fills with {_examples(found)}",
            )
        elif upstream is not None and upstream.needs_credentials and registry not in mirror.credential_arns:
            yield (
                f"registryMirror.credentialArns.{registry}",
                f"required: ECR caches {registry} only with a Secrets Manager secret named ecr-pullthroughcache/... "
                f"holding its credentials; this stack pulls {_examples(found)}",
            )


def _images_by_registry(spec: PlatformSpec) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for image in platform_images(spec):
        found.setdefault(parse(image).registry, []).append(image)
    return found


def _examples(images: list[str]) -> str:
    more = f" and {len(images) - 1} more" if len(images) > 1 else ""
    return f"{images[0]}{more}"


def _model_supply_problems(spec: PlatformSpec) -> Iterator[Problem]:
    cache, mirror = spec.model_cache, spec.model_mirror
    if isinstance(mirror, S3ModelMirror) and not spec.on_eks:
        yield (
            "modelMirror.kind",
            "'s3' reads the bucket through an IAM role bound with EKS Pod Identity and needs an eks cluster; "
            "a kubeconfig cluster allows: hub, hub-mirror",
        )
    for field in sorted(cache.model_fields_set & set(_CACHE_FIELD_KINDS)):
        if cache.kind != _CACHE_FIELD_KINDS[field]:
            yield f"modelCache.{to_camel(field)}", f"applies to modelCache.kind {_CACHE_FIELD_KINDS[field]} only"
    if cache.kind == "local":
        path_problem = host_path_problem(cache.local_path)
        if path_problem:
            yield "modelCache.localPath", path_problem
        yield from _local_cache_problems(spec)


def _local_cache_problems(spec: PlatformSpec) -> Iterator[Problem]:
    if not isinstance(spec.model_mirror, HubModelMirror):
        yield (
            "modelMirror.kind",
            f"'{spec.model_mirror.kind}' does not work with modelCache.kind local: KServe's local-model download "
            "Jobs get only the hub token from us; use modelCache.kind pvc (warm-up Jobs) for hub-mirror and s3",
        )
    if spec.model_cache.size is None:
        yield "modelCache.size", "required for modelCache.kind local: the space each GPU node sets aside"
        return
    size = quantity_bytes(spec.model_cache.size)
    used = {pool.node_pool for pool in spec.pools}
    for index, node_pool in enumerate(spec.node_pools):
        if node_pool.name in used and node_pool.kind in CLOUD_KINDS and size >= node_pool.disk_size_gib * 2**30:
            yield (
                f"nodePools[{index}].diskSizeGib",
                f"{node_pool.disk_size_gib} GiB leaves no room next to modelCache.size {spec.model_cache.size}, "
                "which each node keeps on this disk",
            )


# --- capacity gate --------------------------------------------------------------------


# --- capacity gate --------------------------------------------------------------------


def capacity_problems(spec: PlatformSpec) -> Iterator[Problem]:
    """Pools that cannot start (on their GPUs, or in their pod's memory) or cannot serve their
    concurrency, and a cache too small."""
    for index, pool in enumerate(spec.pools):
        errors = spec.pool_capacity(pool).errors
        for error in errors:
            yield f"pools[{index}]", f"capacity: {error}"
        if not errors:  # weights that fit no GPU are the problem to fix first
            yield from _memory_problems(f"pools[{index}]", pool, spec.model(pool.model))
    if spec.model_cache.size is not None:
        cache_bytes = quantity_bytes(spec.model_cache.size)
        cache_error = model_cache_error(cache_bytes, [m.checkpoint_bytes for m in spec.models])
        if cache_error:
            yield "modelCache.size", cache_error
    yield from rollout_problems(spec)
