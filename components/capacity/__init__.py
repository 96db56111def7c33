"""The capacity physics of a serving pool: weight bytes, KV-cache bytes, fit verdicts.

Pure functions over catalog facts; no Pulumi imports. The memory model follows vLLM 0.32's
own accounting term by term (components/capacity/memory.py, each constant with its source);
the KV arithmetic is checked exactly against a real vLLM on the CPU
(tests/test_capacity_cpu_engine.py), the whole model against public vLLM start-up logs
(tests/test_capacity_calibration.py) and, on a GPU, by benchmarks/capacity_vs_vllm.py.
Models whose start-up memory the model cannot derive (MoE, multimodal) are refused with
"not modelled" unless the pool states the KV-cache size vLLM measured.

Units: bytes everywhere; GiB (2^30) in messages, because that is what vLLM logs.
"""

from __future__ import annotations

from dataclasses import replace

from components.capacity.memory import (
    GIB,
    KV_BLOCK_SIZE_TOKENS,
    MIB,
    activation_peak_bytes,
    ceil_div,
    cuda_graph_bytes,
    cuda_memory_bytes,
    kv_bytes_per_token_per_gpu,
    kv_cache_tokens,
    non_torch_bytes,
    requested_memory_bytes,
    rounded_gib,
    runtime_reserve_bytes,
    sampler_peak_bytes,
    transient_peak_bytes,
    usable_kv_bytes_per_gpu,
    vllm_default_batch_limits,
    weight_bytes_per_gpu,
    weight_bytes_total,
)
from components.capacity.remedy import kv_remedy, longest_passing_max_model_len, weights_remedy
from components.capacity.sizing import PoolCapacity, PoolSettings, decode_ceiling_tokens_per_s, size
from components.catalog import Architecture, GpuModel

__all__ = [
    "GIB",
    "KV_BLOCK_SIZE_TOKENS",
    "MIB",
    "PoolCapacity",
    "PoolSettings",
    "activation_peak_bytes",
    "assess",
    "ceil_div",
    "cuda_graph_bytes",
    "cuda_memory_bytes",
    "decode_ceiling_tokens_per_s",
    "evaluate_pool",
    "kv_bytes_per_token_per_gpu",
    "kv_cache_tokens",
    "longest_passing_max_model_len",
    "non_torch_bytes",
    "requested_memory_bytes",
    "rounded_gib",
    "runtime_reserve_bytes",
    "sampler_peak_bytes",
    "transient_peak_bytes",
    "usable_kv_bytes_per_gpu",
    "vllm_default_batch_limits",
    "weight_bytes_per_gpu",
    "weight_bytes_total",
]


def evaluate_pool(
    arch: Architecture,
    gpu: GpuModel,
    tensor_parallel_size: int,
    dtype: str,
    quantization: str,
    kv_cache_dtype: str,
    max_model_len: int,
    max_num_seqs: int,
    max_num_batched_tokens: int,
    gpu_memory_utilization: float,
    min_concurrent_at_cap: int = 1,
    *,
    cuda_graphs: bool = True,
    measured_kv_cache_tokens: int | None = None,
    context_cap: int | None = None,
) -> PoolCapacity:
    """Size the KV cache of one pool replica and judge whether vLLM starts and serves
    at least min_concurrent_at_cap sequences of max_model_len tokens at once.

    cuda_graphs: False when the pool runs --enforce-eager. measured_kv_cache_tokens: the
    KV-cache size vLLM logged for this pool, used as is (required for MoE and multimodal
    models). context_cap: the workload class's policy cap, which remedies respect.
    Settings outside the accepted values raise ValueError. See `assess`.
    """
    settings = PoolSettings(
        arch=arch,
        gpu=gpu,
        tensor_parallel_size=tensor_parallel_size,
        dtype=dtype,
        quantization=quantization,
        kv_cache_dtype=kv_cache_dtype,
        max_model_len=max_model_len,
        max_num_seqs=max_num_seqs,
        max_num_batched_tokens=max_num_batched_tokens,
        gpu_memory_utilization=gpu_memory_utilization,
        min_concurrent_at_cap=min_concurrent_at_cap,
        cuda_graphs=cuda_graphs,
        measured_kv_cache_tokens=measured_kv_cache_tokens,
        context_cap=context_cap,
    )
    return assess(settings)


