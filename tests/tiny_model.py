"""Tiny Llama-architecture models built offline, for starting a real vLLM on the CPU.

Random weights (a few layers; grouped-query attention with fewer KV heads than heads; head
dim 64 by default) saved with safetensors, and a byte-level BPE tokenizer trained here with
the `tokenizers` library on the README, with a chat template. Nothing is downloaded. Built
once per architecture into build/tiny-model/<digest of the recipe>/ and reused.

`tiny_model(shape)` builds other shapes (layer count, GQA ratio, head dim) from the same
recipe: `shape` overrides keys of ARCHITECTURE. vLLM 0.32's CPU attention supports head
sizes 32, 64, 80, 96, 112, 128, 160, 192, 224, 256 and 512
(vllm/v1/attention/backends/cpu_attn.py, CPUAttentionBackend.get_supported_head_sizes).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from tests.conftest import REPO_ROOT

CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant: {% endif %}"
)
ARCHITECTURE = {
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    # Above every shipped pool's maxModelLen: vLLM refuses a cap beyond the model's context.
    "max_position_embeddings": 131072,
}
VOCAB_SIZE = 512
TRAINING_TEXT = REPO_ROOT / "README.md"


def tiny_model(shape: Mapping[str, int] | None = None) -> Path:
    """The model directory, built on first use; `shape` overrides ARCHITECTURE's keys
    (e.g. num_hidden_layers, num_key_value_heads, head_dim)."""
    architecture = {**ARCHITECTURE, **(shape or {})}
    # The default shape keeps its original recipe (and so its build directory).
    parts: list[object] = [architecture, VOCAB_SIZE, CHAT_TEMPLATE, TRAINING_TEXT.read_text()]
    recipe = json.dumps(parts, sort_keys=True)
    out = REPO_ROOT / "build" / "tiny-model" / hashlib.sha256(recipe.encode()).hexdigest()[:16]
    if not (out / "model.safetensors").is_file():
        _build(out, architecture)
    return out


def _build(out: Path, architecture: Mapping[str, int]) -> None:
    # Imported here: only the serving tier has them (the vLLM tier brings transformers, torch).
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(TRAINING_TEXT.read_text().splitlines(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.chat_template = CHAT_TEMPLATE
    partial = out.with_name(out.name + ".partial")
    fast.save_pretrained(partial)
    config = LlamaConfig(vocab_size=len(fast), bos_token_id=1, eos_token_id=2, **architecture)
    torch.manual_seed(0)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(partial, safe_serialization=True)
    partial.rename(out)  # whole or not at all: a build cut short is rebuilt next time
