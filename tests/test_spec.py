"""The stack config schema: defaults, every cross-field rule, and how problems are reported."""

from __future__ import annotations

import pydantic
import pytest

from components.spec import CLASS_DEFAULTS, PlatformSpec, SpecError, load_platform

pytestmark = pytest.mark.unit

SOURCE = "stacks/Pulumi.test.yaml"


def problems(raw) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_platform(raw, SOURCE)
    return caught.value.lines()


def only_problem(raw) -> str:
    lines = problems(raw)
    assert len(lines) == 1, lines
    return lines[0]


def test_valid_platform_parses(platform):
    spec = load_platform(platform, SOURCE)
    assert isinstance(spec, PlatformSpec)
    assert [p.name for p in spec.pools] == ["chat", "batch"]


def test_class_defaults_apply(platform):
    spec = load_platform(platform, SOURCE)
    chat, batch = spec.pools
    assert (chat.mode, chat.max_model_len, chat.replicas.min) == ("standard", 8192, 1)
    assert (batch.mode, batch.max_model_len, batch.replicas.min) == ("knative", 32768, 0)
    assert chat.max_num_seqs < batch.max_num_seqs
    assert chat.autoscaling.signal == "queue" and batch.autoscaling.signal == "concurrency"
    assert (chat.min_concurrent_at_cap, batch.min_concurrent_at_cap) == (8, 1)


def test_partial_nested_value_keeps_class_default(platform):
    platform["pools"][0]["replicas"] = {"max": 9}
    chat = load_platform(platform, SOURCE).pools[0]
    assert (chat.replicas.min, chat.replicas.max) == (CLASS_DEFAULTS["chat"]["replicas"]["min"], 9)


def test_spec_is_frozen(platform):
    spec = load_platform(platform, SOURCE)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        spec.pools[0].max_model_len = 1


def test_misspelled_field_names_path_and_suggestion(platform):
    platform["pools"][1]["maxModelLength"] = 4096
    line = only_problem(platform)
    assert line.startswith(f"{SOURCE}: private-llm-serving:platform.pools[1].maxModelLength: unknown field")
    assert "did you mean 'maxModelLen'" in line


def test_unknown_top_level_field_lists_allowed(platform):
    platform["pool"] = []
    line = only_problem(platform)
    assert "private-llm-serving:platform.pool: unknown field" in line and "pools" in line


@pytest.mark.parametrize("value", [0, -1])
def test_max_model_len_must_be_positive(platform, value):
    platform["pools"][0]["maxModelLen"] = value
    assert "pools[0].maxModelLen: Input should be greater than 0" in only_problem(platform)


def test_max_model_len_not_above_model_context(platform):
    platform["pools"][1]["maxModelLen"] = 200_000
    line = only_problem(platform)
    assert "pools[1].maxModelLen: 200000 is above the maximum context of llama-8b (131072)" in line


@pytest.mark.parametrize("revision", ["main", "0e9e39f", "0E9E39F249A16976918F6564B8830BC894C89659"])
def test_revision_must_be_a_full_commit(platform, revision):
    platform["models"][0]["revision"] = revision
    assert "models[0].revision: String should match pattern" in only_problem(platform)


def test_pool_model_must_exist(platform):
    platform["pools"][0]["model"] = "llama-9b"
    assert "pools[0].model: 'llama-9b' is not a model name; defined: llama-8b" in only_problem(platform)


def test_pool_node_pool_must_exist(platform):
    platform["pools"][1]["nodePool"] = "gpu-a100"
    assert "pools[1].nodePool: 'gpu-a100' is not a node pool name; defined: gpu-h100" in only_problem(platform)


@pytest.mark.parametrize("section", ["models", "pools", "nodePools"])
def test_names_unique(platform, section):
    platform[section].append(dict(platform[section][0]))
    lines = problems(platform)
    assert any(f"{section}[{len(platform[section]) - 1}].name: " in line and "already used" in line for line in lines)


def test_hostnames_unique(platform):
    platform["pools"][1]["hostname"] = platform["pools"][0]["hostname"]
    assert "pools[1].hostname: 'chat.example.com' is already used by pools[0]" in only_problem(platform)


