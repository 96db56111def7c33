"""Monitoring under Pulumi's mock runtime: PodMonitor, SLO alerts per pool, dashboard, and
the PromQL we emit (parsed with a real PromQL parser, metric names from one list)."""

from __future__ import annotations

import json
import re

import promql_parser
import pytest

from components import alerts, metrics
from components.spec import SpecError, load_platform
from tests.conftest import REPO_ROOT, stack_config
from tools import promql, render
from tools.mockrun import run_program

pytestmark = pytest.mark.program

POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
RUNTIME = "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime"


def registered(platform):
    return run_program("test", stack_config(platform)).resources


def of_type(resources, resource_type):
    return {r["name"]: r["inputs"] for r in resources if r["type"] == resource_type}


def rule_groups(resources):
    """pool name -> {alert name -> rule}, from the registered PrometheusRules."""
    groups = {}
    for rule_object in of_type(resources, PROMETHEUS_RULE).values():
        (group,) = rule_object["spec"]["groups"]
        pool = group["name"].removeprefix("llmserving.")
        groups[pool] = {rule["alert"]: rule for rule in group["rules"]}
    return groups


def threshold(expr):
    """The number an alert expression compares against (`... > N`)."""
    parsed = promql_parser.parse(expr)
    assert isinstance(parsed.rhs, promql_parser.NumberLiteral), expr
    return parsed.rhs.val


@pytest.fixture
def resources(platform):
    return registered(platform)


def test_monitoring_component_owns_its_objects(resources):
    by_name = {(r["type"], r["name"]): r for r in resources}
    component = by_name[("llmserving:observability:Monitoring", "monitoring")]
    assert component["parent"].endswith("llmserving:platform:Platform::platform")
    children = [r for r in resources if r["parent"] == component["urn"]]
    assert sorted(r["type"] for r in children) == [CONFIG_MAP, POD_MONITOR, PROMETHEUS_RULE, PROMETHEUS_RULE]


