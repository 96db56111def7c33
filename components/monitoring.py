"""`Monitoring`: scraping, SLO alerts and the dashboard of every serving pool.

Kubernetes calls a pod Running while users wait for the first token; the pain lives in
vLLM's own metrics. One `PodMonitor` scrapes every pool's engine, one `PrometheusRule`
per pool alerts on that pool's SLO, and one dashboard `ConfigMap` shows every pool.
All three go into the Prometheus namespace (`monitoring.namespace`), so a Prometheus
that watches only its own namespace still picks them up; the PodMonitor reaches into
the serving namespace through its namespaceSelector. DCGM exporter scraping comes
with the GPU Operator. DESIGN.md section 2, observability.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apiextensions import CustomResource

from components import alerts, conventions, metrics
from components.dashboard import dashboard_json
from components.plan.monitoring import MonitoringPlan

MONITORING_API = "monitoring.coreos.com/v1"
RELEASE_LABEL = conventions.PROMETHEUS_RELEASE_LABEL
METRICS_PATH = "/metrics"
# KEDA polls its Prometheus query every 30 s; scraping faster keeps that query fresh.
SCRAPE_INTERVAL = "15s"
# Pod labels copied onto every scraped series under short names (pool, class, model).
TARGET_LABELS = {
    metrics.POOL: conventions.POOL_LABEL,
    metrics.CLASS: conventions.CLASS_LABEL,
    metrics.MODEL: conventions.MODEL_LABEL,
}
DASHBOARD_FILE = "llm-serving.json"


@dataclass(frozen=True)
class MonitoringArgs:
    plan: MonitoringPlan


class Monitoring(pulumi.ComponentResource):
    """Exposes `pod_monitor` (its `namespace/name`, the registered output) with the object itself
    as `pod_monitor_resource`, `rules` (pool name -> PrometheusRule) and `dashboard`."""

    pod_monitor: str
    pod_monitor_resource: CustomResource
    rules: dict[str, CustomResource]
    dashboard: k8s.core.v1.ConfigMap

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:observability:Monitoring", name, None, opts)
        plan = args.plan
        child = pulumi.ResourceOptions(parent=self)
        monitor_name = f"{plan.serving_namespace}-vllm"
        self.pod_monitor_resource = CustomResource(
            f"{name}-vllm",
            api_version=MONITORING_API,
            kind="PodMonitor",
            metadata=_metadata(monitor_name, plan, selected_by_prometheus=True),
            spec=pod_monitor_spec(plan.serving_namespace, list(plan.metrics_ports)),
            opts=child,
        )
        self.rules = {
            pool.name: CustomResource(
                f"{name}-{pool.name}-alerts",
                api_version=MONITORING_API,
                kind="PrometheusRule",
                metadata=_metadata(f"{plan.serving_namespace}-{pool.name}", plan, selected_by_prometheus=True),
                spec={"groups": [alerts.rule_group(pool, plan.serving_namespace, plan.monitoring)]},
                opts=child,
            )
            for pool in plan.pools
        }
        dashboard_label = {plan.monitoring.dashboard_label: plan.monitoring.dashboard_label_value}
        dashboard_metadata = _metadata(
            f"{plan.serving_namespace}-dashboard", plan, selected_by_prometheus=False, extra_labels=dashboard_label
        )
        self.dashboard = k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata=dashboard_metadata,
            data={DASHBOARD_FILE: _dashboard(plan)},
            opts=child,
        )
        self.pod_monitor = f"{plan.monitoring.namespace}/{monitor_name}"
        self.register_outputs({"podMonitor": self.pod_monitor})


def _dashboard(plan: MonitoringPlan) -> str:
    return dashboard_json(plan.dashboard_title, plan.dashboard_uid, plan.serving_namespace, plan.pools)


def _metadata(
    name: str, plan: MonitoringPlan, selected_by_prometheus: bool, extra_labels: Mapping[str, str] | None = None
) -> k8s.meta.v1.ObjectMetaArgsDict:
    labels = conventions.standard_labels("llm-serving-monitoring", plan.serving_namespace, "monitoring")
    if selected_by_prometheus:
        labels[RELEASE_LABEL] = plan.monitoring.release_label
    labels.update(extra_labels or {})
    return {"name": name, "namespace": plan.monitoring.namespace, "labels": labels}


def pod_monitor_spec(serving_namespace: str, ports: list[str]) -> dict[str, Any]:
    return {
        "namespaceSelector": {"matchNames": [serving_namespace]},
        "selector": {
            "matchLabels": {
                "app.kubernetes.io/name": conventions.SERVING_POOL_APP_NAME,
                "app.kubernetes.io/component": conventions.SERVING_POOL_COMPONENT,
                "app.kubernetes.io/part-of": conventions.PART_OF,
            },
            "matchExpressions": [{"key": conventions.POOL_LABEL, "operator": "Exists"}],
        },
        "podMetricsEndpoints": [_endpoint(port) for port in ports],
    }


def _endpoint(port: str) -> dict[str, Any]:
    return {
        "port": port,
        "path": METRICS_PATH,
        "interval": SCRAPE_INTERVAL,
        "relabelings": [
            {"action": "replace", "sourceLabels": [_meta_label(pod_label)], "targetLabel": target}
            for target, pod_label in TARGET_LABELS.items()
        ],
    }


def _meta_label(pod_label: str) -> str:
    """Prometheus's discovery label for a pod label: every character outside [a-zA-Z0-9_] becomes _."""
    return "__meta_kubernetes_pod_label_" + "".join(c if c.isalnum() or c == "_" else "_" for c in pod_label)