@pytest.mark.parametrize("name", ["Chat", "chat_pool", "1chat", "chat-", "c" * 41])
def test_pool_names_follow_kserve_rules(platform, name):
    platform["pools"][0]["name"] = name
    assert "pools[0].name: " in only_problem(platform)


def test_replicas_min_not_above_max(platform):
    platform["pools"][1]["replicas"] = {"min": 3, "max": 2}
    assert "pools[1].replicas.min: 3 is above replicas.max (2)" in only_problem(platform)


def test_chat_keeps_a_warm_replica(platform):
    platform["pools"][0]["replicas"] = {"min": 0, "max": 2}
    assert "pools[0].replicas.min: chat pools keep at least one warm replica" in only_problem(platform)


def test_batch_may_scale_to_zero(platform):
    platform["pools"][1]["replicas"] = {"min": 0, "max": 1}
    assert load_platform(platform, SOURCE).pools[1].replicas.min == 0


@pytest.mark.parametrize("tp", [3, 5, 16])
def test_tensor_parallel_divides_node_gpus(platform, tp):
    platform["pools"][1]["tensorParallelSize"] = tp
    assert f"pools[1].tensorParallelSize: {tp} does not divide the 8 GPUs of a 'gpu-h100' node" in only_problem(
        platform
    )


def test_tensor_parallel_on_gpu_and_count_node_pool(platform):
    platform["nodePools"] = [{"name": "gpu-h100", "gpu": "a100-80gb", "gpuCount": 4}]
    platform["pools"][1]["tensorParallelSize"] = 8
    assert "does not divide the 4 GPUs" in only_problem(platform)


def test_class_must_be_chat_or_batch(platform):
    platform["pools"][0]["class"] = "realtime"
    assert "pools[0].class: Input should be 'chat' or 'batch'" in only_problem(platform)


@pytest.mark.parametrize(
    "arg",
    ["--max-model-len=4096", "--max_model_len", "--max-model", "--tensor-parallel-size", "--port", "-tp", "-qfp8"],
)
def test_extra_args_may_not_restate_generated_flags(platform, arg):
    platform["pools"][0]["extraArgs"] = ["--enable-prefix-caching", arg]
    assert "pools[0].extraArgs[1]: " in only_problem(platform)


def test_extra_args_accept_other_flags(platform):
    platform["pools"][0]["extraArgs"] = ["--enable-prefix-caching", "--max-logprobs", "5"]
    assert load_platform(platform, SOURCE).pools[0].extra_args[-1] == "5"


@pytest.mark.parametrize(
    ("mode", "signal", "message"),
    [
        ("standard", "concurrency", "'concurrency' does not apply to standard mode"),
        ("knative", "queue", "'queue' does not apply to knative mode"),
    ],
)
def test_autoscaling_signal_matches_mode(platform, mode, signal, message):
    platform["pools"][1].update(mode=mode, autoscaling={"signal": signal, "target": 2})
    if mode == "standard":
        del platform["pools"][1]["acceptedRisks"]  # behind no Knative proxy
    assert message in only_problem(platform)


@pytest.mark.parametrize("signal", ["cpu", "memory"])
def test_autoscaling_never_on_cpu_or_memory(platform, signal):
    platform["pools"][0]["autoscaling"] = {"signal": signal, "target": 50}
    assert "pools[0].autoscaling.signal: Input should be 'queue', 'kvCache' or 'concurrency'" in only_problem(platform)


def test_kv_cache_target_is_a_fraction(platform):
    platform["pools"][0]["autoscaling"] = {"signal": "kvCache", "target": 80}
    assert "pools[0].autoscaling.target: 80.0 is a KV-cache usage fraction" in only_problem(platform)


def test_batched_tokens_at_least_num_seqs(platform):
    platform["pools"][0].update(maxNumSeqs=512, maxNumBatchedTokens=256)
    assert "pools[0].maxNumBatchedTokens: 256 is below maxNumSeqs (512)" in only_problem(platform)


def test_unknown_catalog_keys_list_allowed(platform):
    platform["models"][0]["architecture"] = "llama-5"
    platform["nodePools"][0]["instanceType"] = "p9.large"
    lines = problems(platform)
    assert any("models[0].architecture: 'llama-5' is not in the catalog; allowed: " in line for line in lines)
    assert any("nodePools[0].instanceType: 'p9.large' is not in the catalog; allowed: " in line for line in lines)