def test_pod_monitor_selects_every_pool_pod_on_its_metrics_port(resources):
    (monitor,) = of_type(resources, POD_MONITOR).values()
    spec = monitor["spec"]
    assert spec["namespaceSelector"] == {"matchNames": ["llm-serving"]}
    runtime_containers = [runtime["spec"]["containers"][0] for runtime in of_type(resources, RUNTIME).values()]
    runtime_ports = {port["name"] for container in runtime_containers for port in container["ports"]}
    endpoint_ports = {endpoint["port"] for endpoint in spec["podMetricsEndpoints"]}
    assert runtime_ports <= endpoint_ports  # Standard pods keep the runtime's port name
    assert "user-port" in endpoint_ports  # Knative renames it on every revision pod
    for name, isvc in of_type(resources, ISVC).items():
        pod_labels = isvc["spec"]["predictor"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= pod_labels.items(), name
        for expression in spec["selector"]["matchExpressions"]:
            assert expression["operator"] == "Exists" and expression["key"] in pod_labels
    for endpoint in spec["podMetricsEndpoints"]:
        assert endpoint["path"] == "/metrics"


def test_pod_monitor_carries_pool_class_and_model_as_target_labels(resources):
    (monitor,) = of_type(resources, POD_MONITOR).values()
    for endpoint in monitor["spec"]["podMetricsEndpoints"]:
        copied = {r["targetLabel"]: r["sourceLabels"] for r in endpoint["relabelings"]}
        assert copied == {
            "pool": ["__meta_kubernetes_pod_label_llmserving_io_pool"],
            "class": ["__meta_kubernetes_pod_label_llmserving_io_class"],
            "model": ["__meta_kubernetes_pod_label_llmserving_io_model"],
        }


def test_monitors_rules_and_dashboard_live_where_prometheus_selects_them(platform):
    platform["monitoring"] = {"namespace": "observability", "releaseLabel": "prom"}
    resources = registered(platform)
    for resource_type in (POD_MONITOR, PROMETHEUS_RULE):
        for obj in of_type(resources, resource_type).values():
            assert obj["metadata"]["namespace"] == "observability"
            assert obj["metadata"]["labels"]["release"] == "prom"
            assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "private-llm-serving"
    (dashboard,) = of_type(resources, CONFIG_MAP).values()
    assert dashboard["metadata"]["namespace"] == "observability"


def test_one_rule_group_per_pool_with_its_slo_as_thresholds(platform):
    platform["pools"][0]["slo"] = {"ttftP95Seconds": 0.8, "e2eP95Seconds": 20}
    groups = rule_groups(registered(platform))
    assert set(groups) == {"chat", "batch"}
    spec = load_platform(platform, "test")
    for pool in spec.pools:
        rules = groups[pool.name]
        assert set(rules) == set(alerts.ALERT_NAMES)
        assert threshold(rules[alerts.TTFT_ABOVE_SLO]["expr"]) == pool.slo.ttft_p95_seconds
        assert threshold(rules[alerts.E2E_ABOVE_SLO]["expr"]) == pool.slo.e2e_p95_seconds
        assert f'pool="{pool.name}"' in rules[alerts.TTFT_ABOVE_SLO]["expr"]
    assert "0.8s" in groups["chat"][alerts.TTFT_ABOVE_SLO]["annotations"]["description"]


def test_changing_one_pools_ttft_slo_changes_exactly_that_threshold(platform):
    before = rule_groups(registered(platform))
    platform["pools"][1]["slo"] = {"ttftP95Seconds": 12.5}
    after = rule_groups(registered(platform))
    changed = [
        (pool, alert)
        for pool in before
        for alert in before[pool]
        if before[pool][alert]["expr"] != after[pool][alert]["expr"]
    ]
    assert changed == [("batch", alerts.TTFT_ABOVE_SLO)]
    assert threshold(after["batch"][alerts.TTFT_ABOVE_SLO]["expr"]) == 12.5


def test_every_alert_has_severity_summary_description_and_a_runbook_section(resources):
    headings = {
        match.lower() for match in re.findall(r"^## (\S+)$", (REPO_ROOT / "docs" / "runbook.md").read_text(), re.M)
    }
    for rules in rule_groups(resources).values():
        for name, rule in rules.items():
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            path, anchor = rule["annotations"]["runbook_url"].split("#")
            assert path == "docs/runbook.md"
            assert anchor in headings, f"docs/runbook.md has no section for {name}"


def test_alert_thresholds_and_window_follow_the_monitoring_spec(platform):
    platform["monitoring"] = {"alertForMinutes": 3, "kvCacheSaturation": 0.9, "errorRatio": 0.02}
    rules = rule_groups(registered(platform))["chat"]
    assert rules[alerts.TTFT_ABOVE_SLO]["for"] == "3m"
    assert "for" not in rules[alerts.POD_RESTARTING]
    assert " > 0.9 and on (pool, pod) " in rules[alerts.KV_CACHE_SATURATED]["expr"]
    assert threshold(rules[alerts.REQUESTS_FAILING]["expr"]) == 0.02


def test_dashboard_config_map_shows_every_pool_for_the_grafana_sidecar(platform):
    platform["pools"].append(dict(platform["pools"][0], name="chat-2", hostname="chat2.example.com"))
    (dashboard,) = of_type(registered(platform), CONFIG_MAP).values()
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    document = json.loads(dashboard["data"]["llm-serving.json"])
    rows = [panel["title"].split(":")[0] for panel in document["panels"] if panel["type"] == "row"]
    assert rows == ["chat", "batch", "chat-2"]
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))
    titles = {panel["title"] for panel in document["panels"]}
    assert {"Time to first token (SLO p95 1s)", "GPU utilisation (DCGM)", "KV-cache usage"} <= titles
    exprs = [target["expr"] for panel in document["panels"] for target in panel.get("targets", [])]
    per_pool = {pool: sum(f'pool="{pool}"' in e or f'"{pool}-predictor-.*"' in e for e in exprs) for pool in rows}
    assert set(per_pool.values()) == {len(exprs) // 3}


def test_monitoring_disabled_creates_nothing(platform):
    platform["monitoring"] = {"enabled": False}
    types = {r["type"] for r in registered(platform)}
    assert not types & {"llmserving:observability:Monitoring", POD_MONITOR, PROMETHEUS_RULE, CONFIG_MAP}


def test_every_emitted_expression_parses_and_names_known_metrics(resources):
    manifests = render.kubernetes_objects(resources)
    found = {obj["kind"]: [expr for _, expr in promql.expressions(obj)] for obj in manifests}
    assert found["PrometheusRule"] and found["ConfigMap"] and found["InferenceService"]
    all_expressions = [expr for obj in manifests for _, expr in promql.expressions(obj)]
    for expr in all_expressions:
        assert promql.expression_problems(expr) == [], expr
    named = {name for expr in all_expressions for name in promql.metric_names(promql_parser.parse(expr))}
    assert named <= metrics.KNOWN_METRICS
    assert {metrics.DCGM_GPU_UTIL, metrics.DCGM_FB_USED, metrics.KSM_CONTAINER_RESTARTS} <= named


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("sum(vllm:gpu_cache_usage_perc)", "vllm:gpu_cache_usage_perc is not a known metric"),
        ('rate(vllm:prompt_tokens_total{pool="chat"}[5m]', "does not parse"),
        ("rate(vllm:num_requests_waiting)", "does not parse"),
        ('{pool="chat"}', "selects no metric name"),
    ],
)
def test_promql_check_catches_broken_expressions(expr, problem):
    (found,) = promql.expression_problems(expr)
    assert problem in found


