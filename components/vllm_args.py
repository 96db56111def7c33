"""The vLLM command line of a pool: the only place that knows vLLM flag names.

Pure Python (standard library only: the policy pack imports it). Flags are those of vLLM
v0.32.0 (`vllm serve --help`), each declared once below as a `Flag`; the argument builder,
the `extraArgs` clash check and the policy rules all read them from here. `extraArgs` from
the spec go last and may not restate a flag generated here (see `managed_flag_clash`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from components.spec import ModelSpec, PoolSpec

SERVE_COMMAND = ("vllm", "serve")
MODEL_DIR = "/mnt/models"  # where KServe's storage initializer mounts storageUri
HTTP_PORT = 8080


@dataclass(frozen=True)
class Flag:
    """One `vllm serve` setting: its flag, the other option strings vLLM's parser maps to
    the same setting (`vllm/engine/arg_utils.py`), and vLLM's own default where the platform
    relies on it, with the vLLM file that declares it. tests/test_vllm_flags.py checks all
    three against the installed vLLM."""

    name: str
    aliases: tuple[str, ...] = ()
    vllm_default: float | None = None
    default_source: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every spelling vLLM's parser reads as this setting (before `_`/`-` folding)."""
        return (self.name, *self.aliases)

    def default(self) -> float:
        """vLLM's own default, for a flag that declares one."""
        if self.vllm_default is None:
            raise ValueError(f"{self.name}: no vLLM default is declared")
        return self.vllm_default


MODEL = Flag("--model")
SERVED_MODEL_NAME = Flag("--served-model-name")
HOST = Flag("--host")
PORT = Flag("--port")
MAX_MODEL_LEN = Flag("--max-model-len")
MAX_NUM_SEQS = Flag("--max-num-seqs")
MAX_NUM_BATCHED_TOKENS = Flag("--max-num-batched-tokens")
GPU_MEMORY_UTILIZATION = Flag(
    "--gpu-memory-utilization",
    aliases=("--device-memory-utilization",),
    vllm_default=0.92,
    default_source="vllm/config/cache.py (CacheConfig.gpu_memory_utilization)",
)
TENSOR_PARALLEL_SIZE = Flag(
    "--tensor-parallel-size",
    aliases=("-tp",),
    vllm_default=1,
    default_source="vllm/config/parallel.py (ParallelConfig.tensor_parallel_size)",
)
DTYPE = Flag("--dtype")
QUANTIZATION = Flag("--quantization", aliases=("-q",))
KV_CACHE_DTYPE = Flag("--kv-cache-dtype")
GENERATION_CONFIG = Flag("--generation-config")
OVERRIDE_GENERATION_CONFIG = Flag("--override-generation-config")
DOWNLOAD_DIR = Flag("--download-dir")
REVISION = Flag("--revision")
API_KEY = Flag("--api-key")
CONFIG = Flag("--config")
# Boolean flags (argparse's BooleanOptionalAction: `--no-<flag>` turns each off again).
ENABLE_LOG_REQUESTS = Flag("--enable-log-requests")
ENABLE_LOG_OUTPUTS = Flag("--enable-log-outputs")
# A pool may pass it in extraArgs: vLLM then captures no CUDA graphs and the capacity
# model counts none (vllm/v1/worker/gpu_worker.py skips profile_cudagraph_memory when
# cudagraph_mode is NONE). argparse's BooleanOptionalAction also reads --no-enforce-eager.
ENFORCE_EAGER = Flag("--enforce-eager")

# Every flag this module may emit, plus the ones whose meaning it owns (the model and
# where it is served from). Users change these through spec fields, never extraArgs.
MANAGED = (
    MODEL,
    SERVED_MODEL_NAME,
    HOST,
    PORT,
    MAX_MODEL_LEN,
    MAX_NUM_SEQS,
    MAX_NUM_BATCHED_TOKENS,
    GPU_MEMORY_UTILIZATION,
    TENSOR_PARALLEL_SIZE,
    DTYPE,
    QUANTIZATION,
    KV_CACHE_DTYPE,
    GENERATION_CONFIG,
    OVERRIDE_GENERATION_CONFIG,
    DOWNLOAD_DIR,
    REVISION,
    API_KEY,
    CONFIG,
)
# The logging flags the policy keeps off (prompts may hold regulated data).
REQUEST_LOGGING = (ENABLE_LOG_REQUESTS, ENABLE_LOG_OUTPUTS)
# Every vLLM flag the platform knows: the table the rest of the code reads.
FLAGS = (*MANAGED, *REQUEST_LOGGING, ENFORCE_EAGER)
MANAGED_FLAGS = frozenset(flag.name for flag in MANAGED)

