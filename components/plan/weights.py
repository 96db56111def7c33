"""The weights' slices (DESIGN.md sections 2 and 4): what `ModelCache` and `ModelWarmup` read,
derived once from the spec, and the pure names they and their neighbours share.

- `plan_model_cache`: the cache kind, the claim (pvc) or, for KServe's local cache, the GPU
  node pools that get a `LocalModelNodeGroup` and the revisions that get a `LocalModelCache`.
- `plan_warmup`: what the warm-up Jobs of a pvc cache need: the revisions, the claim, the
  model mirror, the bounds, and the warm-up image already through the registry mirror.
- `storage_uri`: a pool's `storageUri`, which must point into the cache (or equal the local
  cache's `sourceModelUri` exactly, or KServe does not serve the pod from it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from components.images import mirrored
from components.spec import ModelSpec, PlatformSpec
from components.spec.images import warmup_image
from components.spec.supply_chain import HubMirrorModelMirror, HubModelMirror, ModelCacheSpec, S3ModelMirror

_GIB = 2**30

ModelMirror = HubModelMirror | HubMirrorModelMirror | S3ModelMirror


@dataclass(frozen=True)
class CachedRevision:
    """One pinned revision in KServe's local cache: one `LocalModelCache`."""

    name: str  # `revision_name`: the LocalModelCache's name
    source_uri: str  # its `sourceModelUri`, which the pools' `storageUri` equals
    model_size: str  # whole GiB, rounded up: KServe checks it against each node group's limit
    node_pools: tuple[str, ...]  # the GPU node pools whose pools serve it


@dataclass(frozen=True)
class ModelCachePlan:
    """What `ModelCache` reads."""

    kind: Literal["pvc", "local"]
    namespace: str  # the serving namespace, the claim's
    cache: ModelCacheSpec  # claim name, size, storage class, local path
    # local only (empty for pvc):
    node_pools: tuple[str, ...]  # every GPU node pool a pool runs on, sorted: one node group each
    revisions: tuple[CachedRevision, ...]  # every revision some pool serves, in spec order
    download_with_token: bool  # KServe's download Jobs need the hub token

    @property
    def creates_claim(self) -> bool:
        """A pvc cache with a storage class is a claim this stack creates; without, it exists."""
        return self.kind == "pvc" and bool(self.cache.storage_class_name)


@dataclass(frozen=True)
class WarmupPlan:
    """What `ModelWarmup` reads."""

    namespace: str  # the serving namespace: the claim's, the Jobs'
    claim_name: str
    image: str  # the warm-up image, already through the registry mirror
    revisions: tuple[ModelSpec, ...]  # `distinct_revisions`: one Job each
    mirror: ModelMirror
    mirror_region: str  # s3: the bucket's region
    hub_token: bool  # the download reads the hub token Secret
    retries: int  # backoffLimit
    deadline_seconds: int  # activeDeadlineSeconds

    @property
    def s3_mirror(self) -> S3ModelMirror | None:
        return self.mirror if isinstance(self.mirror, S3ModelMirror) else None


def plan_model_cache(spec: PlatformSpec) -> ModelCachePlan:
    local = spec.model_cache.kind == "local"
    return ModelCachePlan(
        kind=spec.model_cache.kind,
        namespace=spec.namespaces.serving,
        cache=spec.model_cache,
        node_pools=tuple(sorted({pool.node_pool for pool in spec.pools})) if local else (),
        revisions=tuple(_cached_revisions(spec)) if local else (),
        download_with_token=local and spec.hub_token_needed,
    )


def plan_warmup(spec: PlatformSpec) -> WarmupPlan:
    cache = spec.model_cache
    return WarmupPlan(
        namespace=spec.namespaces.serving,
        claim_name=cache.claim_name,
        image=mirrored(warmup_image(spec), spec.image_mirror),
        revisions=tuple(distinct_revisions(spec)),
        mirror=spec.model_mirror,
        mirror_region=spec.model_mirror_region,
        hub_token=spec.hub_token_needed,
        retries=cache.warmup_retries,
        deadline_seconds=cache.warmup_deadline_seconds,
    )


def _cached_revisions(spec: PlatformSpec) -> list[CachedRevision]:
    """A revision no pool serves is kept on no node."""
    revisions = []
    for model in distinct_revisions(spec):
        node_pools = served_node_pools(spec, model)
        if node_pools:
            size = f"{math.ceil(model.checkpoint_bytes / _GIB)}Gi"
            revisions.append(CachedRevision(revision_name(model), hub_source_uri(model), size, tuple(node_pools)))
    return revisions


def distinct_revisions(spec: PlatformSpec) -> list[ModelSpec]:
    """One model per pinned (source, revision), in spec order: two model entries (or two
    pools) on one revision share its download."""
    seen: dict[tuple[str, str], ModelSpec] = {}
    for model in spec.models:
        seen.setdefault((model.source, model.revision), model)
    return list(seen.values())


def revision_name(model: ModelSpec) -> str:
    """A DNS label naming one pinned revision: `<org>-<name>-<first 8 of the commit>`."""
    slug = re.sub(r"[^a-z0-9]+", "-", model.source.lower()).strip("-")
    return f"{slug[:45].rstrip('-')}-{model.revision[:8]}"


def hub_source_uri(model: ModelSpec) -> str:
    return f"hf://{model.source}:{model.revision}"


def served_node_pools(spec: PlatformSpec, model: ModelSpec) -> list[str]:
    """GPU node pools whose pools serve this revision."""
    same = {m.name for m in spec.models if (m.source, m.revision) == (model.source, model.revision)}
    return sorted({pool.node_pool for pool in spec.pools if pool.model in same})


def storage_uri(spec: PlatformSpec, model: ModelSpec) -> str:
    """The pool's `storageUri`: a path in the claim, or exactly the cache's source URI."""
    if spec.model_cache.kind == "local":
        return hub_source_uri(model)
    return f"pvc://{spec.model_cache.claim_name}/{model.cache_path}"
