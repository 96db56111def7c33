"""Every pool of every shipped stack, served by a real vLLM 0.32 with the argument list we
render (tests/serving_stacks.py: each distinct list once, however many stacks share it).

Started the way the README says (`python -m tools.vllm_cli serve`) on a tiny model built
offline (tests/tiny_model.py), on a free loopback port. What changes from the rendered list,
and why (tests/vllm_server.py `loopback_arguments`): the model path (the pod reads the
weights at /mnt/models), `--host`/`--port` (loopback, a free port), and the path after
`--config`, a local file with exactly the content of the pool's API-key Secret (the pod
mounts it from that Secret). No flag is dropped. Outside the argument list: vLLM's CPU
backend gets a small KV cache (VLLM_CPU_KVCACHE_SPACE) in place of the GPU memory
`--gpu-memory-utilization` would measure, and a tensor-parallel list gets one core per rank
(VLLM_CPU_OMP_THREADS_BIND), since the CPU backend otherwise wants a NUMA node per rank.

One server is alive at a time: the fixture is module-scoped and parametrized, so pytest
runs every test of one list before starting the next.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from components import metrics
from tests import serving_stacks, vllm_server
from tests.serving_stacks import ServedPool
from tests.tiny_model import tiny_model
from tools import promql

pytestmark = pytest.mark.serving

POOLS = serving_stacks.served_pools()
PROMPT = "Say hello."
WRONG_KEY = "not-a-key-of-any-client-0000"
# vLLM's CompletionRequest.max_tokens default (vllm/entrypoints/openai/completion/protocol.py);
# chat has none, so --override-generation-config's max_new_tokens applies (README, "Serving").
COMPLETIONS_DEFAULT_MAX_TOKENS = 16
PARAMS_MAX_TOKENS = "vllm:request_params_max_tokens"  # vllm/v1/metrics/loggers.py
# Routes vLLM 0.32 serves without a key even under --config / --api-key: its
# AuthenticationMiddleware guards only paths under /v1, /v2, /inference and /cohere
# (vllm/entrypoints/serve/middleware/authenticate.py GUARDED_PREFIX). /invocations,
# /tokenize, /detokenize and /generative_scoring run the model. The NetworkPolicies keep
# every pod but the gateway's proxies, Knative's path and Prometheus off the port (README).
UNAUTHENTICATED_ROUTES = frozenset(
    {
        ("GET", "/openapi.json"), ("GET", "/health"), ("GET", "/load"), ("GET", "/metrics"), ("GET", "/version"),
        ("GET", "/kv_event_sources"), ("GET", "/ping"), ("POST", "/ping"), ("POST", "/invocations"),
        ("POST", "/tokenize"), ("POST", "/detokenize"), ("POST", "/generative_scoring"),
        ("POST", "/scale_elastic_ep"), ("POST", "/is_scaling_elastic_ep"),
    }
)  # fmt: skip


@dataclass
class Running:
    pool: ServedPool
    url: str
    key: str | None  # a client key where vLLM checks keys

    def post(self, path: str, body: dict[str, Any], key: str | None = None) -> vllm_server.Reply:
        return vllm_server.request(f"{self.url}{path}", body, key=key or self.key)

    def ok(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = self.post(path, body)
        assert reply.status == 200, f"{self.pool.id} {path}: {reply.status} {reply.body[:500]!r}"
        return dict(reply.json())


@pytest.fixture(scope="module", params=POOLS, ids=[pool.id for pool in POOLS])
def served(request, tmp_path_factory) -> Iterator[Running]:
    pool: ServedPool = request.param
    port = vllm_server.free_port()
    config_file: Path | None = None
    if pool.api_key_config is not None:
        config_file = tmp_path_factory.mktemp("vllm-config") / "api-keys.yaml"
        config_file.write_text(pool.api_key_config, encoding="utf-8")
    arguments = vllm_server.loopback_arguments(pool.arguments, tiny_model(), port, config_file)
    kv_cache_gib = 1  # holds max-model-len 65536 of the tiny model (2 layers x 2 KV heads x 64 x bf16) many times
    binding = vllm_server.cpu_binding(pool.tensor_parallel_size)
    server = vllm_server.start(
        arguments, log_name=f"serving-{pool.id.replace('/', '-')}", port=port,
        kv_cache_gib=kv_cache_gib, cpu_cores=binding,
    )  # fmt: skip
    kept = False
    try:
        yield Running(pool, server.base_url, pool.client_keys[0] if pool.client_keys else None)
        if serving_stacks.PROMETHEUS_POOL in pool.where:  # one start fewer: test_serving_prometheus.py takes it
            vllm_server.keep(serving_stacks.PROMETHEUS_POOL, server)
            kept = True
    finally:
        if not kept:
            vllm_server.stop(server)


def _chat(running: Running, **extra: Any) -> dict[str, Any]:
    return {"model": running.pool.served_model_name, "messages": [{"role": "user", "content": PROMPT}], **extra}


def _completion(running: Running, **extra: Any) -> dict[str, Any]:
    return {"model": running.pool.served_model_name, "prompt": PROMPT, **extra}


def test_ready_through_the_probes_path_and_port(served):
    rendered_port = int(served.pool.arguments[served.pool.arguments.index("--port") + 1])
    assert served.pool.probes, f"{served.pool.id}: no probes rendered"
    for probe in served.pool.probes:
        assert probe.port == rendered_port, f"{probe} does not target vLLM's --port {rendered_port}"
        reply = vllm_server.request(f"{served.url}{probe.path}")
        assert reply.status == 200, reply


def test_the_readme_model_name_is_the_served_name(served):
    """README "Call a pool": clients use `pulumi stack output pools` `model`."""
    for where in served.pool.where:
        stack, pool = where.split("/")
        outputs = serving_stacks.rendered(stack).outputs["pools"]
        assert outputs[pool]["model"] == served.pool.served_model_name
    listed = vllm_server.request(f"{served.url}/v1/models", key=served.key).json()
    assert [model["id"] for model in listed["data"]] == [served.pool.served_model_name]


def test_chat_completion_in_the_openai_shape(served):
    reply = served.ok("/v1/chat/completions", _chat(served, max_tokens=4))
    assert reply["object"] == "chat.completion" and reply["model"] == served.pool.served_model_name
    choice = reply["choices"][0]
    assert choice["message"]["role"] == "assistant" and isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] in {"length", "stop"}
    assert 0 < reply["usage"]["completion_tokens"] <= 4
    assert reply["usage"]["total_tokens"] == reply["usage"]["prompt_tokens"] + reply["usage"]["completion_tokens"]


def test_completion_in_the_openai_shape(served):
    reply = served.ok("/v1/completions", _completion(served, max_tokens=4))
    assert reply["object"] == "text_completion" and reply["model"] == served.pool.served_model_name
    assert isinstance(reply["choices"][0]["text"], str) and reply["choices"][0]["finish_reason"] in {"length", "stop"}
    assert 0 < reply["usage"]["completion_tokens"] <= 4


def _stream(running: Running, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    reply = running.post(path, {**body, "stream": True, "stream_options": {"include_usage": True}})
    assert reply.status == 200, reply.body[:500]
    events = [line.removeprefix(b"data: ") for line in reply.body.splitlines() if line.startswith(b"data: ")]
    assert events and events[-1] == b"[DONE]", events[-3:]
    return [json.loads(event) for event in events[:-1]]


def test_streamed_chat_completion_in_the_openai_shape(served):
    chunks = _stream(served, "/v1/chat/completions", _chat(served, max_tokens=4))
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert {chunk["model"] for chunk in chunks} == {served.pool.served_model_name}
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    assert any(c["choices"] and c["choices"][0].get("finish_reason") in {"length", "stop"} for c in chunks)
    assert 0 < chunks[-1]["usage"]["completion_tokens"] <= 4


def test_streamed_completion_in_the_openai_shape(served):
    chunks = _stream(served, "/v1/completions", _completion(served, max_tokens=4))
    assert {chunk["object"] for chunk in chunks} == {"text_completion"}
    assert {chunk["model"] for chunk in chunks} == {served.pool.served_model_name}
    assert any(c["choices"] and c["choices"][0].get("finish_reason") in {"length", "stop"} for c in chunks)
    assert 0 < chunks[-1]["usage"]["completion_tokens"] <= 4


def test_api_keys_from_the_rendered_config_file(served):
    """With --config (gateway.vllmApiKey), 401 without a key or with a wrong one and 200 with
    each client's key; /health and /metrics stay open (probes and Prometheus send none).
    Without it vLLM checks no key (the gateway does): a request without one is served."""
    chat = _chat(served, max_tokens=1)
    for path in ("/health", "/metrics"):
        assert vllm_server.request(f"{served.url}{path}").status == 200
    if served.pool.api_key_config is None:
        assert vllm_server.request(f"{served.url}/v1/chat/completions", chat).status == 200
        return
    for key in (None, WRONG_KEY):
        for path, body in (("/v1/chat/completions", chat), ("/v1/models", None)):
            reply = vllm_server.request(f"{served.url}{path}", body, key=key)
            assert reply.status == 401 and reply.json() == {"error": "Unauthorized"}, (path, key, reply)
    for key in served.pool.client_keys:
        assert vllm_server.request(f"{served.url}/v1/chat/completions", chat, key=key).status == 200
        assert vllm_server.request(f"{served.url}/v1/models", key=key).status == 200


def test_exactly_the_known_routes_answer_without_a_key(served):
    """Pins which routes vLLM 0.32 serves without a key under --config, from its own route
    table (/openapi.json, itself open), so an upgrade that opens or closes one is noticed.
    Each route is called without a key (an empty JSON body for POST; none of these acts on
    one): a guarded route answers 401. A pool without --config checks no key anywhere."""
    table = vllm_server.request(f"{served.url}/openapi.json")
    assert table.status == 200
    routes = {("GET", "/openapi.json")} | {
        (method.upper(), path)
        for path, operations in table.json()["paths"].items()
        for method in operations
        if "{" not in path  # templated paths (all under /v1 in 0.32) would need an argument
    }
    open_routes = {
        (method, path)
        for method, path in routes
        if _call(served.url + path, method, {} if method == "POST" else None).status != 401
    }
    assert open_routes == (UNAUTHENTICATED_ROUTES if served.pool.api_key_config is not None else routes)
    invocation = _call(f"{served.url}/invocations", "POST", _completion(served, max_tokens=2))
    assert invocation.status == 200 and invocation.json()["usage"]["completion_tokens"] == 2


def _call(url: str, method: str, body: dict[str, Any] | None) -> vllm_server.Reply:
    return vllm_server.request(url, body, method=method, timeout=30)


def test_a_prompt_over_the_context_cap_gets_400(served):
    too_long = "a " * (served.pool.max_model_len + 8)  # each " a" is at least one token
    for path, body in (
        ("/v1/completions", _completion(served, prompt=too_long, max_tokens=1)),
        ("/v1/chat/completions", _chat(served, messages=[{"role": "user", "content": too_long}], max_tokens=1)),
    ):
        reply = served.post(path, body)
        assert reply.status == 400, (path, reply.status, reply.body[:300])
        message = reply.json()["error"]["message"]
        assert "maximum context length" in message and str(served.pool.max_model_len) in message, message


def _max_tokens_used(running: Running, path: str, body: dict[str, Any]) -> int:
    """The max_tokens vLLM ran a request with, from its own `vllm:request_params_max_tokens`
    histogram (observed when a request finishes). Every token id is a stop token, so the
    request ends after one token whatever its limit: generating 4096 tokens on four
    tensor-parallel ranks sharing two cores would take minutes."""
    before = _histogram(running, PARAMS_MAX_TOKENS)
    vocabulary = json.loads((tiny_model() / "config.json").read_text())["vocab_size"]
    reply = running.ok(path, {**body, "stop_token_ids": list(range(vocabulary))})
    assert reply["usage"]["completion_tokens"] == 1, reply["usage"]
    deadline = time.monotonic() + 30
    while (after := _histogram(running, PARAMS_MAX_TOKENS))[1] == before[1]:
        assert time.monotonic() < deadline, f"{PARAMS_MAX_TOKENS} did not count the request"
        time.sleep(0.2)
    assert after[1] == before[1] + 1
    return round(after[0] - before[0])


def _histogram(running: Running, name: str) -> tuple[float, float]:
    """(sum, count) of a histogram in the server's /metrics."""
    text = vllm_server.request(f"{running.url}/metrics").body.decode()
    values = {sample.name: sample.value for family in text_string_to_metric_families(text) for sample in family.samples}
    return values[f"{name}_sum"], values[f"{name}_count"]


