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
mirror), so the chart values and our pods agree on one reference per image. What to create
comes from the plan's slice (`components/plan/mirror.py`: `MirrorPlan`); the GPU node roles
come from the node pools, through `Platform`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.cluster import aws_partition
from components.images import Mirror, mirrored
from components.plan.mirror import MirrorPlan, PullThroughCache, PullThroughRule

# ECR's own actions for an image its cache has not imported yet (ECR user guide,
# "IAM permissions required to sync an upstream registry").
IMPORT_ACTIONS = ["ecr:BatchImportUpstreamImage", "ecr:CreateRepository"]


@dataclass(frozen=True)
class RegistryMirrorArgs:
    plan: MirrorPlan
    aws_provider: aws.Provider | None = None
    # IAM roles of the GPU nodes this stack creates or names (managed node groups, Karpenter).
    node_roles: Sequence[pulumi.Input[str]] = ()


class RegistryMirror(pulumi.ComponentResource):
    """Exposes `mirror` (images.Mirror), `image(upstream)`, `rules` (upstream registry ->
    PullThroughCacheRule), `import_policies` (the inline node-role policies), and the
    registered outputs `kind` and `host`."""

    def __init__(self, name: str, args: RegistryMirrorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:supplychain:RegistryMirror", name, None, opts)
        plan = args.plan
        self.mirror: Mirror = plan.mirror
        self.kind: str = plan.kind
        self.host: str = plan.mirror.host or ""  # "" when images come from upstream
        self.rules: dict[str, aws.ecr.PullThroughCacheRule] = {}
        self.import_policies: list[aws.iam.RolePolicy] = []
        cache = plan.pull_through
        if cache is not None:
            child = pulumi.ResourceOptions(parent=self, provider=args.aws_provider)
            self.rules = {rule.registry: self._rule(cache, rule, child) for rule in cache.rules}
            roles = [*args.node_roles, *cache.node_roles]
            self.import_policies = [self._import_policy(cache, index, role, child) for index, role in enumerate(roles)]
        self.register_outputs({"kind": self.kind, "host": self.host})

    def image(self, upstream: str) -> str:
        return mirrored(upstream, self.mirror)

    def _rule(
        self, cache: PullThroughCache, rule: PullThroughRule, opts: pulumi.ResourceOptions
    ) -> aws.ecr.PullThroughCacheRule:
        return aws.ecr.PullThroughCacheRule(
            f"pull-through-{rule.ecr_prefix}",
            ecr_repository_prefix=rule.ecr_prefix,
            upstream_registry_url=rule.upstream_url,
            credential_arn=rule.credential_arn,
            region=cache.region,
            opts=opts,
        )

    def _import_policy(
        self, cache: PullThroughCache, index: int, role: pulumi.Input[str], opts: pulumi.ResourceOptions
    ) -> aws.iam.RolePolicy:
        return aws.iam.RolePolicy(
            f"pull-through-import-{index}",
            role=role,
            policy=import_policy_document(cache),
            opts=opts,
        )


def import_policy_document(cache: PullThroughCache) -> str:
    """Import and create rights on the cache's repositories only (`<prefix>/*` of each rule)."""
    base = f"arn:{aws_partition(cache.region)}:ecr:{cache.region}:{cache.account_id}:repository"
    resources = [f"{base}/{rule.ecr_prefix}/*" for rule in cache.rules]
    statement = {"Sid": "PullThroughCacheImport", "Effect": "Allow", "Action": IMPORT_ACTIONS, "Resource": resources}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, sort_keys=True)
