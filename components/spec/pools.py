"""The serving pools: one model, one engine configuration and one workload class each,
with the class defaults a pool inherits (declared in `components.pool_defaults`), its
replicas, autoscaling signal and SLO."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from components.pool_defaults import CLASS_DEFAULTS, GPU_MEMORY_UTILIZATION, WORKLOAD_DEFAULTS
from components.spec.base import (
    DURATION_MAX_SECONDS,
    HOSTNAME_PATTERN,
    POOL_NAME_PATTERN,
    ClientName,
    Int32,
    Number,
    Problem,
    Quantity,
    Reason,
    Text,
    _Spec,
)
from components.upstream import KNATIVE_ACTIVATOR_TERMINATION_GRACE_SECONDS as ACTIVATOR_GRACE
from components.upstream import KOURIER_GATEWAY_DRAIN_SECONDS as KOURIER_DRAIN
from components.upstream import KOURIER_GATEWAY_TERMINATION_GRACE_SECONDS as KOURIER_GRACE
from components.vllm_args import TRUST_FLAG_NAMES, managed_flag_clash, option_word, trust_flags_in

# Upper bounds of what a pool's numbers feed. A request's whole timeout (timeoutSeconds, plus
# startupTimeoutSeconds for a pool that scales from zero) is rendered as a Gateway API
# Duration `<n>s`, whose pattern allows five digits: 86400 + 10800 stays below 99999.
MAX_TIMEOUT_SECONDS = 86400
MAX_STARTUP_SECONDS = 10800
# Token counts: vLLM's context and batch sizes are int32 in its config; 2^24 is far above
# any model's context.
MAX_TOKENS = 2**24
# Replicas of one pool, each at least one GPU; the cross-field rules also hold it to what
# its node pool can hold.
MAX_REPLICAS = 1000


class Replicas(_Spec):
    min: Int32 = Field(ge=0, le=MAX_REPLICAS)
    max: Int32 = Field(ge=1, le=MAX_REPLICAS, description="No more replicas than the node pool can hold.")


class Autoscaling(_Spec):
    """Inference signals only: vLLM reserves its memory at start, so CPU/memory say nothing."""

    signal: Literal["queue", "kvCache", "concurrency"] = Field(
        description="queue: vllm:num_requests_waiting per replica; kvCache: vllm:kv_cache_usage_perc; "
        "concurrency: Knative in-flight requests per replica."
    )
    target: Number = Field(gt=0, le=100000)
    scale_down_delay_seconds: Int32 = Field(
        default=900,
        ge=0,
        le=3600,
        description="How long load must stay low before a replica is removed: a GPU pod takes minutes "
        "to load its weights, so a short lull must not kill it. At most 3600 (the HPA and Knative limit).",
    )


def _class_ranges(key: str) -> str:
    return ", ".join(f"{cls} {shape[key]['min']}-{shape[key]['max']}" for cls, shape in WORKLOAD_DEFAULTS.items())


class TokenRange(_Spec):
    """Tokens per request, drawn uniformly from [min, max]."""

    min: Int32 = Field(ge=1, le=MAX_TOKENS)
    max: Int32 = Field(ge=1, le=MAX_TOKENS)


class Workload(_Spec):
    """The requests `python -m tools loadtest` sends to judge the SLO; unset: the class's
    shapes (components/pool_defaults.py WORKLOAD_DEFAULTS)."""

    prompt_tokens: TokenRange | None = Field(
        default=None, description=f"Prompt tokens per request (default {_class_ranges('promptTokens')})."
    )
    output_tokens: TokenRange | None = Field(
        default=None, description=f"Output tokens per request (default {_class_ranges('outputTokens')})."
    )


class Slo(_Spec):
    ttft_p95_seconds: Number = Field(
        gt=0, le=DURATION_MAX_SECONDS, description="Time to first token, 95th percentile; within e2eP95Seconds."
    )
    e2e_p95_seconds: Number = Field(
        gt=0,
        le=DURATION_MAX_SECONDS,
        alias="e2eP95Seconds",
        description="End-to-end request latency, 95th percentile; within the pool's request timeout.",
    )
    workload: Workload | None = Field(
        default=None, description="The request shapes the SLO holds for, as the load test sends them."
    )


class AcceptedRisks(_Spec):
    """Risks a pool runs on purpose, each with the reason its reviewers accepted it."""

    knative_proxy_restart: Reason | None = Field(
        default=None,
        description="Why this Knative pool may run requests longer than Knative's proxies drain when they "
        f"restart: Kourier's gateway, which carries every request to a Knative pool, drains {KOURIER_DRAIN} s "
        f"(terminationGracePeriodSeconds {KOURIER_GRACE}), the activator, in front of a pool at zero, "
        f"{ACTIVATOR_GRACE} s, and the Knative Operator can raise neither; a request still running when one "
        "restarts (a Knative upgrade, a node drain, Kourier's autoscaler scaling down) is cut. Required "
        "when the pool's request timeout (timeoutSeconds, plus startupTimeoutSeconds for a pool that "
        f"scales from zero) is above {KOURIER_DRAIN} s; refused otherwise, and on Standard pools.",
    )


class TrustedArg(_Spec):
    """One flag of `extraArgs` that changes what the server trusts, accepted on purpose."""

    flag: Text = Field(
        pattern=r"^--[a-z0-9][-a-z0-9]*$",
        description="The flag's full name as vLLM spells it (e.g. --trust-remote-code), whatever "
        "spelling extraArgs uses.",
    )
    reason: Reason = Field(
        description="Why this pool needs it, for the reviewer (a ticket, the review that accepted the code).",
    )


class PoolSpec(_Spec):
    """One serving pool: one model, one engine configuration, one workload class."""

    name: Text = Field(pattern=POOL_NAME_PATTERN, max_length=40)
    workload_class: Literal["chat", "batch"] = Field(alias="class")
    model: Text = Field(max_length=63, description="A name from `models`.")
    node_pool: Text = Field(max_length=63, description="A name from `nodePools`.")
    mode: Literal["standard", "knative"] = Field(
        description="KServe deployment mode: standard (Deployment + KEDA) or knative (scale to zero)."
    )
    hostname: Text = Field(pattern=HOSTNAME_PATTERN, description="Clients call https://<hostname>/v1.")
    max_model_len: Int32 = Field(gt=0, le=MAX_TOKENS, description="Context cap in tokens (--max-model-len).")
    max_num_seqs: Int32 = Field(gt=0, le=65536, description="Sequences batched at once (--max-num-seqs).")
    max_num_batched_tokens: Int32 = Field(
        gt=0, le=MAX_TOKENS, description="Tokens per engine step (--max-num-batched-tokens)."
    )
    gpu_memory_utilization: Number = Field(default=GPU_MEMORY_UTILIZATION, gt=0, le=0.98)
    tensor_parallel_size: Int32 = Field(default=1, ge=1, le=64)
    kv_cache_dtype: Literal["auto", "fp8"] = "auto"
    replicas: Replicas
    autoscaling: Autoscaling
    slo: Slo
    timeout_seconds: Int32 = Field(
        gt=0,
        le=MAX_TIMEOUT_SECONDS,
        description=f"Request timeout at the gateway and in KServe; at most {MAX_TIMEOUT_SECONDS} (a day).",
    )
    default_max_tokens: Int32 = Field(
        gt=0,
        le=MAX_TOKENS,
        description="Output-token limit: the default for requests without max_tokens; vLLM also "
        "caps requests that ask for more at this value.",
    )
    min_concurrent_at_cap: Int32 = Field(ge=1, le=65536, description="Sequences the KV cache must hold at the cap.")
    measured_kv_cache_tokens: Int32 | None = Field(
        default=None,
        gt=0,
        le=2**31 - 1,
        description="The KV-cache size vLLM logged for this pool on its GPU ('GPU KV cache size: N tokens'). "
        "Required for models the capacity model does not size (MoE, multimodal); used as is, not computed.",
    )
    startup_timeout_seconds: Int32 = Field(
        default=1200,
        ge=60,
        le=MAX_STARTUP_SECONDS,
        description="Model load + CUDA graph capture budget for the startup probe; at most "
        f"{MAX_STARTUP_SECONDS} (3 h).",
    )
    cpu: Quantity | None = Field(default=None, description="CPU request; default 4 per GPU.")
    memory: Quantity | None = Field(default=None, description="Memory request and limit; default 32Gi per GPU.")
    extra_args: tuple[Annotated[Text, Field(min_length=1, max_length=4096)], ...] = Field(
        default=(), description="Extra vLLM flags appended verbatim after ours; may not repeat ours."
    )
    trusted_args: tuple[TrustedArg, ...] = Field(
        default=(),
        description="The opt-in for extraArgs flags that change trust or integrity (--trust-remote-code, "
        "--middleware, --load-format other than safetensors, logging flags, ...: TRUST_FLAGS in "
        "components/vllm_args.py): each such flag is refused unless named here with a reason.",
    )
    accepted_risks: AcceptedRisks = Field(
        default=AcceptedRisks(), description="Risks this pool runs on purpose, each with its reason."
    )
    requests_per_minute: Int32 = Field(
        gt=0,
        le=10**7,
        description="Requests one API-key client may send per minute through the gateway, a multiple of "
        "gateway.replicas: each proxy allows its equal share.",
    )
    clients: tuple[ClientName, ...] | None = Field(
        default=None, min_length=1, description="API-key clients allowed on this pool; default every client."
    )

    @model_validator(mode="before")
    @classmethod
    def _apply_class_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("class") not in CLASS_DEFAULTS:
            return data
        merged = dict(data)
        for key, default in CLASS_DEFAULTS[data["class"]].items():
            given = merged.get(key)
            if given is None and _snake(key) not in merged:
                merged[key] = default
            elif isinstance(default, dict) and isinstance(given, dict):
                merged[key] = {**default, **given}
        return _with_concurrency_target(merged)

    @property
    def cpu_request(self) -> str:
        return self.cpu or str(4 * self.tensor_parallel_size)

    @property
    def memory_request(self) -> str:
        return self.memory or f"{32 * self.tensor_parallel_size}Gi"

    @property
    def request_timeout_seconds(self) -> int:
        """How long a request may take end to end: `timeoutSeconds`, plus `startupTimeoutSeconds`
        for a pool that may scale to zero, since Knative's activator holds the request through
        the cold start and counts that wait against the same revision timeout."""
        cold_start = self.startup_timeout_seconds if self.mode == "knative" and self.replicas.min == 0 else 0
        return self.timeout_seconds + cold_start


def _with_concurrency_target(pool: dict[str, Any]) -> dict[str, Any]:
    """Knative's default target: half the engine's batch, so a replica is added well before
    requests start queueing inside vLLM."""
    autoscaling = pool.get("autoscaling")
    if not isinstance(autoscaling, dict) or autoscaling.get("signal") != "concurrency" or "target" in autoscaling:
        return pool
    seqs = pool.get("maxNumSeqs")
    target = max(1, seqs // 2) if isinstance(seqs, int) and seqs > 0 else None
    return {**pool, "autoscaling": {**autoscaling, "target": target}}


def _snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


# --- pool rules -----------------------------------------------------------------------


def pool_problems(path: str, pool: PoolSpec) -> Iterator[Problem]:
    """What is wrong with one pool on its own, before its model and node pool are looked up."""
    if pool.replicas.min > pool.replicas.max:
        yield f"{path}.replicas.min", f"{pool.replicas.min} is above replicas.max ({pool.replicas.max})"
    if pool.workload_class == "chat" and pool.replicas.min < 1:
        yield f"{path}.replicas.min", "chat pools keep at least one warm replica (a cold start takes minutes)"
    if pool.max_num_batched_tokens < pool.max_num_seqs:
        yield (
            f"{path}.maxNumBatchedTokens",
            f"{pool.max_num_batched_tokens} is below maxNumSeqs ({pool.max_num_seqs}); vLLM refuses to start",
        )
    if pool.default_max_tokens >= pool.max_model_len:
        yield (
            f"{path}.defaultMaxTokens",
            f"{pool.default_max_tokens} leaves no room for a prompt within maxModelLen ({pool.max_model_len})",
        )
    if pool.slo.ttft_p95_seconds > pool.slo.e2e_p95_seconds:
        yield (
            f"{path}.slo.ttftP95Seconds",
            f"{pool.slo.ttft_p95_seconds} is above slo.e2eP95Seconds; the first token comes first",
        )
    if pool.slo.e2e_p95_seconds > pool.timeout_seconds:
        yield (
            f"{path}.slo.e2eP95Seconds",
            f"{pool.slo.e2e_p95_seconds} is above timeoutSeconds ({pool.timeout_seconds}): the gateway ends a "
            "request before the objective could be met",
        )
    yield from _autoscaling_problems(path, pool)
    yield from _workload_problems(path, pool)
    clients = pool.clients or ()
    for index, client in enumerate(clients):
        if clients.index(client) != index:
            yield f"{path}.clients[{index}]", f"'{client}' is listed twice"
    for index, arg in enumerate(pool.extra_args):
        clash = managed_flag_clash(arg)
        if clash:
            yield f"{path}.extraArgs[{index}]", clash
    yield from _trust_problems(path, pool)


def _trust_problems(path: str, pool: PoolSpec) -> Iterator[Problem]:
    """Trust flags in extraArgs need the pool's opt-in, and an opt-in needs a flag that uses it."""
    accepted: dict[str, int] = {}
    for index, entry in enumerate(pool.trusted_args):
        where = f"{path}.trustedArgs[{index}].flag"
        if entry.flag not in TRUST_FLAG_NAMES:
            hint = difflib.get_close_matches(entry.flag, TRUST_FLAG_NAMES, n=1)
            suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
            yield (
                where,
                f"'{entry.flag}' needs no opt-in{suggestion}; TRUST_FLAGS in components/vllm_args.py lists those that do",
            )
        elif entry.flag in accepted:
            yield where, f"'{entry.flag}' is already accepted by trustedArgs[{accepted[entry.flag]}]"
        accepted.setdefault(entry.flag, index)
    used = set()
    for index, flag in trust_flags_in(pool.extra_args):
        used.add(flag.name)
        if flag.name not in accepted:
            spelled = option_word(pool.extra_args[index])
            yield (
                f"{path}.extraArgs[{index}]",
                f"'{spelled}' sets {flag.name}, which {flag.risk}; to accept it, name it in {path}.trustedArgs "
                "with a reason",
            )
    for flag_name, index in accepted.items():
        if flag_name in TRUST_FLAG_NAMES and flag_name not in used:
            yield f"{path}.trustedArgs[{index}].flag", f"no extraArgs entry sets {flag_name}; remove the opt-in"


