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

from components import alerts, conventions, metrics, serving_pool
from components.dashboard import dashboard_json
from components.spec import MonitoringSpec, PoolSpec

MONITORING_API = "monitoring.coreos.com/v1"
RELEASE_LABEL = "release"
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
GRAFANA_UID_MAX = 40  # Grafana rejects longer dashboard uids


@dataclass(frozen=True)
class MonitoringArgs:
    spec: MonitoringSpec
    serving_namespace: str
    pools: tuple[PoolSpec, ...]


class Monitoring(pulumi.ComponentResource):
    """Exposes `pod_monitor`, `rules` (pool name -> PrometheusRule) and `dashboard`."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:observability:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.pod_monitor = CustomResource(
            f"{name}-vllm",
            api_version=MONITORING_API,
            kind="PodMonitor",
            metadata=_metadata(f"{args.serving_namespace}-vllm", args, selected_by_prometheus=True),
            spec=pod_monitor_spec(args.serving_namespace, metrics_ports(args.pools)),
            opts=child,
        )
        self.rules = {
            pool.name: CustomResource(
                f"{name}-{pool.name}-alerts",
                api_version=MONITORING_API,
                kind="PrometheusRule",
                metadata=_metadata(f"{args.serving_namespace}-{pool.name}", args, selected_by_prometheus=True),
                spec={"groups": [alerts.rule_group(pool, args.serving_namespace, args.spec)]},
                opts=child,
            )
            for pool in args.pools
        }
        dashboard_label = {args.spec.dashboard_label: args.spec.dashboard_label_value}
        dashboard_metadata = _metadata(
            f"{args.serving_namespace}-dashboard", args, selected_by_prometheus=False, extra_labels=dashboard_label
        )
        self.dashboard = k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata=dashboard_metadata,
            data={DASHBOARD_FILE: _dashboard(args)},
            opts=child,
        )
        self.register_outputs({"podMonitor": f"{args.spec.namespace}/{args.serving_namespace}-vllm"})


def _dashboard(args: MonitoringArgs) -> str:
    namespace = args.serving_namespace
    uid = f"llmserving-{namespace}"[:GRAFANA_UID_MAX]
    return dashboard_json(f"LLM serving: {namespace}", uid, namespace, args.pools)


def _metadata(
    name: str, args: MonitoringArgs, selected_by_prometheus: bool, extra_labels: Mapping[str, str] | None = None
) -> k8s.meta.v1.ObjectMetaArgsDict:
    labels = conventions.standard_labels("llm-serving-monitoring", args.serving_namespace, "monitoring")
    if selected_by_prometheus:
        labels[RELEASE_LABEL] = args.spec.release_label
    labels.update(extra_labels or {})
    return {"name": name, "namespace": args.spec.namespace, "labels": labels}


def metrics_ports(pools: tuple[PoolSpec, ...]) -> list[str]:
    """vLLM serves /metrics on its one port. Standard pods keep the runtime's port name;
    Knative renames it on every revision pod, whatever the runtime declared."""
    modes = {pool.mode for pool in pools}
    return [port for port, mode in ((serving_pool.PORT_NAME, "standard"), (conventions.KNATIVE_USER_PORT, "knative"))
            if mode in modes]  # fmt: skip


def pod_monitor_spec(serving_namespace: str, ports: list[str]) -> dict[str, Any]:
    return {
        "namespaceSelector": {"matchNames": [serving_namespace]},
        "selector": {
            "matchLabels": {
                "app.kubernetes.io/name": serving_pool.APP_NAME,
                "app.kubernetes.io/component": serving_pool.COMPONENT,
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
