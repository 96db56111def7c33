"""The vLLM argument builder: flags from the spec, in order, extras last."""

from __future__ import annotations

import json

import pytest

from components.spec import load_platform
from components.vllm_args import MANAGED_FLAGS, MODEL_DIR, managed_flag_clash, serve_args

pytestmark = pytest.mark.unit


def flag_value(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def pool_and_model(platform, index=0):
    spec = load_platform(platform, "test")
    pool = spec.pools[index]
    return pool, spec.model(pool.model)


def test_model_dir_is_positional_and_first(platform):
    args = serve_args(*pool_and_model(platform))
    assert args[0] == MODEL_DIR
    assert "--model" not in args


def test_core_flags_come_from_the_pool(platform):
    platform["pools"][1].update(maxModelLen=16384, maxNumSeqs=32, maxNumBatchedTokens=4096,
                                gpuMemoryUtilization=0.85, tensorParallelSize=2)  # fmt: skip
    args = serve_args(*pool_and_model(platform, 1))
    assert flag_value(args, "--served-model-name") == "llama-8b"
    assert flag_value(args, "--max-model-len") == "16384"
    assert flag_value(args, "--max-num-seqs") == "32"
    assert flag_value(args, "--max-num-batched-tokens") == "4096"
    assert flag_value(args, "--gpu-memory-utilization") == "0.85"
    assert flag_value(args, "--tensor-parallel-size") == "2"
    assert flag_value(args, "--port") == "8080"


def test_optional_flags_absent_by_default(platform):
    args = serve_args(*pool_and_model(platform))
    for flag in ("--dtype", "--quantization", "--kv-cache-dtype", "--enable-log-requests"):
        assert flag not in args


def test_dtype_quantization_and_kv_cache_dtype(platform):
    platform["models"][0].update(dtype="bfloat16", quantization="fp8", quantizeOnLoad=True)
    platform["pools"][0]["kvCacheDtype"] = "fp8"
    args = serve_args(*pool_and_model(platform))
    assert flag_value(args, "--dtype") == "bfloat16"
    assert flag_value(args, "--quantization") == "fp8"
    assert flag_value(args, "--kv-cache-dtype") == "fp8"


def test_prequantized_checkpoint_passes_no_quantization_flag(platform):
    platform["models"][0]["quantization"] = "awq"
    assert "--quantization" not in serve_args(*pool_and_model(platform))


def test_default_output_limit(platform):
    platform["pools"][0]["defaultMaxTokens"] = 512
    args = serve_args(*pool_and_model(platform))
    assert json.loads(flag_value(args, "--override-generation-config")) == {"max_new_tokens": 512}


def test_a_stopping_server_drains_for_the_pools_timeout(platform):
    platform["pools"][0]["timeoutSeconds"] = 90
    assert flag_value(serve_args(*pool_and_model(platform)), "--shutdown-timeout") == "90"


def test_extra_args_appended_verbatim_last(platform):
    platform["pools"][0]["extraArgs"] = ["--enable-prefix-caching", "--max-logprobs=5"]
    args = serve_args(*pool_and_model(platform))
    assert args[-2:] == ["--enable-prefix-caching", "--max-logprobs=5"]


def test_every_generated_flag_is_managed(platform):
    platform["models"][0].update(dtype="bfloat16", quantization="fp8", quantizeOnLoad=True)
    platform["pools"][0]["kvCacheDtype"] = "fp8"
    generated = {arg for arg in serve_args(*pool_and_model(platform)) if arg.startswith("--")}
    assert generated <= MANAGED_FLAGS


def test_clash_detection():
    assert managed_flag_clash("--enable-prefix-caching") is None
    assert managed_flag_clash("value-not-a-flag") is None
    assert "--max-model-len" in managed_flag_clash("--max_model_len=4")
    assert "--gpu-memory-utilization" in managed_flag_clash("--gpu-mem")


@pytest.mark.parametrize(
    ("arg", "managed"),
    [
        ("-tp", "--tensor-parallel-size"),
        ("-tp=2", "--tensor-parallel-size"),
        ("-q", "--quantization"),
        ("-qfp8", "--quantization"),
        ("--device-memory-utilization=0.5", "--gpu-memory-utilization"),
        ("--device_memory", "--gpu-memory-utilization"),
    ],
)
def test_an_alias_of_a_managed_flag_is_refused_too(arg, managed):
    problem = managed_flag_clash(arg)
    assert problem is not None and managed in problem


def test_other_short_options_pass():
    assert managed_flag_clash("-O3") is None and managed_flag_clash("-") is None
