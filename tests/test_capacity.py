"""Capacity figures anyone can recompute from config.json numbers and a datasheet."""

import json
import math
import re

import pytest

from components import capacity
from components.capacity import (
    GIB,
    evaluate_pool,
    kv_bytes_per_token_per_gpu,
    runtime_reserve_bytes,
    usable_kv_bytes_per_gpu,
    weight_bytes_per_gpu,
    weight_bytes_total,
)
from components.catalog import ARCHITECTURES, GPUS, Architecture
from components.model_cache_size import model_cache_bytes_required, model_cache_error

pytestmark = pytest.mark.unit

LLAMA_8B = ARCHITECTURES["llama-3.1-8b"]
LLAMA_70B = ARCHITECTURES["llama-3.1-70b"]
QWEN_7B = ARCHITECTURES["qwen2.5-7b"]
H100 = GPUS["h100-80gb"]
A10G = GPUS["a10g"]


def pool(
    arch=LLAMA_8B,
    gpu=H100,
    tp=1,
    dtype="auto",
    quantization="none",
    kv="auto",
    cap=8192,
    seqs=64,
    batched=8192,
    util=0.9,
    min_at_cap=1,
):
    return evaluate_pool(arch, gpu, tp, dtype, quantization, kv, cap, seqs, batched, util, min_at_cap)


# --- KV cache per token ---------------------------------------------------------------


@pytest.mark.parametrize(
    "arch, expected",
    [
        (LLAMA_8B, 131072),  # 2 x 32 layers x 8 KV heads x 128 x 2 bytes
        (LLAMA_70B, 327680),  # 2 x 80 x 8 x 128 x 2
        (QWEN_7B, 57344),  # 2 x 28 x 4 x 128 x 2
    ],
)
def test_kv_bytes_per_token_bf16_tp1(arch, expected):
    assert kv_bytes_per_token_per_gpu(arch, "auto", 1, "bfloat16") == expected


@pytest.mark.parametrize("key", sorted(ARCHITECTURES))
def test_fp8_kv_cache_halves_the_bytes(key):
    arch = ARCHITECTURES[key]
    assert 2 * kv_bytes_per_token_per_gpu(arch, "fp8", 1) == kv_bytes_per_token_per_gpu(arch, "auto", 1)


def test_tensor_parallelism_splits_the_kv_heads():
    assert [kv_bytes_per_token_per_gpu(LLAMA_70B, "auto", tp) for tp in (1, 2, 4, 8)] == [327680, 163840, 81920, 40960]


def test_fewer_kv_heads_than_ranks_keeps_one_replicated_head_per_rank():
    # 4 KV heads over 8 ranks: vLLM stores one (replicated) head per rank, not half a head.
    arch = Architecture(
        num_layers=10,
        num_attention_heads=32,
        num_kv_heads=4,
        head_dim=128,
        hidden_size=4096,
        vocab_size=1000,
        num_params=10**9,
        max_context=4096,
    )
    assert kv_bytes_per_token_per_gpu(arch, "auto", 8) == 2 * 10 * 1 * 128 * 2
    assert kv_bytes_per_token_per_gpu(arch, "auto", 4) == kv_bytes_per_token_per_gpu(arch, "auto", 8)


# --- weights --------------------------------------------------------------------------


def test_llama_8b_bf16_weights_are_16_point_1_gb():
    total = weight_bytes_total(LLAMA_8B, "bfloat16", "none")
    assert total == 2 * 8_030_261_248
    assert round(total / 1e9, 1) == 16.1


def test_fp8_keeps_embeddings_lm_head_and_norms_at_16_bit():
    embeddings = 2 * 128256 * 4096  # input embedding + untied LM head
    norms = (2 * 32 + 1) * 4096
    linear = 8_030_261_248 - embeddings - norms
    assert weight_bytes_total(LLAMA_8B, "auto", "fp8") == 2 * (embeddings + norms) + linear


@pytest.mark.parametrize("method", ["awq", "gptq"])
def test_int4_weights_carry_group_scales_and_zeros(method):
    embeddings = 2 * 128256 * 4096
    norms = (2 * 32 + 1) * 4096
    linear = 8_030_261_248 - embeddings - norms
    # Per 128 weights: 64 bytes of int4, a 2-byte scale, half a byte of packed zero point.
    expected = 2 * (embeddings + norms) + linear * (64 + 2 + 0.5) / 128
    assert weight_bytes_total(LLAMA_8B, "float16", method) == pytest.approx(expected, abs=1)
    assert 5.7e9 < weight_bytes_total(LLAMA_8B, "float16", method) < 5.8e9


