"""`ModelCache` built alone from its plan slice, under the mock runtime, and
`plan_model_cache` / `storage_uri` on a small spec."""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components import conventions, upstream
from components.model_cache import ModelCache, ModelCacheArgs
from components.plan.weights import CachedRevision, ModelCachePlan, plan_model_cache, storage_uri
from components.spec import PlatformSpec, load_platform
from tests.conftest import BASE_PLATFORM, REVISION
from tools.mockrun import Recording, record

pytestmark = pytest.mark.unit

COMPONENT_TYPE = "llmserving:supplychain:ModelCache"
CLAIM_TYPE = "kubernetes:core/v1:PersistentVolumeClaim"
NODE_GROUP_TYPE = "kubernetes:serving.kserve.io/v1alpha1:LocalModelNodeGroup"
CACHE_TYPE = "kubernetes:serving.kserve.io/v1alpha1:LocalModelCache"
ACCOUNT_TYPE = "kubernetes:core/v1:ServiceAccount"
SOURCE = "meta-llama/Llama-3.1-8B-Instruct"
REVISION_NAME = f"meta-llama-llama-3-1-8b-instruct-{REVISION[:8]}"


def spec_of(**platform: Any) -> PlatformSpec:
    config = copy.deepcopy(BASE_PLATFORM)
    config.update(platform)
    return load_platform(config, "test", capacity_gate=False)


def local_spec(token: bool = True) -> PlatformSpec:
    """Two GPU node pools, two model entries on one revision, a pool on each."""
    config = copy.deepcopy(BASE_PLATFORM)
    config["modelCache"] = {"kind": "local", "size": "100Gi"}
    config["modelMirror"] = {"kind": "hub", "token": token}
    config["nodePools"].append({"name": "gpu-l40s", "instanceType": "g6e.xlarge"})
    config["models"].append({**config["models"][0], "name": "llama-copy"})
    pool = {"name": "chat-l40s", "class": "chat", "model": "llama-copy", "nodePool": "gpu-l40s"}
    config["pools"].append({**pool, "hostname": "chat-l40s.example.com"})
    return load_platform(config, "test", capacity_gate=False)


def build(plan: ModelCachePlan, built: dict[str, ModelCache] | None = None) -> Recording:
    """The component alone, after a stand-in serving namespace (as Platform puts it)."""
    built = {} if built is None else built

    def program() -> None:
        namespace = k8s.core.v1.Namespace("serving-namespace", metadata={"name": plan.namespace})
        opts = pulumi.ResourceOptions(depends_on=[namespace])
        built["cache"] = ModelCache("model-cache", ModelCacheArgs(plan), opts)

    return record(program)


def namespace_urn(recording: Recording) -> str:
    return recording.of_type("kubernetes:core/v1:Namespace")["serving-namespace"]["urn"]


# --- the plan -------------------------------------------------------------------------------


def test_the_plan_of_a_pvc_cache_holds_the_claim_and_nothing_local():
    spec = spec_of()
    plan = plan_model_cache(spec)
    assert plan == ModelCachePlan(
        kind="pvc",
        namespace="llm-serving",
        cache=spec.model_cache,
        node_pools=(),
        revisions=(),
        download_with_token=False,
    )
    assert not plan.creates_claim  # no storage class: the claim already exists
    assert plan_model_cache(spec_of(modelCache={"storageClassName": "efs-sc", "size": "100Gi"})).creates_claim


def test_the_plan_of_a_local_cache_shares_one_download_per_revision():
    plan = plan_model_cache(local_spec())
    assert plan.node_pools == ("gpu-h100", "gpu-l40s")
    assert plan.revisions == (
        CachedRevision(
            name=REVISION_NAME,
            source_uri=f"hf://{SOURCE}:{REVISION}",
            model_size="15Gi",  # 16.1 GB of bf16 weights, rounded up to whole GiB
            node_pools=("gpu-h100", "gpu-l40s"),
        ),
    )
    assert plan.download_with_token and not plan.creates_claim
    assert not plan_model_cache(local_spec(token=False)).download_with_token


