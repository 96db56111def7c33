"""The defaults a serving pool inherits: per workload class, and for every pool.

Pure Python, standard library only, so the policy pack (whose venv has no pydantic) reads
the same numbers the spec applies: `components.spec.pools` fills them in, the policy's
chat-context-cap defaults to the chat class's cap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CLASS_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    # Interactive: short prompts, tight TTFT, always warm, scale on queue depth.
    "chat": {
        "mode": "standard",
        "maxModelLen": 8192,
        "maxNumSeqs": 64,
        "maxNumBatchedTokens": 8192,
        "replicas": {"min": 1, "max": 4},
        "autoscaling": {"signal": "queue", "target": 4},
        "slo": {"ttftP95Seconds": 1.0, "e2eP95Seconds": 30},
        "timeoutSeconds": 120,
        "defaultMaxTokens": 1024,
        "minConcurrentAtCap": 8,
        "requestsPerMinute": 600,
    },
    # Throughput: long documents, big batches, may scale to zero behind the Knative activator.
    "batch": {
        "mode": "knative",
        "maxModelLen": 32768,
        "maxNumSeqs": 256,
        "maxNumBatchedTokens": 16384,
        "replicas": {"min": 0, "max": 2},
        "autoscaling": {"signal": "concurrency"},  # target: half of maxNumSeqs, see below
        "slo": {"ttftP95Seconds": 30, "e2eP95Seconds": 600},
        "timeoutSeconds": 600,
        "defaultMaxTokens": 4096,
        "minConcurrentAtCap": 1,
        "requestsPerMinute": 60,
    },
}

# --gpu-memory-utilization of a pool that sets none (vLLM's own default differs:
# components.vllm_args.GPU_MEMORY_UTILIZATION).
GPU_MEMORY_UTILIZATION = 0.9

# The longest maxModelLen a class's pool may serve by default: the policy's chat-context-cap
# default (policy/rules/engine.py) and the cap capacity remedies stay under. Batch has none.
CONTEXT_CAPS: Mapping[str, int] = {"chat": CLASS_DEFAULTS["chat"]["maxModelLen"]}
# The request shapes `python -m tools loadtest` sends a pool of each class when its
# `slo.workload` sets none: prompt and output tokens per request, drawn uniformly from
# [min, max]. Chat: short conversational turns; batch: long documents, long answers.
WORKLOAD_DEFAULTS: Mapping[str, Mapping[str, Mapping[str, int]]] = {
    "chat": {"promptTokens": {"min": 64, "max": 1024}, "outputTokens": {"min": 32, "max": 256}},
    "batch": {"promptTokens": {"min": 1024, "max": 8192}, "outputTokens": {"min": 256, "max": 1024}},
}
