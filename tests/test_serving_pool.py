"""ServingPool under Pulumi's mock runtime: the registered ServingRuntime and InferenceService."""

from __future__ import annotations

import pytest

from components import conventions, versions
from components.serving_pool import ENDPOINT_REMOVAL_SECONDS, VLLM_EXIT_SECONDS
from tests.conftest import stack_config
from tools.mockrun import run_program

pytestmark = pytest.mark.program


def registered(platform, stack="test"):
    recording = run_program(stack, stack_config(platform))
    return {(r["type"], r["name"]): r for r in recording.resources}


def isvc(resources, name):
    return resources[("kubernetes:serving.kserve.io/v1beta1:InferenceService", name)]["inputs"]


def runtime(resources, name):
    return resources[("kubernetes:serving.kserve.io/v1alpha1:ServingRuntime", f"{name}-runtime")]["inputs"]


@pytest.fixture
def resources(platform):
    return registered(platform)


def test_components_and_parents(resources):
    pool = resources[("llmserving:serving:ServingPool", "chat")]
    assert pool["parent"].endswith("llmserving:platform:Platform::platform")
    child = resources[("kubernetes:serving.kserve.io/v1beta1:InferenceService", "chat")]
    assert child["parent"] == pool["urn"]


def test_runtime_pins_the_vllm_image(resources):
    container = runtime(resources, "chat")["spec"]["containers"][0]
    assert container["name"] == "kserve-container"
    assert container["image"] == versions.VLLM_IMAGE
    assert container["command"] == ["vllm", "serve"]
    assert container["ports"] == [{"name": "http1", "containerPort": 8080, "protocol": "TCP"}]


def _kserve_annotations(inference_service):
    """KServe's annotations; ours (llmserving.io/model-*) record the model, see test_component_serving_pool."""
    annotations = inference_service["metadata"]["annotations"]
    return {key: value for key, value in annotations.items() if not key.startswith("llmserving.io/")}


def test_standard_mode_with_keda_on_queue(resources):
    chat = isvc(resources, "chat")
    assert _kserve_annotations(chat) == {
        "serving.kserve.io/deploymentMode": "Standard",
        "serving.kserve.io/autoscalerClass": "keda",
    }
    predictor = chat["spec"]["predictor"]
    (metric,) = predictor["autoScaling"]["metrics"]
    assert metric["type"] == "External"
    assert metric["external"]["metric"]["query"].startswith("sum(vllm:num_requests_waiting{")
    assert 'pod=~"chat-predictor-.*"' in metric["external"]["metric"]["query"]
    assert metric["external"]["target"] == {"type": "Value", "value": "4"}
    assert "scaleMetric" not in predictor and "containerConcurrency" not in predictor


def test_a_pool_at_zero_gives_knative_time_for_its_cold_start(platform):
    platform["pools"][1].update(timeoutSeconds=600, startupTimeoutSeconds=900)
    found = registered(platform)
    # KServe's timeout becomes the revision's timeoutSeconds, which bounds the activator's wait too.
    assert isvc(found, "batch")["spec"]["predictor"]["timeout"] == 1500
    # A Standard pool has no KServe route, so no `timeout` there: its HTTPRoute holds it.
    assert "timeout" not in isvc(found, "chat")["spec"]["predictor"]
    platform["pools"][1]["replicas"] = {"min": 1, "max": 2}
    assert isvc(registered(platform), "batch")["spec"]["predictor"]["timeout"] == 600


def test_kv_cache_signal(platform):
    platform["pools"][0]["autoscaling"] = {"signal": "kvCache", "target": 0.8}
    (metric,) = isvc(registered(platform), "chat")["spec"]["predictor"]["autoScaling"]["metrics"]
    assert metric["external"]["metric"]["query"].startswith("sum(vllm:kv_cache_usage_perc{")
    assert metric["external"]["target"]["value"] == "0.8"


def test_knative_mode_scales_on_concurrency(resources):
    batch = isvc(resources, "batch")
    assert _kserve_annotations(batch) == {"serving.kserve.io/deploymentMode": "Knative"}
    predictor = batch["spec"]["predictor"]
    assert predictor["minReplicas"] == 0
    assert predictor["scaleMetric"] == "concurrency"
    assert predictor["containerConcurrency"] == 256
    assert predictor["scaleTarget"] == 128
    assert "autoScaling" not in predictor


def test_never_cpu_or_memory_autoscaling(resources):
    for name in ("chat", "batch"):
        predictor = isvc(resources, name)["spec"]["predictor"]
        assert predictor.get("scaleMetric") not in ("cpu", "memory")
        for metric in predictor.get("autoScaling", {}).get("metrics", []):
            assert metric["type"] == "External"


