"""`RegistryMirror`: where every image the platform deploys is pulled from (DESIGN.md section 2).

Kinds (`registryMirror.kind`):
- `ecr-pull-through`: one ECR pull-through cache rule per upstream registry the stack pulls
  from that ECR can cache (Docker Hub and GHCR with an existing Secrets Manager secret for
  their credentials; Quay, registry.k8s.io and ECR Public without). The first pull of an
  image imports it into the private registry, and every later pull (each node, each
  replica) is served from ECR in the cluster's region. ECR cannot cache nvcr.io (GPU
  Operator) or gcr.io (Knative): their images are expected under `copiedPrefixes`, kept
  there by an image copy job of yours. A node that pulls an image ECR has not cached yet
  needs `ecr:BatchImportUpstreamImage` and `ecr:CreateRepository` on the cache's
  repositories: an inline policy grants them to the GPU node pools' roles and to
  `nodeRoles`.
- `external`: an existing mirror host with a path prefix per upstream; nothing to create.
- `none`: images come from upstream.

`image(upstream)` is the mapping every component uses (`images.mirrored` with this stack's
mirror), so the chart values and our pods agree on one reference per image.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_aws as aws

from components.chart_images import platform_images
from components.cluster import aws_partition
from components.images import ECR_PULL_THROUGH, Mirror, mirrored, parse
from components.spec import EcrPullThroughMirror, PlatformSpec

# ECR's own actions for an image its cache has not imported yet (ECR user guide,
# "IAM permissions required to sync an upstream registry").
IMPORT_ACTIONS = ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]


@dataclass(frozen=True)
class RegistryMirrorArgs:
    spec: PlatformSpec
    aws_provider: aws.Provider | None = None
    # IAM roles of the GPU nodes this stack creates or names (managed node groups, Karpenter).
    node_roles: Sequence[pulumi.Input[str]] = ()


class RegistryMirror(pulumi.ComponentResource):
    """Exposes `mirror` (images.Mirror), `image(upstream)`, `rules` (upstream registry ->
    PullThroughCacheRule) and `import_policies` (the inline node-role policies)."""

    def __init__(self, name: str, args: RegistryMirrorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:supplychain:RegistryMirror", name, None, opts)
        spec = args.spec
        self.mirror: Mirror = spec.image_mirror
        self.rules: dict[str, aws.ecr.PullThroughCacheRule] = {}
        self.import_policies: list[aws.iam.RolePolicy] = []
        mirror = spec.registry_mirror
        if isinstance(mirror, EcrPullThroughMirror):
            child = pulumi.ResourceOptions(parent=self, provider=args.aws_provider)
            self.rules = {registry: self._rule(spec, mirror, registry, child) for registry in cached_registries(spec)}
            roles = [*args.node_roles, *mirror.node_roles]
            self.import_policies = [
                self._import_policy(spec, mirror, index, role, child) for index, role in enumerate(roles)
            ]
        self.register_outputs({"kind": mirror.kind, "host": self.mirror.host or ""})

    def image(self, upstream: str) -> str:
        return mirrored(upstream, self.mirror)

    def _rule(
        self, spec: PlatformSpec, mirror: EcrPullThroughMirror, registry: str, opts: pulumi.ResourceOptions
    ) -> aws.ecr.PullThroughCacheRule:
        upstream = ECR_PULL_THROUGH[registry]
        # The spec keys credentialArns by its UpstreamRegistry literal; `registry` is a parsed
        # image's registry, a str, which a dict keyed by the literal does not take.
        credential_arns = cast("Mapping[str, str]", mirror.credential_arns)
        return aws.ecr.PullThroughCacheRule(
            f"pull-through-{upstream.ecr_prefix}",
            ecr_repository_prefix=upstream.ecr_prefix,
            upstream_registry_url=upstream.url,
            credential_arn=credential_arns.get(registry),
            region=spec.registry_mirror_region,
            opts=opts,
        )

    def _import_policy(
        self,
        spec: PlatformSpec,
        mirror: EcrPullThroughMirror,
        index: int,
        role: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
    ) -> aws.iam.RolePolicy:
        return aws.iam.RolePolicy(
            f"pull-through-import-{index}",
            role=role,
            policy=import_policy_document(spec, mirror),
            opts=opts,
        )


def cached_registries(spec: PlatformSpec) -> list[str]:
    """The upstream registries this stack pulls from that ECR caches through a rule."""
    return sorted({parse(image).registry for image in platform_images(spec)} & set(ECR_PULL_THROUGH))


def import_policy_document(spec: PlatformSpec, mirror: EcrPullThroughMirror) -> str:
    """Import and create rights on the cache's repositories only (`<prefix>/*` of each rule)."""
    region = spec.registry_mirror_region
    base = f"arn:{aws_partition(region)}:ecr:{region}:{mirror.account_id}:repository"
    resources = [f"{base}/{ECR_PULL_THROUGH[registry].ecr_prefix}/*" for registry in cached_registries(spec)]
    statement = {"Sid": "PullThroughCacheImport", "Effect": "Allow", "Action": IMPORT_ACTIONS, "Resource": resources}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, sort_keys=True)