def test_check_reports_a_broken_expression_in_a_render(resources):
    manifests = render.kubernetes_objects(resources)
    rule = next(obj for obj in manifests if obj["kind"] == "PrometheusRule")
    rule["spec"]["groups"][0]["rules"][0]["expr"] = "vllm:time_per_output_token_seconds_bucket > 1"
    (line,) = promql.findings(manifests)
    assert line.startswith("promql monitoring.coreos.com/v1/PrometheusRule monitoring/llm-serving-")
    assert "vllm:time_per_output_token_seconds_bucket is not a known metric" in line


def test_known_metrics_exclude_what_vllm_removed():
    assert not set(metrics.VLLM_REMOVED) & metrics.KNOWN_METRICS
    with pytest.raises(ValueError, match="not a known metric"):
        metrics.series("vllm:gpu_cache_usage_perc")


@pytest.mark.parametrize(
    ("monitoring", "path"),
    [
        ({"releaseLabel": "not a label"}, "monitoring.releaseLabel"),
        ({"alertForMinutes": 0}, "monitoring.alertForMinutes"),
        ({"kvCacheSaturation": 1.5}, "monitoring.kvCacheSaturation"),
        ({"namespace": "Monitoring"}, "monitoring.namespace"),
    ],
)
def test_bad_monitoring_config_names_its_path(platform, monitoring, path):
    platform["monitoring"] = monitoring
    with pytest.raises(SpecError) as error:
        load_platform(platform, "stacks/Pulumi.test.yaml")
    assert f"stacks/Pulumi.test.yaml: private-llm-serving:platform.{path}:" in str(error.value)


def test_prod_render_has_the_pod_monitor_rules_with_slo_numbers_and_dashboard():
    from tools.stackfile import load_stack

    stack = load_stack("prod")
    manifests = render.render(stack).manifests
    kinds = [obj["kind"] for obj in manifests]
    assert kinds.count("PodMonitor") == 1
    rules = {obj["metadata"]["name"]: obj for obj in manifests if obj["kind"] == "PrometheusRule"}
    assert set(rules) == {f"llm-serving-{pool.name}" for pool in stack.spec.pools}
    for pool in stack.spec.pools:
        (group,) = rules[f"llm-serving-{pool.name}"]["spec"]["groups"]
        by_alert = {rule["alert"]: rule for rule in group["rules"]}
        assert threshold(by_alert[alerts.TTFT_ABOVE_SLO]["expr"]) == pool.slo.ttft_p95_seconds
        assert threshold(by_alert[alerts.E2E_ABOVE_SLO]["expr"]) == pool.slo.e2e_p95_seconds
    assert any(obj["kind"] == "ConfigMap" and "llm-serving.json" in obj.get("data", {}) for obj in manifests)


def test_pod_monitor_scrapes_only_the_port_names_its_pools_have():
    from components.plan.monitoring import metrics_ports
    from components.spec import load_platform
    from tests.conftest import BASE_PLATFORM

    spec = load_platform(BASE_PLATFORM, "t")
    chat, batch = spec.pools
    assert metrics_ports((chat,)) == ["http1"]
    assert metrics_ports((batch,)) == ["user-port"]
    assert metrics_ports((chat, batch)) == ["http1", "user-port"]