def test_inline_architecture(platform):
    platform["models"][0]["architecture"] = {
        "numLayers": 2, "numAttentionHeads": 4, "numKvHeads": 2, "headDim": 64,
        "hiddenSize": 256, "vocabSize": 1000, "numParams": 10_000_000, "maxContext": 2048,
    }  # fmt: skip
    platform["pools"][0]["maxModelLen"] = 2048
    platform["pools"][1].update(maxModelLen=4096, defaultMaxTokens=1024)
    assert "pools[1].maxModelLen: 4096 is above the maximum context of llama-8b (2048)" in only_problem(platform)


def test_inline_architecture_field_errors_have_plain_paths(platform):
    platform["models"][0]["architecture"] = {"numLayers": 2}
    lines = problems(platform)
    assert any(line.endswith("models[0].architecture.headDim: required field is missing") for line in lines)


def test_node_pool_needs_instance_type_or_gpu(platform):
    platform["nodePools"] = [{"name": "gpu-h100", "gpu": "h100-80gb"}]
    assert "nodePools[0]: give instanceType (EC2), or both gpu and gpuCount" in only_problem(platform)


def test_quantize_on_load_only_for_fp8(platform):
    platform["models"][0].update(quantization="awq", quantizeOnLoad=True)
    assert "models[0].quantizeOnLoad: only FP8 can be applied at load" in only_problem(platform)


def test_a_quantization_source_only_for_a_pre_quantized_checkpoint(platform):
    platform["models"][0].update(quantizationSource="made by us with llm-compressor")
    assert "models[0].quantizationSource: only a pre-quantized checkpoint" in only_problem(platform)


def test_an_approval_needs_owner_reference_and_a_real_date(platform):
    platform["models"][0].update(approval={"owner": "ml-platform", "reference": "GOV-1", "date": "2026-13-40"})
    assert "models[0].approval.date" in only_problem(platform)


def test_eks_cluster_needs_name_and_region(platform):
    platform["cluster"] = {"kind": "eks", "name": "prod"}
    assert "cluster.region: required field is missing" in only_problem(platform)


def test_unknown_cluster_kind(platform):
    platform["cluster"] = {"kind": "gke"}
    assert "cluster: " in only_problem(platform)


def test_every_problem_reported_at_once(platform):
    platform["pools"][0]["maxModelLen"] = 0
    platform["models"][0]["revision"] = "main"
    assert len(problems(platform)) == 2


def test_not_a_mapping():
    assert only_problem(["pools"]) == f"{SOURCE}: private-llm-serving:platform: must be a mapping, got list"


def test_knative_timeout_raises_the_maximum_we_configure(platform):
    platform["pools"][1].update(timeoutSeconds=900, replicas={"min": 1, "max": 2})
    assert load_platform(platform, SOURCE).knative_max_revision_timeout_seconds == 900


def test_a_pool_at_zero_needs_its_cold_start_inside_the_knative_timeout(platform):
    # Knative's activator holds a request through the cold start, within the revision timeout.
    platform["pools"][1].update(timeoutSeconds=900, startupTimeoutSeconds=1500)
    spec = load_platform(platform, SOURCE)
    assert spec.pools[1].request_timeout_seconds == spec.knative_max_revision_timeout_seconds == 2400
    platform["controlPlane"] = {"knative": {"maxRevisionTimeoutSeconds": 1800}}
    assert only_problem(platform).endswith(
        "pools[1].timeoutSeconds: 2400 (timeoutSeconds 900 + startupTimeoutSeconds 1500, as the pool scales from "
        "zero) is above Knative's max-revision-timeout-seconds on this cluster (1800); raise "
        "controlPlane.knative.maxRevisionTimeoutSeconds, or use standard mode"
    )


def test_knative_timeout_within_a_stated_maximum(platform):
    platform["pools"][1].update(timeoutSeconds=900, replicas={"min": 1, "max": 2})
    platform["controlPlane"] = {"knative": {"maxRevisionTimeoutSeconds": 600}}
    assert "pools[1].timeoutSeconds: 900 is above Knative's max-revision-timeout-seconds on this cluster (600)" in (
        only_problem(platform)
    )
    platform["pools"][1]["mode"] = "standard"
    platform["pools"][1]["autoscaling"] = {"signal": "queue", "target": 8}
    del platform["pools"][1]["acceptedRisks"]
    assert load_platform(platform, SOURCE).pools[1].timeout_seconds == 900


