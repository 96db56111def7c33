"""Every alert we generate, evaluated by Prometheus's own rule engine (`promtool`, from
Debian's `prometheus` package, which scripts/test installs).

The rule files are the rendered PrometheusRules of every shipped stack (their `spec`, which
is a Prometheus rules file). The unit tests are generated here from the same render and
the stack's spec, not copied: for each alert, input series shaped like real vLLM /
kube-state-metrics output after our PodMonitor's relabelings (vLLM's own `model_name` and
`engine`, the operator's `namespace`, `pod`, `container`, `endpoint`, `job`, `instance`,
and our `pool`, `class`, `model`), turning unhealthy at ONSET. Each case asserts through
Prometheus's `ALERTS` series that the alert is pending (not firing) one evaluation before
its `for` has elapsed, fires exactly once with the rule's labels when it has, and that the
healthy series never make it pending or firing.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from components import alerts, metrics
from components.spec import MonitoringSpec, PoolSpec
from tests import serving_stacks
from tests.conftest import SHIPPED_STACKS
from tools import promql
from tools.stackfile import load_stack

pytestmark = pytest.mark.serving

ONSET_MINUTES = 10  # healthy (or idle) before, unhealthy from this sample on
HEALTHY_CHECK_MINUTES = 60
PER_MINUTE = 10  # requests finished per minute in the synthetic series


@dataclass(frozen=True)
class RuleCase:
    """One pool's rendered rule group with what its tests are built from."""

    where: str
    group: dict[str, Any]
    pool: PoolSpec
    monitoring: MonitoringSpec
    served: serving_stacks.ServedPool

    @property
    def id(self) -> str:
        return self.where


def _rule_cases() -> list[RuleCase]:
    cases: dict[str, RuleCase] = {}
    for stack in SHIPPED_STACKS:
        spec = load_stack(stack).spec
        for pool_name, groups in serving_stacks.rule_groups(stack).items():
            served = serving_stacks.served_pool(f"{stack}/{pool_name}")
            pool = next(p for p in spec.pools if p.name == pool_name)
            for group in groups:
                key = json.dumps(group, sort_keys=True)
                cases.setdefault(key, RuleCase(f"{stack}/{pool_name}", group, pool, spec.monitoring, served))
    return list(cases.values())


CASES = _rule_cases()


def _promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def _write_rules(case: RuleCase, directory: Path) -> Path:
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [case.group]}, sort_keys=False), encoding="utf-8")
    return path


def test_every_shipped_pool_has_its_rule_group_under_test():
    tested = {json.dumps(case.group, sort_keys=True) for case in CASES}
    for served in serving_stacks.served_pools():
        for where in served.where:
            stack, pool = where.split("/")
            groups = serving_stacks.rule_groups(stack).get(pool)
            assert groups, f"{where}: no PrometheusRule group rendered"
            assert {json.dumps(group, sort_keys=True) for group in groups} <= tested, where
    assert {rule["alert"] for case in CASES for rule in case.group["rules"]} == set(alerts.ALERT_NAMES)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_promtool_accepts_every_rendered_prometheus_rule(stack, tmp_path):
    rules = [o for o in serving_stacks.rendered(stack).manifests if o["kind"] == "PrometheusRule"]
    assert rules, f"{stack} renders no PrometheusRule"
    for obj in rules:
        path = tmp_path / f"{obj['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(obj["spec"], sort_keys=False), encoding="utf-8")
        result = _promtool("check", "rules", str(path), cwd=tmp_path)
        assert result.returncode == 0, f"{stack} {obj['metadata']['name']}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_every_alert_fires_after_its_for_and_not_on_healthy_series(case, tmp_path):
    rules_file = _write_rules(case, tmp_path)
    tests = [test for rule in case.group["rules"] for test in _alert_tests(case, rule)]
    test_file = tmp_path / "tests.yaml"
    test_file.write_text(
        yaml.safe_dump({"rule_files": [rules_file.name], "evaluation_interval": "1m", "tests": tests}, sort_keys=False),
        encoding="utf-8",
    )
    result = _promtool("test", "rules", test_file.name, cwd=tmp_path)
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n--- {test_file}:\n{test_file.read_text()[:4000]}"


# --- the generated cases -------------------------------------------------------------


