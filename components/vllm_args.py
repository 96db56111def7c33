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
# vLLM 0.32's default, 0, aborts every request in flight when the server gets SIGTERM (a
# rollout, a scale-down, a node drain); above 0 the engine stops taking requests and lets
# those it runs finish for up to that many seconds (vllm/engine/arg_utils.py --shutdown-timeout;
# vllm/v1/engine/core.py EngineCore._handle_shutdown: "abort" at 0, else "drain").
SHUTDOWN_TIMEOUT = Flag("--shutdown-timeout")
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
    SHUTDOWN_TIMEOUT,
)
# The logging flags the policy keeps off (prompts may hold regulated data).
REQUEST_LOGGING = (ENABLE_LOG_REQUESTS, ENABLE_LOG_OUTPUTS)
# Every vLLM flag the platform knows: the table the rest of the code reads.
FLAGS = (*MANAGED, *REQUEST_LOGGING, ENFORCE_EAGER)
MANAGED_FLAGS = frozenset(flag.name for flag in MANAGED)


# --- flags that change what the server trusts -----------------------------------------


@dataclass(frozen=True)
class TrustFlag:
    """A `vllm serve` flag that changes what the server trusts, runs or publishes: an
    `extraArgs` entry that sets it needs the pool's explicit opt-in (`trustedArgs`, with a
    reason), so a reviewer sees it named in the stack file. `safe_values` are values that
    keep the default posture (`--load-format safetensors`)."""

    flag: Flag
    risk: str
    safe_values: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.flag.name

    @property
    def dest(self) -> str:
        """The attribute vLLM's parser stores it in (argparse: the long name, `-` as `_`)."""
        return self.flag.name.removeprefix("--").replace("-", "_")


def _trust(name: str, risk: str, *, aliases: tuple[str, ...] = (), safe: tuple[str, ...] = ()) -> TrustFlag:
    return TrustFlag(Flag(name, aliases=aliases), risk, safe)


_CODE = "imports and runs Python code named by the value inside the server"
_UNPINNED = "loads files from outside the pinned model revision (another repository, revision or path)"
_CLIENT_INPUT = "lets clients send data the server deserialises or templates itself"
_PEERS = "connects the engine to other hosts, which then exchange model state with it"
_DATA_OUT = "writes request data (prompts, outputs) to logs or to another service"
_TRANSPORT = "changes who the API server trusts at the transport (TLS, CORS, socket)"

# Every `vllm serve` flag of v0.32.0 that changes trust or integrity, classified from the
# parser itself (vllm/engine/arg_utils.py, vllm/entrypoints/openai/cli_args.py);
# tests/test_vllm_trust_flags.py checks each against the installed parser (option strings
# and all), and that every other flag is in its reviewed list of ordinary ones, so a flag a
# new vLLM adds fails until someone classifies it.
TRUST_FLAGS = (
    _trust("--trust-remote-code", "runs the checkpoint's own Python modelling code (auto_map) in the server"),
    _trust("--middleware", f"{_CODE}: an ASGI middleware that sees every request and its API key"),
    _trust("--tool-parser-plugin", f"{_CODE} (a Python file)"),
    _trust("--reasoning-parser-plugin", f"{_CODE} (a Python file)"),
    _trust("--logits-processors", f"{_CODE} (qualified class names)"),
    _trust("--io-processor-plugin", f"{_CODE} (a plugin)"),
    _trust("--worker-cls", f"{_CODE} (the GPU worker class)"),
    _trust("--worker-extension-cls", f"{_CODE} (a class mixed into the worker)"),
    _trust("--scheduler-cls", f"{_CODE} (the scheduler class)"),
    _trust("--model-class-overrides", f"{_CODE} (model classes)"),
    _trust("--distributed-executor-backend", f"{_CODE} (an executor class), or starts Ray workers"),
    _trust("--hf-overrides", "rewrites the checkpoint's config.json (architecture, auto_map) before loading"),
    _trust(
        "--load-format",
        "loads weights in a format other than safetensors: pickle (pt), random weights "
        "(dummy), or from a remote store (tensorizer, runai_streamer)",
        safe=("auto", "safetensors"),
    ),  # fmt: skip
    _trust("--model-loader-extra-config", "passes settings to the weight loader (tensorizer URIs, keys)"),
    _trust("--tokenizer", _UNPINNED),
    _trust("--tokenizer-revision", _UNPINNED),
    _trust("--code-revision", _UNPINNED),
    _trust("--hf-config-path", _UNPINNED),
    _trust("--speculative-config", f"{_UNPINNED}: a draft model", aliases=("-sc",)),
    _trust("--spec-model", f"{_UNPINNED}: a draft model"),
    _trust("--lora-modules", f"{_UNPINNED}: LoRA adapters"),
    _trust("--enable-lora", "serves LoRA adapters, weights outside the pinned revision"),
    _trust("--default-mm-loras", f"{_UNPINNED}: LoRA adapters"),
    _trust("--chat-template", "replaces the model's own chat template (what every prompt is wrapped in)"),
    _trust("--trust-request-chat-template", f"{_CLIENT_INPUT}: a chat template per request"),
    _trust("--trust-request-mm-kwargs", f"{_CLIENT_INPUT}: multimodal processor arguments"),
    _trust("--enable-prompt-embeds", f"{_CLIENT_INPUT}: tensors (torch.load of request data)"),
    _trust("--enable-mm-embeds", f"{_CLIENT_INPUT}: multimodal embedding tensors"),
    _trust("--allowed-local-media-path", "lets requests read files of the pod's filesystem (mounted secrets too)"),
    _trust("--tool-server", "calls tool servers (MCP) with request data"),
    _trust("--hf-token", "puts a hub token on the command line, readable in the pod spec"),
    _trust("--ssl-keyfile", _TRANSPORT),
    _trust("--ssl-certfile", _TRANSPORT),
    _trust("--ssl-ca-certs", _TRANSPORT),
    _trust("--ssl-cert-reqs", _TRANSPORT),
    _trust("--ssl-ciphers", _TRANSPORT),
    _trust("--allow-credentials", f"{_TRANSPORT}: credentialed cross-origin requests"),
    _trust("--allowed-origins", f"{_TRANSPORT}: cross-origin requests from the named origins"),
    _trust("--root-path", f"{_TRANSPORT}: the path prefix the API key check and routes live under"),
    _trust("--uds", f"{_TRANSPORT}: a Unix socket instead of the port the gateway and probes reach"),
    _trust("--grpc", "serves gRPC instead of the HTTP API, without vLLM's API-key check"),
    _trust("--grpc-port", "opens a gRPC port beside the HTTP API, without vLLM's API-key check"),
    _trust("--headless", "runs an engine without its API server, for a head node elsewhere"),
    _trust("--data-parallel-address", _PEERS, aliases=("-dpa",)),
    _trust("--master-addr", _PEERS),
    _trust("--kv-transfer-config", f"{_PEERS} (KV cache transfer)"),
    _trust("--kv-events-config", f"{_PEERS} (publishes KV cache events)"),
    _trust("--ec-transfer-config", f"{_PEERS} (encoder cache transfer)"),
    _trust("--weight-transfer-config", f"{_PEERS}: replaces the weights at run time"),
    TrustFlag(ENABLE_LOG_REQUESTS, f"{_DATA_OUT}: request parameters, and prompts at DEBUG"),
    TrustFlag(ENABLE_LOG_OUTPUTS, f"{_DATA_OUT}: generated text"),
    _trust("--logging-config", f"{_DATA_OUT}: log level and handlers"),
    _trust("--log-level", f"{_DATA_OUT}: DEBUG logs prompts"),
    _trust("--log-config-file", f"{_DATA_OUT}: Python logging handlers from a file"),
    _trust("--uvicorn-log-level", f"{_DATA_OUT}: the HTTP server's trace logs"),
    _trust("--otlp-traces-endpoint", f"{_DATA_OUT}: OpenTelemetry traces"),
    _trust("--collect-detailed-traces", f"{_DATA_OUT}: detailed traces"),
    _trust("--profiler-config", f"{_DATA_OUT}: profiler traces written to disk"),
    _trust("--enable-trace-replay", f"{_DATA_OUT}: request traces kept for replay"),
)
TRUST_FLAG_NAMES = tuple(flag.name for flag in TRUST_FLAGS)
# Ordinary flags that a trust flag's name starts with: an exact match of one of these is
# not an abbreviation of the longer one (argparse prefers the exact option).
EXACT_ORDINARY = ("--reasoning-parser",)