def test_storage_uri_points_into_the_claim_or_at_the_cached_source():
    spec = spec_of()
    assert storage_uri(spec, spec.models[0]) == f"pvc://model-cache/models/{SOURCE}/{REVISION}"
    local = local_spec()
    assert storage_uri(local, local.models[1]) == plan_model_cache(local).revisions[0].source_uri


# --- the component alone --------------------------------------------------------------------


def test_an_existing_claim_creates_nothing():
    recording = build(plan_model_cache(spec_of()))
    assert [r["type"] for r in recording.resources] == ["kubernetes:core/v1:Namespace", COMPONENT_TYPE]
    assert recording.only(COMPONENT_TYPE)["outputs"] == {"kind": "pvc"}


def test_the_claim_the_stack_creates_is_rwx_in_the_serving_namespace_after_it():
    built: dict[str, ModelCache] = {}
    spec = spec_of(modelCache={"storageClassName": "efs-sc", "size": "100Gi"})
    recording = build(plan_model_cache(spec), built)
    claim = recording.of_type(CLAIM_TYPE)["model-cache-claim"]
    assert claim["parent"] == recording.only(COMPONENT_TYPE)["urn"]
    # The option the engine acts on at `pulumi destroy` (tests/test_destroy.py replays one).
    assert recording.options[claim["urn"]] == {"retainOnDelete": True}
    assert claim["inputs"]["metadata"] == {
        "name": "model-cache",
        "namespace": "llm-serving",
        "labels": conventions.standard_labels("model-cache", "model-cache", "model-cache"),
    }
    assert claim["inputs"]["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "storageClassName": "efs-sc",
        "resources": {"requests": {"storage": "100Gi"}},
    }
    assert namespace_urn(recording) in recording.dependencies[claim["urn"]]
    assert recording.only(COMPONENT_TYPE)["outputs"] == {"kind": "pvc"}
    cache = built["cache"]
    assert (cache.kind, cache.revisions) == ("pvc", None)
    assert cache.ready_for(spec.models[0]) == [cache.claim]


def test_a_local_cache_has_a_node_group_per_node_pool_and_a_cache_per_revision():
    built: dict[str, ModelCache] = {}
    spec = local_spec()
    recording = build(plan_model_cache(spec), built)
    groups = recording.of_type(NODE_GROUP_TYPE)
    assert sorted(groups) == ["gpu-h100-models", "gpu-l40s-models"]
    h100 = groups["gpu-h100-models"]["inputs"]["spec"]
    assert h100["storageLimit"] == "100Gi"
    assert h100["persistentVolumeSpec"]["local"] == {"path": "/mnt/models"}
    affinity = h100["persistentVolumeSpec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert affinity == [
        {"matchExpressions": [{"key": conventions.NODE_POOL_LABEL, "operator": "In", "values": ["gpu-h100"]}]}
    ]
    (cache,) = recording.of_type(CACHE_TYPE).values()
    assert cache["name"] == REVISION_NAME
    assert cache["inputs"]["spec"] == {
        "sourceModelUri": f"hf://{SOURCE}:{REVISION}",
        "modelSize": "15Gi",
        "nodeGroups": ["gpu-h100-models", "gpu-l40s-models"],
        "serviceAccountName": "model-download",
    }
    account = recording.of_type(ACCOUNT_TYPE)["model-download-account"]["inputs"]
    assert account["metadata"]["namespace"] == upstream.LOCAL_MODEL_JOB_NAMESPACE
    assert account["secrets"] == [{"name": conventions.HUB_TOKEN_SECRET}]
    waits_for = recording.dependencies[cache["urn"]]
    assert {namespace_urn(recording), *(g["urn"] for g in groups.values())} <= set(waits_for)
    assert recording.only(COMPONENT_TYPE)["outputs"] == {"kind": "local", "revisions": [REVISION_NAME]}
    assert built["cache"].ready_for(spec.models[1]) == [built["cache"].caches[REVISION_NAME]]


def test_a_local_cache_without_the_token_has_no_download_account():
    recording = build(plan_model_cache(local_spec(token=False)))
    assert not recording.of_type(ACCOUNT_TYPE)
    (cache,) = recording.of_type(CACHE_TYPE).values()
    assert "serviceAccountName" not in cache["inputs"]["spec"]
