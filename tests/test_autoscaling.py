"""Autoscaling of serving pools: inference signals only, pool-scoped KEDA queries, and
scale-down slow enough not to kill GPU pods that took minutes to load."""

from __future__ import annotations

import promql_parser
import pytest

from tests.conftest import stack_config
from tools.mockrun import run_program

pytestmark = pytest.mark.program

ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"


def predictors(platform):
    resources = run_program("test", stack_config(platform)).resources
    return {r["name"]: r["inputs"]["spec"]["predictor"] for r in resources if r["type"] == ISVC}


def keda_query(predictor):
    (metric,) = predictor["autoScaling"]["metrics"]
    return metric["external"]["metric"]["query"]


def selector_matchers(query):
    selectors = []
    promql_parser.walk(
        promql_parser.parse(query),
        lambda node: selectors.append(node) if isinstance(node, promql_parser.VectorSelector) else None,
    )
    return [{(m.name, str(m.op), m.value) for m in s.matchers.matchers} for s in selectors]


@pytest.fixture
def two_standard_pools(platform):
    second = dict(platform["pools"][0], name="chat-large", hostname="large.example.com")
    platform["pools"].append(second)
    return platform


def test_keda_query_is_scoped_to_its_pool(two_standard_pools):
    found = predictors(two_standard_pools)
    for pool in ("chat", "chat-large"):
        (matchers,) = selector_matchers(keda_query(found[pool]))
        assert ("namespace", "MatchOp.Equal", "llm-serving") in matchers
        assert ("pod", "MatchOp.Re", f"{pool}-predictor-.*") in matchers
    assert keda_query(found["chat"]) != keda_query(found["chat-large"])


def test_keda_query_address_comes_from_the_spec(platform):
    platform["monitoring"] = {"prometheusUrl": "http://prom.observability.svc:9090"}
    (metric,) = predictors(platform)["chat"]["autoScaling"]["metrics"]
    assert metric["external"]["metric"]["serverAddress"] == "http://prom.observability.svc:9090"


def test_standard_pool_scale_down_is_stabilised(platform):
    assert predictors(platform)["chat"]["autoScaling"]["behavior"] == {"scaleDown": {"stabilizationWindowSeconds": 900}}
    platform["pools"][0]["autoscaling"] = {"signal": "queue", "target": 2, "scaleDownDelaySeconds": 1800}
    assert predictors(platform)["chat"]["autoScaling"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 1800


def test_knative_pool_scale_down_is_delayed(platform):
    platform["pools"][1]["autoscaling"] = {"signal": "concurrency", "scaleDownDelaySeconds": 600}
    annotations = predictors(platform)["batch"]["annotations"]
    assert annotations["autoscaling.knative.dev/scale-down-delay"] == "600s"


def test_scale_down_delay_is_bounded_by_the_hpa_and_knative_limit(platform):
    from components.spec import SpecError, load_platform

    platform["pools"][0]["autoscaling"] = {"signal": "queue", "target": 4, "scaleDownDelaySeconds": 3601}
    with pytest.raises(SpecError, match=r"pools\[0\]\.autoscaling\.scaleDownDelaySeconds"):
        load_platform(platform, "stacks/Pulumi.test.yaml")


def test_no_cpu_or_memory_scaling_anywhere(two_standard_pools):
    two_standard_pools["pools"][2]["autoscaling"] = {"signal": "kvCache", "target": 0.8}
    resources = run_program("test", stack_config(two_standard_pools)).resources
    assert not [r for r in resources if r["type"].endswith(":HorizontalPodAutoscaler")]
    for name, predictor in predictors(two_standard_pools).items():
        assert predictor.get("scaleMetric") in (None, "concurrency"), name
        for metric in predictor.get("autoScaling", {}).get("metrics", []):
            assert metric["type"] == "External", name
            assert metric["external"]["metric"]["query"].startswith(("sum(vllm:num_requests_waiting{",
                                                                     "sum(vllm:kv_cache_usage_perc{"))  # fmt: skip
        annotations = predictor.get("annotations", {})
        assert annotations.get("autoscaling.knative.dev/metric") in (None, "concurrency", "rps")


def test_chat_pools_never_scale_to_zero(platform):
    from components.spec import SpecError, load_platform

    assert all(p["minReplicas"] >= 1 for n, p in predictors(platform).items() if n == "chat")
    platform["pools"][0]["replicas"] = {"min": 0, "max": 2}
    with pytest.raises(SpecError, match=r"pools\[0\]\.replicas\.min"):
        load_platform(platform, "stacks/Pulumi.test.yaml")