def _alert_tests(case: RuleCase, rule: dict[str, Any]) -> Iterator[dict[str, Any]]:
    name = rule["alert"]
    scenario = SCENARIOS[name](case)
    held = _minutes(rule.get("for", "0m"))
    _check_series_match_expression(rule["expr"], scenario.unhealthy + scenario.healthy)
    firing = {"alertname": name, "alertstate": "firing", **rule["labels"]}
    pending = {**firing, "alertstate": "pending"}
    before = [
        _count_test(firing, ONSET_MINUTES + held - 1, expected=0),
        _count_test(pending, ONSET_MINUTES + held - 1, expected=1 if held else 0),
    ]
    yield {
        "name": f"{case.where} {name}: pending before its for ({held}m), firing once after",
        "interval": "1m",
        "input_series": _series(scenario.unhealthy, ONSET_MINUTES + held + 5),
        "promql_expr_test": [*before, _count_test(firing, ONSET_MINUTES + held, expected=1)],
    }
    quiet = {"alertname": name}
    yield {
        "name": f"{case.where} {name}: never pending or firing on healthy series",
        "interval": "1m",
        "input_series": _series(scenario.healthy, HEALTHY_CHECK_MINUTES + 1),
        "promql_expr_test": [
            _count_test(quiet, minute, expected=0) for minute in (ONSET_MINUTES, HEALTHY_CHECK_MINUTES)
        ],
    }


def _count_test(labels: dict[str, str], minute: int, expected: int) -> dict[str, Any]:
    matchers = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return {
        "expr": f"count(ALERTS{{{matchers}}})",
        "eval_time": f"{minute}m",
        "exp_samples": [{"labels": "{}", "value": expected}] if expected else [],
    }


def _minutes(duration: str) -> int:
    match = re.fullmatch(r"(\d+)m", duration)
    assert match, f"unexpected for: {duration}"
    return int(match.group(1))


# A series is (metric name, labels, value at minute m).
Series = tuple[str, dict[str, str], Callable[[int], float]]


@dataclass(frozen=True)
class Scenario:
    unhealthy: list[Series]
    healthy: list[Series]


def _series(series: list[Series], minutes: int) -> list[dict[str, str]]:
    return [
        {"series": _selector(name, labels), "values": " ".join(metrics.number(value(m)) for m in range(minutes + 1))}
        for name, labels, value in series
    ]