# vLLM reads extra arguments from a YAML file given with --config (FlexibleArgumentParser,
# vllm/utils/argparse_utils.py); a list value becomes one flag followed by every item.
API_KEY_CONFIG_KEY = "api-key"


def serve_args(pool: PoolSpec, model: ModelSpec, api_key_file: str | None = None) -> list[str]:
    """Arguments after `vllm serve`, in a stable order; `api_key_file` is a mounted file from
    `api_key_config`, so the keys never appear on the command line."""
    args = [
        MODEL_DIR,
        SERVED_MODEL_NAME.name, model.name,
        PORT.name, str(HTTP_PORT),
        MAX_MODEL_LEN.name, str(pool.max_model_len),
        MAX_NUM_SEQS.name, str(pool.max_num_seqs),
        MAX_NUM_BATCHED_TOKENS.name, str(pool.max_num_batched_tokens),
        GPU_MEMORY_UTILIZATION.name, str(pool.gpu_memory_utilization),
        TENSOR_PARALLEL_SIZE.name, str(pool.tensor_parallel_size),
    ]  # fmt: skip
    if model.dtype != "auto":
        args += [DTYPE.name, model.dtype]
    if model.quantize_on_load:
        args += [QUANTIZATION.name, "fp8"]
    if pool.kv_cache_dtype != "auto":
        args += [KV_CACHE_DTYPE.name, pool.kv_cache_dtype]
    # Merged over the checkpoint's generation_config.json (vLLM's default 'auto'), so the
    # model's recommended sampling stays and only the output limit is ours.
    args += [OVERRIDE_GENERATION_CONFIG.name, json.dumps({"max_new_tokens": pool.default_max_tokens})]
    if api_key_file is not None:
        args += [CONFIG.name, api_key_file]
    return args + list(pool.extra_args)


def api_key_config(keys: list[str]) -> str:
    """The --config file that makes vLLM require one of `keys` as `Authorization: Bearer <key>`
    on /v1 (its --api-key takes a list; the single-valued VLLM_API_KEY cannot hold per-client keys)."""
    return json.dumps({API_KEY_CONFIG_KEY: sorted(keys)}, indent=2) + "\n"


def runs_eager(extra_args: tuple[str, ...] | list[str]) -> bool:
    """Whether extraArgs turn CUDA graphs off (--enforce-eager; the last spelling wins)."""
    seen = [arg.replace("_", "-") for arg in extra_args]
    negated = "--no-" + ENFORCE_EAGER.name.removeprefix("--")
    states = [arg == ENFORCE_EAGER.name for arg in seen if arg in (ENFORCE_EAGER.name, negated)]
    return bool(states) and states[-1]


def managed_flag_clash(arg: str) -> str | None:
    """Why an extra argument may not be passed, or None when it may.

    vLLM treats `--max_model_len` as `--max-model-len`, and its parser may accept an
    unambiguous prefix such as `--max-model`, so both forms are caught, for every spelling
    the parser maps to a managed setting (`Flag.aliases`: `-tp`, `-q`,
    `--device-memory-utilization`). argparse also reads a one-letter option glued to its
    value (`-qfp8` is `-q fp8`), so those match as a prefix too.
    """
    if not arg.startswith("-"):
        return None
    word = arg.split("=", 1)[0].replace("_", "-")
    for managed in sorted(MANAGED, key=lambda flag: flag.name):
        if any(_restates(word, spelling) for spelling in managed.names):
            return f"'{arg}' restates {managed.name}, which the platform sets from the pool spec; use the spec field"
    return None


def _restates(word: str, spelling: str) -> bool:
    if word == spelling:
        return True
    if spelling.startswith("--"):
        return word.startswith("--") and len(word) > 3 and spelling.startswith(word)
    return len(spelling) == 2 and word.startswith(spelling)  # `-q` with its value glued on
