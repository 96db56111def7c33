"""Split vs shared pools, measured on the real engine: does a separate batch pool protect
chat time to first token from long batch prompts?

At equal hardware (the machine's first two cores), on the tiny model of the serving tier
(tests/tiny_model.py, random weights, built offline), with the stack's rendered arguments
(tests/serving_stacks.py, tests/vllm_server.py `loopback_arguments`):

  A, shared: one server with the chat pool's arguments on both cores. A shared pool must
     admit the batch prompts, so its --max-model-len is the batch pool's (the one change
     to the chat list; everything else, --max-num-batched-tokens included, stays chat's).
  B, split:  a chat server with the chat pool's arguments on core 0 and a batch server
     with the batch pool's arguments on core 1.

For each: a steady stream of short streaming chat requests alone, then the same stream
while a bounded flood of long prompts (LONG_FRACTION of the batch pool's --max-model-len,
as token ids, all sent at once) runs against the batch side. Chat TTFT is measured by the
client (request sent to the first streamed token); batch throughput is prompt tokens per
second over the flood. Every loop is bounded in count and time; everything is loopback.

A tiny model on a CPU shows the scheduling effect (a long prefill holding the engine that
chat requests wait behind), not GPU latencies. Results: benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/split_vs_shared.py --quick   # under 10 minutes on 2 cores
    .venv/bin/python benchmarks/split_vs_shared.py            # the RESULTS.md run
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests import serving_stacks, vllm_server  # noqa: E402
from tests.tiny_model import VOCAB_SIZE, tiny_model  # noqa: E402

MAX_MODEL_LEN = "--max-model-len"
LONG_FRACTION = 0.9  # long prompts: this share of the batch pool's context cap
BATCH_MAX_TOKENS = 16
CHAT_MAX_TOKENS = 8
CHAT_PROMPT = "Say hello to the platform team."
FIRST_TOKEN_ID = 3  # after <unk>, <s>, </s>


@dataclass(frozen=True)
class Size:
    chat_alone: int  # chat requests in the alone phase
    chat_interval: float  # seconds between chat requests (open loop)
    chat_under_load: int  # at most this many chat requests during the flood
    long_prompts: int  # the flood
    flood_seconds: float  # the flood's bound in time
    # VLLM_CPU_KVCACHE_SPACE per server: the tiny model's KV cache takes 1 KiB a token (2
    # layers x K and V x 2 KV heads x head dim 64 x 2 bytes), so 1 GiB holds about a million
    # tokens, every long prompt of the flood many times over.
    kv_cache_gib: int


QUICK = Size(chat_alone=12, chat_interval=0.5, chat_under_load=60, long_prompts=3, flood_seconds=150, kv_cache_gib=1)
FULL = Size(chat_alone=60, chat_interval=0.25, chat_under_load=800, long_prompts=16, flood_seconds=420, kv_cache_gib=1)


@dataclass
class Phase:
    ttft_ms: list[float]
    failed: int = 0
    prompt_tokens: int = 0
    batch_seconds: float = 0.0
    batch_done: int = 0


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def chat_ttft(url: str, model: str, timeout: float) -> float:
    """Milliseconds from sending a streaming chat request to its first streamed chunk: vLLM
    sends the first one (the assistant role) with the first generated token
    (vllm/entrypoints/openai/chat_completion/serving.py, inside the loop over engine outputs)."""
    body = {"model": model, "messages": [{"role": "user", "content": CHAT_PROMPT}], "max_tokens": CHAT_MAX_TOKENS,
            "stream": True}  # fmt: skip
    request = urllib.request.Request(
        f"{url}/v1/chat/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    start = time.perf_counter()
    first: float | None = None
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        for line in reply:
            if first is None and line.startswith(b"data: {"):
                first = time.perf_counter()
    if first is None:
        raise RuntimeError("the stream carried no token")
    return (first - start) * 1000


def chat_stream(url: str, model: str, count: int, interval: float, until: threading.Event | None) -> Phase:
    """`count` chat requests, one every `interval` s (open loop), or fewer if `until` is set first."""
    phase = Phase([])
    lock = threading.Lock()

    def one() -> None:
        try:
            value = chat_ttft(url, model, timeout=120)
            with lock:
                phase.ttft_ms.append(value)
        except (OSError, RuntimeError, ValueError):
            with lock:
                phase.failed += 1

    threads = []
    for _ in range(count):
        if until is not None and until.is_set():
            break
        thread = threading.Thread(target=one)
        thread.start()
        threads.append(thread)
        time.sleep(interval)
    for thread in threads:
        thread.join(timeout=130)
    return phase


def flood(url: str, model: str, prompt_len: int, size: Size, done: threading.Event, result: Phase) -> None:
    """`size.long_prompts` long prompts at once against `url`, bounded by `size.flood_seconds`."""
    rng = random.Random(0)
    lock = threading.Lock()

    def one(index: int) -> None:
        prompt = [rng.randrange(FIRST_TOKEN_ID, VOCAB_SIZE) for _ in range(prompt_len)]
        body = {"model": model, "prompt": prompt, "max_tokens": BATCH_MAX_TOKENS, "ignore_eos": True}
        try:
            reply = vllm_server.request(f"{url}/v1/completions", body, timeout=size.flood_seconds)
            if reply.status == 200:
                with lock:
                    result.prompt_tokens += reply.json()["usage"]["prompt_tokens"]
                    result.batch_done += 1
        except OSError:
            pass

    start = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(size.long_prompts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, size.flood_seconds - (time.perf_counter() - start)))
    result.batch_seconds = time.perf_counter() - start
    done.set()


def measure(chat_url: str, batch_url: str, model_chat: str, model_batch: str, prompt_len: int, size: Size):
    alone = chat_stream(chat_url, model_chat, size.chat_alone, size.chat_interval, None)
    done = threading.Event()
    batch = Phase([])
    flooding = threading.Thread(target=flood, args=(batch_url, model_batch, prompt_len, size, done, batch))
    flooding.start()
    time.sleep(1.0)  # the long prompts are in the engine
    loaded = chat_stream(chat_url, model_chat, size.chat_under_load, size.chat_interval, done)
    flooding.join(timeout=size.flood_seconds + 30)
    return alone, loaded, batch


@contextmanager
def server(arguments: Sequence[str], name: str, cores: str, kv_cache_gib: int) -> Iterator[str]:
    port = vllm_server.free_port()
    listed = vllm_server.loopback_arguments(arguments, tiny_model(), port)
    with vllm_server.serving(listed, log_name=name, port=port, cpu_cores=cores, kv_cache_gib=kv_cache_gib) as running:
        yield running.base_url


def with_option(arguments: Sequence[str], option: str, value: str) -> list[str]:
    changed = list(arguments)
    changed[changed.index(option) + 1] = value
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run, under 10 minutes on 2 cores")
    parser.add_argument("--stack", default="dev", help="the stack whose chat and batch pools are compared")
    options = parser.parse_args()
    size = QUICK if options.quick else FULL
    pools = {
        p.pool: p for p in serving_stacks.served_pools() if any(w.startswith(f"{options.stack}/") for w in p.where)
    }
    chat, batch = pools["chat"], pools["batch"]
    for pool in (chat, batch):
        if pool.api_key_config is not None or pool.tensor_parallel_size != 1:
            raise SystemExit(f"{options.stack}: pick a stack whose pools need no key file and run on one core")
    cores = sorted(os.sched_getaffinity(0))[:2]
    if len(cores) < 2:
        raise SystemExit("needs two cores")
    prompt_len = int(batch.max_model_len * LONG_FRACTION)
    tiny_model()  # built before any clock starts
    print(f"stack {options.stack}: chat {' '.join(chat.arguments[1:])}", flush=True)
    print(f"stack {options.stack}: batch {' '.join(batch.arguments[1:])}", flush=True)
    print(f"long prompts: {size.long_prompts} x {prompt_len} tokens; chat every {size.chat_interval}s", flush=True)
    started = time.monotonic()

    shared_args = with_option(chat.arguments, MAX_MODEL_LEN, str(batch.max_model_len))
    with server(shared_args, "split-vs-shared-shared", f"{cores[0]}-{cores[1]}", size.kv_cache_gib) as url:
        shared = measure(url, url, chat.served_model_name, chat.served_model_name, prompt_len, size)
    print(f"shared done after {time.monotonic() - started:.0f} s", flush=True)

    with ExitStack() as stack:
        urls: dict[str, str] = {}

        def start(name: str, arguments: Sequence[str], core: int) -> None:
            urls[name] = stack.enter_context(server(arguments, f"split-vs-shared-{name}", str(core), size.kv_cache_gib))

        # Both start at once (this process already holds the machine lock, from A).
        starting = [threading.Thread(target=start, args=("chat", chat.arguments, cores[0])),
                    threading.Thread(target=start, args=("batch", batch.arguments, cores[1]))]  # fmt: skip
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join()
        if set(urls) != {"chat", "batch"}:
            raise SystemExit("a split server did not start; see build/vllm-logs/split-vs-shared-*.log")
        split = measure(urls["chat"], urls["batch"], chat.served_model_name, batch.served_model_name, prompt_len, size)
    print(f"split done after {time.monotonic() - started:.0f} s", flush=True)

    report(shared, split)
    return 0


def report(shared, split) -> None:
    rows = [("A shared (both cores)", shared), ("B split (one core each)", split)]
    print()
    print("| setup | chat TTFT alone p50 / p95 ms | chat TTFT under load p50 / p95 ms | chat requests (failed) "
          "| batch prompts done | batch prompt tokens/s |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name, (alone, loaded, batch) in rows:
        throughput = batch.prompt_tokens / batch.batch_seconds if batch.batch_seconds else 0.0
        print(
            f"| {name} | {percentile(alone.ttft_ms, 50):.0f} / {percentile(alone.ttft_ms, 95):.0f} "
            f"| {percentile(loaded.ttft_ms, 50):.0f} / {percentile(loaded.ttft_ms, 95):.0f} "
            f"| {len(alone.ttft_ms) + len(loaded.ttft_ms)} ({alone.failed + loaded.failed}) "
            f"| {batch.batch_done} in {batch.batch_seconds:.0f} s | {throughput:.0f} |"
        )
    shared_p95, split_p95 = percentile(shared[1].ttft_ms, 95), percentile(split[1].ttft_ms, 95)
    print()
    print(
        f"split-vs-shared: chat TTFT p95 shared {shared_p95:.0f} ms, split {split_p95:.0f} ms, "
        f"ratio {shared_p95 / split_p95:.1f}"
    )


if __name__ == "__main__":
    sys.exit(main())