def _selector(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "}"


def _vllm_labels(case: RuleCase) -> dict[str, str]:
    """A vLLM series of this pool as Prometheus stores it after our PodMonitor."""
    served = case.served
    return {
        "model_name": served.served_model_name,  # vLLM's own labels (vllm/v1/metrics/loggers.py)
        "engine": "0",
        "namespace": served.namespace,  # the Prometheus Operator's target labels
        "pod": serving_stacks.pod_name(served),
        "container": "kserve-container",
        "endpoint": "http1",
        "job": f"monitoring/{served.namespace}-vllm",
        "instance": "10.0.12.34:8080",
        **serving_stacks.target_labels(served),  # ours: pool, class, model
    }


def _ksm_labels(case: RuleCase) -> dict[str, str]:
    """A kube-state-metrics pod series (its own namespace/pod labels, honorLabels)."""
    return {
        "namespace": case.served.namespace,
        "pod": serving_stacks.pod_name(case.served),
        "container": "kserve-container",
        "uid": "6f1c2f3e-0000-4000-8000-000000000001",
        "job": "kube-state-metrics",
        "instance": "10.0.3.4:8080",
    }


def _after_onset(before: float, per_minute: float, start: float = 0) -> Callable[[int], float]:
    """A counter: `start` until ONSET, then growing `per_minute`; `before` per minute ahead of it."""
    return lambda m: start + before * min(m, ONSET_MINUTES) + per_minute * max(0, m - ONSET_MINUTES + 1)


def _step(before: float, after: float) -> Callable[[int], float]:
    return lambda m: before if m < ONSET_MINUTES else after


def _constant(value: float) -> Callable[[int], float]:
    return lambda m: value


def _latency(case: RuleCase, histogram: str, slo: float) -> Scenario:
    """Buckets below and above the SLO: unhealthy traffic lands between slo/2 and 4*slo."""
    labels = _vllm_labels(case)
    low, high = metrics.number(slo / 2), metrics.number(slo * 4)

    def buckets(in_low: Callable[[int], float], in_high: Callable[[int], float]) -> list[Series]:
        name = f"{histogram}_bucket"
        cumulative = lambda m: in_low(m) + in_high(m)  # noqa: E731
        return [(name, {**labels, "le": low}, in_low), (name, {**labels, "le": high}, cumulative),
                (name, {**labels, "le": "+Inf"}, cumulative)]  # fmt: skip

    return Scenario(
        unhealthy=buckets(_constant(0), _after_onset(0, PER_MINUTE)),
        healthy=buckets(_after_onset(PER_MINUTE, PER_MINUTE), _constant(0)),
    )


def _queue(case: RuleCase) -> Scenario:
    labels = _vllm_labels(case)
    growing = lambda m: max(0, m - ONSET_MINUTES + 1)  # noqa: E731
    return Scenario(
        unhealthy=[(metrics.VLLM_REQUESTS_WAITING, labels, growing)],
        healthy=[(metrics.VLLM_REQUESTS_WAITING, labels, _constant(3))],  # a steady queue is not growing
    )


def _kv_cache(case: RuleCase) -> Scenario:
    labels, threshold = _vllm_labels(case), case.monitoring.kv_cache_saturation
    full = (threshold + 1) / 2
    return Scenario(
        unhealthy=[(metrics.VLLM_KV_CACHE_USAGE, labels, _step(threshold / 2, full)),
                   (metrics.VLLM_REQUESTS_WAITING, labels, _step(0, 2))],
        healthy=[(metrics.VLLM_KV_CACHE_USAGE, labels, _constant(full)),  # full, but nobody waits
                 (metrics.VLLM_REQUESTS_WAITING, labels, _constant(0))],
    )  # fmt: skip


def _failing(case: RuleCase) -> Scenario:
    labels = _vllm_labels(case)

    def finished(reason: str, value: Callable[[int], float]) -> Series:
        return (metrics.VLLM_REQUEST_SUCCESS, {**labels, metrics.FINISHED_REASON: reason}, value)

    ok = [finished("stop", _after_onset(PER_MINUTE, PER_MINUTE)), finished("length", _after_onset(1, 1))]
    return Scenario(
        unhealthy=[*ok, finished(metrics.FAILED_FINISH_REASONS[0], _after_onset(0, 10 * PER_MINUTE)),
                   finished(metrics.FAILED_FINISH_REASONS[1], _after_onset(0, 10 * PER_MINUTE))],
        healthy=[*ok, finished(metrics.FAILED_FINISH_REASONS[0], _constant(2)),  # old aborts only
                 finished(metrics.FAILED_FINISH_REASONS[1], _constant(0))],
    )  # fmt: skip


def _restarting(case: RuleCase) -> Scenario:
    labels = _ksm_labels(case)
    return Scenario(
        unhealthy=[(metrics.KSM_CONTAINER_RESTARTS, labels, _step(0, 1))],
        healthy=[(metrics.KSM_CONTAINER_RESTARTS, labels, _constant(2))],  # restarts long ago
    )


SCENARIOS: dict[str, Callable[[RuleCase], Scenario]] = {
    alerts.TTFT_ABOVE_SLO: lambda case: _latency(case, metrics.VLLM_TTFT, case.pool.slo.ttft_p95_seconds),
    alerts.E2E_ABOVE_SLO: lambda case: _latency(case, metrics.VLLM_E2E_LATENCY, case.pool.slo.e2e_p95_seconds),
    alerts.QUEUE_GROWING: _queue,
    alerts.KV_CACHE_SATURATED: _kv_cache,
    alerts.REQUESTS_FAILING: _failing,
    alerts.POD_RESTARTING: _restarting,
}


def test_every_generated_alert_has_a_scenario():
    assert set(SCENARIOS) == set(alerts.ALERT_NAMES)


def _check_series_match_expression(expr: str, series: list[Series]) -> None:
    """Every selector of the rendered expression selects some of the synthetic series: a
    label or name our series lack would make the test pass for the wrong reason."""
    names = {name for name, _, _ in series}
    for selector in _selectors(promql_parser.parse(expr)):
        chosen = [labels for name, labels, _ in series if name == selector.name]
        assert chosen, f"no synthetic series for {selector.name} in {expr}"
        assert any(_matches(selector, labels) for labels in chosen), f"{selector} selects none of {names}"


def _selectors(parsed: promql_parser.Expr) -> list[promql_parser.VectorSelector]:
    found: list[promql_parser.VectorSelector] = []
    promql_parser.walk(
        parsed, lambda node: found.append(node) if isinstance(node, promql_parser.VectorSelector) else None
    )
    return found


def _matches(selector: promql_parser.VectorSelector, labels: dict[str, str]) -> bool:
    ops = promql_parser.MatchOp
    for matcher in selector.matchers.matchers:
        value = labels.get(matcher.name, "")
        if matcher.op == ops.Equal and value != matcher.value:
            return False
        if matcher.op == ops.NotEqual and value == matcher.value:
            return False
        if matcher.op == ops.Re and not re.fullmatch(matcher.value, value):
            return False
        if matcher.op == ops.NotRe and re.fullmatch(matcher.value, value):
            return False
    return True


# --- the dashboard's queries on exporter-shaped series --------------------------------


def _dcgm_labels(case: RuleCase) -> dict[str, str]:
    """A DCGM exporter series as the GPU Operator's ServiceMonitor stores it: the exporter's
    pod labels renamed to exported_* (honorLabels false), its own pod as namespace/pod."""
    return {
        metrics.DCGM_NAMESPACE: case.served.namespace,
        metrics.DCGM_POD: serving_stacks.pod_name(case.served),
        "exported_container": "kserve-container",
        "gpu": "0",
        "UUID": "GPU-5f0c2a8e-0000-4000-8000-000000000001",
        "modelName": "NVIDIA H100 80GB HBM3",
        "Hostname": "ip-10-0-1-2",
        "namespace": "gpu-operator",
        "pod": "nvidia-dcgm-exporter-7xk2p",
        "job": "nvidia-dcgm-exporter",
    }


def _dashboard_series(case: RuleCase) -> list[Series]:
    vllm, ksm = _vllm_labels(case), _ksm_labels(case)
    series: list[Series] = []
    for histogram in metrics.VLLM_HISTOGRAMS:
        for le, share in (("0.1", 1), ("1", 2), ("+Inf", 3)):
            series.append((f"{histogram}_bucket", {**vllm, "le": le}, _after_onset(share, share)))
    for counter in (metrics.VLLM_PROMPT_TOKENS, metrics.VLLM_GENERATION_TOKENS):
        series.append((counter, vllm, _after_onset(100, 100)))
    series.append((metrics.VLLM_REQUEST_SUCCESS, {**vllm, metrics.FINISHED_REASON: "stop"}, _after_onset(10, 10)))
    for gauge, value in ((metrics.VLLM_REQUESTS_WAITING, 2), (metrics.VLLM_REQUESTS_RUNNING, 5),
                         (metrics.VLLM_KV_CACHE_USAGE, 0.5)):  # fmt: skip
        series.append((gauge, vllm, _constant(value)))
    series += [
        (metrics.KSM_POD_PHASE, {**ksm, "phase": "Running"}, _constant(1)),
        (metrics.KSM_POD_READY, {**ksm, "condition": "true"}, _constant(1)),
        (metrics.KSM_CONTAINER_RESTARTS, ksm, _constant(0)),
        (metrics.DCGM_GPU_UTIL, _dcgm_labels(case), _constant(80)),
        (metrics.DCGM_FB_USED, _dcgm_labels(case), _constant(60000)),
    ]
    return series


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_dashboard_query_selects_exporter_shaped_series(stack, tmp_path):
    """Each panel query of the rendered dashboard, on series shaped like vLLM's (after our
    PodMonitor), kube-state-metrics' and the DCGM exporter's, returns at least one series
    for its pool (the real Prometheus test covers the vLLM ones against a real vLLM)."""
    dashboards = [o for o in serving_stacks.rendered(stack).manifests if o["kind"] == "ConfigMap"]
    queries = [(where, expr) for obj in dashboards for where, expr in promql.expressions(obj)]
    assert queries, f"{stack}: no dashboard queries"
    by_pool = {case.served.pool: case for case in CASES if case.where.startswith(f"{stack}/")}
    tests = []
    for pool, case in by_pool.items():
        series = _dashboard_series(case)
        mine = [(where, expr) for where, expr in queries if f'"{pool}' in expr]
        assert mine, f"{stack}: no panel query names pool {pool}"
        for _, expr in mine:
            _check_series_match_expression(expr, series)
        tests.append({
            "name": f"{stack} dashboard, pool {pool}",
            "interval": "1m",
            "input_series": _series(series, ONSET_MINUTES + 5),
            "promql_expr_test": [
                {"expr": f"count({expr}) > bool 0", "eval_time": f"{ONSET_MINUTES}m",
                 "exp_samples": [{"labels": "{}", "value": 1}]}
                for _, expr in mine
            ],
        })  # fmt: skip
    (tmp_path / "empty.yaml").write_text("groups: []\n", encoding="utf-8")
    test_file = tmp_path / "dashboard-tests.yaml"
    test_file.write_text(yaml.safe_dump({"rule_files": ["empty.yaml"], "tests": tests}, sort_keys=False), "utf-8")
    result = _promtool("test", "rules", test_file.name, cwd=tmp_path)
    assert result.returncode == 0, f"{result.stdout}{result.stderr}"