def test_the_max_tokens_metric_is_what_the_engine_generates(served):
    """The reading `_max_tokens_used` relies on, checked against a real generation: without
    max_tokens, /v1/completions generates exactly vLLM's default (ignore_eos: the random
    model would often stop earlier) and the histogram records that same number."""
    before = _histogram(served, PARAMS_MAX_TOKENS)
    reply = served.ok("/v1/completions", _completion(served, ignore_eos=True))
    assert reply["usage"]["completion_tokens"] == COMPLETIONS_DEFAULT_MAX_TOKENS
    deadline = time.monotonic() + 30
    while (after := _histogram(served, PARAMS_MAX_TOKENS))[1] == before[1]:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert round(after[0] - before[0]) == COMPLETIONS_DEFAULT_MAX_TOKENS


def test_without_max_tokens_output_stays_under_the_pools_cap(served):
    """Chat gets the pool's defaultMaxTokens (--override-generation-config max_new_tokens);
    /v1/completions gets vLLM's own default of 16 (README, "Call a pool")."""
    cap = served.pool.default_max_tokens
    assert _max_tokens_used(served, "/v1/chat/completions", _chat(served)) == cap
    assert _max_tokens_used(served, "/v1/completions", _completion(served)) == min(COMPLETIONS_DEFAULT_MAX_TOKENS, cap)