def test_container_contract(resources):
    model = isvc(resources, "chat")["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "vllm"}
    assert model["runtime"] == "chat-vllm"
    assert model["storageUri"] == (
        "pvc://model-cache/models/meta-llama/Llama-3.1-8B-Instruct/0e9e39f249a16976918f6564b8830bc894c89659"
    )
    assert model["args"][model["args"].index("--max-model-len") + 1] == "8192"
    assert {"name": "HF_HUB_OFFLINE", "value": "1"} in model["env"]
    assert not any("log-requests" in arg for arg in model["args"])


def test_gpu_requests_equal_limits_and_cpu_memory_set(platform):
    platform["pools"][1]["tensorParallelSize"] = 4
    resources = isvc(registered(platform), "batch")["spec"]["predictor"]["model"]["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == "4"
    assert resources["requests"]["cpu"] == "16"
    assert resources["requests"]["memory"] == resources["limits"]["memory"] == "128Gi"


def test_health_probes_and_startup_budget(platform):
    platform["pools"][0]["startupTimeoutSeconds"] = 1800
    model = isvc(registered(platform), "chat")["spec"]["predictor"]["model"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert model[probe]["httpGet"] == {"path": "/health", "port": 8080}
    startup = model["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] == 1800


def test_shm_only_with_tensor_parallel(platform):
    platform["pools"][1]["tensorParallelSize"] = 2
    resources = registered(platform)
    chat, batch = (isvc(resources, name)["spec"]["predictor"] for name in ("chat", "batch"))
    assert "volumes" not in chat and "volumeMounts" not in chat["model"]
    assert batch["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}}]
    assert batch["model"]["volumeMounts"] == [{"name": "dshm", "mountPath": "/dev/shm"}]


def test_node_selector_and_toleration_match_the_node_contract(resources):
    predictor = isvc(resources, "chat")["spec"]["predictor"]
    assert predictor["nodeSelector"] == {conventions.NODE_POOL_LABEL: "gpu-h100"}
    assert predictor["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_labels(resources):
    chat = isvc(resources, "chat")
    for labels in (chat["metadata"]["labels"], chat["spec"]["predictor"]["labels"]):
        assert labels["app.kubernetes.io/part-of"] == "private-llm-serving"
        assert labels["app.kubernetes.io/managed-by"] == "pulumi"
        assert (labels["llmserving.io/pool"], labels["llmserving.io/class"], labels["llmserving.io/model"]) == (
            "chat", "chat", "llama-8b"
        )  # fmt: skip


def test_everything_goes_through_one_explicit_provider(resources):
    providers = [r for (t, _), r in resources.items() if t == "pulumi:providers:kubernetes"]
    assert len(providers) == 1
    assert providers[0]["inputs"]["context"] == "test"


def test_eks_provider_authenticates_with_get_token(platform):
    platform["cluster"] = {"kind": "eks", "name": "prod-cluster", "region": "eu-west-1"}
    resources = registered(platform)
    kubeconfig = resources[("pulumi:providers:kubernetes", "kubernetes")]["inputs"]["kubeconfig"]
    assert '"get-token", "--cluster-name", "prod-cluster", "--region", "eu-west-1"' in kubeconfig
    assert resources[("pulumi:providers:aws", "aws")]["inputs"]["region"] == "eu-west-1"


def test_mode_change_replaces_the_inference_service(platform, monkeypatch):
    from tools import mockrun

    options = {}
    register = mockrun._RecordingMonitor.RegisterResource

    def spy(self, request):
        options[(request.type, request.name)] = (list(request.replaceOnChanges), request.deleteBeforeReplace)
        return register(self, request)

    monkeypatch.setattr(mockrun._RecordingMonitor, "RegisterResource", spy)
    registered(platform)
    replace_on, delete_first = options[("kubernetes:serving.kserve.io/v1beta1:InferenceService", "chat")]
    assert replace_on == ['metadata.annotations["serving.kserve.io/deploymentMode"]']
    assert delete_first is True


def test_a_knative_pool_keeps_the_activator_out_of_its_path_once_a_pod_serves(resources):
    batch = isvc(resources, "batch")
    annotations = batch["spec"]["predictor"]["annotations"]
    assert annotations["autoscaling.knative.dev/target-burst-capacity"] == "0"
    assert "annotations" not in isvc(resources, "chat")["spec"]["predictor"]


def test_the_pools_knative_proxy_restart_acceptance_is_on_its_inference_service(platform):
    found = registered(platform)
    reason = platform["pools"][1]["acceptedRisks"]["knativeProxyRestart"]
    assert (
        isvc(found, "batch")["metadata"]["annotations"][conventions.KNATIVE_PROXY_RESTART_ACCEPTED_ANNOTATION] == reason
    )
    assert conventions.KNATIVE_PROXY_RESTART_ACCEPTED_ANNOTATION not in isvc(found, "chat")["metadata"]["annotations"]


def test_a_standard_pools_pods_outlast_vllms_drain(resources):
    chat = isvc(resources, "chat")["spec"]["predictor"]
    args = chat["model"]["args"]
    drain = int(args[args.index("--shutdown-timeout") + 1])
    assert drain == 120  # the chat class's timeoutSeconds
    assert chat["model"]["lifecycle"] == {"preStop": {"sleep": {"seconds": ENDPOINT_REMOVAL_SECONDS}}}
    assert chat["terminationGracePeriodSeconds"] == ENDPOINT_REMOVAL_SECONDS + drain + VLLM_EXIT_SECONDS
    # Knative sets a revision's pods' grace period itself (its timeout) and refuses ours.
    batch = isvc(resources, "batch")["spec"]["predictor"]
    assert "terminationGracePeriodSeconds" not in batch and "lifecycle" not in batch["model"]
