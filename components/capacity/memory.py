"""The memory terms of one vLLM replica, as vLLM 0.32 sizes its KV cache.

vLLM (vllm/v1/worker/gpu_worker.py, Worker.determine_available_memory) computes, per GPU:

    available KV = requested - non_kv_cache_memory - cudagraph_memory_estimate
    requested = ceil(total_memory x gpu_memory_utilization)      (vllm/v1/worker/utils.py request_memory)
    non_kv_cache_memory = total_consumed + transient_peak_headroom    (vllm/utils/mem_utils.py memory_profiling)

- total_memory is CUDA's total (torch.accelerator.get_memory_info), GpuModel.cuda_memory_gib,
  not the nvidia-smi figure.
- total_consumed is what the worker took after its init snapshot, which vLLM takes once the
  CUDA context and NCCL are up (gpu_worker.py init_device): the weights, plus non-torch memory
  allocated later (cuBLAS workspaces, NCCL and custom all-reduce buffers). The CUDA context
  itself lives in the (1 - gpu_memory_utilization) slack, so it is not subtracted.
- transient_peak_headroom is torch's peak minus what stays allocated after profile_run
  (gpu_model_runner.py): a forward pass over max_num_batched_tokens, then the sampler warm-up
  over max_num_seqs (_dummy_sampler_run). They run one after the other, so the peak is the
  larger of the two, not their sum.
- cudagraph_memory_estimate (profile_cudagraph_memory) is subtracted unless graphs are off
  (--enforce-eager) or VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=0 (default 1 since v0.21, envs.py).

Every constant below names the vLLM 0.32 file or the public start-up logs it comes from;
tests/test_capacity_calibration.py compares the whole model with public logs.
Units: bytes; GiB (2^30) in messages, as vLLM logs.
"""

from __future__ import annotations

import math
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

# vLLM hands out KV cache in blocks of 16 tokens on CUDA (CacheConfig.block_size default),
# and sizes num_blocks = memory // bytes per block (vllm/v1/core/kv_cache_utils.py
# get_kv_cache_config_from_groups), so the token count it logs is a multiple of 16.
KV_BLOCK_SIZE_TOKENS = 16

# Non-torch memory vLLM counts (allocated after its init snapshot), per GPU. Measured by
# vLLM itself ("non-torch memory" in its start-up log): at TP 1, 0.02-0.35 GiB - 0.07 GiB
# (H100, vLLM 0.10.2), 0.16 GiB (H100, github.com/vllm-project/vllm/pull/12126), 0.35 GiB
# (RTX 3090, github.com/vllm-project/vllm/issues/10517); with tensor parallelism NCCL and the
# custom all-reduce buffers add to it: 0.25 GiB (TP 2, vllm issue 13061), 0.34-0.43 GiB
# (TP 4, vllm issue 16570). The typical values, not the extremes:
NON_TORCH_BYTES_SINGLE_GPU = 150 * MIB
NON_TORCH_BYTES_TENSOR_PARALLEL = 400 * MIB

# The forward pass's peak is in the MLP of one layer, per token: the residual stream, the
# layer input and the down projection's output (3 x hidden), with the gate/up output (2 x
# intermediate) and its activation (1 x intermediate) still referenced (vllm/model_executor/
# models/llama.py LlamaMLP.forward keeps gate_up alive until it returns); the intermediate
# width is split across TP ranks. 16-bit values. A public vLLM log confirms the slope:
# Llama-3.1-8B, 20000 and 29000 batched tokens, 2.07 and 2.99 GiB activation peak
# (github.com/vllm-project/vllm/issues/10517), against 2.06 and 2.99 GiB from this formula.
ACTIVATION_BYTES_PER_VALUE = 2
# The sampler warm-up (gpu_model_runner.py _dummy_sampler_run, vllm/v1/sample/sampler.py and
# ops/topk_topp_sampler.py) holds per logit: the 16-bit logits from compute_logits (2 bytes),
# their fp32 copy (4), the fp32 softmax probabilities (4) and the fp32 exponential noise of
# random_sample (4); top-k/top-p run in place (Triton). Full vocabulary on every rank.
SAMPLER_BYTES_PER_LOGIT = 14
# Without Triton (and in vLLM releases that fell back to PyTorch's sort when FlashInfer was
# off), top-k/top-p sorts the whole vocabulary (ops/topk_topp_sampler.py
# apply_top_k_top_p_pytorch). Its peak, while the 16-bit (2) and fp32 (4) logits are held:
# the sorted fp32 values (4) and int64 indices (8), the second copy of both that torch.sort's
# CUDA radix sort works in (4 + 8), then the sorted softmax (4) and two bool masks (2). Used
# to read logs of such servers (tests/test_capacity_calibration.py).
SAMPLER_BYTES_PER_LOGIT_SORTED = 2 + 4 + 2 * (4 + 8) + 4 + 2

