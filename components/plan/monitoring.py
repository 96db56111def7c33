"""The observability slice: what `Monitoring` reads from the stack config (DESIGN.md
section 2, observability), derived once by `plan_monitoring`."""

from __future__ import annotations

from dataclasses import dataclass

from components import conventions
from components.spec import MonitoringSpec, PlatformSpec, PoolSpec

GRAFANA_UID_MAX = 40  # Grafana rejects longer dashboard uids


@dataclass(frozen=True)
class MonitoringPlan:
    monitoring: MonitoringSpec
    serving_namespace: str
    pools: tuple[PoolSpec, ...]
    # The pod port names the PodMonitor scrapes, one per pool mode in use.
    metrics_ports: tuple[str, ...]
    dashboard_title: str
    dashboard_uid: str


def plan_monitoring(spec: PlatformSpec) -> MonitoringPlan:
    namespace = spec.namespaces.serving
    return MonitoringPlan(
        monitoring=spec.monitoring,
        serving_namespace=namespace,
        pools=spec.pools,
        metrics_ports=tuple(metrics_ports(spec.pools)),
        dashboard_title=f"LLM serving: {namespace}",
        dashboard_uid=f"llmserving-{namespace}"[:GRAFANA_UID_MAX],
    )


def metrics_ports(pools: tuple[PoolSpec, ...]) -> list[str]:
    """vLLM serves /metrics on its one port. Standard pods keep the runtime's port name;
    Knative renames it on every revision pod, whatever the runtime declared."""
    modes = {pool.mode for pool in pools}
    named = ((conventions.SERVING_PORT_NAME, "standard"), (conventions.KNATIVE_USER_PORT, "knative"))
    return [port for port, mode in named if mode in modes]
