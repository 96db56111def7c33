"""How the platform plugs into the cluster's Prometheus and Grafana: scrape configs,
alert rules and thresholds, dashboards, and the Prometheus KEDA queries."""

from __future__ import annotations

from pydantic import Field

from components.spec.base import DnsLabel, HttpUrl, Int32, LabelKey, LabelValue, Number, Switch, Text, _Spec


class MonitoringSpec(_Spec):
    enabled: Switch = Field(
        default=True, description="Create scrape configs, alerts and dashboards (needs the Prometheus Operator CRDs)."
    )
    prometheus_url: HttpUrl = Field(
        default="http://prometheus-operated.monitoring.svc.cluster.local:9090",
        description="Prometheus that KEDA queries for vLLM's gauges.",
    )
    namespace: DnsLabel = Field(
        default="monitoring",
        description="Namespace of the cluster's Prometheus and Grafana; the PodMonitor, alert rules and "
        "dashboard go there, so a Prometheus that watches only its own namespace still finds them.",
    )
    release_label: LabelValue = Field(
        default="kube-prometheus-stack",
        description="Value of the `release` label the Prometheus selects monitors and rules by "
        "(kube-prometheus-stack's convention: its Helm release name).",
    )
    dashboard_label: LabelKey = Field(
        default="grafana_dashboard", description="Label the Grafana dashboard sidecar watches ConfigMaps for."
    )
    dashboard_label_value: LabelValue = Field(default="1", description="Value of `dashboardLabel`.")
    alert_for_minutes: Int32 = Field(
        default=10, ge=1, le=120, description="How long a condition must hold before its alert fires."
    )
    kv_cache_saturation: Number = Field(
        default=0.95, gt=0, le=1, description="KV-cache usage fraction that, with requests waiting, alerts."
    )
    error_ratio: Number = Field(
        default=0.05, gt=0, lt=1, description="Share of requests ending in abort or error that alerts."
    )
    runbook_url: Text = Field(
        default="docs/runbook.md",
        pattern=r"^\S+$",
        description="Where docs/runbook.md is served; alerts link to <runbookUrl>#<alert name in lower case>.",
    )
