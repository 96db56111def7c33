"""The one model of what KServe makes of an InferenceService (components/generated.py), and
that the policy pack and the cross-reference checks read it alike."""

from __future__ import annotations

import pytest

from components import generated, upstream
from policy import kube
from tests.policy_cases import inference_service
from tools import inventory

pytestmark = pytest.mark.unit

ISVC_TYPE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"


def _isvc(namespace="llm", **model):
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "chat", "namespace": namespace, "labels": {"team": "a"}},
        "spec": {"predictor": {"labels": {"tier": "p"}, "model": {"runtime": "vllm", **model}}},
    }


def _runtime(kind, namespace, marker):
    metadata = {"name": "vllm", **({"namespace": namespace} if namespace else {})}
    container = {"name": upstream.KSERVE_CONTAINER, "image": f"img-{marker}", "args": ["--a"]}
    return {"kind": kind, "metadata": metadata, "spec": {"labels": {"rt": marker}, "containers": [container]}}


def test_a_runtime_of_the_namespace_wins_over_the_cluster_runtime_of_that_name():
    find = generated.finder(
        [_runtime("ClusterServingRuntime", None, "cluster"), _runtime("ServingRuntime", "llm", "local")]
    )
    assert generated.find_runtime(_isvc(), find)["spec"]["labels"] == {"rt": "local"}
    assert generated.find_runtime(_isvc(namespace="other"), find)["spec"]["labels"] == {"rt": "cluster"}
    assert generated.find_runtime(_isvc(runtime=None), find) is None


def test_the_model_merges_into_the_runtime_container_as_kserve_patches_it():
    runtime = {
        "name": upstream.KSERVE_CONTAINER,
        "image": "vllm",
        "args": ["--port", "8080"],
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "resources": {"limits": {"cpu": "4"}},
    }
    model = {
        "modelFormat": {"name": "vllm"},
        "storageUri": "pvc://x",
        "args": ["--max-model-len", "8192"],
        "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
        "resources": {"limits": {"nvidia.com/gpu": "1"}},
    }
    merged = generated.merge_container(runtime, model)
    assert merged["args"] == ["--port", "8080", "--max-model-len", "8192"]
    assert merged["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]
    assert merged["resources"] == {"limits": {"cpu": "4", "nvidia.com/gpu": "1"}}
    assert "storageUri" not in merged and "modelFormat" not in merged and merged["name"] == upstream.KSERVE_CONTAINER


def test_an_older_per_framework_key_names_the_serving_container_too():
    isvc = {"spec": {"predictor": {"huggingface": {"args": ["--x"]}}}}
    assert generated.model_entries(isvc["spec"]["predictor"]) == [("huggingface", {"args": ["--x"]})]
    assert generated.predictor_model(isvc) == {"args": ["--x"]}
    assert generated.model_format("huggingface", {}) == "huggingface"


def test_the_policy_pack_and_the_inventory_give_predictor_pods_the_same_labels():
    isvc = _isvc()
    runtime = _runtime("ServingRuntime", "llm", "local")
    offline = inventory.predictor_pods(isvc, runtime).labels
    (judged,) = [pod for pod in kube.pods(ISVC_TYPE, isvc) if pod.path == "spec.predictor"]
    # The policy judges the InferenceService alone: everything but the runtime's labels.
    assert dict(judged.labels) == {k: v for k, v in offline.items() if k != "rt"}
    assert offline == {
        "rt": "local",
        "team": "a",
        "tier": "p",
        upstream.KSERVE_ISVC_LABEL: "chat",
        "component": "predictor",
    }


def test_the_policy_packs_runtime_lookup_is_the_inventorys():
    resource = inference_service()
    props = resource["inputs"]
    runtime_props = _runtime("ServingRuntime", props["metadata"]["namespace"], "local")
    runtime_props["metadata"]["name"] = props["spec"]["predictor"]["model"].get("runtime", "vllm")

    class _R:
        resource_type = "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime"
        name = "rt"
        props = runtime_props

    found = generated.find_runtime(props, kube.runtime_finder([_R()]))
    assert found is not None and found["spec"]["labels"] == {"rt": "local"}