def option_word(arg: str) -> str:
    """The option an argument names as vLLM's FlexibleArgumentParser reads it: before any
    `=value`, before a `.key` of a JSON flag (`--speculative-config.model x`), `_` as `-`."""
    word = arg.split("=", 1)[0].split(".", 1)[0]
    return word.replace("_", "-") if word.startswith("--") else word


def trust_flags_in(args: tuple[str, ...] | list[str]) -> list[tuple[int, TrustFlag]]:
    """Each argument that sets a trust flag (its index, the flag), as vLLM's parser would read
    it: exact, `_` for `-`, an unambiguous prefix (`--trust-remote`; an ambiguous one fails
    in vLLM, and is refused here as well), an alias (`-sc`), `--flag=value`, `--flag.key`.
    `--no-<flag>` turns a boolean off again and needs no opt-in; nor do the `safe_values`."""
    found = []
    for index, arg in enumerate(args):
        word = option_word(arg)
        if not word.startswith("-") or word.startswith("--no-") or word in EXACT_ORDINARY:
            continue
        flag = _resolve(word, TRUST_FLAGS)
        if flag is None or any(word in managed.names for managed in MANAGED):
            continue  # a managed flag: managed_flag_clash refuses it
        value = arg.split("=", 1)[1] if "=" in arg else args[index + 1] if index + 1 < len(args) else None
        if flag.safe_values and value in flag.safe_values:
            continue
        found.append((index, flag))
    return found


def _resolve(word: str, flags: tuple[TrustFlag, ...]) -> TrustFlag | None:
    exact = next((flag for flag in flags if word in flag.flag.names), None)
    return exact or next((flag for flag in flags if any(_abbreviates(word, n) for n in flag.flag.names)), None)


def _abbreviates(word: str, spelling: str) -> bool:
    if spelling.startswith("--"):
        return word.startswith("--") and len(word) > 3 and spelling.startswith(word)
    # A single-dash alias (`-sc`): argparse reads a unique prefix of it too (`-s`).
    return not word.startswith("--") and len(word) >= 2 and (spelling.startswith(word) or word == spelling)


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
    # A stopping pod finishes what it serves: no request runs longer than the pool's timeout.
    args += [SHUTDOWN_TIMEOUT.name, str(pool.timeout_seconds)]
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
            # The option alone: its value may be a secret pasted in the wrong place (`--api-key=...`).
            return f"'{option_word(arg)}' restates {managed.name}, which the platform sets from the pool spec; use the spec field"
    return None


def _restates(word: str, spelling: str) -> bool:
    if word == spelling:
        return True
    if spelling.startswith("--"):
        return word.startswith("--") and len(word) > 3 and spelling.startswith(word)
    return len(spelling) == 2 and word.startswith(spelling)  # `-q` with its value glued on
