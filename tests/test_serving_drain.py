"""What a pool's vLLM does with the request it serves when its pod is stopped (a rollout, a
scale-down, a node drain): the kubelet sends SIGTERM to the container's process, `vllm serve`.

Run for real on vLLM 0.32 (CPU) with a pool's rendered arguments: with the rendered
`--shutdown-timeout` the request runs to its end and the server then exits; with vLLM's
default, 0, the stream stops at once, short of its max_tokens and never with a finish_reason
of a finished answer. How it ends varies between runs here: broken off with an error; closed
by `data: [DONE]` with no finish_reason or usage (a truncation a client cannot tell from a
short answer); closed with finish_reason `abort` and the partial usage; or left open with no
further event, the API server waiting for the connection to close while its engine is gone,
until the client gives up. A new request during
the drain is refused with a 5xx, which is why Standard pods wait for their endpoint removal
before vLLM gets SIGTERM (components/serving_pool.py ENDPOINT_REMOVAL_SECONDS).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import pytest

from components.vllm_args import SHUTDOWN_TIMEOUT
from tests import serving_stacks, vllm_server
from tests.tiny_model import tiny_model

pytestmark = pytest.mark.serving

POOL = "dev/batch"  # long generations (defaultMaxTokens 4096), no key file, one core
MAX_TOKENS = 4000  # several seconds on the tiny model, so the signal lands mid-generation
STREAM_TIMEOUT_SECONDS = 300
# Without a drain the stream can stay open with nothing more to come (module docstring);
# the tiny model emits several tokens a second, so this long without one means that.
CUT_STREAM_IDLE_SECONDS = 30
EXIT_TIMEOUT_SECONDS = 120


def _pool() -> serving_stacks.ServedPool:
    return next(pool for pool in serving_stacks.served_pools() if POOL in pool.where)


def _with_drain(arguments: tuple[str, ...], seconds: str | None) -> list[str]:
    """The rendered list, with the drain replaced when `seconds` is given."""
    changed = list(arguments)
    if seconds is not None:
        changed[changed.index(SHUTDOWN_TIMEOUT.name) + 1] = seconds
    return changed


@dataclass
class Stream:
    """A streamed completion read on a thread: each event's token count, its finish reason
    and usage, and how the stream ended."""

    tokens: int = 0
    finish_reasons: list[str] = field(default_factory=list)
    usage: dict[str, Any] | None = None
    done: bool = False
    error: str | None = None
    started: threading.Event = field(default_factory=threading.Event)
    idle_timeout: float = STREAM_TIMEOUT_SECONDS

    def read(self, url: str, model: str) -> None:
        body = {
            "model": model, "prompt": "Count:", "max_tokens": MAX_TOKENS, "ignore_eos": True,
            "stream": True, "stream_options": {"include_usage": True},
        }  # fmt: skip
        request = urllib.request.Request(
            f"{url}/v1/completions", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.idle_timeout) as reply:
                for line in reply:
                    self._event(line.strip())
        except OSError as error:
            self.error = repr(error)
        finally:
            self.started.set()

    def _event(self, line: bytes) -> None:
        if line == b"data: [DONE]":
            self.done = True
        elif line.startswith(b"data: "):
            event = json.loads(line[len(b"data: ") :])
            for choice in event.get("choices") or []:
                self.tokens += 1
                if choice.get("finish_reason"):
                    self.finish_reasons.append(choice["finish_reason"])
            if event.get("usage"):
                self.usage = event["usage"]
            self.started.set()


@dataclass(frozen=True)
class Stopped:
    stream: Stream
    tokens_at_signal: int
    during_drain: int | str  # the status of a request sent after the signal, or the error
    exit_code: int | None
    seconds_to_exit: float


def _stop_mid_generation(drain: str | None, label: str, idle_timeout: float = STREAM_TIMEOUT_SECONDS) -> Stopped:
    pool = _pool()
    port = vllm_server.free_port()
    arguments = vllm_server.loopback_arguments(_with_drain(pool.arguments, drain), tiny_model(), port)
    with vllm_server.serving(arguments, log_name=f"serving-drain-{label}", port=port) as server:
        stream = Stream(idle_timeout=idle_timeout)
        reader = threading.Thread(target=stream.read, args=(server.base_url, pool.served_model_name), daemon=True)
        reader.start()
        assert stream.started.wait(STREAM_TIMEOUT_SECONDS), "no token came"
        time.sleep(0.5)
        tokens_at_signal = stream.tokens
        signalled = time.monotonic()
        os.kill(server.pid, signal.SIGTERM)  # the kubelet signals the container's process only
        time.sleep(0.3)
        try:
            late = vllm_server.request(
                f"{server.base_url}/v1/completions", {"model": pool.served_model_name, "prompt": "x", "max_tokens": 4},
                timeout=30,
            )  # fmt: skip
            during_drain: int | str = late.status
        except OSError as error:
            during_drain = repr(error)
        reader.join(STREAM_TIMEOUT_SECONDS)
        try:
            exit_code: int | None = server.process.wait(timeout=EXIT_TIMEOUT_SECONDS)
        except Exception:  # noqa: BLE001 - reported below as "still running"
            exit_code = None
        return Stopped(stream, tokens_at_signal, during_drain, exit_code, time.monotonic() - signalled)


@pytest.fixture(scope="module")
def drained() -> Stopped:
    return _stop_mid_generation(None, "rendered")


def test_the_rendered_pool_drains_for_its_timeout():
    arguments = _pool().arguments
    assert arguments[arguments.index(SHUTDOWN_TIMEOUT.name) + 1] == "600"  # dev batch's timeoutSeconds


def test_a_stopped_server_finishes_the_request_it_serves(drained):
    stream = drained.stream
    assert 0 < drained.tokens_at_signal < MAX_TOKENS, "the signal did not land mid-generation"
    assert stream.error is None and stream.done, stream
    assert stream.finish_reasons == ["length"], stream.finish_reasons
    assert stream.usage is not None and stream.usage["completion_tokens"] == MAX_TOKENS, stream.usage


def test_a_request_during_the_drain_is_refused_not_admitted(drained):
    status = drained.during_drain
    assert isinstance(status, str) or status >= 500, status


def test_the_drained_server_exits_cleanly_once_done(drained):
    assert drained.exit_code == 0, drained
    assert drained.seconds_to_exit < EXIT_TIMEOUT_SECONDS


def test_without_a_drain_vllm_cuts_the_stream():
    """vLLM's default (--shutdown-timeout 0): why every pool sets one."""
    stopped = _stop_mid_generation("0", "none", idle_timeout=CUT_STREAM_IDLE_SECONDS)
    stream = stopped.stream
    assert 0 < stopped.tokens_at_signal < MAX_TOKENS, "the signal did not land mid-generation"
    assert stream.tokens < MAX_TOKENS, stream
    # vLLM ends an aborted stream in one of the ways the module docstring lists; which one
    # depends on whether the API server sees the engine's abort before its own shutdown.
    assert set(stream.finish_reasons) <= {"abort"}, stream
    assert stream.usage is None or stream.usage["completion_tokens"] < MAX_TOKENS, stream
    assert stopped.exit_code == 0
