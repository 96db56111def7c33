"""The KV-cache physics of components/capacity checked on the real engine: vLLM 0.32 on
the CPU, given a known KV memory (VLLM_CPU_KVCACHE_SPACE GiB), must report exactly the
number of KV tokens our bytes-per-token arithmetic predicts, for several architectures
(layer counts, GQA ratios, head dims) and for an fp8 KV cache.

What the CPU run checks is the part of the model that is pure arithmetic: bytes per token
(2 x layers x KV heads x head dim x value bytes) and whole-block rounding. The GPU-only
terms (CUDA-visible memory, profiled activations, CUDA graphs) are checked against public
start-up logs in tests/test_capacity_calibration.py and by benchmarks/capacity_vs_vllm.py.

On the CPU, vLLM (vllm/platforms/cpu.py, check_and_update_config) turns
VLLM_CPU_KVCACHE_SPACE into cache_config.kv_cache_memory_bytes (GiB x 2^30) and defaults
the block size to 128 tokens; vllm/v1/core/kv_cache_utils.py get_kv_cache_config_from_groups
takes num_blocks = memory // bytes per block and logs "<device> KV cache size: N tokens"
(update_kv_cache_capacity: max concurrency x max_model_len, which is num_blocks x block
size when max_model_len is a whole number of blocks, as here).
"""

from __future__ import annotations

import re

import pytest

from components.capacity import GIB, kv_bytes_per_token_per_gpu, kv_cache_tokens
from components.catalog import Architecture
from components.vllm_args import DTYPE, HOST, KV_CACHE_DTYPE, MAX_MODEL_LEN, MAX_NUM_SEQS, PORT
from tests import vllm_server
from tests.tiny_model import ARCHITECTURE, VOCAB_SIZE, tiny_model

pytestmark = pytest.mark.serving

CPU_BLOCK_SIZE_TOKENS = 128  # vllm/platforms/cpu.py: block_size = 128 unless the user sets one
KV_CACHE_GIB = 1  # the harness's VLLM_CPU_KVCACHE_SPACE
MAX_MODEL_LEN_TOKENS = 4 * CPU_BLOCK_SIZE_TOKENS  # a whole number of blocks: the logged count is exact
KV_TOKENS_LOGGED = re.compile(r"(?:GPU|CPU) KV cache size: ([\d,]+) tokens")

# name -> (shape overrides of tests/tiny_model.ARCHITECTURE, kvCacheDtype)
SHAPES = {
    "2 layers, GQA 2:1, head dim 64, bf16 KV": ({}, "auto"),
    "3 layers, GQA 4:1, head dim 80, bf16 KV": (
        {"hidden_size": 320, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 80,
         "num_hidden_layers": 3},
        "auto",
    ),
    "5 layers, no GQA, head dim 128, fp8 KV": (
        {"hidden_size": 256, "num_attention_heads": 2, "num_key_value_heads": 2, "head_dim": 128,
         "num_hidden_layers": 5},
        "fp8",
    ),
}  # fmt: skip


def _architecture(shape: dict[str, int]) -> Architecture:
    """The catalog form of a tiny model's config.json (only the KV-relevant numbers matter)."""
    config = {**ARCHITECTURE, **shape}
    heads = config["num_attention_heads"]
    return Architecture(
        num_layers=config["num_hidden_layers"],
        num_attention_heads=heads,
        num_kv_heads=config["num_key_value_heads"],
        head_dim=config.get("head_dim", config["hidden_size"] // heads),
        hidden_size=config["hidden_size"],
        vocab_size=VOCAB_SIZE,
        num_params=1,  # unused by the KV arithmetic
        max_context=config["max_position_embeddings"],
    )


def _logged_kv_tokens(log: str) -> int:
    found = KV_TOKENS_LOGGED.findall(log)
    assert found, "vLLM logged no KV cache size"
    return int(found[-1].replace(",", ""))


@pytest.mark.parametrize("name", list(SHAPES))
def test_vllm_reports_the_kv_tokens_our_arithmetic_predicts(name):
    shape, kv_cache_dtype = SHAPES[name]
    arch = _architecture(shape)
    per_token = kv_bytes_per_token_per_gpu(arch, kv_cache_dtype, 1)
    predicted = kv_cache_tokens(KV_CACHE_GIB * GIB, per_token, CPU_BLOCK_SIZE_TOKENS)
    port = vllm_server.free_port()
    arguments = [
        str(tiny_model(shape)),
        DTYPE.name, "bfloat16",
        KV_CACHE_DTYPE.name, kv_cache_dtype,
        MAX_MODEL_LEN.name, str(MAX_MODEL_LEN_TOKENS),
        MAX_NUM_SEQS.name, "4",
        HOST.name, "127.0.0.1", PORT.name, str(port),
    ]  # fmt: skip
    log_name = "capacity-" + re.sub(r"[^a-z0-9]+", "-", name.lower())
    with vllm_server.serving(arguments, log_name=log_name, port=port, kv_cache_gib=KV_CACHE_GIB) as server:
        logged = _logged_kv_tokens(server.log_path.read_text())
    print(f"{name}: {per_token} B/token, predicted {predicted} tokens, vLLM logged {logged}")
    assert logged == predicted
