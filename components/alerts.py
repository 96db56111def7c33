"""Alert rules of one serving pool, derived from its SLO (DESIGN.md section 2, observability).

A pod that Kubernetes calls Running can still keep users waiting: these alerts watch the
engine itself (time to first token, end-to-end latency, queue, KV cache, failed
requests) and the pods that hold the GPUs. Each alert links to its section of
docs/runbook.md. Pure Python, no Pulumi imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components import conventions, metrics
from components.spec import MonitoringSpec, PoolSpec

TTFT_ABOVE_SLO = "VllmTtftP95AboveSlo"
E2E_ABOVE_SLO = "VllmE2eP95AboveSlo"
QUEUE_GROWING = "VllmQueueGrowing"
KV_CACHE_SATURATED = "VllmKvCacheSaturated"
REQUESTS_FAILING = "VllmRequestsFailing"
POD_RESTARTING = "VllmPodRestarting"
ALERT_NAMES = (TTFT_ABOVE_SLO, E2E_ABOVE_SLO, QUEUE_GROWING, KV_CACHE_SATURATED, REQUESTS_FAILING, POD_RESTARTING)

RESTART_WINDOW = "15m"


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    severity: str
    summary: str
    description: str
    sustained: bool = True  # False: fire on the first evaluation that matches


def rule_group(pool: PoolSpec, namespace: str, monitoring: MonitoringSpec) -> dict[str, Any]:
    """The PrometheusRule group of one pool."""
    return {
        "name": group_name(pool),
        "rules": [_rule(alert, pool, monitoring) for alert in pool_alerts(pool, namespace, monitoring)],
    }


def group_name(pool: PoolSpec) -> str:
    return f"llmserving.{pool.name}"


def runbook_anchor(alert_name: str) -> str:
    """The GitHub-style anchor of the runbook heading named after the alert."""
    return alert_name.lower()


def _rule(alert: Alert, pool: PoolSpec, monitoring: MonitoringSpec) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "alert": alert.name,
        "expr": alert.expr,
        "labels": {"severity": alert.severity, metrics.POOL: pool.name, metrics.CLASS: pool.workload_class},
        "annotations": {
            "summary": alert.summary,
            "description": alert.description,
            "runbook_url": f"{monitoring.runbook_url}#{runbook_anchor(alert.name)}",
        },
    }
    if alert.sustained:
        rule["for"] = f"{monitoring.alert_for_minutes}m"
    return rule


@dataclass(frozen=True)
class _Scope:
    """What every alert of one pool is built from."""

    pool: PoolSpec
    namespace: str
    monitoring: MonitoringSpec

    @property
    def engine(self) -> tuple[str, ...]:
        return metrics.vllm_pool(self.namespace, self.pool.name)

    @property
    def held(self) -> str:
        return f"{self.monitoring.alert_for_minutes}m"


def pool_alerts(pool: PoolSpec, namespace: str, monitoring: MonitoringSpec) -> list[Alert]:
    scope = _Scope(pool, namespace, monitoring)
    return [
        _latency_alert(scope, TTFT_ABOVE_SLO, "time to first token", metrics.VLLM_TTFT, pool.slo.ttft_p95_seconds),
        _latency_alert(scope, E2E_ABOVE_SLO, "end-to-end latency", metrics.VLLM_E2E_LATENCY, pool.slo.e2e_p95_seconds),
        _queue_growing(scope),
        _kv_cache_saturated(scope),
        _requests_failing(scope),
        _pod_restarting(scope),
    ]


def _latency_alert(scope: _Scope, name: str, what: str, histogram: str, slo_seconds: float) -> Alert:
    pool, slo = scope.pool, metrics.number(slo_seconds)
    return Alert(
        name=name,
        expr=f"{metrics.histogram_quantile(0.95, histogram, scope.engine)} > {slo}",
        severity="critical",
        summary=f"Pool {pool.name}: p95 {what} above its {slo}s SLO",
        description=(
            f"p95 {what} of pool {pool.name} (model {pool.model}) is {{{{ $value | humanizeDuration }}}} "
            f"over the last {metrics.RATE_WINDOW}, above the SLO of {slo}s for {scope.held}."
        ),
    )


def _queue_growing(scope: _Scope) -> Alert:
    pool = scope.pool
    waiting = metrics.by("sum", metrics.POOL, metrics.series(metrics.VLLM_REQUESTS_WAITING, *scope.engine))
    return Alert(
        name=QUEUE_GROWING,
        expr=f"{waiting} > 0 and deriv({waiting}[{scope.held}:1m]) > 0",
        severity="warning",
        summary=f"Pool {pool.name}: requests queue up inside vLLM and the queue keeps growing",
        description=(
            f"{{{{ $value }}}} requests are waiting in pool {pool.name} and the queue has grown for {scope.held}. "
            f"Autoscaling adds replicas up to {pool.replicas.max} "
            f"({pool.autoscaling.signal} target {metrics.number(pool.autoscaling.target)} per replica)."
        ),
    )


def _kv_cache_saturated(scope: _Scope) -> Alert:
    pool, threshold = scope.pool, scope.monitoring.kv_cache_saturation
    pod = f"{metrics.POOL}, pod"
    usage, waiting = (
        metrics.by("max", pod, metrics.series(metric, *scope.engine))
        for metric in (metrics.VLLM_KV_CACHE_USAGE, metrics.VLLM_REQUESTS_WAITING)
    )
    return Alert(
        name=KV_CACHE_SATURATED,
        expr=f"{usage} > {metrics.number(threshold)} and on ({pod}) {waiting} > 0",
        severity="warning",
        summary=f"Pool {pool.name}: KV cache full while requests wait",
        description=(
            f"KV cache of {{{{ $labels.pod }}}} in pool {pool.name} is {{{{ $value | humanizePercentage }}}} "
            f"used (alerting above {threshold:.0%}) with requests waiting, for {scope.held}: new sequences "
            f"cannot be admitted until running ones finish (max-num-seqs {pool.max_num_seqs}, "
            f"max-model-len {pool.max_model_len})."
        ),
    )


def _requests_failing(scope: _Scope) -> Alert:
    pool, threshold = scope.pool, scope.monitoring.error_ratio
    failed = metrics.matching(metrics.FINISHED_REASON, "|".join(metrics.FAILED_FINISH_REASONS))
    finished, failing = (
        metrics.by("sum", metrics.POOL, metrics.rate(metrics.VLLM_REQUEST_SUCCESS, *scope.engine, *only))
        for only in ((), (failed,))
    )
    return Alert(
        name=REQUESTS_FAILING,
        expr=f"{failing} / {finished} > {metrics.number(threshold)}",
        severity="critical",
        summary=f"Pool {pool.name}: requests end aborted or in error",
        description=(
            f"{{{{ $value | humanizePercentage }}}} of the requests finished by pool {pool.name} over the last "
            f"{metrics.RATE_WINDOW} ended with finished_reason abort or error (alerting above {threshold:.0%}) "
            f"for {scope.held}."
        ),
    )


def _pod_restarting(scope: _Scope) -> Alert:
    pool = scope.pool
    pods = metrics.pool_pods("namespace", scope.namespace, "pod", conventions.predictor_pod_regex(pool.name))
    restarts = f"increase({metrics.series(metrics.KSM_CONTAINER_RESTARTS, *pods)}[{RESTART_WINDOW}])"
    return Alert(
        name=POD_RESTARTING,
        expr=f"{metrics.by('sum', 'pod', restarts)} > 0",
        severity="warning",
        summary=f"Pool {pool.name}: a GPU pod restarted",
        description=(
            f"Pod {{{{ $labels.pod }}}} of pool {pool.name} restarted {{{{ $value | humanize }}}} times in the "
            f"last {RESTART_WINDOW}. Each restart reloads the model (startup budget {pool.startup_timeout_seconds}s) "
            f"and leaves the pool a replica short meanwhile."
        ),
        sustained=False,
    )
