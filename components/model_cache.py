"""`ModelCache`: the only place serving pods read weights from (DESIGN.md sections 2 and 4).

Kinds (`modelCache.kind`):
- `pvc`: one ReadWriteMany PersistentVolumeClaim holding `models/<org>/<name>/<revision>/`
  for every pinned model; the `ModelWarmup` Jobs fill it and every pool mounts it
  (`storageUri: pvc://<claim>/models/<org>/<name>/<revision>`). With
  `modelCache.storageClassName` the stack creates the claim and keeps it when the stack is
  destroyed; without, the claim already exists.
- `local`: KServe's local model cache: one `LocalModelNodeGroup` per GPU node pool that
  serves a model (a directory on each node's disk as a local PersistentVolume) and one
  `LocalModelCache` per pinned revision, which KServe's own download Jobs fill on every
  node of its node groups. KServe serves a pod from the cache only when the pool's
  `storageUri` equals the cache's `sourceModelUri`, so both come from `storage_uri`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apiextensions import CustomResource

from components import conventions
from components.options import inherited_dependencies
from components.spec import ModelSpec, PlatformSpec

COMPONENT = "model-cache"
# KServe's default localModel.jobNamespace: its download Jobs run there.
LOCAL_MODEL_JOB_NAMESPACE = "kserve-localmodel-jobs"
DOWNLOAD_SERVICE_ACCOUNT = "model-download"
# The Secret holding the hub token, under the key both huggingface_hub and KServe's
# credential builder read.
HUB_TOKEN_SECRET = "hf-token"
HUB_TOKEN_KEY = "HF_TOKEN"
# Storage class name shared by the local PersistentVolume and its claim: only binds them.
LOCAL_STORAGE_CLASS = "llmserving-local-models"
_GIB = 2**30


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


def storage_uri(spec: PlatformSpec, model: ModelSpec) -> str:
    """The pool's `storageUri`: a path in the claim, or exactly the cache's source URI."""
    if spec.model_cache.kind == "local":
        return hub_source_uri(model)
    return f"pvc://{spec.model_cache.claim_name}/{model.cache_path}"


def hub_token_namespace(spec: PlatformSpec) -> str | None:
    """Where the download that needs the hub token runs, or None when none needs it."""
    if not spec.hub_token_needed:
        return None
    return LOCAL_MODEL_JOB_NAMESPACE if spec.model_cache.kind == "local" else spec.namespaces.serving


def served_node_pools(spec: PlatformSpec, model: ModelSpec) -> list[str]:
    """GPU node pools whose pools serve this revision."""
    same = {m.name for m in spec.models if (m.source, m.revision) == (model.source, model.revision)}
    return sorted({pool.node_pool for pool in spec.pools if pool.model in same})


@dataclass(frozen=True)
class ModelCacheArgs:
    spec: PlatformSpec


class ModelCache(pulumi.ComponentResource):
    """Exposes `claim` (None unless the stack creates it), `node_groups` (node pool ->
    LocalModelNodeGroup), `caches` (revision name -> LocalModelCache) and `ready_for(model)`."""

    def __init__(self, name: str, args: ModelCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:supplychain:ModelCache", name, None, opts)
        spec = args.spec
        self.spec = spec
        # The children wait for what this component waits for (the serving namespace, the
        # local-model CRDs): Pulumi does not pass a component's depends_on on to them.
        self._after = inherited_dependencies(opts)
        self._child = pulumi.ResourceOptions(parent=self, depends_on=self._after)
        self.claim: k8s.core.v1.PersistentVolumeClaim | None = None
        self.node_groups: dict[str, CustomResource] = {}
        self.caches: dict[str, CustomResource] = {}
        self.download_account: k8s.core.v1.ServiceAccount | None = None
        if spec.model_cache.kind == "local":
            self._local(spec)
        elif spec.model_cache.storage_class_name:
            self.claim = self._claim(spec)
        self.register_outputs({"kind": spec.model_cache.kind, "revisions": sorted(self.caches) or None})

    def ready_for(self, model: ModelSpec) -> list[pulumi.Resource]:
        """What a pool serving `model` must wait for in this component."""
        cache = self.caches.get(revision_name(model))
        return [cache] if cache is not None else [r for r in [self.claim] if r is not None]

    def _claim(self, spec: PlatformSpec) -> k8s.core.v1.PersistentVolumeClaim:
        cache = spec.model_cache
        return k8s.core.v1.PersistentVolumeClaim(
            "model-cache-claim",
            metadata=_metadata(cache.claim_name, spec.namespaces.serving),
            # Kubernetes' camelCase JSON, which pulumi-kubernetes types as a TypedDict of its Python
            # names but sends as is (pulumi runtime/rpc.py serialize_property keeps unknown keys).
            spec=cast(
                "k8s.core.v1.PersistentVolumeClaimSpecArgsDict",
                {
                    # Every pool's pods and the warm-up Jobs mount it at once, from any node.
                    "accessModes": ["ReadWriteMany"],
                    "storageClassName": cache.storage_class_name,
                    "resources": {"requests": {"storage": cache.size}},
                },
            ),
            # Retained on delete: a `pulumi destroy` (or a renamed claim) must not throw away
            # terabytes of weights that take hours to download again; delete it by hand.
            opts=pulumi.ResourceOptions.merge(self._child, pulumi.ResourceOptions(retain_on_delete=True)),
        )

    def _local(self, spec: PlatformSpec) -> None:
        for node_pool in sorted({pool.node_pool for pool in spec.pools}):
            group = node_group_spec(spec, node_pool)
            self.node_groups[node_pool] = self._cluster_object(node_group_name(node_pool), "LocalModelNodeGroup", group)
        if spec.hub_token_needed:
            self.download_account = k8s.core.v1.ServiceAccount(
                "model-download-account",
                metadata=_metadata(DOWNLOAD_SERVICE_ACCOUNT, LOCAL_MODEL_JOB_NAMESPACE),
                # KServe's credential builder gives the download Jobs of a LocalModelCache
                # the env of the Secrets its service account lists.
                secrets=[{"name": HUB_TOKEN_SECRET}],
                automount_service_account_token=False,
                opts=self._child,
            )
        for model in distinct_revisions(spec):
            groups = [self.node_groups[name] for name in served_node_pools(spec, model)]
            if not groups:
                continue  # no pool serves it: nothing to keep on any node
            cache_spec = local_model_cache_spec(spec, model, self.download_account is not None)
            after: list[pulumi.Resource] = [*groups, *([self.download_account] if self.download_account else [])]
            name = revision_name(model)
            self.caches[name] = self._cluster_object(name, "LocalModelCache", cache_spec, after)

    def _cluster_object(
        self, name: str, kind: str, spec: dict[str, Any], after: list[pulumi.Resource] | None = None
    ) -> CustomResource:
        return CustomResource(
            name,
            api_version="serving.kserve.io/v1alpha1",
            kind=kind,
            metadata={"name": name, "labels": conventions.standard_labels(COMPONENT, name, COMPONENT)},
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self._after, *(after or [])]),
        )


def _metadata(name: str, namespace: str) -> k8s.meta.v1.ObjectMetaArgsDict:
    return {"name": name, "namespace": namespace, "labels": conventions.standard_labels(COMPONENT, name, COMPONENT)}


def node_group_name(node_pool: str) -> str:
    return f"{node_pool}-models"


def node_group_spec(spec: PlatformSpec, node_pool: str) -> dict[str, Any]:
    """A directory on the disk of every node of one GPU node pool, as a local PersistentVolume."""
    size = spec.model_cache.size
    access = {"accessModes": ["ReadWriteOnce"], "storageClassName": LOCAL_STORAGE_CLASS, "volumeMode": "Filesystem"}
    nodes = {"matchExpressions": [{"key": conventions.NODE_POOL_LABEL, "operator": "In", "values": [node_pool]}]}
    return {
        "storageLimit": size,
        "persistentVolumeSpec": {
            **access,
            "capacity": {"storage": size},
            "local": {"path": spec.model_cache.local_path},
            "persistentVolumeReclaimPolicy": "Delete",
            "nodeAffinity": {"required": {"nodeSelectorTerms": [nodes]}},
        },
        "persistentVolumeClaimSpec": {**access, "resources": {"requests": {"storage": size}}},
    }


def local_model_cache_spec(spec: PlatformSpec, model: ModelSpec, with_token: bool) -> dict[str, Any]:
    cache = {
        "sourceModelUri": hub_source_uri(model),
        # Whole GiB, rounded up: KServe checks it against each node group's storageLimit.
        "modelSize": f"{math.ceil(model.checkpoint_bytes / _GIB)}Gi",
        "nodeGroups": [node_group_name(name) for name in served_node_pools(spec, model)],
    }
    if with_token:
        cache["serviceAccountName"] = DOWNLOAD_SERVICE_ACCOUNT
    return cache
