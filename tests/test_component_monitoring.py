"""`Monitoring` built alone from its slice (components/plan/monitoring.py) under the mock
runtime: the PodMonitor, one PrometheusRule per pool and the dashboard, in Prometheus's
namespace."""

from __future__ import annotations

import copy
import json

import pytest

from components.monitoring import Monitoring, MonitoringArgs
from components.plan.monitoring import plan_monitoring
from components.spec import load_platform
from tests.conftest import BASE_PLATFORM
from tools.mockrun import record

pytestmark = pytest.mark.unit

COMPONENT = "llmserving:observability:Monitoring"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"


@pytest.fixture
def plan():
    return plan_monitoring(load_platform(copy.deepcopy(BASE_PLATFORM), "test", capacity_gate=False))


def test_the_plan_holds_what_monitoring_reads(plan):
    assert plan.serving_namespace == "llm-serving"
    assert plan.monitoring.namespace == "monitoring"
    assert [pool.name for pool in plan.pools] == ["chat", "batch"]
    assert plan.metrics_ports == ("http1", "user-port")  # a Standard and a Knative pool
    assert plan.dashboard_title == "LLM serving: llm-serving"
    assert plan.dashboard_uid == "llmserving-llm-serving"


def test_the_component_alone_creates_its_monitor_rules_and_dashboard(plan):
    recording = record(lambda: Monitoring("monitoring", MonitoringArgs(plan)))
    (component,) = recording.of_type(COMPONENT).values()
    assert component["outputs"] == {"podMonitor": "monitoring/llm-serving-vllm"}
    monitors, rules, maps = (recording.of_type(t) for t in (POD_MONITOR, PROMETHEUS_RULE, CONFIG_MAP))
    assert set(monitors) == {"monitoring-vllm"}
    assert set(rules) == {"monitoring-chat-alerts", "monitoring-batch-alerts"}
    assert set(maps) == {"monitoring-dashboard"}
    children = [*monitors.values(), *rules.values(), *maps.values()]
    assert all(child["parent"] == component["urn"] for child in children)
    assert {child["inputs"]["metadata"]["namespace"] for child in children} == {"monitoring"}
    monitor = monitors["monitoring-vllm"]["inputs"]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["llm-serving"]}
    assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "serving-pool"
    assert [e["port"] for e in monitor["spec"]["podMetricsEndpoints"]] == ["http1", "user-port"]
    (group,) = rules["monitoring-chat-alerts"]["inputs"]["spec"]["groups"]
    assert group["name"] == "llmserving.chat"
    dashboard = json.loads(maps["monitoring-dashboard"]["inputs"]["data"]["llm-serving.json"])
    assert dashboard["uid"] == "llmserving-llm-serving"


def test_the_component_exposes_what_it_registers(plan):
    built = []
    record(lambda: built.append(Monitoring("monitoring", MonitoringArgs(plan))))
    (monitoring,) = built
    assert monitoring.pod_monitor == "monitoring/llm-serving-vllm"
    assert set(monitoring.rules) == {"chat", "batch"}
