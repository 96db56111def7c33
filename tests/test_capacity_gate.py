"""The capacity gate: spec validation rejects pools that cannot start or cannot serve."""

from __future__ import annotations

import json
import re

import pytest

from components.spec import SpecError, load_platform
from tests.conftest import KNATIVE_PROXY_RESTART_REASON, write_stack_file
from tools.__main__ import main

pytestmark = pytest.mark.program

LLAMA_70B = {
    "name": "llama-70b",
    "source": "meta-llama/Llama-3.1-70B-Instruct",
    "revision": "1605565b47bb9346c5515c34102e054115b4f98b",
    "architecture": "llama-3.1-70b",
}


def one_pool(platform, *, model, instance_type, **pool):
    platform["nodePools"] = [{"name": "gpus", "instanceType": instance_type}]
    platform["models"] = [model]
    platform["pools"] = [{"name": "p", "class": "chat", "model": model["name"], "nodePool": "gpus",
                          "hostname": "p.example.com", **pool}]  # fmt: skip
    return platform


def as_class(platform, workload_class):
    """Make the one pool `workload_class`; a batch pool is a Knative pool whose requests
    outlast what Knative's proxies drain, which the stack must accept."""
    platform["pools"][0]["class"] = workload_class
    if workload_class == "batch":
        platform["pools"][0]["acceptedRisks"] = {"knativeProxyRestart": KNATIVE_PROXY_RESTART_REASON}


def gate_errors(platform) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_platform(platform, "stacks/Pulumi.t.yaml")
    return caught.value.lines()


def test_70b_bf16_on_one_h100_is_rejected_for_weights(platform):
    one_pool(platform, model=LLAMA_70B, instance_type="p5.48xlarge")
    as_class(platform, "batch")
    (line,) = gate_errors(platform)
    assert "pools[0]: capacity: weights need 131.4" in line
    assert "use tensorParallelSize 4 (a node with 4 GPUs): 32.85 GiB weights/GPU" in line


def test_70b_fp8_tp4_on_h100_is_accepted(platform):
    one_pool(platform, model={**LLAMA_70B, "quantization": "fp8"}, instance_type="p5.48xlarge",
             maxModelLen=32768, tensorParallelSize=4)  # fmt: skip
    as_class(platform, "batch")
    spec = load_platform(platform, "t")
    assert spec.pool_capacity(spec.pools[0]).fits


def test_8b_chat_at_32k_on_one_a10g_is_rejected_with_remedy(platform):
    one_pool(platform, model=platform["models"][0], instance_type="g5.xlarge", maxModelLen=32768)
    (line,) = gate_errors(platform)
    assert "pools[0]: capacity: the KV cache holds 31520 tokens" in line
    assert "maxModelLen is 32768: vLLM refuses to start" in line
    # minConcurrentAtCap 8 and the chat cap at once: 31520 // 8 = 3940, in whole blocks
    assert "set maxModelLen to 3936, the longest that passes every constraint" in line


def test_8b_chat_short_of_concurrency_on_one_a10g(platform):
    one_pool(platform, model=platform["models"][0], instance_type="g5.xlarge", maxModelLen=8192)
    (line,) = gate_errors(platform)
    assert "only 3 sequences at maxModelLen 8192, fewer than minConcurrentAtCap 8" in line


def test_min_concurrency_is_configurable(platform):
    one_pool(platform, model=platform["models"][0], instance_type="g5.xlarge", maxModelLen=8192, minConcurrentAtCap=1)
    spec = load_platform(platform, "t")
    assert spec.pool_capacity(spec.pools[0]).concurrent_sequences_at_cap >= 1


def test_model_cache_too_small(platform):
    platform["modelCache"] = {"size": "10Gi"}
    (line,) = gate_errors(platform)
    assert "modelCache.size: the model cache is 10.0 GiB" in line and "at least 17Gi" in line


def test_model_cache_large_enough(platform):
    platform["modelCache"] = {"size": "17Gi"}
    assert load_platform(platform, "t").model_cache.size == "17Gi"


def test_quantized_on_load_is_cached_at_16_bit(platform):
    platform["models"][0].update(quantization="fp8", quantizeOnLoad=True)
    platform["modelCache"] = {"size": "12Gi"}
    assert "modelCache.size" in gate_errors(platform)[0]


@pytest.mark.parametrize("verb", ["check", "render", "capacity"])
def test_rejection_exits_2_with_numbers(capsys, tmp_path, platform, verb):
    one_pool(platform, model=LLAMA_70B, instance_type="p5.48xlarge")
    as_class(platform, "batch")
    config_file = write_stack_file(tmp_path / "Pulumi.big.yaml", platform)
    extra = ["--out", str(tmp_path / "out")] if verb == "render" else []
    code = main([verb, "big", "--config-file", str(config_file), *extra])
    captured = capsys.readouterr()
    assert code == 2
    assert "weights need 131.4" in captured.out + captured.err


def test_capacity_table_lists_every_pool(capsys):
    assert main(["capacity", "prod"]) == 0
    out = capsys.readouterr().out
    header, _, chat, batch, blank, *legend = out.splitlines()
    for column in (
        "weights GiB/GPU",
        "KV GiB/GPU",
        "KV bytes/token/GPU",
        "KV tokens",
        "maxModelLen tokens",
        "decode tok/s/seq",
    ):
        assert column in header
        assert any(line.startswith(column + " ") for line in legend), f"no legend line for {column}"
    assert blank == ""
    assert chat.split()[0] == "chat" and batch.split()[0] == "batch"
    assert chat.rstrip().endswith("fits") and batch.rstrip().endswith("fits")


def test_render_writes_capacity_json_and_output(tmp_path):
    assert main(["render", "dev", "--out", str(tmp_path)]) == 0
    capacity = json.loads((tmp_path / "capacity.json").read_text())
    outputs = json.loads((tmp_path / "outputs.json").read_text())
    assert set(capacity) == {"chat", "batch"}
    assert capacity["chat"]["kvBytesPerTokenPerGpu"] == 131072
    assert outputs["capacity"] == capacity


@pytest.mark.parametrize(
    "workload_class, instance_type, max_model_len, min_concurrent",
    [
        ("chat", "g5.xlarge", 32768, 8),  # capacity binds below the chat cap
        ("chat", "p5.48xlarge", 32768, 16),  # the chat policy cap binds
        ("batch", "g6e.2xlarge", 131072, 2),  # no class cap: capacity alone
    ],
)
def test_the_remedy_value_passes_check_when_applied(
    capsys, tmp_path, platform, workload_class, instance_type, max_model_len, min_concurrent
):
    one_pool(platform, model=platform["models"][0], instance_type=instance_type, maxModelLen=max_model_len,
             minConcurrentAtCap=min_concurrent)  # fmt: skip
    as_class(platform, workload_class)
    config_file = write_stack_file(tmp_path / "Pulumi.big.yaml", platform)
    assert main(["check", "big", "--config-file", str(config_file)]) == 2
    captured = capsys.readouterr()
    found = re.findall(r"set maxModelLen to (\d+)", captured.out + captured.err)
    assert len(set(found)) == 1, captured.out + captured.err
    platform["pools"][0]["maxModelLen"] = int(found[0])
    config_file = write_stack_file(tmp_path / "Pulumi.big.yaml", platform)
    assert main(["check", "big", "--config-file", str(config_file)]) == 0, capsys.readouterr().out
