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
  `storageUri` equals the cache's `sourceModelUri`, so both come from
`components.plan.weights` (`storage_uri`, `hub_source_uri`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apiextensions import CustomResource

from components import conventions
from components.conventions import HUB_TOKEN_SECRET
from components.options import inherited_dependencies
from components.plan.weights import CachedRevision, ModelCachePlan, revision_name
from components.spec import ModelSpec
from components.upstream import LOCAL_MODEL_JOB_NAMESPACE

COMPONENT = conventions.MODEL_CACHE_COMPONENT
DOWNLOAD_SERVICE_ACCOUNT = "model-download"
# Storage class name shared by the local PersistentVolume and its claim: only binds them.
LOCAL_STORAGE_CLASS = "llmserving-local-models"


@dataclass(frozen=True)
class ModelCacheArgs:
    plan: ModelCachePlan


class ModelCache(pulumi.ComponentResource):
    """Exposes `claim` (None unless the stack creates it), `node_groups` (node pool ->
    LocalModelNodeGroup), `caches` (revision name -> LocalModelCache), `download_account`
    (local, with the hub token) and `ready_for(model)`; outputs `kind` and `revisions` (the
    LocalModelCache names, None without any)."""

    kind: str
    revisions: list[str] | None
    claim: k8s.core.v1.PersistentVolumeClaim | None
    node_groups: dict[str, CustomResource]
    caches: dict[str, CustomResource]
    download_account: k8s.core.v1.ServiceAccount | None

    def __init__(self, name: str, args: ModelCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:supplychain:ModelCache", name, None, opts)
        plan = args.plan
        # The children wait for what this component waits for (the serving namespace, the
        # local-model CRDs): Pulumi does not pass a component's depends_on on to them.
        self._after = inherited_dependencies(opts)
        self._child = pulumi.ResourceOptions(parent=self, depends_on=self._after)
        self.claim = None
        self.node_groups = {}
        self.caches = {}
        self.download_account = None
        if plan.kind == "local":
            self._local(plan)
        elif plan.creates_claim:
            self.claim = self._claim(plan)
        self.kind = plan.kind
        self.revisions = sorted(self.caches) or None
        self.register_outputs({"kind": self.kind, "revisions": self.revisions})

    def ready_for(self, model: ModelSpec) -> list[pulumi.Resource]:
        """What a pool serving `model` must wait for in this component."""
        cache = self.caches.get(revision_name(model))
        return [cache] if cache is not None else [r for r in [self.claim] if r is not None]

    def _claim(self, plan: ModelCachePlan) -> k8s.core.v1.PersistentVolumeClaim:
        cache = plan.cache
        return k8s.core.v1.PersistentVolumeClaim(
            "model-cache-claim",
            metadata=_metadata(cache.claim_name, plan.namespace),
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

    def _local(self, plan: ModelCachePlan) -> None:
        for node_pool in plan.node_pools:
            group = node_group_spec(plan, node_pool)
            self.node_groups[node_pool] = self._cluster_object(node_group_name(node_pool), "LocalModelNodeGroup", group)
        if plan.download_with_token:
            self.download_account = k8s.core.v1.ServiceAccount(
                "model-download-account",
                metadata=_metadata(DOWNLOAD_SERVICE_ACCOUNT, LOCAL_MODEL_JOB_NAMESPACE),
                # KServe's credential builder gives the download Jobs of a LocalModelCache
                # the env of the Secrets its service account lists.
                secrets=[{"name": HUB_TOKEN_SECRET}],
                automount_service_account_token=False,
                opts=self._child,
            )
        for revision in plan.revisions:
            groups = [self.node_groups[name] for name in revision.node_pools]
            cache_spec = local_model_cache_spec(revision, self.download_account is not None)
            after: list[pulumi.Resource] = [*groups, *([self.download_account] if self.download_account else [])]
            self.caches[revision.name] = self._cluster_object(revision.name, "LocalModelCache", cache_spec, after)

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


def node_group_spec(plan: ModelCachePlan, node_pool: str) -> dict[str, Any]:
    """A directory on the disk of every node of one GPU node pool, as a local PersistentVolume."""
    size = plan.cache.size
    access = {"accessModes": ["ReadWriteOnce"], "storageClassName": LOCAL_STORAGE_CLASS, "volumeMode": "Filesystem"}
    nodes = {"matchExpressions": [{"key": conventions.NODE_POOL_LABEL, "operator": "In", "values": [node_pool]}]}
    return {
        "storageLimit": size,
        "persistentVolumeSpec": {
            **access,
            "capacity": {"storage": size},
            "local": {"path": plan.cache.local_path},
            "persistentVolumeReclaimPolicy": "Delete",
            "nodeAffinity": {"required": {"nodeSelectorTerms": [nodes]}},
        },
        "persistentVolumeClaimSpec": {**access, "resources": {"requests": {"storage": size}}},
    }


def local_model_cache_spec(revision: CachedRevision, with_token: bool) -> dict[str, Any]:
    cache: dict[str, Any] = {
        "sourceModelUri": revision.source_uri,
        "modelSize": revision.model_size,
        "nodeGroups": [node_group_name(name) for name in revision.node_pools],
    }
    if with_token:
        cache["serviceAccountName"] = DOWNLOAD_SERVICE_ACCOUNT
    return cache
