"""The supply-chain and GPU Operator slices of the plan: what `RegistryMirror` and
`GpuOperator` read, derived once from the validated `PlatformSpec` (pure Python).

The registry mirror's slice names every ECR pull-through cache rule the stack needs (one
per upstream registry it pulls from that ECR can cache) and the mapping (`images.Mirror`)
that every image reference goes through. The GPU Operator's slice holds the switches of its
chart values and the same mapping, so the operands and our pods agree on one reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from components.images import ECR_PULL_THROUGH, NO_MIRROR, Mirror, parse
from components.spec import EcrPullThroughMirror, PlatformSpec
from components.spec.images import platform_images


@dataclass(frozen=True)
class PullThroughRule:
    """One ECR pull-through cache rule: the upstream registry as images name it, the ECR
    repository prefix its images get, the URL the rule names, and the Secrets Manager
    secret ECR pulls with (Docker Hub and GHCR only)."""

    registry: str
    ecr_prefix: str
    upstream_url: str
    credential_arn: str | None = None


@dataclass(frozen=True)
class PullThroughCache:
    """An `ecr-pull-through` mirror: the private registry's account and region, its rules,
    and the roles of the cluster's non-GPU nodes (`nodeRoles`) that may import into it."""

    account_id: str
    region: str
    rules: tuple[PullThroughRule, ...]
    node_roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class MirrorPlan:
    """What `RegistryMirror` reads: the mirror's kind, the image mapping, and the cache to
    create (None unless the kind is `ecr-pull-through`)."""

    kind: str
    mirror: Mirror
    pull_through: PullThroughCache | None = None


@dataclass(frozen=True)
class GpuOperatorPlan:
    """What `GpuOperator` reads: whether the nodes bring their own driver and toolkit (EKS
    NVIDIA AMIs), whether the DCGM exporter gets a ServiceMonitor, whether the operator runs
    its device plugin (not where every node is Bottlerocket), and the image mapping."""

    driver_on_host: bool
    monitoring: bool
    device_plugin: bool = True
    # The `release` label value the cluster's Prometheus selects ServiceMonitors by.
    release_label: str = ""
    mirror: Mirror = NO_MIRROR  # every operand image, NFD's included, comes through it


def plan_mirror(spec: PlatformSpec) -> MirrorPlan:
    mirror = spec.registry_mirror
    pull_through = _pull_through_cache(spec, mirror) if isinstance(mirror, EcrPullThroughMirror) else None
    return MirrorPlan(kind=mirror.kind, mirror=spec.image_mirror, pull_through=pull_through)


def plan_gpu_operator(spec: PlatformSpec) -> GpuOperatorPlan:
    return GpuOperatorPlan(
        driver_on_host=spec.gpu_driver_on_host,
        monitoring=spec.monitoring.enabled,
        device_plugin=spec.gpu_operator_device_plugin,
        mirror=spec.image_mirror,
        release_label=spec.monitoring.release_label,
    )


def cached_registries(spec: PlatformSpec) -> list[str]:
    """The upstream registries this stack pulls from that ECR caches through a rule."""
    return sorted({parse(image).registry for image in platform_images(spec)} & set(ECR_PULL_THROUGH))


def _pull_through_cache(spec: PlatformSpec, mirror: EcrPullThroughMirror) -> PullThroughCache:
    # The spec keys credentialArns by its UpstreamRegistry literal; a parsed image's registry
    # is a str, which a dict keyed by the literal does not take.
    credential_arns = cast("Mapping[str, str]", mirror.credential_arns)
    rules = tuple(
        PullThroughRule(
            registry=registry,
            ecr_prefix=ECR_PULL_THROUGH[registry].ecr_prefix,
            upstream_url=ECR_PULL_THROUGH[registry].url,
            credential_arn=credential_arns.get(registry),
        )
        for registry in cached_registries(spec)
    )
    return PullThroughCache(
        account_id=mirror.account_id, region=spec.registry_mirror_region, rules=rules, node_roles=mirror.node_roles
    )
