"""The way out of a capacity rejection, computed across every constraint at once.

A too-small KV cache gets one maxModelLen that passes all of them together: the KV cache
must hold minConcurrentAtCap sequences of it, it may not exceed the model's context, and a
chat pool may not exceed the class's policy cap (policy chat-context-cap). The KV-cache size
does not depend on maxModelLen (vLLM profiles max_num_batched_tokens, not the context), so
the value computed here passes when applied. Where no length helps, or to keep the length,
the message lists the changes that do fit (fp8 KV cache, more tensor parallelism, fp8
weights, a larger GPU from the catalog), each with the figures it would give.
"""

from __future__ import annotations

from components.capacity.memory import KV_BLOCK_SIZE_TOKENS, rounded_gib
from components.capacity.sizing import PoolCapacity, PoolSettings, serves, size
from components.catalog import GPUS

_TENSOR_PARALLEL_SIZES = (2, 4, 8)


def longest_passing_max_model_len(settings: PoolSettings, capacity: PoolCapacity) -> int:
    """The largest maxModelLen (whole KV blocks) that passes every constraint; 0 if none."""
    limits = [capacity.kv_cache_tokens // settings.min_concurrent_at_cap, settings.arch.max_context]
    if settings.context_cap is not None:
        limits.append(settings.context_cap)
    return min(limits) // KV_BLOCK_SIZE_TOKENS * KV_BLOCK_SIZE_TOKENS


def kv_remedy(settings: PoolSettings, capacity: PoolCapacity) -> str:
    """For a KV cache too small for maxModelLen or for minConcurrentAtCap sequences of it."""
    longest = longest_passing_max_model_len(settings, capacity)
    parts = []
    if longest >= KV_BLOCK_SIZE_TOKENS:
        limits = [
            f"KV cache {capacity.kv_cache_tokens} tokens / minConcurrentAtCap {settings.min_concurrent_at_cap}",
            f"the model's context {settings.arch.max_context}",
        ]
        if settings.context_cap is not None:
            limits.append(f"the class cap {settings.context_cap}")
        parts.append(f"set maxModelLen to {longest}, the longest that passes every constraint ({'; '.join(limits)})")
    alternatives = _alternatives(settings, keep_kv_dtype=False)
    if alternatives:
        parts.append(f"or keep maxModelLen {settings.max_model_len} and use {alternatives}")
    elif not parts:
        parts.append(_nothing_fits(settings))
    return ", ".join(parts)


def weights_remedy(settings: PoolSettings) -> str:
    """For weights plus runtime reserve larger than the memory budget."""
    alternatives = _alternatives(settings, keep_kv_dtype=True)
    return f"use {alternatives}" if alternatives else _nothing_fits(settings)


def _nothing_fits(settings: PoolSettings) -> str:
    return (
        "no single change fits it (fp8 KV cache, tensorParallelSize up to 8, fp8 weights or any catalog GPU); "
        f"combine them, or lower minConcurrentAtCap ({settings.min_concurrent_at_cap})"
    )


def _alternatives(settings: PoolSettings, *, keep_kv_dtype: bool) -> str:
    """The single changes that make the pool fit at its maxModelLen, with their figures."""
    candidates: list[tuple[str, PoolSettings]] = []
    if settings.kv_cache_dtype != "fp8" and not keep_kv_dtype:
        candidates.append(("kvCacheDtype fp8", settings.but(kv_cache_dtype="fp8")))
    arch = settings.arch
    for tp in _TENSOR_PARALLEL_SIZES:  # the smallest tensor parallelism that fits
        splits = not arch.num_attention_heads % tp and not (arch.num_kv_heads % tp and tp % arch.num_kv_heads)
        if tp > settings.tensor_parallel_size and splits and _fits(settings.but(tensor_parallel_size=tp)):
            candidates.append(
                (f"tensorParallelSize {tp} (a node with {tp} GPUs)", settings.but(tensor_parallel_size=tp))
            )
            break
    if settings.quantization == "none":
        candidates.append(("quantization fp8 (an FP8 checkpoint or quantizeOnLoad)", settings.but(quantization="fp8")))
    larger = sorted(
        (gpu for gpu in GPUS.items() if gpu[1].cuda_memory_gib > settings.gpu.cuda_memory_gib),
        key=lambda item: item[1].cuda_memory_gib,
    )
    for key, gpu in larger:
        if _fits(settings.but(gpu=gpu)):
            candidates.append((f"a larger GPU, {key}", settings.but(gpu=gpu)))
            break
    described = [_describe(label, changed) for label, changed in candidates if _fits(changed)]
    return " / ".join(described)


def _fits(settings: PoolSettings) -> bool:
    return serves(settings, size(settings))


def _describe(label: str, settings: PoolSettings) -> str:
    capacity = size(settings)
    return (
        f"{label}: {rounded_gib(capacity.weights_per_gpu_bytes)} GiB weights/GPU, {capacity.kv_cache_tokens} KV tokens, "
        f"{capacity.concurrent_sequences_at_cap} sequences at {settings.max_model_len}"
    )