def test_quantization_orders_the_sizes():
    sizes = [weight_bytes_total(LLAMA_70B, "auto", q) for q in ("none", "fp8", "awq")]
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[0] > 1.9 * sizes[1]


def test_tensor_parallelism_splits_the_weights():
    total = weight_bytes_total(LLAMA_70B, "auto", "fp8")
    assert weight_bytes_per_gpu(LLAMA_70B, "auto", "fp8", 4) == -(-total // 4)


@pytest.mark.parametrize(
    "call",
    [
        lambda: weight_bytes_total(LLAMA_8B, "float32", "none"),
        lambda: weight_bytes_total(LLAMA_8B, "auto", "int8"),
        lambda: kv_bytes_per_token_per_gpu(LLAMA_8B, "fp16", 1),
        lambda: weight_bytes_per_gpu(LLAMA_8B, "auto", "none", 0),
        lambda: pool(util=1.2),
        lambda: pool(cap=0),
    ],
)
def test_unknown_settings_are_refused(call):
    with pytest.raises(ValueError):
        call()


# --- budget, runtime reserve and KV tokens (vLLM 0.32 accounting) -----------------------


def test_the_budget_is_cuda_visible_memory_times_utilization_rounded_up():
    # vllm/v1/worker/utils.py request_memory: ceil(total_memory x gpu_memory_utilization), with
    # CUDA's total (79.22 GiB on an H100), not nvidia-smi's 81559 MiB.
    assert capacity.requested_memory_bytes(H100, 0.9) == math.ceil(round(79.22 * GIB) * 0.9)
    assert capacity.cuda_memory_bytes(H100) < 81559 * 2**20


def test_usable_kv_memory_is_budget_minus_weights_minus_reserve():
    budget = math.ceil(round(79.22 * GIB) * 0.9)
    weights = 2 * 8_030_261_248
    reserve = runtime_reserve_bytes(LLAMA_8B, 1, 8192, 64)
    usable = usable_kv_bytes_per_gpu(LLAMA_8B, H100, 1, "auto", "none", 8192, 64, 0.9)
    assert usable == budget - weights - reserve


def test_the_reserve_is_non_torch_plus_the_larger_transient_plus_graphs():
    forward = capacity.activation_peak_bytes(LLAMA_8B, 1, 8192)
    sampler = capacity.sampler_peak_bytes(LLAMA_8B, 64, 8192)
    graphs = capacity.cuda_graph_bytes(LLAMA_8B, 1, 64, 8192)
    reserve = runtime_reserve_bytes(LLAMA_8B, 1, 8192, 64)
    assert reserve == capacity.non_torch_bytes(1) + max(forward, sampler) + graphs
    assert runtime_reserve_bytes(LLAMA_8B, 1, 8192, 64, cuda_graphs=False) == reserve - graphs


def test_forward_and_sampler_peaks_do_not_add():
    # Many batched tokens, few sequences: the forward pass is the peak; the reverse makes
    # the sampler's logits the peak.
    assert capacity.transient_peak_bytes(LLAMA_8B, 1, 16384, 16) == capacity.activation_peak_bytes(LLAMA_8B, 1, 16384)
    assert capacity.transient_peak_bytes(LLAMA_8B, 1, 2048, 1024) == capacity.sampler_peak_bytes(LLAMA_8B, 1024, 2048)


def test_forward_peak_per_token_is_three_hidden_plus_three_intermediate():
    # 2 bytes x (3 x 4096 + 3 x 14336) = 110,592 bytes per token; the MLP splits over TP.
    assert capacity.activation_peak_bytes(LLAMA_8B, 1, 1) == 110_592
    assert capacity.activation_peak_bytes(LLAMA_8B, 2, 1) == 2 * (3 * 4096 + 3 * 14336 // 2)


def test_non_torch_memory_grows_with_tensor_parallelism():
    assert capacity.non_torch_bytes(1) < capacity.non_torch_bytes(2) == capacity.non_torch_bytes(8)


def test_cuda_graph_sizes_follow_vllm_0_32_defaults():
    # 256 sequences: PIECEWISE up to 512 tokens (51 sizes), FULL decode up to 256 (35), the
    # counts vLLM logs ("Profiling CUDA graph memory: PIECEWISE=51 (largest=512), FULL=35").
    piecewise, full = capacity.memory.cuda_graph_capture_sizes(256, 8192)
    assert (len(piecewise), max(piecewise), len(full), max(full)) == (51, 512, 35, 256)
    assert capacity.memory.cuda_graph_capture_sizes(64, 8192)[0][-1] == 128


def test_vllm_scheduler_defaults_depend_on_the_gpu():
    assert capacity.vllm_default_batch_limits(H100) == (8192, 1024)
    assert capacity.vllm_default_batch_limits(H100, api_server=False) == (16384, 1024)
    assert capacity.vllm_default_batch_limits(GPUS["a100-80gb"]) == (2048, 256)  # excluded by name
    assert capacity.vllm_default_batch_limits(A10G) == (2048, 256)


def test_kv_tokens_fill_whole_blocks():
    result = pool()
    block = 131072 * 16
    assert result.kv_cache_tokens == result.usable_kv_bytes_per_gpu // block * 16
    assert result.concurrent_sequences_at_cap == result.kv_cache_tokens // 8192


def test_lower_memory_utilization_leaves_fewer_tokens():
    at_90, at_80 = pool(util=0.9), pool(util=0.8)
    lost_bytes = capacity.requested_memory_bytes(H100, 0.9) - capacity.requested_memory_bytes(H100, 0.8)
    assert at_90.kv_cache_tokens - at_80.kv_cache_tokens == pytest.approx(lost_bytes / 131072, abs=16)


def test_fp8_kv_cache_doubles_the_tokens():
    auto, fp8 = pool(kv="auto"), pool(kv="fp8")
    assert fp8.kv_cache_tokens == pytest.approx(2 * auto.kv_cache_tokens, abs=16)


def test_decode_ceiling_is_bandwidth_over_weight_bytes():
    assert pool().decode_ceiling_tokens_per_s == pytest.approx(3350e9 / (2 * 8_030_261_248))


def test_moe_decode_reads_only_the_routed_experts():
    mixtral = pool(arch=ARCHITECTURES["mixtral-8x7b"], tp=2, cap=4096)
    dense_equivalent = 3350e9 / mixtral.weights_per_gpu_bytes
    assert 3 * dense_equivalent < mixtral.decode_ceiling_tokens_per_s < 4 * dense_equivalent


# --- partially quantized checkpoints, MoE, multimodal -----------------------------------


def test_a_checkpoint_that_keeps_attention_16_bit_weighs_more():
    partial = LLAMA_70B.model_copy(update={"unquantized_attention": True, "unquantized_mlp_layers": 2})
    attention = 80 * (2 * 8192 * 8192 + 2 * 8192 * 1024)
    mlp = 2 * 3 * 8192 * 28672
    assert weight_bytes_total(partial, "auto", "fp8") - weight_bytes_total(LLAMA_70B, "auto", "fp8") == attention + mlp
    assert weight_bytes_total(partial, "auto", "none") == weight_bytes_total(LLAMA_70B, "auto", "none")


def test_moe_and_multimodal_models_are_not_modelled_without_a_measurement():
    moe = pool(arch=ARCHITECTURES["mixtral-8x7b"], tp=2, cap=4096)
    assert any(error.startswith("not modelled: MoE") for error in moe.errors)
    vision = pool(arch=LLAMA_8B.model_copy(update={"multimodal": True}))
    assert any(error.startswith("not modelled: vLLM profiles the vision") for error in vision.errors)
    measured = evaluate_pool(
        ARCHITECTURES["mixtral-8x7b"], H100, 2, "auto", "none", "auto", 4096, 64, 8192, 0.9,
        measured_kv_cache_tokens=200_000,
    )  # fmt: skip
    assert measured.fits and measured.kv_cache_tokens == 200_000 and measured.kv_cache_measured
    assert any("stated measurement" in warning for warning in measured.warnings)


# --- verdicts -------------------------------------------------------------------------
def test_70b_bf16_on_one_h100_is_rejected_for_its_weights():
    result = pool(arch=LLAMA_70B, cap=8192)
    assert not result.fits
    assert len(result.errors) == 1
    message = result.errors[0]
    assert "131.42 GiB" in message and "does not fit" in message
    assert "tensorParallelSize 2 (a node with 2 GPUs): 65.71 GiB weights/GPU" in message


def test_70b_fp8_with_tp4_on_h100_at_32k_is_accepted():
    result = pool(arch=LLAMA_70B, tp=4, quantization="fp8", cap=32768, seqs=256, batched=16384, min_at_cap=4)
    assert result.fits, result.errors
    assert result.concurrent_sequences_at_cap >= 4
    assert result.kv_bytes_per_token_per_gpu == 81920


def test_8b_chat_pool_at_32k_on_one_a10g_is_rejected_with_remedies():
    result = pool(gpu=A10G, cap=32768, seqs=64, batched=8192, min_at_cap=8)
    assert not result.fits
    message = " ".join(result.errors)
    assert "32768" in message
    assert "set maxModelLen to" in message and "a larger GPU" in message
    assert "kvCacheDtype fp8" not in message  # listed only where it alone would fit


def test_too_few_sequences_at_the_cap_is_an_error_naming_the_longest_cap_that_fits():
    result = pool(cap=32768, seqs=256, min_at_cap=64)
    assert 1 <= result.concurrent_sequences_at_cap < 64
    (message,) = result.errors
    assert f"set maxModelLen to {result.kv_cache_tokens // 64 // 16 * 16}," in message
    assert "minConcurrentAtCap 64" in message


def _remedy(message: str) -> int:
    found = re.search(r"set maxModelLen to (\d+)", message)
    assert found, message
    return int(found.group(1))


@pytest.mark.parametrize(
    "arch, gpu, cap, min_at_cap, class_cap",
    [
        (LLAMA_8B, A10G, 32768, 8, 8192),  # capacity binds below the chat cap
        (LLAMA_8B, H100, 65536, 8, 8192),  # the chat cap binds
        (LLAMA_8B, A10G, 65536, 1, None),  # batch: capacity alone
        (QWEN_7B, H100, 131072, 40, None),  # the model's 32768 context binds first... and capacity
    ],
)
def test_the_remedy_value_passes_every_constraint_when_applied(arch, gpu, cap, min_at_cap, class_cap):
    settings = dict(tp=1, dtype="auto", quantization="none", kv="auto", seqs=64, batched=8192, util=0.9)
    first = evaluate_pool(arch, gpu, 1, "auto", "none", "auto", cap, 64, 8192, 0.9, min_at_cap, context_cap=class_cap)
    assert not first.fits
    fixed_len = _remedy(" ".join(first.errors))
    again = evaluate_pool(
        arch, gpu, 1, "auto", "none", "auto", fixed_len, 64, 8192, 0.9, min_at_cap, context_cap=class_cap
    )
    assert again.fits, again.errors
    assert fixed_len <= arch.max_context and (class_cap is None or fixed_len <= class_cap)
    assert settings  # the same settings apart from maxModelLen


def test_the_alternatives_carry_their_numbers_and_fit():
    result = pool(arch=LLAMA_70B, quantization="fp8", cap=8192)  # fp8 70B on one H100: 5216 tokens
    (message,) = result.errors
    assert "set maxModelLen to 5216" in message
    assert "kvCacheDtype fp8: 67.67 GiB weights/GPU, 10432 KV tokens, 1 sequences at 8192" in message
    assert "tensorParallelSize 2 (a node with 2 GPUs)" in message and "a larger GPU, h200-141gb" in message


def test_enough_sequences_at_the_cap_fits():
    result = pool(cap=8192, min_at_cap=8)
    assert result.fits and result.concurrent_sequences_at_cap >= 8


def test_context_longer_than_the_model_supports_is_an_error():
    result = pool(arch=QWEN_7B, cap=65536)
    assert any("max_position_embeddings 32768" in error for error in result.errors)


def test_tp_that_does_not_divide_the_heads_is_an_error():
    result = pool(arch=QWEN_7B, tp=8)  # 28 attention heads
    assert any("does not divide" in error for error in result.errors)


def test_fp8_on_ampere_warns_but_fits():
    result = pool(gpu=GPUS["a100-80gb"], quantization="fp8")
    assert result.fits
    assert any("Marlin" in warning for warning in result.warnings)


def test_to_dict_is_json_ready():
    figures = pool(arch=LLAMA_70B, cap=8192).to_dict()
    assert json.loads(json.dumps(figures)) == figures
    assert figures["fits"] is False and figures["kvBytesPerTokenPerGpu"] == 327680
    assert figures["weightsPerGpuGiB"] == 131.42


# --- model cache ----------------------------------------------------------------------


def test_model_cache_needs_the_sum_plus_ten_percent():
    assert model_cache_bytes_required([100 * GIB, 50 * GIB]) == 165 * GIB
    assert model_cache_bytes_required([1]) == 2  # rounds up, never under-sizes


def test_model_cache_error_only_when_too_small():
    totals = [16_060_522_496, 72_656_371_712]
    required = model_cache_bytes_required(totals)
    assert model_cache_error(required, totals) is None
    assert model_cache_error(required - 1, totals) is not None
    # 88.7 GB = 82.6 GiB of weights, 90.9 GiB with headroom.
    message = model_cache_error(80 * GIB, totals)
    assert message is not None and "80.0 GiB" in message and "raise the cache size to at least 91Gi" in message
