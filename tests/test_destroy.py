"""What `pulumi destroy` leaves on the cluster, replayed from the resources and options the
program registers under the mock runtime (tools/mockrun.py records both).

The engine deletes in reverse dependency order (a resource after everything that depends
on it or is its child), skips a `retainOnDelete` resource (it only leaves the state), and
Kubernetes' namespace controller deletes everything a deleted Namespace still holds.
"""

from __future__ import annotations

from graphlib import TopologicalSorter
from typing import Any

import pytest

from tools.mockrun import Recording, run_program
from tools.stackfile import load_stack

pytestmark = pytest.mark.program

NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
CLAIM_TYPE = "kubernetes:core/v1:PersistentVolumeClaim"


def object_key(resource: dict[str, Any]) -> tuple[str, str, str] | None:
    """(kind, namespace, name) of a declared Kubernetes object, None for anything else."""
    metadata = resource["inputs"].get("metadata")
    if not resource["type"].startswith("kubernetes:") or not isinstance(metadata, dict) or "name" not in metadata:
        return None
    return (
        resource["inputs"].get("kind", resource["type"].rsplit(":", 1)[-1]),
        metadata.get("namespace", ""),
        metadata["name"],
    )


def destroy_order(recording: Recording) -> list[dict[str, Any]]:
    """Resources in the order `pulumi destroy` deletes them: dependents and children first."""
    by_urn = {resource["urn"]: resource for resource in recording.resources}
    # graph: urn -> what must be deleted before it (its dependents and children).
    graph: dict[str, set[str]] = {urn: set() for urn in by_urn}
    for urn, resource in by_urn.items():
        for needed in [*recording.dependencies.get(urn, []), *([resource["parent"]] if resource["parent"] else [])]:
            if needed in graph:
                graph[needed].add(urn)
    return [by_urn[urn] for urn in TopologicalSorter(graph).static_order()]


def cluster_after_destroy(recording: Recording) -> set[tuple[str, str, str]]:
    cluster = {key for resource in recording.resources if (key := object_key(resource))}
    for resource in destroy_order(recording):
        key = object_key(resource)
        if key is None or recording.options.get(resource["urn"], {}).get("retainOnDelete"):
            continue
        cluster.discard(key)
        if resource["type"] == NAMESPACE_TYPE:
            cluster = {other for other in cluster if other[1] != key[2]}
    return cluster


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_model_cache_claim_survives_pulumi_destroy(stack):
    loaded = load_stack(stack)
    recording = run_program(stack, loaded.config, loaded.spec)
    claim = recording.only(CLAIM_TYPE)
    assert recording.options[claim["urn"]] == {"retainOnDelete": True}
    namespace = claim["inputs"]["metadata"]["namespace"]
    (serving_namespace,) = [
        r for r in recording.of_type(NAMESPACE_TYPE).values() if r["inputs"]["metadata"]["name"] == namespace
    ]
    assert recording.options[serving_namespace["urn"]] == {"retainOnDelete": True}
    left = cluster_after_destroy(recording)
    assert ("PersistentVolumeClaim", namespace, claim["inputs"]["metadata"]["name"]) in left
    # Nothing else of the serving namespace is kept: the InferenceServices go.
    assert not [key for key in left if key[0] == "InferenceService"]


def test_without_the_retained_namespace_the_claim_would_go_with_it():
    # The replay itself can fail: drop the namespace's option and the claim is deleted.
    loaded = load_stack("dev")
    recording = run_program("dev", loaded.config, loaded.spec)
    for resource in recording.of_type(NAMESPACE_TYPE).values():
        recording.options[resource["urn"]] = {}
    assert not [key for key in cluster_after_destroy(recording) if key[0] == "PersistentVolumeClaim"]
