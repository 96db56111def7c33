"""The vLLM command line of a pool: the only place that knows vLLM flag names.

Pure Python. Flags are those of vLLM v0.32.0 (`vllm serve --help`); `extraArgs` from the
spec go last and may not restate a flag generated here (see `managed_flag_clash`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from components.spec import ModelSpec, PoolSpec

SERVE_COMMAND = ("vllm", "serve")
MODEL_DIR = "/mnt/models"  # where KServe's storage initializer mounts storageUri
HTTP_PORT = 8080

# Every flag this module may emit, plus the ones whose meaning it owns (the model and
# where it is served from). Users change these through spec fields, never extraArgs.
MANAGED_FLAGS = frozenset(
    {
        "--model",
        "--served-model-name",
        "--host",
        "--port",
        "--max-model-len",
        "--max-num-seqs",
        "--max-num-batched-tokens",
        "--gpu-memory-utilization",
        "--tensor-parallel-size",
        "--dtype",
        "--quantization",
        "--kv-cache-dtype",
        "--generation-config",
        "--override-generation-config",
        "--download-dir",
        "--revision",
        "--api-key",
        "--config",
    }
)

# vLLM reads extra arguments from a YAML file given with --config (FlexibleArgumentParser,
# vllm/utils/argparse_utils.py); a list value becomes one flag followed by every item.
API_KEY_CONFIG_KEY = "api-key"


def serve_args(pool: PoolSpec, model: ModelSpec, api_key_file: str | None = None) -> list[str]:
    """Arguments after `vllm serve`, in a stable order; `api_key_file` is a mounted file from
    `api_key_config`, so the keys never appear on the command line."""
    args = [
        MODEL_DIR,
        "--served-model-name", model.name,
        "--port", str(HTTP_PORT),
        "--max-model-len", str(pool.max_model_len),
        "--max-num-seqs", str(pool.max_num_seqs),
        "--max-num-batched-tokens", str(pool.max_num_batched_tokens),
        "--gpu-memory-utilization", str(pool.gpu_memory_utilization),
        "--tensor-parallel-size", str(pool.tensor_parallel_size),
    ]  # fmt: skip
    if model.dtype != "auto":
        args += ["--dtype", model.dtype]
    if model.quantize_on_load:
        args += ["--quantization", "fp8"]
    if pool.kv_cache_dtype != "auto":
        args += ["--kv-cache-dtype", pool.kv_cache_dtype]
    # Merged over the checkpoint's generation_config.json (vLLM's default 'auto'), so the
    # model's recommended sampling stays and only the output limit is ours.
    args += ["--override-generation-config", json.dumps({"max_new_tokens": pool.default_max_tokens})]
    if api_key_file is not None:
        args += ["--config", api_key_file]
    return args + list(pool.extra_args)


def api_key_config(keys: list[str]) -> str:
    """The --config file that makes vLLM require one of `keys` as `Authorization: Bearer <key>`
    on /v1 (its --api-key takes a list; the single-valued VLLM_API_KEY cannot hold per-client keys)."""
    return json.dumps({API_KEY_CONFIG_KEY: sorted(keys)}, indent=2) + "\n"


def managed_flag_clash(arg: str) -> str | None:
    """Why an extra argument may not be passed, or None when it may.

    vLLM treats `--max_model_len` as `--max-model-len`, and its parser may accept an
    unambiguous prefix such as `--max-model`, so both forms are caught.
    """
    if not arg.startswith("--"):
        return None
    flag = arg.split("=", 1)[0].replace("_", "-")
    for managed in sorted(MANAGED_FLAGS):
        if flag == managed or (len(flag) > 3 and managed.startswith(flag)):
            return f"'{arg}' restates {managed}, which the platform sets from the pool spec; use the spec field"
    return None
