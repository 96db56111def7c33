"""The catalog is self-consistent, sourced, and covers what the platform needs."""

import pytest
from pydantic import ValidationError

from components.catalog import ARCHITECTURES, GPUS, INSTANCE_TYPES, Architecture

pytestmark = pytest.mark.unit

REQUIRED_GPUS = {"a10g", "l4", "l40s", "a100-40gb", "a100-80gb", "h100-80gb", "h200-141gb"}
REQUIRED_ARCHITECTURES = {
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.3-70b",
    "qwen2.5-7b",
    "qwen2.5-14b",
    "qwen2.5-32b",
    "qwen2.5-72b",
    "mistral-7b-v0.3",
    "mixtral-8x7b",
}
SIZES = ("xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge")
REQUIRED_INSTANCE_TYPES = {
    *(f"{family}.{size}" for family in ("g5", "g6", "g6e") for size in SIZES),
    "p4d.24xlarge",
    "p4de.24xlarge",
    "p5.4xlarge",
    "p5.48xlarge",
    "p5e.48xlarge",
    "p5en.48xlarge",
}


def test_required_entries_exist():
    assert REQUIRED_GPUS <= set(GPUS)
    assert REQUIRED_ARCHITECTURES <= set(ARCHITECTURES)
    assert REQUIRED_INSTANCE_TYPES <= set(INSTANCE_TYPES)


def test_every_instance_type_names_a_catalog_gpu():
    unknown = {name: it.gpu for name, it in INSTANCE_TYPES.items() if it.gpu not in GPUS}
    assert unknown == {}


@pytest.mark.parametrize(
    "family, gpu",
    [
        ("g5.", "a10g"),
        ("g6.", "l4"),
        ("g6e.", "l40s"),
        ("p4d.", "a100-40gb"),
        ("p4de.", "a100-80gb"),
        ("p5.", "h100-80gb"),
        ("p5e.", "h200-141gb"),
        ("p5en.", "h200-141gb"),
    ],
)
def test_each_family_has_one_gpu_model(family, gpu):
    members = {name: it.gpu for name, it in INSTANCE_TYPES.items() if name.startswith(family)}
    assert members and set(members.values()) == {gpu}


def test_multi_gpu_sizes_of_the_g_families():
    for family in ("g5", "g6", "g6e"):
        sizes = ("12xlarge", "24xlarge", "48xlarge")
        counts = {size: INSTANCE_TYPES[f"{family}.{size}"].gpu_count for size in sizes}
        assert counts == {"12xlarge": 4, "24xlarge": 4, "48xlarge": 8}


def test_every_fact_names_its_source():
    facts = [*GPUS.values(), *INSTANCE_TYPES.values(), *ARCHITECTURES.values()]
    assert all(fact.source.strip() and fact.source != "inline" for fact in facts)


def test_fp8_hardware_is_ada_or_hopper():
    assert {key for key, gpu in GPUS.items() if gpu.fp8} == {"l4", "l40s", "h100-80gb", "h200-141gb"}


def test_gpu_memory_is_the_driver_figure_not_the_nominal_size():
    # The driver reports the nominal GiB (A100) or up to ~7 % less (ECC / reserved memory on
    # GDDR cards, 141 of 144 GiB on H200); never more, and never the decimal-GB figure.
    nominal_gib = {
        "a10g": 24,
        "l4": 24,
        "l40s": 48,
        "a100-40gb": 40,
        "a100-80gb": 80,
        "h100-80gb": 80,
        "h200-141gb": 144,
    }
    for key, gib in nominal_gib.items():
        assert 0.93 < GPUS[key].memory_mib / (gib * 1024) <= 1.0, key


@pytest.mark.parametrize("key", sorted(GPUS))
def test_cuda_sees_a_little_less_than_nvidia_smi(key):
    # vLLM budgets CUDA's total (torch.cuda.mem_get_info), 0.2-0.8 GiB below nvidia-smi's.
    gpu = GPUS[key]
    assert 0.2 <= gpu.memory_mib / 1024 - gpu.cuda_memory_gib <= 0.8, key


@pytest.mark.parametrize("key", sorted(ARCHITECTURES))
def test_head_dim_times_heads_is_hidden_size(key):
    # Holds for every catalog model (none sets a head_dim that differs from hidden / heads).
    arch = ARCHITECTURES[key]
    assert arch.head_dim * arch.num_attention_heads == arch.hidden_size


@pytest.mark.parametrize("key", sorted(ARCHITECTURES))
def test_kv_heads_group_the_query_heads(key):
    arch = ARCHITECTURES[key]
    assert arch.num_kv_heads < arch.num_attention_heads
    assert arch.num_attention_heads % arch.num_kv_heads == 0


def _params_from_shape(arch: Architecture) -> int:
    """Parameter count implied by config.json: embeddings, LM head, attention, MLP or experts, norms."""
    q_width = arch.num_attention_heads * arch.head_dim
    kv_width = arch.num_kv_heads * arch.head_dim
    attention = 2 * arch.hidden_size * q_width + 2 * arch.hidden_size * kv_width
    if arch.attention_bias:
        attention += q_width + 2 * kv_width
    mlp = arch.num_experts * 3 * arch.hidden_size * arch.intermediate_size
    if arch.num_experts > 1:
        mlp += arch.hidden_size * arch.num_experts  # router
    layer = attention + mlp + 2 * arch.hidden_size
    embeddings = (1 if arch.tie_word_embeddings else 2) * arch.vocab_size * arch.hidden_size
    return arch.num_layers * layer + embeddings + arch.hidden_size


@pytest.mark.parametrize("key", sorted(ARCHITECTURES))
def test_param_count_matches_the_shape(key):
    # The safetensors totals recorded in the catalog must equal what the shapes imply:
    # a typo in any of layers, hidden, intermediate, heads or vocab breaks this.
    arch = ARCHITECTURES[key]
    assert _params_from_shape(arch) == arch.num_params


def test_well_known_parameter_counts():
    assert ARCHITECTURES["llama-3.1-8b"].num_params == 8_030_261_248
    assert ARCHITECTURES["llama-3.1-70b"].num_params == 70_553_706_496
    assert ARCHITECTURES["qwen2.5-72b"].num_params == 72_706_203_648
    assert ARCHITECTURES["mixtral-8x7b"].num_params == 46_702_792_704


def test_context_lengths():
    assert {key: arch.max_context for key, arch in ARCHITECTURES.items()} == {
        "llama-3.1-8b": 131072,
        "llama-3.1-70b": 131072,
        "llama-3.3-70b": 131072,
        "qwen2.5-7b": 32768,
        "qwen2.5-14b": 32768,
        "qwen2.5-32b": 32768,
        "qwen2.5-72b": 32768,
        "mistral-7b-v0.3": 32768,
        "mixtral-8x7b": 32768,
    }


def test_inline_architecture_with_uneven_kv_groups_is_rejected():
    with pytest.raises(ValidationError, match="must divide"):
        Architecture(
            num_layers=2,
            num_attention_heads=32,
            num_kv_heads=6,
            head_dim=128,
            hidden_size=4096,
            vocab_size=1000,
            num_params=1_000_000,
            max_context=4096,
        )


def test_inline_architecture_accepts_camel_case_and_defaults():
    arch = Architecture.model_validate(
        {
            "numLayers": 2,
            "numAttentionHeads": 8,
            "numKvHeads": 2,
            "headDim": 64,
            "hiddenSize": 512,
            "vocabSize": 1000,
            "numParams": 1_000_000,
            "maxContext": 4096,
        }
    )
    assert (arch.intermediate_size, arch.num_experts, arch.source) == (0, 1, "inline")
