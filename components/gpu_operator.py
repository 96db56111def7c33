"""`GpuOperator`: the NVIDIA GPU Operator, so GPU nodes advertise `nvidia.com/gpu`.

The device plugin, GPU feature discovery and the DCGM exporter run on every GPU node
(they tolerate the GPU taint). On EKS NVIDIA AMIs the driver and container toolkit are
already on the node, so the operator installs neither; Bottlerocket's NVIDIA variant also
runs its own device plugin, so on all-Bottlerocket node pools the operator's stays off.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import charts, conventions, versions
from components.chart_images import GPU_OPERATOR_IMAGES, deep_merge, values_for
from components.plan.mirror import GpuOperatorPlan

NAMESPACE = "gpu-operator"
# Operands are privileged DaemonSets (driver, toolkit, device plugin, DCGM).
_PRIVILEGED = {"pod-security.kubernetes.io/enforce": "privileged"}


@dataclass(frozen=True)
class GpuOperatorArgs:
    plan: GpuOperatorPlan


class GpuOperator(pulumi.ComponentResource):
    """The GPU Operator chart in its namespace; exposes `chart`, `namespace_resource`,
    `values`, and the registered outputs `namespace` (its name) and `version` (the chart's)."""

    def __init__(self, name: str, args: GpuOperatorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmserving:hardware:GpuOperator", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.namespace: str = NAMESPACE
        self.version: str = versions.GPU_OPERATOR_CHART.version
        self.values: dict[str, Any] = gpu_operator_values(args.plan)
        self.namespace_resource: k8s.core.v1.Namespace = charts.namespace(
            NAMESPACE, "gpu-operator", child, **_PRIVILEGED
        )
        self.chart: k8s.helm.v4.Chart = charts.pinned_chart(
            "gpu-operator", versions.GPU_OPERATOR_CHART, self.namespace_resource, self.values, child
        )
        self.register_outputs({"namespace": self.namespace, "version": self.version})


def gpu_operator_values(plan: GpuOperatorPlan) -> dict[str, Any]:
    tolerations = conventions.gpu_tolerations()
    values = {
        "driver": {"enabled": not plan.driver_on_host},
        "toolkit": {"enabled": not plan.driver_on_host},
        "devicePlugin": {"enabled": plan.device_plugin},
        "gfd": {"enabled": True},
        "dcgmExporter": {"enabled": True, "serviceMonitor": _dcgm_service_monitor(plan)},
        "daemonsets": {"tolerations": tolerations},
        # Feature discovery labels the GPU nodes the operands are scheduled by.
        "node-feature-discovery": {"worker": {"tolerations": tolerations}},
        # A pre-upgrade Helm hook Job; helm.v4.Chart applies the chart's CRDs itself on every update.
        "operator": {"upgradeCRD": False},
    }
    return deep_merge(values, values_for(GPU_OPERATOR_IMAGES, plan.mirror))


def _dcgm_service_monitor(plan: GpuOperatorPlan) -> dict[str, Any]:
    # The operator creates the DCGM exporter's ServiceMonitor from ClusterPolicy
    # `dcgmExporter.serviceMonitor` with only its own labels plus `additionalLabels`
    # (gpu-operator v26.7.0 deployments/gpu-operator/values.yaml `dcgmExporter.serviceMonitor`;
    # api/nvidia/v1/clusterpolicy_types.go DCGMExporterServiceMonitorConfig): without the
    # release label a kube-prometheus-stack Prometheus never scrapes it and the GPU panels
    # stay empty.
    if not plan.monitoring:
        return {"enabled": False}
    return {"enabled": True, "additionalLabels": {conventions.PROMETHEUS_RELEASE_LABEL: plan.release_label}}