# --- Knative's proxies drain for less than a long request takes ------------------------


def test_a_knative_pool_whose_requests_outlast_its_proxies_drain_needs_the_risk_accepted(platform):
    del platform["pools"][1]["acceptedRisks"]
    assert only_problem(platform) == (
        f"{SOURCE}: private-llm-serving:platform.pools[1].mode: a Knative pool's requests pass through Knative's "
        "proxies, which drain for less than its request timeout 1800 (timeoutSeconds 600 + startupTimeoutSeconds "
        "1200, as the pool scales from zero) when they restart: Kourier's gateway 15 s "
        "(terminationGracePeriodSeconds 30), the activator 600 s, and the Knative Operator can raise neither, so "
        "a Knative upgrade, a node drain or Kourier's autoscaler scaling down cuts the requests they carry. Use "
        "standard mode (its path, the edge proxies and vLLM, drains for the pool's timeout), or accept the risk "
        "with its reason in acceptedRisks.knativeProxyRestart"
    )


def test_a_warm_knative_pool_needs_it_too(platform):
    """Kourier's gateway carries every request to a Knative pool, at zero or not."""
    del platform["pools"][1]["acceptedRisks"]
    platform["pools"][1]["replicas"] = {"min": 1, "max": 2}
    assert "pools[1].mode: a Knative pool's requests pass through Knative's proxies" in only_problem(platform)


def test_a_request_timeout_within_the_drain_needs_no_acceptance(platform):
    del platform["pools"][1]["acceptedRisks"]
    platform["pools"][1].update(
        timeoutSeconds=15, replicas={"min": 1, "max": 2}, slo={"ttftP95Seconds": 5, "e2eP95Seconds": 10}
    )
    assert load_platform(platform, SOURCE).pools[1].request_timeout_seconds == 15


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"timeoutSeconds": 15, "replicas": {"min": 1, "max": 2}, "slo": {"ttftP95Seconds": 5, "e2eP95Seconds": 10}},
            "the request timeout (15 s) fits the Knative proxies' drain (15 s), so there is no such risk to accept",
        ),
        (
            {"mode": "standard", "autoscaling": {"signal": "queue", "target": 8}},
            "a standard pool has no Knative proxy in front of it",
        ),
    ],
    ids=["within the drain", "standard"],
)
def test_an_acceptance_with_no_risk_behind_it_is_refused(platform, change, message):
    """An acceptance left behind would silently cover a longer timeout nobody reviewed."""
    platform["pools"][1].update(change)
    assert only_problem(platform).endswith(f"pools[1].acceptedRisks.knativeProxyRestart: {message}; remove it")


@pytest.mark.parametrize(
    ("reason", "message"),
    [("ok", "at least 10 characters"), ("fine\u202eenif reviewed", "U+202E"), ("x" * 501, "at most 500 characters")],
)
def test_the_acceptance_is_a_readable_reason(platform, reason, message):
    platform["pools"][1]["acceptedRisks"] = {"knativeProxyRestart": reason}
    assert message in only_problem(platform)


def test_knative_timeout_within_knatives_default_on_a_cluster_we_do_not_configure(platform):
    platform["pools"][1]["timeoutSeconds"] = 900
    platform["controlPlane"] = {"knative": {"enabled": False}}
    assert "controlPlane.knative.maxRevisionTimeoutSeconds, or use standard mode" in only_problem(platform)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda p: p.update(pools={"a": 1}), "private-llm-serving:platform.pools: must be a list"),
        (
            lambda p: p["pools"].__setitem__(0, "chat"),
            "private-llm-serving:platform.pools[0]: must be a mapping of fields",
        ),
        (lambda p: p.update(cluster=None), "private-llm-serving:platform.cluster: must be a mapping of fields"),
    ],
)
def test_shape_errors_speak_in_yaml_terms(platform, mutate, expected):
    mutate(platform)
    lines = problems(platform)
    assert any(line.endswith(expected) for line in lines), lines
    assert not any("instance of" in line for line in lines)
