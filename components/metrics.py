"""The metric names our PromQL may reference, and the labels it selects on: one list.

Every expression we emit (alerts, dashboard panels, KEDA queries) names only metrics
from `KNOWN_METRICS`, and the tests and `python -m tools check` parse each expression
and enforce that. A metric upstream renames or drops (vLLM removed
`vllm:gpu_cache_usage_perc` and `vllm:time_per_output_token_seconds`) is then fixed
here once, instead of an alert silently matching nothing.

Pure Python, no Pulumi imports.
"""

from __future__ import annotations

# --- vLLM v0.32 (vllm docs/design/metrics.md, vllm/v1/metrics/loggers.py) -------------

VLLM_REQUESTS_RUNNING = "vllm:num_requests_running"
VLLM_REQUESTS_WAITING = "vllm:num_requests_waiting"
VLLM_KV_CACHE_USAGE = "vllm:kv_cache_usage_perc"  # a fraction, 1 = full, despite the name
VLLM_PROMPT_TOKENS = "vllm:prompt_tokens_total"
VLLM_GENERATION_TOKENS = "vllm:generation_tokens_total"
VLLM_REQUEST_SUCCESS = "vllm:request_success_total"  # every finished request, by finished_reason
VLLM_PREEMPTIONS = "vllm:num_preemptions_total"
VLLM_PREFIX_CACHE_QUERIES = "vllm:prefix_cache_queries_total"
VLLM_PREFIX_CACHE_HITS = "vllm:prefix_cache_hits_total"

VLLM_TTFT = "vllm:time_to_first_token_seconds"
VLLM_INTER_TOKEN_LATENCY = "vllm:inter_token_latency_seconds"
VLLM_TIME_PER_OUTPUT_TOKEN = "vllm:request_time_per_output_token_seconds"
VLLM_E2E_LATENCY = "vllm:e2e_request_latency_seconds"
VLLM_QUEUE_TIME = "vllm:request_queue_time_seconds"
VLLM_PREFILL_TIME = "vllm:request_prefill_time_seconds"
VLLM_DECODE_TIME = "vllm:request_decode_time_seconds"
VLLM_REQUEST_PROMPT_TOKENS = "vllm:request_prompt_tokens"
VLLM_REQUEST_GENERATION_TOKENS = "vllm:request_generation_tokens"

VLLM_HISTOGRAMS = (
    VLLM_TTFT, VLLM_INTER_TOKEN_LATENCY, VLLM_TIME_PER_OUTPUT_TOKEN, VLLM_E2E_LATENCY, VLLM_QUEUE_TIME,
    VLLM_PREFILL_TIME, VLLM_DECODE_TIME, VLLM_REQUEST_PROMPT_TOKENS, VLLM_REQUEST_GENERATION_TOKENS,
)  # fmt: skip
VLLM_SAMPLES = (
    VLLM_REQUESTS_RUNNING, VLLM_REQUESTS_WAITING, VLLM_KV_CACHE_USAGE, VLLM_PROMPT_TOKENS,
    VLLM_GENERATION_TOKENS, VLLM_REQUEST_SUCCESS, VLLM_PREEMPTIONS, VLLM_PREFIX_CACHE_QUERIES,
    VLLM_PREFIX_CACHE_HITS,
)  # fmt: skip

# Names older dashboards still use; vLLM v0.32 no longer exports them.
VLLM_REMOVED = ("vllm:gpu_cache_usage_perc", "vllm:time_per_output_token_seconds")

# `finished_reason` values (vllm/v1/engine/__init__.py FINISH_REASON_STRINGS): stop,
# length, abort (client went away, or the engine aborted it), error (internal, answered
# with HTTP 500), repetition. The last two do not exist in every vLLM release, which
# only means their series are absent.
FINISHED_REASON = "finished_reason"
FAILED_FINISH_REASONS = ("abort", "error")

