"""`ServingPool` built alone from its plan slice, under the mock runtime."""

from __future__ import annotations

import copy

import pytest

from components import conventions
from components.plan import resolve
from components.serving_pool import ServingPool
from components.spec import load_platform
from tests.conftest import BASE_PLATFORM
from tools.mockrun import record

pytestmark = pytest.mark.unit

COMPONENT_TYPE = "llmserving:serving:ServingPool"
ISVC_TYPE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
RUNTIME_TYPE = "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime"


def pool_plan(name: str = "chat", **platform_changes):
    platform = copy.deepcopy(BASE_PLATFORM) | platform_changes
    return resolve(load_platform(platform, "test", capacity_gate=False)).pools[name]


def test_the_slice_holds_the_pool_its_model_node_pool_and_capacity():
    plan = pool_plan()
    assert (plan.pool.name, plan.model.name, plan.node_pool.name) == ("chat", "llama-8b", "gpu-h100")
    assert plan.capacity.max_model_len == plan.pool.max_model_len and plan.capacity.fits
    assert plan.api_key_secret is None  # vLLM's own key check is off unless gateway.vllmApiKey


def test_alone_it_makes_its_runtime_and_inference_service_and_registers_its_outputs():
    plan = pool_plan()
    recording = record(lambda: ServingPool("chat", plan))
    component = recording.only(COMPONENT_TYPE)
    assert component["outputs"] == {"url": "https://chat.example.com/v1", "inferenceServiceName": "chat"}
    isvc, runtime = recording.only(ISVC_TYPE), recording.only(RUNTIME_TYPE)
    assert isvc["parent"] == runtime["parent"] == component["urn"]
    assert isvc["inputs"]["metadata"]["namespace"] == plan.namespace
    assert isvc["inputs"]["metadata"]["labels"][conventions.CLASS_LABEL] == "chat"
    assert isvc["inputs"]["spec"]["predictor"]["model"]["storageUri"] == plan.storage_uri
    assert runtime["inputs"]["spec"]["containers"][0]["image"] == plan.image


def test_the_inference_service_records_its_model_and_why_it_was_allowed():
    models = [{**BASE_PLATFORM["models"][0], "quantization": "fp8", "license": "llama3.1",
               "approval": {"owner": "ml-platform", "reference": "GOV-1", "date": "2026-11-02"},
               "evaluation": "EVAL-7", "quantizationSource": "llm-compressor FP8 dynamic"}]  # fmt: skip
    plan = pool_plan(models=models)
    annotations = record(lambda: ServingPool("chat", plan)).only(ISVC_TYPE)["inputs"]["metadata"]["annotations"]
    assert {key: value for key, value in annotations.items() if key.startswith("llmserving.io/")} == {
        conventions.MODEL_SOURCE_ANNOTATION: "meta-llama/Llama-3.1-8B-Instruct",
        conventions.MODEL_REVISION_ANNOTATION: plan.model.revision,
        conventions.MODEL_QUANTIZATION_ANNOTATION: "fp8",
        conventions.MODEL_LICENSE_ANNOTATION: "llama3.1",
        conventions.MODEL_APPROVED_BY_ANNOTATION: "ml-platform",
        conventions.MODEL_APPROVAL_REF_ANNOTATION: "GOV-1",
        conventions.MODEL_APPROVED_ON_ANNOTATION: "2026-11-02",
        conventions.MODEL_EVALUATION_ANNOTATION: "EVAL-7",
        conventions.MODEL_QUANTIZATION_SOURCE_ANNOTATION: "llm-compressor FP8 dynamic",
    }
    unrecorded = record(lambda: ServingPool("chat", pool_plan())).only(ISVC_TYPE)["inputs"]["metadata"]["annotations"]
    assert not set(unrecorded) & set(conventions.MODEL_PROVENANCE_ANNOTATIONS)


def test_with_vllm_key_checking_the_pool_mounts_its_api_key_secret():
    platform_gateway = {"gateway": {"vllmApiKey": True}}
    plan = pool_plan(**platform_gateway)
    recording = record(lambda: ServingPool("chat", plan))
    predictor = recording.only(ISVC_TYPE)["inputs"]["spec"]["predictor"]
    assert {"name": "vllm-api-keys", "secret": {"secretName": plan.api_key_secret}} in [
        {key: volume[key] for key in ("name", "secret")}
        for volume in predictor.get("volumes", [])
        if "secret" in volume
    ]


def test_a_standard_pool_rolls_out_with_its_planned_strategy_and_a_knative_pool_without_one():
    chat, batch = pool_plan("chat"), pool_plan("batch")
    assert chat.rollout is not None and batch.rollout is None
    predictor = record(lambda: ServingPool("chat", chat)).only(ISVC_TYPE)["inputs"]["spec"]["predictor"]
    assert predictor["deploymentStrategy"] == chat.rollout.strategy()
    predictor = record(lambda: ServingPool("batch", batch)).only(ISVC_TYPE)["inputs"]["spec"]["predictor"]
    assert "deploymentStrategy" not in predictor


def test_a_knative_pool_at_zero_starts_each_revision_at_zero_only_on_our_knative():
    batch = pool_plan("batch")
    annotations = record(lambda: ServingPool("batch", batch)).only(ISVC_TYPE)["inputs"]["spec"]["predictor"]
    assert annotations["annotations"]["autoscaling.knative.dev/initial-scale"] == "0"
    # The cluster's own Knative may not allow it (allow-zero-initial-scale): then no annotation.
    switches = {"knative": {"enabled": False, "maxRevisionTimeoutSeconds": 3600}}
    assert not pool_plan("batch", controlPlane=switches).zero_initial_scale