def assess(settings: PoolSettings) -> PoolCapacity:
    """The figures of `settings` with their verdict.

    Errors (each with its numbers and the remedy): a TP size vLLM refuses; max_model_len
    beyond the model's context; a model the memory model does not size (MoE, multimodal)
    without a measured KV-cache size; weights plus runtime reserve larger than the memory
    budget; a KV cache smaller than max_model_len (vLLM refuses to start); fewer than
    min_concurrent_at_cap sequences at the cap. Warnings: FP8 on GPUs without FP8
    hardware, a utilization above 0.95, and a KV cache taken from a measurement.
    """
    _check_settings(settings)
    capacity = size(settings)
    errors = [*_parallelism_errors(settings), *_context_errors(settings)]
    reason = settings.not_modelled
    if reason and settings.measured_kv_cache_tokens is None:
        errors.append(
            f"not modelled: {reason}; state the KV-cache size vLLM logs for this pool on its GPU "
            "('GPU KV cache size: N tokens') as measuredKvCacheTokens"
        )
    else:
        errors += _memory_errors(settings, capacity)
    return replace(capacity, errors=tuple(errors), warnings=tuple(_warnings(settings)))


def _check_settings(s: PoolSettings) -> None:
    counts = {
        "max_model_len": s.max_model_len,
        "max_num_seqs": s.max_num_seqs,
        "max_num_batched_tokens": s.max_num_batched_tokens,
        "min_concurrent_at_cap": s.min_concurrent_at_cap,
    }
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, not {value}")
    if not 0 < s.gpu_memory_utilization <= 1:
        raise ValueError(f"gpu_memory_utilization must be in (0, 1], not {s.gpu_memory_utilization}")


def _parallelism_errors(s: PoolSettings) -> list[str]:
    # vLLM refuses a TP size that does not split the attention heads evenly, and needs
    # the KV heads either split evenly or each replicated a whole number of times.
    tp, kv = s.tensor_parallel_size, s.arch.num_kv_heads
    if s.arch.num_attention_heads % tp or (kv % tp and tp % kv):
        return [
            f"tensorParallelSize {tp} does not divide the model's {s.arch.num_attention_heads} attention "
            f"heads / {kv} KV heads evenly: vLLM refuses to start; pick a divisor of both"
        ]
    return []


def _context_errors(s: PoolSettings) -> list[str]:
    if s.max_model_len <= s.arch.max_context:
        return []
    return [
        f"maxModelLen {s.max_model_len} exceeds the model's max_position_embeddings "
        f"{s.arch.max_context}: vLLM refuses to start; lower maxModelLen, or give an inline "
        "architecture with a larger maxContext for a checkpoint configured with rope scaling"
    ]


def _memory_errors(s: PoolSettings, capacity: PoolCapacity) -> list[str]:
    if capacity.usable_kv_bytes_per_gpu <= 0:
        return [
            f"weights need {rounded_gib(capacity.weights_per_gpu_bytes)} GiB per GPU, but the {capacity.gpu} "
            f"budget is {rounded_gib(capacity.requested_memory_bytes)} GiB ({rounded_gib(capacity.gpu_memory_bytes)} "
            f"GiB CUDA-visible x gpuMemoryUtilization {capacity.gpu_memory_utilization}) and the runtime reserve takes "
            f"{rounded_gib(capacity.reserve_per_gpu_bytes)} GiB: the model does not fit; {weights_remedy(s)}"
        ]
    if capacity.kv_cache_tokens < s.max_model_len:
        return [
            f"the KV cache holds {capacity.kv_cache_tokens} tokens "
            f"({rounded_gib(capacity.usable_kv_bytes_per_gpu)} GiB per GPU) but maxModelLen is "
            f"{s.max_model_len}: vLLM refuses to start; {kv_remedy(s, capacity)}"
        ]
    if capacity.concurrent_sequences_at_cap < s.min_concurrent_at_cap:
        return [
            f"the KV cache holds {capacity.kv_cache_tokens} tokens, only "
            f"{capacity.concurrent_sequences_at_cap} sequences at maxModelLen {s.max_model_len}, "
            f"fewer than minConcurrentAtCap {s.min_concurrent_at_cap}; {kv_remedy(s, capacity)}"
        ]
    return []


def _warnings(s: PoolSettings) -> list[str]:
    warnings = []
    if s.quantization == "fp8" and not s.gpu.fp8:
        warnings.append(
            f"{s.gpu.name} has no FP8 tensor cores: vLLM runs fp8 weights as weight-only (Marlin) "
            "kernels; the memory figures hold, throughput is lower than on Ada/Hopper"
        )
    if s.kv_cache_dtype == "fp8" and not s.gpu.fp8:
        warnings.append(
            f"fp8 KV cache on {s.gpu.name} (no FP8 hardware) depends on the attention backend vLLM "
            "picks; check that it starts before relying on the doubled capacity"
        )
    if s.gpu_memory_utilization > 0.95:
        warnings.append(
            f"gpuMemoryUtilization {s.gpu_memory_utilization} leaves under 5 % of the GPU for the CUDA context, "
            "fragmentation and anything else on the device"
        )
    if s.measured_kv_cache_tokens is not None:
        warnings.append(
            f"KV cache taken from the stated measurement ({s.measured_kv_cache_tokens} tokens), not computed: "
            "re-measure when the GPU, TP, utilization, batch limits or vLLM version change"
        )
    return warnings
