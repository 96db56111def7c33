"""One streamed chat completion against an OpenAI-compatible pool, timed: what `smoke` and
`loadtest` send.

Streaming (`stream: true`, with `stream_options.include_usage` so the last chunk carries the
token counts) gives time to first token (the first chunk, see `_has_output`), end-to-end latency and
the time per output token after the first ((e2e - ttft) / (output tokens - 1), the
inter-token latency a client sees on average). `ignore_eos` (a vLLM sampling extension of
the OpenAI API) makes a request generate exactly `max_tokens`, so a load test's output
lengths are the ones it asked for.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
# Common English words: each is at least one token in a byte-level BPE vocabulary (the
# pre-tokenizer splits on spaces, so merges never join two words), so N words are at least
# N prompt tokens and close to N in the tokenizers of the catalog's models.
WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which but have an they "
    "you were her all she there would their we him been has when who will more no if out so said what up its "
    "about into than them can only other new some time could these two may then do first any my now such like "
    "our over man me even most made after also did many before must through back years where much your way well"
).split()


@dataclass(frozen=True)
class Sample:
    """One request's outcome; `error` is None when it succeeded."""

    started: float  # time.monotonic() when it was sent
    status: int | None
    ttft: float | None
    e2e: float | None
    prompt_tokens: int
    output_tokens: int
    error: str | None = None
    body: str = ""  # the start of an error reply

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def itl(self) -> float | None:
        if self.ttft is None or self.e2e is None or self.output_tokens < 2:
            return None
        return (self.e2e - self.ttft) / (self.output_tokens - 1)


def prompt(words: int, rng: random.Random) -> str:
    """A prompt of about `words` tokens, different per call so no prefix cache answers it."""
    return " ".join(rng.choice(WORDS) for _ in range(max(1, words)))


def headers(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key is not None else {}


async def stream_chat(
    http: httpx.AsyncClient, base_url: str, model: str, text: str, max_tokens: int, key: str | None,
    exact_length: bool = True,
) -> Sample:  # fmt: skip
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0,
    }
    if exact_length:
        body["ignore_eos"] = True
    started = time.monotonic()
    ttft: float | None = None
    usage: dict[str, Any] = {}
    chunks = 0
    try:
        async with http.stream("POST", base_url + CHAT_PATH, json=body, headers=headers(key)) as reply:
            if reply.status_code != 200:
                raw = (await reply.aread()).decode("utf-8", "replace")
                return Sample(started, reply.status_code, None, None, 0, 0, f"HTTP {reply.status_code}", raw[:500])
            async for line in reply.aiter_lines():
                event = _event(line)
                if event is None:
                    continue
                if event.get("usage"):
                    usage = event["usage"]
                if _has_output(event):
                    chunks += 1
                    if ttft is None:
                        ttft = time.monotonic() - started
            e2e = time.monotonic() - started
    except httpx.HTTPError as error:
        return Sample(started, None, None, None, 0, 0, describe(error))
    output = int(usage.get("completion_tokens") or chunks)
    if ttft is None:
        return Sample(started, 200, None, e2e, int(usage.get("prompt_tokens") or 0), output, "no token streamed")
    return Sample(started, 200, ttft, e2e, int(usage.get("prompt_tokens") or 0), output)


def _event(line: str) -> dict[str, Any] | None:
    if not line.startswith("data:"):
        return None
    data = line[len("data:") :].strip()
    if not data or data == "[DONE]":
        return None
    try:
        event = json.loads(data)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _has_output(event: dict[str, Any]) -> bool:
    """Whether a chunk carries the first token's turn or a token: vLLM sends its first chunk
    (the assistant role, empty content) from the engine's first output of the request, i.e.
    once the first token is generated (vllm/entrypoints/openai/chat_completion/serving.py,
    `first_iteration`, at 0.32.0). Counting only chunks with text would miss tokens whose
    text is not complete yet (a multi-byte character split over tokens)."""
    return any((choice.get("delta") or {}).keys() & {"role", "content", "reasoning_content"}
               for choice in event.get("choices") or [] if isinstance(choice, dict))  # fmt: skip


def describe(error: httpx.HTTPError) -> str:
    """An HTTP client error in one line, without a traceback (and without any header)."""
    if isinstance(error, httpx.ConnectError):
        return f"cannot connect: {error or 'connection refused'}"
    if isinstance(error, httpx.TimeoutException):
        return f"timed out ({type(error).__name__})"
    return f"{type(error).__name__}: {error}"
