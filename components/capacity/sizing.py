"""One pool replica's settings and the figures the memory model gives for them (no verdict:
components.capacity judges them, components.capacity.remedy proposes the way out)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from components.capacity.memory import (
    cuda_graph_bytes,
    cuda_memory_bytes,
    kv_bytes_per_token_per_gpu,
    kv_cache_tokens,
    non_torch_bytes,
    requested_memory_bytes,
    rounded_gib,
    transient_peak_bytes,
    weight_bytes_per_gpu,
    weight_bytes_total,
)
from components.catalog import Architecture, GpuModel


@dataclass(frozen=True)
class PoolSettings:
    """Everything the capacity model reads about one pool replica."""

    arch: Architecture
    gpu: GpuModel
    tensor_parallel_size: int
    dtype: str
    quantization: str
    kv_cache_dtype: str
    max_model_len: int
    max_num_seqs: int
    max_num_batched_tokens: int
    gpu_memory_utilization: float
    min_concurrent_at_cap: int = 1
    # False with --enforce-eager: vLLM then captures no CUDA graphs and counts none.
    cuda_graphs: bool = True
    # KV-cache tokens vLLM logged for this pool ("GPU KV cache size: N tokens"): taken as
    # is for models the memory model does not size (MoE, multimodal).
    measured_kv_cache_tokens: int | None = None
    # The workload class's policy cap on maxModelLen (chat-context-cap), for remedies.
    context_cap: int | None = None

    def but(self, **changes: object) -> PoolSettings:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def not_modelled(self) -> str | None:
        """Why the memory model cannot size this model's KV cache, if it cannot."""
        if self.arch.num_experts > 1:
            return (
                "MoE expert kernels allocate workspaces during vLLM's profiling run that scale with experts, "
                "TP/EP layout and kernel choice (e.g. a 5.62 GiB torch peak and 2.04 GiB non-torch memory for "
                "Qwen3-235B-A22B-FP8 at TP 4, github.com/vllm-project/vllm/pull/21429)"
            )
        if self.arch.multimodal:
            return (
                "vLLM profiles the vision/audio encoder with a full batch of maximum-size items before sizing "
                "the KV cache, which depends on the processor and the encoder, not on config.json numbers"
            )
        return None


@dataclass(frozen=True)
class PoolCapacity:
    """The capacity figures and fit verdict of one serving pool on one GPU model."""

    gpu: str
    tensor_parallel_size: int
    max_model_len: int
    gpu_memory_bytes: int  # CUDA-visible total per GPU (GpuModel.cuda_memory_gib)
    gpu_memory_utilization: float
    requested_memory_bytes: int
    weights_total_bytes: int
    weights_per_gpu_bytes: int
    non_torch_bytes: int
    transient_peak_bytes: int
    cuda_graph_bytes: int
    reserve_per_gpu_bytes: int
    usable_kv_bytes_per_gpu: int
    kv_bytes_per_token_per_gpu: int
    kv_cache_tokens: int
    concurrent_sequences_at_cap: int
    decode_ceiling_tokens_per_s: float
    kv_cache_measured: bool = False
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
            "requestedMemoryBytes": self.requested_memory_bytes,
            "weightsTotalBytes": self.weights_total_bytes,
            "weightsPerGpuBytes": self.weights_per_gpu_bytes,
            "weightsPerGpuGiB": rounded_gib(self.weights_per_gpu_bytes),
            "nonTorchBytes": self.non_torch_bytes,
            "transientPeakBytes": self.transient_peak_bytes,
            "cudaGraphBytes": self.cuda_graph_bytes,
            "reservePerGpuBytes": self.reserve_per_gpu_bytes,
            "usableKvBytesPerGpu": self.usable_kv_bytes_per_gpu,
            "usableKvGiBPerGpu": rounded_gib(self.usable_kv_bytes_per_gpu),
            "kvBytesPerTokenPerGpu": self.kv_bytes_per_token_per_gpu,
            "kvCacheTokens": self.kv_cache_tokens,
            "kvCacheMeasured": self.kv_cache_measured,
            "concurrentSequencesAtCap": self.concurrent_sequences_at_cap,
            "decodeCeilingTokensPerSecond": round(self.decode_ceiling_tokens_per_s, 1),
            "fits": self.fits,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }


def size(settings: PoolSettings) -> PoolCapacity:
    """The figures of one replica, without a verdict."""
    s = settings
    weights = weight_bytes_per_gpu(s.arch, s.dtype, s.quantization, s.tensor_parallel_size)
    per_token = kv_bytes_per_token_per_gpu(s.arch, s.kv_cache_dtype, s.tensor_parallel_size, s.dtype)
    requested = requested_memory_bytes(s.gpu, s.gpu_memory_utilization)
    non_torch = non_torch_bytes(s.tensor_parallel_size)
    transient = transient_peak_bytes(s.arch, s.tensor_parallel_size, s.max_num_batched_tokens, s.max_num_seqs)
    graphs = (
        cuda_graph_bytes(s.arch, s.tensor_parallel_size, s.max_num_seqs, s.max_num_batched_tokens)
        if s.cuda_graphs
        else 0
    )
    if s.measured_kv_cache_tokens is not None:
        tokens = s.measured_kv_cache_tokens
        usable = tokens * per_token
        reserve = requested - weights - usable  # what the measurement implies
    else:
        reserve = non_torch + transient + graphs
        usable = requested - weights - reserve
        tokens = kv_cache_tokens(usable, per_token)
    return PoolCapacity(
        gpu=s.gpu.name,
        tensor_parallel_size=s.tensor_parallel_size,
        max_model_len=s.max_model_len,
        gpu_memory_bytes=cuda_memory_bytes(s.gpu),
        gpu_memory_utilization=s.gpu_memory_utilization,
        requested_memory_bytes=requested,
        weights_total_bytes=weight_bytes_total(s.arch, s.dtype, s.quantization),
        weights_per_gpu_bytes=weights,
        non_torch_bytes=non_torch,
        transient_peak_bytes=transient,
        cuda_graph_bytes=graphs,
        reserve_per_gpu_bytes=reserve,
        usable_kv_bytes_per_gpu=usable,
        kv_bytes_per_token_per_gpu=per_token,
        kv_cache_tokens=tokens,
        concurrent_sequences_at_cap=tokens // s.max_model_len,
        decode_ceiling_tokens_per_s=decode_ceiling_tokens_per_s(s.arch, s.gpu, weights),
        kv_cache_measured=s.measured_kv_cache_tokens is not None,
    )


def serves(settings: PoolSettings, capacity: PoolCapacity) -> bool:
    """The memory verdict alone: vLLM starts and holds min_concurrent_at_cap sequences."""
    if capacity.usable_kv_bytes_per_gpu <= 0 or capacity.kv_cache_tokens < settings.max_model_len:
        return False
    return capacity.concurrent_sequences_at_cap >= settings.min_concurrent_at_cap


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