def test_a_larger_max_tokens_is_lowered_to_the_pools_cap(served):
    """vLLM caps every request at max_new_tokens (get_max_tokens in
    vllm/entrypoints/serve/utils/api_utils.py), so a client cannot ask for more."""
    cap = served.pool.default_max_tokens
    for path, body in (("/v1/completions", _completion(served)), ("/v1/chat/completions", _chat(served))):
        assert _max_tokens_used(served, path, {**body, "max_tokens": cap + 8}) == cap, path
        assert _max_tokens_used(served, path, {**body, "max_tokens": cap - 8}) == cap - 8, path


def test_every_declared_vllm_metric_is_exported_with_the_labels_we_select_on(served):
    served.ok("/v1/chat/completions", _chat(served, max_tokens=2))
    text = vllm_server.request(f"{served.url}/metrics").body.decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
    declared = [name for name in metrics.KNOWN_METRICS if name.startswith("vllm:")]
    missing = sorted(name for name in declared if name not in samples)
    assert not missing, f"{served.pool.id}: not exported by vLLM: {missing}"
    # Labels our expressions select on that are not the PodMonitor's target labels must be vLLM's.
    target = {
        "namespace",
        "pod",
        "container",
        "endpoint",
        "job",
        "instance",
        *serving_stacks.target_labels(served.pool),
    }
    for stack in {where.split("/")[0] for where in served.pool.where}:
        for obj in serving_stacks.rendered(stack).manifests:
            for where, expr in promql.expressions(obj):
                for name, labels in _selected(expr):
                    if name.startswith("vllm:"):
                        assert labels - target <= samples[name], f"{where}: {name} has no label {labels - target}"


def _selected(expr: str) -> list[tuple[str, set[str]]]:
    import promql_parser

    found: list[tuple[str, set[str]]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            found.append((node.name, {m.name for m in node.matchers.matchers}))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found