# CUDA graphs (vLLM 0.32 default cudagraph_mode FULL_AND_PIECEWISE): vllm/config/vllm.py
# captures PIECEWISE graphs for sizes [1, 2, 4, 8..248 step 8, 256.. step 16] up to
# min(2 x max_num_seqs, 512) tokens, and FULL decode graphs for the sizes up to max_num_seqs.
# profile_cudagraph_memory (gpu_model_runner.py) estimates per mode the first (largest)
# capture plus (n - 1) x the second one; the first holds that size's activations, the
# others mostly driver and graph-pool overhead. Per graph, public logs give 0.55 GiB for
# 51 + 35 graphs of a 24B model (4 MiB each after the two largest), 0.62 GiB for 51 + 35
# graphs of a 2B model (6 MiB), 0.67 GiB for 67 graphs of a 7B model (10 MiB, vLLM 0.10.2);
# the middle value:
CUDA_GRAPH_BYTES_PER_GRAPH = 6 * MIB
CUDA_GRAPH_MAX_CAPTURE_TOKENS = 512  # vllm/config/vllm.py default_max_graph_size (1024 on Blackwell)


def check_choice(name: str, value: str, allowed: frozenset[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {sorted(allowed)}, not {value!r}")


def check_tp(tensor_parallel_size: int) -> None:
    if tensor_parallel_size < 1:
        raise ValueError(f"tensor_parallel_size must be at least 1, not {tensor_parallel_size}")


def ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def rounded_gib(value: int) -> float:
    return round(value / GIB, 2)


# --- budget -----------------------------------------------------------------------------


def cuda_memory_bytes(gpu: GpuModel) -> int:
    """The total CUDA reports for one GPU: what vLLM's budget starts from."""
    return round(gpu.cuda_memory_gib * GIB)


def requested_memory_bytes(gpu: GpuModel, gpu_memory_utilization: float) -> int:
    """vllm/v1/worker/utils.py request_memory: ceil(total_memory x gpu_memory_utilization)."""
    return math.ceil(cuda_memory_bytes(gpu) * gpu_memory_utilization)


# --- weights ----------------------------------------------------------------------------


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


def attention_params_per_layer(arch: Architecture) -> int:
    """q, k, v and o projections of one layer (with Qwen2's q/k/v biases)."""
    q_width = arch.num_attention_heads * arch.head_dim
    kv_width = arch.num_kv_heads * arch.head_dim
    params = 2 * arch.hidden_size * q_width + 2 * arch.hidden_size * kv_width
    return params + (q_width + 2 * kv_width if arch.attention_bias else 0)


def unquantized_linear_params(arch: Architecture) -> int:
    """Projection parameters a quantized checkpoint keeps 16-bit (its ignore list)."""
    attention = arch.num_layers * attention_params_per_layer(arch) if arch.unquantized_attention else 0
    mlp = arch.unquantized_mlp_layers * 3 * arch.hidden_size * arch.intermediate_size * arch.num_experts
    return attention + mlp


def weight_bytes_total(arch: Architecture, dtype: str, quantization: str) -> int:
    """Bytes of all weights of the model as vLLM holds them on the GPUs (and, for a
    checkpoint stored in that format, about its size on disk).

    dtype: "auto", "bfloat16" or "float16"; all three are 16-bit (auto means the
    checkpoint's torch_dtype, 16-bit for every catalog model).
    quantization:
      - "none": every parameter at 16 bits.
      - "fp8": projection weights at 1 byte; embeddings, LM head and norms stay 16-bit,
        as vLLM's fp8 method leaves them unquantized, and so do the modules the
        architecture marks as kept 16-bit by the checkpoint (unquantized_attention,
        unquantized_mlp_layers). Per-tensor or per-channel scales (a few MB) are ignored.
      - "awq", "gptq": 4-bit projection weights with group size 128: per group 64 bytes
        of packed values, a 16-bit scale and a 4-bit zero point, i.e. 4.16 bits per
        weight. Embeddings, LM head, norms and the kept modules stay 16-bit.
    """
    check_choice("dtype", dtype, SIXTEEN_BIT_DTYPES)
    check_choice("quantization", quantization, QUANTIZATIONS)
    unquantized = embedding_params(arch) + norm_params(arch)
    if quantization == "none":
        return 2 * (unquantized + linear_params(arch))
    kept = unquantized_linear_params(arch)
    quantized = linear_params(arch) - kept
    unquantized_bytes = 2 * (unquantized + kept)
    if quantization == "fp8":
        return unquantized_bytes + quantized
    return unquantized_bytes + math.ceil(quantized * INT4_BYTES_PER_GROUP / INT4_GROUP_SIZE)


def weight_bytes_per_gpu(arch: Architecture, dtype: str, quantization: str, tensor_parallel_size: int) -> int:
    """Weight bytes on each GPU of a tensor-parallel group.

    vLLM shards every projection, the embedding and the LM head (by vocabulary) across
    the ranks, so each holds 1/TP of the total. Ignored: norms replicated on every rank
    and, when TP exceeds the KV heads, the replicated K/V projection slices (both well
    under 1 % of a rank's weights).
    """
    check_tp(tensor_parallel_size)
    return ceil_div(weight_bytes_total(arch, dtype, quantization), tensor_parallel_size)


# --- KV cache ---------------------------------------------------------------------------


def kv_heads_per_gpu(arch: Architecture, tensor_parallel_size: int) -> int:
    """KV heads each rank stores: an even split, or one replicated head per rank when
    there are fewer KV heads than ranks (vLLM's rule for grouped-query attention)."""
    check_tp(tensor_parallel_size)
    return max(1, arch.num_kv_heads // tensor_parallel_size)


def kv_bytes_per_token_per_gpu(
    arch: Architecture, kv_cache_dtype: str, tensor_parallel_size: int, dtype: str = "auto"
) -> int:
    """KV-cache bytes one token occupies on each GPU: K and V, for every layer, for the
    rank's KV heads. kv_cache_dtype "auto" stores the model's 16-bit dtype, "fp8" one byte.
    Checked exactly against vLLM on the CPU: tests/test_capacity_cpu_engine.py."""
    check_choice("dtype", dtype, SIXTEEN_BIT_DTYPES)
    check_choice("kv_cache_dtype", kv_cache_dtype, KV_CACHE_DTYPES)
    value_bytes = 1 if kv_cache_dtype == "fp8" else 2
    return 2 * arch.num_layers * kv_heads_per_gpu(arch, tensor_parallel_size) * arch.head_dim * value_bytes


def kv_cache_tokens(usable_kv_bytes: int, kv_bytes_per_token: int, block_size: int = KV_BLOCK_SIZE_TOKENS) -> int:
    """Tokens the KV cache holds, rounded down to whole vLLM blocks (vllm/v1/core/
    kv_cache_utils.py get_kv_cache_config_from_groups: num_blocks = memory // bytes per block)."""
    block_bytes = kv_bytes_per_token * block_size
    return max(0, usable_kv_bytes) // block_bytes * block_size


# --- runtime: non-torch memory, profiled transient, CUDA graphs ---------------------------


def non_torch_bytes(tensor_parallel_size: int) -> int:
    """Non-torch memory per GPU vLLM counts against the budget (see the constants)."""
    check_tp(tensor_parallel_size)
    return NON_TORCH_BYTES_SINGLE_GPU if tensor_parallel_size == 1 else NON_TORCH_BYTES_TENSOR_PARALLEL


def _mlp_width(arch: Architecture) -> int:
    """Intermediate width a token passes through; 4 x hidden when the catalog entry lacks it."""
    width = arch.intermediate_size or 4 * arch.hidden_size
    return width * arch.num_experts_per_tok


def activation_peak_bytes(arch: Architecture, tensor_parallel_size: int, num_tokens: int) -> int:
    """Peak transient memory of one forward pass over num_tokens tokens (see the constants)."""
    per_token_values = 3 * arch.hidden_size + ceil_div(3 * _mlp_width(arch), tensor_parallel_size)
    return num_tokens * per_token_values * ACTIVATION_BYTES_PER_VALUE


def sampler_peak_bytes(
    arch: Architecture,
    max_num_seqs: int,
    max_num_batched_tokens: int,
    bytes_per_logit: int = SAMPLER_BYTES_PER_LOGIT,
) -> int:
    """The sampler warm-up over max_num_seqs sequences, while the forward pass's hidden
    states (max_num_batched_tokens x hidden, 16-bit) are still held by profile_run."""
    sequences = min(max_num_seqs, max_num_batched_tokens)
    hidden_states = max_num_batched_tokens * arch.hidden_size * ACTIVATION_BYTES_PER_VALUE
    return sequences * arch.vocab_size * bytes_per_logit + hidden_states


def transient_peak_bytes(
    arch: Architecture, tensor_parallel_size: int, max_num_batched_tokens: int, max_num_seqs: int
) -> int:
    """vLLM's transient_peak_headroom: the larger of the forward pass and the sampler."""
    return max(
        activation_peak_bytes(arch, tensor_parallel_size, max_num_batched_tokens),
        sampler_peak_bytes(arch, max_num_seqs, max_num_batched_tokens),
    )


def cuda_graph_capture_sizes(max_num_seqs: int, max_num_batched_tokens: int) -> tuple[list[int], list[int]]:
    """(PIECEWISE sizes, FULL decode sizes) vLLM 0.32 captures by default (vllm/config/vllm.py)."""
    largest = min(2 * max_num_seqs, CUDA_GRAPH_MAX_CAPTURE_TOKENS, max_num_batched_tokens)
    grid = [1, 2, 4, *range(8, 256, 8), *range(256, CUDA_GRAPH_MAX_CAPTURE_TOKENS + 1, 16)]
    piecewise = [size for size in grid if size <= largest]
    full = [size for size in piecewise if size <= max_num_seqs]
    return piecewise, full


def cuda_graph_bytes(
    arch: Architecture, tensor_parallel_size: int, max_num_seqs: int, max_num_batched_tokens: int
) -> int:
    """profile_cudagraph_memory's estimate: per mode, the largest capture's activations plus
    CUDA_GRAPH_BYTES_PER_GRAPH for each further graph."""
    total = 0
    for sizes in cuda_graph_capture_sizes(max_num_seqs, max_num_batched_tokens):
        if sizes:
            total += activation_peak_bytes(arch, tensor_parallel_size, max(sizes))
            total += (len(sizes) - 1) * CUDA_GRAPH_BYTES_PER_GRAPH
    return total


def runtime_reserve_bytes(
    arch: Architecture,
    tensor_parallel_size: int,
    max_num_batched_tokens: int,
    max_num_seqs: int,
    *,
    cuda_graphs: bool = True,
) -> int:
    """Memory per GPU that is neither weights nor KV cache: non-torch memory, the profiled
    transient and (unless --enforce-eager) the CUDA-graph estimate."""
    graphs = cuda_graph_bytes(arch, tensor_parallel_size, max_num_seqs, max_num_batched_tokens) if cuda_graphs else 0
    return (
        non_torch_bytes(tensor_parallel_size)
        + transient_peak_bytes(arch, tensor_parallel_size, max_num_batched_tokens, max_num_seqs)
        + graphs
    )


def usable_kv_bytes_per_gpu(
    arch: Architecture,
    gpu: GpuModel,
    tensor_parallel_size: int,
    dtype: str,
    quantization: str,
    max_num_batched_tokens: int,
    max_num_seqs: int,
    gpu_memory_utilization: float,
    *,
    cuda_graphs: bool = True,
) -> int:
    """requested memory - weights per GPU - runtime reserve, as vLLM sizes its KV cache.
    Negative when the weights and reserve alone do not fit."""
    weights = weight_bytes_per_gpu(arch, dtype, quantization, tensor_parallel_size)
    reserve = runtime_reserve_bytes(
        arch, tensor_parallel_size, max_num_batched_tokens, max_num_seqs, cuda_graphs=cuda_graphs
    )
    return requested_memory_bytes(gpu, gpu_memory_utilization) - weights - reserve


# --- vLLM's own scheduler defaults --------------------------------------------------------


def vllm_default_batch_limits(gpu: GpuModel, api_server: bool = True) -> tuple[int, int]:
    """(max_num_batched_tokens, max_num_seqs) vLLM 0.32 picks when the flags are not given
    (vllm/engine/arg_utils.py EngineArgs.get_batch_defaults, by device memory and name, for
    `vllm serve` (OPENAI_API_SERVER) or the LLM class). The platform always passes both
    flags; the defaults matter for reading public logs of servers started without them."""
    memory = cuda_memory_bytes(gpu)
    if memory >= 160 * GIB:
        return 16384, 1024
    if memory >= 70 * GIB and "a100" not in gpu.name.lower():
        return (8192 if api_server else 16384), 1024
    return (2048 if api_server else 8192), 256