# --- NVIDIA DCGM exporter (etc/default-counters.csv; scraped by the GPU Operator) -----

DCGM_GPU_UTIL = "DCGM_FI_DEV_GPU_UTIL"  # percent
DCGM_FB_USED = "DCGM_FI_DEV_FB_USED"  # MiB
DCGM_FB_FREE = "DCGM_FI_DEV_FB_FREE"  # MiB
DCGM_SAMPLES = (DCGM_GPU_UTIL, DCGM_FB_USED, DCGM_FB_FREE)

# The exporter labels each GPU with the pod using it as `namespace`/`pod`; the GPU
# Operator's ServiceMonitor keeps honorLabels false, so Prometheus renames them.
DCGM_NAMESPACE = "exported_namespace"
DCGM_POD = "exported_pod"

# --- kube-state-metrics -----------------------------------------------------------------

KSM_CONTAINER_RESTARTS = "kube_pod_container_status_restarts_total"
KSM_POD_READY = "kube_pod_status_ready"  # by condition: "true" | "false" | "unknown"
KSM_POD_PHASE = "kube_pod_status_phase"  # by phase: Pending | Running | ...
KSM_SAMPLES = (KSM_CONTAINER_RESTARTS, KSM_POD_READY, KSM_POD_PHASE)

# --- the one list ---------------------------------------------------------------------

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

KNOWN_METRICS = frozenset(
    (*VLLM_SAMPLES, *(f"{name}{suffix}" for name in VLLM_HISTOGRAMS for suffix in HISTOGRAM_SUFFIXES),
     *DCGM_SAMPLES, *KSM_SAMPLES)
)  # fmt: skip

# --- target labels our PodMonitor puts on every vLLM series -----------------------------

POOL = "pool"
CLASS = "class"
MODEL = "model"


# --- selectors ----------------------------------------------------------------------


def equal(label: str, value: str) -> str:
    return f'{label}="{value}"'


def matching(label: str, pattern: str) -> str:
    return f'{label}=~"{pattern}"'


def series(metric: str, *matchers: str) -> str:
    """`metric{m1,m2}`; `metric` must be one of KNOWN_METRICS."""
    if metric not in KNOWN_METRICS:
        raise ValueError(f"{metric} is not a known metric name; add it to components/metrics.py")
    return f"{metric}{{{','.join(matchers)}}}"


def bucket(histogram: str, *matchers: str) -> str:
    return series(f"{histogram}_bucket", *matchers)


def vllm_pool(namespace: str, pool: str) -> tuple[str, ...]:
    """Matchers for one pool's vLLM series (the target labels our PodMonitor adds)."""
    return equal("namespace", namespace), equal(POOL, pool)


def pool_pods(namespace_label: str, namespace: str, pod_label: str, pod_regex: str) -> tuple[str, ...]:
    """Matchers for series about a pool's pods from exporters that know pods, not pools."""
    return equal(namespace_label, namespace), matching(pod_label, pod_regex)


# --- expressions --------------------------------------------------------------------

RATE_WINDOW = "5m"


def by(operator: str, labels: str, expr: str) -> str:
    """An aggregation that keeps `labels` (comma-separated), e.g. `sum by (pool) (expr)`."""
    return f"{operator} by ({labels}) ({expr})"


def rate(metric: str, *matchers: str) -> str:
    return f"rate({series(metric, *matchers)}[{RATE_WINDOW}])"


def histogram_quantile(quantile: float, histogram: str, matchers: tuple[str, ...], keep: str = POOL) -> str:
    """The `quantile` of a vLLM histogram over RATE_WINDOW, one series per value of `keep`."""
    buckets = f"rate({bucket(histogram, *matchers)}[{RATE_WINDOW}])"
    return f"histogram_quantile({quantile}, {by('sum', f'{keep}, le', buckets)})"


def number(value: float) -> str:
    """A threshold as PromQL and people write it: 1 rather than 1.0."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
