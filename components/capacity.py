"""The capacity physics of a serving pool: weight bytes, KV-cache bytes, fit verdicts.

Pure functions over catalog facts; no Pulumi imports. Every figure is recomputable by
hand from the catalog (see tests/test_capacity.py), and the one estimated term, the
runtime reserve, is calibrated against a real vLLM by benchmarks/capacity_vs_vllm.py.

Units: bytes everywhere; GiB (2^30) in messages, because that is what vLLM logs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from fractions import Fraction

from components.catalog import Architecture, GpuModel

GIB = 1024**3
MIB = 1024**2

SIXTEEN_BIT_DTYPES = frozenset({"auto", "bfloat16", "float16"})
QUANTIZATIONS = frozenset({"none", "fp8", "awq", "gptq"})
KV_CACHE_DTYPES = frozenset({"auto", "fp8"})

# 4-bit AWQ/GPTQ checkpoints store, per group of 128 input weights: 128 packed int4 values
# (64 bytes), one 16-bit scale and one packed 4-bit zero point (half a byte). GPTQ's g_idx
# (int32 per input row, only with act-order) is not counted: under 0.1 % of a layer.
INT4_GROUP_SIZE = 128
INT4_BYTES_PER_GROUP = Fraction(INT4_GROUP_SIZE, 2) + 2 + Fraction(1, 2)  # 66.5 bytes

# vLLM hands out KV cache in blocks of 16 tokens (its default --block-size on CUDA), so
# the token count it logs is a multiple of 16.
KV_BLOCK_SIZE_TOKENS = 16

# Runtime reserve per GPU: memory vLLM's profiling run takes before the KV cache is sized.
# ESTIMATE, to be calibrated with benchmarks/capacity_vs_vllm.py (it prints the reserve a
# real vLLM implies). It has three parts:
#  - NON_TORCH_AND_CUDA_GRAPH_RESERVE_BYTES: cuBLAS/NCCL workspaces, custom all-reduce
#    buffers and the CUDA-graph memory pool vLLM has counted since v0.21; vLLM logs
#    ~0.3-1 GiB for graphs of 7B-70B models, plus a few hundred MiB of non-torch memory.
#  - activations of one forward pass over max_num_batched_tokens (activation_peak_bytes);
#  - the sampler's fp32 logits for max_num_seqs sequences (sampler_logits_bytes).
NON_TORCH_AND_CUDA_GRAPH_RESERVE_BYTES = 3 * GIB // 2
ACTIVATION_BYTES_PER_VALUE = 2  # activations run in the 16-bit model dtype
SAMPLER_LOGITS_COPIES = 2  # logits plus the probabilities derived from them, fp32 each

_REMEDIES = "quantize the weights (fp8, awq, gptq), raise tensorParallelSize, or use a larger GPU"


# --- weights --------------------------------------------------------------------------


def _check_choice(name: str, value: str, allowed: frozenset[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, not {value!r}")


def embedding_params(arch: Architecture) -> int:
    """Parameters of the token embedding and the LM head (one matrix when they are tied)."""
    matrices = 1 if arch.tie_word_embeddings else 2
    return matrices * arch.vocab_size * arch.hidden_size


def norm_params(arch: Architecture) -> int:
    """RMSNorm weights: two per decoder layer plus the final norm."""
    return (2 * arch.num_layers + 1) * arch.hidden_size


def linear_params(arch: Architecture) -> int:
    """Parameters of the projection layers, the ones quantization applies to.

    Everything except embeddings, LM head and norms. Biases (Qwen2's q/k/v biases, under
    0.01 % of the model) are counted here too, at the quantized width.
    """
    return arch.num_params - embedding_params(arch) - norm_params(arch)


def weight_bytes_total(arch: Architecture, dtype: str, quantization: str) -> int:
    """Bytes of all weights of the model as vLLM holds them on the GPUs (and, for a
    checkpoint stored in that format, about its size on disk).

    dtype: "auto", "bfloat16" or "float16"; all three are 16-bit (auto means the
    checkpoint's torch_dtype, 16-bit for every catalog model).
    quantization:
      - "none": every parameter at 16 bits.
      - "fp8": projection weights at 1 byte; embeddings, LM head and norms stay 16-bit,
        as vLLM's fp8 method leaves them unquantized. Per-tensor or per-channel scales
        (a few MB) are ignored.
      - "awq", "gptq": 4-bit projection weights with group size 128: per group 64 bytes
        of packed values, a 16-bit scale and a 4-bit zero point, i.e. 4.16 bits per
        weight. Embeddings, LM head and norms stay 16-bit.
    """
    _check_choice("dtype", dtype, SIXTEEN_BIT_DTYPES)
    _check_choice("quantization", quantization, QUANTIZATIONS)
    unquantized_bytes = 2 * (embedding_params(arch) + norm_params(arch))
    linear = linear_params(arch)
    if quantization == "none":
        return unquantized_bytes + 2 * linear
    if quantization == "fp8":
        return unquantized_bytes + linear
    return unquantized_bytes + math.ceil(linear * INT4_BYTES_PER_GROUP / INT4_GROUP_SIZE)


def weight_bytes_per_gpu(arch: Architecture, dtype: str, quantization: str, tensor_parallel_size: int) -> int:
    """Weight bytes on each GPU of a tensor-parallel group.

    vLLM shards every projection, the embedding and the LM head (by vocabulary) across
    the ranks, so each holds 1/TP of the total. Ignored: norms replicated on every rank
    and, when TP exceeds the KV heads, the replicated K/V projection slices (both well
    under 1 % of a rank's weights).
    """
    _check_tp(tensor_parallel_size)
    return ceil_div(weight_bytes_total(arch, dtype, quantization), tensor_parallel_size)


def ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _check_tp(tensor_parallel_size: int) -> None:
    if tensor_parallel_size < 1:
        raise ValueError(f"tensor_parallel_size must be at least 1, not {tensor_parallel_size}")


# --- KV cache -------------------------------------------------------------------------


def kv_heads_per_gpu(arch: Architecture, tensor_parallel_size: int) -> int:
    """KV heads each rank stores: an even split, or one replicated head per rank when
    there are fewer KV heads than ranks (vLLM's rule for grouped-query attention)."""
    _check_tp(tensor_parallel_size)
    return max(1, arch.num_kv_heads // tensor_parallel_size)


def kv_bytes_per_token_per_gpu(
    arch: Architecture, kv_cache_dtype: str, tensor_parallel_size: int, dtype: str = "auto"
) -> int:
    """KV-cache bytes one token occupies on each GPU: K and V, for every layer, for the
    rank's KV heads. kv_cache_dtype "auto" stores the model's 16-bit dtype, "fp8" one byte.
    """
    _check_choice("dtype", dtype, SIXTEEN_BIT_DTYPES)
    _check_choice("kv_cache_dtype", kv_cache_dtype, KV_CACHE_DTYPES)
    value_bytes = 1 if kv_cache_dtype == "fp8" else 2
    return 2 * arch.num_layers * kv_heads_per_gpu(arch, tensor_parallel_size) * arch.head_dim * value_bytes


# --- runtime reserve ------------------------------------------------------------------


def _mlp_width(arch: Architecture) -> int:
    """Intermediate width a token passes through; 4 x hidden when the catalog entry lacks it."""
    width = arch.intermediate_size or 4 * arch.hidden_size
    return width * arch.num_experts_per_tok


def activation_peak_bytes(arch: Architecture, tensor_parallel_size: int, max_num_batched_tokens: int) -> int:
    """Peak transient memory of one forward pass over max_num_batched_tokens tokens.

    The MLP is the peak: the residual stream and the layer input (2 x hidden) plus the
    gate/up output and its activation (3 x intermediate, split across TP ranks), per token,
    16-bit. An estimate; see the calibration note at NON_TORCH_AND_CUDA_GRAPH_RESERVE_BYTES.
    """
    per_token_values = 2 * arch.hidden_size + ceil_div(3 * _mlp_width(arch), tensor_parallel_size)
    return max_num_batched_tokens * per_token_values * ACTIVATION_BYTES_PER_VALUE


def sampler_logits_bytes(arch: Architecture, max_num_seqs: int, max_num_batched_tokens: int) -> int:
    """fp32 logits over the whole vocabulary for every sequence sampled in one step."""
    sequences = min(max_num_seqs, max_num_batched_tokens)
    return SAMPLER_LOGITS_COPIES * sequences * arch.vocab_size * 4


def runtime_reserve_bytes(
    arch: Architecture, tensor_parallel_size: int, max_num_batched_tokens: int, max_num_seqs: int
) -> int:
    """Memory per GPU that is neither weights nor KV cache (estimated; see module constants)."""
    return (
        NON_TORCH_AND_CUDA_GRAPH_RESERVE_BYTES
        + activation_peak_bytes(arch, tensor_parallel_size, max_num_batched_tokens)
        + sampler_logits_bytes(arch, max_num_seqs, max_num_batched_tokens)
    )


def gpu_memory_bytes(gpu: GpuModel) -> int:
    return gpu.memory_mib * MIB


def usable_kv_bytes_per_gpu(
    arch: Architecture,
    gpu: GpuModel,
    tensor_parallel_size: int,
    dtype: str,
    quantization: str,
    max_num_batched_tokens: int,
    max_num_seqs: int,
    gpu_memory_utilization: float,
) -> int:
    """GPU memory x gpu_memory_utilization - weights per GPU - runtime reserve, as vLLM
    sizes its KV cache. Negative when the weights and reserve alone do not fit."""
    budget = int(gpu_memory_bytes(gpu) * gpu_memory_utilization)
    weights = weight_bytes_per_gpu(arch, dtype, quantization, tensor_parallel_size)
    reserve = runtime_reserve_bytes(arch, tensor_parallel_size, max_num_batched_tokens, max_num_seqs)
    return budget - weights - reserve


def kv_cache_tokens(usable_kv_bytes: int, kv_bytes_per_token: int) -> int:
    """Tokens the KV cache holds, rounded down to whole vLLM blocks."""
    block_bytes = kv_bytes_per_token * KV_BLOCK_SIZE_TOKENS
    return max(0, usable_kv_bytes) // block_bytes * KV_BLOCK_SIZE_TOKENS


def decode_ceiling_tokens_per_s(arch: Architecture, gpu: GpuModel, weights_per_gpu_bytes: int) -> float:
    """Upper bound on one sequence's decode speed: HBM bandwidth / bytes read per step.

    Each decode step reads the rank's weights once (all ranks in parallel); for MoE only
    the routed experts' share. Ignored: KV-cache reads (which grow with context and
    batch), activations, kernel and all-reduce latency, and achieved bandwidth being
    below the datasheet peak. So real single-stream speed is lower; batched throughput
    is higher, since a step's weight reads are shared by every sequence in the batch.
    """
    step_bytes = weights_per_gpu_bytes * _active_weight_fraction(arch)
    return gpu.bandwidth_gb_s * 1e9 / step_bytes


def _active_weight_fraction(arch: Architecture) -> float:
    """Share of the weights one token reads: all for dense models; for MoE the experts
    not routed to are skipped (needs intermediate_size)."""
    if arch.num_experts == 1 or not arch.intermediate_size:
        return 1.0
    expert_params = arch.num_layers * arch.num_experts * 3 * arch.hidden_size * arch.intermediate_size
    skipped = expert_params * (1 - arch.num_experts_per_tok / arch.num_experts)
    return 1 - skipped / arch.num_params


# --- pool verdict ---------------------------------------------------------------------


@dataclass(frozen=True)
class PoolCapacity:
    """The capacity figures and fit verdict of one serving pool on one GPU model."""

    gpu: str
    tensor_parallel_size: int
    max_model_len: int
    gpu_memory_bytes: int
    gpu_memory_utilization: float
    weights_total_bytes: int
    weights_per_gpu_bytes: int
    reserve_per_gpu_bytes: int
    usable_kv_bytes_per_gpu: int
    kv_bytes_per_token_per_gpu: int
    kv_cache_tokens: int
    concurrent_sequences_at_cap: int
    decode_ceiling_tokens_per_s: float
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def fits(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """One line for logs: the figures an operator checks first."""
        verdict = "fits" if self.fits else "REJECTED: " + "; ".join(self.errors)
        return (
            f"{self.gpu} x TP{self.tensor_parallel_size}: weights {rounded_gib(self.weights_per_gpu_bytes)} GiB/GPU, "
            f"KV {self.kv_bytes_per_token_per_gpu} B/token/GPU, {self.kv_cache_tokens} KV tokens, "
            f"{self.concurrent_sequences_at_cap} sequences at {self.max_model_len}, "
            f"decode ceiling {self.decode_ceiling_tokens_per_s:.0f} tokens/s; {verdict}"
        )

    def to_dict(self) -> dict:
        """JSON-friendly figures (capacity.json): exact bytes plus rounded GiB for reading."""
        return {
            "gpu": self.gpu,
            "tensorParallelSize": self.tensor_parallel_size,
            "maxModelLen": self.max_model_len,
            "gpuMemoryBytes": self.gpu_memory_bytes,
            "gpuMemoryUtilization": self.gpu_memory_utilization,
            "weightsTotalBytes": self.weights_total_bytes,
            "weightsPerGpuBytes": self.weights_per_gpu_bytes,
            "weightsPerGpuGiB": rounded_gib(self.weights_per_gpu_bytes),
            "reservePerGpuBytes": self.reserve_per_gpu_bytes,
            "usableKvBytesPerGpu": self.usable_kv_bytes_per_gpu,
            "usableKvGiBPerGpu": rounded_gib(self.usable_kv_bytes_per_gpu),
            "kvBytesPerTokenPerGpu": self.kv_bytes_per_token_per_gpu,
            "kvCacheTokens": self.kv_cache_tokens,
            "concurrentSequencesAtCap": self.concurrent_sequences_at_cap,
            "decodeCeilingTokensPerSecond": round(self.decode_ceiling_tokens_per_s, 1),
            "fits": self.fits,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }


def rounded_gib(value: int) -> float:
    return round(value / GIB, 2)


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
) -> PoolCapacity:
    """Size the KV cache of one pool replica and judge whether vLLM starts and serves
    at least min_concurrent_at_cap sequences of max_model_len tokens at once.

    Errors (each with its numbers and remedies): a TP size vLLM refuses; max_model_len
    beyond the model's context; weights (plus reserve) larger than the memory budget;
    a KV cache smaller than max_model_len (vLLM refuses to start); fewer than
    min_concurrent_at_cap sequences at the cap. Warnings: FP8 on GPUs without FP8
    hardware, and a utilization above 0.95. Settings outside the accepted values raise
    ValueError.
    """
    _check_settings(max_model_len, max_num_seqs, max_num_batched_tokens, gpu_memory_utilization, min_concurrent_at_cap)
    weights_total = weight_bytes_total(arch, dtype, quantization)
    weights = weight_bytes_per_gpu(arch, dtype, quantization, tensor_parallel_size)
    reserve = runtime_reserve_bytes(arch, tensor_parallel_size, max_num_batched_tokens, max_num_seqs)
    usable = usable_kv_bytes_per_gpu(
        arch,
        gpu,
        tensor_parallel_size,
        dtype,
        quantization,
        max_num_batched_tokens,
        max_num_seqs,
        gpu_memory_utilization,
    )
    per_token = kv_bytes_per_token_per_gpu(arch, kv_cache_dtype, tensor_parallel_size, dtype)
    tokens = kv_cache_tokens(usable, per_token)
    capacity = PoolCapacity(
        gpu=gpu.name,
        tensor_parallel_size=tensor_parallel_size,
        max_model_len=max_model_len,
        gpu_memory_bytes=gpu_memory_bytes(gpu),
        gpu_memory_utilization=gpu_memory_utilization,
        weights_total_bytes=weights_total,
        weights_per_gpu_bytes=weights,
        reserve_per_gpu_bytes=reserve,
        usable_kv_bytes_per_gpu=usable,
        kv_bytes_per_token_per_gpu=per_token,
        kv_cache_tokens=tokens,
        concurrent_sequences_at_cap=tokens // max_model_len,
        decode_ceiling_tokens_per_s=decode_ceiling_tokens_per_s(arch, gpu, weights),
    )
    return _with_verdict(capacity, arch, gpu, quantization, kv_cache_dtype, min_concurrent_at_cap)


def _check_settings(
    max_model_len: int,
    max_num_seqs: int,
    max_num_batched_tokens: int,
    gpu_memory_utilization: float,
    min_concurrent_at_cap: int,
) -> None:
    counts = {
        "max_model_len": max_model_len,
        "max_num_seqs": max_num_seqs,
        "max_num_batched_tokens": max_num_batched_tokens,
        "min_concurrent_at_cap": min_concurrent_at_cap,
    }
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, not {value}")
    if not 0 < gpu_memory_utilization <= 1:
        raise ValueError(f"gpu_memory_utilization must be in (0, 1], not {gpu_memory_utilization}")


def _with_verdict(
    capacity: PoolCapacity,
    arch: Architecture,
    gpu: GpuModel,
    quantization: str,
    kv_cache_dtype: str,
    min_concurrent_at_cap: int,
) -> PoolCapacity:
    errors = [*_parallelism_errors(arch, capacity.tensor_parallel_size), *_context_errors(arch, capacity)]
    errors += _memory_errors(capacity, kv_cache_dtype, min_concurrent_at_cap)
    warnings = _hardware_warnings(gpu, quantization, kv_cache_dtype, capacity.gpu_memory_utilization)
    return replace(capacity, errors=tuple(errors), warnings=tuple(warnings))


def _parallelism_errors(arch: Architecture, tp: int) -> list[str]:
    # vLLM refuses a TP size that does not split the attention heads evenly, and needs
    # the KV heads either split evenly or each replicated a whole number of times.
    kv = arch.num_kv_heads
    if arch.num_attention_heads % tp or (kv % tp and tp % kv):
        return [
            f"tensorParallelSize {tp} does not divide the model's {arch.num_attention_heads} attention "
            f"heads / {kv} KV heads evenly: vLLM refuses to start; pick a divisor of both"
        ]
    return []


def _context_errors(arch: Architecture, capacity: PoolCapacity) -> list[str]:
    if capacity.max_model_len <= arch.max_context:
        return []
    return [
        f"maxModelLen {capacity.max_model_len} exceeds the model's max_position_embeddings "
        f"{arch.max_context}: vLLM refuses to start; lower maxModelLen, or give an inline "
        "architecture with a larger maxContext for a checkpoint configured with rope scaling"
    ]


def _memory_errors(capacity: PoolCapacity, kv_cache_dtype: str, min_concurrent_at_cap: int) -> list[str]:
    if capacity.usable_kv_bytes_per_gpu <= 0:
        return [_weights_error(capacity)]
    if capacity.kv_cache_tokens < capacity.max_model_len:
        return [
            f"the KV cache holds {capacity.kv_cache_tokens} tokens "
            f"({rounded_gib(capacity.usable_kv_bytes_per_gpu)} GiB per GPU) but maxModelLen is "
            f"{capacity.max_model_len}: vLLM refuses to start; "
            + _kv_remedies(capacity.kv_cache_tokens, kv_cache_dtype)
        ]
    if capacity.concurrent_sequences_at_cap < min_concurrent_at_cap:
        return [
            f"the KV cache holds {capacity.kv_cache_tokens} tokens, only "
            f"{capacity.concurrent_sequences_at_cap} sequences at maxModelLen {capacity.max_model_len}, "
            f"fewer than minConcurrentAtCap {min_concurrent_at_cap}; "
            + _kv_remedies(capacity.kv_cache_tokens // min_concurrent_at_cap, kv_cache_dtype)
        ]
    return []


def _weights_error(capacity: PoolCapacity) -> str:
    budget = int(capacity.gpu_memory_bytes * capacity.gpu_memory_utilization)
    return (
        f"weights need {rounded_gib(capacity.weights_per_gpu_bytes)} GiB per GPU, but the {capacity.gpu} "
        f"budget is {rounded_gib(budget)} GiB ({rounded_gib(capacity.gpu_memory_bytes)} GiB x "
        f"gpuMemoryUtilization {capacity.gpu_memory_utilization}) and the runtime reserve takes "
        f"{rounded_gib(capacity.reserve_per_gpu_bytes)} GiB: the model does not fit; {_REMEDIES}"
    )


def _kv_remedies(longest_fitting_cap: int, kv_cache_dtype: str) -> str:
    """The ways out of a too-small KV cache, most specific first."""
    remedies = []
    if longest_fitting_cap >= KV_BLOCK_SIZE_TOKENS:
        remedies.append(f"lower maxModelLen to at most {longest_fitting_cap}")
    if kv_cache_dtype != "fp8":
        remedies.append("use kvCacheDtype fp8")
    return ", ".join([*remedies, _REMEDIES])


def _hardware_warnings(gpu: GpuModel, quantization: str, kv_cache_dtype: str, utilization: float) -> list[str]:
    warnings = []
    if quantization == "fp8" and not gpu.fp8:
        warnings.append(
            f"{gpu.name} has no FP8 tensor cores: vLLM runs fp8 weights as weight-only (Marlin) "
            "kernels; the memory figures hold, throughput is lower than on Ada/Hopper"
        )
    if kv_cache_dtype == "fp8" and not gpu.fp8:
        warnings.append(
            f"fp8 KV cache on {gpu.name} (no FP8 hardware) depends on the attention backend vLLM "
            "picks; check that it starts before relying on the doubled capacity"
        )
    if utilization > 0.95:
        warnings.append(
            f"gpuMemoryUtilization {utilization} leaves under 5 % of the GPU for the CUDA context, "
            "fragmentation and anything else on the device"
        )
    return warnings