_SIGNALS_BY_MODE = {"standard": ("queue", "kvCache"), "knative": ("concurrency",)}


def _autoscaling_problems(path: str, pool: PoolSpec) -> Iterator[Problem]:
    signal, target = pool.autoscaling.signal, pool.autoscaling.target
    allowed = _SIGNALS_BY_MODE[pool.mode]
    if signal not in allowed:
        yield (
            f"{path}.autoscaling.signal",
            f"'{signal}' does not apply to {pool.mode} mode; allowed: {', '.join(allowed)}",
        )
    elif signal == "kvCache" and target > 1:
        yield f"{path}.autoscaling.target", f"{target} is a KV-cache usage fraction and must be at most 1"
    elif signal == "concurrency" and target > pool.max_num_seqs:
        yield (
            f"{path}.autoscaling.target",
            f"{target} concurrent requests per replica is above maxNumSeqs ({pool.max_num_seqs})",
        )


def _workload_problems(path: str, pool: PoolSpec) -> Iterator[Problem]:
    workload = pool.slo.workload
    ranges = {"promptTokens": workload.prompt_tokens, "outputTokens": workload.output_tokens} if workload else {}
    for name, tokens in ranges.items():
        if tokens is not None and tokens.min > tokens.max:
            yield f"{path}.slo.workload.{name}.min", f"{tokens.min} is above max ({tokens.max})"
    longest = sum(tokens.max for tokens in ranges.values() if tokens is not None)
    if workload and workload.prompt_tokens and workload.output_tokens and longest > pool.max_model_len:
        yield (
            f"{path}.slo.workload",
            f"the longest request ({longest} tokens, prompt and output) is above maxModelLen ({pool.max_model_len})",
        )
